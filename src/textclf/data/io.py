"""Read and validate labelled text from CSV/TSV, JSONL and Parquet, whole or in chunks.

Every problem is a DataError naming the file, the 1-based data row (header excluded) and the
column. With `bad_rows="skip"` a bad row is dropped and counted instead, except for problems that
make the whole file unusable (missing file or column, undecodable bytes).
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..errors import DataError, not_a_string, where
from .examples import Examples
from .label_types import LabelColumn

Format = Literal["csv", "tsv", "jsonl", "parquet"]
_COMPRESSION = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


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

    @property
    def wanted(self) -> list[str]:
        return [c for c in (self.text, self.label, self.group, self.time, self.id) if c is not None]


def detect_format(path: Path) -> Format:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION:
        suffixes = suffixes[:-1]
    kind = suffixes[-1] if suffixes else ""
    formats: dict[str, Format] = {
        ".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
        ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet",
    }
    if kind not in formats:
        raise DataError(f"{path}: unknown file type {kind or '(none)'!r}; use .csv, .tsv, .jsonl or .parquet")
    return formats[kind]


def _open_binary(path: Path):
    opener = _COMPRESSION.get(path.suffix.lower(), open)
    return opener(path, "rb")


def _first_bad_utf8_line(path: Path) -> int | None:
    with _open_binary(path) as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def iter_frames(path: str | Path, chunk_size: int | None = None) -> Iterator[tuple[int, pd.DataFrame]]:
    """Yield (first_row_number, frame) chunks of the raw table, all values as read."""
    path = Path(path)
    if str(path) != "-" and not path.is_file():
        raise DataError(f"{path}: file not found")
    fmt = detect_format(path)
    try:
        if fmt == "parquet":
            yield from _parquet_frames(path, chunk_size)
        elif fmt == "jsonl":
            yield from _jsonl_frames(path, chunk_size)
        else:
            yield from _csv_frames(path, fmt, chunk_size)
    except UnicodeDecodeError:
        line = _first_bad_utf8_line(path)
        raise DataError(f"{path}, line {line}: bytes are not valid UTF-8 (re-encode the file as UTF-8)") from None


def _csv_frames(path: Path, fmt: Format, chunk_size: int | None):
    options = dict(sep="\t" if fmt == "tsv" else ",", dtype=str, keep_default_na=False,
                   encoding="utf-8", encoding_errors="strict")
    try:
        if chunk_size is None:
            yield 1, pd.read_csv(path, **options)
            return
        first = 1
        with pd.read_csv(path, chunksize=chunk_size, **options) as reader:
            for frame in reader:
                yield first, frame
                first += len(frame)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty") from None
    except pd.errors.ParserError as err:
        raise DataError(f"{path}: malformed {fmt.upper()} ({str(err).strip()})") from None


def _jsonl_frames(path: Path, chunk_size: int | None):
    records: list[dict] = []
    first = 1
    with _open_binary(path) as handle:
        row = 0
        for line in handle:
            text = line.decode("utf-8")
            if not text.strip():
                continue
            row += 1
            try:
                record = json.loads(text)
            except json.JSONDecodeError as err:
                raise DataError(f"{where(path, row)}: invalid JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise DataError(f"{where(path, row)}: expected a JSON object per line")
            records.append(record)
            if chunk_size is not None and len(records) >= chunk_size:
                yield first, pd.DataFrame.from_records(records)
                first += len(records)
                records = []
    if records or first == 1:
        yield first, pd.DataFrame.from_records(records)


def _parquet_frames(path: Path, chunk_size: int | None):
    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a file that is not Parquet
        raise DataError(f"{path}: not a readable Parquet file ({err})") from None
    first = 1
    for batch in parquet.iter_batches(batch_size=chunk_size or 65536):
        frame = batch.to_pandas()
        yield first, frame
        first += len(frame)
    if first == 1:
        yield 1, parquet.schema_arrow.empty_table().to_pandas()


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


def parse_label(value: Any, columns: Columns, typed: LabelColumn, row: int) -> str | tuple[str, ...]:
    """A single class name, or for multi-label a tuple of names from a list, a JSON list string
    or a delimited string, typed by `typed` (data.label_types: one type per column). Raises
    ValueError with a reason on a malformed value, DataError on a value of the wrong type."""
    if not columns.multi_label:
        if isinstance(value, (list, tuple, np.ndarray)):
            raise ValueError("list-valued label in a single-label task (set task: multi_label)")
        return typed.name(value, row)
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                value = json.loads(stripped)
            except json.JSONDecodeError:
                raise ValueError("label looks like a JSON list but does not parse") from None
        elif columns.label_delimiter:
            value = [part for part in stripped.split(columns.label_delimiter) if part.strip()]
        else:
            value = [stripped] if stripped else []
    if not isinstance(value, (list, tuple, np.ndarray)):
        value = [value]
    names = [typed.name(v, row) for v in value if not _is_missing(v)]
    return tuple(dict.fromkeys(names))


def _parse_times(path: Path, values: list[Any], rows: list[int], column: str) -> np.ndarray:
    numeric = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
    if not numeric.isna().any():
        return numeric.to_numpy(dtype=float)
    parsed = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce", format="mixed")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        i = int(bad[0])
        raise DataError(f"{where(path, rows[i], column)}: cannot parse {values[i]!r} as a date or number")
    return parsed.to_numpy(dtype="datetime64[ns]")


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
        seen: dict[str, int] = {}
        for value, row in zip(merged["ids"], merged["rows"]):
            if value in seen:
                raise DataError(f"{where(path, row, columns.id)}: duplicate id {value!r} (first at row {seen[value]})")
            seen[value] = row
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
    for first_row, frame in iter_frames(path, chunk_size):
        _check_columns(path, frame, columns)
        chunk = _unlabelled_chunk(path, first_row, frame, columns, bad_rows)
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
        if path.suffix.lower() in _COMPRESSION or path.stat().st_size > max_bytes:
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
    for number, line in enumerate(sys.stdin, start=1):
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
        data[columns.time or "time"] = examples.times
    return pd.DataFrame(data)


def write_frame(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table atomically; the format follows the suffix. Lists become JSON in CSV/TSV."""
    from ..fileio import atomic_file

    path = Path(path)
    fmt = detect_format(path)
    if fmt == "parquet":
        with atomic_file(path, "wb") as handle:
            frame.to_parquet(handle, index=False)
        return
    if fmt == "jsonl":
        with atomic_file(path) as handle:
            frame.to_json(handle, orient="records", lines=True, force_ascii=False, date_format="iso")
        return
    out = frame.copy()
    for name in out.columns:
        if out[name].map(lambda v: isinstance(v, list)).any():
            out[name] = out[name].map(lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v)
    with atomic_file(path, newline="") as handle:
        out.to_csv(handle, index=False, sep="\t" if fmt == "tsv" else ",")
