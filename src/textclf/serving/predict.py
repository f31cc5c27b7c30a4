"""Streaming batch prediction: bounded memory, padding-efficient batches, resumable atomic output.

The input is read in chunks (`data.io.stream_texts`); inside a chunk texts are sorted by length
so that a neural model pads each batch to similar lengths, and the results are put back in input
order before they are written. Output goes to `OUTPUT.partial`, renamed to `OUTPUT` once all is
predicted; after an interruption `resume=True` keeps the `.partial` file's complete rows and goes on.

One writer per output: the job holds `fileio.output_lock(OUTPUT)` from its start to the rename,
so a second run on the same OUTPUT fails at once with one line, and a finished OUTPUT is replaced
only with `overwrite=True`. Beside the `.partial` file lies `OUTPUT.partial.manifest`
(serving/resume_manifest.py), recording what the rows were computed from: the model's
fingerprint, the input file's identity (absolute path, size, modification time) and every option
that changes the rows. A resume whose model, input or options differ is refused with one line
naming the difference. The `.partial` file is plain text; an OUTPUT named .gz, .bz2 or .xz is
compressed from it at the end.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import IO

import numpy as np

from ..data import Examples
from ..data.formats import compressing, compression_of, output_format
from ..data.label_types import canonical, scalar_kind
from ..data.lengths import chunk_logits
from ..errors import DataError, TextclfError
from ..fileio import atomic_file, check_output, os_error, output_lock, write_json
from .options import PredictOptions
from .resume_manifest import (MANIFEST_FORMAT, build_manifest, input_identity, manifest_difference,  # noqa: F401
                              model_fingerprint, read_manifest)
from .progress import progress_bar

LogitsFn = Callable[[Sequence[str]], np.ndarray]  # texts -> float32 logits (n, k)


@dataclass(frozen=True)
class PredictSummary:
    rows: int  # rows in the finished output
    resumed_rows: int  # rows kept from an earlier `.partial` file
    output: str | None


# -- rows ----------------------------------------------------------------------------------------
def applied_thresholds(clf) -> dict[str, float]:
    """The thresholds the classifier's decision policy applies, as output columns."""
    return clf.policy.applied_thresholds(list(clf.label_map.labels), clf.multi_label)


def label_text(value: object) -> str:
    """A typed label as a CSV cell: its canonical class name (True -> "true", 0 -> "0")."""
    return canonical(value, scalar_kind(value))


def prediction_rows(clf, chunk: Examples, logits: np.ndarray, explain_top: int = 0) -> list[dict]:
    """One output record per text: id (when given), input row, label(s) typed as the model's
    classes (an integer model gives 0, not "0"), probabilities, thresholds, and with
    `explain_top` > 0 the tokens that drove each label (analysis.explain)."""
    predictions = clf.from_logits(logits)
    probs, names = predictions.probabilities, clf.label_map.labels
    labels = list(map(clf.label_map.user_label, predictions.labels))
    explained = _explanations(clf, chunk.texts, explain_top)
    thresholds = applied_thresholds(clf)
    keys = [f"prob_{name}" for name in names]
    values = np.asarray(probs, dtype=np.float64).tolist()  # Python floats for the whole chunk at once
    ids, numbers = chunk.ids, chunk.rows
    rows = []
    for i, label in enumerate(labels):
        row: dict = {} if ids is None else {"id": ids[i]}
        row["row"] = numbers[i]
        row["label"] = label
        row.update(zip(keys, [round(p, 6) for p in values[i]]))
        row.update(thresholds)
        if explained is not None:
            row["explanation"] = " ".join(f"{t.text}:{t.attribution:+.3f}" for t in explained[i].top())
        rows.append(row)
    return rows


def _explanations(clf, texts: list[str], top: int):
    if top <= 0:
        return None
    from ..analysis.explain import explain

    return explain(clf, texts, top_k=top)


def chunk_logits_stream(clf, chunks: Iterable[Examples], logits_fn: LogitsFn | None = None,
                        batch_size: int = 64) -> Iterator[tuple[Examples, np.ndarray]]:
    """(chunk, logits) per non-empty chunk; a model's `preferred_batch_size` (TF-IDF: the whole chunk)
    replaces `batch_size`, and a batch covering the chunk is one call, without length sorting."""
    logits_fn = logits_fn or clf.logits
    batch_size = clf.model_.capabilities().preferred_batch_size or batch_size
    for chunk in chunks:
        if len(chunk) and batch_size >= len(chunk):
            yield chunk, np.asarray(logits_fn(chunk.texts), dtype=np.float32)
        elif len(chunk):
            yield chunk, chunk_logits(logits_fn, chunk.texts, batch_size)


