"""Read and validate labelled text from CSV/TSV, JSONL and Parquet (parsed by data/formats.py).

Every problem is a DataError naming the file, the 1-based data row (header excluded) and the
column. With `bad_rows="skip"` a bad row is dropped and counted instead, except for problems that
make the whole file unusable (missing file or column, undecodable bytes).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..errors import ConfigError, DataError, not_a_string, where
from .examples import Examples
from .formats import Format, compression_of, detect_format, iter_frames, write_frame
from .label_types import LabelColumn
from .times import original_times
from .times import parse_times as _parse_times  # adapters.py imports it from here

# Parsing files (suffix -> format, decompression, CSV/JSONL/Parquet) lives in data/formats.py; these
# names stay importable from here for the callers that read tables.
__all__ = ["Columns", "Format", "detect_format", "estimate_rows", "examples_frame", "iter_frames",
           "parse_label", "read_examples", "stream_texts", "write_frame"]


@dataclass(frozen=True)
class Columns:
    """Which column holds what; None means the data set has no such column."""

    text: str = "text"
    label: str | None = "label"
    group: str | None = None
    time: str | None = None
    id: str | None = None
    multi_label: bool = False
    label_delimiter: str | None = None

    def __post_init__(self) -> None:
        if self.label_delimiter == "":  # would not split "a|b": one compound class, silently
            raise ConfigError("data.label_delimiter (--label-delimiter): must not be empty; leave it unset for none")

    @property
    def wanted(self) -> list[str]:
        return [c for c in (self.text, self.label, self.group, self.time, self.id) if c is not None]


def _check_columns(path: Path, frame: pd.DataFrame, columns: Columns) -> None:
    for name in columns.wanted:
        if name not in frame.columns:
            available = ", ".join(map(str, frame.columns)) or "none"
            raise DataError(f'{path}: column "{name}" not found (columns: {available})')


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _scalar_label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


LIST_IN_SINGLE_LABEL = "list-valued label in a single-label task (set task: multi_label)"


def _json_list(value: Any) -> bool:
    """Whether a cell is a JSON list (`["a", "b"]`): how CSV, TSV and Parquet text spell a list."""
    if not isinstance(value, str) or not value.lstrip().startswith("["):
        return False
    try:
        return isinstance(json.loads(value), list)
    except json.JSONDecodeError:
        return False


def parse_label(value: Any, columns: Columns, typed: LabelColumn, row: int) -> str | tuple[str, ...]:
    """A single class name, or for multi-label a tuple of names from a list, a JSON list string
    or a delimited string, typed by `typed` (data.label_types: one type per column). Raises
    ValueError with a reason on a malformed value, DataError on a value of the wrong type."""
    if not columns.multi_label:
        if isinstance(value, (list, tuple, np.ndarray)) or _json_list(value):  # a CSV cell as JSONL's list
            raise ValueError(LIST_IN_SINGLE_LABEL)
        return typed.name(value, row)
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                value = json.loads(stripped)
            except json.JSONDecodeError:
                raise ValueError("label looks like a JSON list but does not parse") from None
        elif columns.label_delimiter:  # spaces around a delimiter are layout ("a | b"), not part of a name
            value = [part.strip() for part in stripped.split(columns.label_delimiter) if part.strip()]
        else:
            value = [value] if stripped else []  # one name, its spaces checked as in single-label
    if not isinstance(value, (list, tuple, np.ndarray)):
        value = [value]
    names = [typed.name(v, row) for v in value if not _is_missing(v)]
    return tuple(dict.fromkeys(names))


def _validate_frame(
    path: Path, first_row: int, frame: pd.DataFrame, columns: Columns, bad_rows: str, labelled: bool,
    typed: LabelColumn | None = None,
) -> tuple[dict[str, list], int]:
    out: dict[str, list] = {"texts": [], "labels": [], "groups": [], "times": [], "ids": [], "rows": []}
    skipped = 0
    texts = frame[columns.text].tolist()
    labels = frame[columns.label].tolist() if labelled else None
    for offset, text in enumerate(texts):
        row = first_row + offset
        problem = None
        label = None
        if _is_missing(text):
            problem = (columns.text, "empty or missing text")
        elif not isinstance(text, str):
            problem = (columns.text, not_a_string(text))
        if problem is None and labelled:
            raw = labels[offset]
            if _is_missing(raw) and not columns.multi_label:
                problem = (columns.label, "empty or missing label")
            else:
                try:
                    label = parse_label([] if _is_missing(raw) else raw, columns, typed, row)
                except ValueError as err:
                    problem = (columns.label, str(err))
        if problem is None:
            for column in (columns.group, columns.time, columns.id):
                if column is not None and _is_missing(frame[column].iat[offset]):
                    problem = (column, "empty or missing value")
                    break
        if problem is not None:
            if bad_rows == "error":
                raise DataError(f"{where(path, row, problem[0])}: {problem[1]}")
            skipped += 1
            continue
        out["texts"].append(text)
        out["labels"].append(label)
        out["rows"].append(row)
        for key, column in (("groups", columns.group), ("times", columns.time), ("ids", columns.id)):
            if column is not None:
                value = frame[column].iat[offset]
                out[key].append(value if key == "times" else _scalar_label(value))
    return out, skipped


def check_unique_ids(path: str | Path, column: str, ids: list[str], rows: list[int], seen: dict[str, int]) -> None:
    """Refuse an id met before: in `ids` or in `seen` (id -> row, filled in; a stream passes one
    dict for all its chunks). An output row's id must name one input row."""
    for value, row in zip(ids, rows):
        first = seen.setdefault(value, row)
        if first != row:
            raise DataError(f"{where(path, row, column)}: duplicate id {value!r} (first at row {first})")


