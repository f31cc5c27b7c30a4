"""One self-contained HTML evaluation report (figures embedded as base64 PNG).

    report = build_report(clf, test_examples, validation=val_examples)
    write_report(report, "runs/default/report.html")   # + report-<figure>.png beside it

Sections, in order: headline metrics with bootstrap intervals, calibration before/after, per-class
table, confusion matrix, reliability diagram, ROC and PR curves, F1 vs threshold, the most
confident mistakes, then any extra sections.

The seam for other features: a `Section(title, html)` holds a trusted HTML fragment (its author
escapes its own text). Pass them as `build_report(..., extra_sections=[...])`; they are appended
after the built-in sections and listed in the table of contents. The jobs layer
(`textclf.jobs.inspect.report`) collects the fragments other features provide (error analysis, data
audit, leaderboard), each through `try_section` so one failing add-on never costs the whole report.
"""

from __future__ import annotations

import base64
import html
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..fileio import atomic_file
from ..objectives import probabilities
from .bootstrap import RESAMPLES
from . import plots
from .calibration import fit_calibration, calibrated_probabilities
from .scoring import metrics_from_probabilities
from .metrics import (HEADLINE_METRICS, calibration_bins, confidence_and_outcome, expected_calibration_error,
                      one_hot, probability_metrics)

esc = html.escape


@dataclass(frozen=True)
class Section:
    """A report section: `html` is a trusted fragment (its producer escapes user text)."""

    title: str
    html: str


@dataclass
class Report:
    title: str
    html: str
    figures: dict[str, bytes] = field(default_factory=dict)  # file stem -> PNG bytes
    metrics: dict = field(default_factory=dict)


