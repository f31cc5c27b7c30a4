"""Class imbalance: loss weights and resampling, computed from TRAINING data only.

`balanced` follows scikit-learn's convention, n_samples / (n_classes * count), so a class that is
ten times rarer weighs ten times more; `balanced_weights` is its one definition, used by every
model type (neural losses, TF-IDF and embedding heads, one binary column at a time for
multi-label heads). pos_weight for BCE is negatives / positives per label."""

from __future__ import annotations

from typing import Literal

import numpy as np

from .data import LabelMap
from .errors import ConfigError

WeightSpec = Literal["balanced"] | dict[str, float] | None


def explicit_weights(spec: dict[str, float], label_map: LabelMap, key: str) -> np.ndarray:
    unknown = sorted(set(spec) - set(label_map.labels))
    if unknown:
        raise ConfigError(f"training.{key}: unknown labels {unknown}; the labels are {list(label_map.labels)}")
    return np.array([float(spec.get(name, 1.0)) for name in label_map.labels], dtype=np.float32)


def balanced_weights(targets: np.ndarray, n_classes: int) -> np.ndarray:
    """Balanced class weights, shape (n_classes,), float64: n / (classes present * count) for a
    class present in `targets` (ids, shape (n,)), 1 for an absent one (scikit-learn's formula)."""
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=n_classes).astype(np.float64)
    present = max(1, int((counts > 0).sum()))
    return np.where(counts > 0, len(targets) / (present * np.maximum(counts, 1.0)), 1.0)


def binary_weights(column: np.ndarray, spec: WeightSpec, explicit_positive: float | None = None) -> np.ndarray:
    """(negative, positive) weights of one 0/1 label column of a one-vs-rest head, float64:
    `balanced_weights` for "balanced", (1, `explicit_positive`) for explicit weights, else ones."""
    if spec == "balanced":
        return balanced_weights(column, 2)
    return np.array([1.0, 1.0 if explicit_positive is None else float(explicit_positive)])


def class_weights(train_targets: np.ndarray, label_map: LabelMap, spec: WeightSpec) -> np.ndarray | None:
    """Per-class weights for cross-entropy, shape (k,), or None. `train_targets`: ids, shape (n,)."""
    if spec is None:
        return None
    if isinstance(spec, dict):
        return explicit_weights(spec, label_map, "class_weight")
    return balanced_weights(train_targets, len(label_map)).astype(np.float32)


def pos_weights(train_targets: np.ndarray, label_map: LabelMap, spec: WeightSpec) -> np.ndarray | None:
    """Per-label positive weights for BCE-with-logits, shape (k,), or None.
    `train_targets`: multi-hot, shape (n, k). A label with no positives gets weight 1."""
    if spec is None:
        return None
    if isinstance(spec, dict):
        return explicit_weights(spec, label_map, "pos_weight")
    positives = np.asarray(train_targets, dtype=np.float64).sum(axis=0)
    negatives = len(train_targets) - positives
    weights = np.where(positives > 0, negatives / np.maximum(positives, 1.0), 1.0)
    return weights.astype(np.float32)


# -- resampling ----------------------------------------------------------------------------------
ResampleMethod = Literal["over", "under"]


def _label_rows(labels: list) -> dict[str, np.ndarray]:
    """Row indices per label name (a multi-label row appears under each of its labels)."""
    rows: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        for name in (label if isinstance(label, tuple) else (label,)):
            rows.setdefault(name, []).append(i)
    return {name: np.asarray(idx) for name, idx in sorted(rows.items())}


def resample_indices(labels: list, method: ResampleMethod, seed: int = 0, ratio: float = 1.0,
                     max_repeat: int = 10) -> np.ndarray:
    """Row indices of a rebalanced TRAINING set (sorted, repeats allowed for `over`).

    Single-label `over`: every class is topped up with random repeats to `ratio` x the largest
    class; `under`: every class is cut at random to the smallest class / `ratio`.
    Multi-label `over` (labels are tuples): a row is repeated so that its rarest label moves
    towards `ratio` x the mean label count, at most `max_repeat` copies in all (the rows of common
    labels are never removed, so co-occurring labels grow too: a mild, predictable rebalance).
    Multi-label `under` is refused: dropping rows removes positives of every label they carry."""
    rng = np.random.default_rng(seed)
    by_label = _label_rows(labels)
    multi = bool(labels) and isinstance(labels[0], tuple)
    if multi:
        if method == "under":
            raise ConfigError("training.resample.method under is not supported for multi-label data; "
                              "use over, or training.pos_weight: balanced")
        counts = {name: len(idx) for name, idx in by_label.items()}
        goal = ratio * float(np.mean(list(counts.values()))) if counts else 0.0
        copies = np.ones(len(labels), dtype=np.int64)
        for i, label in enumerate(labels):
            if label:
                rarest = min(counts[name] for name in label)
                copies[i] = int(np.clip(np.floor(goal / rarest), 1, max_repeat))
        return np.repeat(np.arange(len(labels)), copies)
    sizes = {name: len(idx) for name, idx in by_label.items()}
    picked = []
    if method == "over":
        goal = int(round(ratio * max(sizes.values())))
        for idx in by_label.values():
            extra = max(goal - len(idx), 0)
            picked.append(idx)
            if extra:
                picked.append(rng.choice(idx, size=extra, replace=True))
    elif method == "under":
        goal = int(round(min(sizes.values()) / ratio))
        for idx in by_label.values():
            picked.append(rng.choice(idx, size=min(goal, len(idx)), replace=False) if len(idx) > goal else idx)
    else:
        raise ConfigError(f"training.resample.method: unknown method {method!r}; use over or under")
    return np.sort(np.concatenate(picked))


def resample(train, method: ResampleMethod, seed: int = 0, ratio: float = 1.0):
    """A rebalanced copy of the TRAINING Examples (never apply this to validation or test data:
    metrics and thresholds must see the real class mix)."""
    if train.labels is None:
        raise ConfigError("training.resample needs labelled training data")
    return train.subset(resample_indices(list(train.labels), method, seed, ratio))


# -- the default for skewed data -----------------------------------------------------------------
SKEW_RATIO = 1 / 3  # rarest / largest class below this: balanced class weights by default


def skewed_class_weight(training, counts: np.ndarray | None, label_map: LabelMap):
    """(training, record): when the user's config leaves `class_weight` unset and the rarest
    single-label class has under a third of the largest class's rows (`counts`, per class id),
    `class_weight: balanced` (otherwise a model on a 90/10 split can maximise accuracy by never
    predicting the rare class). `record` says what was applied and why (None when nothing was)."""
    if label_map.multi_label or "class_weight" in training.model_fields_set or training.class_weight is not None:
        return training, None
    ratio = float(counts.min() / max(counts.max(), 1))
    if ratio >= SKEW_RATIO:
        return training, None
    record = {"class_weight": "balanced", "rarest_to_largest": round(ratio, 4),
              "reason": f"rarest class has {ratio:.0%} of the largest class's rows (< {SKEW_RATIO:.0%})"}
    return training.model_copy(update={"class_weight": "balanced"}), record
