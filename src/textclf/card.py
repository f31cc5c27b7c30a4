"""The model card: what a saved model records about how it was made (saved in config.json).

It is descriptive, not behavioural: nothing in inference reads it except the column names that
tell `predict` which column of a file holds the text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import ModelError

DEFAULT_COLUMNS = {"text_column": "text", "label_column": "label", "id_column": None, "label_delimiter": None}


@dataclass
class ModelCard:
    columns: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_COLUMNS))  # of the training file
    data: dict[str, Any] | None = None  # the data config it was trained with: rebuilds its splits
    audit: dict[str, Any] | None = None  # the fast leakage audit run before training
    training_summary: dict[str, Any] = field(default_factory=dict)  # steps, history, features, ...
    train_size: int | None = None
    imbalance: dict[str, Any] | None = None  # a class-weight default applied because classes are skewed
    resample: dict[str, Any] | None = None  # training.resample: rows before and after
    calibration: dict[str, Any] | None = None  # what training did about calibration, and why
    distilled_from: dict[str, Any] | None = None  # the teacher of a distilled student (jobs/distill.py)

    @property
    def text_column(self) -> str:
        return self.columns.get("text_column") or "text"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: Any, where: str) -> ModelCard:
        if obj is None:
            return cls()
        if not isinstance(obj, dict):
            raise ModelError(f"{where}: 'info' must be a JSON object")
        known = {k: v for k, v in obj.items() if k in cls.__dataclass_fields__}
        card = cls(**known)
        card.columns = {**DEFAULT_COLUMNS, **(card.columns or {})}
        return card
