"""ONNX export of neural classifiers, and the `onnx` model type that serves the export.

    textclf export --format onnx [--quantize] MODEL OUT_DIR
    textclf predict OUT_DIR texts.csv --backend onnx        # or onnx-int8

OUT_DIR is itself a textclf model directory whose model type is `onnx`: config.json (with the
source model config under `model.source`), labels.json, calibration/thresholds when the source
had them, the tokenizer files, `model.onnx` (dynamic batch and sequence axes), optionally
`model.int8.onnx` (dynamic int8 quantization of the weights), and `parity.json`. So
`TextClassifier.load(OUT_DIR)` predicts through ONNX Runtime without importing torch (unless the
tokenizer itself needs it), with calibration and thresholds applied exactly as before.

Parity is checked before anything is written: on probe texts plus held-out texts, the ONNX
logits must match PyTorch within `PARITY_TOLERANCE` with identical argmax; otherwise ModelError.
The int8 model is measured (max difference, argmax agreement) but not required to match.
"""

from __future__ import annotations

import contextlib
import importlib
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..config import Section, TrainingConfig
from ..data import LabelMap
from ..errors import ModelError, TextclfError
from .predict import chunk_logits

FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
PARITY_FILE = "parity.json"
PARITY_TOLERANCE = 1e-3  # max |logit difference| between PyTorch and ONNX Runtime (fp32)
# The classifier's own files: written by save_classifier, never copied with the model files.
_CLASSIFIER_FILES = {"config.json", "labels.json", "calibration.json", "thresholds.json", "metrics.json"}
PROBE_TEXTS = [
    "a gripping, beautifully shot film",
    "dull.",
    "the plot follows two brothers who inherit a farm and a secret " * 6,
    "Ünïcödé, emoji 🎬 and punctuation?!",
]


class OnnxConfig(Section):
    type: Literal["onnx"] = "onnx"
    source: dict[str, Any]  # the exported model's own config (type, pooling, ...)
    tokenizer: str  # "module:Class" with a `load(directory)` classmethod
    file: str = FP32_FILE


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """input_ids and attention_mask, both int64 (B, T), T the longest sequence (at least 1)."""
    width = max([1, *map(len, sequences)])
    ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(sequences), width), dtype=np.int64)
    for i, seq in enumerate(sequences):
        ids[i, :len(seq)] = seq
        mask[i, :len(seq)] = 1
    return ids, mask


class OnnxModel:
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
        ids, mask = pad_batch(self.tokenizer.encode(list(texts), self.training.max_length), self.tokenizer.pad_id)
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
            elif path.name not in _CLASSIFIER_FILES:
                shutil.copy2(path, Path(directory) / path.name)

    @classmethod
    def load(cls, directory: Path, config: OnnxConfig, label_map: LabelMap, training: TrainingConfig, seed: int):
        model = cls(config, label_map, training, seed)
        model.directory = Path(directory)
        module_name, class_name = config.tokenizer.split(":")
        model.tokenizer = getattr(importlib.import_module(module_name), class_name).load(model.directory)
        return model.use(config.file)


def load_onnx_classifier(directory: str | Path, int8: bool = False):
    """A TextClassifier over an ONNX export (the int8 graph when `int8`)."""
    from ..classifier import TextClassifier

    clf = TextClassifier.load(directory)
    if not isinstance(clf.model, OnnxModel):
        raise ModelError(f"{directory}: not an ONNX export; run `textclf export --format onnx {directory} OUT_DIR` "
                         "and pass OUT_DIR")
    if int8:
        clf.model.use(INT8_FILE)
    return clf


# -- export --------------------------------------------------------------------------------------
def _torch_net(clf):
    from ..models.long import refuse_export  # long-text hook (models/long.py)

    refuse_export(clf.model, "onnx")
    net, tokenizer = getattr(clf.model, "net", None), getattr(clf.model, "tokenizer", None)
    if net is None or tokenizer is None:
        raise ModelError(f"ONNX export supports neural models; this is a {clf.model_params.get('type')!r} model "
                         "(a TF-IDF model is already fast: serve it as it is)")
    return net, tokenizer


def _export_graph(net, path: Path, opset: int) -> str:
    """Write `net` as ONNX with dynamic batch and sequence axes; returns the exporter used.

    The dynamo exporter (torch.export + onnxscript) keeps shapes symbolic everywhere, including
    inside nn.MultiheadAttention, where the TorchScript tracer bakes in the traced batch size.
    Models it cannot capture (data-dependent control flow, e.g. packed RNN sequences) fall back to
    the TorchScript exporter; the parity check after export judges either graph."""
    import torch

    net = net.to("cpu").eval()
    ids = torch.ones((2, 12), dtype=torch.int64)
    mask = torch.ones((2, 12), dtype=torch.int64)
    mask[1, 7:] = 0  # a padded row, so that masking is traced
    names = dict(input_names=["input_ids", "attention_mask"], output_names=["logits"], opset_version=opset)
    try:
        with warnings_silenced(), quiet_logging(), contextlib.redirect_stdout(None):
            batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
            program = torch.onnx.export(
                net, (ids, mask), dynamo=True, external_data=False, verbose=False,
                dynamic_shapes={"input_ids": {0: batch, 1: sequence}, "attention_mask": {0: batch, 1: sequence}},
                **names)
            program.save(str(path), external_data=False)
        return "dynamo"
    except Exception:  # noqa: BLE001 - any capture failure: try the other exporter
        pass
    # Grad stays enabled: under no_grad an eval-mode nn.TransformerEncoderLayer takes its fused fast
    # path, which has no ONNX symbolic.
    with warnings_silenced(), quiet_logging():
        torch.onnx.export(
            net, (ids, mask), str(path), dynamo=False, **names,
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                          "logits": {0: "batch"}},
        )
    return "torchscript"


