"""What to ask next. All functions are pure: vectors, probabilities and index sets in, ordered
pool indices out, so the web app and the benchmark run the very same strategy.

- cold start by diversity: one text per k-means cluster of the vectors, with as many clusters as
  texts asked (the app: `--clusters`), the text nearest each centre (the most typical) first,
  larger clusters first (seed keywords go before them);
- then uncertainty sampling (`next_batch`): the `count` least confident rows (single-label: the
  lowest top probability; multi-label: a label's probability nearest 0.5), no shortlist wider
  than the batch. Clusters only order the batch: round-robin over the clusters its rows fall in,
  least confident first, so the head of a batch (what the app asks before its next refit) is
  spread out;
- "more like this": nearest neighbours of an item (cosine), to find more of a rare class.

Why least confidence and not Cluster-Margin (Citovsky et al. 2021, the strategy before issue #31:
the 10x batch lowest margins, taken round-robin over clusters): the wide shortlist dilutes
uncertainty, and with a rare class (Rotten Tomatoes' "plot", the kaomoji emotions) the top
probability finds the rows spread over three or more classes that a top-2 margin ranks as sure.
Shortlists of 3x, margin, entropy, class-balanced uncertainty, predicted-class round-robin and a
BADGE-like gradient k-means++ were measured too: none did better across the four benchmark sets
(docs/labelling.md)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np


def cluster_pool(vectors: np.ndarray, clusters: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(cluster id per row, centres) from mini-batch k-means; k is capped by the pool size."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    k = max(1, min(clusters, len(vectors)))
    kind = MiniBatchKMeans if len(vectors) > 5000 else KMeans
    model = kind(n_clusters=k, random_state=seed, n_init=3).fit(vectors)
    return model.labels_.astype(int), model.cluster_centers_


def diverse_start(vectors: np.ndarray, assignments: np.ndarray, centres: np.ndarray, count: int,
                  exclude: Iterable[int] = ()) -> list[int]:
    """Up to `count` rows: per cluster (largest first), the row nearest its centre, then the next
    nearest of each cluster, and so on."""
    excluded = set(int(i) for i in exclude)
    sizes = np.bincount(assignments, minlength=len(centres))
    ranked: list[list[int]] = []
    for c in np.argsort(-sizes, kind="stable"):
        members = np.flatnonzero(assignments == c)
        distance = np.linalg.norm(vectors[members] - centres[c], axis=1)
        ranked.append([int(members[i]) for i in np.argsort(distance, kind="stable") if int(members[i]) not in excluded])
    return _round_robin(ranked, count)


def _round_robin(queues: list[list[int]], count: int) -> list[int]:
    picked: list[int] = []
    depth = 0
    while len(picked) < count and any(depth < len(q) for q in queues):
        picked.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    return picked[:count]


def margins(probabilities: np.ndarray, multi_label: bool = False) -> np.ndarray:
    """(n,) top-2 margin, small = unsure: top-1 minus top-2 probability (single-label), or twice
    the smallest distance of any label from 0.5 (multi-label)."""
    if multi_label:
        return 2 * np.abs(probabilities - 0.5).min(axis=1)
    if probabilities.shape[1] < 2:
        return np.ones(len(probabilities))
    ordered = np.sort(probabilities, axis=1)
    return ordered[:, -1] - ordered[:, -2]


def confidence(probabilities: np.ndarray, multi_label: bool = False) -> np.ndarray:
    """(n,) confidence, small = unsure: the top probability (single-label), or twice the smallest
    distance of any label from 0.5 (multi-label, where each label is its own binary question)."""
    if multi_label:
        return margins(probabilities, multi_label=True)
    if probabilities.shape[1] < 2:
        return np.ones(len(probabilities))
    return probabilities.max(axis=1)


def next_batch(probabilities: np.ndarray, assignments: np.ndarray, candidates: Sequence[int], count: int,
               multi_label: bool = False) -> list[int]:
    """The `count` least confident of `candidates` (unlabelled pool indices), ordered round-robin
    over their clusters (clusters in the order of their least confident row, least confident first
    within each): the batch starts with the least confident row overall."""
    candidates = np.asarray(list(candidates), dtype=int)
    if len(candidates) == 0 or count <= 0:
        return []
    sure = confidence(probabilities[candidates], multi_label)
    chosen = candidates[np.argsort(sure, kind="stable")[:count]]
    by_cluster: dict[int, list[int]] = defaultdict(list)
    for row in chosen:  # already in rising-confidence order
        by_cluster[int(assignments[row])].append(int(row))
    return _round_robin(list(by_cluster.values()), count)


def more_like(vectors: np.ndarray, row: int, candidates: Sequence[int], count: int) -> list[int]:
    """The `count` candidates nearest to `row` by cosine similarity (vectors are L2-normalised)."""
    candidates = np.asarray([c for c in candidates if c != row], dtype=int)
    if len(candidates) == 0:
        return []
    similarity = vectors[candidates] @ vectors[row]
    return [int(i) for i in candidates[np.argsort(-similarity, kind="stable")[:count]]]


def keyword_rows(texts: Sequence[str], keywords: Sequence[str], limit: int) -> list[int]:
    """Rows containing any seed keyword (case-insensitive), spread over the keywords."""
    lowered = [t.lower() for t in texts]
    queues = [[i for i, t in enumerate(lowered) if word.lower() in t] for word in keywords if word.strip()]
    seen: set[int] = set()
    ordered = []
    for row in _round_robin(queues, sum(len(q) for q in queues)):
        if row not in seen:
            seen.add(row)
            ordered.append(row)
    return ordered[:limit]


def random_order(size: int, count: int, exclude: Iterable[int], seed: int) -> list[int]:
    excluded = set(int(i) for i in exclude)
    order = np.random.default_rng(seed).permutation(size)
    return [int(i) for i in order if int(i) not in excluded][:count]
