"""How `predict` and `serve` run a model and how `predict` reads, batches and reports: plain settings with no heavy imports, so the CLI
shows their defaults without loading pandas (jobs/defaults.py reads them)."""

from __future__ import annotations

from dataclasses import dataclass

BACKENDS = ("torch", "onnx", "onnx-int8")  # what `predict` and `serve` run a model with
INT8_MIN_AGREEMENT = 0.99  # default floor: int8 argmax agreement with fp32 on the parity texts
# Texts the int8 agreement is judged on, at least: on the 4 probe texts alone, an int8 graph that
# changed 3% of 6,000 predictions passed the 0.99 floor.
INT8_MIN_TEXTS = 100


@dataclass(frozen=True)
class PredictOptions:
    """How `predict_file` reads, batches and reports."""

    text_column: str | None = None  # default: the text column the model was trained on
    id_column: str | None = None
    chunk_size: int = 4096  # rows held in memory at once
    batch_size: int = 64  # texts per model call, after sorting a chunk by length
    resume: bool = False
    progress: bool = True
    overwrite: bool = False  # replace a finished OUTPUT (otherwise: an error before any work)
    backend: str = "torch"  # recorded in the resume manifest: torch / onnx / onnx-int8 rows differ
    explain: int = 0  # > 0: add the top tokens behind each label (slow for neural models: Integrated Gradients)
    output_format: str | None = None  # jsonl, csv or tsv (--format); default: OUTPUT's suffix, else jsonl
