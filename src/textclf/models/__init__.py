"""Model types behind one interface (see base.py). Imported lazily so that the TF-IDF baseline
never pays for importing torch."""

from __future__ import annotations

import importlib

from ..errors import ConfigError

# type name -> "module:Class" (imported on first use) or the class itself (registered at run time).
MODEL_TYPES: dict[str, str | type] = {
    "tfidf": "textclf.models.linear:TfidfLinearModel",
    "bag": "textclf.models.neural:BagModel",
    "rnn": "textclf.models.neural:RnnModel",
    "cnn": "textclf.models.neural:CnnModel",
    "transformer": "textclf.models.neural:TransformerModel",
    "pretrained": "textclf.models.pretrained:PretrainedModel",
    "embedding": "textclf.models.embedding:EmbeddingModel",
    "auto": "textclf.models.auto:AutoModel",
    "ensemble": "textclf.models.ensemble:EnsembleModel",
    "onnx": "textclf.models.onnx_runtime:OnnxModel",  # inference only: written by `textclf export`
}


def register_model_type(name: str, cls: str | type, *, replace: bool = False) -> None:
    """Make `model.type: name` build `cls` (a class following models.base.ClassifierModel, or a
    "module:Class" path imported on first use). Built-in names are refused unless `replace`."""
    if name in MODEL_TYPES and not replace:
        raise ConfigError(f"model type {name!r} is already registered")
    MODEL_TYPES[name] = cls


def model_class(type_name: str):
    if type_name not in MODEL_TYPES:
        raise ConfigError(f"model.type {type_name!r} is not one of: {', '.join(MODEL_TYPES)}")
    target = MODEL_TYPES[type_name]
    if not isinstance(target, str):
        return target
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)