# -- pieces ---------------------------------------------------------------------------------------
def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _num(value, digits: int = 4) -> str:
    return "&ndash;" if value is None else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    """Cells are already-escaped HTML; columns from `numeric_from` are right-aligned."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="{"num" if j >= numeric_from else ""}">{c}</td>' for j, c in enumerate(row))
        + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _headline_table(metrics: dict) -> str:
    intervals = metrics.get("intervals", {})
    rows = []
    for key in HEADLINE_METRICS:
        if metrics.get(key) is None:
            continue
        ci = intervals.get(key)
        rows.append([esc(key), _num(metrics[key]), f"[{_num(ci[0])}, {_num(ci[1])}]" if ci else ""])
    boot = metrics.get("bootstrap", {})
    corrected = ", ".join(boot.get("bias_corrected", []))
    corrected = (f" {esc(corrected)}: bias-corrected percentile interval (resamples shifted by their median "
                 "minus the estimate), since its resamples sit above the estimate." if corrected else "")
    note = (f"<p class='note'>Intervals: {boot['level']:.0%} percentile bootstrap over rows, "
            f"{boot['resamples']} resamples, seed {boot['seed']}.{corrected} "
            f"ECE uses {metrics.get('calibration_bins', 15)} equal-width bins (ece_equal_mass: equal-size bins); "
            "mce is the largest bin gap.</p>") if boot else ""
    return f"<p>{metrics['n']} labelled examples.</p>" + _table(["metric", "value", "interval"], rows) + note


def _per_class_table(metrics: dict) -> str:
    keys = ["precision", "recall", "f1", "support", "roc_auc", "pr_auc"]
    rows = []
    for name, row in metrics["per_class"].items():
        cells = [esc(name)]
        for key in keys:
            value = row.get(key)
            cells.append(str(value) if key == "support" else _num(value))
        rows.append(cells)
    return _table(["class", *keys], rows)


def _mistakes(examples, targets, probs, decisions, names, multi_label: bool, limit: int) -> list[list[str]]:
    """Wrong predictions, most confident first. Multi-label: a row's confidence is that of its
    most confident wrong label decision."""
    rows = []
    if multi_label:
        y, d = np.asarray(targets).astype(bool), np.asarray(decisions).astype(bool)
        sure = np.where(d, probs, 1 - probs)  # confidence in each decision made
        wrong = y != d
        score = np.where(wrong, sure, -1).max(axis=1)
        order = [i for i in np.argsort(-score, kind="mergesort") if wrong[i].any()][:limit]
        for i in order:
            bad = ", ".join(f"{names[j]} {'+' if d[i, j] else '-'} (p={probs[i, j]:.2f})" for j in np.flatnonzero(wrong[i]))
            rows.append([str(examples.rows[i]), esc(_clip(examples.texts[i])),
                         esc(", ".join(names[j] for j in np.flatnonzero(y[i])) or "(none)"),
                         esc(", ".join(names[j] for j in np.flatnonzero(d[i])) or "(none)"), esc(bad),
                         _num(score[i], 3)])
        return rows
    wrong = np.flatnonzero(np.asarray(decisions) != np.asarray(targets))
    confidence = probs[wrong, np.asarray(decisions)[wrong]]
    for i, conf in sorted(zip(wrong, confidence), key=lambda pair: -pair[1])[:limit]:
        rows.append([str(examples.rows[i]), esc(_clip(examples.texts[i])), esc(names[targets[i]]),
                     esc(names[decisions[i]]), _num(conf, 3), _num(probs[i, targets[i]], 3)])
    return rows


def _clip(text: str, width: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"


# -- building -------------------------------------------------------------------------------------
def build_report(clf, examples, *, validation=None, extra_sections: Sequence[Section] = (),
                 title: str | None = None, n_mistakes: int = 15, n_resamples: int = RESAMPLES) -> Report:
    """Evaluate `clf` on labelled `examples` and lay out the report.

    Probabilities are the model's own (calibrated when it carries a calibration). The reliability
    diagram compares them with the uncalibrated ones; for a model without a calibration, a
    temperature scaling fitted on `validation` (when given) is shown as a preview, not saved."""
    names = list(clf.label_map.labels)
    multi = clf.multi_label
    targets = clf.label_map.encode(examples)
    logits = np.asarray(clf.logits(examples), dtype=np.float64)
    raw = probabilities(logits, multi)
    probs = clf.probabilities_from_logits(logits)
    metrics = metrics_from_probabilities(clf, targets, probs, n_resamples)
    decisions = clf.decide(probs)

    compared = {"uncalibrated": raw}
    if clf.policy.calibration is not None:
        compared[f"{clf.policy.calibration['method']} (saved)"] = probs
    elif validation is not None and len(validation) > 0:
        preview = fit_calibration(clf.logits(validation), clf.label_map.encode(validation), "temperature", multi)
        compared["temperature (preview, not saved)"] = calibrated_probabilities(logits, preview, multi)

    figures: dict[str, bytes] = {}
    sections: list[Section] = []
    sections.append(Section("Metrics", _headline_table(metrics)))

    calibration_rows, curves = [], {}
    for name, p in compared.items():
        pm = probability_metrics(targets, p, clf.label_map)
        calibration_rows.append([esc(name), *(_num(pm[k]) for k in ("ece", "ece_equal_mass", "mce", "log_loss", "brier"))])
        confidence, outcome = confidence_and_outcome(targets, p, multi)
        curves[name] = {**calibration_bins(confidence, outcome), "ece": expected_calibration_error(confidence, outcome)}
    figures["reliability"] = plots.reliability_diagram(
        curves, "Reliability: " + ("every label probability" if multi else "top-class confidence"))
    what = ("each label probability against how often that label is present" if multi
            else "the top class's probability against how often the top class is right")
    sections.append(Section("Calibration", (
        f"<p>Compares {what}. Points on the diagonal are calibrated.</p>"
        + _table(["probabilities", "ece", "ece_equal_mass", "mce", "log_loss", "brier"], calibration_rows)
        + _img(figures["reliability"], "reliability diagram"))))

    sections.append(Section("Per class", _per_class_table(metrics)))
    if not multi:
        figures["confusion"] = plots.confusion_heatmap(np.asarray(metrics["confusion_matrix"]), names)
        sections.append(Section("Confusion matrix", _img(figures["confusion"], "confusion matrix heatmap")))

    y = np.asarray(targets, dtype=float) if multi else one_hot(targets, len(names))
    binary = not multi and len(names) == 2
    figures["roc"], figures["pr"] = plots.roc_pr_curves(y, probs, names, binary)
    sections.append(Section("ROC and precision-recall curves",
                            '<div class="figrow">' + _img(figures["roc"], "ROC curves")
                            + _img(figures["pr"], "precision-recall curves") + "</div>"))
    figures["threshold_f1"] = plots.threshold_f1_curve(y, probs, names, binary, multi, clf.policy.thresholds)
    sections.append(Section("F1 vs threshold", (
        "<p>F1 of each class against the probability threshold (one vs rest). Thresholds should be "
        "tuned on validation data, never read off this test-set curve.</p>"
        + _img(figures["threshold_f1"], "F1 versus threshold"))))

    mistakes = _mistakes(examples, targets, probs, decisions, names, multi, n_mistakes)
    header = (["row", "text", "gold", "predicted", "wrong labels", "confidence"] if multi
              else ["row", "text", "gold", "predicted", "p(predicted)", "p(gold)"])
    sections.append(Section("Most confident mistakes",
                            _table(header, mistakes, numeric_from=len(header) - (1 if multi else 2))
                            if mistakes else "<p>No mistakes.</p>"))
    sections.extend(extra_sections)

    title = title or f"textclf evaluation: {clf.model_params.get('type', 'model')} on {examples.source}"
    return Report(title, render(title, sections, subtitle=_subtitle(clf, examples)), figures, metrics)


def _subtitle(clf, examples) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    task = "multi-label" if clf.multi_label else "single-label"
    return f"{task}, {len(clf.label_map)} classes, {len(examples)} examples from {examples.source}; {when}"


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;
padding:1.5rem 2rem;color:#1d2430;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:2px solid #e3e8ef;padding-bottom:.3rem;margin-top:2.2rem}
.subtitle{color:#5b6573;margin-top:0}nav ol{columns:2;color:#5b6573}
table{border-collapse:collapse;margin:.8rem 0;font-size:.92rem}
th,td{border-bottom:1px solid #e3e8ef;padding:.35rem .7rem;text-align:left;vertical-align:top}
th{background:#f5f7fa}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
img{max-width:100%;height:auto;margin:.5rem 1rem .5rem 0;vertical-align:top}
.note{color:#5b6573;font-size:.85rem}
.figrow{display:flex;flex-wrap:wrap;gap:.5rem}.figrow img{max-width:calc(50% - .5rem);margin:.5rem 0}
"""


