"""The tokens behind mistakes: which tokens most often push confident mistakes toward the wrong
label across an evaluation set, and an HTML rendering of highlighted explanations."""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field


from ..errors import DataError
from .attributions import Explanation
from .explain import explain


# -- which tokens drive mistakes ------------------------------------------------------------------
@dataclass
class MistakeDrivers:
    """Tokens found most often among the top-k attributions toward a wrong label, over the
    confident mistakes of a test set. `rows`: dicts, most frequent first (see `mistake_drivers`)."""

    rows: list[dict]
    mistakes: int  # explained rows whose explained label is wrong
    confident_mistakes: int
    confident: float
    top_k: int
    flagged_tokens: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"mistakes": self.mistakes, "confident_mistakes": self.confident_mistakes,
                "confident": self.confident, "top_k": self.top_k, "flagged_tokens": self.flagged_tokens,
                "rows": self.rows}

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)


def _flagged_set(flagged) -> set[str]:
    """Normalised tokens from a set of strings, ShortcutToken results, or an audit result."""
    from ..audit.normalize import normalize_text

    if flagged is None:
        return set()
    if hasattr(flagged, "shortcuts"):  # an AuditResult
        flagged = flagged.shortcuts or []
    out = set()
    for item in flagged:
        token = getattr(item, "token", item)
        norm = normalize_text(str(token))
        if norm:
            out.add(norm)
    return out


def mistake_drivers(clf, examples, explanations: Sequence[Explanation] | None = None, *, top_k: int = 5,
                    confident: float = 0.8, flagged=None, limit: int = 25) -> MistakeDrivers:
    """Tokens that most often push confident mistakes toward their wrong label.

    `explanations` are those of `examples` (same order, each explaining its predicted label, as
    `explain(clf, examples)` gives); None explains the confident mistakes here. A mistake is an
    explained label the gold labels do not contain; it is confident when its probability is at
    least `confident`. Per token (normalised: case, punctuation), over confident mistakes: how
    many have it among the top-k attributions toward the wrong label, that share, its mean
    attribution there, the wrong labels, and up to 3 example rows. `flagged`: tokens the audit's
    shortcut check found (strings, audit ShortcutToken results, or the AuditResult), marked in
    the `shortcut` column. Ranked by count, then mean attribution."""
    from ..audit.normalize import normalize_text

    if getattr(examples, "labels", None) is None:
        raise DataError("mistake_drivers needs labelled examples")
    gold = examples.labels
    if explanations is None:
        probs = clf.predict_proba(examples.texts)
        predicted = clf.labels_from_decisions(clf.decide(probs))
        index = clf.label_map.index
        chosen = []
        for i, (g, p) in enumerate(zip(gold, predicted)):
            if not clf.multi_label and p != g and probs[i, index[p]] >= confident:
                chosen.append(i)
            elif clf.multi_label and any(x not in g and probs[i, index[x]] >= confident for x in p):
                chosen.append(i)
        found = explain(clf, [examples.texts[i] for i in chosen], top_k=top_k) if chosen else []
        pairs = list(zip(chosen, found))
    else:
        if len(explanations) != len(examples):
            raise DataError(f"mistake_drivers: {len(explanations)} explanations for {len(examples)} examples")
        pairs = list(enumerate(explanations))
    marked = _flagged_set(flagged)
    rows = getattr(examples, "rows", None) or list(range(1, len(examples) + 1))
    mistakes = confident_mistakes = 0
    counts: Counter = Counter()
    attribution_sum: dict[str, float] = defaultdict(float)
    wrong_labels: dict[str, Counter] = defaultdict(Counter)
    example_rows: dict[str, list[int]] = defaultdict(list)
    for i, e in pairs:
        g = gold[i]
        wrong = e.label not in g if isinstance(g, tuple) else e.label != g
        if not wrong:
            continue
        mistakes += 1
        if e.probability < confident:
            continue
        confident_mistakes += 1
        per_token: dict[str, float] = defaultdict(float)
        for t in e.top(top_k):
            key = normalize_text(t.text)
            if key:
                per_token[key] += t.attribution
        for key, value in per_token.items():
            counts[key] += 1
            attribution_sum[key] += value
            wrong_labels[key][e.label] += 1
            if len(example_rows[key]) < 3:
                example_rows[key].append(int(rows[i]))
    ranked = sorted(counts, key=lambda k: (-counts[k], -attribution_sum[k] / counts[k], k))[:limit]
    table = [{"token": k, "mistakes": counts[k], "share": counts[k] / max(confident_mistakes, 1),
              "mean_attribution": attribution_sum[k] / counts[k],
              "wrong_labels": dict(wrong_labels[k].most_common()), "shortcut": k in marked,
              "example_rows": example_rows[k]} for k in ranked]
    return MistakeDrivers(table, mistakes, confident_mistakes, confident, top_k, sorted(marked))


# -- HTML ------------------------------------------------------------------------------------------
# Diverging blue / orange (safe for the common colour-vision deficiencies), mixed with white at
# most _MAX_MIX so black text keeps a contrast ratio above 7:1 on every shade. The sign is also
# shown without colour: a solid underline toward the label, a dashed one against it.
_TOWARD = (33, 102, 172)
_AWAY = (230, 97, 1)
_MAX_MIX = 0.6

