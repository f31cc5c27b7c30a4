"""Figures for the evaluation report, each returned as PNG bytes.

Built on matplotlib's object API (`Figure`, rendered by the Agg canvas), never pyplot: no global
figure state, no display needed, safe in servers and tests.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

MAX_CURVES = 10  # more classes than this: plot the most frequent ones (the legend stays readable)


def to_png(fig: Figure, dpi: int = 110) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def confusion_heatmap(counts: np.ndarray, labels: Sequence[str]) -> bytes:
    """Row-normalised heatmap (rows = gold), each cell annotated with share and count."""
    counts = np.asarray(counts)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    k = len(labels)
    size = min(max(3.5, 0.7 * k + 2), 14)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of gold row")
    ax.set_xticks(range(k), labels, rotation=45, ha="right")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{shares[i, j]:.2f}\n({counts[i, j]})", ha="center", va="center", fontsize=8,
                        color="white" if shares[i, j] > 0.6 else "black")
    ax.set_title("Confusion matrix")
    return to_png(fig)


def reliability_diagram(curves: Mapping[str, dict], title: str = "Reliability diagram") -> bytes:
    """`curves`: name -> calibration_bins(...) output (count, confidence, accuracy arrays) plus
    an "ece" float. Top: observed accuracy vs mean confidence per bin (on the diagonal = calibrated);
    bottom: how many predictions fall in each bin."""
    fig = Figure(figsize=(6, 6.5))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    for name, bins in curves.items():
        label = f"{name} (ECE {bins['ece']:.3f})" if "ece" in bins else name
        top.plot(bins["confidence"], bins["accuracy"], marker="o", linewidth=1.5, label=label)
        bottom.plot(bins["confidence"], bins["count"], marker=".", linewidth=1, label=name)
    top.set_ylabel("observed frequency")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.legend(loc="upper left", fontsize=8)
    top.set_title(title)
    bottom.set_xlabel("predicted probability (bin mean)")
    bottom.set_ylabel("count")
    bottom.set_yscale("log")
    return to_png(fig)


def _chosen_columns(y: np.ndarray, labels: Sequence[str], binary: bool) -> list[int]:
    if binary:
        return [1]
    support = y.sum(axis=0)
    ranked = sorted((j for j in range(len(labels)) if 0 < support[j] < len(y)), key=lambda j: -support[j])
    return ranked[:MAX_CURVES]


def roc_pr_curves(y: np.ndarray, probs: np.ndarray, labels: Sequence[str], binary: bool) -> tuple[bytes, bytes]:
    """One-vs-rest ROC and precision-recall curves; y: 0/1 (n, k), probs: (n, k)."""
    roc_fig, pr_fig = Figure(figsize=(6, 5)), Figure(figsize=(6, 5))
    roc_ax, pr_ax = roc_fig.add_subplot(), pr_fig.add_subplot()
    roc_ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    for j in _chosen_columns(y, labels, binary):
        fpr, tpr, _ = roc_curve(y[:, j], probs[:, j])
        precision, recall, _ = precision_recall_curve(y[:, j], probs[:, j])
        roc_ax.plot(fpr, tpr, linewidth=1.5, label=labels[j])
        pr_ax.step(recall, precision, where="post", linewidth=1.5, label=labels[j])
    for ax, title, xlabel, ylabel in ((roc_ax, "ROC curves (one vs rest)", "false positive rate", "true positive rate"),
                                      (pr_ax, "Precision-recall curves", "recall", "precision")):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=8, loc="lower right" if ax is roc_ax else "lower left")
    return to_png(roc_fig), to_png(pr_fig)


def f1_by_threshold(y: np.ndarray, score: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """F1 of predicting positive when score >= t, for each t; y: 0/1 (n,), score: (n,)."""
    y = np.asarray(y).astype(bool)
    pos = np.sort(np.asarray(score)[y])
    neg = np.sort(np.asarray(score)[~y])
    tp = len(pos) - np.searchsorted(pos, thresholds, side="left")
    fp = len(neg) - np.searchsorted(neg, thresholds, side="left")
    fn = len(pos) - tp
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros(len(thresholds)), where=denominator > 0)


def threshold_f1_curve(y: np.ndarray, probs: np.ndarray, labels: Sequence[str], binary: bool,
                       multi_label: bool, current: np.ndarray | None = None) -> bytes:
    """F1 against the decision threshold on each class's probability (one vs rest), with the best
    threshold marked. Multi-label also plots micro-F1 for one threshold shared by all labels."""
    grid = np.linspace(0.0, 1.0, 201)
    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.add_subplot()
    series = [(labels[j], f1_by_threshold(y[:, j], probs[:, j], grid)) for j in _chosen_columns(y, labels, binary)]
    if multi_label:
        series.insert(0, ("micro (all labels)", f1_by_threshold(y.ravel(), probs.ravel(), grid)))
    for name, f1 in series:
        best = int(np.argmax(f1))
        line, = ax.plot(grid, f1, linewidth=1.5, label=f"{name} (best {f1[best]:.3f} at {grid[best]:.2f})")
        ax.plot(grid[best], f1[best], marker="o", color=line.get_color())
    if current is not None:
        for t in np.unique(np.ravel(current))[:1]:
            ax.axvline(float(t), color="black", linestyle=":", linewidth=1, label=f"model threshold {float(t):.2f}")
    ax.set_xlabel("threshold on the class probability")
    ax.set_ylabel("F1 (class vs rest)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("F1 vs decision threshold")
    ax.legend(fontsize=8, loc="lower left")
    return to_png(fig)
