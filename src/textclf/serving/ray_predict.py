"""Batch prediction on Ray Data: the local `predict` rows, computed by a pool of Ray actors.

    textclf predict MODEL 'shards/*.parquet' -o predictions.parquet --engine ray --address auto

Needs the optional extra `textclf-toolkit[ray]`. Two entry points:

* `predict_dataset(model_dir, dataset)` maps any `ray.data.Dataset` with a text column to a
  Dataset of prediction rows (`map_batches` with a callable class, so each actor loads the saved
  model once and keeps it for every batch it is given).
* `predict_files(model_dir, input, output)` reads CSV / TSV / JSONL / Parquet (a file, a directory
  or a glob) through Ray's file datasource, writes the rows with Ray's Parquet / CSV / JSON writers
  into a temporary directory beside OUTPUT and renames it into place when every row is written
  (`fileio.atomic_directory`): a reader never sees a half-written OUTPUT directory.

Rows equal local `predict` rows (serving/predict.py): the same columns, calibrated probabilities
and applied thresholds, because both build them with `prediction_rows` from `clf.from_logits`;
inside a batch texts are length-sorted into model calls of `batch_size` (`chunk_logits`).
`row` is the 1-based data row of the text in its input file, counted by the reader; with several
input files a `path` column says which file. Output files hold rows in no promised order: sort by
(path, row) to line them up with the input.

Fault tolerance: an actor that dies (a killed worker, a lost node) is restarted by Ray, which
reloads the model, and the batch it held is run again (`max_restarts=-1`, `max_task_retries=3`):
a batch's rows are emitted only when the whole batch is done, so no row is lost or written twice.
A batch that kills its worker on every try (say, out of memory) fails the run after 3 retries.
On a cluster, INPUT and OUTPUT must be on a filesystem that every node and the driver see (NFS):
workers read and write them directly, and the final rename needs one filesystem.
"""

from __future__ import annotations

import glob as globbing
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import Examples
from ..data import formats
from ..data.formats import (DECOMPRESSION_ERRORS, compression_of, decompression_error, detect_format, format_of,
                            parse_frames)
from ..data.lengths import chunk_logits
from ..errors import DataError, TextclfError, not_a_string, where
from ..fileio import atomic_directory, check_output
from .predict import prediction_rows
from .loading import load_for_inference

try:  # the optional extra: textclf-toolkit[ray]
    import ray
    import ray.data
    from ray.data.datasource import FileBasedDatasource
except ImportError:  # pragma: no cover - exercised only without the extra
    ray = None
    FileBasedDatasource = object

OUTPUT_FORMATS = ("parquet", "csv", "jsonl")  # Ray's writers; jsonl is Ray's write_json
ACTOR_OPTIONS = {"max_restarts": -1, "max_task_retries": 3}  # see the module docstring
# Reading and writing tasks reserve no CPU: the predicting actors take one CPU each, and a read
# or write task waiting for a CPU that the actors hold would stall the whole pipeline.
IO_TASK_OPTIONS = {"num_cpus": 0}
TEXT, ID, ROW, PATH = "text", "id", "row", "path"  # the columns the file reader emits


def require_ray():
    if ray is None:
        raise DataError("--engine ray needs the optional extra: pip install 'textclf-toolkit[ray]' (make install EXTRAS=ray)")
    return ray


