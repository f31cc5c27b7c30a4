"""Seeded bootstrap confidence intervals for headline metrics.

Rows are resampled with replacement `n_resamples` times; an interval is the percentile range of
the statistic over the resamples. The statistics here work on index arrays over precomputed
arrays (confusion counts via bincount, ranks via scipy) so 1,000 resamples take about a second.

Expected calibration error is biased upwards, and more so on a resample (drawing rows again adds
noise to every bin's gap): for a well-calibrated model, e.g. after isotonic calibration, every
resample's ECE can lie above the estimate, and the plain percentile interval then misses its own
point estimate. Statistics listed in `BIAS_CORRECTED` therefore get a bias-corrected percentile
interval: the resamples are shifted by the bootstrap estimate of the bias (their median minus the
estimate) before the percentiles are read, and the interval is clipped at 0. It keeps the
percentile interval's width and always contains the estimate.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from . import RESAMPLES
from .metrics import binary_roc_auc, confidence_and_outcome, one_hot

Statistic = Callable[[np.ndarray], float | None]  # row indices (n,) -> metric value

BIAS_CORRECTED = frozenset({"ece"})  # non-negative statistics whose resamples sit above the estimate


def bootstrap_intervals(statistics: dict[str, Statistic], n: int, n_resamples: int = RESAMPLES,
                        level: float = 0.95, seed: int = 0,
                        bias_corrected: frozenset[str] | set[str] = BIAS_CORRECTED) -> dict[str, list[float] | None]:
    """Percentile intervals [low, high] per statistic; None when no resample defines it.

    The same resampled rows are used for every statistic, so intervals are comparable. Names in
    `bias_corrected` get `bias_corrected_interval` around the statistic on all rows."""
    if n == 0:
        return {name: None for name in statistics}
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {name: [] for name in statistics}
    for _ in range(n_resamples):
        idx = rng.integers(0, n, size=n)
        for name, statistic in statistics.items():
            value = statistic(idx)
            if value is not None:
                values[name].append(value)
    intervals: dict[str, list[float] | None] = {}
    everything = np.arange(n)
    for name, draws in values.items():
        if not draws:
            intervals[name] = None
        elif name in bias_corrected and (estimate := statistics[name](everything)) is not None:
            intervals[name] = list(bias_corrected_interval(draws, estimate, level))
        else:
            intervals[name] = list(percentile_interval(draws, level))
    return intervals


def bias_corrected_interval(values, estimate: float, level: float = 0.95,
                            lower_bound: float | None = 0.0) -> tuple[float, float]:
    """The percentile interval of bootstrap draws shifted by their bias (median minus `estimate`),
    clipped at `lower_bound`; it always contains `estimate`."""
    draws = np.asarray(values, dtype=float)
    shifted = draws - (float(np.median(draws)) - float(estimate))
    low, high = percentile_interval(shifted, level)
    if lower_bound is not None:
        low, high = max(low, lower_bound), max(high, lower_bound)
    return min(low, float(estimate)), max(high, float(estimate))


def percentile_interval(values, level: float = 0.95) -> tuple[float, float]:
    """The central `level` range of bootstrap draws: (low, high) percentiles."""
    tail = (1.0 - level) / 2.0 * 100.0
    return float(np.percentile(values, tail)), float(np.percentile(values, 100.0 - tail))


def _f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros(len(tp)), where=denominator > 0)


def single_label_statistics(targets: np.ndarray, probs: np.ndarray, decisions: np.ndarray,
                            n_bins: int = 15) -> dict[str, Statistic]:
    """accuracy, macro_f1 (over classes present in the resample, as scikit-learn does), roc_auc
    (class 1 when binary, else one-vs-rest macro) and equal-width ece."""
    targets, decisions = np.asarray(targets, dtype=int), np.asarray(decisions, dtype=int)
    k = probs.shape[1]
    confidence, outcome = confidence_and_outcome(targets, probs, multi_label=False)
    bin_of = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    onehot = one_hot(targets, k)
    scored = [1] if k == 2 else list(range(k))

    def accuracy(idx):
        return float(np.mean(targets[idx] == decisions[idx]))

    def macro_f1(idx):
        cm = np.bincount(targets[idx] * k + decisions[idx], minlength=k * k).reshape(k, k)
        tp = np.diag(cm).astype(float)
        fp, fn = cm.sum(axis=0) - tp, cm.sum(axis=1) - tp
        present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
        return float(_f1_from_counts(tp, fp, fn)[present].mean())

    def roc_auc(idx):
        aucs = [a for j in scored if (a := binary_roc_auc(onehot[idx, j], probs[idx, j])) is not None]
        return float(np.mean(aucs)) if aucs else None

    def ece(idx):
        return _binned_ece(bin_of[idx], confidence[idx], outcome[idx], n_bins)

    return {"accuracy": accuracy, "macro_f1": macro_f1, "roc_auc": roc_auc, "ece": ece}


def multi_label_statistics(targets: np.ndarray, probs: np.ndarray, decisions: np.ndarray,
                           n_bins: int = 15) -> dict[str, Statistic]:
    """subset_accuracy, micro_f1, macro_f1 (over all labels, as scikit-learn does) and ece over
    every label probability.

    A resample is turned into row weights (how often each row was drawn), and every statistic is
    a weighted sum over per-row aggregates computed once: (n,) @ (n, k) instead of copying the
    (n, k) matrices per resample, which matters with tens of labels and thousands of rows."""
    y = np.asarray(targets).astype(bool)
    d = np.asarray(decisions).astype(bool)
    n, k = y.shape
    # (3k, n) sparse: per-row tp | fp | fn indicators. Most rows touch few labels, so a weighted
    # sum costs O(rows with a label) and never goes through (thread-contended) dense BLAS.
    outcomes = sp.csr_matrix(np.hstack([y & d, ~y & d, y & ~d]).astype(np.float64)).T.tocsr()
    exact = (y == d).all(axis=1).astype(float)
    # per-row calibration-bin aggregates, (n, n_bins): count, summed confidence, summed outcome
    bin_of = np.minimum((probs * n_bins).astype(int), n_bins - 1)
    cell = (np.arange(n)[:, None] * n_bins + bin_of).ravel()
    row_count = np.bincount(cell, minlength=n * n_bins).reshape(n, n_bins).astype(float)
    row_conf = np.bincount(cell, weights=probs.ravel(), minlength=n * n_bins).reshape(n, n_bins)
    row_hit = np.bincount(cell, weights=y.ravel().astype(float), minlength=n * n_bins).reshape(n, n_bins)

    def weights(idx):
        return np.bincount(idx, minlength=n).astype(float)

    def counts(idx):
        tp, fp, fn = np.split(outcomes @ weights(idx), 3)
        return tp, fp, fn

    def subset_accuracy(idx):
        return float(exact[idx].mean())

    def micro_f1(idx):
        tp, fp, fn = (c.sum(keepdims=True) for c in counts(idx))
        return float(_f1_from_counts(tp, fp, fn)[0])

    def macro_f1(idx):
        return float(_f1_from_counts(*counts(idx)).mean())

    def ece(idx):
        w = weights(idx)
        return float(np.abs(_weighted_sum(w, row_conf) - _weighted_sum(w, row_hit)).sum()
                     / max(_weighted_sum(w, row_count).sum(), 1.0))

    return {"subset_accuracy": subset_accuracy, "micro_f1": micro_f1, "macro_f1": macro_f1, "ece": ece}


def _weighted_sum(w: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """sum_i w_i rows_i, (n,) x (n, m) -> (m,), via einsum rather than BLAS gemv: this runs
    thousands of times inside a bootstrap, where BLAS threads only add contention."""
    return np.einsum("i,ij->j", w, rows)


def _binned_ece(bin_of: np.ndarray, confidence: np.ndarray, outcome: np.ndarray, n_bins: int) -> float:
    count = np.bincount(bin_of, minlength=n_bins)
    gap = np.abs(np.bincount(bin_of, weights=confidence, minlength=n_bins)
                 - np.bincount(bin_of, weights=outcome, minlength=n_bins))
    return float(gap.sum() / max(int(count.sum()), 1))


def headline_intervals(targets: np.ndarray, probs: np.ndarray, decisions: np.ndarray, multi_label: bool,
                       n_resamples: int = RESAMPLES, level: float = 0.95, seed: int = 0) -> dict:
    """{"intervals": {metric: [low, high]}, "bootstrap": {resamples, level, seed}}."""
    make = multi_label_statistics if multi_label else single_label_statistics
    statistics = make(targets, np.asarray(probs, dtype=float), decisions)
    intervals = bootstrap_intervals(statistics, len(probs), n_resamples, level, seed)
    return {"intervals": intervals, "bootstrap": {"resamples": n_resamples, "level": level, "seed": seed,
                                                  "bias_corrected": sorted(BIAS_CORRECTED & set(statistics))}}
