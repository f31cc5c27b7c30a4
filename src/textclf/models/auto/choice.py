"""The choice `model.type: auto` makes after its search: one trial, or a mix of the leaders when
the mix scores higher on the same rows (and, when the protocol refits, its members can still be
refitted within the budget): first a Caruana-style mix, which must also win with weights chosen on
other rows; when it does not, the best trials of the two best families averaged.

The single trial is the cheapest one whose mean score is within noise of the best's: the gap
between their mean scores is at most one standard error of their paired per-fold differences
(same folds, corrected for overlapping training rows: protocol.corrected_std_error), and at most
NEGLIGIBLE. Picking the top of a noisy ranking chose, on a 600-row 3-class set, a candidate that
lost on test to one it had barely beaten on one 3-fold split; trading a gap as wide as a small
set's standard error chose, on 586 long reviews, a bag 0.034 below frozen mpnet embeddings in
cross-validation and 0.10 below on test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..ensemble import mix_probabilities
from .protocol import corrected_std_error, score, score_interval
from .trials import Trial, TrialRunner, ensemble_pool


@dataclass
class Choice:
    members: list[Trial]  # one trial, or the ensemble's members
    weights: np.ndarray  # one per member, summing to 1
    score: float  # on the protocol's scored rows
    mix_rows: list[dict] = field(default_factory=list)  # leaderboard rows of the mixes tried, kept or not
    notes: dict[int, str] | None = None  # trial number -> why it was (not) chosen, for the leaderboard


Mix = tuple[list[Trial], np.ndarray, float, dict]  # members, weights, score, leaderboard row
AS_CHEAP = 1.5  # candidates within this factor of the cheapest one's cost count as equally cheap
NEGLIGIBLE = 0.01  # the most score a cheaper candidate may give up, however wide the noise


def simplest_within_noise(scores: Sequence[float],
                          fold_scores: Sequence[Sequence[float] | Mapping[int, Sequence[float]]],
                          costs: Sequence[float], folds_per_repeat: int = 0) -> tuple[int, dict[int, str]]:
    """The candidate to choose (an index) and a note for each candidate the rule passed over.

    Candidates within noise of the best (highest mean score): the gap in mean score is at most
    one standard error of the paired differences of their per-fold scores (over the folds both
    ran, in the same order), and at most NEGLIGIBLE (on a few hundred rows one standard error
    spans several points of macro-F1: too much to give up for a cheaper fit). Among those, the
    cheapest (`costs`: seconds per fit), the highest score among those within AS_CHEAP of the
    cheapest. `fold_scores`: each candidate's per-fold scores, or its scores by split ({folds per
    repeat: scores}, Trial.paired_scores), paired over the split both ran with the most shared
    folds (a coarse trial with its leader over the 2-fold split). Without two paired folds (the
    validation protocol, a holdout, candidates on different splits), the best."""
    best = int(np.argmax(scores))
    splits = [dict(s) if isinstance(s, Mapping) else {int(folds_per_repeat): list(s)} for s in fold_scores]
    within = [best]
    gaps: dict[int, tuple[float, float]] = {}
    for i in range(len(scores)):
        common = splits[i].keys() & splits[best].keys()
        count, k = max(((min(len(splits[i][k]), len(splits[best][k])), k) for k in common), default=(0, 0))
        if i == best or count < 2:
            continue
        difference = np.asarray(splits[best][k][:count]) - np.asarray(splits[i][k][:count])
        error = corrected_std_error(difference, k)
        gap = float(scores[best] - scores[i])
        if error is not None and gap <= min(error, NEGLIGIBLE):
            within.append(i)
            gaps[i] = (gap, error)
    cheapest = min(costs[i] for i in within)
    chosen = max((i for i in within if costs[i] <= AS_CHEAP * cheapest), key=lambda i: (scores[i], -i))
    if chosen == best:
        return best, {}
    gap, error = gaps[chosen]
    ratio = costs[best] / max(costs[chosen], 1e-9)
    return chosen, {chosen: f"chosen: {gap:.4f} below the best, within noise (standard error of the paired "
                            f"difference {error:.4f}), {ratio:.1f}x cheaper to fit",
                    best: f"not chosen: a {ratio:.1f}x cheaper candidate is within noise of it"}


def greedy_ensemble(candidate_probs: Sequence[np.ndarray], targets: np.ndarray, multi_label: bool, metric: str,
                    rounds: int = 25) -> np.ndarray:
    """Caruana-style forward selection with replacement: start from the first candidate (the
    best single one) and repeatedly add whichever candidate most improves the mix's metric,
    ties broken by lower log loss; stop when no addition improves. Returns non-negative weights
    summing to 1, one per candidate."""
    from ...evaluation.metrics import log_loss

    def quality(probs: np.ndarray) -> tuple[float, float]:
        return score(targets, probs, multi_label, metric), -log_loss(targets, probs, multi_label)

    counts = np.zeros(len(candidate_probs))
    counts[0] = 1
    mix = candidate_probs[0].astype(np.float64)
    current = quality(mix)
    for _ in range(rounds):
        total = counts.sum()
        options = [quality((mix * total + p) / (total + 1)) for p in candidate_probs]
        best = max(range(len(options)), key=lambda i: options[i])
        if options[best] <= current:
            break
        counts[best] += 1
        mix = (mix * total + candidate_probs[best]) / (total + 1)
        current = options[best]
    return counts / counts.sum()


def stacked_repeats(trials: Sequence[Trial], targets: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, int]:
    """Each trial's out-of-fold probabilities of every cv repeat stacked row-wise (repeat after
    repeat), the targets tiled to match, and the number of copies. A trial with fewer repeats (a
    neural one: one) repeats its own. A mix is judged on these, as single candidates are judged
    over every repeat: on probabilities averaged over repeats, which score differently, a mix of
    two TF-IDF settings beat its best member 0.621 to 0.615 while that member's mean over repeats
    was 0.623."""
    own = [t.repeat_probs or [t.probs] for t in trials]
    copies = max(len(p) for p in own)
    return ([np.concatenate([p[r % len(p)] for r in range(copies)]) for p in own],
            np.concatenate([targets] * copies), copies)


def out_of_fold_mix_score(candidate_probs: Sequence[np.ndarray], targets: np.ndarray, multi_label: bool,
                          metric: str, seed: int, folds: int = 5, copies: int = 1) -> float:
    """The mix's score with its weights never chosen on the rows they are scored on: greedy weights
    from four fifths of the rows mix the other fifth, over five folds. Weights chosen and scored on
    the same rows flatter the mix, most on small data: on 540 Rotten Tomatoes rows two mixes kept
    that way scored 0.8 and 2.4 macro-F1 points below frozen embeddings + LR alone on test rows.
    `copies`: the rows are that many stacked copies of the same rows (`stacked_repeats`); a row's
    copies fall in the same fold."""
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(targets) // copies
    folds = min(folds, n)
    if folds < 2:
        return score(targets, candidate_probs[0], multi_label, metric)
    base = targets[:n]
    counts = np.bincount(base) if not multi_label else np.zeros(0)
    splitter = (StratifiedKFold(folds, shuffle=True, random_state=seed)
                if not multi_label and counts[counts > 0].min() >= folds else KFold(folds, shuffle=True, random_state=seed))
    mixed = np.zeros_like(candidate_probs[0], dtype=np.float64)
    for fit_part, held_part in splitter.split(np.zeros(n), base if not multi_label else None):
        fit_rows, held = (np.concatenate([part + c * n for c in range(copies)]) for part in (fit_part, held_part))
        w = greedy_ensemble([p[fit_rows] for p in candidate_probs], targets[fit_rows], multi_label, metric)
        used = [i for i in range(len(w)) if w[i] > 0]
        mixed[held] = mix_probabilities([candidate_probs[i][held] for i in used], w[used], multi_label)
    return score(targets, mixed, multi_label, metric)


def choose_model(runner: TrialRunner) -> Choice:
    """The best complete trial of `runner` (the cheapest within noise of it), or a mix of its
    leaders when one scores higher: the Caruana mix, else the pair of family leaders."""
    config = runner.config
    complete = runner.ranked()
    chosen, notes = simplest_within_noise([t.score for t in complete], [t.paired_scores() for t in complete],
                                          fit_costs(complete))
    single_choice = complete[chosen]
    choice = Choice([single_choice], np.ones(1), single_choice.score,
                    notes={complete[i].index: note for i, note in notes.items()})
    if notes:
        runner.say(f"{single_choice.family.name}#{single_choice.index}: {notes[chosen]}")
    if config.ensemble_size < 2 or len(complete) < 2:
        return choice
    for mix in (caruana_mix, family_leaders_mix):
        tried = mix(runner, complete)
        if tried is None:
            continue
        members, weights, mix_score, row = tried
        choice.mix_rows.append(row)
        if row["status"] == "kept":
            choice.members, choice.weights, choice.score, choice.notes = members, weights, mix_score, {}
            break
    return choice


def caruana_mix(runner: TrialRunner, complete: list[Trial]) -> Mix | None:
    """Greedy forward selection over the ensemble pool; kept when it beats the best single trial
    on the same rows, also with its weights chosen on other rows than those it is scored on."""
    multi, metric = runner.label_map.multi_label, runner.metric
    pool = ensemble_pool(complete, runner.config.ensemble_size)
    pool_probs, targets, copies = stacked_repeats(pool, runner.protocol.eval_targets)
    w = greedy_ensemble(pool_probs, targets, multi, metric)
    used = [i for i in range(len(pool)) if w[i] > 0]
    if len(used) < 2:
        runner.say(f"ensemble: adding no other candidate to {pool[0].family.name}#{pool[0].index} improves "
                   f"its {runner.score_name}")
        return None
    mix_score = score(targets, mix_probabilities([pool_probs[i] for i in used], w[used], multi), multi, metric)
    honest = out_of_fold_mix_score(pool_probs, targets, multi, metric, runner.seed, copies=copies)
    # The best member on the same stacked rows: the first by `score` may be a 2-fold trial whose
    # score was moved to the k-fold scale (Trial.coarse) while its probabilities were not.
    single = max(score(targets, p, multi, metric) for p in pool_probs)
    beats = mix_score > single + 1e-12
    reason = _affordable([pool[i] for i in used], runner) if beats and honest > single + 1e-12 else (
        "not kept: no better than the best single candidate with weights chosen on other folds" if beats
        else "not kept: no better than the best single candidate")
    row = _mix_row(runner, "greedy forward selection (Caruana)", [pool[i] for i in used], w[used], mix_score,
                   single, reason)
    row["out_of_fold_weights_score"] = round(honest, 6)
    runner.say(f"ensemble of {len(used)} ({', '.join(row['settings']['members'])}): "
               f"{runner.score_name} {mix_score:.3f} vs best single {single:.3f}; with weights from other "
               f"folds {honest:.3f} vs {single:.3f}: {reason}")
    return [pool[i] for i in used], w[used], mix_score, row


def family_leaders_mix(runner: TrialRunner, complete: list[Trial]) -> Mix | None:
    """The best trials of the two best families, averaged with equal weights: kept when it beats
    the best single trial on the same rows. Nothing is fitted to those rows but the choice of the
    two, so unlike the Caruana mix it needs no second check on other folds. Replayed on the same
    trials (bench auto_selection: six small sets, 16 runs over three seeds) it changed 4 choices,
    three up on test (+0.042, +0.018, +0.008 macro-F1) and one down (-0.007)."""
    pair = ensemble_pool(complete, 2)  # each family's best first
    if len({t.family.name for t in pair}) < 2:
        return None
    multi, metric = runner.label_map.multi_label, runner.metric
    probs, targets, _ = stacked_repeats(pair, runner.protocol.eval_targets)
    weights = np.full(2, 0.5)
    mix_score = score(targets, mix_probabilities(probs, weights, multi), multi, metric)
    single = max(score(targets, p, multi, metric) for p in probs)  # see caruana_mix
    reason = (_affordable(pair, runner) if mix_score > single + 1e-12
              else "not kept: no better than the best single candidate")
    row = _mix_row(runner, "the two best families' leaders, equal weights", pair, weights, mix_score, single, reason)
    runner.say(f"family leaders {' + '.join(row['settings']['members'])}, equal weights: {runner.score_name} "
               f"{mix_score:.3f} vs best single {single:.3f}: {reason}")
    return pair, weights, mix_score, row


def _affordable(members: list[Trial], runner: TrialRunner) -> str:
    """The status "kept", unless refitting the members on all training rows would overrun the budget."""
    if not runner.protocol.refit:
        return "kept"
    budget = runner.budget
    refit_cost = sum(budget.refit_estimate(t.family, t.training) for t in members)
    if refit_cost > budget.left() + 0.05 * budget.seconds:
        return f"not kept: refitting {len(members)} members needs ~{refit_cost:.0f} s"
    return "kept"


def _mix_row(runner: TrialRunner, kind: str, members: list[Trial], weights: np.ndarray, mix_score: float,
             single: float, status: str) -> dict:
    """The leaderboard row of a mix, kept or not; `kind` says how its members and weights were chosen."""
    multi, config = runner.label_map.multi_label, runner.config
    return {"candidate": "ensemble", "type": "ensemble", "mix": kind,
            "settings": {"members": [f"{t.family.name}#{t.index}" for t in members],
                         "weights": [round(float(x), 4) for x in weights]},
            "score": round(mix_score, 6), "best_single_same_rows": round(single, 6),
            "interval": score_interval(runner.protocol.eval_targets,  # over the rows once: the mix of repeat means
                                       mix_probabilities([t.probs for t in members], weights, multi), multi,
                                       runner.metric, config.bootstrap_resamples, runner.seed),
            "fit_seconds": 0.0, "status": status}


def fit_costs(trials: list[Trial]) -> list[float]:
    """Seconds per fit of each trial's family: its slowest trial's fit seconds per fold (an
    embedding family's first trial pays for encoding the texts, as its model will at prediction)."""
    per_fit = [t.fit_seconds / max(1, len(t.fold_scores)) for t in trials]
    family_cost: dict[str, float] = {}
    for trial, seconds in zip(trials, per_fit):
        family_cost[trial.family.name] = max(family_cost.get(trial.family.name, 0.0), seconds)
    return [family_cost[t.family.name] for t in trials]
