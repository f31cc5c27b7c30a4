"""Class imbalance: loss weights computed from TRAINING targets only.

`balanced` follows scikit-learn's convention, n_samples / (n_classes * count), so a class that is
ten times rarer weighs ten times more; pos_weight for BCE is negatives / positives per label."""

from __future__ import annotations

from typing import Literal

import numpy as np

from .data import LabelMap
from .errors import ConfigError

WeightSpec = Literal["balanced"] | dict[str, float] | None


def _explicit(spec: dict[str, float], label_map: LabelMap, key: str) -> np.ndarray:
    unknown = sorted(set(spec) - set(label_map.labels))
    if unknown:
        raise ConfigError(f"training.{key}: unknown labels {unknown}; the labels are {list(label_map.labels)}")
    return np.array([float(spec.get(name, 1.0)) for name in label_map.labels], dtype=np.float32)


def class_weights(train_targets: np.ndarray, label_map: LabelMap, spec: WeightSpec) -> np.ndarray | None:
    """Per-class weights for cross-entropy, shape (k,), or None. `train_targets`: ids, shape (n,)."""
    if spec is None:
        return None
    if isinstance(spec, dict):
        return _explicit(spec, label_map, "class_weight")
    counts = np.bincount(np.asarray(train_targets, dtype=np.int64), minlength=len(label_map)).astype(np.float64)
    weights = len(train_targets) / (len(label_map) * np.maximum(counts, 1.0))
    return weights.astype(np.float32)


def pos_weights(train_targets: np.ndarray, label_map: LabelMap, spec: WeightSpec) -> np.ndarray | None:
    """Per-label positive weights for BCE-with-logits, shape (k,), or None.
    `train_targets`: multi-hot, shape (n, k). A label with no positives gets weight 1."""
    if spec is None:
        return None
    if isinstance(spec, dict):
        return _explicit(spec, label_map, "pos_weight")
    positives = np.asarray(train_targets, dtype=np.float64).sum(axis=0)
    negatives = len(train_targets) - positives
    weights = np.where(positives > 0, negatives / np.maximum(positives, 1.0), 1.0)
    return weights.astype(np.float32)
