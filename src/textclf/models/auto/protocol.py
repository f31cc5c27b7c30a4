"""How `model.type: auto` scores candidates without the test split: the protocol (k-fold
cross-validation or a holdout over the training rows, or the validation split for large data)
and the search's metric of out-of-fold (or held-out) probabilities, with a bootstrap interval."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ...data import Examples
from ...errors import ModelError
from ...objectives import decide
from .budget import Budget, is_neural
from .search import Family


@dataclass
class Protocol:
    name: str  # "<k>-fold cv", "validation" or "holdout"
    folds: list[tuple[np.ndarray, np.ndarray]]  # (fit rows, held-out rows) into train; [] on validation
    refit: bool  # whether the choice is refitted on the whole training split
    eval_rows: np.ndarray | None  # training rows scored (cv / holdout); None: the validation split
    eval_targets: np.ndarray


def choose_protocol(train: Examples, train_targets: np.ndarray, validation: Examples | None,
                    validation_targets: np.ndarray | None, families: list[Family], budget: Budget,
                    cv_folds: int, cv_max_rows: int, multi_label: bool, seed: int) -> Protocol:
    """k-fold cv under `cv_max_rows` training rows (k = `cv_folds`, 3 when the first candidates
    would eat over a third of the budget); else the validation split, or a training holdout."""
    n = len(train)
    if n < cv_max_rows:
        k = cv_folds
        first = families[: min(3, len(families))]
        fit_ids, scored_ids = np.arange(n * (k - 1) // k), np.arange(n * (k - 1) // k, n)
        if k > 3 and sum(k * budget.cost.estimate(f, budget.units(f, fit_ids, scored_ids, 5 if is_neural(f) else 1))
                         for f in first) > budget.seconds / 3:
            k = 3
        folds = make_folds(train, train_targets, multi_label, k, seed)
        name = f"{len(folds)}-fold cv"
    elif validation is not None and validation_targets is not None and len(validation):
        return Protocol("validation", [], False, None, np.asarray(validation_targets))
    else:
        folds = [holdout_split(train_targets, multi_label, seed)]
        name = "holdout"
    eval_rows = np.sort(np.concatenate([held for _, held in folds]))
    return Protocol(name, folds, True, eval_rows, train_targets[eval_rows])


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


def score_interval(targets: np.ndarray, probs: np.ndarray, multi_label: bool, metric: str, n_resamples: int,
                   seed: int) -> list[float] | None:
    if n_resamples <= 0 or len(targets) == 0:
        return None
    from ...evaluation.bootstrap import bootstrap_intervals

    interval = bootstrap_intervals({"s": _statistic(targets, probs, multi_label, metric)}, len(targets),
                                   n_resamples=n_resamples, seed=seed)["s"]
    return None if interval is None else [round(v, 6) for v in interval]
