"""The fast model in the loop (logistic regression on the pool's vectors) and what the live panel
shows: cross-validated macro-F1 of the labels so far with a bootstrap interval, and the expected
gain of the next 100 labels from a power law fitted to the learning curve."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

MIN_PER_CLASS_FOR_CV = 2


def _estimator() -> LogisticRegression:
    """One per label for multi-label (fit_predict loops), balanced: rare classes matter early."""
    return LogisticRegression(C=4.0, max_iter=500, class_weight="balanced")


def fit_predict(vectors: np.ndarray, rows: Sequence[int], targets: np.ndarray, classes: int,
                multi_label: bool = False) -> np.ndarray | None:
    """(n_pool, classes) probabilities from a model fitted on `rows`; None until two classes are seen.
    `targets` is (len(rows),) class ids, or (len(rows), classes) 0/1 for multi-label."""
    rows = np.asarray(rows, dtype=int)
    seen = np.unique(targets) if not multi_label else np.flatnonzero(targets.any(axis=0))
    if len(rows) < 2 or len(seen) < (1 if multi_label else 2):
        return None
    with threadpool_limits(1, user_api="blas"):
        if multi_label:
            positives = targets.sum(axis=0)
            probs = np.tile((positives == len(rows)).astype(float), (len(vectors), 1))  # seen always: 1, never: 0
            for c in np.flatnonzero((positives > 0) & (positives < len(rows))):
                probs[:, c] = _estimator().fit(vectors[rows], targets[:, c]).predict_proba(vectors)[:, 1]
            return probs
        model = _estimator().fit(vectors[rows], targets)
        probs = np.zeros((len(vectors), classes))
        probs[:, model.classes_] = model.predict_proba(vectors)
        return probs


@dataclass(frozen=True)
class Score:
    labels: int
    f1: float
    low: float
    high: float


def cross_validated_f1(vectors: np.ndarray, rows: Sequence[int], targets: np.ndarray, classes: int,
                       multi_label: bool = False, folds: int = 5, seed: int = 0, resamples: int = 200) -> Score | None:
    """Macro-F1 of out-of-fold predictions on the labelled rows, with a 95% bootstrap interval.
    None while some seen class has fewer than MIN_PER_CLASS_FOR_CV rows (single-label)."""
    rows = np.asarray(rows, dtype=int)
    if multi_label:
        return _multi_label_cv(vectors, rows, targets, classes, folds, seed, resamples)
    counts = np.bincount(targets, minlength=classes)
    seen = counts[counts > 0]
    if len(seen) < 2 or seen.min() < MIN_PER_CLASS_FOR_CV:
        return None
    splitter = StratifiedKFold(n_splits=int(min(folds, seen.min())), shuffle=True, random_state=seed)
    predicted = np.zeros(len(rows), dtype=int)
    with threadpool_limits(1, user_api="blas"):
        for fit_part, held in splitter.split(rows, targets):
            model = _estimator().fit(vectors[rows[fit_part]], targets[fit_part])
            predicted[held] = model.predict(vectors[rows[held]])
    labels = np.flatnonzero(counts)
    return _with_interval(targets, predicted, labels, seed, resamples)


def _multi_label_cv(vectors, rows, targets, classes, folds, seed, resamples) -> Score | None:
    if len(rows) < 2 * folds:
        return None
    from sklearn.model_selection import KFold

    predicted = np.zeros_like(targets)
    for fit_part, held in KFold(n_splits=folds, shuffle=True, random_state=seed).split(rows):
        probs = fit_predict(vectors[rows], fit_part, targets[fit_part], classes, True)
        if probs is not None:
            predicted[held] = (probs[held] >= 0.5).astype(targets.dtype)
    return _with_interval(targets, predicted, None, seed, resamples)


def _with_interval(targets, predicted, labels, seed: int, resamples: int) -> Score:
    def score(index) -> float:
        return float(f1_score(targets[index], predicted[index], labels=labels, average="macro", zero_division=0))

    everything = np.arange(len(targets))
    rng = np.random.default_rng(seed)
    boot = [score(rng.integers(0, len(targets), len(targets))) for _ in range(resamples)]
    low, high = np.percentile(boot, [2.5, 97.5]) if boot else (np.nan, np.nan)
    return Score(len(targets), score(everything), float(low), float(high))


def power_law_gain(curve: Sequence[tuple[int, float]], extra: int = 100) -> float | None:
    """Expected F1 gain of `extra` more labels: fit error(n) = b * n^-c (log-log least squares,
    c >= 0) on the learning curve's (labels, f1) points; None with fewer than 3 usable points."""
    points = [(n, f) for n, f in curve if n > 0 and 0 <= f < 1]
    if len(points) < 3:
        return None
    log_n = np.log([n for n, _ in points])
    log_error = np.log([1 - f for _, f in points])
    slope, intercept = np.polyfit(log_n, log_error, 1)
    slope = min(slope, 0.0)  # more labels never predicted to hurt
    last = points[-1][0]

    def f1_at(n: float) -> float:
        return 1 - float(np.exp(intercept + slope * np.log(n)))

    return max(0.0, f1_at(last + extra) - f1_at(last))