@contextlib.contextmanager
def warnings_silenced():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def quiet_logging():
    """The exporter and quantizer log advice meant for their developers; keep it off the terminal."""
    import logging

    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _held_out_texts(clf, limit: int) -> list[str]:
    from ..workflow import saved_test_split

    try:
        return saved_test_split(clf).texts[:limit]
    except (TextclfError, KeyError, TypeError):
        return []


def parity_report(reference: np.ndarray, candidate: np.ndarray) -> dict:
    """How closely `candidate` logits (n, k) follow `reference`."""
    diff = np.abs(reference.astype(np.float64) - candidate.astype(np.float64))
    agree = reference.argmax(axis=1) == candidate.argmax(axis=1)
    return {"texts": int(len(reference)), "max_abs_logit_diff": float(diff.max(initial=0.0)),
            "mean_abs_logit_diff": float(diff.mean()) if diff.size else 0.0,
            "argmax_agreement": float(agree.mean()) if len(agree) else 1.0, "identical_argmax": bool(agree.all())}


def export_onnx(clf, output: str | Path, quantize: bool = False, opset: int = 18,
                sample_texts: Sequence[str] | None = None, sample_size: int = 256) -> dict:
    """Export `clf` (a neural TextClassifier) to `output`; returns the parity report (also in parity.json).

    `sample_texts` default: probe texts plus up to `sample_size` texts of the model's test split."""
    from ..artifacts import save_classifier
    from ..classifier import TextClassifier
    from ..fileio import write_json

    net, tokenizer = _torch_net(clf)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    texts = list(sample_texts) if sample_texts is not None else PROBE_TEXTS + _held_out_texts(clf, sample_size)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.onnx-", dir=output.parent))
    try:
        tokenizer.save(staging)
        exporter = _export_graph(net, staging / FP32_FILE, opset)
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            with warnings_silenced(), quiet_logging():
                quantize_dynamic(str(staging / FP32_FILE), str(staging / INT8_FILE), weight_type=QuantType.QInt8)

        exported = TextClassifier(
            model={"type": "onnx", "source": clf.model_params,
                   "tokenizer": f"{type(tokenizer).__module__}:{type(tokenizer).__qualname__}"},
            # The training settings the model really used (a model type may fill in its own
            # defaults, e.g. max_length 128 for pretrained encoders): tokenization must match.
            task=clf.task, training=getattr(clf.model, "training", None) or clf.training_config(), seed=clf.seed)
        for name in ("label_map", "calibration", "thresholds", "min_labels", "info"):
            setattr(exported, name, getattr(clf, name))
        exported.model = OnnxModel.load(staging, exported.model_config(), clf.label_map, exported.training, clf.seed)
        # Batches of the training eval size, then one text at a time: a graph that baked in the
        # traced batch or sequence size fails here rather than in production.
        try:
            reference = clf.logits(texts)
            onnx_logits = exported.model.logits(texts)
            single = np.concatenate([exported.model.logits([t]) for t in texts[:16]])
        except Exception as err:  # onnxruntime rejects a graph whose shapes were baked in at export
            raise ModelError(f"the exported ONNX graph fails on new inputs ({type(err).__name__}: "
                             f"{str(err)[:200]}); nothing written") from None

        parity = {"tolerance": PARITY_TOLERANCE, "opset": opset, "exporter": exporter,
                  "fp32": parity_report(np.concatenate([reference, reference[:16]]),
                                        np.concatenate([onnx_logits, single]))}
        if quantize:
            parity["int8"] = parity_report(reference, exported.model.use(INT8_FILE).logits(texts))
            exported.model.use(FP32_FILE)
        fp32 = parity["fp32"]
        if fp32["max_abs_logit_diff"] > PARITY_TOLERANCE or not fp32["identical_argmax"]:
            raise ModelError(f"ONNX export does not match PyTorch (max logit difference "
                             f"{fp32['max_abs_logit_diff']:.2e}, argmax agreement {fp32['argmax_agreement']:.3f}); "
                             "nothing written")
        write_json(staging / PARITY_FILE, parity)
        save_classifier(exported, output)
        return parity
    finally:
        shutil.rmtree(staging, ignore_errors=True)
