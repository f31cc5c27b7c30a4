"""Decision thresholds tuned on the VALIDATION split: per label or one global cut, to maximise
F1 / F-beta or to reach a target precision or recall.

By construction the tuning functions receive only validation probabilities and targets (or a
classifier plus its validation examples); nothing here can see a test split. Thresholds apply to
the probabilities the classifier reports (calibrated when a calibration was fitted), so tune them
after calibrating.

Shapes: multi-label probs (n, k) with 0/1 targets (n, k) -> thresholds (k,); binary single-label
probs (n, 2) with class ids (n,) -> thresholds (1,), the cut on p(class 1).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from ..errors import ConfigError, DataError
from ..objectives import MIN_PER_CLASS

Scope = Literal["per_label", "global"]
Objective = Literal["f1", "fbeta", "precision", "recall"]
DEFAULT_THRESHOLD = 0.5


class ThresholdWarning(UserWarning):
    """A threshold could not be tuned as asked (too few positives, target out of reach) and fell back."""


@dataclass(frozen=True)
class Curve:
    """Counts at every distinct score cut of one binary column, highest cut first.

    A row is predicted positive when its score >= cuts[i]; all arrays have one entry per cut."""

    cuts: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    positives: int

    @property
    def fn(self) -> np.ndarray:
        return self.positives - self.tp

    def precision(self) -> np.ndarray:
        return self.tp / np.maximum(self.tp + self.fp, 1)

    def recall(self) -> np.ndarray:
        return self.tp / max(self.positives, 1)

    def fbeta(self, beta: float) -> np.ndarray:
        b2 = beta * beta
        denominator = (1 + b2) * self.tp + b2 * self.fn + self.fp
        return np.divide((1 + b2) * self.tp, denominator, out=np.zeros(len(self.tp)), where=denominator > 0)


def binary_curve(y: np.ndarray, scores: np.ndarray) -> Curve:
    """y: 0/1 (n,); scores: (n,). O(n log n): one sort, cumulative counts at the last row of
    each run of tied scores."""
    y = np.asarray(y).astype(bool)
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_y = scores[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(sorted_scores) - 1]
    tp = np.cumsum(sorted_y)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    return Curve(sorted_scores[last_of_tie], tp.astype(float), fp.astype(float), int(y.sum()))


def _between(curve: Curve, i: int) -> float:
    """A cut halfway between the chosen score and the next lower one: it makes the same decisions
    on validation data and leaves a margin on both sides for unseen scores."""
    if i + 1 < len(curve.cuts):
        return float((curve.cuts[i] + curve.cuts[i + 1]) / 2.0)
    return float(curve.cuts[i])


def best_cut(curve: Curve, objective: Objective, beta: float = 1.0, target: float | None = None
             ) -> tuple[float, float, bool]:
    """(threshold, validation score, reached) for one column with at least one positive.

    f1/fbeta: the cut with the highest F (ties: the highest cut, the fewest positives).
    precision: the lowest cut whose precision >= target (most recall at that precision).
    recall: the highest cut whose recall >= target (most precision at that recall).
    When a target is out of reach, `reached` is False and the cut closest to it is returned."""
    if objective in ("f1", "fbeta"):
        scores = curve.fbeta(1.0 if objective == "f1" else beta)
        i = int(np.argmax(scores))
        return _between(curve, i), float(scores[i]), True
    assert target is not None, "precision/recall objectives need a target"
    if objective == "precision":
        values = curve.precision()
        ok = np.flatnonzero(values >= target)
        i = int(ok[-1]) if len(ok) else int(np.argmax(values))
    else:
        values = curve.recall()
        ok = np.flatnonzero(values >= target)
        i = int(ok[0]) if len(ok) else int(np.argmax(values))
    return _between(curve, i), float(values[i]), bool(len(ok))


@dataclass(frozen=True)
class ThresholdResult:
    """Tuned thresholds plus what they were tuned for; `to_json` is what a saved model keeps."""

    thresholds: np.ndarray  # (k,) multi-label, (1,) binary
    scope: Scope
    objective: Objective
    beta: float
    target: float | None
    validation_scores: list[float | None]  # the objective on validation, per threshold
    fallback_labels: list[str] = field(default_factory=list)  # too few positives: fallback threshold
    unreached_labels: list[str] = field(default_factory=list)  # target precision/recall not reached
    n_validation: int = 0

    def to_json(self) -> dict:
        out = asdict(self)
        out["thresholds"] = [float(t) for t in self.thresholds]
        return out


def _columns(probs: np.ndarray, targets: np.ndarray, multi_label: bool) -> tuple[np.ndarray, np.ndarray]:
    """The binary problems thresholds decide: (n, k) scores and (n, k) 0/1 truths."""
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2:
        raise DataError(f"threshold tuning expects probabilities of shape (n, k), got {probs.shape}")
    if multi_label:
        y = np.asarray(targets)
        if y.shape != probs.shape:
            raise DataError(f"targets {y.shape} and probabilities {probs.shape} disagree")
        return probs, y.astype(bool)
    if probs.shape[1] != 2:
        raise ConfigError(
            f"threshold tuning needs a binary or multi-label task; this model has {probs.shape[1]} "
            "classes (single-label decisions with more than 2 classes use argmax)"
        )
    return probs[:, 1:], (np.asarray(targets) == 1)[:, None]


def tune_thresholds(
    validation_probs: np.ndarray,
    validation_targets: np.ndarray,
    multi_label: bool,
    scope: Scope = "per_label",
    objective: Objective = "f1",
    beta: float = 1.0,
    target: float | None = None,
    label_names: list[str] | None = None,
    min_positives: int = MIN_PER_CLASS,
) -> ThresholdResult:
    """Thresholds from VALIDATION probabilities (n, k) and targets (ids (n,) or 0/1 (n, k)).

    A label with fewer than `min_positives` positive validation examples is not tuned (a cut
    fitted to one or two positives sits on their scores): it gets the global threshold (pooled over
    all labels), or 0.5 when the pool has fewer too, and a ThresholdWarning names it."""
    if objective in ("precision", "recall") and target is None:
        raise ConfigError(f"thresholds.objective {objective} needs thresholds.target (e.g. 0.9)")
    if len(validation_probs) == 0:
        raise DataError("threshold tuning needs a non-empty validation split")
    scores, truth = _columns(validation_probs, validation_targets, multi_label)
    k = scores.shape[1]
    names = list(label_names) if label_names is not None else [str(j) for j in range(k)]
    if not multi_label:
        names = names[1:2] if len(names) == 2 else names
    pooled = binary_curve(truth.ravel(), scores.ravel())
    poolable = pooled.positives >= min_positives
    if poolable:
        global_cut, global_score, global_reached = best_cut(pooled, objective, beta, target)
    else:
        global_cut, global_score, global_reached = DEFAULT_THRESHOLD, None, True
    thresholds = np.full(k, global_cut)
    per_score: list[float | None] = [global_score] * k
    fallback, unreached = [], []
    if scope == "global":
        if not poolable:
            fallback = list(names)
        elif not global_reached:
            unreached = list(names)
    else:
        for j in range(k):
            curve = binary_curve(truth[:, j], scores[:, j])
            if curve.positives < min_positives:
                fallback.append(names[j])
                per_score[j] = None
                continue
            thresholds[j], per_score[j], reached = best_cut(curve, objective, beta, target)
            if not reached:
                unreached.append(names[j])
    if fallback:
        warnings.warn(
            f"fewer than {min_positives} positive validation examples for {len(fallback)} label(s) "
            f"{fallback[:10]}: their threshold is not tuned and falls back to {global_cut:.4f} "
            f"({'the global threshold' if poolable else 'the default'})",
            ThresholdWarning, stacklevel=2,
        )
    if unreached:
        warnings.warn(
            f"validation {objective} {target} is out of reach for {unreached[:10]}: using the closest cut",
            ThresholdWarning, stacklevel=2,
        )
    return ThresholdResult(thresholds, scope, objective, float(beta), target, per_score, fallback, unreached,
                           int(len(validation_probs)))
