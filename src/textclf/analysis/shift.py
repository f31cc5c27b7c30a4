"""Distribution shift: is a new data set still like the data the model was trained and checked on?

Four checks, each a two-sample test (p-value) plus an effect size that must pass a threshold, so a
big data set does not call a trivial difference a shift:

- vocabulary: per-text out-of-vocabulary rate against the training vocabulary (Mann-Whitney U;
  effect: increase of the mean OOV rate);
- length: text length distribution (Kolmogorov-Smirnov; effect: the KS statistic);
- label prior: predicted label distribution (chi-square; effect: total variation distance);
- out-of-distribution score: energy, -logsumexp(logits) (Liu et al., 2020), per example; effect:
  AUROC of telling new from reference examples by that score (0.5 = indistinguishable).

The reference should be held-out data from the training distribution (the model's validation
split by default): the model has fitted its training rows, so their scores would look too good.
Examples whose energy, OOV rate or length lies beyond the reference's `flag_quantile` are flagged
as far from the training data.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp
from scipy.stats import chi2_contingency, ks_2samp, mannwhitneyu

from ..data import Examples
from .settings import ShiftSettings
from .slices import token_counts, training_vocabulary


@dataclass(frozen=True)
class Check:
    name: str
    statistic: float  # the effect size compared with `threshold`
    threshold: float
    p_value: float | None
    shifted: bool
    evidence: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "statistic": round(self.statistic, 4), "threshold": self.threshold,
                "p_value": None if self.p_value is None else float(f"{self.p_value:.3g}"),
                "shifted": self.shifted, "evidence": self.evidence, **self.details}


@dataclass
class ShiftReport:
    n_reference: int
    n_new: int
    checks: list[Check]
    flagged: list[dict]  # new examples far from the training data, most unusual first
    n_flagged: int
    settings: ShiftSettings
    n_criteria: int  # per-example flag criteria: each passes ~(1 - flag_quantile) of unshifted data
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. too few rows for the tests to see a shift

    @property
    def low_power(self) -> bool:
        return min(self.n_reference, self.n_new) < self.settings.min_rows

    @property
    def shifted(self) -> bool:
        return any(c.shifted for c in self.checks)

    @property
    def verdict(self) -> str:
        return "shifted" if self.shifted else "not shifted"

    @property
    def expected_share(self) -> float:
        """Share of unshifted data flagged by chance: at most one tail per criterion."""
        return min(1.0, self.n_criteria * (1 - self.settings.flag_quantile))

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "n_reference": self.n_reference, "n_new": self.n_new,
                "checks": [c.to_dict() for c in self.checks], "n_flagged": self.n_flagged,
                "flagged_share": round(self.n_flagged / max(self.n_new, 1), 4),
                "expected_flagged_share_at_most": round(self.expected_share, 4),
                "flagged": self.flagged, "settings": self.settings.__dict__, "notes": self.notes,
                "low_power": self.low_power, "warnings": self.warnings}


# -- scores -----------------------------------------------------------------------------------------
def energy_score(logits: np.ndarray, multi_label: bool = False) -> np.ndarray:
    """Higher = further from the training data. Single-label: -logsumexp(logits); multi-label:
    minus the joint energy, -sum_j log(1 + exp(logit_j)). Shape (n, k) -> (n,)."""
    logits = np.asarray(logits, dtype=float)
    if multi_label:
        return -np.logaddexp(0.0, logits).sum(axis=1)
    return -logsumexp(logits, axis=1)


def msp_score(probs: np.ndarray) -> np.ndarray:
    """1 - maximum probability (Hendrycks & Gimpel, 2017): higher = less sure."""
    return 1.0 - np.asarray(probs, dtype=float).max(axis=1)


def auroc_greater(reference: np.ndarray, new: np.ndarray) -> tuple[float, float]:
    """P(score of a new example > score of a reference example) and its one-sided p-value."""
    result = mannwhitneyu(new, reference, alternative="greater")
    return float(result.statistic / (len(new) * len(reference))), float(result.pvalue)


# -- checks -----------------------------------------------------------------------------------------
def length_check(reference: np.ndarray, new: np.ndarray, unit: str, s: ShiftSettings) -> Check:
    result = ks_2samp(reference, new)
    stat, p = float(result.statistic), float(result.pvalue)
    shifted = stat > s.max_ks and p < s.alpha
    return Check("length", stat, s.max_ks, p, shifted,
                 f"median length {np.median(new):g} {unit} vs {np.median(reference):g} in the reference "
                 f"(KS {stat:.3f})",
                 {"unit": unit, "reference_median": float(np.median(reference)), "new_median": float(np.median(new))})


def vocabulary_check(reference: np.ndarray, new: np.ndarray, source: str, s: ShiftSettings) -> Check:
    increase = float(new.mean() - reference.mean())
    p = float(mannwhitneyu(new, reference, alternative="greater").pvalue) if np.ptp(np.r_[new, reference]) else 1.0
    shifted = increase > s.max_oov_increase and p < s.alpha
    return Check("vocabulary", increase, s.max_oov_increase, p, shifted,
                 f"{new.mean():.1%} of words unseen in training vs {reference.mean():.1%} in the reference",
                 {"reference_oov_rate": float(reference.mean()), "new_oov_rate": float(new.mean()),
                  "vocabulary_source": source})


def prior_check(reference_counts: np.ndarray, new_counts: np.ndarray, names, s: ShiftSettings) -> Check:
    ref_p = reference_counts / max(reference_counts.sum(), 1)
    new_p = new_counts / max(new_counts.sum(), 1)
    distance = float(0.5 * np.abs(ref_p - new_p).sum())
    table = np.vstack([reference_counts, new_counts])
    table = table[:, table.sum(axis=0) > 0]
    p = float(chi2_contingency(table).pvalue) if table.shape[1] > 1 else 1.0
    shifted = distance > s.max_prior_distance and p < s.alpha
    show = ", ".join(f"{n} {q:.0%}" for n, q in zip(names, new_p))
    return Check("label prior", distance, s.max_prior_distance, p, shifted,
                 f"predicted {show} (total variation {distance:.3f} from the reference)",
                 {"reference_prior": dict(zip(names, map(float, ref_p))),
                  "new_prior": dict(zip(names, map(float, new_p)))})


def ood_check(reference: np.ndarray, new: np.ndarray, msp_reference: np.ndarray, msp_new: np.ndarray,
              s: ShiftSettings) -> Check:
    auroc, p = auroc_greater(reference, new)
    msp_auroc, _ = auroc_greater(msp_reference, msp_new)
    shifted = auroc > s.max_auroc and p < s.alpha
    return Check("ood score", auroc, s.max_auroc, p, shifted,
                 f"energy tells new from reference examples with AUROC {auroc:.3f} (max-softmax AUROC {msp_auroc:.3f})",
                 {"score": "energy", "msp_auroc": round(msp_auroc, 4)})


def _predicted_counts(clf, probs: np.ndarray) -> np.ndarray:
    decisions = np.asarray(clf.decide(probs))
    k = len(clf.label_map)
    if clf.multi_label:
        return decisions.astype(int).sum(axis=0)
    return np.bincount(decisions.astype(int), minlength=k)


def analyze_shift(clf, reference: Examples, new: Examples, settings: ShiftSettings = ShiftSettings(),
                  train: Examples | None = None) -> ShiftReport:
    """Compare `new` with `reference` (held-out data like the training data); labels not needed."""
    s = settings
    notes: list[str] = []
    ref_logits, new_logits = clf.logits(reference), clf.logits(new)
    ref_probs = clf.probabilities_from_logits(ref_logits)
    new_probs = clf.probabilities_from_logits(new_logits)
    ref_energy = energy_score(ref_logits, clf.multi_label)
    new_energy = energy_score(new_logits, clf.multi_label)
    ref_len, unit = token_counts(clf, reference.texts)
    new_len, _ = token_counts(clf, new.texts)

    checks = []
    vocab = training_vocabulary(clf, train)
    new_oov = np.zeros(len(new))
    oov_cut = np.inf
    if vocab is None:
        notes.append("vocabulary: no training vocabulary available; check skipped")
    else:
        ref_oov = np.array([vocab.oov_rate(t) for t in reference.texts])
        new_oov = np.array([vocab.oov_rate(t) for t in new.texts])
        checks.append(vocabulary_check(ref_oov, new_oov, vocab.source, s))
        oov_cut = float(np.quantile(ref_oov, s.flag_quantile))
    checks.append(length_check(ref_len, new_len, unit, s))
    checks.append(prior_check(_predicted_counts(clf, ref_probs), _predicted_counts(clf, new_probs),
                              clf.label_map.labels, s))
    checks.append(ood_check(ref_energy, new_energy, msp_score(ref_probs), msp_score(new_probs), s))

    energy_cut = float(np.quantile(ref_energy, s.flag_quantile))
    length_cut = float(np.quantile(ref_len, s.flag_quantile))
    reasons = {"energy": new_energy > energy_cut, "out-of-vocabulary words": new_oov > oov_cut,
               "length": new_len > length_cut}
    far = np.logical_or.reduce(list(reasons.values()))
    predicted = clf.labels_from_decisions(clf.decide(new_probs))
    order = np.flatnonzero(far)[np.argsort(-new_energy[far], kind="stable")]
    flagged = [{"row": new.rows[i], **({"id": new.ids[i]} if new.ids is not None else {}),
                "energy": round(float(new_energy[i]), 4), "oov_rate": round(float(new_oov[i]), 4),
                "predicted": "|".join(predicted[i]) if clf.multi_label else predicted[i],
                "confidence": round(float(new_probs[i].max()), 4),
                "length": int(new_len[i]), "why": ", ".join(w for w, hit in reasons.items() if hit[i]),
                "text": new.texts[i]} for i in order]
    return ShiftReport(len(reference), len(new), checks, flagged[: s.top_flagged], int(far.sum()), s,
                       3 if vocab is not None else 2, notes, power_warnings(len(reference), len(new), s))


def power_warnings(n_reference: int, n_new: int, s: ShiftSettings) -> list[str]:
    """Warnings for samples too small for the tests (and the reference quantiles) to mean much."""
    out = []
    if n_reference < s.min_rows:
        out.append(f"low power: the reference has {n_reference} rows (fewer than {s.min_rows}); the tests can miss "
                   f"a real shift and its {s.flag_quantile:.0%} quantile is close to its maximum, so 'not shifted' "
                   "is weak evidence (pass a larger --reference)")
    if n_new < s.min_rows:
        out.append(f"low power: the new data has {n_new} rows (fewer than {s.min_rows}); the tests can miss a real "
                   "shift, so 'not shifted' is weak evidence")
    return out


# -- output -----------------------------------------------------------------------------------------
def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_shift(report: ShiftReport, examples: int = 5) -> str:
    s = report.settings
    lines = [f"distribution shift: {report.verdict.upper()}  (new {report.n_new} vs reference {report.n_reference})"]
    lines += [f"warning: {w}" for w in report.warnings]
    lines += [f"  {'check':<14}{'statistic':>10}{'threshold':>11}{'p-value':>10}  {'shifted':<8} evidence"]
    for c in report.checks:
        p = "-" if c.p_value is None else f"{c.p_value:.2g}"
        flag = "YES" if c.shifted else "no"
        lines.append(f"  {c.name:<14}{c.statistic:>10.3f}{c.threshold:>11.3f}{p:>10}  {flag:<8} "
                     f"{c.evidence}")
    lines.append(f"\n{report.n_flagged} of {report.n_new} new examples ({report.n_flagged / max(report.n_new, 1):.1%}) "
                 f"lie beyond the reference's {s.flag_quantile:.0%} quantile "
                 f"in energy, OOV rate or length (up to {report.expected_share:.0%} expected without shift)")
    for f in report.flagged[:examples]:
        lines.append(f"  row {f['row']} energy {f['energy']:.2f} oov {f['oov_rate']:.0%} ({f['why']}): "
                     f"{_short(f['text'], 70)}")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def shift_html(report: ShiftReport, examples: int = 10) -> str:
    """An HTML fragment (a <section>) for the evaluation report."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(c.name)}</td><td>{c.statistic:.3f}</td><td>{c.threshold:.3f}</td>"
        f"<td>{'-' if c.p_value is None else f'{c.p_value:.2g}'}</td><td>{'yes' if c.shifted else 'no'}</td>"
        f"<td>{e(c.evidence)}</td></tr>" for c in report.checks)
    flagged = "".join(
        f"<tr><td>{f['row']}</td><td>{f['energy']:.2f}</td><td>{f['oov_rate']:.0%}</td><td>{e(f['predicted'])}</td>"
        f"<td>{e(f['why'])}</td><td>{e(_short(f['text'], 200))}</td></tr>" for f in report.flagged[:examples])
    return (
        '<section class="textclf-shift"><h2>Distribution shift</h2>'
        f"<p>Verdict: <strong>{e(report.verdict)}</strong> ({report.n_new} new examples against "
        f"{report.n_reference} reference examples).</p>"
        + "".join(f"<p class='note'><strong>Warning:</strong> {e(w)}</p>" for w in report.warnings)
        + "<table><thead><tr><th>check</th><th>statistic</th><th>threshold</th><th>p-value</th><th>shifted</th>"
        f"<th>evidence</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<p>{report.n_flagged} new examples lie beyond the reference's {report.settings.flag_quantile:.0%} quantile "
        "of energy, out-of-vocabulary rate or length.</p>"
        "<table><thead><tr><th>row</th><th>energy</th><th>OOV</th><th>predicted</th><th>why</th><th>text</th></tr>"
        f"</thead><tbody>{flagged}</tbody></table></section>"
    )
