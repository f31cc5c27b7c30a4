"""ONNX export of neural classifiers, and the `onnx` model type that serves the export.

    textclf export --format onnx [--quantize] MODEL OUT_DIR
    textclf predict OUT_DIR texts.csv --backend onnx        # or onnx-int8

OUT_DIR is itself a textclf model directory whose model type is `onnx`: config.json (with the
source model config under `model.source`), labels.json, calibration/thresholds when the source
had them, the tokenizer files, `model.onnx` (dynamic batch and sequence axes), optionally
`model.int8.onnx` (int8 weights, per output channel), and `parity.json`. So
`TextClassifier.load(OUT_DIR)` predicts through ONNX Runtime without importing torch or
transformers, with calibration and thresholds applied exactly as before.

Pretrained (BERT-family) encoders are exported with eager attention by the TorchScript exporter,
whose graph ONNX Runtime runs fastest; onnxruntime.transformers' fusions (attention, skip
LayerNorm, bias GELU, embedding LayerNorm) give a second candidate, and with `fusions="auto"` the
faster of the two on the held-out texts is kept (measured in CPU seconds, recorded in parity.json):
the fused attention kernel loses to plain matrix products on short texts on some CPUs.

Parity is checked before anything is written: on probe texts plus held-out texts, the ONNX
logits must match PyTorch within `PARITY_TOLERANCE` with identical argmax; otherwise ModelError.
The int8 model must agree with fp32 on at least `int8_min_agreement` of those texts' argmax: a
ladder of quantisations is tried (onnx_int8.py), each keeping more of what is sensitive in fp32,
and the first that holds the floor is written. When none does, the fp32 export is written without an int8
file, and ModelError says so in one line.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..classifier import TextClassifier
from ..errors import ModelError
from ..models.base import AnyExportView, EmbeddingExportView, ExportView, LinearExportView
from ..fileio import write_json
from ..models.onnx_runtime import ENCODER_DIR, FP32_FILE, INT8_FILE, OnnxModel, tokenizer_name
from .export.metadata import export_record, graph_inputs, set_tokenizer_truncation, stamp_graph, write_sidecar
from .onnx_int8 import choose_int8, parity_report, quiet_logging, warnings_silenced
from .options import INT8_MIN_AGREEMENT, INT8_MIN_TEXTS

PARITY_FILE = "parity.json"
UNFUSED_FILE = "model.unfused.onnx"  # the plain graph while a fused one is kept: the int8 source
PARITY_TOLERANCE = 1e-3  # max |logit difference| between PyTorch and ONNX Runtime (fp32)
PROBABILITY_TOLERANCE = 1e-5  # max |probability difference| of a TF-IDF export (float32 arithmetic alike)
FUSED_MODEL_TYPES = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "distilbert": "bert",
                     "electra": "bert", "camembert": "bert", "mpnet": "bert"}  # HF model_type -> optimizer type
PROBE_TEXTS = [
    "a gripping, beautifully shot film",
    "dull.",
    "the plot follows two brothers who inherit a farm and a secret " * 6,
    "Ünïcödé, emoji 🎬 and punctuation?!",
]


def load_onnx_classifier(directory: str | Path, int8: bool = False):
    """A TextClassifier over an ONNX export (the int8 graph when `int8`)."""
    # ONNX Runtime runs here on the CPU: device "cpu" also spares loading from importing torch to
    # ask whether a GPU is there (a second or more of a short run's whole-process time).
    clf = TextClassifier.load(directory, device="cpu")
    if not isinstance(clf.model_, OnnxModel):
        raise ModelError(f"{directory}: not an ONNX export; run `textclf export --format onnx {directory} OUT_DIR` "
                         "and pass OUT_DIR")
    if int8:
        clf.model_.use(INT8_FILE)
    return clf


# -- export --------------------------------------------------------------------------------------
def refusal(model, export_format: str) -> str | None:
    """One line saying why `model` does not export to `export_format`, or None when it does."""
    capabilities = model.capabilities()
    if export_format in capabilities.export_formats:
        return None
    kind = model.type_name()
    if capabilities.export_note:
        return f"export --format {export_format}: {capabilities.export_note}"
    if capabilities.export_formats:
        other = sorted(capabilities.export_formats)[0]
        return (f"export --format {export_format}: a {kind!r} model (as configured) exports to "
                f"{', '.join(sorted(capabilities.export_formats))} only; use --format {other}")
    return (f"export --format {export_format}: a {kind!r} model has no single graph to export; distil it: "
            f"textclf distill MODEL ... into an exportable model (tfidf or a neural type), then export that")


def _export_view(clf) -> AnyExportView:
    from ..models.long import refuse_export  # long-text hook (models/long.py)

    refuse_export(clf.model_, "onnx")
    line = refusal(clf.model_, "onnx")
    view = clf.model_.export_view() if line is None else None
    if view is None:
        raise ModelError(line or f"export --format onnx: this {clf.model_.type_name()!r} model is not fitted")
    return view


def hf_config(view: ExportView):
    """The Hugging Face config of a pretrained encoder inside the exported net, or None."""
    return view.hf_encoder.hf_config if view.hf_encoder is not None else None


def _export_graph(view: ExportView, path: Path, opset: int) -> str:
    """Write the view's net as ONNX with dynamic batch and sequence axes; returns the exporter used.

    The dynamo exporter (torch.export + onnxscript) keeps shapes symbolic everywhere, including
    inside nn.MultiheadAttention, where the TorchScript tracer bakes in the traced batch size.
    Models it cannot capture (data-dependent control flow, e.g. packed RNN sequences) fall back to
    the TorchScript exporter; the parity check after export judges either graph."""
    import torch

    net = view.net.to("cpu").eval()
    ids = torch.ones((2, 12), dtype=torch.int64)
    mask = torch.ones((2, 12), dtype=torch.int64)
    mask[1, 7:] = 0  # a padded row, so that masking is traced
    names = dict(input_names=["input_ids", "attention_mask"], output_names=["logits"], opset_version=opset)
    if view.hf_encoder is not None:
        # A Hugging Face encoder traces cleanly (its shape-dependent branches do not change with
        # the input), and its TorchScript graph runs ~20% faster in ONNX Runtime than the
        # dynamo one, whose attention carries NaN guards the fusions do not recognise.
        eager = view.hf_encoder.eager_attention()
        with eager, warnings_silenced(), quiet_logging(), contextlib.redirect_stdout(None):
            torch.onnx.export(
                net, (ids, mask), str(path), dynamo=False, **names,
                dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                              "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}})
        return "torchscript"
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


def fuse_transformer(source: Path, target: Path, config) -> dict | None:
    """onnxruntime.transformers' fusions for a BERT-family graph (attention, skip LayerNorm, bias
    GELU, embedding LayerNorm) written to `target`; the fused-operator counts, or None when the
    encoder is not of a family the optimizer knows."""
    kind = FUSED_MODEL_TYPES.get(config.model_type)
    if kind is None:
        return None
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    with warnings_silenced(), quiet_logging(), contextlib.redirect_stdout(None):
        model = optimize_model(str(source), model_type=kind, num_heads=int(config.num_attention_heads),
                               hidden_size=int(config.hidden_size), opt_level=0,
                               optimization_options=FusionOptions(kind), use_gpu=False)
        model.save_model_to_file(str(target))
    return {name: count for name, count in model.get_fused_operator_statistics().items() if count}


def cpu_seconds(model: OnnxModel, texts: Sequence[str], repeats: int = 3) -> float:
    """Median CPU seconds of one thread predicting `texts`: a speed measure that a busy machine
    disturbs far less than wall time."""
    times = []
    model.logits(texts[:8])  # warm-up: first-run allocations
    for _ in range(repeats):
        started = time.process_time()
        model.logits(texts)
        times.append(time.process_time() - started)
    return float(np.median(times))


def export_onnx(clf: TextClassifier, output: str | Path, quantize: bool = False, opset: int = 18,
                sample_texts: Sequence[str] = (), int8_min_agreement: float = INT8_MIN_AGREEMENT,
                fusions: str = "auto") -> dict:
    """Export `clf` to `output`; returns the parity report (also in parity.json).

    Neural and embedding models become a token graph; TF-IDF models a feature graph
    (export/tfidf_onnx.py). Parity is checked on the probe texts plus `sample_texts` (the jobs
    layer passes held-out texts; `quantize` needs INT8_MIN_TEXTS in all). `fusions` ("auto",
    "on", "off"): onnxruntime.transformers fusions for BERT-family encoders; "auto" keeps the
    fused graph only when it is faster. With `quantize`, an int8 graph that agrees with fp32 on
    fewer than `int8_min_agreement` of the texts is not written: the fp32 export is, and
    ModelError then says why the int8 one is missing."""
    if fusions not in ("auto", "on", "off"):
        raise ModelError(f"fusions must be auto, on or off, got {fusions!r}")
    if not int8_min_agreement >= 0.0:  # above 1 refuses every int8 model (what a test needs)
        raise ModelError(f"int8 minimum agreement must be a share of texts >= 0, got {int8_min_agreement}")
    view = _export_view(clf)
    if isinstance(view, LinearExportView) and quantize:
        raise ModelError("export --quantize: a TF-IDF graph has no matrix products worth int8; export without it")
    if isinstance(view, EmbeddingExportView):
        from .export.embedding_onnx import embedding_export_view

        view = embedding_export_view(view)
    texts = PROBE_TEXTS + list(sample_texts)
    if quantize and len(texts) < INT8_MIN_TEXTS:
        raise ModelError(f"export --quantize: int8 agreement with fp32 would be judged on {len(texts)} texts "
                         f"({len(PROBE_TEXTS)} probes + {len(sample_texts)} of the model's test split or --data), "
                         f"fewer than {INT8_MIN_TEXTS}; pass --data FILE with texts like those it will serve; "
                         "nothing written")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.onnx-", dir=output.parent))
    try:
        if isinstance(view, LinearExportView):
            parity, exported = _write_tfidf(clf, view, staging, opset, texts)
        else:
            parity, exported = _write_neural(clf, view, staging, opset, texts, fusions)
        if quantize:
            unfused = staging / UNFUSED_FILE
            parity["int8"] = choose_int8(exported, staging, texts, exported.model_.logits(texts), int8_min_agreement,
                                         source=unfused if unfused.is_file() else None)
        (staging / UNFUSED_FILE).unlink(missing_ok=True)
        _carry_meaning(clf, exported, staging)
        write_json(staging / PARITY_FILE, parity)
        exported.save(output)
        refused = parity.get("int8", {}).get("refused")
        if refused:
            raise ModelError(f"{refused}; the fp32 model was written to {output} "
                             f"(lower --int8-min-agreement to accept it)")
        return parity
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_tfidf(clf: TextClassifier, view: LinearExportView, staging: Path, opset: int, texts: Sequence[str]):
    from .export.tfidf_onnx import write_tfidf_export

    write_tfidf_export(view, staging, opset)
    exported = clf.derived(
        {"type": "onnx", "source": clf.model_params, "max_length": None, "tokenizer": "tfidf"},
        lambda config, training: OnnxModel.load(staging, config, clf.label_map, training, clf.seed))
    parity = {"tolerance": PROBABILITY_TOLERANCE, "opset": opset, "exporter": "textclf-tfidf",
              **_parity(clf, exported, texts, PROBABILITY_TOLERANCE)}
    return parity, exported


def _write_neural(clf: TextClassifier, view: ExportView, staging: Path, opset: int, texts: Sequence[str],
                  fusions: str):
    tokenizer = view.tokenizer
    tokenizer.save(staging)
    if view.max_tokens is not None:
        set_tokenizer_truncation(staging / ENCODER_DIR, view.max_tokens)  # a tokenizer.json, where there is one
    exporter = _export_graph(view, staging / FP32_FILE, opset)
    exported = clf.derived(
        {"type": "onnx", "source": clf.model_params, "max_length": view.max_tokens,
         "tokenizer": tokenizer_name(tokenizer)},
        lambda config, training: OnnxModel.load(staging, config, clf.label_map, training, clf.seed))
    graph = _choose_graph(exported, staging, hf_config(view), texts, fusions)
    parity = {"tolerance": PARITY_TOLERANCE, "opset": opset, "exporter": exporter, "graph": graph,
              **_parity(clf, exported, texts, None)}
    fp32 = parity["fp32"]
    if fp32["max_abs_logit_diff"] > PARITY_TOLERANCE or not fp32["identical_argmax"]:
        raise ModelError(f"ONNX export does not match PyTorch (max logit difference "
                         f"{fp32['max_abs_logit_diff']:.2e}, argmax agreement {fp32['argmax_agreement']:.3f}); "
                         "nothing written")
    return parity, exported


def _parity(clf: TextClassifier, exported: TextClassifier, texts: Sequence[str], tolerance: float | None) -> dict:
    """Logits and decided probabilities of the export against the source, on batches of the eval
    size and one text at a time (a graph that baked in the traced batch or sequence size fails
    here rather than in production). `tolerance`: the largest probability difference accepted."""
    try:
        reference = clf.logits(texts)
        onnx_logits = exported.model_.logits(texts)
        single = np.concatenate([exported.model_.logits([t]) for t in texts[:16]])
    except Exception as err:  # onnxruntime rejects a graph whose shapes were baked in at export
        raise ModelError(f"the exported ONNX graph fails on new inputs ({type(err).__name__}: "
                         f"{str(err)[:200]}); nothing written") from None
    multi = clf.multi_label
    ref_probs, onnx_probs = (clf.policy.probabilities(x, multi) for x in (reference, onnx_logits))
    same = bool(np.array_equal(clf.policy.decide(ref_probs, multi), clf.policy.decide(onnx_probs, multi)))
    gap = float(np.max(np.abs(ref_probs - onnx_probs), initial=0.0))
    if tolerance is not None and (gap > tolerance or not same):
        raise ModelError(f"ONNX export does not match the model (probabilities differ by up to {gap:.2e}, "
                         f"labels identical: {same}); nothing written")
    return {"fp32": parity_report(np.concatenate([reference, reference[:16]]), np.concatenate([onnx_logits, single])),
            "probabilities": {"max_abs_diff": gap, "identical_labels": same}}


def _carry_meaning(clf: TextClassifier, exported: TextClassifier, staging: Path) -> None:
    """Labels, label type, max length and the decision policy into every graph's metadata and
    into export.json + README.md (export/metadata.py)."""
    model = exported.model_
    record = export_record(clf, graph_inputs(staging / FP32_FILE), model.config.max_length, model.config.tokenizer)
    graphs = [name for name in (FP32_FILE, INT8_FILE) if (staging / name).is_file()]
    for name in graphs:
        stamp_graph(staging / name, record)
    write_sidecar(staging, record, graphs)
    model.use(model.file)  # the session reads the stamped file


def _choose_graph(exported, staging: Path, config, texts: Sequence[str], fusions: str) -> dict:
    """Fuse a BERT-family graph (`config`: its Hugging Face config, None for other encoders) when
    asked, or with "auto" when it runs faster; the graph chosen ends up as FP32_FILE in `staging`,
    and the report says what was measured."""
    if fusions == "off" or config is None:
        return {"fusions": None}
    fused_path = staging / "model.fused.onnx"
    try:
        fused = fuse_transformer(staging / FP32_FILE, fused_path, config)
    except Exception as err:  # noqa: BLE001 - an optimizer failure costs speed, never the export
        return {"fusions": None, "note": f"optimizer failed: {type(err).__name__}"}
    if fused is None:
        return {"fusions": None, "note": f"no fusions for model_type {config.model_type!r}"}
    report: dict = {"fusions": fused}
    keep = fusions == "on"
    if fusions == "auto":
        model = exported.model_
        timing = texts[: min(len(texts), 128)]
        model.use(FP32_FILE, threads=1)
        plain = cpu_seconds(model, timing)
        model.use(fused_path.name, threads=1)
        fused_seconds = cpu_seconds(model, timing)
        report.update({"cpu_seconds_plain": round(plain, 4), "cpu_seconds_fused": round(fused_seconds, 4)})
        keep = fused_seconds < plain
    report["fused_graph_kept"] = keep
    if keep:
        # The int8 quantizer cannot type the fused (com.microsoft) operators: it reads the unfused one.
        (staging / FP32_FILE).replace(staging / UNFUSED_FILE)
        fused_path.replace(staging / FP32_FILE)
    fused_path.unlink(missing_ok=True)
    exported.model_.use(FP32_FILE)
    return report