# -- the actor: one model per worker, many batches -----------------------------------------------
class BatchPredictor:
    """The callable class `map_batches` runs in each actor: loads the model once, then turns a
    pandas batch (text, optional id, row and pass-through columns) into prediction rows."""

    def __init__(self, model_dir: str, backend: str, text_column: str, id_column: str | None,
                 row_column: str | None, keep_columns: tuple[str, ...], batch_size: int,
                 labels_as_json: bool = False) -> None:
        self.clf = load_for_inference(model_dir, backend)
        self.text_column, self.id_column, self.row_column = text_column, id_column, row_column
        self.keep_columns, self.batch_size, self.labels_as_json = keep_columns, batch_size, labels_as_json
        probe = Examples(texts=["probe"], ids=["probe"] if id_column else None)
        self.columns = list(keep_columns) + [c for c in self._frame(probe, self.clf.logits(["probe"])).columns]

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        if len(batch) == 0:
            return pd.DataFrame({name: [] for name in self.columns})
        chunk = Examples(
            texts=[str(t) for t in batch[self.text_column]],
            ids=[str(v) for v in batch[self.id_column]] if self.id_column else None,
            rows=[int(r) for r in batch[self.row_column]] if self.row_column else [],
        )
        frame = self._frame(chunk, chunk_logits(self.clf.logits, chunk.texts, self.batch_size))
        for position, name in enumerate(self.keep_columns):
            frame.insert(position, name, batch[name].to_numpy())
        return frame

    def _frame(self, chunk: Examples, logits: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame.from_records(prediction_rows(self.clf, chunk, logits))
        if self.row_column is None:  # a row number the input did not give would mean nothing
            frame = frame.drop(columns="row")
        if self.labels_as_json and self.clf.multi_label:  # CSV cells hold no lists (as local predict)
            frame["label"] = [json.dumps(list(v), ensure_ascii=False) for v in frame["label"]]
        return frame


def predict_dataset(model_dir: str | Path, dataset, *, text_column: str | None = None,
                    id_column: str | None = None, row_column: str | None = None,
                    keep_columns: tuple[str, ...] = (), backend: str = "torch", batch_size: int = 64,
                    chunk_size: int = 4096, num_workers: int | None = None, labels_as_json: bool = False,
                    predictor_cls: type = BatchPredictor):
    """A `ray.data.Dataset` of prediction rows for `dataset` (lazy: nothing runs until it is
    consumed or written).

    text_column: default, the column the model was trained on. row_column: a column of input row
    numbers to report as `row` (without it the output has no `row`). keep_columns: input columns
    copied into the output (e.g. `path`). chunk_size: rows per `map_batches` call; batch_size:
    texts per model call after length-sorting the chunk. num_workers: actors in the pool (one CPU
    each); default, an autoscaling pool of up to one actor per CPU of the cluster.
    `predictor_cls`: a BatchPredictor subclass (tests inject a worker that crashes)."""
    require_ray()
    model_dir = str(Path(model_dir).resolve())
    if text_column is None:
        text_column = load_for_inference(model_dir, backend).card.text_column
    if num_workers is not None and num_workers < 1:
        raise DataError(f"--num-workers must be at least 1, got {num_workers}")
    schema = dataset.schema(fetch_if_missing=False)  # known without running anything, or None
    names = list(schema.names) if schema is not None else None
    missing = [c for c in (text_column, id_column, row_column, *keep_columns) if c is not None]
    missing = [c for c in missing if names is not None and c not in names]
    if missing:
        raise DataError(f"the dataset has no column {missing[0]!r} (columns: {', '.join(names)})")
    pool = (ray.data.ActorPoolStrategy(size=num_workers) if num_workers else
            ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, int(ray.cluster_resources().get("CPU", 1)))))
    with warnings.catch_warnings():  # Ray 2.60 warns on actor options passed this way; it has no other
        warnings.simplefilter("ignore", DeprecationWarning)
        return dataset.map_batches(
            predictor_cls, batch_size=chunk_size, batch_format="pandas", compute=pool, num_cpus=1,
            fn_constructor_kwargs={"model_dir": model_dir, "backend": backend, "text_column": text_column,
                                   "id_column": id_column, "row_column": row_column,
                                   "keep_columns": tuple(keep_columns), "batch_size": batch_size,
                                   "labels_as_json": labels_as_json},
            **ACTOR_OPTIONS)


