"""The one owner of table file formats: suffix -> format, parsing a file into raw frames, writing.

Formats: csv, tsv (also .txt), jsonl (also .ndjson, .json) and parquet (also .pq), each optionally
compressed with .gz, .bz2 or .xz. `parse_frames` turns an open byte stream into raw pandas frames
(every CSV/TSV value as text, JSON values as parsed); the local reader (data/io.py, `iter_frames`)
and the Ray datasource (serving/ray_predict.py) both call it, so both read a file the same way. A
UTF-8 byte-order mark is accepted in every text format. Every problem is a one-line DataError
naming the file (and row where there is one); a truncated or fake compressed file included.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import json
import lzma
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
                  supported: Iterable[str] = ("jsonl", "csv", "tsv"), default: str = "jsonl") -> str:
    """The format a writer should use: `requested` (an --output-format value; "json" means jsonl)
    if given, else OUTPUT's suffix when the writer supports it, else `default`."""
    supported = tuple(supported)
    if requested is not None:
        fmt = "jsonl" if requested == "json" else requested
        if fmt not in supported:
            raise DataError(f"output format {requested!r} is not one of {', '.join(supported)}")
        return fmt
    found = format_of(path) if path else None
    return found if found in supported else default


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

    # utf-8-sig: a leading byte-order mark is not part of the first column's name
    options = dict(sep="\t" if fmt == "tsv" else ",", dtype=str, keep_default_na=False,
                   encoding="utf-8-sig", encoding_errors="strict")
    try:
        if chunk_size is None:
            yield 1, pd.read_csv(source, **options)
            return
        first = 1
        with pd.read_csv(source, chunksize=chunk_size, **options) as reader:
            for frame in reader:
                yield first, frame
                first += len(frame)
    except pd.errors.EmptyDataError:
        if not empty_ok:
            raise DataError(f"{path}: file is empty") from None
    except pd.errors.ParserError as err:
        reason = " ".join(str(err).split())
        raise DataError(f"{path}: malformed {fmt.upper()} ({reason[:160]})") from None


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
        records.append(record)
        if chunk_size is not None and len(records) >= chunk_size:
            yield first, pd.DataFrame.from_records(records)
            first += len(records)
            records = []
    if row == 0 and not empty_ok:
        raise DataError(f"{path}: file is empty (no JSON lines)")
    if records:
        yield first, pd.DataFrame.from_records(records)


def _parquet_frames(source: Any, path: str | Path, chunk_size: int | None, empty_ok: bool):
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a file that is not Parquet
        raise DataError(f"{path}: not a readable Parquet file ({str(err).splitlines()[0][:160]})") from None
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


def _compressing(path: Path, raw: IO[bytes]):
    """A writer that compresses into `raw` as the suffix says (or `raw` itself)."""
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
    with atomic_file(path, "wb") as raw, _compressing(path, raw) as out:
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
