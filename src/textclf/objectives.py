"""Decision rules: logits -> probabilities -> labels, for single- and multi-label tasks.

Models never apply softmax or sigmoid themselves; this is the one place that does."""

from __future__ import annotations

import numpy as np

# Labelled rows a calibration or a threshold needs: one fitted on 4 rows is noise that moves every
# later decision (training then keeps none and says so; `calibrate`/`tune-thresholds` refuse or say so).
MIN_POLICY_ROWS = 50
# Examples of each class (multi-label: positive and negative assignments) a calibration, and
# positives a label's own threshold, is fitted on: fewer fit noise.
MIN_PER_CLASS = 5


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * logits))  # overflow-free form of 1 / (1 + exp(-x))


def probabilities(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    return sigmoid(logits) if multi_label else softmax(logits)


def decide(
    probs: np.ndarray, multi_label: bool, thresholds: np.ndarray | None = None, min_labels: int = 0
) -> np.ndarray:
    """Single-label: class ids (n,), argmax, or for two classes `p[:, 1] >= thresholds[0]` when a
    tuned threshold exists. Multi-label: a boolean matrix (n, k), `p >= threshold` per label
    (0.5 by default); `min_labels=1` turns on the top label of a row that has none."""
    if not multi_label:
        if thresholds is not None and probs.shape[1] == 2:
            return (probs[:, 1] >= float(np.ravel(thresholds)[0])).astype(np.int64)
        return probs.argmax(axis=1)
    cut = np.full(probs.shape[1], 0.5) if thresholds is None else np.broadcast_to(thresholds, probs.shape[1:])
    chosen = probs >= cut
    if min_labels > 0:
        empty = ~chosen.any(axis=1)
        chosen[empty, probs[empty].argmax(axis=1)] = True
    return chosen
