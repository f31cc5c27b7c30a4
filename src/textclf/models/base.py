"""The contract every model type fulfils; the TextClassifier facade only talks to this."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
from pydantic import BaseModel

from ..config import TrainingConfig
from ..data import Examples, LabelMap


class ClassifierModel(Protocol):
    """Texts in, logits out. Probabilities, thresholds and calibration live outside the model."""

    config_class: ClassVar[type[BaseModel]]

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
