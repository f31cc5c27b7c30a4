"""The contract every model type fulfils; the TextClassifier facade only talks to this.

A model type is a class with a pydantic `config_class` (its `type` key is the registry name)
that implements `fit`, `logits`, `save` and `load`. `ModelBase` supplies the introspection other
parts of textclf ask about (analysis, export, reports) with honest defaults, so a third-party
type only overrides what it knows better. Register one with `models.register_model_type`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from pydantic import BaseModel

from ..config import TrainingConfig
from ..data import Examples, LabelMap


class ClassifierModel(Protocol):
    """Texts in, logits out. Probabilities, thresholds and calibration live outside the model."""

    config_class: ClassVar[type[BaseModel]]
    # Training keys this type uses when the user's config leaves them unset (pretrained: lr 3e-5, ...).
    default_training: ClassVar[dict[str, Any]]

    @classmethod
    def training_defaults(cls, train_rows: int | None) -> dict[str, Any]:
        """`default_training`, adapted to the training-set size when it is known (None before fit)."""

    def __init__(self, config: BaseModel, label_map: LabelMap, training: TrainingConfig, seed: int) -> None:
        """Store parameters only; nothing is fitted or allocated until `fit` or `load`."""

    def fit(
        self,
        train: Examples,
        train_targets: np.ndarray,
        validation: Examples | None,
        validation_targets: np.ndarray | None,
        workdir: Path | None = None,
        resume: bool = False,
    ) -> dict:
        """Fit on `train` only (vocabularies included); `validation` may drive early stopping.

        Targets are class ids, shape (n,), or multi-hot float32, shape (n, k). `workdir` receives
        logs and checkpoints when given; `resume` continues from its checkpoint (a model type
        that does not checkpoint raises ConfigError). Returns a small JSON-able training summary."""

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw scores, float32, shape (n, k): softmax (single-label) or sigmoid (multi-label)
        turns them into probabilities."""

    def save(self, directory: Path) -> None:
        """Write weights and any fitted state (tokenizer, vocabulary) into `directory`."""

    @classmethod
    def load(cls, directory: Path, config: BaseModel, label_map: LabelMap, training: TrainingConfig, seed: int):
        """Rebuild a fitted model from what `save` wrote."""

    def max_tokens(self) -> int | None:
        """Tokens per text the model reads before truncating; None when it reads everything."""

    def vocabulary(self) -> dict[str, int | None] | None:
        """Lower-cased words the model knows, each mapped to the number of training documents that
        contain it (None where the model keeps no count, e.g. a subword vocabulary); None when the
        model has no word vocabulary."""

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Length of each text in the model's own tokens (before truncation), int64, shape (n,)."""

    def selected(self) -> tuple[BaseModel, ClassifierModel] | None:
        """For types that choose another model while fitting (`auto`): (config, fitted model) of
        the choice, which the classifier saves in its place. None for every other type."""

    def preferred_batch_size(self) -> int | None:
        """Texts per `logits` call this model runs fastest at, when it knows better than the
        caller's batch size (TF-IDF: a whole streaming chunk in one sparse product); None: the
        caller's batch size (neural models, whose memory grows with the batch)."""


class ModelBase:
    """Defaults for the introspection half of `ClassifierModel`."""

    default_training: ClassVar[dict[str, Any]] = {}

    @classmethod
    def training_defaults(cls, train_rows: int | None) -> dict[str, Any]:
        return dict(cls.default_training)

    def max_tokens(self) -> int | None:
        return None

    def vocabulary(self) -> dict[str, int | None] | None:
        return None

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        return np.fromiter((len(t.split()) for t in texts), dtype=np.int64, count=len(texts))

    def selected(self):
        return None

    def preferred_batch_size(self) -> int | None:
        return None