def predict_chunks(clf, chunks: Iterable[Examples], logits_fn: LogitsFn | None = None,
                   batch_size: int = 64, explain_top: int = 0) -> Iterator[list[dict]]:
    """Output records chunk by chunk; only one chunk is in memory at a time."""
    for chunk, logits in chunk_logits_stream(clf, chunks, logits_fn, batch_size):
        yield prediction_rows(clf, chunk, logits, explain_top)


def prediction_lines(clf, chunk: Examples, logits: np.ndarray) -> list[str]:
    """`prediction_rows` as JSON lines, byte for byte what RowWriter writes for them, built column by
    column (C-level maps) from one line template per chunk instead of a dict and an encoder per row."""
    predictions, encode = clf.from_logits(logits), _JSON.encode
    brace = lambda text: text.replace("{", "{{").replace("}", "}}")  # noqa: E731 - literal in a template
    probs = [brace(encode(f"prob_{name}")) + ": {}" for name in clf.label_map.labels]
    thresholds = "".join(f", {encode(k)}: {encode(v)}" for k, v in applied_thresholds(clf).items())
    template = ("{{" if chunk.ids is None else '{{"id": {}, ') + '"row": {}, "label": {}, ' + ", ".join(probs)
    template += brace(thresholds) + "}}\n"
    values = np.asarray(predictions.probabilities, dtype=np.float64)
    number = float.__repr__ if np.isfinite(values).all() else encode  # JSON spells NaN its own way
    flat = list(map(number, map(round, values.ravel().tolist(), repeat(6))))
    columns = [flat[j::len(probs)] for j in range(len(probs))]
    cache: dict = {}
    labels = [cache.get(x) or cache.setdefault(x, encode(clf.label_map.user_label(x))) for x in predictions.labels]
    ids = [] if chunk.ids is None else [map(json.encoder.encode_basestring, chunk.ids)]  # the C escaper
    return list(map(template.format, *ids, chunk.rows, labels, *columns))


def skip_rows(chunks: Iterable[Examples], count: int) -> Iterator[Examples]:
    """Drop the first `count` texts of a chunk stream (they were predicted before a resume)."""
    for chunk in chunks:
        if count >= len(chunk):
            count -= len(chunk)
            continue
        if count:
            chunk = chunk.subset(range(count, len(chunk)))
            count = 0
        yield chunk


# -- writers -------------------------------------------------------------------------------------
_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps(..., ensure_ascii=False) builds one per call


class RowWriter:
    """Writes records as JSON lines or CSV/TSV (multi-label lists as JSON inside a cell)."""

    def __init__(self, handle: IO[str], fmt: str, header_written: bool = False) -> None:
        self.handle, self.fmt = handle, fmt
        self.header_written = header_written
        self._csv: csv.DictWriter | None = None

    def write(self, rows: list[dict]) -> None:
        if self.fmt == "jsonl":
            encode = _JSON.encode
            self.handle.write("".join([encode(r) + "\n" for r in rows]))
            return
        if self._csv is None and rows:
            self._csv = csv.DictWriter(self.handle, fieldnames=list(rows[0]),
                                       delimiter="\t" if self.fmt == "tsv" else ",", lineterminator="\n")
            if not self.header_written:
                self._csv.writeheader()
                self.header_written = True
        for row in rows:  # a cell is text: a class name, or a JSON list of them for multi-label
            label = row["label"]
            cell = json.dumps(list(map(label_text, label)), ensure_ascii=False) if isinstance(label, list) \
                else label_text(label)
            self._csv.writerow({**row, "label": cell})


def complete_records(path: Path, fmt: str) -> tuple[int, int, bool]:
    """(records, byte length of those complete records, header present) in a partial output.

    A record is complete when its final newline was written. CSV fields may hold quoted newlines,
    so a CSV record ends at a newline only where the quotes seen so far balance."""
    records, end, quotes, header = 0, 0, 0, False
    with open(path, "rb") as handle:
        offset = 0
        for line in handle:
            offset += len(line)
            if not line.endswith(b"\n"):
                break
            if fmt != "jsonl":
                quotes += line.count(b'"')
                if quotes % 2:
                    continue
                quotes = 0
                if not header:
                    header, end = True, offset
                    continue
            records, end = records + 1, offset
    return records, end, header


def partial_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".partial")


def manifest_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".partial.manifest")


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
            path.unlink()


def _remove_if_empty(partial: Path, manifest: Path) -> None:
    with contextlib.suppress(OSError):
        if partial.is_file() and partial.stat().st_size == 0:
            _remove(partial, manifest)


def check_predict_output(output: str | Path, options: PredictOptions = PredictOptions()) -> Path:
    """The checks `predict_file` makes before any work, for callers that load a model first:
    OUTPUT is not a directory, can be written, and is not a finished output (unless overwrite)."""
    output = Path(output)
    output_format(output, options.output_format, compressible=True)  # `out.xyz` is no format
    check_output(output, overwrite=options.overwrite)
    for sidecar in (partial_path(output), manifest_path(output)):
        if sidecar.is_dir():
            raise DataError(f"{sidecar}: is a directory; remove it or choose another output")
    return output


