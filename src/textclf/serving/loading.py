"""Loading a saved model for inference, on any backend: every serving path starts here."""

from __future__ import annotations

from pathlib import Path

from ..classifier import TextClassifier
from ..errors import DataError

BACKENDS = ("torch", "onnx", "onnx-int8")


def load_for_inference(model: str | Path, backend: str = "torch") -> TextClassifier:
    """The saved classifier; for the onnx backends, MODEL is an ONNX export's directory."""
    if backend in ("onnx", "onnx-int8"):
        from .onnx_export import load_onnx_classifier

        return load_onnx_classifier(model, int8=backend == "onnx-int8")
    if backend != "torch":
        raise DataError(f"unknown backend {backend!r} ({', '.join(BACKENDS)})")
    return TextClassifier.load(model)
