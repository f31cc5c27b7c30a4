"""int8 versions of an exported fp32 graph, and the choice among them (used by onnx_export.py).

Weights are int8 per output channel, activations are quantised per tensor at run time (ONNX
Runtime's dynamic quantisation); the embeddings (Gather) and the classifier head (Gemm) stay fp32.
A plan says what else stays fp32:

- whole products (MatMul nodes) that move the logits most: the first blocks' feed-forward, whose
  error every later block amplifies, or the feed-forward outputs;
- the first token's rows of some products. In BERT-family encoders the first token ([CLS])
  carries activations 2-5x larger than any other token's (fine-tuned MiniLM: up to 30 against
  13 at the feed-forward input of the first blocks). With one scale per tensor, that one token
  sets the step for every token of the batch. Its row is computed in fp32 (one row of T) and the
  other rows in int8, with a scale they set themselves.

`choose_int8` tries the plans fastest first and keeps the first whose argmax agrees with fp32 on
at least the floor's share of the parity texts. Measured on MiniLM fine-tuned on Rotten Tomatoes
(1,000 held-out texts, `bench/bench_onnx_speed.py`): int8 weights 2.0x fp32 at 98.1% agreement;
first token fp32 in the feed-forward products 1.7x at 99.2%.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..models.onnx_runtime import FP32_FILE, INT8_FILE

_LAYER = re.compile(r"(?:layers?|block|h)[./_](\d+)[./]")
_FFN_OUT = re.compile(r"(?<!attention/)output/dense/|linear2|fc2|/w2/")
_FFN_IN = re.compile(r"intermediate/dense/|linear1|fc1|/w1/")


class Int8Plan(NamedTuple):
    name: str
    keep_fp32: list[str]  # MatMul nodes left in fp32
    first_token_fp32: list[str] = []  # MatMul nodes whose first-token row is computed in fp32


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


def _weight_products(graph) -> list[tuple[str, int | None]]:
    """(name, rank of the activation input or None) of each MatMul with a constant weight."""
    constants = {i.name for i in graph.initializer}
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in [*graph.value_info, *graph.input]
             if v.type.tensor_type.HasField("shape")}
    return [(n.name, ranks.get(n.input[0])) for n in graph.node if n.op_type == "MatMul" and n.input[1] in constants]


def int8_ladder(graph_path: Path) -> list[Int8Plan]:
    """The plans, fastest first (speed-ups over fp32 measured on MiniLM: 2.0x, 1.7x, 1.7x, 1.7x,
    1.6x, 1.5x, 1.4x, 1.0x). Blocks are recognised by name (`layer.N/`, `layers.N.`, ...); a graph
    without recognisable blocks takes its first and last quarter of products instead."""
    import onnx

    graph = onnx.shape_inference.infer_shapes(onnx.load(str(graph_path), load_external_data=False)).graph
    matmuls = [n.name for n in graph.node if n.op_type == "MatMul"]
    ffn_out = [n for n in matmuls if _FFN_OUT.search(n)]
    ffn_in = [n for n in matmuls if _FFN_IN.search(n)]
    layer_of = {n: int(m.group(1)) for n in matmuls if (m := _LAYER.search(n))}
    layers = sorted(set(layer_of.values()))
    if layers:
        edge = [n for n in matmuls if layer_of.get(n) in (layers[0], layers[-1])]
        first_ffn = [[n for n in ffn_in + ffn_out if layer_of.get(n) in layers[:k]] for k in (1, 2)]
    else:
        quarter = max(1, len(matmuls) // 4)
        edge = matmuls[:quarter] + matmuls[-quarter:]
        first_ffn = [matmuls[:quarter], matmuls[:2 * quarter]]
    # Only products over (batch, tokens, features) have token rows to split.
    per_token = [name for name, rank in _weight_products(graph) if rank == 3 and (name in layer_of or not layers)]
    ladder = [Int8Plan("int8 weights", []),
              Int8Plan("fp32 first token in the feed-forward", [], [n for n in per_token if n in ffn_in + ffn_out]),
              Int8Plan("fp32 first token in every block product", [], per_token),
              Int8Plan("fp32 feed-forward of the first block", first_ffn[0]),
              Int8Plan("fp32 feed-forward of the first two blocks", first_ffn[1]),
              Int8Plan("fp32 feed-forward outputs", ffn_out),
              Int8Plan("fp32 feed-forward outputs and the first block's feed-forward",
                       sorted(set(ffn_out) | set(first_ffn[0]))),
              Int8Plan("int8 attention projections only", sorted(set(ffn_out) | set(ffn_in) | set(edge)))]
    unique, seen = [], set()
    for plan in ladder:  # a plan that keeps what an earlier one kept (or nothing) adds nothing
        plan = Int8Plan(plan.name, sorted(plan.keep_fp32), sorted(plan.first_token_fp32))
        if (key := (tuple(plan.keep_fp32), tuple(plan.first_token_fp32))) not in seen:
            seen.add(key)
            unique.append(plan)
    return unique


def split_first_token(source: Path, target: Path, nodes: Sequence[str]) -> list[str]:
    """Write `source` with each MatMul in `nodes` split along the token axis: the first token's
    row and the other rows go through two MatMuls over the same weight, concatenated back (the
    fp32 graph computes exactly the same). Returns the names of the first-token MatMuls."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    wanted = set(nodes)
    bounds = {"first_token/0": 0, "first_token/1": 1, "first_token/end": np.iinfo(np.int64).max}
    graph.initializer.extend(numpy_helper.from_array(np.array([v], np.int64), k) for k, v in bounds.items())
    rebuilt, first = [], []
    for node in graph.node:
        if node.op_type != "MatMul" or node.name not in wanted:
            rebuilt.append(node)
            continue
        x, w, y = node.input[0], node.input[1], node.output[0]
        rebuilt += [
            helper.make_node("Slice", [x, "first_token/0", "first_token/1", "first_token/1"], [f"{y}/first_in"],
                             name=f"{node.name}/first_slice"),
            helper.make_node("Slice", [x, "first_token/1", "first_token/end", "first_token/1"], [f"{y}/rest_in"],
                             name=f"{node.name}/rest_slice"),
            helper.make_node("MatMul", [f"{y}/first_in", w], [f"{y}/first"], name=f"{node.name}/first_token"),
            helper.make_node("MatMul", [f"{y}/rest_in", w], [f"{y}/rest"], name=f"{node.name}/other_tokens"),
            helper.make_node("Concat", [f"{y}/first", f"{y}/rest"], [y], axis=1, name=f"{node.name}/tokens")]
        first.append(f"{node.name}/first_token")
    del graph.node[:]
    graph.node.extend(rebuilt)
    onnx.save(model, str(target))
    return first


