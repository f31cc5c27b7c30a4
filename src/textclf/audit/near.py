"""Near duplicates across splits in sub-quadratic time and bounded memory.

Texts are shingled a chunk at a time (shingling), rows with the same shingle set share one entry,
each distinct set gets a MinHash signature that is reduced at once to LSH band keys (lsh), buckets
propose at most `BUCKET_REPS` partners per set and band, and every proposed pair is checked with
the exact Jaccard of its shingle sets. A later-split row is reported once, with its most similar
earlier-split row, so the output is at most one pair per row even when every row is a near copy of
every other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..data.examples import Examples
from .lsh import BUCKET_REPS, band_keys, bucket_pairs, gather, jaccard, lsh_bands, signatures
from .results import NearDuplicatePair, NearDuplicates, row_ref
from .shingling import set_fingerprints, shingle_chunk

PROGRESS_ROWS = 5_000  # audits of more rows than this show a progress bar (stderr)
CHUNK_ROWS = 8_192
CHUNK_CHARS = 1_000_000
ESTIMATE_BATCH = 2_048  # reported pairs whose MinHash estimates are computed together


@dataclass
class SetIndex:
    """Distinct shingle sets of all rows (split after split): set s holds
    values[starts[s] : starts[s] + counts[s]]; row r has set set_of_row[r] (-1: no shingle)."""

    values: np.ndarray
    counts: np.ndarray
    first_row: np.ndarray  # the first row with each set
    set_of_row: np.ndarray
    text_keys: np.ndarray  # per row: equal normalised texts have equal keys
    band_keys: np.ndarray  # (sets, bands)

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate(([0], np.cumsum(self.counts)[:-1])).astype(np.int64)


def _chunks(texts: list[str]):
    start = 0
    while start < len(texts):
        end, chars = start, 0
        while end < len(texts) and end - start < CHUNK_ROWS and chars < CHUNK_CHARS:
            chars += len(texts[end])
            end += 1
        yield start, texts[start:end]
        start = end


def index_sets(texts: list[str], shingle: str, size: int, num_perm: int, seed: int,
               bands: tuple[int, int], bar=None) -> SetIndex:
    """Shingle, deduplicate and band every text, one chunk at a time: memory holds the distinct
    sets (4 bytes per shingle) and their band keys, never all signatures or shingle strings."""
    seen: dict[int, int] = {}  # set fingerprint (it mixes in the set size) -> set id
    values, counts, first_row, keys = [], [], [], []
    set_of_row = np.full(len(texts), -1, dtype=np.int64)
    text_keys = np.zeros(len(texts), dtype=np.int64)
    for offset, chunk_texts in _chunks(texts):
        chunk = shingle_chunk(chunk_texts, shingle, size)
        text_keys[offset : offset + len(chunk_texts)] = chunk.text_keys
        new = []
        for k, (key, count) in enumerate(zip(set_fingerprints(chunk).tolist(), chunk.counts.tolist())):
            if not count:
                continue  # no word at all: nothing to compare
            known = seen.get(key)
            if known is None:
                known = seen[key] = len(seen)
                new.append(k)
            set_of_row[offset + k] = known
        if new:
            picked = np.asarray(new, dtype=np.int64)
            members, _ = gather(chunk.values, chunk.starts, chunk.counts, picked)
            sizes = chunk.counts[picked]
            values.append(members)
            counts.append(sizes)
            first_row.append(picked + offset)
            keys.append(band_keys(signatures(members, sizes, num_perm, seed), *bands))
        if bar is not None:
            bar.update(len(chunk_texts))
    return SetIndex(
        values=np.concatenate(values) if values else np.zeros(0, dtype=np.uint32),
        counts=np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64),
        first_row=np.concatenate(first_row) if first_row else np.zeros(0, dtype=np.int64),
        set_of_row=set_of_row, text_keys=text_keys,
        band_keys=np.concatenate(keys) if keys else np.zeros((0, bands[0]), dtype=np.uint64),
    )


def verified_pairs(index: SetIndex, rank: np.ndarray, threshold: float,
                   reps: int = BUCKET_REPS) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(first set, second set, Jaccard, candidates checked) for the set pairs at or above
    `threshold` that can matter across splits (one of them holds a row of a later split than the
    other's first row)."""
    n_sets = len(index.counts)
    min_rank = rank[index.first_row]
    max_rank = np.zeros(n_sets, dtype=np.int64)
    has_set = index.set_of_row >= 0
    np.maximum.at(max_rank, index.set_of_row[has_set], rank[has_set])
    codes, pending = np.zeros(0, dtype=np.int64), []
    for first, second in bucket_pairs(index.band_keys, reps):
        small, large = np.minimum(index.counts[first], index.counts[second]), \
            np.maximum(index.counts[first], index.counts[second])
        keep = (max_rank[second] > min_rank[first]) | (max_rank[first] > min_rank[second])
        keep &= small >= threshold * large  # Jaccard <= smaller / larger set
        pending.append(first[keep] * n_sets + second[keep])
        if sum(map(len, pending)) > len(codes) + 1_000_000:
            codes, pending = _distinct(codes, *pending), []
    codes = _distinct(codes, *pending)
    first, second = codes // max(n_sets, 1), codes % max(n_sets, 1)
    similarity = jaccard(index.values, index.starts, index.counts, first, second)
    keep = similarity >= threshold
    return first[keep], second[keep], similarity[keep], len(codes)


