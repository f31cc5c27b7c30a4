"""Streaming batch prediction: bounded memory, padding-efficient batches, resumable atomic output.

The input is read in chunks (`data.io.stream_texts`); inside a chunk texts are sorted by length
so that a neural model pads each batch to similar lengths, and the results are put back in input
order before they are written. Output goes to `OUTPUT.partial` and is renamed to `OUTPUT` only
when the whole input has been predicted, so a reader never sees a half-written file; after an
interruption `resume=True` keeps the complete rows of the `.partial` file and continues.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from ..data import Examples
from ..errors import DataError

LogitsFn = Callable[[Sequence[str]], np.ndarray]  # texts -> float32 logits (n, k)


@dataclass(frozen=True)
class PredictOptions:
    """How `predict_file` reads, batches and reports."""

    text_column: str | None = None  # default: the text column the model was trained on
    id_column: str | None = None
    chunk_size: int = 4096  # rows held in memory at once
    batch_size: int = 64  # texts per model call, after sorting a chunk by length
    resume: bool = False
    progress: bool = True


@dataclass(frozen=True)
class PredictSummary:
    rows: int  # rows in the finished output
    resumed_rows: int  # rows kept from an earlier `.partial` file
    output: str | None


# -- batching ------------------------------------------------------------------------------------
def length_sorted_batches(texts: Sequence[str], batch_size: int) -> list[np.ndarray]:
    """Index batches that cover `texts`, each holding texts of similar length (longest first)."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def chunk_logits(logits_fn: LogitsFn, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """Logits (n, k) for `texts` in their original order, computed on length-sorted batches."""
    out: np.ndarray | None = None
    for idx in length_sorted_batches(texts, batch_size):
        part = np.asarray(logits_fn([texts[i] for i in idx]), dtype=np.float32)
        if out is None:
            out = np.empty((len(texts), part.shape[1]), dtype=np.float32)
        out[idx] = part  # scatter back: restores input order
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


# -- rows ----------------------------------------------------------------------------------------
def applied_thresholds(clf) -> dict[str, float]:
    """The thresholds `clf.decide` applies, as output columns: per label for multi-label (0.5 unless
    tuned), the positive-class cut for a tuned binary model, none for a plain argmax."""
    names = clf.label_map.labels
    if clf.multi_label:
        cut = np.full(len(names), 0.5) if clf.thresholds is None else np.broadcast_to(clf.thresholds, (len(names),))
        return {f"threshold_{name}": float(t) for name, t in zip(names, cut)}
    if clf.thresholds is not None and len(names) == 2:
        return {"threshold": float(np.ravel(clf.thresholds)[0])}
    return {}


def prediction_rows(clf, chunk: Examples, logits: np.ndarray) -> list[dict]:
    """One output record per text: id (when given), input row, label(s), probabilities, thresholds."""
    probs = clf.probabilities_from_logits(logits)
    labels = clf.labels_from_decisions(clf.decide(probs))
    names = clf.label_map.labels
    thresholds = applied_thresholds(clf)
    rows = []
    for i, label in enumerate(labels):
        row: dict = {}
        if chunk.ids is not None:
            row["id"] = chunk.ids[i]
        row["row"] = chunk.rows[i]
        row["label"] = list(label) if clf.multi_label else label
        row.update({f"prob_{name}": round(float(p), 6) for name, p in zip(names, probs[i])})
        row.update(thresholds)
        rows.append(row)
    return rows


def predict_chunks(clf, chunks: Iterable[Examples], logits_fn: LogitsFn | None = None,
                   batch_size: int = 64) -> Iterator[list[dict]]:
    """Output records chunk by chunk; only one chunk is in memory at a time."""
    logits_fn = logits_fn or clf.logits
    for chunk in chunks:
        if len(chunk):
            yield prediction_rows(clf, chunk, chunk_logits(logits_fn, chunk.texts, batch_size))


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
def output_format(path: str | Path | None) -> str:
    suffix = Path(path).suffix.lower() if path else ""
    return {".csv": "csv", ".tsv": "tsv"}.get(suffix, "jsonl")


class RowWriter:
    """Writes records as JSON lines or CSV/TSV (multi-label lists as JSON inside a cell)."""

    def __init__(self, handle: IO[str], fmt: str, header_written: bool = False) -> None:
        self.handle, self.fmt = handle, fmt
        self.header_written = header_written
        self._csv: csv.DictWriter | None = None

    def write(self, rows: list[dict]) -> None:
        if self.fmt == "jsonl":
            self.handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
            return
        if self._csv is None and rows:
            self._csv = csv.DictWriter(self.handle, fieldnames=list(rows[0]),
                                       delimiter="\t" if self.fmt == "tsv" else ",", lineterminator="\n")
            if not self.header_written:
                self._csv.writeheader()
                self.header_written = True
        for row in rows:
            if isinstance(row.get("label"), list):
                row = {**row, "label": json.dumps(row["label"], ensure_ascii=False)}
            self._csv.writerow(row)


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


# -- the whole job -------------------------------------------------------------------------------
def predict_file(clf, input_path: str | Path, output: str | Path | None = None,
                 options: PredictOptions = PredictOptions(), logits_fn: LogitsFn | None = None) -> PredictSummary:
    """Predict every text of `input_path` ("-" reads stdin, one text per line) into `output`
    (JSONL, CSV or TSV by suffix; None writes JSONL to stdout).

    A DataError (a bad row) removes the `.partial` file: nothing is left half-written. Any other
    interruption keeps it, so that `resume=True` can continue from the last complete row."""
    from ..data.io import stream_texts

    columns = clf.info.get("columns", {})
    chunks = stream_texts(
        input_path,
        text_column=options.text_column or columns.get("text_column", "text"),
        id_column=options.id_column,
        chunk_size=options.chunk_size,
    )
    fmt = output_format(output)
    if output is None:
        count = _run(clf, chunks, RowWriter(sys.stdout, fmt), options, logits_fn, done=0)
        return PredictSummary(rows=count, resumed_rows=0, output=None)

    output, partial = Path(output), partial_path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    done, header = 0, False
    if options.resume and partial.exists():
        done, end, header = complete_records(partial, fmt)
        with open(partial, "r+b") as handle:
            handle.truncate(end)  # drop a record cut off mid-write
        chunks = skip_rows(chunks, done)
    mode = "a" if options.resume and partial.exists() else "w"
    try:
        with open(partial, mode, encoding="utf-8", newline="") as handle:
            count = _run(clf, chunks, RowWriter(handle, fmt, header_written=header), options, logits_fn, done)
            handle.flush()
            os.fsync(handle.fileno())
    except DataError:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    os.replace(partial, output)
    return PredictSummary(rows=count, resumed_rows=done, output=str(output))


def _run(clf, chunks: Iterable[Examples], writer: RowWriter, options: PredictOptions,
         logits_fn: LogitsFn | None, done: int) -> int:
    from tqdm import tqdm

    count = done
    with tqdm(total=None, initial=done, unit=" rows", unit_scale=True, file=sys.stderr,
              disable=not options.progress, dynamic_ncols=True, desc="predict") as bar:
        for rows in predict_chunks(clf, chunks, logits_fn, options.batch_size):
            writer.write(rows)
            writer.handle.flush()  # whole chunks reach the file, so a resume loses little
            count += len(rows)
            bar.update(len(rows))
    return count

