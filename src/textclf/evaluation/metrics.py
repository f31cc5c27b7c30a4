"""Classification metrics as plain JSON-able dicts.

Decision metrics (accuracy, precision/recall/F1, confusion matrix) come from scikit-learn.
Probability metrics (ROC-AUC, PR-AUC, log loss, Brier score, calibration error) are written here
on plain arrays so the bootstrap can call them thousands of times; tests check them against
scikit-learn and hand-computed values. A metric that is undefined on the data (ROC-AUC of a class
with no positive example) is None, never NaN, so the dict stays valid JSON.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import accuracy_score, confusion_matrix, hamming_loss, precision_recall_fscore_support

from ..data import LabelMap


def _averages(y_true, y_pred, averages: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for average in averages:
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        out.update({f"{average}_precision": float(p), f"{average}_recall": float(r), f"{average}_f1": float(f)})
    return out


def _per_class(y_true, y_pred, label_map: LabelMap, labels=None) -> dict[str, dict[str, float]]:
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, name in enumerate(label_map.labels)
    }


def single_label_metrics(y_true: np.ndarray, y_pred: np.ndarray, label_map: LabelMap) -> dict:
    """y_true, y_pred: class ids, shape (n,)."""
    ids = list(range(len(label_map)))
    metrics = {"n": int(len(y_true)), "accuracy": float(accuracy_score(y_true, y_pred))}
    metrics.update(_averages(y_true, y_pred, ("macro", "micro", "weighted")))
    metrics["per_class"] = _per_class(y_true, y_pred, label_map, labels=ids)
    matrix = confusion_matrix(y_true, y_pred, labels=ids)
    metrics["confusion_matrix"] = matrix.tolist()
    metrics["confusion_matrix_normalized"] = normalized_confusion(matrix).round(6).tolist()
    return metrics


def multi_label_metrics(y_true: np.ndarray, y_pred: np.ndarray, label_map: LabelMap) -> dict:
    """y_true, y_pred: 0/1 matrices, shape (n, k)."""
    y_true = np.asarray(y_true).astype(int)
    y_pred = np.asarray(y_pred).astype(int)
    metrics = {
        "n": int(len(y_true)),
        "subset_accuracy": float(accuracy_score(y_true, y_pred)),
        "hamming_loss": float(hamming_loss(y_true, y_pred)),
    }
    metrics.update(_averages(y_true, y_pred, ("micro", "macro", "weighted", "samples")))
    metrics["per_class"] = _per_class(y_true, y_pred, label_map)
    return metrics


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, label_map: LabelMap) -> dict:
    if label_map.multi_label:
        return multi_label_metrics(y_true, y_pred, label_map)
    return single_label_metrics(y_true, y_pred, label_map)


HEADLINE_METRICS = ("accuracy", "subset_accuracy", "macro_f1", "micro_f1", "weighted_f1", "samples_f1",
                    "hamming_loss", "roc_auc", "pr_auc", "micro_roc_auc", "micro_pr_auc", "log_loss", "brier",
                    "ece", "ece_equal_mass", "mce")


def _cell(value: float | None) -> str:
    return f"{value:>10.4f}" if value is not None else f"{'-':>10}"


def format_metrics(metrics: dict, label_map: LabelMap) -> str:
    """A console table: headline numbers, then one row per class."""
    headline = [k for k in HEADLINE_METRICS if metrics.get(k) is not None]
    intervals = metrics.get("intervals", {})
    level = metrics.get("bootstrap", {}).get("level", 0.95)
    lines = [f"{'n':<16}{metrics['n']}"]
    for k in headline:
        ci = intervals.get(k)
        lines.append(f"{k:<16}{metrics[k]:.4f}" + (f"  [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""))
    if intervals:
        lines.append(f"(intervals: {level:.0%} bootstrap, {metrics['bootstrap']['resamples']} resamples)")
    width = max(8, *(len(name) for name in label_map.labels)) + 2
    has_auc = any(row.get("roc_auc") is not None for row in metrics["per_class"].values())
    lines.append("")
    lines.append(f"{'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"
                 + (f"{'roc_auc':>10}{'pr_auc':>10}" if has_auc else ""))
    for name, row in metrics["per_class"].items():
        lines.append(f"{name:<{width}}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}"
                     f"{row['support']:>10d}"
                     + ("".join(_cell(row.get(key)) for key in ("roc_auc", "pr_auc")) if has_auc else ""))
    if "confusion_matrix" in metrics:
        lines.append("")
        lines.append("confusion matrix (rows = gold, columns = predicted)")
        lines.append(" " * width + "".join(f"{name[:9]:>10}" for name in label_map.labels))
        for name, row in zip(label_map.labels, metrics["confusion_matrix"]):
            lines.append(f"{name:<{width}}" + "".join(f"{v:>10d}" for v in row))
    return "\n".join(lines)


# -- probability metrics -------------------------------------------------------------------------
BinStrategy = Literal["width", "mass"]
_EPS = 1e-15  # probabilities are clipped to [eps, 1 - eps] in log loss, as scikit-learn does


def binary_roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve for 0/1 targets `y` (n,) and scores (n,), via the Mann-Whitney
    rank statistic (ties count one half). None when only one class is present."""
    y = np.asarray(y).astype(bool)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(y: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the precision-recall curve as the step sum sum_k (R_k - R_{k-1}) P_k over
    distinct score thresholds (scikit-learn's average_precision). None without positives."""
    y = np.asarray(y).astype(bool)
    n_pos = int(y.sum())
    if n_pos == 0:
        return None
    order = np.argsort(-np.asarray(score), kind="mergesort")
    score, y = np.asarray(score)[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]  # thresholds at distinct scores
    tp = np.cumsum(y)[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall_gain = np.diff(np.r_[0, tp]) / n_pos
    return float(np.sum(recall_gain * precision))


def _mean_defined(values: list[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def one_hot(y: np.ndarray, k: int) -> np.ndarray:
    """Class ids (n,) -> 0/1 float matrix (n, k)."""
    out = np.zeros((len(y), k))
    out[np.arange(len(y)), np.asarray(y, dtype=int)] = 1.0
    return out


def ranking_metrics(targets: np.ndarray, probs: np.ndarray, multi_label: bool) -> dict:
    """ROC-AUC and PR-AUC. Binary single-label: of class 1. Otherwise one-vs-rest per class and
    their macro mean over classes where it is defined; multi-label also adds micro (all label
    probabilities pooled). Returns headline keys plus `per_class` lists (None where undefined)."""
    k = probs.shape[1]
    y = np.asarray(targets) if multi_label else one_hot(targets, k)
    roc = [binary_roc_auc(y[:, j], probs[:, j]) for j in range(k)]
    pr = [average_precision(y[:, j], probs[:, j]) for j in range(k)]
    out: dict = {"per_class_roc_auc": roc, "per_class_pr_auc": pr}
    if not multi_label and k == 2:
        out["roc_auc"], out["pr_auc"] = roc[1], pr[1]
    else:
        out["roc_auc"], out["pr_auc"] = _mean_defined(roc), _mean_defined(pr)
    if multi_label:
        out["micro_roc_auc"] = binary_roc_auc(y.ravel(), probs.ravel())
        out["micro_pr_auc"] = average_precision(y.ravel(), probs.ravel())
    return out


def log_loss(targets: np.ndarray, probs: np.ndarray, multi_label: bool) -> float:
    """Single-label: mean -log p(true class). Multi-label: mean binary cross-entropy over all
    (row, label) pairs. Probabilities are clipped away from 0 and 1."""
    p = np.clip(probs, _EPS, 1 - _EPS)
    if multi_label:
        y = np.asarray(targets, dtype=float)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(-np.mean(np.log(p[np.arange(len(p)), np.asarray(targets, dtype=int)])))


def brier_score(targets: np.ndarray, probs: np.ndarray, multi_label: bool) -> float:
    """Mean squared distance between probabilities and 0/1 outcomes.

    Single-label: sum over classes, mean over rows (Brier 1950), halved for two classes so that it
    equals the familiar binary mean((p1 - y)^2), as scikit-learn's brier_score_loss does.
    Multi-label: mean over all (row, label) pairs."""
    if multi_label:
        return float(np.mean((probs - np.asarray(targets, dtype=float)) ** 2))
    k = probs.shape[1]
    per_row = ((probs - one_hot(targets, k)) ** 2).sum(axis=1)
    return float(per_row.mean() / (2.0 if k == 2 else 1.0))


def confidence_and_outcome(targets: np.ndarray, probs: np.ndarray, multi_label: bool) -> tuple[np.ndarray, np.ndarray]:
    """What calibration error compares. Single-label (top-label calibration): the top probability
    (n,) and whether the top class is right (n,). Multi-label: every label probability (n*k,) and
    whether that label is present (n*k,)."""
    if multi_label:
        return probs.ravel(), np.asarray(targets, dtype=float).ravel()
    return probs.max(axis=1), (probs.argmax(axis=1) == np.asarray(targets)).astype(float)


def calibration_bins(confidence: np.ndarray, outcome: np.ndarray, n_bins: int = 15,
                     strategy: BinStrategy = "width") -> dict[str, np.ndarray]:
    """Group predictions into bins by confidence. `width`: equal-width bins on [0, 1] (the last
    one closed); `mass`: bins of (nearly) equal size after sorting by confidence.

    Returns arrays over the non-empty bins: count, confidence (mean), accuracy (mean outcome)."""
    confidence = np.asarray(confidence, dtype=float)
    outcome = np.asarray(outcome, dtype=float)
    if strategy == "width":
        bin_of = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    elif strategy == "mass":
        bin_of = np.empty(len(confidence), dtype=int)
        order = np.argsort(confidence, kind="mergesort")
        for b, chunk in enumerate(np.array_split(order, min(n_bins, max(len(order), 1)))):
            bin_of[chunk] = b
    else:
        raise ValueError(f"unknown binning strategy {strategy!r}: use 'width' or 'mass'")
    count = np.bincount(bin_of, minlength=n_bins)
    conf_sum = np.bincount(bin_of, weights=confidence, minlength=n_bins)
    hit_sum = np.bincount(bin_of, weights=outcome, minlength=n_bins)
    used = count > 0
    return {"count": count[used], "confidence": conf_sum[used] / count[used], "accuracy": hit_sum[used] / count[used]}


def expected_calibration_error(confidence: np.ndarray, outcome: np.ndarray, n_bins: int = 15,
                               strategy: BinStrategy = "width") -> float:
    """sum_b (n_b / n) |accuracy_b - confidence_b| over non-empty bins."""
    bins = calibration_bins(confidence, outcome, n_bins, strategy)
    gaps = np.abs(bins["accuracy"] - bins["confidence"])
    return float(np.sum(bins["count"] * gaps) / max(int(bins["count"].sum()), 1))


def maximum_calibration_error(confidence: np.ndarray, outcome: np.ndarray, n_bins: int = 15,
                              strategy: BinStrategy = "width") -> float:
    """max_b |accuracy_b - confidence_b| over non-empty bins."""
    bins = calibration_bins(confidence, outcome, n_bins, strategy)
    return float(np.max(np.abs(bins["accuracy"] - bins["confidence"]), initial=0.0))


def normalized_confusion(matrix: np.ndarray) -> np.ndarray:
    """Rows (gold classes) scaled to sum to 1; an empty row stays zero."""
    matrix = np.asarray(matrix, dtype=float)
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def probability_metrics(targets: np.ndarray, probs: np.ndarray, label_map: LabelMap, n_bins: int = 15) -> dict:
    """Metrics that need probabilities, not just decisions. targets: ids (n,) or 0/1 (n, k);
    probs: (n, k). Per-class ROC/PR-AUC go under `per_class` next to precision/recall/F1."""
    multi = label_map.multi_label
    probs = np.asarray(probs, dtype=float)
    ranking = ranking_metrics(targets, probs, multi)
    confidence, outcome = confidence_and_outcome(targets, probs, multi)
    out = {key: value for key, value in ranking.items() if not key.startswith("per_class")}
    out.update({
        "log_loss": log_loss(targets, probs, multi),
        "brier": brier_score(targets, probs, multi),
        "ece": expected_calibration_error(confidence, outcome, n_bins, "width"),
        "ece_equal_mass": expected_calibration_error(confidence, outcome, n_bins, "mass"),
        "mce": maximum_calibration_error(confidence, outcome, n_bins, "width"),
        "calibration_bins": n_bins,
    })
    out["per_class"] = {
        name: {"roc_auc": ranking["per_class_roc_auc"][j], "pr_auc": ranking["per_class_pr_auc"][j]}
        for j, name in enumerate(label_map.labels)
    }
    return out


def merge_metrics(decision: dict, probability: dict) -> dict:
    """Decision metrics plus probability metrics, per-class entries merged row by row."""
    merged = {**decision, **{k: v for k, v in probability.items() if k != "per_class"}}
    merged["per_class"] = {name: {**row, **probability.get("per_class", {}).get(name, {})}
                           for name, row in decision["per_class"].items()}
    return merged
