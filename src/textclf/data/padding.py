"""Right-padding of token id lists into one array, in numpy only (the ONNX path never imports torch)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np


def pad_ids(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, mask): ids (B, T) int64 right-padded with `pad_id`, mask (B, T) bool, True on real
    tokens; T is the longest sequence (at least 1). One copy of all ids, not one per row: the
    per-row copies were a fifth of the n-gram bag's training time."""
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    width = max(1, int(lengths.max(initial=0)))
    mask = np.arange(width) < lengths[:, None]
    ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    ids[mask] = np.fromiter(chain.from_iterable(sequences), dtype=np.int64, count=int(lengths.sum()))
    return ids, mask
