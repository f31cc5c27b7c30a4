"""The `onnx` model type: a neural classifier exported by `textclf export --format onnx`, run by
ONNX Runtime for inference only (see serving/onnx_export.py for the export and its parity check)."""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ..config import Section, TrainingConfig
from ..data import LabelMap
from ..data.lengths import chunk_logits
from ..errors import ModelError
from .base import ModelBase

FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
# The classifier's own files (artifacts.py): never copied with the model files.
CLASSIFIER_FILES = {"config.json", "labels.json", "calibration.json", "thresholds.json", "metrics.json",
                    "leaderboard.json"}


class OnnxConfig(Section):
    type: Literal["onnx"] = "onnx"
    source: dict[str, Any]  # the exported model's own config (type, pooling, ...)
    tokenizer: str  # "module:Class" with a `load(directory)` classmethod
    file: str = FP32_FILE
    max_length: int = Field(256, ge=1)  # the exported model's tokens per text: tokenization must match


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """input_ids and attention_mask, both int64 (B, T), T the longest sequence (at least 1)."""
    width = max([1, *map(len, sequences)])
    ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(sequences), width), dtype=np.int64)
    for i, seq in enumerate(sequences):
        ids[i, :len(seq)] = seq
        mask[i, :len(seq)] = 1
    return ids, mask


class OnnxModel(ModelBase):
    """ClassifierModel (models/base.py) backed by an ONNX Runtime session; inference only."""

    config_class = OnnxConfig

    def __init__(self, config: OnnxConfig, label_map: LabelMap, training: TrainingConfig, seed: int) -> None:
        self.config = config
        self.label_map = label_map
        self.training = training
        self.seed = seed
        self.directory: Path | None = None
        self.tokenizer = None
        self.session = None

    def fit(self, *args, **kwargs) -> dict:
        raise ModelError("an ONNX model is exported from a trained model (textclf export), not trained")

    def _batch_logits(self, texts: Sequence[str]) -> np.ndarray:
        ids, mask = pad_batch(self.tokenizer.encode(list(texts), self.config.max_length), self.tokenizer.pad_id)
        return self.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0].astype(np.float32)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Float32 logits (n, k), on length-sorted batches of training.eval_batch_size."""
        if not len(texts):
            return np.zeros((0, len(self.label_map)), dtype=np.float32)
        return chunk_logits(self._batch_logits, list(texts), self.training.eval_batch_size)

    def use(self, file: str) -> OnnxModel:
        """Switch to another graph in the same directory (e.g. the int8 one)."""
        import onnxruntime as ort

        path = self.directory / file
        if not path.is_file():
            raise ModelError(f"{path}: missing (export with --quantize to get the int8 model)")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return self

    def save(self, directory: Path) -> None:
        for path in self.directory.iterdir():  # tokenizers may keep their files in a subfolder
            if path.is_dir():
                shutil.copytree(path, Path(directory) / path.name)
            elif path.name not in CLASSIFIER_FILES:
                shutil.copy2(path, Path(directory) / path.name)

    @classmethod
    def load(cls, directory: Path, config: OnnxConfig, label_map: LabelMap, training: TrainingConfig, seed: int):
        model = cls(config, label_map, training, seed)
        model.directory = Path(directory)
        module_name, class_name = config.tokenizer.split(":")
        model.tokenizer = getattr(importlib.import_module(module_name), class_name).load(model.directory)
        return model.use(config.file)

    def max_tokens(self) -> int | None:
        return self.config.max_length

    def vocabulary(self) -> set[str] | None:
        return set(self.tokenizer.vocabulary()) if hasattr(self.tokenizer, "vocabulary") else None


