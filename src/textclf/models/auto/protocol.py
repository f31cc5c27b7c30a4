"""How `model.type: auto` scores candidates without the test split: the protocol (k-fold
cross-validation or a holdout over the training rows, or the validation split for large data)
and the search's metric of out-of-fold (or held-out) probabilities, with a bootstrap interval."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ...data import Examples
from ...errors import ModelError
from ...objectives import decide
from .budget import Budget, is_neural
from .search import Family


@dataclass
class Protocol:
    name: str  # "<k>-fold cv", "<k>-fold cv x<r>", "validation" or "holdout"
    # (fit rows, held-out rows) into train, repeat after repeat (k per repeat); [] on validation
    folds: list[tuple[np.ndarray, np.ndarray]]
    refit: bool  # whether the choice is refitted on the whole training split
    eval_rows: np.ndarray | None  # training rows scored (cv / holdout); None: the validation split
    eval_targets: np.ndarray
    repeats: int = 1  # shuffles of k-fold cv (each repeat's held-out parts cover `eval_rows` once)
    # One 2-fold split of the same rows (cv with k > 2 only): where a neural family's k-fold repeat
    # does not fit its share of the budget, it is scored on these rather than skipped (see
    # trials.TrialRunner._within_cap).
    coarse_folds: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    @property
    def folds_per_repeat(self) -> int:
        return len(self.folds) // self.repeats if self.folds else 0

    def folds_for(self, family: Family) -> list[tuple[np.ndarray, np.ndarray]]:
        """The folds a family is scored on: every repeat, but only the first for a neural family
        (each repeat is k more trainings from scratch; a TF-IDF or embedding fit costs a
        logistic regression)."""
        return self.folds[: self.folds_per_repeat] if is_neural(family) else self.folds


def choose_protocol(train: Examples, train_targets: np.ndarray, validation: Examples | None,
                    validation_targets: np.ndarray | None, families: list[Family], budget: Budget,
                    cv_folds: int, cv_max_rows: int, multi_label: bool, seed: int, cv_repeats: int = 1) -> Protocol:
    """Repeated k-fold cv under `cv_max_rows` training rows (k = `cv_folds`, `cv_repeats` shuffles;
    when the first candidates' first trials would eat over a third of the budget, fewer repeats
    first, then k = 3); else the validation split, or a training holdout."""
    n = len(train)
    if n < cv_max_rows:
        k, repeats = cv_folds, cv_repeats
        first = families[: min(3, len(families))]

        def first_cost(folds: list[tuple[np.ndarray, np.ndarray]]) -> float:
            per_repeat = len(folds) // repeats
            return sum(sum(budget.trial_estimates(f, 5 if is_neural(f) else 1, folds[:per_repeat] if is_neural(f)
                                                  else folds)) for f in first)

        folds = repeated_folds(train, train_targets, multi_label, k, repeats, seed)
        while (repeats > 1 or k > 3) and first_cost(folds) > budget.seconds / 3:
            repeats, k = (repeats - 1, k) if repeats > 1 else (repeats, 3)
            folds = repeated_folds(train, train_targets, multi_label, k, repeats, seed)
        per_repeat = len(folds) // repeats
        name = f"{per_repeat}-fold cv" + (f" x{repeats}" if repeats > 1 else "")
    elif validation is not None and validation_targets is not None and len(validation):
        return Protocol("validation", [], False, None, np.asarray(validation_targets))
    else:
        folds, repeats, per_repeat = [holdout_split(train_targets, multi_label, seed)], 1, 1
        name = "holdout"
    eval_rows = np.sort(np.concatenate([held for _, held in folds[:per_repeat]]))
    coarse = make_folds(train, train_targets, multi_label, 2, seed) if n < cv_max_rows and per_repeat > 2 else []
    return Protocol(name, folds, True, eval_rows, train_targets[eval_rows], repeats, coarse)


def repeated_folds(train: Examples, targets: np.ndarray, multi_label: bool, k: int, repeats: int, seed: int
                   ) -> list[tuple[np.ndarray, np.ndarray]]:
    """`repeats` rounds of `make_folds`, each with its own shuffle (seed + round): k x repeats
    (fit rows, held-out rows) pairs over the TRAINING rows only, round after round."""
    folds: list[tuple[np.ndarray, np.ndarray]] = []
    for repeat in range(repeats):
        folds.extend(make_folds(train, targets, multi_label, k, seed + repeat))
    return folds


def make_folds(train: Examples, targets: np.ndarray, multi_label: bool, k: int, seed: int
               ) -> list[tuple[np.ndarray, np.ndarray]]:
    """k (fit rows, held-out rows) pairs over the TRAINING rows only (indices into `train`).

    Held-out parts are disjoint and cover every row that can be held out: stratified by class
    (single-label), grouped by `train.groups` when present. A single-label class with one row
    is never held out (a fold without it could not learn it); it stays in every fit part."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    n = len(train)
    rows = np.arange(n)
    if not multi_label:
        counts = np.bincount(targets, minlength=int(targets.max()) + 1 if n else 1)
        keep = counts[targets] < 2
        pool = rows[~keep]
    else:
        keep = np.zeros(n, dtype=bool)
        pool = rows
    always = rows[keep]
    groups = np.asarray(train.groups, dtype=object)[pool] if train.groups is not None else None
    if groups is not None:
        k = min(k, len(set(groups.tolist())))
    elif not multi_label:
        k = min(k, int(np.bincount(targets[pool]).max()) if len(pool) else 0)
    k = min(k, len(pool))
    if k < 2:
        raise ModelError(f"model.type auto: {n} training rows cannot be split into 2 validation folds")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "least populated class has fewer members than n_splits"
        if groups is not None and not multi_label:
            splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            parts = splitter.split(pool, targets[pool], groups)
        elif groups is not None:
            parts = GroupKFold(n_splits=k, shuffle=True, random_state=seed).split(pool, groups=groups)
        elif not multi_label:
            parts = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(pool, targets[pool])
        else:
            parts = KFold(n_splits=k, shuffle=True, random_state=seed).split(pool)
        folds = [(np.sort(np.concatenate([pool[a], always])), np.sort(pool[b])) for a, b in parts]
    return folds


