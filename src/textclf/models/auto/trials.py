"""The trials of `model.type: auto`: one seeded Optuna study per family (its first trial the
family's defaults), each trial fitted fold by fold within the budget and pruned by the median of
earlier trials, and which family to tune next once every family has had its first trial."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import BaseModel

from ...config import TrainingConfig
from ...data import Examples, LabelMap
from ...errors import ConfigError, ModelError
from ...objectives import probabilities
from ..ensemble import member_config
from .budget import (Budget, BudgetStop, TrialCapStop, cheap_first, fewest_epochs, first_pass_waiting, hard_stop,
                     is_neural, quiet_blas, shares_time)
from .config import AutoConfig
from .leaderboard import METRIC_NAMES, progress_line
from .protocol import Protocol, score, score_interval
from .search import Family, long_texts
from .trial import Trial, ensemble_pool

MIN_TRIALS = 3  # trials every family gets (budget allowing) before only the close ones are tuned


class _Pruned(Exception):
    pass


class TrialRunner:
    """Runs the trials of one search on one protocol within one budget; `trials` in launch order."""

    def __init__(self, config: AutoConfig, label_map: LabelMap, training: TrainingConfig, seed: int, metric: str,
                 protocol: Protocol, budget: Budget, train: Examples, train_targets: np.ndarray,
                 validation: Examples | None, validation_targets: np.ndarray | None,
                 say: Callable[[str], None]) -> None:
        self.config, self.label_map, self.training, self.seed = config, label_map, training, seed
        self.metric, self.protocol, self.budget, self.say = metric, protocol, budget, say
        self.train, self.train_targets = train, train_targets
        self.validation, self.validation_targets = validation, validation_targets
        self.trials: list[Trial] = []
        self._studies: dict[str, Any] = {}
        self._exhausted: set[str] = set()  # families not to try again
        self.long_texts = long_texts(train.texts)

    @property
    def score_name(self) -> str:
        return f"{self.protocol.name} {METRIC_NAMES[self.metric]}"

    def ranked(self) -> list[Trial]:
        """The complete trials, best first."""
        return sorted((t for t in self.trials if t.status == "complete"), key=lambda t: -t.score)

    def run(self, families: list[Family]) -> None:
        """One pass (every family's defaults; TF-IDF and embeddings before any neural family, each
        neural first trial capped at an even share of the time left among the neural families
        still waiting), then more trials of the close families, each capped at all the time left."""
        families = cheap_first(families)
        for i, family in enumerate(families):
            if len(self.trials) >= self.config.max_trials:
                break
            force = not any(t.status == "complete" for t in self.trials)  # there must be a model
            self._run_trial(family, force=force, waiting=first_pass_waiting(family, families[i:]))
        self._second_chance(families)
        if not any(t.status == "complete" for t in self.trials):
            errors = "; ".join(f"{t.family.name}: {t.error}" for t in self.trials if t.error)
            raise ModelError(f"model.type auto: no candidate could be fitted ({errors or 'budget too small'})")
        while len(self.trials) < self.config.max_trials:
            family = self._next_family(families)
            if family is None:
                break
            self._run_trial(family, force=False)

    def _second_chance(self, families: list[Family]) -> None:
        """Families skipped in the first pass for want of their share get one more try, in the same
        order and sharing rule, with the time the faster families left (a 50-epoch bag planned at
        60 s may take 7): on 586 long reviews the mpnet candidate was skipped needing ~70 s of a
        ~50 s share, and 120 s went unused at the end."""
        statuses = {f.name: [t.status for t in self.trials if t.family is f] for f in families}
        skipped = [f for f in families if len(statuses[f.name]) == 1 and statuses[f.name][0].startswith("skipped")]
        for i, family in enumerate(skipped):
            if len(self.trials) >= self.config.max_trials:
                break
            first = next(t for t in self.trials if t.family is family)
            self._exhausted.discard(family.name)
            self._study(family).enqueue_trial(self._defaults(family))  # its known-good settings again
            tried = len(self.trials)
            self._run_trial(family, force=False, waiting=first_pass_waiting(family, skipped[i:]))
            if len(self.trials) > tried:
                first.status = f"{first.status}; run later as trial {self.trials[-1].index}"

    def new_model(self, config: BaseModel, training: TrainingConfig):
        from .. import model_class

        return model_class(config.type)(config, self.label_map, training, self.seed)

    def _reserve(self) -> float:
        """Seconds kept back for what follows the search: refitting the leaders, ensembling. With
        ensembles on, the two best families' leaders in full (the family-leaders mix needs both;
        with half of the second reserved, a mix with the MiniLM fine-tune could never be refitted),
        and half of the next best."""
        reserve = 0.5 + 0.02 * self.config.time_budget
        if self.protocol.refit:
            complete = self.ranked()
            refit = [self.budget.refit_estimate(t.family, t.training) for t in
                     (ensemble_pool(complete, 3) if self.config.ensemble_size >= 2 else complete[:1])]
            reserve += sum(refit[:2]) + 0.5 * sum(refit[2:])
        return reserve

    def _next_family(self, families: list[Family]) -> Family | None:
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
                if f.name in best_of and f.name not in self._exhausted
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
            defaults = self._defaults(family)
            if defaults:
                study.enqueue_trial(defaults)
            self._studies[family.name] = study
        return self._studies[family.name]

    def _defaults(self, family: Family) -> dict[str, Any]:
        """A family's first-trial parameters, class_weight following the run's own setting."""
        defaults = dict(family.defaults)
        if "class_weight" in defaults and not isinstance(self.training.class_weight, dict):
            defaults["class_weight"] = "balanced" if self.training.class_weight == "balanced" else "none"
        return defaults

    def _candidate(self, family: Family, trial) -> tuple[BaseModel, TrainingConfig, int]:
        """Config, training settings and epochs of one trial's model."""
        from ...plan import with_type_defaults
        from .. import model_class

        context = {"multi_label": self.label_map.multi_label, "class_weight": self.training.class_weight,
                   "pretrained": self.config.pretrained, "train_rows": len(self.train),
                   "long_texts": self.long_texts}
        model_values, overrides = family.suggest(trial, context)
        cls = model_class(model_values["type"])
        config = member_config(model_values, "model.candidates")
        # The type's defaults (the plan's rule); size-aware ones only where the search sets no epochs
        rows = len(self.train) if family.sized_training else None
        training = with_type_defaults(config, self.training, rows).model_copy(update={**overrides, "progress": False})
        probe = cls(config, self.label_map, training, self.seed)  # stores parameters only
        effective = probe.training_settings() or training
        epochs = effective.epochs if is_neural(family) else 1
        return config, training, epochs

    def _run_trial(self, family: Family, force: bool, waiting: int = 1) -> None:
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
            self._exhausted.add(family.name)
            self.say(f"[{trial.index}/{self.config.max_trials}] {family.label}: failed ({err})")
            return
        trial.params = dict(otrial.params)
        self.budget.reading(getattr(trial.config, "whole_documents", False))  # EmbeddingConfig's own rule
        if not self._within_cap(trial, epochs, force, waiting):
            study.tell(otrial, state=optuna.trial.TrialState.FAIL)
            self._exhausted.add(family.name)
            if not any(t.family.name == family.name for t in self.trials):
                self.trials.append(trial)
                self.say(f"[{trial.index}/{self.config.max_trials}] {family.label}: {trial.status}")
            self.budget.reading(False)
            return
        epochs = trial.training.epochs if trial.epochs_cut else epochs
        self.trials.append(trial)
        trial.started = self.budget.seconds - self.budget.left()
        t0 = time.perf_counter()
        try:
            with quiet_blas(family):
                self._fit_folds(trial, otrial, epochs, force)
            study.tell(otrial, trial.score)
        except _Pruned:
            trial.status = "pruned"
            study.tell(otrial, state=optuna.trial.TrialState.PRUNED)
        except TrialCapStop:
            trial.status = f"stopped: past its ~{trial.cap_seconds:.0f} s cap"
            study.tell(otrial, state=optuna.trial.TrialState.FAIL)
            self._exhausted.add(family.name)
        except BudgetStop:
            trial.status = "stopped: budget"
            study.tell(otrial, state=optuna.trial.TrialState.FAIL)
            self._exhausted.add(family.name)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as err:  # one broken candidate must not end the search
            trial.status, trial.error = "failed", f"{type(err).__name__}: {err}"
            study.tell(otrial, state=optuna.trial.TrialState.FAIL)
            self._exhausted.add(family.name)
        trial.fit_seconds = time.perf_counter() - t0
        self.budget.reading(False)
        self.say(progress_line(trial, self.config.max_trials, self.score_name, self.metric, self.budget.left(),
                               self.protocol.repeats))

    def _within_cap(self, trial: Trial, epochs: int, force: bool, waiting: int) -> bool:
        """Sets the trial's time cap (an even share of the time left among the `waiting` families,
        itself included), its folds, and cuts a neural trial's epochs to fit the cap; False (status:
        why) when its first cv repeat would not fit, even at a quarter of a neural trial's epochs,
        nor (`_coarse_fits`) a 2-fold repeat. The search's first model is never skipped: only its
        epochs are cut to fit all the time left."""
        family = trial.family
        trial.folds, trial.folds_per_repeat = self.protocol.folds_for(family), self.protocol.folds_per_repeat
        folds = trial.folds[: trial.folds_per_repeat or None]  # one repeat must fit; more are kept if they do
        available = max(self.budget.left() - self._reserve(), 0.0)
        cap = available if force else available / max(1, waiting)
        used = self.budget.epochs_within(family, epochs, folds, cap)
        if force:
            used = max(used, fewest_epochs(epochs))
        else:
            trial.cap_seconds = cap
            needs = sum(self.budget.trial_estimates(family, used or fewest_epochs(epochs), folds))
            if used == 0 or needs > cap:
                if self._coarse_fits(trial, epochs, cap):
                    return True
                trial.status = (f"skipped: needs ~{needs:.0f} s, its share is ~{cap:.0f} s "
                                f"of {available:.0f} s left")
                return False
        if used < epochs:
            trial.epochs_cut = (epochs, used)
            trial.training = trial.training.model_copy(update={"epochs": used})
        return True

    def _coarse_fits(self, trial: Trial, epochs: int, cap: float) -> bool:
        """Whether a neural trial whose k-fold repeat does not fit its cap is scored on the
        protocol's 2-fold split instead: when those two fits at the planned epochs, plus its refit
        on every training row should it be chosen, fit the cap (its score: `_on_search_scale`).
        Skipping it instead left the MiniLM fine-tune out of every tweets search (~712 s for 5
        folds, ~460 s left), where it alone beat auto's choice on test on two seeds of three."""
        family, coarse = trial.family, self.protocol.coarse_folds
        if not coarse or not is_neural(family):
            return False
        refit = self.budget.refit_estimate(family, trial.training)
        if sum(self.budget.trial_estimates(family, epochs, coarse)) + refit > cap:
            return False
        trial.folds, trial.folds_per_repeat, trial.coarse = coarse, len(coarse), True
        trial.cap_seconds = cap - refit  # a trial that overruns its estimate must not eat its own refit
        return True

    def _fit_folds(self, trial: Trial, otrial, epochs: int, force: bool) -> None:
        """Fits and scores `trial` on the protocol: its probabilities, score and interval."""
        multi = self.label_map.multi_label
        eval_targets = self.protocol.eval_targets
        if self.protocol.folds:
            self._fit_cross_validated(trial, otrial, epochs, force)
            trial.score = float(np.mean(trial.repeat_scores))  # the mean over whole cv repeats
        else:
            self._fit_on_validation(trial, epochs)
            trial.score = score(eval_targets, trial.probs, multi, self.metric)
        trial.interval = score_interval(eval_targets, trial.probs, multi, self.metric,
                                        self.config.bootstrap_resamples, self.seed)
        if trial.coarse:
            self._on_search_scale(trial)
        trial.status = "complete"
        if not self.protocol.refit:  # keep fitted models only for the trials an ensemble may use
            leaders = ensemble_pool(self.ranked(), max(1, self.config.ensemble_size))
            for t in self.trials:
                if t not in leaders:
                    t.model = None

    def _fit_cross_validated(self, trial: Trial, otrial, epochs: int, force: bool) -> None:
        """Out-of-fold probabilities of the scored training rows, fold by fold and repeat by repeat
        (`probs`: their mean over repeats; `repeat_scores`: each repeat's score). A fold that would
        overrun the budget or the trial's cap is not started: the trial keeps its whole repeats
        done so far, or stops; a running score below the median prunes it."""
        multi, k = self.label_map.multi_label, len(self.label_map)
        folds, per_repeat = trial.folds, trial.folds_per_repeat
        eval_rows, eval_targets = self.protocol.eval_rows, self.protocol.eval_targets
        probs = np.full((len(self.train), k), np.nan)
        repeat_probs: list[np.ndarray] = []
        started = time.perf_counter()
        for f, (fit_rows, held) in enumerate(folds):
            stop = None if force else self._stop_before(trial, f, epochs, time.perf_counter() - started)
            if stop is not None:
                if repeat_probs:
                    break
                raise stop
            stopper = self._hard_stop(trial, time.perf_counter() - started)
            probs[held] = self._fold_probabilities(trial, fit_rows, held, epochs, stopper)
            trial.fold_scores.append(score(self.train_targets[held], probs[held], multi, self.metric))
            if (f + 1) % per_repeat == 0:
                repeat_probs.append(probs[eval_rows].copy())
                trial.repeat_scores.append(score(eval_targets, repeat_probs[-1], multi, self.metric))
            if len(folds) > 1 and not trial.coarse:  # other folds than the study's other trials
                otrial.report(float(np.mean(trial.fold_scores)), f)
                if f < len(folds) - 1 and otrial.should_prune():
                    trial.score = float(np.mean(trial.fold_scores))
                    raise _Pruned()
        del trial.fold_scores[len(repeat_probs) * per_repeat:]  # a repeat cut short is not scored
        trial.repeat_probs, trial.probs = repeat_probs, np.mean(repeat_probs, axis=0)

    def _on_search_scale(self, trial: Trial) -> None:
        """Puts a coarse trial's score on the k-fold scale: the leader (the best complete k-fold
        trial of a non-neural family, cheap to refit) is scored on the same two folds, and the
        trial's `score` (and interval) becomes the leader's k-fold score plus their paired
        difference there. Its raw 2-fold score set against the others' k-fold ones understates it
        (each fit sees half the rows, not four fifths), most for a fine-tune, whose learning curve
        is the steepest. Without such a leader, or time for it, the raw score stays."""
        trial.coarse_score = trial.score
        leaders = [t for t in self.ranked() if not t.coarse and not is_neural(t.family)]
        if not leaders:
            return
        leader, folds = leaders[0], trial.folds
        self.budget.reading(getattr(leader.config, "whole_documents", False))
        try:
            if sum(self.budget.trial_estimates(leader.family, 1, folds)) > self.budget.left() - self._reserve():
                return
            scores, probs = self._refit_on(leader, folds)
        finally:
            self.budget.reading(False)
        multi, eval_rows = self.label_map.multi_label, self.protocol.eval_rows
        on_coarse = score(self.protocol.eval_targets, probs[eval_rows], multi, self.metric)
        leader.split_scores[len(folds)] = scores
        trial.compared_with = (leader.index, on_coarse)
        shift = leader.score - on_coarse
        trial.score = trial.coarse_score + shift
        if trial.interval:
            trial.interval = [round(float(v) + shift, 6) for v in trial.interval]
        self.say(f"{trial.family.label}: {trial.coarse_score:.3f} on 2 folds, {leader.family.label} "
                 f"#{leader.index} {on_coarse:.3f} on the same folds: {trial.score:.3f} on the "
                 f"{self.score_name} scale")

    def _refit_on(self, trial: Trial, folds: list[tuple[np.ndarray, np.ndarray]]) -> tuple[list[float], np.ndarray]:
        """A complete (non-neural) trial's settings fitted on other folds: its per-fold scores and
        out-of-fold probabilities (rows never held out stay NaN)."""
        multi = self.label_map.multi_label
        probs = np.full((len(self.train), len(self.label_map)), np.nan)
        scores = []
        with quiet_blas(trial.family):
            for fit_rows, held in folds:
                probs[held] = self._fold_probabilities(trial, fit_rows, held, 1)
                scores.append(score(self.train_targets[held], probs[held], multi, self.metric))
        return scores, probs

    def _fold_probabilities(self, trial: Trial, fit_rows: np.ndarray, held: np.ndarray, epochs: int,
                            stopper=None) -> np.ndarray:
        """One fit of `trial`'s settings on training rows `fit_rows` (inside `stopper`, a hard stop),
        its probabilities of the `held` rows; the budget observes the fit's seconds."""
        t0 = time.perf_counter()
        model = self.new_model(trial.config, trial.training)
        with stopper or hard_stop(None):
            model.fit(self.train.subset(fit_rows), self.train_targets[fit_rows], None, None, None)
            logits = np.asarray(model.logits(self.train.subset(held).texts))
        _check_width(logits, len(self.label_map))
        self.budget.observe(trial.family, fit_rows, held, epochs, time.perf_counter() - t0)
        return probabilities(logits, self.label_map.multi_label)

    def _stop_before(self, trial: Trial, f: int, epochs: int, elapsed: float) -> BudgetStop | None:
        """Why fold `f` must not start: the rest of its repeat (this fold included, at the rate
        measured on this trial's earlier folds) would overrun the budget or the trial's cap."""
        per_repeat = trial.folds_per_repeat
        end = (f // per_repeat + 1) * per_repeat
        rest = sum(self.budget.trial_estimates(trial.family, epochs, trial.folds[f:end]))
        if rest > self.budget.left() - self._reserve():
            return BudgetStop()
        if elapsed + rest > trial.cap_seconds:
            return TrialCapStop()
        return None

    def _hard_stop(self, trial: Trial, elapsed: float):
        """A running neural (or costly) fit is stopped at its trial's cap or the budget's end (reserve
        kept), whichever is first; the search's first model (no cap) and cheap families run to the end."""
        if trial.cap_seconds is None or not shares_time(trial.family):
            return hard_stop(None)
        return hard_stop(min(trial.cap_seconds - elapsed, self.budget.left() - self._reserve()))

    def _fit_on_validation(self, trial: Trial, epochs: int) -> None:
        """One fit on the training split, scored on the validation split; the model is kept."""
        t0 = time.perf_counter()
        model = self.new_model(trial.config, trial.training)
        with self._hard_stop(trial, 0.0):
            model.fit(self.train, self.train_targets, self.validation, self.validation_targets, None)
            logits = np.asarray(model.logits(self.validation.texts))
        _check_width(logits, len(self.label_map))
        fit_ids, scored_ids = self.budget.fold_ids(trial.family, None, None, epochs)
        self.budget.observe(trial.family, fit_ids, scored_ids, epochs, time.perf_counter() - t0)
        trial.probs = probabilities(logits, self.label_map.multi_label)
        trial.model = model


def _check_width(logits: np.ndarray, k: int) -> None:
    if logits.ndim != 2 or logits.shape[1] != k:
        raise ModelError(f"candidate returned logits of shape {logits.shape}, expected (n, {k}) "
                         "(a class missing from a fold's training rows?)")
