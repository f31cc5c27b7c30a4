"""The one owner of table file formats: suffix -> format, parsing a file into raw frames, writing.

Formats: csv, tsv (also .txt), jsonl (also .ndjson, .json) and parquet (also .pq), each optionally
compressed with .gz, .bz2 or .xz. `parse_frames` turns an open byte stream into raw pandas frames
(every CSV/TSV value as text, JSON values as parsed); the local reader (data/io.py, `iter_frames`)
and the Ray datasource (serving/ray_predict.py) both call it, so both read a file the same way. A
UTF-8 byte-order mark is accepted in every text format. Every problem is a one-line DataError
naming the file (and row where there is one); a truncated or fake compressed file, a CSV/TSV row
with more fields than the header and a column name given twice included.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import json
import lzma
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from ..errors import DataError, where

if TYPE_CHECKING:
    import pandas as pd

Format = Literal["csv", "tsv", "jsonl", "parquet"]
SUFFIXES: dict[str, Format] = {
    ".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
}
COMPRESSIONS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
KNOWN = ".csv, .tsv, .jsonl or .parquet (optionally .gz, .bz2 or .xz)"
BOM = b"\xef\xbb\xbf"
# What a truncated or fake compressed stream raises: gzip (BadGzipFile is an OSError, zlib.error),
# bz2 (OSError "Invalid data stream", EOFError), xz (lzma.LZMAError, EOFError); pyarrow's codecs
# in the Ray reader raise OSError too.
DECOMPRESSION_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError)


def compression_of(path: str | Path) -> str | None:
    """'.gz', '.bz2', '.xz' or None, from the last suffix."""
    suffix = Path(path).suffix.lower()
    return suffix if suffix in COMPRESSIONS else None


def format_of(path: str | Path) -> Format | None:
    """The table format a path's suffix names (a compression suffix looked through), or None."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes = suffixes[:-1]
    return SUFFIXES.get(suffixes[-1]) if suffixes else None


def detect_format(path: str | Path) -> Format:
    """`format_of`, or a DataError naming the suffix it does not know."""
    fmt = format_of(path)
    if fmt is None:
        suffixes = Path(path).suffixes
        shown = "".join(suffixes[-2:]) if suffixes else "(none)"
        raise DataError(f"{path}: unknown file type {shown!r}; use {KNOWN}")
    return fmt


def output_format(path: str | Path | None, requested: str | None = None, *,
                  supported: Iterable[str] = ("jsonl", "csv", "tsv"), default: str = "jsonl",
                  compressible: bool = False) -> str:
    """The format a writer should use: `requested` (an --output-format value; "json" means jsonl)
    if given, else OUTPUT's suffix, else (no suffix at all, or no OUTPUT) `default`. A suffix this
    writer cannot honour is refused, never written as `default` under a name that says otherwise:
    an unknown one (`out.xyz`), an unsupported format, or a compression suffix where the writer
    does not compress (`compressible`)."""
    supported = tuple(supported)
    if path and compression_of(path) and not compressible:
        raise DataError(f"{path}: this output is not written compressed; drop {compression_of(path)!r}")
    if requested is not None:
        fmt = "jsonl" if requested == "json" else requested
        if fmt not in supported:
            raise DataError(f"output format {requested!r} is not one of {', '.join(supported)}")
        return fmt
    found = format_of(path) if path else None
    if found in supported:
        return found
    suffixes = [s for s in Path(path).suffixes if s.lower() not in COMPRESSIONS] if path else []
    if not suffixes and found is None:
        return default
    names = ", ".join(sorted(s for s, f in SUFFIXES.items() if f in supported))
    shown = suffixes[-1] if suffixes else "(none)"
    compressed = " (optionally .gz, .bz2 or .xz)" if compressible else ""
    raise DataError(f"{path}: cannot write {shown!r} here; use {names}{compressed}, or --format")


def check_input_file(path: str | Path) -> Path:
    """The path, if it names a readable file (a DataError for a missing path or a directory)."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give a {KNOWN} file")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    return path


def open_binary(path: str | Path) -> IO[bytes]:
    """The file's bytes, decompressed by suffix."""
    return COMPRESSIONS.get(compression_of(path) or "", open)(path, "rb")


def iter_lines(handle: IO[bytes], block: int = 1 << 20) -> Iterator[bytes]:
    """Lines of a byte stream (any object with `read`, such as pyarrow's streams), without '\\n'."""
    rest = b""
    while chunk := handle.read(block):
        *lines, rest = (rest + chunk).split(b"\n")
        yield from lines
    if rest:
        yield rest


