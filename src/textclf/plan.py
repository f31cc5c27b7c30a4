"""The training plan: every training decision that depends on the config and the training data,
made by one pure function that `TextClassifier.fit`, `auto`'s trials and the CLI all call.

It migrates legacy keys (format-1 `training.max_length`), validates the model and training
sections, picks the rows to fit on (`training.resample`), fills what the user left unset with the
model type's size-aware defaults (epochs, early-stopping patience), and switches on balanced class
weights for skewed single-label data. Nothing here reads files, trains or prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

from .config import TrainingConfig, migrate_max_length, validate
from .imbalance import resample_indices, skewed_class_weight


@dataclass(frozen=True)
class TrainingPlan:
    model: BaseModel  # the validated model config
    training: TrainingConfig  # every key resolved: what the model is trained with
    rows: np.ndarray | None  # indices of the training rows to fit on (resampled), None: all of them
    imbalance: dict | None  # why class_weight was switched on (for the model card), or None
    resampled: tuple[int, int] | None  # (rows before, rows after) when training.resample applied


def model_and_training(model_params: dict[str, Any], training: TrainingConfig | dict | None
                       ) -> tuple[BaseModel, TrainingConfig]:
    """The model config and the user's training config, validated, legacy keys moved where they
    belong now. Errors name the key (ConfigError)."""
    from .models import model_class

    if isinstance(training, TrainingConfig):
        model_params, training_values = migrate_max_length(model_params, {})
        user_training = training
    else:
        model_params, training_values = migrate_max_length(model_params, dict(training or {}))
        user_training = validate(TrainingConfig, training_values, "training config", prefix="training")
    cls = model_class(str(model_params.get("type", "tfidf")))
    config = validate(cls.config_class, model_params, "model config", prefix="model")
    return config, user_training


def with_type_defaults(config: BaseModel, training: TrainingConfig, train_rows: int | None) -> TrainingConfig:
    """`training` with the model type's own defaults (which may depend on `train_rows`) for every
    key the user left unset."""
    from .models import model_class

    defaults = model_class(config.type).training_defaults(train_rows)
    unset = {k: v for k, v in defaults.items() if k not in training.model_fields_set}
    return training.model_copy(update=unset) if unset else training


def resolve_plan(model_params: dict[str, Any], training: TrainingConfig | dict | None, labels: list,
                 label_map, seed: int) -> TrainingPlan:
    """The plan for fitting on training rows with these `labels` (class names, tuples for
    multi-label) under `label_map`. Pure: the same inputs give the same plan."""
    config, user_training = model_and_training(model_params, training)
    rows, resampled = None, None
    spec = user_training.resample
    if spec is not None:
        rows = resample_indices(labels, spec.method, seed if spec.seed is None else spec.seed, spec.ratio)
        resampled = (len(labels), len(rows))
        labels = [labels[i] for i in rows]
    resolved = with_type_defaults(config, user_training, len(labels))
    counts = None if label_map.multi_label else class_counts(labels, label_map)
    resolved, imbalance = skewed_class_weight(resolved, counts, label_map)
    return TrainingPlan(config, resolved, rows, imbalance, resampled)


def class_counts(labels: list, label_map) -> np.ndarray:
    index = label_map.index
    return np.bincount([index[name] for name in labels], minlength=len(label_map))
