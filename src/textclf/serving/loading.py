"""Loading a saved model for inference, on any backend: every serving path starts here."""

from __future__ import annotations

from pathlib import Path

from ..artifacts import raw_scores
from ..classifier import TextClassifier
from ..errors import DataError
from .options import BACKENDS



def load_for_inference(model: str | Path, backend: str = "torch", policy: bool = True) -> TextClassifier:
    """The saved classifier; for the onnx backends, MODEL is an ONNX export's directory.
    `policy=False` loads it without its decision policy: raw scores (argmax / 0.5), uncalibrated,
    and a policy.json that is missing or changed is then not an error."""
    if backend not in BACKENDS:
        raise DataError(f"unknown backend {backend!r} ({', '.join(BACKENDS)})")
    with raw_scores(not policy):
        if backend in ("onnx", "onnx-int8"):
            from .onnx_export import load_onnx_classifier

            return load_onnx_classifier(model, int8=backend == "onnx-int8")
        return TextClassifier.load(model)