def holdout_split(targets: np.ndarray, multi_label: bool, seed: int, share: float = 0.1
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, held-out rows) of the training split: a stratified `share` held out."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(targets))
    stratify = None
    if not multi_label and np.bincount(targets).min() >= 2:
        stratify = targets
    fit_rows, held = train_test_split(rows, test_size=share, random_state=seed, stratify=stratify)
    return np.sort(fit_rows), np.sort(held)


# -- scoring ------------------------------------------------------------------------------------------
def _statistic(targets: np.ndarray, probs: np.ndarray, multi_label: bool, metric: str):
    from ...evaluation.bootstrap import multi_label_statistics, single_label_statistics

    decisions = decide(probs, multi_label)
    if multi_label:
        stats = multi_label_statistics(targets, probs, decisions)
        return stats["subset_accuracy" if metric == "accuracy" else metric]
    stats = single_label_statistics(targets, probs, decisions)
    return stats["accuracy" if metric in ("accuracy", "micro_f1") else "macro_f1"]


def score(targets: np.ndarray, probs: np.ndarray, multi_label: bool, metric: str) -> float:
    """The search's metric of probabilities against targets (argmax / 0.5 decisions)."""
    return float(_statistic(targets, probs, multi_label, metric)(np.arange(len(targets))))


def corrected_std_error(values, folds_per_repeat: int) -> float | None:
    """Standard error of the mean of per-fold scores (or of paired per-fold differences) over
    repeated k-fold cv, corrected for the folds' shared training rows (Nadeau & Bengio, 2003):
    sqrt((1/J + 1/(k-1)) x variance) over J folds. The plain 1/J would call a difference
    significant far too often. None with fewer than two folds."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2 or folds_per_repeat < 2:
        return None
    return float(np.sqrt((1.0 / len(values) + 1.0 / (folds_per_repeat - 1)) * values.var(ddof=1)))


def score_interval(targets: np.ndarray, probs: np.ndarray, multi_label: bool, metric: str, n_resamples: int,
                   seed: int) -> list[float] | None:
    if n_resamples <= 0 or len(targets) == 0:
        return None
    from ...evaluation.bootstrap import bootstrap_intervals

    interval = bootstrap_intervals({"s": _statistic(targets, probs, multi_label, metric)}, len(targets),
                                   n_resamples=n_resamples, seed=seed)["s"]
    return None if interval is None else [round(v, 6) for v in interval]
