"""`model.type: auto`: a budgeted search over model families, then the best model or an ensemble.

    model: {type: auto, time_budget: 600}                # seconds for the whole fit (or 10m, 1h)
    model: {type: auto, time_budget: 2m, candidates: [tfidf_word, tfidf_char, bag, {type: tfidf, C: 8}]}

Keys (AutoConfig): time_budget, candidates (family names from models/search.py or fixed model
configs; default: every family), metric, cv_folds (5), cv_max_rows (5000), max_trials (40),
ensemble_size (5; 0 or 1: never ensemble), pretrained (encoder of the embedding and fine-tune
candidates, default minilm), bootstrap_resamples (200).

How it decides (all of it on the training split, or on the validation split for large data; the
test split never reaches `fit`):

1. Protocol. Under `cv_max_rows` (5,000) training rows: stratified k-fold cross-validation on the
   training split (group k-fold when the examples carry groups; k = `cv_folds`, 3 when the first
   candidates would eat over a third of the budget with 5). Every candidate gets out-of-fold
   probabilities for every training row. Larger data: each candidate is fitted on the training
   split and scored on the validation split (with no validation split, on a stratified 10% of
   training held out, and the choice is refitted on all of it).
2. Candidates (models/search.py) in increasing cost: TF-IDF word, TF-IDF word+char, the n-gram
   bag, frozen-embedding + LR, small CNN / GRU, the MiniLM fine-tune. Each family's first trial
   runs its known-good defaults; the budget left after one pass over the families goes to more
   Optuna trials (seeded TPE) of the families whose best score is close to the leader's.
   Within a family, a median pruner stops a trial after a fold whose running score falls below
   the median of earlier trials at that fold.
3. Cost. Before every fit, its seconds are estimated (rows x epochs x the family's rate: a prior
   for the first fit, then the measured rate). A fit is launched only if it fits in what is left
   of the budget minus the time reserved to refit the current leaders; the first candidate
   always runs, so there is always a model.
4. Score: macro-F1 for single-label tasks, micro-F1 for multi-label ones (argmax / 0.5
   decisions; thresholds are tuned after fit, as for any model), with a 95% bootstrap interval
   over the scored rows. `metric` overrides it.
5. Ensemble. Caruana-style greedy forward selection with replacement over the best
   `ensemble_size` trials (each family's best first, for diversity), maximising the metric of
   the mixed out-of-fold (or validation) probabilities, ties broken by log loss; the mix is kept
   only when its score beats the best single candidate's on the same rows. Chosen models are refitted on the whole training split (validation available
   for early stopping, as usual) when they were scored by cross-validation or a holdout.

The result: `selected()` returns (config, fitted model) of the choice, an ordinary model type or
an `ensemble` (models/ensemble.py), which the TextClassifier saves in place of `auto`. `fit`
returns a summary with the leaderboard (candidate, settings, score, interval, fit seconds,
status) and writes `leaderboard.json` into `workdir`; one progress line per candidate goes to
stderr. The whole fit aims to end within the budget (+10% at most).
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator

from ..config import Section, TrainingConfig, validate
from ..data import Examples, LabelMap
from ..errors import ConfigError, ModelError
from ..fileio import write_json
from ..objectives import decide, probabilities
from .base import ModelBase
from .ensemble import EnsembleConfig, EnsembleModel, member_config, mix_probabilities
from .search import DEFAULT_CANDIDATES, FAMILIES, Family, describe, fixed_family

LEADERBOARD_FILE = "leaderboard.json"
SELECTED_DIR = "selected"  # only when an unswapped AutoModel itself is saved (see AutoModel.save)
MIN_TRIALS = 3  # trials every family gets (budget allowing) before only the close ones are tuned
_METRIC_NAMES = {"macro_f1": "macro-F1", "micro_f1": "micro-F1", "accuracy": "accuracy"}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as `90`, `90s`, `10m`, `1.5h` (ConfigError otherwise)."""
    if isinstance(value, bool):
        raise ConfigError(f"time budget {value!r}: expected seconds or a duration such as 10m")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().lower()
    scale = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(text[-1:], None)
    number = text[:-1] if scale is not None else text
    try:
        seconds = float(number) * (scale or 1.0)
    except ValueError:
        raise ConfigError(f"time budget {value!r}: expected seconds or a duration such as 90s, 10m, 1h") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"time budget {value!r} must be a positive duration")
    return seconds


