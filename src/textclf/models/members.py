"""Fitted models saved inside another model's directory: an ensemble's members (`members/<i>/`)
and the choice of an unswapped `auto` model (`selected/`). Each member directory is written by
its own type's `save()`; its config and the training settings it was fitted with go into the
owner's JSON state as one record, {"config": ..., "training": ...}, so every member reloads
through the registry and nothing is pickled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..config import TrainingConfig, validate
from ..data import LabelMap
from ..errors import ModelError


def member_config(values: dict[str, Any], where: str = "model.members") -> BaseModel:
    """Validate one member's config dict against its type's config class (a ConfigError names it)."""
    from . import model_class

    cls = model_class(values["type"])
    return validate(cls.config_class, values, "member model config", prefix=where)


def save_member(model, config: BaseModel, directory: Path, fallback_training: TrainingConfig) -> dict[str, Any]:
    """Write fitted `model` into `directory` (created); returns its record for the owner's state
    file. `fallback_training`: the owner's settings, recorded for a type that keeps none."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory)
    training = model.training_settings() or fallback_training
    return {"config": config.model_dump(mode="json"), "training": training.model_dump(mode="json")}


def load_member(directory: Path, config: BaseModel, record: dict[str, Any], label_map: LabelMap,
                fallback_training: TrainingConfig, seed: int, state_file: Path, where: str
                ) -> tuple[Any, TrainingConfig]:
    """(fitted model, its training settings) of the member of type `config.type` saved in
    `directory` with `record`; a record without
    training settings (older saves) loads with `fallback_training`. `state_file` and `where` (the
    record's path inside it) name the source in errors."""
    from . import model_class

    directory = Path(directory)
    if not directory.is_dir():
        raise ModelError(f"{directory}: missing member model")
    training = fallback_training
    if record.get("training") is not None:
        training = validate(TrainingConfig, record["training"], str(state_file), prefix=f"{where}.training")
    return model_class(config.type).load(directory, config, label_map, training, seed), training