def read_examples(
    path: str | Path,
    columns: Columns = Columns(),
    bad_rows: Literal["error", "skip"] = "error",
    labelled: bool = True,
) -> Examples:
    """Read and validate a whole file. `labelled=False` ignores the label column."""
    path = Path(path)
    if not labelled:
        columns = Columns(**{**columns.__dict__, "label": None})
    merged: dict[str, list] = {"texts": [], "labels": [], "groups": [], "times": [], "ids": [], "rows": []}
    skipped = 0
    typed = LabelColumn(str(path), columns.label)
    for first_row, frame in iter_frames(path):
        _check_columns(path, frame, columns)
        part, part_skipped = _validate_frame(path, first_row, frame, columns, bad_rows, labelled, typed)
        skipped += part_skipped
        for key, values in part.items():
            merged[key].extend(values)
    if not merged["texts"]:
        raise DataError(f"{path}: no usable rows" + (f" ({skipped} skipped)" if skipped else ""))
    if columns.id is not None:
        check_unique_ids(path, columns.id, merged["ids"], merged["rows"], {})
    times = _parse_times(path, merged["times"], merged["rows"], columns.time) if columns.time else None
    if skipped:
        print(f"textclf: {path}: skipped {skipped} bad row(s)", file=sys.stderr)
    return Examples(
        texts=merged["texts"],
        labels=merged["labels"] if labelled else None,
        groups=merged["groups"] if columns.group else None,
        times=times,
        ids=merged["ids"] if columns.id else None,
        rows=merged["rows"],
        source=str(path),
        skipped=skipped,
        columns={"text_column": columns.text, "label_column": columns.label, "id_column": columns.id,
                 "label_delimiter": columns.label_delimiter},
        label_kind=typed.result_kind,
    )


def stream_texts(
    path: str | Path, text_column: str = "text", id_column: str | None = None,
    chunk_size: int = 4096, bad_rows: Literal["error", "skip"] = "error",
) -> Iterator[Examples]:
    """Yield unlabelled chunks of at most `chunk_size` rows; memory stays bounded by the chunk.

    `path == "-"` reads one text per line from standard input."""
    columns = Columns(text=text_column, label=None, id=id_column)
    if str(path) == "-":
        yield from _stdin_chunks(chunk_size)
        return
    path = Path(path)
    seen: dict[str, int] = {}  # id -> row, across chunks
    for first_row, frame in iter_frames(path, chunk_size):
        _check_columns(path, frame, columns)
        chunk = _unlabelled_chunk(path, first_row, frame, columns, bad_rows)
        if id_column is not None:
            check_unique_ids(path, id_column, chunk.ids, chunk.rows, seen)
        if len(chunk) or chunk.skipped:
            yield chunk