def parse_frames(source: Any, path: str | Path, fmt: Format, chunk_size: int | None = None,
                 empty_ok: bool = False) -> Iterator[tuple[int, pd.DataFrame]]:
    """(first_row, frame) chunks of the raw table in `source` (a decompressed binary stream; for
    Parquet a path or a seekable stream). Rows count from 1, header excluded. A file with no bytes
    or no JSON line is a DataError, a CSV header or Parquet schema without rows one empty frame
    (`empty_ok`: nothing at all, for one shard of many). Undecodable bytes raise UnicodeDecodeError
    for the caller to place; every other problem is a DataError."""
    if fmt == "parquet":
        yield from _parquet_frames(source, path, chunk_size, empty_ok)
    elif fmt == "jsonl":
        yield from _jsonl_frames(source, path, chunk_size, empty_ok)
    else:
        yield from _csv_frames(source, path, fmt, chunk_size, empty_ok)


def _csv_frames(source: Any, path: str | Path, fmt: Format, chunk_size: int | None, empty_ok: bool):
    import pandas as pd

    # header=None: the header is read as a row, so its raw names are checked (pandas would rename a
    # second `text` to `text.1`), and a row with more fields than the header is a ParserError (with
    # a header row, pandas silently takes a row's extra first field as the index: an unquoted comma
    # would cut a text in two). utf-8-sig: a byte-order mark is not part of the first name.
    options = dict(sep="\t" if fmt == "tsv" else ",", header=None, dtype=str, keep_default_na=False,
                   encoding="utf-8-sig", encoding_errors="strict")
    try:
        if chunk_size is None:
            yield from _named_frames(iter([pd.read_csv(source, **options)]), path, empty_ok)
            return
        with pd.read_csv(source, chunksize=chunk_size, **options) as reader:
            yield from _named_frames(_header_first(reader, chunk_size), path, empty_ok)
    except pd.errors.EmptyDataError:
        if not empty_ok:
            raise DataError(f"{path}: file is empty") from None
    except pd.errors.ParserError as err:
        raise _csv_error(path, fmt, err) from None


def _header_first(reader: Any, size: int) -> Iterator[pd.DataFrame]:
    """Chunks of `size` data rows: the first one row longer, for the header row it holds."""
    extra = 1
    while True:
        try:
            yield reader.get_chunk(size + extra)
        except StopIteration:
            return
        extra = 0


def _named_frames(frames: Iterator[pd.DataFrame], path: str | Path, empty_ok: bool):
    """(first_row, frame) with the header row's names as columns; rows count from 1 after it."""
    columns: list[str] | None = None
    first, empty = 1, None
    for frame in frames:
        if columns is None:
            columns = header_names(path, frame.iloc[0].tolist())
            frame = frame.iloc[1:].reset_index(drop=True)
            empty = frame.iloc[0:0].set_axis(columns, axis=1)
        if len(frame):
            yield first, frame.set_axis(columns, axis=1)
            first += len(frame)
    if first == 1 and empty is not None and not empty_ok:  # a header without rows: one empty frame
        yield 1, empty


def header_names(path: str | Path, raw: list) -> list[str]:
    """Column names from a raw header row (an empty name is `Unnamed: i`, as pandas names it); a
    name given twice is refused: which of the two columns is meant would be a guess."""
    names = [str(name) if name not in ("", None) else f"Unnamed: {i}" for i, name in enumerate(raw)]
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if name in seen:
            raise DataError(f'{path}: column "{name}" appears twice (columns {seen[name]} and '
                            f"{i}); rename one")
        seen[name] = i
    return names


_FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _csv_error(path: str | Path, fmt: Format, err: Exception) -> DataError:
    """A ParserError as one line: a row with more fields than the header is named by row and line."""
    reason = " ".join(str(err).split())
    match = _FIELD_COUNT.search(reason)
    if match is None:
        return DataError(f"{path}: malformed {fmt.upper()} ({reason[:160]})")
    expected, line, saw = map(int, match.groups())
    found = _long_row(path, fmt, expected)
    at = f"row {found[0]} (line {found[1]})" if found else f"line {line}"
    sep = "tab" if fmt == "tsv" else "comma"
    return DataError(f"{path}, {at}: {found[2] if found else saw} fields where the header has {expected}; "
                     f"quote a value that holds a {sep}")


def _long_row(path: str | Path, fmt: Format, expected: int) -> tuple[int, int, int] | None:
    """(data row, first line, fields) of the first row with more than `expected` fields, found again
    with the csv module (pandas's count of lines skips quoted line breaks); None if not readable."""
    import csv

    try:
        with open_binary(path) as handle:
            text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
            reader = csv.reader(text, delimiter="\t" if fmt == "tsv" else ",")
            next(reader)
            row, start = 0, reader.line_num + 1
            for record in reader:
                row += bool(record)  # a blank line is no row
                if len(record) > expected:
                    return row, start, len(record)
                start = reader.line_num + 1
    except (csv.Error, UnicodeDecodeError, StopIteration, *DECOMPRESSION_ERRORS):
        return None
    return None


