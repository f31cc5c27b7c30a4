"""Label values keep their type: the one rule that turns a column of user labels into class names.

Inside textclf a class is named by a canonical string (what `labels.json`, metrics and CSV cells
hold); the `LabelMap` records which Python type the user's labels had, so that `classes_`,
`predict`, HTTP and JSON prediction files hand the same type back. The rule, applied to a whole
column at once:

- booleans (`true`/`false` in JSON, `bool` / `numpy.bool_` in Python) are the type `bool`;
- integers, and floats with an integral value (`1.0` is `1`: pandas turns integer columns with a
  gap into floats), are the type `int`; any other float (`0.5`, NaN) is refused;
- strings are the type `str`, stripped of surrounding spaces (a CSV row written `a film, pos`
  has the label `pos`); CSV and TSV cells are always strings. Two spellings that strip to one name (`"a "` in one
  row, `"a"` in another) are refused with both rows named: merging them would be a guess;
- a column that mixes types (`1` in one row, `"1"` in another, or `true` and `"true"`) is refused
  with both rows named, never split into several classes.

Labels read later for a model (evaluation files, `score(X, y)`) are matched to its type: a CSV cell
`"3"` is the integer class 3 of a model trained on integers, `"True"` the boolean class `true`.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import numpy as np

from ..errors import DataError, where

LabelKind = Literal["str", "int", "bool"]
KINDS: tuple[str, ...] = ("str", "int", "bool")
_WORDS = {"str": "a string", "int": "a number", "bool": "a boolean"}
_INTEGER = re.compile(r"[+-]?\d+")


def scalar_kind(value: Any) -> LabelKind:
    """The label type of one value; ValueError for a value that cannot be a class."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        if math.isfinite(value) and float(value).is_integer():
            return "int"
        raise ValueError(f"label {value!r} is a non-integral number; use strings or integers for classes")
    if isinstance(value, str):
        return "str"
    raise ValueError(f"label of type {type(value).__name__} ({_short(value)}); use a string, integer or boolean")


def canonical(value: Any, kind: LabelKind) -> str:
    """The class name of a value already known to be of `kind`."""
    if kind == "bool":
        return "true" if bool(value) else "false"
    if kind == "int":
        return str(int(value))
    return str(value).strip()


def sort_key(kind: LabelKind):
    """Class ids are positions in this order: numeric for integers (2 before 10), else by name."""
    return (lambda name: int(name)) if kind == "int" else (lambda name: name)


def to_user(name: str, kind: LabelKind) -> Any:
    if kind == "int":
        return int(name)
    if kind == "bool":
        return name == "true"
    return name


def matched_name(name: str, kind: LabelKind) -> str:
    """A canonical name read for a model of `kind` (e.g. from a CSV file, where every cell is a
    string) as that model's class name: "3" or "3.0" for an integer model, "True" for a boolean one."""
    if kind == "bool" and name.strip().lower() in ("true", "false"):
        return name.strip().lower()
    if kind == "int":
        text = name.strip()
        if _INTEGER.fullmatch(text):
            return str(int(text))
        try:
            number = float(text)
        except ValueError:
            return name
        if math.isfinite(number) and number.is_integer():
            return str(int(number))
    return name


def is_canonical(name: Any, kind: LabelKind) -> bool:
    if not isinstance(name, str):
        return False
    if kind == "int":
        return bool(_INTEGER.fullmatch(name)) and str(int(name)) == name
    if kind == "bool":
        return name in ("true", "false")
    return True


class LabelColumn:
    """Canonical names for the labels of one column, and the one type they all share.

    `name(value, row)` raises DataError naming the row and column for a value that cannot be a
    class or whose type differs from the column's first label (naming that row too)."""

    def __init__(self, source: str, column: str | None = None) -> None:
        self.source, self.column = source, column
        self.kind: LabelKind | None = None
        self._first: tuple[int, Any] | None = None
        self._spelled: dict[str, tuple[int, str]] = {}  # class name -> (row, raw string) first seen

    def name(self, value: Any, row: int) -> str:
        try:
            kind = scalar_kind(value)
        except ValueError as err:
            raise DataError(f"{where(self.source, row, self.column)}: {err}") from None
        if self.kind is None:
            self.kind, self._first = kind, (row, value)
        elif kind != self.kind:
            first_row, first_value = self._first
            raise DataError(
                f"{where(self.source, row, self.column)}: label {_short(value)} is {_WORDS[kind]} but row "
                f"{first_row} has {_short(first_value)}, {_WORDS[self.kind]}; give every label one type")
        name = canonical(value, kind)
        if kind == "str":
            self._one_spelling(value, name, row)
        return name

    def _one_spelling(self, value: str, name: str, row: int) -> None:
        """Refuse two strings that strip to one class name ("a " and "a"): merging them would turn
        the user's classes into fewer, silently, and `predict` would answer "a" where y said "a "."""
        first_row, first = self._spelled.setdefault(name, (row, value))
        if first != value:
            raise DataError(f"{where(self.source, row, self.column)}: label {_short(value)} and {_short(first)} "
                            f"(row {first_row}) differ only by surrounding spaces; clean the label column")

    @property
    def result_kind(self) -> LabelKind:
        return self.kind or "str"


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


_LIST_LIKE = (list, tuple, set, np.ndarray)


def typed_labels(values: list, multi_label: bool, source: str, column: str | None = None) -> tuple[list, LabelKind]:
    """(class names, their type) for one label per row: a scalar (single-label) or a list of
    them (multi-label; a scalar is a one-label row). DataError names the row of any bad value."""
    typed = LabelColumn(source, column)
    names: list = []
    for i, value in enumerate(values):
        row = i + 1
        if isinstance(value, _LIST_LIKE):
            if not multi_label:
                raise DataError(f"{where(source, row, column)}: list-valued label in a single-label task "
                                "(use task='multi_label')")
            items = value.tolist() if isinstance(value, np.ndarray) else list(value)
            names.append(tuple(dict.fromkeys(typed.name(v, row) for v in items)))
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            if not multi_label:
                raise DataError(f"{where(source, row, column)}: empty or missing label")
            names.append(())
        else:
            name = typed.name(value, row)
            if not name:
                raise DataError(f"{where(source, row, column)}: empty or missing label")
            names.append((name,) if multi_label else name)
    return names, typed.result_kind