class AutoConfig(Section):
    type: Literal["auto"] = "auto"
    time_budget: float = Field(600.0, gt=0)  # seconds for search + refit + ensemble; YAML may say 10m
    # Family names (models/search.py: tfidf_word, tfidf_char, bag, embedding, cnn, rnn, pretrained)
    # or fixed model configs ({type: ..., ...}); null: every family.
    candidates: list[str | dict[str, Any]] | None = None
    metric: Literal["macro_f1", "micro_f1", "accuracy"] | None = None  # null: macro_f1 / micro_f1 (multi-label)
    cv_folds: int = Field(5, ge=2, le=20)
    cv_max_rows: int = Field(5000, ge=0)  # fewer training rows: k-fold CV; else the validation split
    max_trials: int = Field(40, ge=1)
    ensemble_size: int = Field(5, ge=0)  # the top-N trials an ensemble may draw from; 0 or 1: never ensemble
    pretrained: str = "minilm"  # encoder for the embedding and fine-tune candidates
    bootstrap_resamples: int = Field(200, ge=0)  # for the leaderboard intervals

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        try:
            return parse_duration(value)
        except ConfigError as err:
            raise ValueError(str(err)) from None


@dataclass
class Trial:
    index: int  # 1-based, in launch order
    family: Family
    params: dict[str, Any]
    config: BaseModel | None = None
    training: TrainingConfig | None = None
    status: str = "running"  # complete | pruned | failed | stopped
    score: float | None = None
    interval: list[float] | None = None
    fit_seconds: float = 0.0
    probs: np.ndarray | None = None  # aligned with AutoModel.eval_targets (complete trials only)
    model: Any = None  # kept for the leaders when the protocol needs no refit
    error: str | None = None
    fold_scores: list[float] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        row = {"candidate": self.family.name, "type": self.family.type, "trial": self.index,
               "settings": _jsonable(self.params if self.family.fixed is None else self.family.fixed),
               "score": None if self.score is None or self.status != "complete" else round(self.score, 6),
               "interval": self.interval,
               "fit_seconds": round(self.fit_seconds, 3), "status": self.status}
        if self.fold_scores:
            row["fold_scores"] = [round(s, 6) for s in self.fold_scores]
        if self.error:
            row["error"] = self.error
        return row


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(values, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


# -- validation folds -------------------------------------------------------------------------------
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
    from ..evaluation.bootstrap import multi_label_statistics, single_label_statistics

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
    from ..evaluation.bootstrap import bootstrap_intervals

    interval = bootstrap_intervals({"s": _statistic(targets, probs, multi_label, metric)}, len(targets),
                                   n_resamples=n_resamples, seed=seed)["s"]
    return None if interval is None else [round(v, 6) for v in interval]


def ensemble_pool(ranked: list[Trial], size: int) -> list[Trial]:
    """What an ensemble may draw from: the best trial of each family (diversity first), then the
    next best trials overall, `size` in all, best first."""
    pool: list[Trial] = []
    for trial in ranked:
        if len(pool) < size and all(t.family.name != trial.family.name for t in pool):
            pool.append(trial)
    for trial in ranked:
        if len(pool) < size and trial not in pool:
            pool.append(trial)
    return sorted(pool, key=lambda t: -t.score)


def greedy_ensemble(candidate_probs: Sequence[np.ndarray], targets: np.ndarray, multi_label: bool, metric: str,
                    rounds: int = 25) -> np.ndarray:
    """Caruana-style forward selection with replacement: start from the first candidate (the
    best single one) and repeatedly add whichever candidate most improves the mix's metric,
    ties broken by lower log loss; stop when no addition improves. Returns non-negative weights
    summing to 1, one per candidate."""
    from ..evaluation.metrics import log_loss

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


# -- cost model ---------------------------------------------------------------------------------------
class CostModel:
    """Seconds a fit will take: slowness x (prior overhead + prior rate x units).

    A family's slowness is its last measured seconds over its prior; a family not measured yet
    borrows the median slowness of the families measured so far (how busy the machine is), never
    less than 1. Units: see `AutoModel._units`."""

    def __init__(self, gpu: bool) -> None:
        self.gpu = gpu
        self.slowness: dict[str, float] = {}

    def prior(self, family: Family, units: float) -> float:
        seconds = family.prior_overhead + family.prior_seconds_per_unit * units
        return seconds / family.gpu_speedup if self.gpu else seconds

    def factor(self, family: Family) -> float:
        if family.name in self.slowness:
            return self.slowness[family.name]
        return max(1.0, float(np.median(list(self.slowness.values())))) if self.slowness else 1.0

    def estimate(self, family: Family, units: float) -> float:
        return 1.1 * self.factor(family) * self.prior(family, units)

    def observe(self, family: Family, units: float, seconds: float) -> None:
        self.slowness[family.name] = max(seconds, 1e-3) / max(self.prior(family, units), 1e-3)


class _BudgetStop(Exception):
    """A fold that would overrun the budget was not started."""


class _Pruned(Exception):
    pass


# -- the model type -----------------------------------------------------------------------------------
class AutoModel(ModelBase):
    """Searches candidates within `time_budget` seconds and keeps the chosen fitted model."""

    config_class = AutoConfig

    def __init__(self, config: AutoConfig, label_map: LabelMap, training: TrainingConfig, seed: int,
                 log=None) -> None:
        self.config = config
        self.label_map = label_map
        self.training = training
        self.seed = seed
        self.log = log  # None: sys.stderr at fit time
        self.choice: tuple[BaseModel, Any] | None = None
        self.leaderboard: list[dict] = []
        self.folds: list[tuple[np.ndarray, np.ndarray]] = []  # (fit rows, held-out rows), indices into train
        self.protocol: str | None = None
        self.eval_rows: np.ndarray | None = None  # training rows scored (cv / holdout)
        self.eval_targets: np.ndarray | None = None

    # -- the protocol answers --------------------------------------------------------------------
    def selected(self) -> tuple[BaseModel, Any] | None:
        return self.choice

    def _chosen(self):
        if self.choice is None:
            raise ModelError("model.type auto has not chosen a model yet: call fit()")
        return self.choice[1]

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        return self._chosen().logits(texts)

    def max_tokens(self) -> int | None:
        return self._chosen().max_tokens() if hasattr(self._chosen(), "max_tokens") else None

    def vocabulary(self):
        return self._chosen().vocabulary() if hasattr(self._chosen(), "vocabulary") else None

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        chosen = self._chosen()
        return chosen.token_lengths(texts) if hasattr(chosen, "token_lengths") else super().token_lengths(texts)

    # -- helpers ---------------------------------------------------------------------------------
    @property
    def metric(self) -> str:
        return self.config.metric or ("micro_f1" if self.label_map.multi_label else "macro_f1")

    def _say(self, line: str) -> None:
        print(f"textclf: auto {line}", file=self.log or sys.stderr, flush=True)

    def _left(self) -> float:
        return self._deadline - time.perf_counter()

    def _families(self) -> tuple[list[Family], list[dict]]:
        """The candidate families to run, in order, and leaderboard rows for unavailable ones."""
        from . import model_class

        wanted = self.config.candidates if self.config.candidates is not None else list(DEFAULT_CANDIDATES)
        families, skipped = [], []
        for i, entry in enumerate(wanted):
            if isinstance(entry, dict):
                if not isinstance(entry.get("type"), str):
                    raise ConfigError(f"model.candidates[{i}]: a fixed candidate needs a `type`")
                if entry["type"] in ("auto",):
                    raise ConfigError("model.candidates: auto cannot search itself")
                family = fixed_family(i, entry)
            elif entry in FAMILIES:
                family = FAMILIES[entry]
            else:
                raise ConfigError(f"model.candidates: {entry!r} is not one of: {', '.join(FAMILIES)} "
                                  "(or give a model config such as {type: tfidf, C: 2})")
            try:
                model_class(family.type)
            except ConfigError:
                skipped.append({"candidate": family.name, "type": family.type, "settings": {}, "score": None,
                                "interval": None, "fit_seconds": 0.0,
                                "status": f"skipped: model type {family.type!r} is not available"})
                continue
            families.append(family)
        if not families:
            raise ConfigError("model.type auto: no usable candidates")
        return families, skipped

    def _candidate(self, family: Family, trial) -> tuple[BaseModel, TrainingConfig, int]:
        """Config, training settings and epochs of one trial's model."""
        from . import model_class

        context = {"multi_label": self.label_map.multi_label, "class_weight": self.training.class_weight,
                   "pretrained": self.config.pretrained}
        model_values, overrides = family.suggest(trial, context)
        cls = model_class(model_values["type"])
        config = member_config(model_values, "model.candidates")
        training = self.training
        defaults = getattr(cls, "default_training", {}) or {}
        unset = {k: v for k, v in defaults.items() if k not in training.model_fields_set}
        training = training.model_copy(update={**unset, **overrides, "progress": False})
        probe = cls(config, self.label_map, training, self.seed)  # stores parameters only
        effective = getattr(probe, "training", training)
        epochs = effective.epochs if _is_neural(family) else 1
        return config, training, epochs

    def _new_model(self, config: BaseModel, training: TrainingConfig):
        from . import model_class

        return model_class(config.type)(config, self.label_map, training, self.seed)

    # -- fitting -----------------------------------------------------------------------------------
    def fit(self, train: Examples, train_targets: np.ndarray, validation: Examples | None = None,
            validation_targets: np.ndarray | None = None, workdir: Path | None = None,
            resume: bool = False) -> dict:
        if resume:
            raise ConfigError("model.type 'auto' cannot resume: run the search again")
        started = time.perf_counter()
        budget = float(self.config.time_budget)
        self._deadline = started + budget
        multi = self.label_map.multi_label
        families, skipped_rows = self._families()
        gpu = _cuda_available(families)
        self.cost = CostModel(gpu)
        self._train, self._train_targets = train, np.asarray(train_targets)
        self._encoded: dict[str, set[int]] = {}  # per encode-once family: row ids already embedded
        self._validation, self._validation_targets = validation, validation_targets
        n = len(train)

        # 1. protocol
        if n < self.config.cv_max_rows:
            k = self.config.cv_folds
            first = families[: min(3, len(families))]
            fit_ids, scored_ids = np.arange(n * (k - 1) // k), np.arange(n * (k - 1) // k, n)
            if k > 3 and sum(k * self.cost.estimate(f, self._units(f, fit_ids, scored_ids, 5 if _is_neural(f) else 1))
                             for f in first) > budget / 3:
                k = 3
            self.folds = make_folds(train, self._train_targets, multi, k, self.seed)
            self.protocol = f"{len(self.folds)}-fold cv"
            self.refit = True
        elif validation is not None and validation_targets is not None and len(validation):
            self.folds = []
            self.protocol = "validation"
            self.refit = False
        else:
            self.folds = [holdout_split(self._train_targets, multi, self.seed)]
            self.protocol = "holdout"
            self.refit = True
        if self.folds:
            self.eval_rows = np.sort(np.concatenate([held for _, held in self.folds]))
            self.eval_targets = self._train_targets[self.eval_rows]
        else:
            self.eval_rows = None
            self.eval_targets = np.asarray(validation_targets)
        self._say(f"{n} training rows, {self.protocol}, {_METRIC_NAMES[self.metric]}, budget {budget:.0f} s, "
                  f"candidates: {', '.join(f.name for f in families)}")

        # 2. search
        self.trials: list[Trial] = []
        self._studies: dict[str, Any] = {}
        exhausted: set[str] = set()
        for family in families:  # one pass in cost order: every family's defaults
            if len(self.trials) >= self.config.max_trials:
                break
            force = not any(t.status == "complete" for t in self.trials)  # there must be a model
            self._run_trial(family, force=force, exhausted=exhausted)
        if not any(t.status == "complete" for t in self.trials):
            errors = "; ".join(f"{t.family.name}: {t.error}" for t in self.trials if t.error)
            raise ModelError(f"model.type auto: no candidate could be fitted ({errors or 'budget too small'})")
        while len(self.trials) < self.config.max_trials:
            family = self._next_family(families, exhausted)
            if family is None:
                break
            self._run_trial(family, force=False, exhausted=exhausted)

        # 3. choice: the best single trial, or an ensemble of the leaders when it scores higher
        complete = sorted((t for t in self.trials if t.status == "complete"), key=lambda t: -t.score)
        best = complete[0]
        members, weights, ensemble_row, chosen_score = [best], np.ones(1), None, best.score
        if self.config.ensemble_size >= 2 and len(complete) >= 2:
            pool = ensemble_pool(complete, self.config.ensemble_size)
            w = greedy_ensemble([t.probs for t in pool], self.eval_targets, multi, self.metric)
            used = [i for i in range(len(pool)) if w[i] > 0]
            if len(used) < 2:
                self._say(f"ensemble: adding no other candidate to {best.family.name}#{best.index} improves "
                          f"its {self._score_name()}")
            else:
                mix = mix_probabilities([pool[i].probs for i in used], w[used], multi)
                mix_score = score(self.eval_targets, mix, multi, self.metric)
                keep = mix_score > best.score + 1e-12
                refit_cost = sum(self._refit_estimate(pool[i]) for i in used) if self.refit else 0.0
                if keep and self.refit and refit_cost > self._left() + 0.05 * budget:
                    keep, reason = False, f"not kept: refitting {len(used)} members needs ~{refit_cost:.0f} s"
                else:
                    reason = "kept" if keep else "not kept: no better than the best single candidate"
                ensemble_row = {
                    "candidate": "ensemble", "type": "ensemble",
                    "settings": {"members": [f"{pool[i].family.name}#{pool[i].index}" for i in used],
                                 "weights": [round(float(w[i]), 4) for i in used]},
                    "score": round(mix_score, 6),
                    "interval": score_interval(self.eval_targets, mix, multi, self.metric,
                                               self.config.bootstrap_resamples, self.seed),
                    "fit_seconds": 0.0, "status": reason}
                self._say(f"ensemble of {len(used)} ({', '.join(ensemble_row['settings']['members'])}): "
                          f"{self._score_name()} {mix_score:.3f} vs best single {best.score:.3f}: {reason}")
                if keep:
                    members, weights, chosen_score = [pool[i] for i in used], w[used], mix_score

        # 4. final models: refit on the whole training split when scored by cv / holdout
        refit_seconds = 0.0
        fitted = []
        for trial in members:
            if self.refit or trial.model is None:  # (a validation-protocol model is kept unless dropped)
                t0 = time.perf_counter()
                model = self._new_model(trial.config, trial.training)
                with _quiet_blas(trial.family):
                    model.fit(train, self._train_targets, validation, validation_targets, None)
                seconds = time.perf_counter() - t0
                refit_seconds += seconds
                self._say(f"refit {trial.family.label} #{trial.index} on {n} rows ({seconds:.1f} s, "
                          f"{max(self._left(), 0):.0f} s left)")
            else:
                model = trial.model
            _restore_progress(model, self.training)
            fitted.append((trial.config, model))
        if len(fitted) == 1:
            self.choice = fitted[0]
        else:
            ensemble = EnsembleModel.from_fitted(fitted, weights, self.label_map, self.training, self.seed)
            self.choice = (ensemble.config, ensemble)
        for t in self.trials:  # free the models that were not chosen
            t.model = None

        # 5. leaderboard
        rows = [t.row() for t in self.trials]
        chosen_ids = {t.index for t in members}
        for row in rows:
            row["selected"] = len(members) == 1 and row["trial"] in chosen_ids
        if ensemble_row is not None:
            ensemble_row["selected"] = len(members) > 1
            ensemble_row["fit_seconds"] = round(refit_seconds, 3) if len(members) > 1 else 0.0
            rows.append(ensemble_row)
        rows.sort(key=lambda r: (0 if r["score"] is not None else 1 if r["status"] == "pruned" else 2,
                                 -(r["score"] or 0.0)))
        self.leaderboard = rows + skipped_rows
        elapsed = time.perf_counter() - started
        summary = {
            "protocol": self.protocol, "metric": self.metric, "time_budget": budget,
            "elapsed_seconds": round(elapsed, 3), "trials": len(self.trials),
            "selected": {"type": self.choice[0].type,
                         "candidates": [f"{t.family.name}#{t.index}" for t in members],
                         "weights": [round(float(x), 4) for x in weights],
                         "score": round(chosen_score, 6),
                         "refit": self.refit},
            "leaderboard": self.leaderboard,
        }
        self._print_leaderboard(elapsed, budget)
        if workdir is not None:
            write_json(Path(workdir) / LEADERBOARD_FILE, _leaderboard_document(summary))
        self.summary = summary
        return summary

    def _score_name(self) -> str:
        return f"{self.protocol} {_METRIC_NAMES[self.metric]}"

    def _refit_estimate(self, trial: Trial) -> float:
        n = len(self._train)
        epochs = trial.training.epochs if _is_neural(trial.family) else 1
        scored = np.arange(0)
        if self._validation is not None and _is_neural(trial.family):  # early stopping scores it every epoch
            scored = np.tile(n + np.arange(len(self._validation)), epochs)
        return self.cost.estimate(trial.family, self._units(trial.family, np.arange(n), scored, epochs))

    def _reserve(self) -> float:
        """Seconds kept back for what follows the search: refitting the leaders, ensembling."""
        reserve = 0.5 + 0.02 * self.config.time_budget
        if self.refit:
            complete = sorted((t for t in self.trials if t.status == "complete"), key=lambda t: -t.score)
            reserve += sum(self._refit_estimate(t) for t in complete[:1])
            if self.config.ensemble_size >= 2:
                reserve += sum(self._refit_estimate(t) for t in complete[1:3]) * 0.5
        return reserve

    def _next_family(self, families: list[Family], exhausted: set[str]) -> Family | None:
        """The next family to tune: among those with fewer than MIN_TRIALS trials or whose best
        score is within reach of the leader's (half its interval width, at least 0.01), the one
        with the fewest trials, cheaper families first."""
        best_of: dict[str, float] = {}
        tried: dict[str, int] = {}
        for t in self.trials:
            tried[t.family.name] = tried.get(t.family.name, 0) + 1
            if t.status == "complete":
                best_of[t.family.name] = max(best_of.get(t.family.name, -1.0), t.score)
        if not best_of:
            return None
        leader = max((t for t in self.trials if t.status == "complete"), key=lambda t: t.score)
        width = (leader.interval[1] - leader.interval[0]) if leader.interval else 0.0
        margin = max(0.01, width / 2)
        live = [f for f in families
                if f.name in best_of and f.name not in exhausted
                and (f.max_trials is None or tried.get(f.name, 0) < f.max_trials)
                and (tried.get(f.name, 0) < MIN_TRIALS or best_of[f.name] >= leader.score - margin)]
        if not live:
            return None
        return min(live, key=lambda f: (tried.get(f.name, 0), families.index(f)))

    def _study(self, family: Family):
        import optuna

        if family.name not in self._studies:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            sampler = optuna.samplers.TPESampler(seed=self.seed + len(self._studies), n_startup_trials=4)
            pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
            study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
            defaults = dict(family.defaults)
            if "class_weight" in defaults and not isinstance(self.training.class_weight, dict):
                defaults["class_weight"] = "balanced" if self.training.class_weight == "balanced" else "none"
            if defaults:
                study.enqueue_trial(defaults)
            self._studies[family.name] = study
        return self._studies[family.name]

    def _run_trial(self, family: Family, force: bool, exhausted: set[str]) -> None:
        import optuna

        study = self._study(family)
        otrial = study.ask()
        trial = Trial(index=len(self.trials) + 1, family=family, params={})
        try:
            trial.config, trial.training, epochs = self._candidate(family, otrial)
        except ConfigError as err:
            study.tell(otrial, state=optuna.trial.TrialState.FAIL)
            trial.params, trial.status, trial.error = dict(otrial.params), "failed", str(err)
            self.trials.append(trial)
            exhausted.add(family.name)
            self._say(f"[{trial.index}/{self.config.max_trials}] {family.label}: failed ({err})")
            return
        trial.params = dict(otrial.params)
        estimates = self._trial_estimates(family, epochs)
        if not force and sum(estimates) > self._left() - self._reserve():
            study.tell(otrial, state=optuna.trial.TrialState.FAIL)
            exhausted.add(family.name)
            if not any(t.family.name == family.name for t in self.trials):
                self.trials.append(trial)
                trial.status = (f"skipped: needs ~{sum(estimates):.0f} s, "
                                f"{max(self._left() - self._reserve(), 0):.0f} s left")
                self._say(f"[{trial.index}/{self.config.max_trials}] {family.label}: {trial.status}")
            return
        self.trials.append(trial)
        t0 = time.perf_counter()
        try:
            with _quiet_blas(family):
                self._fit_folds(trial, otrial, epochs, force)
            study.tell(otrial, trial.score)
        except _Pruned:
            trial.status = "pruned"
            study.tell(otrial, state=optuna.trial.TrialState.PRUNED)
        except _BudgetStop:
            trial.status = "stopped: budget"
            study.tell(otrial, state=optuna.trial.TrialState.FAIL)
            exhausted.add(family.name)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as err:  # one broken candidate must not end the search
            trial.status, trial.error = "failed", f"{type(err).__name__}: {err}"
            study.tell(otrial, state=optuna.trial.TrialState.FAIL)
            exhausted.add(family.name)
        trial.fit_seconds = time.perf_counter() - t0
        self._progress(trial)

    def _trial_estimates(self, family: Family, epochs: int) -> list[float]:
        """Seconds per fit of one trial (one per fold), rows embedded by earlier folds counted once."""
        saved = set(self._encoded.get(family.name, set()))
        estimates = []
        for fit_rows, held in self.folds or [(None, None)]:
            fit_ids, scored_ids = self._fold_ids(family, fit_rows, held, epochs)
            estimates.append(self.cost.estimate(family, self._units(family, fit_ids, scored_ids, epochs,
                                                                    remember=True)))
        self._encoded[family.name] = saved
        return estimates

    def _fold_estimate(self, family: Family, fit_rows, held, epochs: int) -> float:
        fit_ids, scored_ids = self._fold_ids(family, fit_rows, held, epochs)
        return self.cost.estimate(family, self._units(family, fit_ids, scored_ids, epochs))

    def _fold_ids(self, family: Family, fit_rows, held, epochs: int) -> tuple[np.ndarray, np.ndarray]:
        """Row ids a fit trains on and scores: training rows are 0..n-1, validation rows n..n+m-1.
        On the validation protocol (`fit_rows` None) a neural model scores validation after every
        epoch (early stopping) and once more for the leaderboard."""
        if fit_rows is not None:
            return np.asarray(fit_rows), np.asarray(held)
        validation_ids = len(self._train) + np.arange(len(self._validation))
        return np.arange(len(self._train)), np.tile(validation_ids, (epochs + 1) if _is_neural(family) else 1)

    def _units(self, family: Family, fit_ids: np.ndarray, scored_ids: np.ndarray, epochs: int,
               remember: bool = False) -> float:
        """Work of one fit: rows x epochs trained plus rows scored. An encode-once family (the
        frozen-embedding model caches each text's vector) pays mostly for rows it has not embedded
        yet, plus a little per row for its classifier. `remember` marks the rows as embedded."""
        if family.type != "embedding":
            return float(len(fit_ids) * max(1, epochs) + len(scored_ids))
        seen = self._encoded.setdefault(family.name, set())
        rows = set(np.asarray(fit_ids).tolist()) | set(np.asarray(scored_ids).tolist())
        units = len(rows - seen) + 0.05 * (len(fit_ids) + len(scored_ids))
        if remember:
            seen |= rows
        return float(units)

    def _fit_folds(self, trial: Trial, otrial, epochs: int, force: bool) -> None:
        multi = self.label_map.multi_label
        k = len(self.label_map)
        if self.folds:
            probs = np.full((len(self._train), k), np.nan)
            for f, (fit_rows, held) in enumerate(self.folds):
                # the estimate uses the rate measured on this trial's earlier folds
                if not force and self._fold_estimate(trial.family, fit_rows, held, epochs) > \
                        self._left() - self._reserve():
                    raise _BudgetStop()
                t0 = time.perf_counter()
                model = self._new_model(trial.config, trial.training)
                model.fit(self._train.subset(fit_rows), self._train_targets[fit_rows], None, None, None)
                logits = np.asarray(model.logits(self._train.subset(held).texts))
                self._check_width(logits, k)
                self.cost.observe(trial.family, self._units(trial.family, fit_rows, held, epochs, remember=True),
                                  time.perf_counter() - t0)
                probs[held] = probabilities(logits, multi)
                trial.fold_scores.append(score(self._train_targets[held], probs[held], multi, self.metric))
                if len(self.folds) > 1:
                    otrial.report(float(np.mean(trial.fold_scores)), f)
                    if f < len(self.folds) - 1 and otrial.should_prune():
                        trial.score = float(np.mean(trial.fold_scores))
                        raise _Pruned()
            trial.probs = probs[self.eval_rows]
        else:
            t0 = time.perf_counter()
            model = self._new_model(trial.config, trial.training)
            model.fit(self._train, self._train_targets, self._validation, self._validation_targets, None)
            logits = np.asarray(model.logits(self._validation.texts))
            self._check_width(logits, k)
            self.cost.observe(trial.family,
                              self._units(trial.family, *self._fold_ids(trial.family, None, None, epochs), epochs,
                                          remember=True),
                              time.perf_counter() - t0)
            trial.probs = probabilities(logits, multi)
            trial.model = model
        trial.score = score(self.eval_targets, trial.probs, multi, self.metric)
        trial.interval = score_interval(self.eval_targets, trial.probs, multi, self.metric,
                                        self.config.bootstrap_resamples, self.seed)
        trial.status = "complete"
        if not self.refit:  # keep fitted models only for the trials an ensemble may use
            ranked = sorted((t for t in self.trials if t.status == "complete"), key=lambda t: -t.score)
            leaders = ensemble_pool(ranked, max(1, self.config.ensemble_size))
            for t in self.trials:
                if t not in leaders:
                    t.model = None

    @staticmethod
    def _check_width(logits: np.ndarray, k: int) -> None:
        if logits.ndim != 2 or logits.shape[1] != k:
            raise ModelError(f"candidate returned logits of shape {logits.shape}, expected (n, {k}) "
                             "(a class missing from a fold's training rows?)")

    def _progress(self, trial: Trial) -> None:
        head = f"[{trial.index}/{self.config.max_trials}] {trial.family.label}"
        settings = describe(trial.params) if trial.family.fixed is None else ""
        if settings:
            head += f" {settings}"
        left = f"{max(self._left(), 0):.0f} s left"
        if trial.status == "complete":
            body = f"{self._score_name()} {trial.score:.3f}"
        elif trial.status == "pruned":
            body = f"pruned after fold {len(trial.fold_scores)} ({_METRIC_NAMES[self.metric]} {trial.score:.3f})"
        else:
            body = trial.status + (f" ({trial.error})" if trial.error else "")
        self._say(f"{head}: {body} ({trial.fit_seconds:.1f} s, {left})")

    def _print_leaderboard(self, elapsed: float, budget: float) -> None:
        out = self.log or sys.stderr
        print(f"textclf: auto leaderboard ({self.protocol}, {_METRIC_NAMES[self.metric]}; "
              f"{elapsed:.0f} s of {budget:.0f} s):", file=out)
        for rank, row in enumerate(self.leaderboard[:15], 1):
            score_text = "-" if row["score"] is None else f"{row['score']:.4f}"
            interval = row.get("interval")
            interval_text = f"[{interval[0]:.3f}, {interval[1]:.3f}]" if interval else ""
            mark = "*" if row.get("selected") else " "
            settings = row["settings"]
            settings_text = describe(settings) if row["candidate"] != "ensemble" else (
                " + ".join(f"{w:g}x{m}" for m, w in zip(settings["members"], settings["weights"])))
            print(f"  {mark}{rank:>2} {row['candidate']:<12} {score_text:>7} {interval_text:<17} "
                  f"{row['fit_seconds']:>7.1f} s  {row['status']:<10} {settings_text}", file=out)
        if len(self.leaderboard) > 15:
            print(f"     ... {len(self.leaderboard) - 15} more in {LEADERBOARD_FILE}", file=out)
        out.flush()

    # -- persistence: only for an AutoModel that the classifier did not swap for its choice -------
    def save(self, directory: Path) -> None:
        config, model = self.choice if self.choice is not None else (None, None)
        if model is None:
            raise ModelError("model.type auto has not chosen a model yet: call fit()")
        target = Path(directory) / SELECTED_DIR
        target.mkdir(parents=True, exist_ok=True)
        model.save(target)
        write_json(Path(directory) / "auto.json", {
            "selected": config.model_dump(mode="json"),
            "training": getattr(model, "training", self.training).model_dump(mode="json")})
        if self.leaderboard:
            write_json(Path(directory) / LEADERBOARD_FILE, _leaderboard_document(getattr(self, "summary", {})))

    @classmethod
    def load(cls, directory: Path, config: AutoConfig, label_map: LabelMap, training: TrainingConfig,
             seed: int) -> AutoModel:
        from . import model_class

        model = cls(config, label_map, training, seed)
        state_path = Path(directory) / "auto.json"
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"{state_path}: missing; this auto model was saved before a choice was made") from None
        chosen_config = member_config(state["selected"], "auto.selected")
        chosen_training = validate(TrainingConfig, state.get("training") or training.model_dump(),
                                   str(state_path), prefix="training")
        chosen = model_class(chosen_config.type).load(Path(directory) / SELECTED_DIR, chosen_config, label_map,
                                                      chosen_training, seed)
        model.choice = (chosen_config, chosen)
        return model


def _leaderboard_document(summary: dict) -> dict:
    document = {k: v for k, v in summary.items() if k != "leaderboard"}
    document["candidates"] = summary.get("leaderboard", [])
    return document


def _quiet_blas(family: Family):
    """One BLAS thread while a TF-IDF candidate fits: L-BFGS on sparse features gains nothing
    from BLAS threads, and on busy shared cores their spinning made a 2,000-row fit 10x slower
    (0.7 s vs 4.6-7.9 s measured), which would wreck the budget's estimates."""
    if family.type != "tfidf":
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _is_neural(family: Family) -> bool:
    return family.type in ("bag", "rnn", "cnn", "transformer", "pretrained")


def _cuda_available(families: list[Family]) -> bool:
    if not any(_is_neural(f) or f.type == "embedding" for f in families):
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def _restore_progress(model, training: TrainingConfig) -> None:
    """Candidates train without progress bars; the kept model carries the user's setting again."""
    own = getattr(model, "training", None)
    if isinstance(own, TrainingConfig) and own.progress != training.progress:
        model.training = own.model_copy(update={"progress": training.progress})
    for member in getattr(model, "members", []) or []:
        _restore_progress(member, training)
