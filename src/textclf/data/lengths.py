"""Length-sorted batching of raw texts, without torch: every inference path (PyTorch, ONNX
Runtime, TF-IDF) batches texts of similar length together so padding costs little."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

LogitsFn = Callable[[Sequence[str]], np.ndarray]


def length_sorted_batches(texts: Sequence[str], batch_size: int) -> list[np.ndarray]:
    """Index batches that cover `texts`, each holding texts of similar length (longest first)."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def chunk_logits(logits_fn: LogitsFn, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """Logits (n, k) for `texts` in their original order, computed on length-sorted batches."""
    out: np.ndarray | None = None
    for idx in length_sorted_batches(texts, batch_size):
        part = np.asarray(logits_fn([texts[i] for i in idx]), dtype=np.float32)
        if out is None:
            out = np.empty((len(texts), part.shape[1]), dtype=np.float32)
        out[idx] = part  # scatter back: restores input order
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)
