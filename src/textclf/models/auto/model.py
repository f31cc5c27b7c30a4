"""`model.type: auto`: a budgeted search over model families, then the best model or an ensemble.

    model: {type: auto, time_budget: 600}                # seconds for the whole fit (or 10m, 1h)
    model: {type: auto, time_budget: 2m, candidates: [tfidf_word, tfidf_char, bag, {type: tfidf, C: 8}]}

Keys (AutoConfig): time_budget, candidates (family names from models/auto/search.py or fixed model
configs; default: every family, embedding_mpnet where that encoder is installed), metric, cv_folds
(5), cv_max_rows (5000), cv_repeats (3), max_trials (40), ensemble_size (5; 0 or 1: never
ensemble), pretrained (encoder of the embedding and fine-tune candidates, default minilm),
bootstrap_resamples (200).

How it decides (all of it on the training split, or on the validation split for large data; the
test split never reaches `fit`):

1. Protocol. Under `cv_max_rows` (5,000) training rows: stratified k-fold cross-validation on the
   training split (group k-fold when the examples carry groups; k = `cv_folds`), repeated
   `cv_repeats` times with a new shuffle each (seed + repeat). When the first three candidates'
   first trials would eat over a third of the budget, fewer repeats, then k = 3. TF-IDF and
   embedding candidates run every repeat (an embedding is computed once per text, so a repeat
   costs a logistic regression); neural families run the first repeat only. Larger data: each
   candidate is fitted on the training split and scored on the validation split (with no
   validation split, on a stratified 10% of training held out, and the choice is refitted).
2. Candidates (models/auto/search.py). First pass: TF-IDF word, TF-IDF word+char, frozen MiniLM
   embedding + LR (and fixed candidates) before anything else, then the costly frozen encoders
   (mpnet), then the neural families (bag, CNN, GRU, MiniLM fine-tune). Each family's first trial
   runs its known-good defaults; the budget left after the pass goes to more Optuna trials (seeded
   TPE) of the families whose best score is close to the leader's. Within a family, a median
   pruner stops a trial after a fold whose running score falls below the median of earlier
   trials at that fold.
3. Cost. Before every trial and fold, its seconds are estimated (rows x epochs x the family's rate:
   a prior, scaled by the measured slowness). Each trial has a time cap: a cheap family's first
   trial and every later trial may use what is left of the budget minus the time reserved to refit
   the leaders; a neural or costly family's first trial an even share of that among those still
   waiting. A neural trial's epochs are cut (to a quarter at least) so that its estimate fits the
   cap; one that still exceeds it is scored on a 2-fold split of the same rows instead when those
   two fits and its refit fit the cap (leaderboard `scored_on`; it is then compared with the
   others on the same rows but never paired fold by fold), else skipped, its reason on the
   leaderboard. A fold
   is started only when the rest of its cv repeat fits the cap and the budget (a TF-IDF or
   embedding trial keeps the whole repeats it finished), and a running neural or costly fit is
   stopped at its cap (a SIGALRM timer in the main thread: budget.hard_stop). The search's first
   candidate is never skipped or stopped, so there is always a model.
4. Score: macro-F1 for single-label tasks, micro-F1 for multi-label ones (argmax / 0.5
   decisions; thresholds are tuned after fit, as for any model): the mean over cv repeats of the
   out-of-fold score, with the per-fold spread, a corrected standard error and a 95% bootstrap
   interval over the scored rows. `metric` overrides it.
5. Choice (choice.py). The cheapest candidate within noise of the best mean: the gap is at most
   one standard error of the paired per-fold differences (the same folds; Nadeau-Bengio corrected
   for overlapping training rows). Then Caruana-style greedy forward selection with replacement
   over the best `ensemble_size` trials (each family's best first, for diversity), maximising the
   metric of the out-of-fold (or validation) probabilities averaged over repeats, ties broken by
   log loss; the mix is kept only when it beats the best single candidate on the same rows, also
   with weights chosen on other rows. When it is not, the best trials of the two best families,
   averaged with equal weights, are kept if they beat the best single candidate on the same rows
   (no weights are fitted to them). Chosen models are refitted on the whole training split
   (validation available for early stopping, as usual) when scored by cross-validation or a
   holdout.

The result: `selected()` returns (config, fitted model) of the choice, an ordinary model type or
an `ensemble` (models/ensemble.py), which the TextClassifier saves in place of `auto`. `fit`
returns a summary with the leaderboard (candidate, settings, score = the mean over repeats,
repeat_scores, fold_scores, spread, std_error, repeats, interval, fit seconds, time_cap, epochs
when cut, status, why) and writes `leaderboard.json` into `workdir`; one progress line per candidate goes to
stderr. The whole fit aims to end within the budget (+10% at most).

The parts live beside this module in models/auto/ (see its __init__); this module runs them in
order and answers for the chosen model.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from ...config import TrainingConfig
from ...data import Examples, LabelMap
from ...errors import ConfigError, ModelError
from ...fileio import write_json
from ..base import Capabilities, ExportView, GradientAttributionView, LinearAttributionView, ModelBase
from ..ensemble import EnsembleModel
from ..members import load_member, member_config, save_member
from .budget import Budget, CostModel, cheap_first, is_neural, quiet_blas
from .choice import Choice, choose_model, greedy_ensemble
from .config import AutoConfig, parse_duration
from .leaderboard import (LEADERBOARD_FILE, METRIC_NAMES, leaderboard_json, leaderboard_rows, print_leaderboard,
                          trial_row, unavailable_row)
from .protocol import choose_protocol, holdout_split, make_folds, score, score_interval
from .search import Family, candidate_families
from .trials import MIN_TRIALS, Trial, TrialRunner, ensemble_pool

__all__ = ["AutoConfig", "AutoModel", "CostModel", "LEADERBOARD_FILE", "MIN_TRIALS", "SELECTED_DIR", "Trial",
           "ensemble_pool", "greedy_ensemble", "holdout_split", "make_folds", "parse_duration", "score",
           "score_interval"]

SELECTED_DIR = "selected"  # only when an unswapped AutoModel itself is saved (see AutoModel.save)
STATE_FILE = "auto.json"  # {"selected": the chosen config, "training": its training settings}


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
        self.summary: dict | None = None  # what `fit` returned

    # -- the protocol answers --------------------------------------------------------------------
    def selected(self) -> tuple[BaseModel, Any] | None:
        return self.choice

    def _chosen(self):
        if self.choice is None:
            raise ModelError("model.type auto has not chosen a model yet: call fit()")
        return self.choice[1]

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        return self._chosen().logits(texts)

    # Before a choice the model can do nothing but fail; after, it answers as the chosen model.
    def capabilities(self) -> Capabilities:
        return self.choice[1].capabilities() if self.choice is not None else Capabilities()

    def attribution_view(self) -> LinearAttributionView | GradientAttributionView | None:
        return self.choice[1].attribution_view() if self.choice is not None else None

    def export_view(self) -> ExportView | None:
        return self.choice[1].export_view() if self.choice is not None else None

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

    # -- fitting -----------------------------------------------------------------------------------
    def fit(self, train: Examples, train_targets: np.ndarray, validation: Examples | None = None,
            validation_targets: np.ndarray | None = None, workdir: Path | None = None,
            resume: bool = False) -> dict:
        """1. protocol, 2. search, 3. choice (one trial or an ensemble), 4. final models, 5. leaderboard."""
        if resume:
            raise ConfigError("model.type 'auto' cannot resume: run the search again")
        started = time.perf_counter()
        families, unavailable = candidate_families(self.config.candidates)
        families = cheap_first(families)
        self.budget = Budget(float(self.config.time_budget), started, _cuda_available(families), len(train),
                             None if validation is None else len(validation), train.texts)
        self.cost = self.budget.cost
        train_targets = np.asarray(train_targets)
        protocol = choose_protocol(train, train_targets, validation, validation_targets, families, self.budget,
                                   self.config.cv_folds, self.config.cv_max_rows, self.label_map.multi_label,
                                   self.seed, self.config.cv_repeats)
        self.folds, self.protocol, self.refit = protocol.folds, protocol.name, protocol.refit
        self.cv_repeats = protocol.repeats  # `folds` holds k per repeat, repeat after repeat
        self.eval_rows, self.eval_targets = protocol.eval_rows, protocol.eval_targets
        self._say(f"{len(train)} training rows, {self.protocol}, {METRIC_NAMES[self.metric]}, "
                  f"budget {self.budget.seconds:.0f} s, candidates: {', '.join(f.name for f in families)}")

        runner = TrialRunner(self.config, self.label_map, self.training, self.seed, self.metric, protocol,
                             self.budget, train, train_targets, validation, validation_targets, self._say)
        self.trials = runner.trials
        runner.run(families)
        choice = choose_model(runner)
        refit_seconds = self._fit_choice(runner, choice)
        return self._report(choice, refit_seconds, [unavailable_row(f) for f in unavailable], started, workdir)

    def _fit_choice(self, runner: TrialRunner, choice: Choice) -> float:
        """Sets `choice` to the chosen model(s), refitted on the whole training split when scored by
        cv / holdout (a validation-protocol model is kept unless dropped); the refit seconds."""
        refit_seconds = 0.0
        fitted = []
        for trial in choice.members:
            if self.refit or trial.model is None:
                t0 = time.perf_counter()
                model = runner.new_model(trial.config, trial.training)
                with quiet_blas(trial.family):
                    model.fit(runner.train, runner.train_targets, runner.validation, runner.validation_targets, None)
                seconds = time.perf_counter() - t0
                refit_seconds += seconds
                self._say(f"refit {trial.family.label} #{trial.index} on {len(runner.train)} rows ({seconds:.1f} s, "
                          f"{max(self.budget.left(), 0):.0f} s left)")
            else:
                model = trial.model
            _restore_progress(model, self.training)
            fitted.append((trial.config, model))
        if len(fitted) == 1:
            self.choice = fitted[0]
        else:
            ensemble = EnsembleModel.from_fitted(fitted, choice.weights, self.label_map, self.training, self.seed)
            self.choice = (ensemble.config, ensemble)
        for t in self.trials:  # free the models that were not chosen
            t.model = None
        return refit_seconds

    def _report(self, choice: Choice, refit_seconds: float, skipped_rows: list[dict], started: float,
                workdir: Path | None) -> dict:
        """The leaderboard and the summary `fit` returns: printed, and written into `workdir`."""
        self.leaderboard = leaderboard_rows([trial_row(t) for t in self.trials], [t.index for t in choice.members],
                                            choice.mix_rows, refit_seconds, skipped_rows, choice.notes)
        elapsed = time.perf_counter() - started
        summary = {
            "protocol": self.protocol, "metric": self.metric, "time_budget": self.budget.seconds,
            "elapsed_seconds": round(elapsed, 3), "trials": len(self.trials),
            "selected": {"type": self.choice[0].type,
                         "candidates": [f"{t.family.name}#{t.index}" for t in choice.members],
                         "weights": [round(float(x), 4) for x in choice.weights],
                         "score": round(choice.score, 6),
                         "refit": self.refit,
                         "why": (choice.notes or {}).get(choice.members[0].index, "the best score")
                         if len(choice.members) == 1 else
                         f"the ensemble ({_kept_mix(choice)}) beat the best single candidate"},
            "leaderboard": self.leaderboard,
        }
        print_leaderboard(self.leaderboard, self.protocol, self.metric, elapsed, self.budget.seconds,
                          self.log or sys.stderr)
        document = leaderboard_json(summary)
        if workdir is not None and document is not None:
            write_json(Path(workdir) / LEADERBOARD_FILE, document)
        self.summary = summary
        return summary

    # -- persistence: only for an AutoModel that the classifier did not swap for its choice -------
    def save(self, directory: Path) -> None:
        if self.choice is None:
            raise ModelError("model.type auto has not chosen a model yet: call fit()")
        config, model = self.choice
        record = save_member(model, config, Path(directory) / SELECTED_DIR, self.training)
        write_json(Path(directory) / STATE_FILE, {"selected": record["config"], "training": record["training"]})
        document = leaderboard_json(self.summary)
        if document is not None:
            write_json(Path(directory) / LEADERBOARD_FILE, document)

    @classmethod
    def load(cls, directory: Path, config: AutoConfig, label_map: LabelMap, training: TrainingConfig,
             seed: int) -> AutoModel:
        model = cls(config, label_map, training, seed)
        state_path = Path(directory) / STATE_FILE
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"{state_path}: missing; this auto model was saved before a choice was made") from None
        chosen_config = member_config(state["selected"], "auto.selected")
        chosen, _ = load_member(Path(directory) / SELECTED_DIR, chosen_config, state, label_map, training, seed,
                                state_path, "auto")
        model.choice = (chosen_config, chosen)
        return model


def _kept_mix(choice: Choice) -> str:
    return next(row["mix"] for row in choice.mix_rows if row["status"] == "kept")


def _cuda_available(families: list[Family]) -> bool:
    if not any(is_neural(f) or f.type == "embedding" for f in families):
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