def quantize_int8(source: Path, target: Path, plan: Int8Plan) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix=".int8-", dir=Path(target).parent) as tmp:
        keep = list(plan.keep_fp32)
        if plan.first_token_fp32:
            split = Path(tmp) / "split.onnx"
            keep += split_first_token(source, split, plan.first_token_fp32)
            source = split
        with warnings_silenced(), quiet_logging():
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"], nodes_to_exclude=keep)


def choose_int8(exported, staging: Path, texts: Sequence[str], fp32_logits: np.ndarray,
                min_agreement: float, source: Path | None = None) -> dict:
    """Try the ladder on `source` (default: FP32_FILE in `staging`; an unfused graph, whose
    operators the quantizer can type); keep the first plan whose argmax agrees with fp32 on at
    least `min_agreement` of `texts` (as INT8_FILE in `staging`). The report says what was tried."""
    source = source or staging / FP32_FILE
    tried = []
    for plan in int8_ladder(source):
        quantize_int8(source, staging / INT8_FILE, plan)
        report = {"plan": plan.name, "fp32_nodes": len(plan.keep_fp32),
                  "fp32_first_token_nodes": len(plan.first_token_fp32),
                  **parity_report(fp32_logits, exported.model_.use(INT8_FILE).logits(texts))}
        tried.append({k: report[k] for k in ("plan", "fp32_nodes", "fp32_first_token_nodes", "argmax_agreement",
                                             "max_abs_logit_diff")})
        if report["argmax_agreement"] >= min_agreement:
            exported.model_.use(FP32_FILE)
            return {**report, "min_agreement": min_agreement, "tried": tried}
    exported.model_.use(FP32_FILE)
    (staging / INT8_FILE).unlink(missing_ok=True)
    best = max(tried, key=lambda t: t["argmax_agreement"])
    reason = (f"int8 model refused: its argmax agrees with fp32 on {best['argmax_agreement']:.1%} of "
              f"{len(texts)} texts at best ({best['plan']}), below the floor {min_agreement:.1%}")
    return {"refused": reason, "min_agreement": min_agreement, "tried": tried}
