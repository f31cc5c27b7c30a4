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


MAX_LEGEND_SHARE = 0.2  # a legend inside the axes may cover at most this share of them


def legend_share(ax) -> float:
    """The share of the axes area its legend covers (0 when it has none or it sits outside)."""
    legend = ax.get_legend()
    if legend is None:
        return 0.0
    fig = ax.figure
    if getattr(fig, "canvas", None) is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    box, frame = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
    width = max(0.0, min(box.x1, frame.x1) - max(box.x0, frame.x0))
    height = max(0.0, min(box.y1, frame.y1) - max(box.y0, frame.y0))
    return float(width * height / max(frame.width * frame.height, 1e-9))


def _legend(ax, loc: str, fontsize: int = 8) -> None:
    """A legend at `loc` inside the axes while it covers at most a fifth of them; else beside
    them, to the right, where it hides nothing."""
    ax.legend(fontsize=fontsize, loc=loc)
    if legend_share(ax) > MAX_LEGEND_SHARE:
        ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                  frameon=False)


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
    """`reliability_figure` as PNG bytes."""
    return to_png(reliability_figure(curves, title))


def reliability_figure(curves: Mapping[str, dict], title: str = "Reliability diagram") -> Figure:
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
    _legend(top, "upper left")
    top.set_title(title)
    bottom.set_xlabel("predicted probability (bin mean)")
    bottom.set_ylabel("count")
    bottom.set_yscale("log")
    return fig


def _chosen_columns(y: np.ndarray, labels: Sequence[str], binary: bool) -> list[int]:
    if binary:
        return [1]
    support = y.sum(axis=0)
    ranked = sorted((j for j in range(len(labels)) if 0 < support[j] < len(y)), key=lambda j: -support[j])
    return ranked[:MAX_CURVES]


def roc_pr_curves(y: np.ndarray, probs: np.ndarray, labels: Sequence[str], binary: bool) -> tuple[bytes, bytes]:
    """`roc_pr_figures` as PNG bytes."""
    roc_fig, pr_fig = roc_pr_figures(y, probs, labels, binary)
    return to_png(roc_fig), to_png(pr_fig)


def roc_pr_figures(y: np.ndarray, probs: np.ndarray, labels: Sequence[str], binary: bool) -> tuple[Figure, Figure]:
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
        _legend(ax, "lower right" if ax is roc_ax else "lower left")
    return roc_fig, pr_fig


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


def threshold_f1_figure(y: np.ndarray, probs: np.ndarray, labels: Sequence[str], binary: bool,
                        multi_label: bool, current: np.ndarray | None = None) -> Figure:
    """F1 against the decision threshold on each class's probability (one vs rest), with the best
    threshold marked. Multi-label also plots micro-F1 for one threshold shared by all labels.

    `current`: the model's thresholds, (1,) for one cut (binary, or shared by every label) or (k,)
    one per label. Each plotted label's own threshold is drawn in that label's colour, with its F1
    at that cut; a multi-label model without tuned thresholds shows the 0.5 it decides with. The
    legend sits to the right of the axes, so it never hides a curve."""
    grid = np.linspace(0.0, 1.0, 201)
    chosen = _chosen_columns(y, labels, binary)
    fig = Figure(figsize=(8.5, 4.5))
    ax = fig.add_subplot()
    if multi_label:
        micro = f1_by_threshold(y.ravel(), probs.ravel(), grid)
        best = int(np.argmax(micro))
        ax.plot(grid, micro, linewidth=2.0, color="black", alpha=0.7,
                label=f"micro (all labels) (best {micro[best]:.3f} at {grid[best]:.2f})")
        ax.plot(grid[best], micro[best], marker="o", color="black", alpha=0.7)
    cuts = None
    if current is not None:
        cuts = np.ravel(np.asarray(current, dtype=float))
    elif multi_label:
        cuts = np.array([0.5])
    for j in chosen:
        f1 = f1_by_threshold(y[:, j], probs[:, j], grid)
        best = int(np.argmax(f1))
        line, = ax.plot(grid, f1, linewidth=1.5, label=f"{labels[j]} (best {f1[best]:.3f} at {grid[best]:.2f})")
        ax.plot(grid[best], f1[best], marker="o", color=line.get_color())
        if cuts is not None:
            cut = float(cuts[0] if len(cuts) == 1 else cuts[j])
            at = float(f1_by_threshold(y[:, j], probs[:, j], np.array([cut]))[0])
            ax.axvline(cut, color=line.get_color(), linestyle=":", linewidth=1.2)
            ax.plot(cut, at, marker="D", markersize=6, markerfacecolor="white", color=line.get_color(),
                    label=f"{labels[j]}: model threshold {cut:.2f} (F1 {at:.3f})")
    ax.set_xlabel("threshold on the class probability")
    ax.set_ylabel("F1 (class vs rest)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("F1 vs decision threshold")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    return fig


def threshold_f1_curve(y: np.ndarray, probs: np.ndarray, labels: Sequence[str], binary: bool,
                       multi_label: bool, current: np.ndarray | None = None) -> bytes:
    """`threshold_f1_figure` as PNG bytes."""
    return to_png(threshold_f1_figure(y, probs, labels, binary, multi_label, current))
