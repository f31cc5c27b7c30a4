"""Every way a user hands textclf text becomes `Examples` here, with the same checks as a file.

Accepted: lists, tuples and 1-D numpy arrays of strings; a pandas Series; a pandas DataFrame with
`text_column=` (a one-column frame needs none; a table with a `text` column reads it, and a
`label` column for labels, as a file does); a Hugging Face `datasets.Dataset` with the same column
arguments; `Examples`; a path to a CSV/TSV/JSONL/Parquet file. Labels come as a separate sequence
(`y`) or as `label_column=`. What could be read in more than one way is refused in one line that
names what was given and what to pass: a multi-column table with no `text` column and no
`text_column`, duplicate or MultiIndex column names, a set (no order to pair texts with labels), a
single string, a dict row, a text that is not a string, a dict or 2-D `y` (an indicator matrix
would read as label lists of 0 and 1). `datasets` stays optional: it is never imported here, a
Dataset is recognised by its type's module.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, ItemsView, Iterable, KeysView, Mapping, Set
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, not_a_string, where
from .examples import Examples
from .label_types import typed_labels

Column = Hashable  # a DataFrame's column names need not be strings (0, 1, ... from a numpy array)
DEFAULT_TEXT, DEFAULT_LABEL = "text", "label"  # what a file's columns are called unless named


@dataclass(frozen=True)
class ColumnNames:
    """Which columns of a table (DataFrame, Dataset, file) hold the text, labels, groups, ..."""

    text: Column | None = None
    label: Column | None = None
    group: Column | None = None
    time: Column | None = None
    id: Column | None = None

    def given(self) -> dict[str, Column]:
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
                               "<Dataset>", role, default_label=need_labels and labels is None)
    elif _is_frame(data):
        examples = _from_table(lambda name: data[name].tolist(), _frame_names(data, role), columns,
                               multi_label, "<DataFrame>", role, default_label=need_labels and labels is None)
    elif _is_series(data):
        _no_columns(columns, "a pandas Series", role)
        examples = _from_sequence(data.tolist(), "<Series>", role)
    elif isinstance(data, Mapping):
        raise DataError(f"{role}: a {type(data).__name__} ({len(data)} keys); pass a list of texts, or a "
                        "DataFrame / Dataset with text_column=")
    elif _unordered(data):
        raise DataError(_unordered_message(data, role))
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
        _same_index(data, labels, role)
        examples = _with_labels(examples, labels, multi_label, role)
    if need_labels and examples.labels is None:
        raise DataError(f"{role}: no labels; pass y (one label per text) or label_column=")
    return examples


def texts_of(data: Any, columns: ColumnNames = ColumnNames(), role: str = "X") -> list[str]:
    """Just the texts, for predict: the same checks, labels ignored."""
    return as_examples(data, columns=replace(columns, label=None), role=role).texts


# -- a fitted classifier's inputs: predict(X, text_column=...), evaluate(X, y, label_column=...) --------
def saved_columns(data: Any, saved: Mapping[str, Any], labelled: bool = False) -> ColumnNames:
    """A table's columns as the model was trained on them (`saved`: its card's columns), where the
    table has them."""
    names = table_columns(data)
    if not names:
        return ColumnNames()
    text, label = saved.get("text_column"), saved.get("label_column")
    return ColumnNames(text if text in names else None, label if labelled and label in names else None)


def inference_texts(data: Any, keywords: Mapping[str, Any], saved: Mapping[str, Any]) -> list[str]:
    """The texts to predict: `text_column=` when given, else the column the model was trained on."""
    _known_keywords(keywords, ("text_column",))
    if isinstance(data, Examples):
        return data.texts
    text = keywords.get("text_column")
    columns = ColumnNames(text) if text is not None else saved_columns(data, saved)
    return as_examples(data, columns=columns, role="X").texts


def scored_examples(data: Any, labels: Any, keywords: Mapping[str, Any], saved: Mapping[str, Any],
                    multi_label: bool) -> Examples:
    """Labelled rows to score: columns as given, else as the model was trained on them."""
    _known_keywords(keywords, ("text_column", "label_column"))
    given = ColumnNames(keywords.get("text_column"), keywords.get("label_column"))
    if given.text is None and labels is None and given.label is None:
        given = saved_columns(data, saved, labelled=True)
    elif given.text is None:
        given = ColumnNames(saved_columns(data, saved).text, given.label)
    examples = as_examples(data, labels, columns=given, multi_label=multi_label, need_labels=True, role="X")
    if len(examples) == 0:  # every metric of no rows is undefined; 0.0 or NaN would read as a score
        raise DataError("X: no rows to score; pass at least one labelled text")
    return examples


def _known_keywords(keywords: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    """A misspelt keyword (`txt_column=`) would otherwise be ignored and the default column read."""
    unknown = [key for key in keywords if key not in allowed]
    if unknown:
        raise DataError(f"unknown keyword argument {unknown[0]}=; this method takes "
                        + " and ".join(f"{key}=" for key in allowed))


def table_columns(data: Any) -> list[Column]:
    """Column names of a DataFrame (as they are: not necessarily strings) or Dataset, else []."""
    if _is_frame(data):
        return list(data.columns)
    if _module(data).startswith("datasets") and type(data).__name__ == "Dataset":
        return list(data.column_names)
    return []


def pandas_index(data: Any) -> Any:
    """The index of a pandas DataFrame or Series (so results line up with it by label), else None."""
    return data.index if _is_frame(data) or _is_series(data) else None


# -- the forms -----------------------------------------------------------------------------------
def _module(obj: Any) -> str:
    return type(obj).__module__ or ""


def _is_frame(obj: Any) -> bool:
    return _module(obj).startswith("pandas") and type(obj).__name__ == "DataFrame"


def _is_series(obj: Any) -> bool:
    return _module(obj).startswith("pandas") and type(obj).__name__ == "Series"


def _unordered(obj: Any) -> bool:
    """A set has no order to pair its texts with labels or predictions; a dict's keys or items view
    is ordered (insertion order), so it is read like a list."""
    return isinstance(obj, Set) and not isinstance(obj, (KeysView, ItemsView))


def _unordered_message(obj: Any, name: str) -> str:
    return (f"{name}: a {type(obj).__name__} has no order, so it cannot be paired row by row with texts, labels "
            "or predictions; pass a list (in the order of the rows)")


def _frame_names(frame: Any, role: str) -> list[Column]:
    """A DataFrame's column names; refused where `frame[name]` would not be one column."""
    columns = frame.columns
    if columns.nlevels > 1:
        raise DataError(f"{role}: a DataFrame with MultiIndex columns ({columns[0]!r}, ...); flatten them first, "
                        "e.g. frame.columns = ['_'.join(map(str, c)) for c in frame.columns]")
    repeated = list(dict.fromkeys(columns[columns.duplicated()]))
    if repeated:
        raise DataError(f"{role}: the DataFrame has more than one column named {repeated[0]!r}; rename them so that "
                        "each column name is unique")
    return list(columns)


