"""MinHash signatures, LSH banding with bounded buckets, and exact Jaccard of candidate pairs, all
vectorised over many sets at once (sets as in shingling.ShingleChunk: sorted uint32 arrays).

Bounded buckets: in a bucket of m sets (sorted by id, so earlier splits come first) each set is
paired only with the first `reps` sets of the bucket. A small bucket (m <= reps + 1) gives every
pair; a huge one (a templated corpus where everything looks alike) gives m * reps pairs instead of
m^2 / 2, so the work stays linear in the rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .shingling import mix64

# Chance that a pair whose Jaccard equals the threshold becomes an LSH candidate. An LSH "tuned to
# the threshold" (datasketch's default optimum) catches only ~40-50% of the pairs sitting right at
# it; higher similarities are caught more often still.
LSH_RECALL = 0.99
BUCKET_REPS = 16  # sets of a bucket that every later member is compared with (8 gave recall 0.946 at 1M rows)
PERM_BLOCK = 16  # permutations hashed at once: memory is shingles x PERM_BLOCK x 4 bytes
VERIFY_BATCH = 1_000_000  # shingles gathered per batch of Jaccard checks (~40 bytes each)
SIGNATURE_BATCH = 1_000_000  # shingles hashed per block of signatures (PERM_BLOCK x 4 bytes each)


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """P(two sets of Jaccard `jaccard` share at least one of `bands` bands of `rows` MinHash rows)."""
    return 1.0 - (1.0 - jaccard ** rows) ** bands


def lsh_bands(threshold: float, num_perm: int, recall: float = LSH_RECALL) -> tuple[int, int]:
    """(bands, rows): the most rows per band (fewest false candidates) whose candidate probability
    at `threshold` is still >= `recall`, with as many bands as `num_perm` allows."""
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) >= recall:
            best = (bands, rows)
    return best


def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = (rng.integers(0, 2**32, size=num_perm, dtype=np.uint64) | np.uint64(1)).astype(np.uint32)  # odd
    b = rng.integers(0, 2**32, size=num_perm, dtype=np.uint64).astype(np.uint32)
    return a, b


def signatures(values: np.ndarray, counts: np.ndarray, num_perm: int = 128, seed: int = 1) -> np.ndarray:
    """(n, num_perm) uint32 MinHash signatures of n non-empty sets: per permutation
    x -> a*x + b (mod 2^32, a odd: a bijection) of the already-random shingle hashes, the minimum
    per set. Permutations are rows of a (PERM_BLOCK, shingles) block, so each minimum is a
    contiguous reduceat (14x faster than reducing down columns); sets go SIGNATURE_BATCH shingles
    at a time, so memory stays bounded however many sets come in."""
    values = values.astype(np.uint32, copy=False)
    ends = np.cumsum(counts)
    out = np.empty((len(counts), num_perm), dtype=np.uint32)
    lo = 0
    while lo < len(counts):
        done = int(ends[lo - 1]) if lo else 0
        hi = max(lo + 1, int(np.searchsorted(ends, done + SIGNATURE_BATCH, side="right")))
        out[lo:hi] = _signature_block(values[done : int(ends[hi - 1])], counts[lo:hi], num_perm, seed)
        lo = hi
    return out


def _signature_block(values: np.ndarray, counts: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    a, b = _permutations(num_perm, seed)
    out = np.empty((num_perm, len(counts)), dtype=np.uint32)
    block = np.empty((min(PERM_BLOCK, num_perm), len(values)), dtype=np.uint32)
    for lo in range(0, num_perm, PERM_BLOCK):
        hi = min(num_perm, lo + PERM_BLOCK)
        hashed = block[: hi - lo]
        np.multiply(a[lo:hi, None], values[None, :], out=hashed)
        hashed += b[lo:hi, None]
        out[lo:hi] = np.minimum.reduceat(hashed, starts, axis=1)
    return out.T


def band_keys(signature: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64: one hash per band of `rows` signature rows; equal keys share a bucket."""
    keys = np.empty((len(signature), bands), dtype=np.uint64)
    weights = mix64(np.arange(1, rows + 1, dtype=np.uint64)) | np.uint64(1)
    for band in range(bands):
        block = signature[:, band * rows : (band + 1) * rows].astype(np.uint64)
        keys[:, band] = mix64((block * weights[None, :]).sum(axis=1, dtype=np.uint64) + np.uint64(band))
    return keys


def bucket_pairs(keys: np.ndarray, reps: int = BUCKET_REPS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per band, (first, second) ids (first < second) of the pairs its buckets propose: each member
    with the first `reps` members of its bucket (every pair when the bucket is small)."""
    ids = np.arange(len(keys), dtype=np.int64)
    for band in range(keys.shape[1]):
        order = np.argsort(keys[:, band], kind="stable")  # stable: ids ascend inside a bucket
        sorted_keys = keys[order, band]
        new_bucket = np.ones(len(order), dtype=bool)
        new_bucket[1:] = sorted_keys[1:] != sorted_keys[:-1]
        bucket_start = np.maximum.accumulate(np.where(new_bucket, ids, 0))
        rank = ids - bucket_start
        for t in range(reps):
            later = np.flatnonzero(rank > t)
            if len(later) == 0:
                break
            yield order[bucket_start[later] + t], order[later]


def jaccard(values: np.ndarray, starts: np.ndarray, counts: np.ndarray, first: np.ndarray,
            second: np.ndarray) -> np.ndarray:
    """Exact Jaccard of the set pairs (first[i], second[i]), in batches of VERIFY_BATCH shingles."""
    out = np.zeros(len(first), dtype=np.float64)
    cumulative = np.cumsum(counts[first] + counts[second])
    lo = 0
    while lo < len(first):
        done = int(cumulative[lo - 1]) if lo else 0
        hi = max(lo + 1, int(np.searchsorted(cumulative, done + VERIFY_BATCH, side="right")))
        out[lo:hi] = _jaccard_batch(values, starts, counts, first[lo:hi], second[lo:hi])
        lo = hi
    return out


def gather(values, starts, counts, sets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(concatenated members of `sets`, position in `sets` of each member)."""
    lengths = counts[sets]
    owner = np.repeat(np.arange(len(sets), dtype=np.int64), lengths)
    offsets = np.arange(len(owner), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return values[starts[sets][owner] + offsets], owner


def _jaccard_batch(values, starts, counts, first, second) -> np.ndarray:
    # Each set has distinct members, so a (pair, value) key seen twice is in the intersection.
    va, oa = gather(values, starts, counts, first)
    vb, ob = gather(values, starts, counts, second)
    keys = np.concatenate(((oa.astype(np.uint64) << np.uint64(32)) | va, (ob.astype(np.uint64) << np.uint64(32)) | vb))
    keys.sort()
    repeated = keys[1:][keys[1:] == keys[:-1]]
    inter = np.bincount((repeated >> np.uint64(32)).astype(np.int64), minlength=len(first))
    union = counts[first] + counts[second] - inter
    return inter / np.maximum(union, 1)
