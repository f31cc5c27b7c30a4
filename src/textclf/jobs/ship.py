"""Jobs that put a saved model to use: predict, serve, export."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..classifier import TextClassifier
from ..data.sources import ModelData
from ..errors import DataError, TextclfError
from ..fileio import check_output, output_lock, remove_stale_staging
from ..serving.loading import load_for_inference
from ..serving.options import INT8_MIN_AGREEMENT

if TYPE_CHECKING:
    from .inspect import DataChoice


def predict(model: str | Path, input_path: str, output: str | None, options, backend: str = "torch"):
    """serving.predict.PredictSummary of streaming `input_path` ("-": stdin) through the model."""
    from ..serving.predict import check_predict_output, predict_file

    if options.resume and output is None:
        raise DataError("--resume needs -o OUTPUT (a partial output file to continue)")
    if output is not None:
        check_predict_output(output, options)  # a bad -o fails before minutes of model loading
    clf = load_for_inference(model, backend)
    if options.text_column is None and input_path != "-":
        column = guess_text_column(input_path, clf.card.text_column)
        if column != clf.card.text_column:
            print(f"textclf: {input_path} has no column {clf.card.text_column!r}; using its only text column "
                  f"{column!r} (--text-column sets it)", file=sys.stderr)
            options = replace(options, text_column=column)
    return predict_file(clf, input_path, output, options, model_path=model)


def guess_text_column(path: str, expected: str) -> str:
    """`expected` when the file has it; else the one column of free text (strings with spaces in
    most rows), when there is exactly one; else `expected` (and reading fails naming it)."""
    from ..data.io import iter_frames

    _, frame = next(iter_frames(path, chunk_size=200), (0, None))
    if frame is None or expected in frame.columns:
        return expected
    from pandas.api.types import is_numeric_dtype

    texty = [c for c in frame.columns if not is_numeric_dtype(frame[c]) and
             frame[c].astype(str).str.contains(" ").mean() > 0.5]
    return texty[0] if len(texty) == 1 else expected


def predict_ray(model: str | Path, input_path: str, output: str, **options):
    """serving.ray_predict.RaySummary of predicting `input_path` (file, directory or glob) on Ray Data."""
    from ..serving.ray_predict import predict_files

    if output is None:
        raise DataError("--engine ray needs -o OUTPUT (a directory)")
    return predict_files(model, input_path, output, **options)


def serve(model: str | Path, host: str, port: int, config, backend: str = "torch") -> None:
    from ..serving.http import serve as run_server

    run_server(model, host=host, port=port, config=config, backend=backend)


# what an export killed mid-way leaves beside OUTPUT: serving.onnx_export's staging directory
# (.OUTPUT.onnx-XXXX), and the temporary / set-aside directories of fileio.atomic_directory
STAGING_PATTERNS = (".{name}.onnx-*", ".{name}.*.tmp", ".{name}.*.old")


@dataclass
class ExportResult:
    output: Path
    parity: dict | None  # ONNX only: logits of the export against PyTorch


def export(model: str | Path, output: str | Path, fmt: str = "onnx", quantize: bool = False,
           opset: int = 18, sample_size: int = 256, int8_min_agreement: float = INT8_MIN_AGREEMENT,
           fusions: str = "auto", overwrite: bool = True, data: DataChoice | None = None) -> ExportResult:
    """ONNX (with a parity check on probe texts plus `data`'s texts, by default the model's test
    split) or a Hugging Face directory. An existing `output` is replaced only with `overwrite`; staging
    directories that a killed export of the same `output` left behind are removed first."""
    check_output(output, overwrite=overwrite, directory=True)
    clf = TextClassifier.load(model)
    with output_lock(output):  # one exporter per output, so no live exporter's staging is removed
        remove_stale_staging(output, STAGING_PATTERNS)
        if fmt == "hf":
            from ..serving.hf_export import export_hf

            export_hf(clf, output, model_dir=model)  # its metrics.json goes into the model card
            return ExportResult(Path(output), None)
        from ..serving.onnx_export import export_onnx

        parity = export_onnx(clf, output, quantize=quantize, opset=opset,
                             sample_texts=_parity_texts(clf, data, sample_size),
                             int8_min_agreement=int8_min_agreement, fusions=fusions)
    return ExportResult(Path(output), parity)


def _parity_texts(clf: TextClassifier, data: DataChoice | None, limit: int) -> list[str]:
    if data is not None and data.source is not None:
        from .inspect import examples_for

        return examples_for(clf, data, labelled=False).texts[:limit]
    try:
        return ModelData.of(clf).split("test").texts[:limit]
    except TextclfError:
        return []
