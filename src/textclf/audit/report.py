"""The audit for people: a console summary, JSON, a compact summary for a saved model, and an
HTML fragment that the evaluation report embeds (`audit_html`)."""

from __future__ import annotations

import dataclasses
import html
from typing import Any

from .results import AuditResult, RowRef

SHOWN = 5  # items listed per check in text and HTML


def audit_dict(result: AuditResult) -> dict[str, Any]:
    """Everything, JSON-ready, plus `problems` (check -> number of findings)."""
    data = dataclasses.asdict(result)
    data["problems"] = result.problems()
    return data


def compact_summary(result: AuditResult) -> dict[str, Any]:
    """A small dict for a saved model's info and metrics: counts plus the first few findings."""
    summary: dict[str, Any] = {"sizes": result.sizes, "problems": result.problems(), "notes": result.notes}
    if result.sample is not None:
        summary["sample"] = result.sample
    if result.unseen_labels:
        summary["unseen_labels"] = result.unseen_labels
    if result.duplicates is not None:
        summary["cross_split_duplicate_rows"] = result.duplicates.leaked_rows
    if result.near_duplicates is not None:
        summary["near_duplicates"] = [
            {"a": _ref(p.a), "b": _ref(p.b), "jaccard": p.jaccard} for p in result.near_duplicates.pairs[:SHOWN]
        ]
    if result.group is not None:
        summary["leaked_groups"] = [g.group for g in result.group.leaked[:SHOWN]]
    if result.time is not None:
        summary["time_early_rows"] = result.time.early
    if result.artifacts is not None:
        summary["artifacts"] = [
            {"label": a.label, "variant": a.variant, "rows": a.rows, "precision": a.precision}
            for a in result.artifacts if a.flagged
        ][:SHOWN]
    return summary


def _ref(ref: RowRef) -> str:
    return f"{ref.split}:{ref.id or ref.row}"


