"""The saved-model format: one directory, written atomically.

    config.json        format name and version, task, model / training config, columns, info
    labels.json        the LabelMap (class names in id order)
    model files        written by the model type (model.safetensors, tokenizer files, ...)
    calibration.json   optional, fitted on validation data
    thresholds.json    optional, tuned on validation data
    metrics.json       optional, evaluation results at save time

A directory from an unknown format version, or with a missing or corrupt file, raises ModelError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .data import LabelMap
from .errors import ConfigError, ModelError, TextclfError
from .fileio import atomic_directory

FORMAT = "textclf-model"
FORMAT_VERSION = 1


def _dump(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=_plain) + "\n", encoding="utf-8")


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def save_classifier(clf, directory: Path, metrics: dict | None = None) -> Path:
    with atomic_directory(directory) as tmp:
        _dump(tmp / "config.json", {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "textclf_version": __version__,
            "task": clf.task,
            "seed": clf.seed,
            "model": clf.model_config().model_dump(mode="json"),
            "training": clf.training_config().model_dump(mode="json"),
            "min_labels": clf.min_labels,
            "info": clf.info,
        })
        _dump(tmp / "labels.json", clf.label_map.to_json())
        clf.model.save(tmp)
        if clf.calibration is not None:
            _dump(tmp / "calibration.json", clf.calibration)
        if clf.thresholds is not None:
            _dump(tmp / "thresholds.json", {"thresholds": np.asarray(clf.thresholds).tolist()})
        if metrics is not None:
            _dump(tmp / "metrics.json", metrics)
    return directory


def _read_json(path: Path, required: bool = True) -> Any:
    if not path.is_file():
        if required:
            raise ModelError(f"{path}: missing; is {path.parent} a textclf model directory?")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelError(f"{path}: corrupt JSON ({err})") from None


def load_classifier(directory: Path):
    from .classifier import TextClassifier
    from .models import model_class

    if not directory.is_dir():
        raise ModelError(f"{directory}: model directory not found")
    config = _read_json(directory / "config.json")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelError(f"{directory / 'config.json'}: not a textclf model config")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(
            f"{directory}: saved with model format {version} (textclf {config.get('textclf_version')}); "
            f"this textclf ({__version__}) reads format {FORMAT_VERSION}"
        )
    clf = TextClassifier(model=config["model"], task=config["task"], training=config["training"],
                         seed=config.get("seed", 0))
    clf.label_map = LabelMap.from_json(_read_json(directory / "labels.json"), str(directory / "labels.json"))
    if clf.label_map.multi_label != clf.multi_label:
        raise ModelError(f"{directory}: labels.json and config.json disagree on the task")
    clf.info = config.get("info", {})
    clf.min_labels = int(config.get("min_labels", 0))
    clf.calibration = _read_json(directory / "calibration.json", required=False)
    thresholds = _read_json(directory / "thresholds.json", required=False)
    if thresholds is not None:
        clf.thresholds = np.asarray(thresholds["thresholds"], dtype=np.float64)
    try:
        model_config, training = clf.model_config(), clf.training_config()
    except ConfigError as err:
        raise ModelError(f"{directory}: saved config is invalid ({err})") from None
    try:
        clf.model = model_class(model_config.type).load(directory, model_config, clf.label_map, training, clf.seed)
    except TextclfError:
        raise
    except Exception as err:  # a truncated weight file surfaces as many library-specific errors
        raise ModelError(f"{directory}: cannot load model weights ({type(err).__name__}: {err})") from None
    return clf
