"""TextClassifier: the one estimator users hold, whatever model type sits inside it.

It owns three things: the fitted model (texts -> logits), the label map, and the decision policy
(calibration, thresholds, min_labels) that turns logits into labels. `fit` runs the training
pipeline's model stages — the training plan (plan.py), resampling, the model's own fit, and the
decision policy fitted on validation data only — the same way for Python and the CLI; `artifacts`
is the only module that writes any of it to disk.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from pydantic import BaseModel

from .card import ModelCard
from .config import ThresholdsConfig, TrainingConfig
from .data import Examples, LabelMap
from .data.adapters import (ColumnNames, as_examples, inference_texts, pandas_index, saved_columns, scored_examples,
                            table_columns)
from .errors import ConfigError, DataError, ModelError
from .models import model_class
from .estimator_params import ClassifierParams, model_dict, inference_training
from .plan import model_and_training, resolve_plan
from .objectives import MIN_POLICY_ROWS
from .policy import DecisionPolicy

Texts = Sequence[str] | Examples


class TextclfWarning(UserWarning):
    """Something training did not do, or did differently, and why (e.g. calibration skipped)."""


def _say(log: TextIO | None, message: str, warning: bool = False) -> None:
    """A line for the CLI's log, or (from Python, where there is no log) a warning when it is one."""
    if log is not None:
        print(f"textclf: {'warning: ' if warning else ''}{message}", file=log)
    elif warning:
        warnings.warn(message, TextclfWarning, stacklevel=2)


@dataclass(frozen=True)
class FittedConfig:
    """What the fitted model really used: `save()` writes this, whatever the parameters say now."""

    model: BaseModel
    training: TrainingConfig


@dataclass(frozen=True)
class Predictions:
    """One inference result: every path (predict, streaming, HTTP) builds it the same way."""

    logits: np.ndarray  # (n, k) float32, as the model returned them
    probabilities: np.ndarray  # (n, k), calibrated when the policy has a calibration
    decisions: np.ndarray  # class ids (n,) or a 0/1 matrix (n, k)
    labels: list  # class names, or tuples of names for multi-label


