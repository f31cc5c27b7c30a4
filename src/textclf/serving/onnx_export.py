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
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..classifier import TextClassifier
from ..errors import ModelError
from ..models.onnx_runtime import FP32_FILE, INT8_FILE, OnnxModel

PARITY_FILE = "parity.json"
PARITY_TOLERANCE = 1e-3  # max |logit difference| between PyTorch and ONNX Runtime (fp32)
PROBE_TEXTS = [
    "a gripping, beautifully shot film",
    "dull.",
    "the plot follows two brothers who inherit a farm and a secret " * 6,
    "Ünïcödé, emoji 🎬 and punctuation?!",
]


def load_onnx_classifier(directory: str | Path, int8: bool = False):
    """A TextClassifier over an ONNX export (the int8 graph when `int8`)."""
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


def parity_report(reference: np.ndarray, candidate: np.ndarray) -> dict:
    """How closely `candidate` logits (n, k) follow `reference`."""
    diff = np.abs(reference.astype(np.float64) - candidate.astype(np.float64))
    agree = reference.argmax(axis=1) == candidate.argmax(axis=1)
    return {"texts": int(len(reference)), "max_abs_logit_diff": float(diff.max(initial=0.0)),
            "mean_abs_logit_diff": float(diff.mean()) if diff.size else 0.0,
            "argmax_agreement": float(agree.mean()) if len(agree) else 1.0, "identical_argmax": bool(agree.all())}


def export_onnx(clf: TextClassifier, output: str | Path, quantize: bool = False, opset: int = 18,
                sample_texts: Sequence[str] = ()) -> dict:
    """Export `clf` (a neural TextClassifier) to `output`; returns the parity report (also in parity.json).

    Parity is checked on the probe texts plus `sample_texts` (the jobs layer passes held-out texts)."""
    from ..fileio import write_json

    net, tokenizer = _torch_net(clf)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    texts = PROBE_TEXTS + list(sample_texts)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.onnx-", dir=output.parent))
    try:
        tokenizer.save(staging)
        exporter = _export_graph(net, staging / FP32_FILE, opset)
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            with warnings_silenced(), quiet_logging():
                quantize_dynamic(str(staging / FP32_FILE), str(staging / INT8_FILE), weight_type=QuantType.QInt8)

        exported = clf.derived(
            {"type": "onnx", "source": clf.model_params, "max_length": clf.model.max_tokens(),
             "tokenizer": f"{type(tokenizer).__module__}:{type(tokenizer).__qualname__}"},
            lambda config, training: OnnxModel.load(staging, config, clf.label_map, training, clf.seed))
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
        exported.save(output)
        return parity
    finally:
        shutil.rmtree(staging, ignore_errors=True)