def _distinct(*arrays: np.ndarray) -> np.ndarray:
    """Sorted distinct values (numpy's hash-based unique is ~10x slower on int64 pair codes)."""
    merged = np.concatenate(arrays)
    merged.sort()
    keep = np.ones(len(merged), dtype=bool)
    keep[1:] = merged[1:] != merged[:-1]
    return merged[keep]


def best_earlier_partners(index: SetIndex, rank: np.ndarray, n_splits: int, first: np.ndarray,
                          second: np.ndarray, similarity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(partner set, Jaccard) per (split rank - 1, set): the most similar set whose first row is in
    that split or an earlier one; -1 where there is none."""
    source, target = np.concatenate((first, second)), np.concatenate((second, first))
    both = np.concatenate((similarity, similarity))
    target_rank = rank[index.first_row][target]
    partner = np.full((max(n_splits - 1, 0), len(index.counts)), -1, dtype=np.int64)
    partner_similarity = np.zeros(partner.shape)
    for level in range(n_splits - 1):
        allowed = np.flatnonzero(target_rank <= level)
        order = allowed[np.lexsort((target[allowed], -both[allowed], source[allowed]))]
        sources, where = np.unique(source[order], return_index=True)
        partner[level, sources] = target[order[where]]
        partner_similarity[level, sources] = both[order[where]]
    return partner, partner_similarity


def near_duplicates(
    splits: Mapping[str, Examples],
    threshold: float = 0.8,
    shingle: str = "word",
    size: int = 3,
    num_perm: int = 128,
    seed: int = 1,
    include_exact: bool = False,
    progress: bool | None = None,
    reps: int = BUCKET_REPS,
) -> NearDuplicates:
    """Rows of a later split whose shingle set has Jaccard >= `threshold` with a row of an earlier
    split (`splits` is ordered, train first); each such row once, with its most similar earlier row.

    LSH is banded so that a pair right at the threshold becomes a candidate with probability >=
    LSH_RECALL (more above it); every candidate is checked with the exact Jaccard, so no reported
    pair is below the threshold. Rows whose normalised texts are equal are exact duplicates and are
    left out unless `include_exact`. `progress` (None: above PROGRESS_ROWS rows) shows a bar."""
    from ..training.progress import progress_bar  # the one progress bar (training/__init__ is lazy: no torch)

    names = list(splits)
    texts = [text for name in names for text in splits[name].texts]
    sizes = [len(splits[name]) for name in names]
    rank = np.repeat(np.arange(len(names), dtype=np.int64), sizes)
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    show = len(texts) > PROGRESS_ROWS if progress is None else progress
    with progress_bar(show, total=len(texts), desc="near duplicates") as bar:
        index = index_sets(texts, shingle, size, num_perm, seed, lsh_bands(threshold, num_perm), bar)
    first, second, similarity, candidates = verified_pairs(index, rank, threshold, reps)
    partner, partner_similarity = best_earlier_partners(index, rank, len(names), first, second, similarity)
    earlier, later, found = _row_pairs(index, rank, partner, partner_similarity, include_exact)
    estimates = _estimates(index, earlier, later, num_perm, seed)
    order = np.lexsort((later, -found))

    def ref(row: int):
        split = int(rank[row])
        return row_ref(splits[names[split]], names[split], int(row - offsets[split]))

    pairs = [NearDuplicatePair(a=ref(int(earlier[i])), b=ref(int(later[i])), jaccard=round(float(found[i]), 4),
                               estimate=round(float(estimates[i]), 4)) for i in order]
    return NearDuplicates(threshold=threshold, shingle=f"{shingle}-{size}", candidates=candidates, pairs=pairs)


def _row_pairs(index: SetIndex, rank: np.ndarray, partner: np.ndarray, partner_similarity: np.ndarray,
               include_exact: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(earlier row, later row, Jaccard): each later-split row with its best earlier partner. A row
    whose own set first occurs in an earlier split under another text (same shingles, different
    words around them) is a Jaccard-1 pair with that first row."""
    rows = np.flatnonzero((rank > 0) & (index.set_of_row >= 0))
    sets = index.set_of_row[rows]
    best = partner[rank[rows] - 1, sets]
    found = partner_similarity[rank[rows] - 1, sets]
    earlier = np.where(best >= 0, index.first_row[np.maximum(best, 0)], -1)
    own_first = index.first_row[sets]
    same_set = rank[own_first] < rank[rows]
    if not include_exact:
        same_set &= index.text_keys[own_first] != index.text_keys[rows]
    earlier = np.where(same_set, own_first, earlier)
    found = np.where(same_set, 1.0, found)
    keep = earlier >= 0
    return earlier[keep], rows[keep], found[keep]


def _estimates(index: SetIndex, earlier: np.ndarray, later: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """MinHash estimates of the reported pairs (signatures recomputed for their sets only)."""
    estimates = np.zeros(len(earlier))
    for lo in range(0, len(earlier), ESTIMATE_BATCH):  # batches keep the gathered shingles small
        a_sets = index.set_of_row[earlier[lo : lo + ESTIMATE_BATCH]]
        b_sets = index.set_of_row[later[lo : lo + ESTIMATE_BATCH]]
        sets, position = np.unique(np.concatenate((a_sets, b_sets)), return_inverse=True)
        members, _ = gather(index.values, index.starts, index.counts, sets)
        signature = signatures(members, index.counts[sets], num_perm, seed)
        a, b = position[: len(a_sets)], position[len(a_sets) :]
        estimates[lo : lo + len(a_sets)] = (signature[a] == signature[b]).mean(axis=1)
    return estimates