_STYLE = """
.textclf-explain .tx-text{line-height:1.9;color:#111;background:#fff;padding:.4em .6em;border:1px solid #ccc}
.textclf-explain .tx-tok{padding:.1em .15em;border-radius:3px}
.textclf-explain .tx-pos{border-bottom:2px solid #2166ac}
.textclf-explain .tx-neg{border-bottom:2px dashed #b35806}
.textclf-explain .tx-legend span{display:inline-block;margin-right:1em;padding:.1em .4em;color:#111}
.textclf-explain table{border-collapse:collapse;margin:.5em 0}
.textclf-explain th,.textclf-explain td{border:1px solid #ccc;padding:.2em .5em;text-align:left}
"""


def _shade(value: float, scale: float) -> str:
    color = _TOWARD if value >= 0 else _AWAY
    mix = _MAX_MIX * min(1.0, abs(value) / scale) if scale > 0 else 0.0
    r, g, b = (round(255 * (1 - mix) + c * mix) for c in color)
    return f"#{r:02x}{g:02x}{b:02x}"


def _highlighted(e: Explanation) -> str:
    esc = html.escape
    scale = max((abs(t.attribution) for t in e.tokens), default=0.0)
    parts, at = [], 0
    for t in sorted(e.tokens, key=lambda t: t.start):
        if t.start < at:  # never overlap (guard for foreign token lists)
            continue
        parts.append(esc(e.text[at:t.start]))
        kind = "tx-pos" if t.attribution > 0 else "tx-neg" if t.attribution < 0 else ""
        parts.append(f'<span class="tx-tok {kind}" style="background:{_shade(t.attribution, scale)}" '
                     f'title="{t.attribution:+.4f}">{esc(e.text[t.start:t.end])}</span>')
        at = t.end
    parts.append(esc(e.text[at:]))
    return "".join(parts)


def _legend() -> str:
    return ('<p class="tx-legend">'
            f'<span class="tx-pos" style="background:{_shade(1, 1)}">toward the explained label</span>'
            f'<span class="tx-neg" style="background:{_shade(-1, 1)}">against it</span>'
            f'<span>shade: share of the largest attribution in that text; hover for the value</span></p>')


def drivers_html(drivers: MistakeDrivers) -> str:
    esc = html.escape
    head = "".join(f"<th>{h}</th>" for h in ("token", "mistakes", "share", "mean attribution", "wrong label(s)",
                                              "audit shortcut", "example rows"))
    body = "".join(
        f"<tr><td>{esc(r['token'])}</td><td>{r['mistakes']}</td><td>{r['share']:.0%}</td>"
        f"<td>{r['mean_attribution']:+.3f}</td>"
        f"<td>{esc(', '.join(f'{k} ({v})' for k, v in r['wrong_labels'].items()))}</td>"
        f"<td>{'yes' if r['shortcut'] else ''}</td><td>{esc(', '.join(map(str, r['example_rows'])))}</td></tr>"
        for r in drivers.rows)
    return (f"<h3>Tokens behind confident mistakes</h3><p>{drivers.confident_mistakes} of {drivers.mistakes} "
            f"mistakes are confident (p &ge; {drivers.confident}); a token counts when it is among the top "
            f"{drivers.top_k} attributions toward the wrong label.</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def explanations_html(explanations: Sequence[Explanation], drivers: MistakeDrivers | None = None, *,
                      limit: int = 50, title: str = "Why this label?") -> str:
    """A self-contained HTML fragment (one <section> with its own <style>, no external assets):
    each text with its tokens shaded by attribution, then the mistake drivers table."""
    esc = html.escape
    parts = [f'<section class="textclf-explain"><style>{_STYLE}</style><h2>{esc(title)}</h2>', _legend()]
    for e in list(explanations)[:limit]:
        predicted = ", ".join(e.predicted) if isinstance(e.predicted, tuple) else str(e.predicted)
        detail = f"{e.method.replace('_', ' ')}"
        if e.completeness_gap is not None:
            detail += f", {e.steps} steps, completeness gap {e.completeness_gap:.1%}"
        if e.truncated:
            detail += ", text truncated: only the part the model read is shaded"
        top = ", ".join(f"{esc(t.text)} ({t.attribution:+.3f})" for t in e.top())
        parts.append(
            f"<article><h4>explained: {esc(e.label)} (p = {e.probability:.3f}, score {e.score:+.3f}, "
            f"base {e.base_value:+.3f}); predicted: {esc(predicted)}</h4>"
            f'<div class="tx-text">{_highlighted(e)}</div>'
            f"<p>top tokens: {top or 'none'}. <small>{esc(detail)}</small></p></article>")
    if len(explanations) > limit:
        parts.append(f"<p>{len(explanations) - limit} more explanations not shown.</p>")
    if drivers is not None:
        parts.append(drivers_html(drivers))
    parts.append("</section>")
    return "\n".join(parts)


__all__ = ["MistakeDrivers", "drivers_html", "explanations_html", "mistake_drivers"]
