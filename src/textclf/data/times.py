"""Parse a time column (data.time_column) into values that order rows for a time split.

A column is all numbers (years, epoch seconds: compared as numbers) or all dates (compared as
dates); a column mixing the two has no single order, so it is refused, naming the first row of the
rarer kind. Dates are held as datetime64[ns], whose range is 1677-09-21 .. 2262-04-11: a date
outside it (the sentinel 9999-12-31) would overflow into some other date, so it is refused.
The parsed values carry the cells they came from (`TimeColumn.raw`): a split writes those back
unchanged, since the parsed form (1321.0, nanosecond timestamps) is not what the file said.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, where

_LOW, _HIGH = pd.Timestamp.min, pd.Timestamp.max  # the datetime64[ns] range


class TimeColumn(np.ndarray):
    """Parsed times (int, float or datetime64[ns]) with the original cells in `raw`; indexing
    (Examples.subset) keeps the two aligned. Arithmetic and comparisons give plain results."""

    raw: np.ndarray | None = None

    def __new__(cls, parsed: np.ndarray, raw: list[Any]) -> TimeColumn:
        column = np.asarray(parsed).view(cls)
        column.raw = np.empty(len(raw), dtype=object)
        column.raw[:] = raw  # element by element: a cell that is itself a sequence stays one cell
        return column

    def __array_finalize__(self, obj: Any) -> None:
        self.raw = None  # only __new__ and __getitem__ know which cells a new array holds

    def __getitem__(self, key: Any) -> Any:
        out = super().__getitem__(key)
        if isinstance(out, TimeColumn) and self.raw is not None:
            out.raw = self.raw[key]
        return out


def original_times(times: np.ndarray) -> np.ndarray | list:
    """The cells `times` was parsed from where known (a split writes them back), else `times`."""
    raw = getattr(times, "raw", None)
    return list(raw) if raw is not None and len(raw) == len(times) else np.asarray(times)


def _number(value: Any) -> float | int | None:
    """The value as a number, or None when it is not one (a bool is no time)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        text = value.strip().lstrip("+-")
        return int(value.strip()) if text.isdigit() else number
    return None


def _refuse_mixed(path: Path, values: list[Any], rows: list[int], column: str, numeric: list[bool]) -> None:
    count = sum(numeric)
    if count in (0, len(values)):
        return
    minority_is_number = count <= len(values) - count
    i = numeric.index(True) if minority_is_number else numeric.index(False)
    j = numeric.index(not minority_is_number)  # a row of the other kind, to show the clash
    kind, other = ("a number", "a date") if minority_is_number else ("not a number", "a number")
    raise DataError(f"{where(path, rows[i], column)}: {values[i]!r} is {kind} while row {rows[j]} holds {other} "
                    f"({values[j]!r}); a time column must be all numbers or all dates")


def _numbers(parsed: list[float | int]) -> np.ndarray:
    if all(isinstance(v, int) for v in parsed) and all(-(2**63) <= v < 2**63 for v in parsed):
        return np.array(parsed, dtype=np.int64)  # exact: epoch nanoseconds do not fit a float
    return np.array(parsed, dtype=float)


def _dates(path: Path, values: list[Any], rows: list[int], column: str) -> np.ndarray:
    cells = [v.strip() if isinstance(v, str) else v for v in values]
    for i, value in enumerate(cells):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (str, dt.date, np.datetime64)):
            raise DataError(f"{where(path, rows[i], column)}: cannot parse {values[i]!r} as a date or number")
    try:
        parsed = pd.to_datetime(pd.Series(cells, dtype=object), errors="coerce", format="mixed")
    except (ValueError, TypeError):  # pandas wants one offset: DST gives two, or some dates have none
        parsed = _with_zones(path, values, cells, rows, column)
    missing = parsed.isna().to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise DataError(f"{where(path, rows[i], column)}: cannot parse {values[i]!r} as a date or number")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)  # one time line for every offset
    outside = ((parsed < _LOW) | (parsed > _HIGH)).to_numpy()  # cast to ns, it would silently wrap around
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise DataError(f"{where(path, rows[i], column)}: date {values[i]!r} is outside the supported range "
                        f"{_LOW.date()} .. {_HIGH.date()}; replace a placeholder date with a real one "
                        "or drop the row")
    return parsed.to_numpy(dtype="datetime64[ns]")


def _with_zones(path: Path, values: list[Any], cells: list[Any], rows: list[int], column: str) -> pd.Series:
    """Dates whose offsets differ (+01:00 in winter, +02:00 in summer) compared in UTC. A column
    where only some dates carry a zone has no one order: a naive date's zone would be a guess."""
    zoned = []
    for i, cell in enumerate(cells):
        try:
            zoned.append(pd.Timestamp(cell).tzinfo is not None)
        except (ValueError, TypeError, OverflowError):
            raise DataError(f"{where(path, rows[i], column)}: cannot parse {values[i]!r} as a date or number") from None
    if not all(zoned):
        i = zoned.index(False) if sum(zoned) >= len(zoned) / 2 else zoned.index(True)
        has, other = ("has no time zone", "has one") if not zoned[i] else ("has a time zone", "has none")
        j = zoned.index(not zoned[i])
        raise DataError(f"{where(path, rows[i], column)}: date {values[i]!r} {has} while row {rows[j]}'s {other}; "
                        "give every date a zone (e.g. +00:00) or none")
    return pd.to_datetime(pd.Series(cells, dtype=object), utc=True, format="mixed")


def parse_times(path: Path | str, values: list[Any], rows: list[int], column: str) -> TimeColumn:
    """The time column's values in an order-preserving form, with the original cells kept;
    DataError naming the row and column for a value that has no place in the order."""
    path = Path(path)
    numbers = [_number(v) for v in values]
    numeric = [n is not None for n in numbers]
    _refuse_mixed(path, values, rows, column, numeric)
    parsed = _numbers(numbers) if values and all(numeric) else _dates(path, values, rows, column)
    return TimeColumn(parsed, values)
