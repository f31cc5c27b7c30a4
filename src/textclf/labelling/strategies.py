"""What to ask next. All functions are pure: vectors, probabilities and index sets in, ordered
pool indices out, so the web app and the benchmark run the very same strategy.

- cold start by diversity: k-means clusters of the vectors, the text nearest each centre first,
  larger clusters first (seed keywords go before them);
- then margin sampling within clusters: the lowest top-2 margins, spread round-robin over the
  clusters they fall in, so a batch is uncertain *and* diverse (Cluster-Margin, Citovsky et al. 2021);
- "more like this": nearest neighbours of an item (cosine), to find more of a rare class."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

CANDIDATES_PER_PICK = 10  # margin candidates considered per item asked


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
    """(n,) uncertainty margin, small = unsure: top-1 minus top-2 probability (single-label), or
    twice the smallest distance of any label from 0.5 (multi-label)."""
    if multi_label:
        return 2 * np.abs(probabilities - 0.5).min(axis=1)
    if probabilities.shape[1] < 2:
        return np.ones(len(probabilities))
    ordered = np.sort(probabilities, axis=1)
    return ordered[:, -1] - ordered[:, -2]


def cluster_margin(probabilities: np.ndarray, assignments: np.ndarray, candidates: Sequence[int], count: int,
                   multi_label: bool = False) -> list[int]:
    """`count` rows of `candidates` (unlabelled pool indices): the CANDIDATES_PER_PICK * count
    lowest margins, taken round-robin over their clusters (lowest margin first within each)."""
    candidates = np.asarray(list(candidates), dtype=int)
    if len(candidates) == 0:
        return []
    margin = margins(probabilities[candidates], multi_label)
    shortlist = candidates[np.argsort(margin, kind="stable")[:CANDIDATES_PER_PICK * count]]
    by_cluster: dict[int, list[int]] = defaultdict(list)
    for row in shortlist:  # already in rising-margin order
        by_cluster[int(assignments[row])].append(int(row))
    # clusters in the order of their least sure row: the batch starts with the most uncertain
    # row and never takes a second row from a cluster before every shortlisted cluster gave one
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