def _snippet(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def warnings(result: AuditResult) -> list[str]:
    """One line per check that found a problem; empty when the data looks clean."""
    lines = []
    d, near, group, time = result.duplicates, result.near_duplicates, result.group, result.time
    if d is not None and any(d.leaked_rows.values()):
        lines.append(f"exact duplicates across splits: {d.leaked_rows} rows repeat a text of an earlier split")
    if d is not None and d.extra_copies:
        lines.append(f"{d.extra_copies} exact duplicate rows in all ({d.groups} texts occur more than once)")
    if d is not None and any(d.within.values()):
        lines.append(f"exact duplicates within splits: {d.within} extra copies")
    if d is not None and d.conflicts:
        lines.append(f"{len(d.conflicts)} texts appear with conflicting labels")
    if near is not None and near.pairs:
        lines.append(f"{len(near.pairs)} rows nearly duplicate a row of an earlier split "
                     f"(Jaccard >= {near.threshold}, {near.shingle})")
    for name, labels in (result.unseen_labels or {}).items():
        shown = ", ".join(map(str, labels[:SHOWN])) + (f" and {len(labels) - SHOWN} more" if len(labels) > SHOWN else "")
        lines.append(f"{name} has {len(labels)} label(s) that training never sees: {shown}")
    if group is not None and group.leaked:
        lines.append(f"group leakage: {len(group.leaked)} of {group.groups} groups are in more than one split "
                     f"(rows: {group.rows})")
    if time is not None and any(time.early.values()):
        lines.append(f"time leakage: {time.early} rows dated at or before the end of training data "
                     f"({time.train_end}); {time.suggestion}")
    flagged = [a for a in result.artifacts or [] if a.flagged]
    if flagged:
        shown = ", ".join(f"'{a.variant}'->{a.label} ({a.precision:.0%} of {a.rows})" for a in flagged[:SHOWN])
        lines.append(f"label names in the text: {shown}")
    if result.shortcuts:
        shown = ", ".join(f"'{s.token}'->{s.label} ({s.precision:.0%} of {s.support})" for s in result.shortcuts[:SHOWN])
        lines.append(f"{len(result.shortcuts)} shortcut tokens: {shown}")
    noise = result.label_noise
    if noise is not None and noise.flagged:
        lines.append(f"{noise.flagged} likely label errors (an out-of-fold baseline confidently disagrees)")
    return lines


def format_summary(result: AuditResult) -> str:
    """A console report: sizes, each check's verdict, the first findings of each."""
    out = [f"audit of {result.sizes}"]
    problems = result.problems()
    for check, count in problems.items():
        out.append(f"  {check:<18} {'ok' if count == 0 else str(count) + ' found'}")
    for note in result.notes:
        out.append(f"  ({note})")
    for name, labels in (result.unseen_labels or {}).items():
        out.append(f"  {name}: {len(labels)} label(s) never seen in training: {', '.join(map(str, labels[:SHOWN * 2]))}")
    d = result.duplicates
    if d is not None and d.extra_copies:
        out.append(f"\n{d.extra_copies} exact duplicate rows in all ({d.groups} texts occur more than once); "
                   f"across splits {d.leaked_rows}, extra copies within splits {d.within}")
    if d is not None and d.cross_split:
        out.append("\ncross-split exact duplicates (first few):")
        for group in d.cross_split[:SHOWN]:
            members = ", ".join(_ref(m) for m in group.members[:4])
            out.append(f"  [{members}] {_snippet(group.members[0].text)}")
    if d is not None and d.conflicts:
        out.append("\nconflicting labels (first few):")
        for group in d.conflicts[:SHOWN]:
            out.append(f"  {group.labels} [{', '.join(_ref(m) for m in group.members[:4])}] "
                       f"{_snippet(group.members[0].text)}")
    if result.near_duplicates is not None and result.near_duplicates.pairs:
        out.append("\nnear duplicates (Jaccard, MinHash estimate):")
        for p in result.near_duplicates.pairs[:SHOWN]:
            out.append(f"  {p.jaccard:.2f} ({p.estimate:.2f}) {_ref(p.a)} ~ {_ref(p.b)}: {_snippet(p.a.text, 60)}")
    if result.group is not None and result.group.leaked:
        out.append("\nleaked groups (rows per split):")
        for leak in result.group.leaked[:SHOWN]:
            out.append(f"  {leak.group!r}: {leak.counts}")
    if result.time is not None and any(result.time.early.values()):
        out.append(f"\ntime leakage: {result.time.early} rows at or before {result.time.train_end}")
        out.append(f"  suggestion: {result.time.suggestion}")
    flagged = [a for a in result.artifacts or [] if a.flagged]
    if flagged:
        out.append("\nlabel names in the text (rows containing it, share with that label):")
        for a in flagged[:SHOWN]:
            out.append(f"  '{a.variant}' -> {a.label}: {a.rows} rows, {a.precision:.0%}")
    if result.shortcuts:
        out.append("\nshortcut tokens (training rows containing it, share with that label, chi2):")
        for s in result.shortcuts[:SHOWN]:
            example = f" e.g. {_ref(s.examples[0])}" if s.examples else ""
            out.append(f"  '{s.token}' -> {s.label}: {s.support}, {s.precision:.0%}, {s.chi2:.0f}{example}")
    noise = result.label_noise
    if noise is not None and noise.skipped:
        out.append(f"\nlabel noise not checked: {noise.skipped}")
    elif noise is not None and noise.suspects:
        out.append(f"\nlabel-noise suspects ({noise.flagged} flagged by cleanlab; given -> predicted, p(given)):")
        for s in noise.suspects[:SHOWN]:
            out.append(f"  #{s.rank}{'*' if s.flagged else ''} {_ref(s.ref)} {s.given} -> {s.predicted} ({s.given_probability:.2f}) "
                       f"{_snippet(s.ref.text, 50)}")
    if result.stats:
        out.append(f"\nsplit sizes, classes and length ({result.tokenizer} tokens, max_length {result.max_length}):")
        for name, st in result.stats.items():
            out.append(f"  {name:<11} n={st.size:<7} median {st.length.median:.0f}, p90 {st.length.p90:.0f}, "
                       f"max {st.length.max}, truncated {st.length.truncated:.1%}  {st.class_counts}")
    return "\n".join(out)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def audit_html(result: AuditResult, title: str = "Data audit") -> str:
    """A self-contained HTML fragment (a <section>, no <html>/<head>) for the evaluation report."""
    parts = [f'<section class="textclf-audit"><h2>{html.escape(title)}</h2>']
    parts.append(_table(["check", "findings"], [[k, v] for k, v in result.problems().items()]))
    parts.extend(f"<p><em>{html.escape(note)}</em></p>" for note in result.notes)
    lines = warnings(result)
    if lines:
        parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>")
    else:
        parts.append("<p>No leakage, duplicates or artifacts found.</p>")
    d = result.duplicates
    if d is not None and d.cross_split:
        parts.append("<h3>Cross-split exact duplicates</h3>")
        parts.append(_table(["rows", "labels", "text"], [
            [", ".join(_ref(m) for m in g.members[:6]), ", ".join(map(str, g.labels)), _snippet(g.members[0].text, 120)]
            for g in d.cross_split[: SHOWN * 2]]))
    near = result.near_duplicates
    if near is not None and near.pairs:
        parts.append("<h3>Near duplicates</h3>")
        parts.append(_table(["Jaccard", "estimate", "a", "b", "text a", "text b"], [
            [p.jaccard, p.estimate, _ref(p.a), _ref(p.b), _snippet(p.a.text, 80), _snippet(p.b.text, 80)]
            for p in near.pairs[: SHOWN * 2]]))
    if result.group is not None and result.group.leaked:
        parts.append("<h3>Leaked groups</h3>")
        parts.append(_table(["group", "rows per split"], [[g.group, g.counts] for g in result.group.leaked[: SHOWN * 2]]))
    if result.shortcuts:
        parts.append("<h3>Shortcut tokens</h3>")
        parts.append(_table(["token", "label", "support", "precision", "chi2"], [
            [s.token, s.label, s.support, s.precision, s.chi2] for s in result.shortcuts[: SHOWN * 2]]))
    noise = result.label_noise
    if noise is not None and noise.suspects:
        parts.append("<h3>Label-noise suspects</h3>")
        parts.append(_table(["rank", "row", "given", "predicted", "p(given)", "flagged", "text"], [
            [s.rank, _ref(s.ref), s.given, s.predicted, s.given_probability, s.flagged, _snippet(s.ref.text, 100)]
            for s in noise.suspects[: SHOWN * 2]]))
    if result.stats:
        parts.append(f"<h3>Splits ({html.escape(result.tokenizer)} tokens, max length {result.max_length})</h3>")
        parts.append(_table(["split", "rows", "classes", "median length", "p90", "max", "truncated"], [
            [name, st.size, st.class_counts, st.length.median, st.length.p90, st.length.max, f"{st.length.truncated:.1%}"]
            for name, st in result.stats.items()]))
    parts.append("</section>")
    return "\n".join(parts)