def _unlabelled_chunk(path: Path, first_row: int, frame: pd.DataFrame, columns: Columns, bad_rows: str) -> Examples:
    """`_validate_frame(labelled=False)` for the streaming hot path: one list pass per column instead
    of a frame lookup per row and column; the same rules and messages."""
    texts = frame[columns.text].tolist()  # a str with visible characters skips the full rules
    problems = {i: columns.text for i, t in enumerate(texts) if t.__class__ is not str or not t.strip()}
    reasons = {i: "empty or missing text" if _is_missing(texts[i]) else not_a_string(texts[i]) for i in problems}
    ids = None
    if columns.id is not None:
        raw = frame[columns.id].tolist()
        for i, v in enumerate(raw):  # a text problem wins within a row
            if (v.__class__ is not str or not v.strip()) and _is_missing(v) and i not in problems:
                problems[i], reasons[i] = columns.id, "empty or missing value"
        ids = [v.strip() if v.__class__ is str else "" if _is_missing(v) else _scalar_label(v) for v in raw]
    rows = list(range(first_row, first_row + len(texts)))
    if problems and bad_rows == "error":
        i = min(problems)
        raise DataError(f"{where(path, rows[i], problems[i])}: {reasons[i]}")
    if problems:
        keep = [i for i in range(len(texts)) if i not in problems]
        texts, rows, ids = [texts[i] for i in keep], [rows[i] for i in keep], ids and [ids[i] for i in keep]
    return Examples(texts=texts, ids=ids, rows=rows, source=str(path), skipped=len(problems))


def estimate_rows(path: str | Path, max_bytes: int = 2 << 30) -> int | None:
    """About how many rows `path` holds (a progress bar's total): Parquet metadata, else the line count of
    an uncompressed text file (over-estimates multi-line fields); None for stdin, compressed or huge files."""
    try:
        path = Path(path)
        fmt = detect_format(path)
        if fmt == "parquet":
            return int(pq.ParquetFile(path).metadata.num_rows)
        if compression_of(path) or path.stat().st_size > max_bytes:
            return None
        lines, last = 0, b"\n"
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                lines, last = lines + block.count(b"\n"), block[-1:]
        return max(lines + (last != b"\n") - (fmt != "jsonl"), 0)
    except Exception:  # noqa: BLE001 - an estimate only: reading the file reports what is wrong with it
        return None


def _stdin_chunks(chunk_size: int) -> Iterator[Examples]:
    """One text per line. A blank line is no text: it is skipped, counted in `skipped` and named on
    stderr at the end, while every row keeps its input line number (the output's `row`)."""
    texts, rows, blank, counted = [], [], [], 0
    for number, line in enumerate(_stdin_lines(), start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            blank.append(number)
            continue
        texts.append(line)
        rows.append(number)
        if len(texts) >= chunk_size:
            yield Examples(texts=texts, rows=rows, source="<stdin>", skipped=len(blank) - counted)
            texts, rows, counted = [], [], len(blank)
    if texts or len(blank) > counted:
        yield Examples(texts=texts, rows=rows, source="<stdin>", skipped=len(blank) - counted)
    if blank:
        s, shown = "s" * (len(blank) > 1), ", ".join(map(str, blank[:10])) + ", ..." * (len(blank) > 10)
        print(f"textclf: warning: <stdin>: skipped {len(blank)} blank line{s} (line{s} {shown}); "
              "output rows keep their input line numbers", file=sys.stderr)


def _stdin_lines() -> Iterator[str]:
    """Lines of stdin decoded as UTF-8, strictly, as files are: the locale's decoding may let bad
    bytes through (as surrogate escapes) and they would be classified as some other text."""
    stream = getattr(sys.stdin, "buffer", None)
    for number, line in enumerate(stream if stream is not None else sys.stdin, start=1):
        try:
            if isinstance(line, bytes):
                line = line.decode("utf-8")
            else:
                line.encode("utf-8")  # a text stream (no buffer) that kept bad bytes as surrogates
        except (UnicodeDecodeError, UnicodeEncodeError):
            raise DataError(f"<stdin>, line {number}: bytes are not valid UTF-8 (re-encode the input as UTF-8)") from None
        yield line[1:] if number == 1 and line.startswith("\ufeff") else line  # a byte-order mark is no text


def examples_frame(examples: Examples, columns: Columns = Columns()) -> pd.DataFrame:
    """The examples as a table with the given column names (multi-label labels as lists)."""
    data: dict[str, Any] = {}
    if examples.ids is not None:
        data[columns.id or "id"] = examples.ids
    data[columns.text] = examples.texts
    if examples.labels is not None:
        data[columns.label or "label"] = [list(x) if isinstance(x, tuple) else x for x in examples.labels]
    if examples.groups is not None:
        data[columns.group or "group"] = examples.groups
    if examples.times is not None:
        data[columns.time or "time"] = original_times(examples.times)  # the cells as the file wrote them
    return pd.DataFrame(data)
