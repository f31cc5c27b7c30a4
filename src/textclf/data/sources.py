"""Where labelled examples come from: one loader for a file, a bundled set, or a saved model's
own splits (rebuilt from the data config and seed it recorded), used by every verb."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config, DataConfig, validate
from ..errors import DataError
from .bundled import DATASETS, load_bundled
from .examples import Examples
from .io import Columns, read_examples
from .splits import Splits, split_examples

SPLIT_NAMES = ("train", "validation", "test")


def columns_for(data: DataConfig, multi_label: bool) -> Columns:
    return Columns(
        text=data.text_column, label=data.label_column, group=data.group_column, time=data.time_column,
        id=data.id_column, multi_label=multi_label, label_delimiter=data.label_delimiter,
    )


def load_splits(cfg: Config) -> Splits:
    """Train / validation / test as the config describes: a bundled set or files, split as asked.

    Files given for validation or test are used as they are; only what is missing is split off."""
    data, multi_label = cfg.data, cfg.task == "multi_label"
    columns = columns_for(data, multi_label)
    if data.dataset is not None:
        bundled = DATASETS.get(data.dataset)
        if bundled is not None and (bundled.task == "multi_label") != multi_label:
            raise DataError(f"bundled data set {data.dataset!r} is {bundled.task}; set task: {bundled.task}")
        examples = load_bundled(data.dataset)
    else:
        examples = read_examples(data.train, columns, data.bad_rows)
    validation = read_examples(data.validation, columns, data.bad_rows) if data.validation else None
    test = read_examples(data.test, columns, data.bad_rows) if data.test else None
    split = data.split
    splits = split_examples(
        examples,
        split.method,
        validation_size=0.0 if validation is not None else split.validation_size,
        test_size=0.0 if test is not None else split.test_size,
        seed=cfg.seed,
    )
    return Splits(splits.train, validation or splits.validation, test or splits.test)


@dataclass(frozen=True)
class ModelData:
    """What a saved model recorded about its data: enough to rebuild its splits and to read a
    new file with the same columns."""

    data: dict[str, Any] | None  # the data config it was trained with
    columns: dict[str, Any]  # text_column, label_column, id_column, label_delimiter
    seed: int
    task: str
    model_params: dict[str, Any]
    refitted: bool = False  # refitted on every labelled row after evaluation (refit_full)

    @classmethod
    def of(cls, clf) -> ModelData:
        return cls(clf.card.data, clf.card.columns, clf.seed, clf.task, clf.model_params, clf.card.refit is not None)

    def check_unseen(self, name: str) -> None:
        """Refuse the validation or test split of a model that was refitted on them: any score or
        policy fitted there would be optimistic."""
        if self.refitted and name in ("validation", "test"):
            raise DataError(f"this model was refitted on all its labelled rows, its {name} split included, so "
                            "scores or a policy fitted there would be optimistic (its held-out scores are in "
                            "metrics.json); pass --data FILE with rows it never saw")

    def splits(self) -> Splits:
        if not self.data:
            raise DataError("this model does not record its training data; pass --data")
        cfg = validate(Config, {"seed": self.seed, "task": self.task, "data": self.data, "model": self.model_params},
                       "the model's recorded data config")  # one line, e.g. for an empty label_delimiter
        return load_splits(cfg)

    def split(self, name: str) -> Examples:
        self.check_unseen(name)
        part = getattr(self.splits(), name)
        if part is None:
            raise DataError(f"the model's data config has no {name} split; pass --data")
        return part


@dataclass(frozen=True)
class ColumnOverrides:
    """The shared --text-column / --label-column / ... flags; None keeps the model's own."""

    text: str | None = None
    label: str | None = None
    group: str | None = None
    time: str | None = None
    id: str | None = None


def load_examples(model: ModelData, source: str | None, columns: ColumnOverrides = ColumnOverrides(), *,
                  labelled: bool = True, default_split: str = "test") -> Examples:
    """Examples for a saved model: a file (columns default to the ones it was trained with), a
    bundled data set name, one of its own splits ("train", "validation", "test"), or None for
    `default_split`. A missing split is an error, never replaced by another one: a decision
    policy fitted on the test split would make every later test metric optimistic."""
    if source is None or (source in SPLIT_NAMES and not Path(source).exists()):
        name = source or default_split
        model.check_unseen(name)
        try:
            return model.split(name)
        except DataError:
            if name == "validation":
                raise DataError("the model was trained without a validation split; pass --data FILE (labelled "
                                "data it never saw) or retrain with data.split.validation_size > 0") from None
            raise
    if source in DATASETS and not Path(source).exists():
        return load_bundled(source)
    saved = model.columns
    return read_examples(source, Columns(
        text=columns.text or saved.get("text_column") or "text",
        label=(columns.label or saved.get("label_column") or "label") if labelled else None,
        group=columns.group, time=columns.time, id=columns.id, multi_label=model.task == "multi_label",
        label_delimiter=saved.get("label_delimiter"),
    ), labelled=labelled)
