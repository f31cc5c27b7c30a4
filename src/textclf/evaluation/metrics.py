"""Classification metrics as plain JSON-able dicts, computed with scikit-learn."""

from __future__ import annotations

import numpy as np
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
    metrics["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=ids).tolist()
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


def format_metrics(metrics: dict, label_map: LabelMap) -> str:
    """A console table: headline numbers, then one row per class."""
    headline = [k for k in ("accuracy", "subset_accuracy", "macro_f1", "micro_f1", "weighted_f1",
                            "samples_f1", "hamming_loss", "ece", "log_loss") if k in metrics]
    lines = [f"{'n':<16}{metrics['n']}"] + [f"{k:<16}{metrics[k]:.4f}" for k in headline]
    width = max(8, *(len(name) for name in label_map.labels)) + 2
    lines.append("")
    lines.append(f"{'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for name, row in metrics["per_class"].items():
        lines.append(f"{name:<{width}}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}"
                     f"{row['support']:>10d}")
    if "confusion_matrix" in metrics:
        lines.append("")
        lines.append("confusion matrix (rows = gold, columns = predicted)")
        lines.append(" " * width + "".join(f"{name[:9]:>10}" for name in label_map.labels))
        for name, row in zip(label_map.labels, metrics["confusion_matrix"]):
            lines.append(f"{name:<{width}}" + "".join(f"{v:>10d}" for v in row))
    return "\n".join(lines)
