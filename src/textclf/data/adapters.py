"""Every way a user hands textclf text becomes `Examples` here, with the same checks as a file.

Accepted: lists, tuples and 1-D numpy arrays of strings; a pandas Series; a pandas DataFrame with
`text_column=` (a one-column frame needs none); a Hugging Face `datasets.Dataset` with the same
column arguments; `Examples`; a path to a CSV/TSV/JSONL/Parquet file. Labels come as a separate
sequence (`y`) or as `label_column=`. What could be read in more than one way is refused in one
line that names what was given and what to pass: a multi-column table without `text_column`, a
single string, a dict row, a text that is not a string. `datasets` stays optional: it is never
imported here, a Dataset is recognised by its type's module.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, not_a_string, where
from .examples import Examples
from .label_types import typed_labels


@dataclass(frozen=True)
class ColumnNames:
    """Which columns of a table (DataFrame, Dataset, file) hold the text, labels, groups, ..."""

    text: str | None = None
    label: str | None = None
    group: str | None = None
    time: str | None = None
    id: str | None = None

    def given(self) -> dict[str, str]:
        return {f"{k}_column": v for k, v in self.__dict__.items() if v is not None}


def as_examples(data: Any, labels: Any = None, *, columns: ColumnNames = ColumnNames(), multi_label: bool = False,
                need_labels: bool = False, role: str = "data") -> Examples:
    """`data` (and `labels`, when given apart) as Examples; DataError for anything ambiguous.

    `role` names the argument in messages ("X", "validation"); `need_labels` refuses data that
    carries no labels."""
    if labels is not None and isinstance(data, Examples):
        raise DataError(f"{role}: Examples already carry their labels; do not pass labels as well")
    if labels is not None and columns.label is not None:
        raise DataError(f"{role}: pass labels either as y or as label_column={columns.label!r}, not both")
    if isinstance(data, Examples):
        examples = data
    elif isinstance(data, (str, os.PathLike)):
        examples = _from_path(data, columns, multi_label, role)
    elif _is_dataset_dict(data):
        raise DataError(f"{role}: a DatasetDict with splits {list(data.keys())}; pass one split, e.g. "
                        f"dataset[{next(iter(data.keys()), 'train')!r}]")
    elif _is_dataset(data):
        examples = _from_table(_dataset_columns(data), list(data.column_names), columns, multi_label,
                               "<Dataset>", role)
    elif _module(data).startswith("pandas") and type(data).__name__ == "DataFrame":
        examples = _from_table(lambda name: data[name].tolist(), [str(c) for c in data.columns], columns,
                               multi_label, "<DataFrame>", role)
    elif _module(data).startswith("pandas") and type(data).__name__ == "Series":
        _no_columns(columns, "a pandas Series", role)
        examples = _from_sequence(data.tolist(), "<Series>", role)
    elif isinstance(data, Mapping):
        raise DataError(f"{role}: a {type(data).__name__} ({len(data)} keys); pass a list of texts, or a "
                        "DataFrame / Dataset with text_column=")
    elif isinstance(data, np.ndarray) and data.ndim != 1 and not (data.ndim == 2 and data.shape[1] == 1):
        raise DataError(f"{role}: a numpy array of shape {data.shape}; pass a 1-D array of texts")
    elif isinstance(data, Iterable):
        _no_columns(columns, f"a {type(data).__name__}", role)
        values = data.ravel().tolist() if isinstance(data, np.ndarray) else list(data)
        examples = _from_sequence(values, f"<{type(data).__name__}>", role)
    else:
        raise DataError(f"{role}: a {type(data).__name__} is not text; pass a list of strings, a pandas "
                        "Series or DataFrame, a datasets.Dataset, Examples or a file path")
    if labels is not None:
        examples = _with_labels(examples, labels, multi_label, role)
    if need_labels and examples.labels is None:
        raise DataError(f"{role}: no labels; pass y (one label per text) or label_column=")
    return examples


def texts_of(data: Any, columns: ColumnNames = ColumnNames(), role: str = "X") -> list[str]:
    """Just the texts, for predict: the same checks, labels ignored."""
    return as_examples(data, columns=replace(columns, label=None), role=role).texts


def table_columns(data: Any) -> list[str]:
    """Column names of a DataFrame or Dataset, else []."""
    if _module(data).startswith("pandas") and type(data).__name__ == "DataFrame":
        return [str(c) for c in data.columns]
    if _module(data).startswith("datasets") and type(data).__name__ == "Dataset":
        return list(data.column_names)
    return []


# -- the forms -----------------------------------------------------------------------------------
def _module(obj: Any) -> str:
    return type(obj).__module__ or ""


def _is_dataset(obj: Any) -> bool:
    return _module(obj).startswith("datasets") and type(obj).__name__ in ("Dataset", "IterableDataset")


def _is_dataset_dict(obj: Any) -> bool:
    return _module(obj).startswith("datasets") and type(obj).__name__ in ("DatasetDict", "IterableDatasetDict")


def _dataset_columns(dataset: Any):
    if type(dataset).__name__ == "IterableDataset":
        raise DataError("an IterableDataset has no length; pass a Dataset (dataset.with_format(None)) or a file")
    return lambda name: list(dataset[name])


def _no_columns(columns: ColumnNames, what: str, role: str) -> None:
    if columns.given():
        raise DataError(f"{role}: {what} has no columns, but {', '.join(columns.given())} was given")


def _from_path(path: str | os.PathLike, columns: ColumnNames, multi_label: bool, role: str) -> Examples:
    from .formats import detect_format
    from .io import Columns, read_examples

    if isinstance(path, str) and not _existing(path):
        try:
            detect_format(Path(path))
        except DataError:
            raise DataError(f"{role}: a single string is not a list of texts; wrap it in a list ([text]), or "
                            "pass the path of an existing data file") from None
    # a missing file or a directory is refused by the reader (data/formats.py)
    return read_examples(path, Columns(
        text=columns.text or "text", label=columns.label, group=columns.group, time=columns.time,
        id=columns.id, multi_label=multi_label,
    ), labelled=columns.label is not None)


def _existing(path: str) -> bool:
    try:
        return len(path) < 4096 and "\n" not in path and Path(path).exists()
    except (OSError, ValueError):
        return False


def _from_sequence(values: list, source: str, role: str) -> Examples:
    for i, value in enumerate(values):
        if isinstance(value, str):
            if not value.strip():
                raise DataError(f"{role}[{i}]: empty text")
            continue
        if isinstance(value, Mapping):
            keys = ", ".join(map(repr, list(value)[:5]))
            raise DataError(f"{role}[{i}] is a dict (keys {keys}); pass a list of texts, or a DataFrame / "
                            "Dataset with text_column=")
        raise DataError(f"{role}[{i}]: {not_a_string(value)}")
    return Examples(texts=list(values), source=source)


def _from_table(column_values, names: list[str], columns: ColumnNames, multi_label: bool, source: str,
                role: str) -> Examples:
    kind = source.strip("<>")
    text_column = columns.text
    if text_column is None:
        if len(names) != 1:
            shown = ", ".join(map(repr, names[:8])) + (", ..." if len(names) > 8 else "")
            raise DataError(f"{role}: a {kind} with columns [{shown}]; pass text_column= (and label_column=) to "
                            "say which holds the text")
        text_column = names[0]
    for key, name in (("text_column", text_column), *columns.given().items()):
        if name not in names:
            raise DataError(f'{role}: {kind} has no column "{name}" ({key}); its columns are '
                            f"{', '.join(map(repr, names[:12]))}")
    texts = column_values(text_column)
    for i, value in enumerate(texts):
        if not isinstance(value, str) or not value.strip():
            reason = "empty or missing text" if isinstance(value, str) or value is None else not_a_string(value)
            raise DataError(f"{where(source, i + 1, text_column)}: {reason}")
    examples = Examples(texts=texts, source=source,
                        columns={"text_column": text_column, "label_column": columns.label})
    if columns.label is not None:
        examples = _with_labels(examples, column_values(columns.label), multi_label, role, source,
                                columns.label)
    if columns.group is not None:
        examples = replace(examples, groups=_plain_column(column_values(columns.group), source, columns.group))
    if columns.id is not None:
        examples = replace(examples, ids=_plain_column(column_values(columns.id), source, columns.id))
    if columns.time is not None:
        from .io import _parse_times

        values = column_values(columns.time)
        examples = replace(examples, times=_parse_times(Path(source), values, examples.rows, columns.time))
    return examples


def _plain_column(values: list, source: str, column: str) -> list[str]:
    out = []
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and np.isnan(value)) or not str(value).strip():
            raise DataError(f"{where(source, i + 1, column)}: empty or missing value")
        out.append(str(value).strip())
    return out


def _with_labels(examples: Examples, labels: Any, multi_label: bool, role: str, source: str | None = None,
                 column: str | None = None) -> Examples:
    """Typed, canonical labels (data.label_types) for `examples`, one per text."""
    if isinstance(labels, str) or not isinstance(labels, Iterable):
        raise DataError(f"{role}: labels must be a sequence with one label per text, got a {type(labels).__name__}")
    if isinstance(labels, np.ndarray) and labels.ndim == 2 and not multi_label:
        raise DataError(f"{role}: labels of shape {labels.shape}; pass one label per text, or lists of labels "
                        "with task='multi_label'")
    # numpy and pandas give Python scalars (int, bool, str) through tolist(); typing depends on it
    values = labels.tolist() if isinstance(labels, np.ndarray) or _module(labels).startswith("pandas") \
        else list(labels)
    if len(values) != len(examples):
        raise DataError(f"{role}: {len(values)} labels for {len(examples)} texts")
    names, kind = typed_labels(values, multi_label, source or f"{role} labels", column)
    return replace(examples, labels=names, label_kind=kind)
