"""TextClassifier: the one estimator users hold, whatever model type sits inside it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from .config import Task, TrainingConfig, validate
from .data import Examples, LabelMap
from .errors import ConfigError, DataError, ModelError
from .models import model_class
from .objectives import decide, probabilities

Texts = Sequence[str] | Examples


def as_texts(texts: Texts) -> list[str]:
    if isinstance(texts, Examples):
        return texts.texts
    if isinstance(texts, str):
        raise DataError("expected a list of texts, got a single string (wrap it in a list)")
    return [str(t) for t in texts]


class TextClassifier:
    """scikit-learn style: the constructor stores parameters; `fit` does the work.

    >>> clf = TextClassifier(model={"type": "tfidf"}).fit(train_examples, validation=val_examples)
    >>> clf.predict(["a gripping, beautifully shot film"])
    """

    def __init__(
        self,
        model: dict[str, Any] | BaseModel | None = None,
        task: Task = "single_label",
        training: TrainingConfig | dict[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        self.model_params = model.model_dump() if isinstance(model, BaseModel) else dict(model or {"type": "tfidf"})
        self.task = task
        self.training = training
        self.seed = seed
        self.label_map: LabelMap | None = None
        self.model = None  # a fitted models.base.ClassifierModel
        self.calibration: dict | None = None  # fitted on validation by evaluation.calibration
        self.thresholds: np.ndarray | None = None  # tuned on validation by evaluation.thresholds
        self.min_labels: int = 0
        self.info: dict[str, Any] = {}  # columns, data source, training summary: saved in config.json

    # -- configuration -----------------------------------------------------------------------
    @property
    def multi_label(self) -> bool:
        return self.task == "multi_label"

    def model_config(self) -> BaseModel:
        cls = model_class(self.model_params.get("type", "tfidf"))
        return validate(cls.config_class, self.model_params, "model config", prefix="model")

    def training_config(self) -> TrainingConfig:
        if isinstance(self.training, TrainingConfig):
            return self.training
        return validate(TrainingConfig, dict(self.training or {}), "training config", prefix="training")

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
        stopping and nothing else is fitted on it here. `resume` continues a neural run from the
        checkpoint in `workdir` (same data and config)."""
        if not isinstance(train, Examples):
            if labels is None:
                raise DataError("fit needs labels: pass Examples or (texts, labels)")
            train = Examples.from_lists(as_texts(train), labels)
        config, training = self.model_config(), self.training_config()
        self.label_map = LabelMap.fit(train, multi_label=self.multi_label)
        train_targets = self.label_map.encode(train)
        validation_targets = self.label_map.encode(validation) if validation is not None else None
        cls = model_class(config.type)
        self.model = cls(config, self.label_map, training, self.seed)
        # A model type may fill unset training keys with its own defaults (pretrained: lr 3e-5, ...);
        # record what it actually uses, so the saved config reproduces it.
        self.training = getattr(self.model, "training", training)
        if resume and workdir is None:
            raise ConfigError("resuming needs the workdir that holds the checkpoint")
        summary = self.model.fit(
            train, train_targets, validation, validation_targets, Path(workdir) if workdir else None, resume=resume
        )
        self.info["training_summary"] = summary
        self.info["train_size"] = len(train)
        return self

    # -- inference ---------------------------------------------------------------------------
    def _fitted(self):
        if self.model is None or self.label_map is None:
            raise ModelError("this TextClassifier is not fitted: call fit() or textclf.load()")
        return self.model

    def logits(self, texts: Texts) -> np.ndarray:
        """Raw model scores, float32, shape (n, k)."""
        return self._fitted().logits(as_texts(texts))

    def probabilities_from_logits(self, logits: np.ndarray) -> np.ndarray:
        if self.calibration is None:
            return probabilities(logits, self.multi_label)
        from .evaluation.calibration import calibrated_probabilities

        return calibrated_probabilities(logits, self.calibration, self.multi_label)

    def predict_proba(self, texts: Texts) -> np.ndarray:
        """Probabilities, shape (n, k), calibrated when a calibration was fitted."""
        return self.probabilities_from_logits(self.logits(texts))

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """Class ids (n,) or a 0/1 matrix (n, k), using tuned thresholds when present."""
        return decide(probs, self.multi_label, self.thresholds, self.min_labels)

    def labels_from_decisions(self, decisions: np.ndarray) -> list:
        names = self.label_map.labels
        if self.multi_label:
            return [tuple(names[j] for j in np.flatnonzero(row)) for row in decisions]
        return [names[int(i)] for i in decisions]

    def predict(self, texts: Texts) -> list:
        """Class names (single-label) or tuples of names (multi-label; possibly empty)."""
        return self.labels_from_decisions(self.decide(self.predict_proba(texts)))

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: str | Path, metrics: dict | None = None) -> Path:
        from .artifacts import save_classifier

        self._fitted()
        return save_classifier(self, Path(directory), metrics)

    @classmethod
    def load(cls, directory: str | Path) -> TextClassifier:
        from .artifacts import load_classifier

        return load_classifier(Path(directory))