def render(title: str, sections: Sequence[Section], subtitle: str = "") -> str:
    """The whole HTML document: title, table of contents, sections."""
    toc = "".join(f'<li><a href="#{_slug(s.title)}">{esc(s.title)}</a></li>' for s in sections)
    body = "".join(f'<section id="{_slug(s.title)}"><h2>{esc(s.title)}</h2>{s.html}</section>'
                   if not s.html.lstrip().startswith("<section") else
                   f'<div id="{_slug(s.title)}">{s.html}</div>' for s in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
            f'<h1>{esc(title)}</h1><p class="subtitle">{esc(subtitle)}</p>'
            f"<nav><ol>{toc}</ol></nav>{body}</body></html>\n")


# -- optional sections from other features --------------------------------------------------------
def try_section(title: str, make: Callable[[], str], log=sys.stderr) -> Section | None:
    """Run a fragment producer; a missing feature is skipped, a failing one becomes a note
    (the report is still written: one broken add-on must not cost the user the whole report)."""
    try:
        return Section(title, make())
    except ImportError:
        return None
    except Exception as err:  # noqa: BLE001 - reported in the section and on stderr
        print(f"textclf: warning: report section {title!r} failed: {type(err).__name__}: {err}", file=log)
        return Section(title, f"<p class='note'>This section could not be built: {esc(type(err).__name__)}: "
                              f"{esc(str(err))}</p>")


# -- writing --------------------------------------------------------------------------------------
def figure_paths(path: Path, report: Report) -> dict[str, Path]:
    return {name: path.with_name(f"{path.stem}-{name}.png") for name in report.figures}


def write_report(report: Report, path: str | Path) -> list[Path]:
    """Write the HTML and, beside it, each figure as `<stem>-<name>.png` (all atomically)."""
    path = Path(path)
    written = []
    for name, target in figure_paths(path, report).items():
        with atomic_file(target, "wb") as handle:
            handle.write(report.figures[name])
        written.append(target)
    with atomic_file(path) as handle:
        handle.write(report.html)
    return [path, *written]
