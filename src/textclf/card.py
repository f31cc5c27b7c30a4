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
    # refit_full: the saved model was retrained on every labelled row after evaluation (refit_record)
    refit: dict[str, Any] | None = None

    @property
    def text_column(self) -> str:
        return self.columns.get("text_column") or "text"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def refit_note(self) -> str | None:
        """The sentence a card or report shows about a refit model, or None when it was not refitted."""
        return None if self.refit is None else str(self.refit.get("note") or "")

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


def refit_record(rows: int, evaluated_rows: int, policy_source: str, summary: dict[str, Any]) -> dict[str, Any]:
    """What the card and metrics.json say about a refit: `rows` labelled rows refitted on after
    evaluation, `evaluated_rows` those the evaluated (reported) model was fitted on."""
    note = (f"the final model was refitted on all {rows} labelled rows after evaluation; the scores above are "
            f"from the model fitted on {evaluated_rows} rows before refit")
    return {"rows": rows, "evaluated_model_rows": evaluated_rows, "policy_fitted_on": policy_source,
            "training_summary": summary, "note": note}
