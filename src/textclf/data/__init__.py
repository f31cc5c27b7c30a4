"""Reading, validating, labelling and splitting labelled text.

Names are imported on first use, so that modules which need only a light part (formats, label
types) do not load pandas."""

from importlib import import_module

_EXPORTS = {"Examples": "examples", "LabelMap": "labels", "read_examples": "io", "stream_texts": "io"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'textclf.data' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