def publish(partial: Path, output: Path) -> None:
    """Give the finished rows OUTPUT's name, compressed when its suffix says so (.gz, .bz2, .xz).
    The `.partial` file stays plain text, so that a resume can count and cut its rows."""
    if compression_of(output) is None:
        os.replace(partial, output)
        return
    with open(partial, "rb") as rows, atomic_file(output, "wb") as raw, compressing(output, raw) as out:
        shutil.copyfileobj(rows, out, 1 << 20)
    partial.unlink()


# -- the whole job -------------------------------------------------------------------------------
def predict_file(clf, input_path: str | Path, output: str | Path | None = None,
                 options: PredictOptions = PredictOptions(), logits_fn: LogitsFn | None = None,
                 model_path: str | Path | None = None) -> PredictSummary:
    """Predict every text of `input_path` ("-" reads stdin, one text per line) into `output`
    (JSONL, CSV or TSV: `options.output_format`, else by suffix, compressed for a .gz, .bz2 or .xz
    suffix; None writes to stdout).

    On stdout, rows stream chunk by chunk: a bad row stops the run before any row of its chunk
    is printed (rows of earlier chunks are already out); with `output`, nothing is left behind.

    `model_path`, the directory `clf` was loaded from, lets the resume manifest fingerprint the
    saved files. A user error (a bad row, a locked or finished output, a resume that does not
    match) leaves no `.partial` file behind and an earlier OUTPUT untouched. Any other
    interruption keeps the `.partial` file, so that `resume=True` can continue from the last
    complete row."""
    from ..data.io import stream_texts
    from .progress import count_rows

    text_column = options.text_column or clf.card.text_column

    def chunks_of_input():
        return stream_texts(input_path, text_column=text_column, id_column=options.id_column,
                            chunk_size=options.chunk_size)

    def total_rows():  # the progress bar's total, for its ETA
        return count_rows(input_path) if options.progress and str(input_path) != "-" else None

    fmt = output_format(output, options.output_format, compressible=True)
    if output is None:  # stdout: each chunk is read and validated whole before any of its rows is printed
        count = _run(clf, chunks_of_input(), RowWriter(sys.stdout, fmt), options, logits_fn, 0, total_rows())
        return PredictSummary(rows=count, resumed_rows=0, output=None)

    output = check_predict_output(output, options)
    partial, manifest_file = partial_path(output), manifest_path(output)
    with output_lock(output):
        check_predict_output(output, options)  # again, now that no other writer can race us
        manifest = build_manifest(clf, input_path, options, text_column, fmt, model_path)
        resuming = options.resume and partial.exists()
        if resuming:
            difference = manifest_difference(read_manifest(manifest_file, partial), manifest)
            if difference is not None:
                raise DataError(f"{partial}: cannot resume: {difference}; delete it or run without --resume")
        chunks, done, header = chunks_of_input(), 0, False
        try:
            if resuming:
                done, end, header = complete_records(partial, fmt)
                with open(partial, "r+b") as handle:
                    handle.truncate(end)  # drop a record cut off mid-write
                chunks = skip_rows(chunks, done)
            else:
                write_json(manifest_file, manifest)
            with open(partial, "a" if resuming else "w", encoding="utf-8", newline="") as handle:
                count = _run(clf, chunks, RowWriter(handle, fmt, header_written=header), options, logits_fn, done,
                             total_rows())
                handle.flush()
                os.fsync(handle.fileno())
            publish(partial, output)
        except TextclfError:
            _remove(partial, manifest_file)  # a user error: resuming would only meet it again
            raise
        except OSError as err:  # disk full, read-only, unreadable input: the rows so far stay resumable
            _remove_if_empty(partial, manifest_file)
            if err.filename not in (None, str(partial), str(output), str(manifest_file)):
                raise os_error(err.filename, err, "read") from None
            raise os_error(output, err) from None
        except BaseException:  # interrupted: keep what is resumable, never an empty file
            _remove_if_empty(partial, manifest_file)
            raise
        _remove(manifest_file)
    return PredictSummary(rows=count, resumed_rows=done, output=str(output))


def _run(clf, chunks: Iterable[Examples], writer: RowWriter, options: PredictOptions,
         logits_fn: LogitsFn | None, done: int, total: int | None = None) -> int:
    count = done
    with progress_bar(options.progress, total, done) as bar:
        for chunk, logits in chunk_logits_stream(clf, chunks, logits_fn, options.batch_size):
            if writer.fmt == "jsonl" and not options.explain:
                writer.handle.write("".join(prediction_lines(clf, chunk, logits)))
            else:
                writer.write(prediction_rows(clf, chunk, logits, options.explain))
            writer.handle.flush()  # whole chunks reach the file, so a resume loses little
            count += len(chunk)
            bar.update(len(chunk))
    return count