def _jsonl_frames(source: Any, path: str | Path, chunk_size: int | None, empty_ok: bool):
    import pandas as pd

    records: list[dict] = []
    first, row = 1, 0
    for number, line in enumerate(iter_lines(source), start=1):
        if number == 1 and line.startswith(BOM):
            line = line[len(BOM):]
        text = line.decode("utf-8")
        if not text.strip():
            continue
        row += 1
        try:
            record = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{where(path, row)}: invalid JSON ({err.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{where(path, row)}: expected a JSON object per line, got {type(record).__name__}")
        if _SURROGATE_ESCAPE.search(text):  # rare: only then is every value checked
            _check_unicode(record, path, row)
        records.append(record)
        if chunk_size is not None and len(records) >= chunk_size:
            yield first, pd.DataFrame.from_records(records)
            first += len(records)
            records = []
    if row == 0 and not empty_ok:
        raise DataError(f"{path}: file is empty (no JSON lines)")
    if records:
        yield first, pd.DataFrame.from_records(records)


# A JSON escape of a UTF-16 surrogate (\\ud800-\\udfff): a pair is one character, a lone one is not
# Unicode at all (no UTF-8 spelling), and would fail deep inside pyarrow or an encoder.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _check_unicode(record: dict, path: str | Path, row: int) -> None:
    for key, value in record.items():
        try:
            json.dumps([key, value], ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            column = str(key).encode("utf-8", "backslashreplace").decode("utf-8")
            raise DataError(f"{where(path, row, column)}: not valid Unicode (a lone surrogate such as "
                            "\\ud800 has no UTF-8 form)") from None


def _parquet_frames(source: Any, path: str | Path, chunk_size: int | None, empty_ok: bool):
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a file that is not Parquet
        raise DataError(f"{path}: not a readable Parquet file ({str(err).splitlines()[0][:160]})") from None
    header_names(path, parquet.schema_arrow.names)  # a column name given twice is refused
    first = 1
    for batch in parquet.iter_batches(batch_size=chunk_size or 65536):
        frame = batch.to_pandas()
        yield first, frame
        first += len(frame)
    if first == 1 and not empty_ok:
        yield 1, parquet.schema_arrow.empty_table().to_pandas()


def decompression_error(path: str | Path, err: BaseException) -> DataError:
    """The one line for a compressed file that is truncated or not of its suffix's kind."""
    kind = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz"}.get(compression_of(path) or "", "compressed")
    reason = " ".join(str(err).split()) or type(err).__name__
    return DataError(f"{path}: cannot decompress ({reason[:120]}); the {kind} file is truncated or corrupt")


def first_bad_utf8_line(path: str | Path) -> int | None:
    """The 1-based line of the first bytes that are not UTF-8 (None if there is none)."""
    with open_binary(path) as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def iter_frames(path: str | Path, chunk_size: int | None = None) -> Iterator[tuple[int, pd.DataFrame]]:
    """Yield (first_row_number, frame) chunks of the raw table in a local file, values as read."""
    path = check_input_file(path)
    fmt = detect_format(path)
    compressed = compression_of(path) is not None
    try:
        if fmt == "parquet" and not compressed:
            yield from parse_frames(path, path, fmt, chunk_size)
            return
        with open_binary(path) as handle:
            yield from parse_frames(handle, path, fmt, chunk_size)
    except UnicodeDecodeError:
        try:
            line = first_bad_utf8_line(path)
        except DECOMPRESSION_ERRORS:
            line = None
        at = f", line {line}" if line is not None else ""
        raise DataError(f"{path}{at}: bytes are not valid UTF-8 (re-encode the file as UTF-8)") from None
    except DECOMPRESSION_ERRORS as err:
        if not compressed or getattr(err, "errno", None) is not None:  # errno: the OS failed (permissions, I/O)
            raise
        raise decompression_error(path, err) from None


def compressing(path: str | Path, raw: IO[bytes]):
    """A writer that compresses into `raw` as the suffix of `path` says (or `raw` itself)."""
    suffix = compression_of(path)
    if suffix == ".gz":
        return gzip.GzipFile(fileobj=raw, mode="wb")
    if suffix == ".bz2":
        return bz2.BZ2File(raw, "wb")
    if suffix == ".xz":
        return lzma.LZMAFile(raw, "wb")
    return contextlib.nullcontext(raw)


def write_frame(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table atomically; the format follows the suffix (.gz/.bz2/.xz compress it). Lists
    become JSON in CSV/TSV cells."""
    from ..fileio import atomic_file

    path = Path(path)
    fmt = detect_format(path)
    with atomic_file(path, "wb") as raw, compressing(path, raw) as out:
        if fmt == "parquet":
            frame.to_parquet(out, index=False)
            return
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        if fmt == "jsonl":
            frame.to_json(text, orient="records", lines=True, force_ascii=False, date_format="iso")
        else:
            table = frame.copy()
            for name in table.columns:
                if table[name].map(lambda v: isinstance(v, list)).any():
                    table[name] = table[name].map(
                        lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v)
            table.to_csv(text, index=False, sep="\t" if fmt == "tsv" else ",")
        text.flush()
        text.detach()  # the compressor (or the atomic file) is closed by its own block
