"""TextClassifier: the one estimator users hold, whatever model type sits inside it.

It owns three things: the fitted model (texts -> logits), the label map, and the decision policy
(calibration, thresholds, min_labels) that turns logits into labels. The policy changes only
through its methods here, and `artifacts` is the only module that writes any of it to disk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel
from sklearn.base import BaseEstimator, ClassifierMixin

from .card import ModelCard
from .config import Task, TrainingConfig, migrate_max_length, validate
from .data import Examples, LabelMap
from .errors import ConfigError, DataError, ModelError
from .imbalance import skewed_class_weight
from .models import model_class
from .policy import DecisionPolicy

Texts = Sequence[str] | Examples


def as_texts(texts: Texts) -> list[str]:
    if isinstance(texts, Examples):
        return texts.texts
    if isinstance(texts, str):
        raise DataError("expected a list of texts, got a single string (wrap it in a list)")
    return [str(t) for t in texts]


def _model_dict(spec: dict[str, Any] | BaseModel | None) -> dict[str, Any]:
    return spec.model_dump() if isinstance(spec, BaseModel) else dict(spec or {"type": "tfidf"})


@dataclass(frozen=True)
class Predictions:
    """One inference result: every path (predict, streaming, HTTP) builds it the same way."""

    logits: np.ndarray  # (n, k) float32, as the model returned them
    probabilities: np.ndarray  # (n, k), calibrated when the policy has a calibration
    decisions: np.ndarray  # class ids (n,) or a 0/1 matrix (n, k)
    labels: list  # class names, or tuples of names for multi-label


class TextClassifier(ClassifierMixin, BaseEstimator):
    """A scikit-learn estimator over texts: the constructor stores parameters; `fit` does the work.

    >>> clf = TextClassifier(model={"type": "tfidf"}).fit(train_examples, validation=val_examples)
    >>> clf.predict(["a gripping, beautifully shot film"])

    Parameters (`get_params` / `set_params`, so `clone`, `GridSearchCV` and `Pipeline` work):
    `model` (a model config dict, `type` plus its keys; nested names such as `model__C` reach its
    keys), `task`, `training` (dict or TrainingConfig; `training__epochs`), `seed`. Fitted state:
    `model` after fitting is the fitted model object, with `label_map`, `policy` and `card`;
    `classes_` lists the labels.
    """

    def __init__(
        self,
        model: dict[str, Any] | BaseModel | None = None,
        task: Task = "single_label",
        training: TrainingConfig | dict[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        self._model_spec = model  # kept as given: scikit-learn's clone checks parameters by identity
        self.model_params = _model_dict(model)
        if isinstance(training, dict) and "max_length" in training:  # the first-wave place of a model key
            self.model_params, training = migrate_max_length(self.model_params, training)
        self.task = task
        self.training = training
        self.seed = seed
        self._training_used: TrainingConfig | None = None  # set by fit / load: what the model really used
        self.label_map: LabelMap | None = None
        self.model = None  # a fitted models.base.ClassifierModel
        self.policy = DecisionPolicy()
        self.card = ModelCard()

    # -- scikit-learn parameters --------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = {"model": self._model_spec, "task": self.task, "training": self.training, "seed": self.seed}
        if deep:
            params.update({f"model__{k}": v for k, v in self.model_params.items()})
        return params

    def set_params(self, **params: Any) -> TextClassifier:
        """Set `model`, `task`, `training`, `seed`, or one key inside them (`model__C=4`,
        `training__epochs=3`). The fitted state is left as it is until the next `fit`."""
        nested: dict[str, dict[str, Any]] = {"model": {}, "training": {}}
        for name, value in params.items():
            outer, sep, inner = name.partition("__")
            if sep and outer in nested:
                nested[outer][inner] = value
            elif name == "model":
                self._model_spec = value
                self.model_params = _model_dict(value)
            elif name in ("task", "training", "seed"):
                setattr(self, name, value)
            else:
                raise ConfigError(f"TextClassifier has no parameter {name!r} (model, task, training, seed, "
                                  "model__KEY, training__KEY)")
        if nested["model"]:
            self.model_params = {**self.model_params, **nested["model"]}
            self._model_spec = dict(self.model_params)
        if "training" in params or nested["training"]:
            self._training_used = None
        if nested["training"]:
            base = self.training.model_dump() if isinstance(self.training, TrainingConfig) else dict(self.training or {})
            self.training = {**base, **nested["training"]}
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return self.label_map is not None and self.model is not None

    @property
    def classes_(self) -> np.ndarray:
        if self.label_map is None:
            raise AttributeError("classes_ exists after fit")
        return np.asarray(self.label_map.labels, dtype=object)

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy (single-label) or exact-match ratio of label sets (multi-label)."""
        predicted = self.predict(X)
        if self.multi_label:
            hits = np.array([set(p) == {str(x) for x in t} for p, t in zip(predicted, y)], dtype=float)
        else:
            hits = np.array([p == str(t) for p, t in zip(predicted, y)], dtype=float)
        return float(np.average(hits, weights=sample_weight)) if len(hits) else 0.0

    # -- configuration -----------------------------------------------------------------------
    @property
    def multi_label(self) -> bool:
        return self.task == "multi_label"

    def model_config(self) -> BaseModel:
        cls = model_class(self.model_params.get("type", "tfidf"))
        return validate(cls.config_class, self.model_params, "model config", prefix="model")

    def training_config(self, train_rows: int | None = None) -> TrainingConfig:
        """The training settings in force: after fitting, what the model used; before, the user's
        with the model type's own defaults (`training_defaults`, which may depend on `train_rows`)
        for every key the user left unset."""
        if self._training_used is not None:
            return self._training_used
        training = self.training
        if not isinstance(training, TrainingConfig):
            training = validate(TrainingConfig, dict(training or {}), "training config", prefix="training")
        cls = model_class(self.model_params.get("type", "tfidf"))
        defaults = cls.training_defaults(train_rows) if hasattr(cls, "training_defaults") else {}
        unset = {k: v for k, v in defaults.items() if k not in training.model_fields_set}
        return training.model_copy(update=unset) if unset else training

    # -- the decision policy -----------------------------------------------------------------
    @property
    def calibration(self) -> dict | None:
        return self.policy.calibration

    @property
    def thresholds(self) -> np.ndarray | None:
        return self.policy.thresholds

    @property
    def min_labels(self) -> int:
        return self.policy.min_labels

    def calibrate(self, validation: Examples, method: str = "temperature"):
        """Fit a calibration on labelled `validation` data (never the test split) and adopt it.
        Returns evaluation.calibration.CalibrationResult (ECE before / after)."""
        from .evaluation.calibration import calibrate

        if validation is None or len(validation) == 0:
            raise ConfigError("calibration needs a validation split: set data.split.validation_size > 0 "
                              "or data.validation")
        result = calibrate(self.logits(validation), self.label_map.encode(validation), method, self.multi_label)
        record = {"method": method, "fitted_on": validation.source, "rows": len(validation),
                  "validation_ece_before": result.ece_before, "validation_ece_after": result.ece_after}
        self.policy = self.policy.with_calibration(result.calibration, record)
        return result

    def tune_thresholds(self, validation: Examples, scope: str = "per_label", objective: str = "f1",
                        beta: float = 1.0, target: float | None = None):
        """Tune decision thresholds on labelled `validation` data (never the test split) and adopt
        them. Returns evaluation.thresholds.ThresholdResult."""
        from .evaluation.thresholds import tune_thresholds

        if validation is None or len(validation) == 0:
            raise ConfigError("threshold tuning needs a validation split: set data.split.validation_size > 0 "
                              "or data.validation")
        result = tune_thresholds(self.predict_proba(validation), self.label_map.encode(validation),
                                 self.multi_label, scope, objective, beta, target, list(self.label_map.labels))
        record = {key: value for key, value in result.to_json().items() if key != "thresholds"}
        self.policy = self.policy.with_thresholds(result.thresholds, {**record, "fitted_on": validation.source})
        return result

    def set_min_labels(self, min_labels: int) -> None:
        self.policy = self.policy.with_min_labels(min_labels)

    # -- fitting -----------------------------------------------------------------------------
    def fit(
        self,
        train: Texts,
        labels: Sequence | None = None,
        validation: Examples | None = None,
        workdir: str | Path | None = None,
        resume: bool = False,
    ) -> TextClassifier:
        """Fit on `train` (Examples, or texts plus `labels`); `validation` is used for early
        stopping and model choice, nothing else is fitted on it here. `resume` continues a neural
        run from the checkpoint in `workdir` (same data and config)."""
        if not isinstance(train, Examples):
            if labels is None:
                raise DataError("fit needs labels: pass Examples or (texts, labels)")
            train = Examples.from_lists(as_texts(train), labels)
        if resume and workdir is None:
            raise ConfigError("resuming needs the workdir that holds the checkpoint")
        self._training_used = None
        config, training = self.model_config(), self.training_config(len(train))
        self.label_map = LabelMap.fit(train, multi_label=self.multi_label)
        train_targets = self.label_map.encode(train)
        validation_targets = self.label_map.encode(validation) if validation is not None else None
        self.policy = DecisionPolicy()  # a calibration or thresholds of earlier weights would not fit these
        training, self.card.imbalance = skewed_class_weight(training, train_targets, self.label_map)
        self._training_used = training
        self.model = model_class(config.type)(config, self.label_map, training, self.seed)
        summary = self.model.fit(
            train, train_targets, validation, validation_targets, Path(workdir) if workdir else None, resume=resume
        )
        choice = self.model.selected() if hasattr(self.model, "selected") else None
        if choice is not None:  # `auto` chose a model: that is what gets saved and served
            chosen_config, self.model = choice
            self.model_params = chosen_config.model_dump(mode="json")
            self._training_used = getattr(self.model, "training", self._training_used)
        self.card.training_summary = summary
        self.card.train_size = len(train)
        if train.columns and self.card.data is None:  # from Python: `predict FILE` reads the same columns
            self.card.columns = {**self.card.columns, **{k: v for k, v in train.columns.items() if v}}
        return self

    def derived(self, model_params: dict, build: Callable[[BaseModel, TrainingConfig], Any]) -> TextClassifier:
        """A classifier with this one's labels, policy and card around another model (an export):
        `build(config, training)` returns the fitted model."""
        other = TextClassifier(model=model_params, task=self.task, training=self.training_config(), seed=self.seed)
        other.label_map, other.policy, other.card = self.label_map, self.policy, self.card
        other.model = build(other.model_config(), other.training_config())
        return other

    # -- inference: prepare (logits) -> decide ------------------------------------------------
    def _fitted(self):
        if self.model is None or self.label_map is None:
            raise ModelError("this TextClassifier is not fitted: call fit() or textclf.load()")
        return self.model

    def logits(self, texts: Texts) -> np.ndarray:
        """Raw model scores, float32, shape (n, k)."""
        return self._fitted().logits(as_texts(texts))

    def from_logits(self, logits: np.ndarray) -> Predictions:
        """Apply the decision policy to logits (n, k)."""
        self._fitted()
        probs = self.policy.probabilities(logits, self.multi_label)
        decisions = self.policy.decide(probs, self.multi_label)
        return Predictions(logits, probs, decisions, self.labels_from_decisions(decisions))

    def infer(self, texts: Texts) -> Predictions:
        return self.from_logits(self.logits(texts))

    def probabilities_from_logits(self, logits: np.ndarray) -> np.ndarray:
        return self.policy.probabilities(logits, self.multi_label)

    def predict_proba(self, texts: Texts) -> np.ndarray:
        """Probabilities, shape (n, k), calibrated when a calibration was fitted."""
        return self.infer(texts).probabilities

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """Class ids (n,) or a 0/1 matrix (n, k), using tuned thresholds when present."""
        return self.policy.decide(probs, self.multi_label)

    def labels_from_decisions(self, decisions: np.ndarray) -> list:
        names = self.label_map.labels
        if self.multi_label:
            return [tuple(names[j] for j in np.flatnonzero(row)) for row in decisions]
        return [names[int(i)] for i in decisions]

    def predict(self, texts: Texts) -> list:
        """Class names (single-label) or tuples of names (multi-label; possibly empty)."""
        return self.infer(texts).labels

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: str | Path, metrics: dict | None = None, extra: dict | None = None) -> Path:
        """Write the model directory (atomically); `extra` maps more JSON files to their content."""
        from .artifacts import save_classifier

        self._fitted()
        return save_classifier(self, Path(directory), metrics, extra)

    def save_policy(self, directory: str | Path) -> None:
        """Rewrite only the decision policy of the saved model in `directory` (weights untouched)."""
        from .artifacts import save_policy

        self._fitted()
        save_policy(self, Path(directory))

    @classmethod
    def load(cls, directory: str | Path) -> TextClassifier:
        from .artifacts import read_model_directory

        saved = read_model_directory(Path(directory))
        clf = cls(model=saved.model_params, task=saved.task, training=saved.training, seed=saved.seed)
        clf.label_map, clf.policy, clf.card = saved.label_map, saved.policy, saved.card
        clf._training_used = clf.training_config()
        clf.model = saved.build_model(clf.model_config(), clf._training_used)
        return clf
