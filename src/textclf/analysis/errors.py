"""Error analysis: every mistake, grouped by the likely cause, so a person can decide what to fix.

- confusion pairs (gold -> predicted) ranked by count;
- confident mistakes (likely label noise or a shortcut) versus uncertain ones (ambiguity: a small
  margin between the top two probabilities);
- slices (length, truncation, negation, rare/out-of-vocabulary words, label-name artifacts, group,
  time, user columns) with accuracy/F1 and bootstrap intervals, ranked by how much worse than
  overall they are, with example rows.

Predictions come only through `TextClassifier.predict_proba`/`decide`, so every model type works.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data import Examples
from .settings import ErrorSettings
from .slices import (
    Outcomes, SliceMetrics, label_name_tags, length_tags, negation_tags, slice_metrics,
    time_tags, token_counts, training_vocabulary, truncation_tags, vocabulary_tags, worst_slices,
)


@dataclass
class ErrorReport:
    """Everything `textclf errors` prints and writes. `mistakes` holds one dict per wrong row."""

    n: int
    accuracy: float
    f1: float
    f1_name: str
    mistakes: list[dict]
    confusion_pairs: list[dict]
    kinds: dict[str, int]  # mistake kind -> count
    slices: list[SliceMetrics]
    worst: list[dict]  # worst slices with example mistakes
    tags: dict[str, list[str]] = field(repr=False)
    settings: ErrorSettings = field(default_factory=ErrorSettings)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "n": self.n, "accuracy": round(self.accuracy, 4), self.f1_name: round(self.f1, 4),
            "mistakes": len(self.mistakes), "mistake_kinds": self.kinds,
            "confusion_pairs": self.confusion_pairs,
            "worst_slices": self.worst,
            "slices": [s.to_dict() for s in self.slices],
            "settings": self.settings.__dict__, "notes": self.notes,
            "mistake_rows": self.mistakes,
        }


def _label_text(label) -> str:
    return "|".join(sorted(label)) if isinstance(label, tuple) else str(label)


def slice_tags(clf, examples: Examples, extra: dict[str, list[str]] | None = None,
               train: Examples | None = None) -> tuple[dict[str, list[str]], list[str]]:
    """One tag list per slice family, plus notes on families that could not be computed."""
    notes: list[str] = []
    lengths, unit = token_counts(clf, examples.texts)
    tags: dict[str, list[str]] = {"length": length_tags(lengths, unit=unit)}
    max_length = clf.model_.max_tokens()
    if max_length is None:
        notes.append("truncation: the model reads whole texts (no max length)")
    else:
        tags["truncation"] = truncation_tags(lengths, max_length)
    tags["negation"] = negation_tags(examples.texts)
    vocab = training_vocabulary(clf, train)
    if vocab is None:
        notes.append("vocabulary: no training vocabulary available (model keeps none, no training data recorded)")
    else:
        tags["vocabulary"] = vocabulary_tags(examples.texts, vocab)
        notes.append(f"vocabulary: from the {vocab.source}")
    if examples.labels is not None:
        tags["label_name"] = label_name_tags(examples.texts, examples.labels, clf.label_map.labels)
    if examples.groups is not None:
        tags["group"] = list(examples.groups)
    if examples.times is not None:
        tags["time"] = time_tags(examples.times)
    for name, values in (extra or {}).items():
        tags[name] = list(values)
    return tags, notes


def mistake_kind(p_pred: float, margin: float, settings: ErrorSettings) -> str:
    if p_pred >= settings.confident:
        return "confident"
    if margin < settings.ambiguous_margin:
        return "uncertain"
    return "moderate"


def analyze_errors(clf, examples: Examples, extra_slices: dict[str, list[str]] | None = None,
                   settings: ErrorSettings = ErrorSettings(), train: Examples | None = None) -> ErrorReport:
    """Predict on labelled `examples` and group the mistakes. `extra_slices` maps a column name
    to one value per example (e.g. from `--slice-col`); `train` (the training split) supplies the
    vocabulary for rare-term slices when the model keeps none."""
    targets = clf.label_map.encode(examples)
    probs = np.asarray(clf.predict_proba(examples), dtype=float)
    decisions = np.asarray(clf.decide(probs))
    names = clf.label_map.labels
    multi = clf.multi_label
    outcomes = Outcomes(targets, decisions, len(names), multi)
    correct = outcomes.correct
    predicted = clf.labels_from_decisions(decisions)
    tags, notes = slice_tags(clf, examples, extra_slices, train)

    ordered = np.sort(probs, axis=1)
    if multi:
        # The least sure wrong decision: distance of a wrongly decided label from 0.5.
        wrong = targets.astype(bool) != decisions.astype(bool)
        distance = np.where(wrong, np.abs(probs - 0.5), np.inf).min(axis=1)
        p_pred = np.where(np.isfinite(distance), 0.5 + distance, 1.0)
        margin = 2 * np.where(np.isfinite(distance), distance, 0.5)
    else:
        p_pred = probs[np.arange(len(probs)), decisions]
        margin = ordered[:, -1] - ordered[:, -2]

    mistakes = []
    for i in np.flatnonzero(~correct):
        gold = examples.labels[i]
        record = {
            "row": examples.rows[i],
            **({"id": examples.ids[i]} if examples.ids is not None else {}),
            "gold": _label_text(gold), "predicted": _label_text(predicted[i]),
            "confidence": round(float(p_pred[i]), 4),
            "gold_probability": None if multi else round(float(probs[i, targets[i]]), 4),
            "margin": round(float(margin[i]), 6),
            "kind": mistake_kind(float(p_pred[i]), float(margin[i]), settings),
            **{f"slice_{family}": values[i] for family, values in tags.items()},
            "text": examples.texts[i],
        }
        mistakes.append(record)
    mistakes.sort(key=lambda m: -m["confidence"])

    pairs = Counter((m["gold"], m["predicted"]) for m in mistakes)
    total = max(len(mistakes), 1)
    confusion_pairs = [{"gold": g, "predicted": p, "count": c, "share_of_mistakes": round(c / total, 4)}
                       for (g, p), c in pairs.most_common()]
    kinds = {k: sum(m["kind"] == k for m in mistakes) for k in ("confident", "moderate", "uncertain")}

    slices = slice_metrics(outcomes, tags, settings.min_slice_size, settings.n_resamples, settings.seed)
    for family, values in tags.items():
        sizes = Counter(values)
        small = sum(c < settings.min_slice_size for c in sizes.values())
        if small:
            notes.append(f"{family}: {small} of {len(sizes)} values have fewer than {settings.min_slice_size} rows "
                         "and are not ranked")
    by_row = {m["row"]: m for m in mistakes}
    worst = []
    overall_accuracy = float(correct.mean())
    for s in worst_slices(slices, settings.top):
        wrong_rows = [examples.rows[i] for i in s.rows if not correct[i]]
        shown = sorted((by_row[r] for r in wrong_rows), key=lambda m: -m["confidence"])[:settings.examples_per_slice]
        worst.append({**s.to_dict(), "clearly_worse": s.accuracy_interval[1] < overall_accuracy,
                      "examples": [{k: m[k] for k in ("row", "gold", "predicted", "confidence", "text")}
                                   for m in shown]})
    f1 = float(outcomes.f1(np.arange(len(correct))[None, :])[0])
    return ErrorReport(len(correct), overall_accuracy, f1, "micro_f1" if multi else "macro_f1", mistakes,
                       confusion_pairs, kinds, slices, worst, tags, settings, notes)


# -- output -----------------------------------------------------------------------------------------
def _short(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _margin(value: float) -> str:
    """Three decimals, or the first significant digits of a margin below 0.001 (never a bare 0.000
    for a margin that is not zero)."""
    if value == 0 or value >= 0.001:
        return f"{value:.3f}"
    return f"{value:.1e}"


def format_report(report: ErrorReport, examples: int = 3) -> str:
    """The console view: headline, confusion pairs, mistake kinds, worst slices with examples."""
    s = report.settings
    lines = [f"n {report.n}   accuracy {report.accuracy:.4f}   {report.f1_name} {report.f1:.4f}   "
             f"mistakes {len(report.mistakes)}", "", "confusion pairs (gold -> predicted)"]
    for pair in report.confusion_pairs[:10]:
        lines.append(f"  {pair['gold']:>14} -> {pair['predicted']:<14}{pair['count']:>6}  "
                     f"({pair['share_of_mistakes']:.0%} of mistakes)")
    lines += ["", f"mistake kinds: confident (p >= {s.confident}) {report.kinds['confident']}, "
                  f"moderate {report.kinds['moderate']}, uncertain (margin < {s.ambiguous_margin}) "
                  f"{report.kinds['uncertain']}"]
    for kind, why in (("confident", "label noise or a shortcut?"), ("uncertain", "ambiguous?")):
        shown = [m for m in report.mistakes if m["kind"] == kind]
        if kind == "uncertain":
            shown = sorted(shown, key=lambda m: m["margin"])
        for m in shown[:examples]:
            lines.append(f"  [{kind}: {why}] row {m['row']} gold={m['gold']} pred={m['predicted']} "
                         f"p={m['confidence']:.2f}: {_short(m['text'], 70)}")
    lines += ["", f"worst slices (at least {s.min_slice_size} rows; 95% bootstrap intervals, "
                  f"{s.n_resamples} resamples, seed {s.seed})",
              f"  {'slice':<40}{'n':>6}{'accuracy':>10}{'95% CI':>16}{report.f1_name:>10}{'95% CI':>16}"
              f"{'vs all':>8}"]
    for w in report.worst:
        name = _short(f"{w['family']}={w['value']}", 39)
        lines.append(f"  {name:<40}{w['n']:>6}{w['accuracy']:>10.3f}"
                     f"{'[%.3f, %.3f]' % tuple(w['accuracy_ci']):>16}{w['f1']:>10.3f}"
                     f"{'[%.3f, %.3f]' % tuple(w['f1_ci']):>16}{w['accuracy_gap']:>+8.3f}"
                     + ("  *" if w["clearly_worse"] else ""))
    if any(w["clearly_worse"] for w in report.worst):
        lines.append("  * the slice's interval lies wholly below overall accuracy")
    if report.worst:
        lines.append(f"  vs all: the slice's accuracy minus overall accuracy ({report.accuracy:.3f}); negative = worse")
    for w in report.worst[:3]:
        lines.append(f"\n  examples from {w['family']}={w['value']}:")
        for m in w["examples"]:
            lines.append(f"    row {m['row']} gold={m['gold']} pred={m['predicted']} p={m['confidence']:.2f}: "
                         f"{_short(m['text'], 70)}")
    if report.notes:
        lines += [""] + [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def mistakes_frame(report: ErrorReport) -> pd.DataFrame:
    """One row per mistake with its slice tags (the `--mistakes` CSV)."""
    return pd.DataFrame(report.mistakes)


def errors_html(report: ErrorReport, examples: int = 5, confident_table: bool = True) -> str:
    """An HTML fragment (a <section>, no <html>/<head>) for the evaluation report.

    `confident_table=False` leaves out the table of confident mistakes (with a pointer instead):
    the evaluation report lists the most confident mistakes in its own section already."""
    e = html.escape
    s = report.settings

    def table(header: list[str], rows: list[list]) -> str:
        head = "".join(f"<th>{e(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def ci(pair) -> str:
        return f"[{pair[0]:.3f}, {pair[1]:.3f}]"

    parts = [
        '<section class="textclf-errors"><h2>Error analysis</h2>',
        f"<p>{report.n} examples, accuracy {report.accuracy:.4f}, {e(report.f1_name)} {report.f1:.4f}, "
        f"{len(report.mistakes)} mistakes: {report.kinds['confident']} confident (p &ge; {s.confident}: "
        f"label noise or a shortcut?), {report.kinds['uncertain']} uncertain (margin &lt; {s.ambiguous_margin}: "
        f"ambiguous?), {report.kinds['moderate']} in between.</p>",
        "<h3>Confusion pairs</h3>",
        table(["gold", "predicted", "count", "share of mistakes"],
              [[p["gold"], p["predicted"], p["count"], f"{p['share_of_mistakes']:.0%}"]
               for p in report.confusion_pairs[:15]]),
        f"<h3>Worst slices</h3><p>Slices of at least {s.min_slice_size} rows whose accuracy is below overall "
        f"({report.accuracy:.3f}), worst first; &ldquo;vs all&rdquo; is the slice's accuracy minus overall accuracy. "
        f"95% bootstrap intervals ({s.n_resamples} resamples, seed {s.seed}).</p>",
        table(["slice", "n", "accuracy", "95% CI", report.f1_name, "95% CI", "vs all", "clearly worse"],
              [[f"{w['family']}={w['value']}", w["n"], f"{w['accuracy']:.3f}", ci(w["accuracy_ci"]),
                f"{w['f1']:.3f}", ci(w["f1_ci"]), f"{w['accuracy_gap']:+.3f}", "yes" if w["clearly_worse"] else ""]
               for w in report.worst]),
    ]
    for w in report.worst[:3]:
        parts.append(f"<h4>Examples: {e(w['family'])}={e(w['value'])}</h4>")
        parts.append(table(["row", "gold", "predicted", "p", "text"],
                           [[m["row"], m["gold"], m["predicted"], f"{m['confidence']:.2f}", _short(m["text"], 200)]
                            for m in w["examples"]]))
    multi = any(m["gold_probability"] is None for m in report.mistakes)
    for kind in ("confident", "uncertain"):
        shown = [m for m in report.mistakes if m["kind"] == kind]
        parts.append(f"<h3>{kind.capitalize()} mistakes</h3>")
        if kind == "confident" and not confident_table:
            parts.append(f"<p>{len(shown)} mistakes with p &ge; {s.confident}; the most confident are listed "
                         "in the section &ldquo;Most confident mistakes&rdquo;.</p>")
            continue
        if kind == "uncertain":
            shown = sorted(shown, key=lambda m: m["margin"])
            how = ("twice the distance of the least sure wrong label's probability from 0.5" if multi
                   else "p(predicted) minus the runner-up's probability")
            parts.append(f"<p>The smallest margins first; margin is {how}.</p>")
        parts.append(table(["row", "gold", "predicted", "p(predicted)", "p(gold)", "margin", "text"],
                           [[m["row"], m["gold"], m["predicted"], f"{m['confidence']:.3f}",
                             "" if m["gold_probability"] is None else f"{m['gold_probability']:.3f}",
                             _margin(m["margin"]), _short(m["text"], 200)] for m in shown[:examples]]))
    parts.append("<h3>All slices</h3>")
    parts.append(table(["family", "value", "n", "errors", "accuracy", "95% CI", report.f1_name, "95% CI"],
                       [[x.family, x.value, x.n, x.errors, f"{x.accuracy:.3f}", ci(x.accuracy_interval),
                         f"{x.f1:.3f}", ci(x.f1_interval)] for x in report.slices]))
    parts.append("</section>")
    return "\n".join(parts)