def _same_index(data: Any, labels: Any, role: str) -> None:
    """pandas pairs by index, scikit-learn by position: texts and labels whose indexes differ would
    be paired differently by the two, so they are refused rather than paired by position."""
    index = pandas_index(data)
    if index is None or not _is_series(labels) or labels.index.equals(index):
        return
    raise DataError(f"{role}: the labels' index differs from the texts' index, so rows would be paired by position, "
                    "not by index label; pass y.reindex(X.index), or .to_numpy() on both to pair by position")


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
        text=DEFAULT_TEXT if columns.text is None else columns.text, label=columns.label, group=columns.group,
        time=columns.time, id=columns.id, multi_label=multi_label,
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


def _from_table(column_values, names: list[Column], columns: ColumnNames, multi_label: bool, source: str,
                role: str, default_label: bool = False) -> Examples:
    """A table's rows. Unnamed columns default as a file's do, only where that is unambiguous: the
    text is the only column or the one called `text`; labels (when wanted and not given as y) the
    column called `label`."""
    kind = source.strip("<>")
    text_column = columns.text
    if text_column is None:
        if len(names) != 1 and DEFAULT_TEXT not in names:
            shown = ", ".join(map(repr, names[:8])) + (", ..." if len(names) > 8 else "")
            raise DataError(f"{role}: a {kind} with columns [{shown}]; pass text_column= (and label_column=) to "
                            "say which holds the text")
        text_column = names[0] if len(names) == 1 else DEFAULT_TEXT
    if columns.label is None and default_label and DEFAULT_LABEL in names and text_column != DEFAULT_LABEL:
        columns = replace(columns, label=DEFAULT_LABEL)
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
                 column: Column | None = None) -> Examples:
    """Typed, canonical labels (data.label_types) for `examples`, one per text."""
    name = "y" if role == "X" else f"{role} labels"
    values = _label_values(labels, name)
    if len(values) != len(examples):
        raise DataError(f"{role}: {len(values)} labels for {len(examples)} texts")
    _refuse_indicator_rows(values, source or name, column)
    names, kind = typed_labels(values, multi_label, source or f"{role} labels", column)
    return replace(examples, labels=names, label_kind=kind)


def _label_values(labels: Any, name: str) -> list:
    """One label (or label list) per row, in row order; what has no row order, or more than one
    value per row, is refused."""
    if isinstance(labels, str) or not isinstance(labels, Iterable):
        raise DataError(f"{name}: labels must be a sequence with one label per text, got a {type(labels).__name__}")
    if isinstance(labels, Mapping):
        raise DataError(f"{name}: a {type(labels).__name__} ({len(labels)} keys) is not one label per text; pass a "
                        "list of labels in the order of the texts")
    if _unordered(labels):
        raise DataError(_unordered_message(labels, name))
    two_d = _is_frame(labels) or _module(labels).startswith("scipy.sparse") or getattr(labels, "ndim", 1) != 1
    if two_d:
        raise DataError(f"{name}: a {type(labels).__name__} of shape {getattr(labels, 'shape', '?')} is not one label "
                        f"per text; {_LABEL_FORMS}")
    # numpy and pandas give Python scalars (int, bool, str) through tolist(); typing depends on it
    return labels.tolist() if isinstance(labels, np.ndarray) or _is_series(labels) else list(labels)


_LABEL_FORMS = ("pass a list (or 1-D array, Series) with one label per text, or, for task='multi_label', a list of "
                "label lists (from an indicator matrix Y: MultiLabelBinarizer.inverse_transform(Y))")
_BINARY = (bool, int, float, np.bool_, np.number)


def _refuse_indicator_rows(values: list, source: str, column: Column | None) -> None:
    """Rows of equal length (2 or more) holding only 0 and 1 are an indicator matrix (`Y.tolist()`,
    `list(Y)`), not label lists: read as labels, every row would name the classes 0 and 1. Real
    label lists of the integer classes 0 and 1 differ in length, or repeat no value in a row."""
    if not values or not all(isinstance(row, (list, tuple, np.ndarray)) for row in values):
        return
    width = len(values[0])
    if width < 2 or any(len(row) != width for row in values):
        return
    if all(isinstance(v, _BINARY) and v in (0, 1) for row in values for v in row):
        where_ = source if column is None else f'{source}, column "{column}"'
        raise DataError(f"{where_}: rows of {width} values of 0/1 look like an indicator matrix, not labels; "
                        + _LABEL_FORMS)