# -- reading: Ray's file datasource, rows numbered per file ---------------------------------------
class TextFileSource(FileBasedDatasource):
    """Ray's file-based datasource (listing, one read task per group of files, retries) over
    textclf's reading rules: every value read as text as local `predict` reads it, an empty or
    missing text an error naming file, row and column, and each row's 1-based number in its file.
    Emits columns text, id (with `id_column`) and row; Ray adds `path` with include_paths."""

    def __init__(self, paths: list[str], fmt: str, text_column: str, id_column: str | None = None,
                 chunk_rows: int = 4096, **kwargs) -> None:
        super().__init__(paths, **kwargs)
        self.fmt, self.text_column, self.id_column, self.chunk_rows = fmt, text_column, id_column, chunk_rows

    def _open_input_source(self, filesystem, path: str, **open_args):
        if self.fmt == "parquet":  # Parquet needs random access (the footer first)
            return filesystem.open_input_file(path)
        return super()._open_input_source(filesystem, path, **open_args)

    def _read_stream(self, f, path: str) -> Iterator[Any]:
        first = 1
        for frame in _frames(f, path, self.fmt, self.chunk_rows):
            yield self._block(path, first, frame)
            first += len(frame)

    def _block(self, path: str, first: int, frame: pd.DataFrame):
        import pyarrow as pa

        for column in (self.text_column, self.id_column):
            if column is not None and column not in frame.columns:
                available = ", ".join(map(str, frame.columns)) or "none"
                raise DataError(f'{path}: column "{column}" not found (columns: {available})')
        texts = frame[self.text_column].tolist()
        ids = frame[self.id_column].tolist() if self.id_column else None
        for offset, text in enumerate(texts):
            if _missing(text):
                raise DataError(f"{where(path, first + offset, self.text_column)}: empty or missing text")
            if not isinstance(text, str):  # as local predict: never classify a number's or object's repr
                raise DataError(f"{where(path, first + offset, self.text_column)}: {not_a_string(text)}")
            if ids is not None and _missing(ids[offset]):
                raise DataError(f"{where(path, first + offset, self.id_column)}: empty or missing value")
        columns = {TEXT: pa.array(texts, pa.string())}
        if ids is not None:
            columns[ID] = pa.array([_id_text(v) for v in ids], pa.string())
        columns[ROW] = pa.array(np.arange(first, first + len(texts), dtype=np.int64))
        return pa.table(columns)


def _missing(value: Any) -> bool:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return True
    return isinstance(value, str) and not value.strip()


