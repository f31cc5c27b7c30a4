"""Model types behind one interface (see base.py). Imported lazily so that the TF-IDF baseline
never pays for importing torch."""

from __future__ import annotations

import importlib

from ..errors import ConfigError

# type name -> "module:Class"; each class implements base.ClassifierModel.
MODEL_TYPES: dict[str, str] = {
    "tfidf": "textclf.models.linear:TfidfLinearModel",
    "bag": "textclf.models.neural:BagModel",
    "rnn": "textclf.models.neural:RnnModel",
    "cnn": "textclf.models.neural:CnnModel",
    "transformer": "textclf.models.neural:TransformerModel",
    "pretrained": "textclf.models.pretrained:PretrainedModel",
    "onnx": "textclf.serving.onnx_export:OnnxModel",  # inference only: written by `textclf export`
}


def model_class(type_name: str):
    if type_name not in MODEL_TYPES:
        raise ConfigError(f"model.type {type_name!r} is not one of: {', '.join(MODEL_TYPES)}")
    module_name, class_name = MODEL_TYPES[type_name].split(":")
    return getattr(importlib.import_module(module_name), class_name)