class TextClassifier(ClassifierParams):
    """A scikit-learn estimator over texts: the constructor stores parameters; `fit` does the work.

    >>> clf = TextClassifier(model={"type": "tfidf"}).fit(texts, labels, validation=(val_texts, val_labels))
    >>> clf.predict(["a gripping, beautifully shot film"])

    Parameters (`get_params` / `set_params`, so `clone`, `GridSearchCV` and `Pipeline` work):
    `model` (a model config dict, `type` plus its keys; `model__C` reaches one key), `task`,
    `training` (dict or TrainingConfig; `training__epochs`), `seed`, `calibration` (a method
    fitted on validation data: temperature, platt, isotonic, or None), `thresholds` (dict or
    ThresholdsConfig: tuning on validation data, min_labels).

    Inputs: lists/tuples/arrays of strings, a pandas Series, a DataFrame or `datasets.Dataset`
    with `text_column=` (and `label_column=`, ...; by default the `text` and `label` columns where
    they exist), Examples, or a file path (data.adapters). An empty input predicts nothing.
    Fitted state: `model_`, `label_map_`, `policy_`, `card_`, `fitted_` (the frozen config that
    `save` writes), `classes_` (labels of the type given to `fit`).
    """

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, "model_", None) is not None

    # -- fitted state -------------------------------------------------------------------------
    @property
    def label_map(self) -> LabelMap | None:
        return getattr(self, "label_map_", None)

    @property
    def policy(self) -> DecisionPolicy:
        return getattr(self, "policy_", DecisionPolicy())

    @property
    def card(self) -> ModelCard:
        if getattr(self, "card_", None) is None:
            self.card_ = ModelCard()
        return self.card_

    @property
    def model_params(self) -> dict[str, Any]:
        """The model config: what the fitted model used (after `auto`, its choice), else the parameter."""
        fitted = getattr(self, "fitted_", None)
        return fitted.model.model_dump(mode="json") if fitted is not None else model_dict(self.model)

    @property
    def classes_(self) -> np.ndarray:
        """The labels, as the type given to `fit` (int, bool or str), in id order."""
        if self.label_map is None:
            raise AttributeError("classes_ exists after fit")
        values = self.label_map.user_labels
        return np.asarray(values, dtype=object) if self.label_map.kind == "str" else np.asarray(values)

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, *, validation: Any = None, text_column: str | None = None,
            label_column: str | None = None, group_column: str | None = None, time_column: str | None = None,
            id_column: str | None = None, workdir: str | Path | None = None, resume: bool = False,
            log: TextIO | None = None) -> TextClassifier:
        """Fit on `X` (texts plus `y`, or a table with `label_column=`, or Examples) and fit the
        decision policy on `validation` (the same forms, or a `(texts, labels)` pair).

        The stages: the training plan (plan.resolve_plan: defaults, class weights, resampling),
        the model's fit (`validation` serves early stopping and model choice), then calibration
        (guarded: enough rows, kept only when cross-fitted ECE improves) and thresholds, on
        validation only. `resume` continues a neural run from the checkpoint in `workdir`.
        `log` receives one line per decision (the CLI passes stderr); without it, only warnings
        surface, as TextclfWarning."""
        columns = ColumnNames(text_column, label_column, group_column, time_column, id_column)
        train = as_examples(X, y, columns=columns, multi_label=self.multi_label, need_labels=True, role="X")
        validation = self._validation(validation, columns)
        if resume and workdir is None:
            raise ConfigError("resuming needs the workdir that holds the checkpoint")
        calibration, thresholds = self.calibration_method(), self.thresholds_config()
        label_map = LabelMap.fit(train, multi_label=self.multi_label)
        self.check_policy_request(label_map, validation)
        validation_targets = label_map.encode(validation) if validation is not None else None
        plan = resolve_plan(model_dict(self.model), self.training, list(train.labels), label_map, self.seed)
        fit_rows = train if plan.rows is None else train.subset(plan.rows)
        if plan.resampled is not None:
            _say(log, f"resample {plan.training.resample.method}: {plan.resampled[0]} -> {plan.resampled[1]} "
                      "training rows")
        if plan.imbalance is not None:
            _say(log, f"class_weight balanced by default: {plan.imbalance['reason']}")
        model = model_class(plan.model.type)(plan.model, label_map, plan.training, self.seed)
        summary = model.fit(fit_rows, label_map.encode(fit_rows), validation, validation_targets,
                            Path(workdir) if workdir else None, resume=resume)
        config, training = plan.model, plan.training
        choice = model.selected()
        if choice is not None:  # `auto` chose a model: that is what gets saved and served
            config, model = choice
            training = model.training_settings() or training
        self.model_, self.label_map_, self.fitted_ = model, label_map, FittedConfig(config, training)
        self.policy_ = DecisionPolicy()
        self.card_ = ModelCard(training_summary=summary, train_size=len(fit_rows), imbalance=plan.imbalance)
        if plan.resampled is not None:
            self.card_.resample = {"method": plan.training.resample.method, "rows_before": plan.resampled[0],
                                   "rows_after": plan.resampled[1]}
        if train.columns:  # `predict FILE` and `predict(frame)` read the same columns (files name them in text)
            self.card_.columns = {**self.card_.columns,
                                  **{k: v for k, v in train.columns.items() if isinstance(v, str)}}
        self._fit_policy(validation, validation_targets, calibration, thresholds, log)
        return self

    def _validation(self, validation: Any, columns: ColumnNames) -> Examples | None:
        if validation is None:
            return None
        if isinstance(validation, tuple) and len(validation) == 2:
            texts, labels = validation
            table = ColumnNames(columns.text) if table_columns(texts) else ColumnNames()
            return as_examples(texts, labels, columns=table, multi_label=self.multi_label, need_labels=True,
                               role="validation")
        return as_examples(validation, columns=columns, multi_label=self.multi_label, need_labels=True,
                           role="validation")

    def check_policy_request(self, label_map: LabelMap, validation: Examples | None) -> None:
        """Refuse a decision-policy request that cannot be met, before minutes of training."""
        thresholds = self.thresholds_config()
        if thresholds.tune == "none":
            return
        if not self.multi_label and len(label_map) > 2:
            raise ConfigError("thresholds.tune needs a binary or multi-label task (more than 2 classes use "
                              "argmax); set thresholds.tune: none")
        if validation is None or len(validation) == 0:
            raise ConfigError("thresholds.tune needs validation data: pass validation= (or set "
                              "data.split.validation_size > 0)")

    def _fit_policy(self, validation: Examples | None, targets: np.ndarray | None, calibration: str | None,
                    thresholds: ThresholdsConfig, log: TextIO | None) -> None:
        """Calibration, then thresholds (tuned on calibrated probabilities), on validation only."""
        self.policy_ = self.policy_.with_min_labels(thresholds.min_labels)
        if calibration is not None and validation is None:
            self.card_.calibration = {"method": calibration, "kept": False,
                                      "reason": "not calibrated: no validation data"}
        elif calibration is not None or thresholds.tune != "none":
            self.fit_policy_on_logits(self.logits(validation), targets, validation.source, log)

    def fit_policy_on_logits(self, logits: np.ndarray, targets: np.ndarray, source: str, log: TextIO | None = None):
        """The decision policy (guarded calibration, then thresholds on calibrated probabilities) from
        held-out logits (n, k) and targets: validation, or cross-fitted out-of-fold ones (`source`)."""
        calibration, thresholds = self.calibration_method(), self.thresholds_config()
        self.policy_ = DecisionPolicy().with_min_labels(thresholds.min_labels)
        if calibration is not None:
            self._adopt_calibration(logits, targets, calibration, source, log)
        if thresholds.tune == "none":
            return
        if len(logits) < MIN_POLICY_ROWS:
            _say(log, f"thresholds not tuned: {len(logits)} {source} rows (< {MIN_POLICY_ROWS})", warning=True)
        else:
            self._adopt_thresholds(self.probabilities_from_logits(logits), targets, source, thresholds.tune,
                                   thresholds.objective, thresholds.beta, thresholds.target, log)

    def _adopt_calibration(self, logits: np.ndarray, targets: np.ndarray, method: str, source: str,
                           log: TextIO | None):
        from .evaluation.calibration import guarded_calibration

        decision = guarded_calibration(logits, targets, method, self.multi_label, self.seed)
        record = {**decision.to_json(), "fitted_on": source}
        self.card.calibration = record
        kept = decision.calibration is not None
        _say(log, f"calibration {decision.reason}" if kept else decision.reason, warning=not kept)
        self.policy_ = self.policy.with_calibration(decision.calibration, record if decision.calibration else None)
        return decision

    # -- the decision policy on its own (textclf calibrate / tune-thresholds) ----------------
    def calibrate(self, validation: Any, method: str = "temperature", log: TextIO | None = None):
        """Fit a calibration on labelled `validation` data (never the test split; too few rows: DataError),
        adopted if it lowers cross-fitted ECE (guarded_calibration), else none. Returns the decision."""
        from .evaluation.calibration import require_enough_rows
        examples = self._labelled(validation, "validation")
        targets = self.label_map.encode(examples)
        require_enough_rows(targets, len(self.label_map), self.multi_label, examples.source)
        return self._adopt_calibration(self.logits(examples), targets, method, examples.source, log)

    def tune_thresholds(self, validation: Any, scope: str = "per_label", objective: str = "f1",
                        beta: float = 1.0, target: float | None = None, log: TextIO | None = None):
        """Tune decision thresholds on labelled `validation` data (never the test split; at least
        MIN_POLICY_ROWS rows) and adopt them. Returns evaluation.thresholds.ThresholdResult."""
        examples = self._labelled(validation, "validation")
        if len(examples) < MIN_POLICY_ROWS:
            raise DataError(f"{examples.source}: threshold tuning needs at least {MIN_POLICY_ROWS} labelled rows, "
                            f"got {len(examples)}; pass more validation data; nothing changed")
        return self._adopt_thresholds(self.predict_proba(examples), self.label_map.encode(examples), examples.source,
                                      scope, objective, beta, target, log)

    def _adopt_thresholds(self, probs: np.ndarray, targets: np.ndarray, source: str, scope: str, objective: str,
                          beta: float, target: float | None, log: TextIO | None):
        from .evaluation.thresholds import tune_thresholds

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = tune_thresholds(probs, targets, self.multi_label, scope, objective, beta, target,
                                     list(self.label_map.labels))
        for warning in caught:
            _say(log, str(warning.message), warning=True)
        record = {key: value for key, value in result.to_json().items() if key != "thresholds"}
        self.policy_ = self.policy.with_thresholds(result.thresholds, {**record, "fitted_on": source})
        shown = ", ".join(f"{t:.3f}" for t in result.thresholds[:8]) + (" ..." if len(result.thresholds) > 8 else "")
        _say(log, f"thresholds {scope} ({objective}) tuned on {source}: {shown}")
        return result

    def set_min_labels(self, min_labels: int) -> None:
        self.policy_ = self.policy.with_min_labels(min_labels)

    def _labelled(self, data: Any, role: str) -> Examples:
        self._fitted()
        if data is None or (isinstance(data, Examples) and len(data) == 0):
            raise ConfigError(f"the decision policy needs labelled {role} data (never the test split)")
        if isinstance(data, tuple) and len(data) == 2:
            return as_examples(data[0], data[1], multi_label=self.multi_label, need_labels=True, role=role)
        return as_examples(data, columns=saved_columns(data, self.card.columns, labelled=True),
                           multi_label=self.multi_label, need_labels=True, role=role)

    def derived(self, model_params: dict, build: Callable[[BaseModel, TrainingConfig], Any]) -> TextClassifier:
        """A classifier with this one's labels, policy and card around another model (an export):
        `build(config, training)` returns the fitted model."""
        other = TextClassifier(model=model_params, task=self.task, training=self.training_config(), seed=self.seed)
        config, training = other.model_config(), self.training_config()
        other.label_map_, other.policy_, other.card_ = self.label_map, self.policy, self.card
        other.model_, other.fitted_ = build(config, training), FittedConfig(config, training)
        return other

    # -- inference: prepare (logits) -> decide ------------------------------------------------
    def _fitted(self):
        if getattr(self, "model_", None) is None or self.label_map is None:
            raise ModelError("this TextClassifier is not fitted: call fit() or textclf.load()")
        return self.model_

    def logits(self, X: Any, **columns: str | None) -> np.ndarray:
        """Raw model scores, float32, shape (n, k); (0, k) for no texts."""
        model = self._fitted()
        texts = inference_texts(X, columns, self.card.columns)
        if not texts:  # models (and scikit-learn) refuse a batch of 0 rows; its answer is still well defined
            return np.zeros((0, len(self.label_map)), dtype=np.float32)
        return model.logits(texts)

    def from_logits(self, logits: np.ndarray) -> Predictions:
        """Apply the decision policy to logits (n, k)."""
        self._fitted()
        probs = self.policy.probabilities(logits, self.multi_label)
        decisions = self.policy.decide(probs, self.multi_label)
        return Predictions(logits, probs, decisions, self.labels_from_decisions(decisions))

    def infer(self, X: Any, **columns: str | None) -> Predictions:
        return self.from_logits(self.logits(X, **columns))

    def probabilities_from_logits(self, logits: np.ndarray) -> np.ndarray:
        return self.policy.probabilities(logits, self.multi_label)

    def predict_proba(self, X: Any, **columns: str | None) -> np.ndarray:
        """Probabilities, shape (n, k) in `classes_` order, calibrated when a calibration was kept."""
        return self.infer(X, **columns).probabilities

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """Class ids (n,) or a 0/1 matrix (n, k), using tuned thresholds when present."""
        return self.policy.decide(probs, self.multi_label)

    def labels_from_decisions(self, decisions: np.ndarray) -> list:
        """Class names as canonical strings, as metrics and CSV cells carry them (JSON outputs carry
        the typed labels `predict` returns)."""
        names = self.label_map.labels
        if self.multi_label:
            return [tuple(names[j] for j in np.flatnonzero(row)) for row in decisions]
        return [names[int(i)] for i in decisions]

    def predict(self, X: Any, **columns: str | None) -> list:
        """Labels of the type given to `fit` (single-label), or tuples of them (multi-label; possibly
        empty). `text_column=` picks a table's text column."""
        return self._user_labels(self.infer(X, **columns).decisions)

    def _user_labels(self, decisions: np.ndarray) -> list:
        values = self.label_map.user_labels
        if self.multi_label:
            return [tuple(values[j] for j in np.flatnonzero(row)) for row in decisions]
        return [values[int(i)] for i in decisions]

    def predict_frame(self, X: Any, **columns: str | None):
        """A pandas DataFrame, one row per text: `label`, `prob_<label>` per class, the thresholds
        applied, and `calibrated` (whether the probabilities went through a kept calibration); indexed
        like `X` when `X` is a DataFrame or Series."""
        import pandas as pd

        predictions = self.infer(X, **columns)
        names = self.label_map.labels
        # a DataFrame's or Series's own index, so that `df["pred"] = clf.predict_frame(df)["label"]` lines up
        frame = pd.DataFrame({"label": self._user_labels(predictions.decisions)}, index=pandas_index(X))
        for j, name in enumerate(names):
            frame[f"prob_{name}"] = predictions.probabilities[:, j]
        for key, cut in self.policy.applied_thresholds(list(names), self.multi_label).items():
            frame[key] = cut
        frame["calibrated"] = self.policy.calibration is not None
        return frame

    def evaluate(self, X: Any, y: Any = None, *, n_resamples: int | None = None, **columns: str | None) -> dict:
        """Metrics on labelled data (the same forms as `fit`): accuracy, macro-F1, per-class scores,
        ROC/PR-AUC, ECE, bootstrap intervals (`n_resamples`, default evaluation.bootstrap.RESAMPLES)
        — what `textclf evaluate` writes."""
        from .evaluation.bootstrap import RESAMPLES
        from .evaluation.scoring import evaluate

        return evaluate(self, self._scored(X, y, columns), RESAMPLES if n_resamples is None else n_resamples)

    def score(self, X: Any, y: Any = None, sample_weight=None, **columns: str | None) -> float:
        """Accuracy (single-label) or exact-match ratio of label sets (multi-label)."""
        examples = self._scored(X, y, columns)
        targets = self.label_map.encode(examples)
        decisions = self.infer(examples.texts).decisions
        hits = (decisions == targets).all(axis=1) if self.multi_label else decisions == targets
        return float(np.average(hits.astype(float), weights=sample_weight)) if len(hits) else 0.0

    def _scored(self, X: Any, y: Any, columns: dict[str, str | None]) -> Examples:
        self._fitted()
        return scored_examples(X, y, columns, self.card.columns, self.multi_label)

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: str | Path, metrics: dict | None = None, extra: dict | None = None, *,
             overwrite: bool = False) -> Path:
        """Write the model directory (atomically): the fitted state and the config it was fitted
        with (`fitted_`), never parameters set after fitting; `extra` maps more JSON files to content.
        A missing or empty `directory` is written; one holding a saved model is replaced only with
        `overwrite=True`; any other non-empty directory is refused (a save replaces all of it)."""
        from .artifacts import save_classifier
        from .artifacts.target import check_save_target

        self._fitted()
        return save_classifier(self, check_save_target(directory, overwrite), metrics, extra)

    def save_policy(self, directory: str | Path) -> None:
        """Rewrite only the decision policy of the saved model in `directory` (weights untouched)."""
        from .artifacts import save_policy

        self._fitted()
        save_policy(self, Path(directory))

    @classmethod
    def load(cls, directory: str | Path, *, device: str | None = None, policy: bool = True) -> TextClassifier:
        """A saved model. `device` (auto, cpu, cuda, cuda:1) is where inference runs, chosen now, not
        frozen at training: the default `auto` uses a GPU when this host has one. `policy=False`
        loads raw scores (argmax / 0.5) without the saved calibration and thresholds."""
        from .artifacts import read_model_directory

        saved = read_model_directory(Path(directory), policy=policy)
        clf = cls(model=saved.model_params, task=saved.task, training=saved.training, seed=saved.seed)
        config, training = model_and_training(saved.model_params, saved.training)
        inference = inference_training(training, device)
        clf.label_map_, clf.policy_, clf.card_ = saved.label_map, saved.policy, saved.card
        clf.fitted_ = FittedConfig(config, training)
        clf.model_ = saved.build_model(config, inference)
        return clf