def _id_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _frames(f, path: str, fmt: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Raw tables of at most `chunk_rows` rows, parsed by data/formats.py as local `predict` reads
    them (an empty file yields nothing: it may be one shard of many)."""
    try:
        for _, frame in parse_frames(f, path, fmt, chunk_rows, empty_ok=True):
            yield frame
    except UnicodeDecodeError:
        raise DataError(f"{path}: bytes are not valid UTF-8 (re-encode the file as UTF-8)") from None
    except DECOMPRESSION_ERRORS as err:
        if compression_of(path) is None or getattr(err, "errno", None) is not None:
            raise
        raise decompression_error(path, err) from None


def input_files(spec: str | Path) -> tuple[list[str], str]:
    """(files, format) for a file, a directory (its files of one format) or a glob pattern."""
    spec = str(spec)
    if any(ch in spec for ch in "*?["):
        paths = sorted(p for p in globbing.glob(spec, recursive=True) if os.path.isfile(p))
        if not paths:
            raise DataError(f"{spec}: no file matches")
    elif os.path.isdir(spec):
        paths = sorted(str(p) for p in Path(spec).rglob("*") if p.is_file()
                       and not any(part.startswith((".", "_")) for part in p.relative_to(spec).parts))
        paths = [p for p in paths if format_of(p) is not None]
        if not paths:
            raise DataError(f"{spec}: no .csv, .tsv, .jsonl or .parquet file in this directory")
    elif os.path.isfile(spec):
        paths = [spec]
    else:
        raise DataError(f"{spec}: file not found")
    formats = {detect_format(p) for p in paths}
    if len(formats) > 1:
        raise DataError(f"{spec}: files of several formats ({', '.join(sorted(formats))}); give one format")
    return [str(Path(p).resolve()) for p in paths], formats.pop()


def output_format(output: str | Path, fmt: str | None = None) -> str:
    """Ray's writer name: parquet (the default), csv or json (JSON lines), from `fmt` or OUTPUT's suffix."""
    found = formats.output_format(output, fmt, supported=OUTPUT_FORMATS, default="parquet")
    return "json" if found == "jsonl" else found


# -- the whole job -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RaySummary:
    rows: int
    files: int  # files written under OUTPUT
    output: str
    workers: int | None


def predict_files(model_dir: str | Path, input: str | Path, output: str | Path, *, address: str | None = None,
                  num_workers: int | None = None, backend: str = "torch", fmt: str | None = None,
                  text_column: str | None = None, id_column: str | None = None, batch_size: int = 64,
                  chunk_size: int = 4096, overwrite: bool = False, progress: bool = False,
                  predictor_cls: type = BatchPredictor) -> RaySummary:
    """Predict every text of `input` (file, directory or glob) into the directory `output`.

    address: None joins the Ray instance this process already has, else starts a local one;
    "auto" or "ray://host:10001" joins a cluster. A bad OUTPUT, model or input fails before Ray
    starts. A user error inside a worker (an empty text, a missing column) surfaces as the same
    one-line DataError as local `predict`; OUTPUT is then left as it was."""
    require_ray()
    output, fmt = Path(output), output_format(output, fmt)
    check_output(output, overwrite=overwrite, directory=True)
    clf = load_for_inference(model_dir, backend)  # a bad model fails here, not in every worker
    text_column = text_column or clf.card.text_column
    paths, in_fmt = input_files(input)
    started = _connect(address)
    try:
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = progress
        source = TextFileSource(paths, in_fmt, text_column, id_column, chunk_rows=chunk_size,
                                include_paths=len(paths) > 1)
        rows = ray.data.read_datasource(source, **IO_TASK_OPTIONS)
        predictions = predict_dataset(
            model_dir, rows, text_column=TEXT, id_column=ID if id_column else None, row_column=ROW,
            keep_columns=(PATH,) if len(paths) > 1 else (), backend=backend, batch_size=batch_size,
            chunk_size=chunk_size, num_workers=num_workers, labels_as_json=fmt == "csv",
            predictor_cls=predictor_cls)
        with atomic_directory(output, overwrite=overwrite, lock=True) as tmp:
            try:
                getattr(predictions, f"write_{fmt}")(str(tmp), ray_remote_args=IO_TASK_OPTIONS)
            except Exception as err:
                raise _user_error(err) or err
            count, files = count_rows(tmp, fmt)
    finally:
        if started:
            ray.shutdown()
    return RaySummary(rows=count, files=files, output=str(output), workers=num_workers)


def _connect(address: str | None) -> bool:
    """Join or start Ray; True when this call started (and so must stop) it."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="warning")
    except (ConnectionError, ValueError) as err:
        raise DataError(f"--address {address}: cannot connect to Ray ({str(err).splitlines()[0]})") from None
    return True


def _user_error(err: BaseException) -> TextclfError | None:
    """The TextclfError a worker raised, unwrapped from Ray's task errors (one line, as locally)."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        cause = getattr(err, "cause", None)  # ray.exceptions.RayTaskError keeps the worker's exception
        if isinstance(cause, BaseException):
            err = cause
            continue
        if isinstance(err, TextclfError):  # Ray appends retry advice on further lines
            return type(err)(str(err).strip().splitlines()[0]) if str(err).strip() else err
        err = err.__cause__ or err.__context__
    return None


def count_rows(directory: str | Path, fmt: str) -> tuple[int, int]:
    """(rows, files) of an output directory written by Ray."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    rows, files = 0, 0
    for path in sorted(Path(directory).rglob("*")):
        if not path.is_file() or path.name.startswith((".", "_")):
            continue
        files += 1
        if fmt == "parquet":
            rows += pq.ParquetFile(path).metadata.num_rows
        elif fmt == "csv":
            rows += pcsv.read_csv(path).num_rows
        else:
            with open(path, "rb") as handle:
                rows += sum(1 for line in handle if line.strip())
    return rows, files
