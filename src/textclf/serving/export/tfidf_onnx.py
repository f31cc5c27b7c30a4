"""TF-IDF + linear models as ONNX: n-gram counting in the runtime tokenizer, the arithmetic in the graph.

The split follows the neural exports (tokenizer outside, numbers inside). `tfidf_features.json`
holds, per TF-IDF block (word or char_wb n-grams), the analyzer settings and the vocabulary;
`models.onnx_runtime.TfidfFeatures` turns a text into (feature id, count) pairs per block exactly
as scikit-learn's analyzers do. The graph, per block b, reads `feature_ids_b` int64 [batch, n]
and `feature_counts_b` float32 [batch, n] (padding: count 0) and computes what
`TfidfVectorizer.transform` and the head compute:

    w = (1 + log(count) if sublinear_tf else count) * idf[id]      (0 where count is 0)
    w = w / ||w||_2                                                (per block, norm "l2")
    logits = sum_b sum_n w * coef.T[id] + intercept                ([0, s] for one binary column)

Why not skl2onnx (1.20.0, tried): its string graph needs the en_US.UTF-8 locale installed where it
runs (ONNX Runtime's StringNormalizer fails without it), does not convert char_wb n-grams, and
its word tokenizer disagreed with scikit-learn on 543 of 1,000 Rotten Tomatoes texts (largest
feature difference 0.57).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...errors import ModelError
from ...models.base import LinearExportView

FEATURES_FILE = "tfidf_features.json"
ANALYZERS = ("word", "char_wb", "char")


def block_spec(vectorizer) -> dict:
    """The analyzer settings and vocabulary of one fitted TfidfVectorizer, or ModelError naming
    the setting the runtime does not reproduce."""
    params = vectorizer.get_params()
    unsupported = {"strip_accents": None, "stop_words": None, "preprocessor": None, "tokenizer": None,
                   "input": "content"}
    for key, wanted in unsupported.items():
        if params.get(key) != wanted:
            raise ModelError(f"export --format onnx: TF-IDF {key}={params.get(key)!r} is not reproduced by the "
                             "ONNX runtime; serve the saved model instead")
    if params["analyzer"] not in ANALYZERS or params.get("norm") not in ("l2", None):
        raise ModelError(f"export --format onnx: TF-IDF analyzer {params['analyzer']!r} / norm "
                         f"{params.get('norm')!r} has no ONNX counterpart; serve the saved model instead")
    return {"analyzer": params["analyzer"], "ngram_range": list(params["ngram_range"]),
            "lowercase": bool(params["lowercase"]), "token_pattern": params["token_pattern"],
            "sublinear_tf": bool(params["sublinear_tf"]), "norm": params.get("norm"),
            "vocabulary": {term: int(i) for term, i in vectorizer.vocabulary_.items()}}


def write_tfidf_export(view: LinearExportView, directory: Path, opset: int) -> dict[str, str]:
    """tfidf_features.json and the graph (`model.onnx`) in `directory`; returns the graph's inputs."""
    from ...models.onnx_runtime import FP32_FILE

    blocks = [block_spec(v) for v in view.vectorizers]
    (directory / FEATURES_FILE).write_text(json.dumps({"blocks": blocks}, ensure_ascii=False), encoding="utf-8")
    graph = tfidf_graph(view, blocks, opset)
    import onnx

    onnx.save(graph, str(directory / FP32_FILE))
    inputs = {}
    for b in range(len(blocks)):
        inputs[f"feature_ids_{b}"] = "int64[batch, n]: ids into the block's vocabulary"
        inputs[f"feature_counts_{b}"] = "float32[batch, n]: occurrences of each id in the text (0: padding)"
    return inputs


def tfidf_graph(view: LinearExportView, blocks: list[dict], opset: int):
    """The ONNX model (see the module docstring) for `view` with analyzer `blocks`."""
    from onnx import TensorProto, helper, numpy_helper

    coef = np.asarray(view.coef, dtype=np.float32)
    nodes, inits, inputs, contributions = [], [], [], []
    const = {"one": np.array(1.0, np.float32), "zero": np.array(0.0, np.float32),
             "tiny": np.array(1e-30, np.float32), "axis1": np.array([1], np.int64),
             "axis2": np.array([2], np.int64), "intercept": np.asarray(view.intercept, np.float32)}
    inits += [numpy_helper.from_array(v, k) for k, v in const.items()]
    offset = 0
    for b, (vectorizer, spec) in enumerate(zip(view.vectorizers, blocks)):
        size = len(spec["vocabulary"])
        ids, counts = f"feature_ids_{b}", f"feature_counts_{b}"
        inputs += [helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch", f"n{b}"]),
                   helper.make_tensor_value_info(counts, TensorProto.FLOAT, ["batch", f"n{b}"])]
        inits += [numpy_helper.from_array(np.asarray(vectorizer.idf_, np.float32), f"idf_{b}"),
                  numpy_helper.from_array(np.ascontiguousarray(coef[:, offset:offset + size].T), f"coef_t_{b}")]
        offset += size
        p = f"b{b}/"
        nodes += [helper.make_node("Gather", [f"idf_{b}", ids], [p + "idf"]),
                  helper.make_node("Greater", [counts, "zero"], [p + "present"]),
                  helper.make_node("Cast", [p + "present"], [p + "mask"], to=TensorProto.FLOAT)]
        tf = counts
        if spec["sublinear_tf"]:
            nodes += [helper.make_node("Max", [counts, "one"], [p + "safe"]),
                      helper.make_node("Log", [p + "safe"], [p + "log"]),
                      helper.make_node("Add", [p + "log", "one"], [p + "tf"])]
            tf = p + "tf"
        nodes += [helper.make_node("Mul", [tf, p + "idf"], [p + "raw"]),
                  helper.make_node("Mul", [p + "raw", p + "mask"], [p + "w"])]
        weight = p + "w"
        if spec["norm"] == "l2":
            nodes += [helper.make_node("Mul", [weight, weight], [p + "sq"]),
                      helper.make_node("ReduceSum", [p + "sq", "axis1"], [p + "sumsq"], keepdims=1),
                      helper.make_node("Sqrt", [p + "sumsq"], [p + "norm"]),
                      helper.make_node("Max", [p + "norm", "tiny"], [p + "safe_norm"]),
                      helper.make_node("Div", [weight, p + "safe_norm"], [p + "wn"])]
            weight = p + "wn"
        nodes += [helper.make_node("Gather", [f"coef_t_{b}", ids], [p + "coef"]),
                  helper.make_node("Unsqueeze", [weight, "axis2"], [p + "w3"]),
                  helper.make_node("Mul", [p + "coef", p + "w3"], [p + "terms"]),
                  helper.make_node("ReduceSum", [p + "terms", "axis1"], [p + "scores"], keepdims=0)]
        contributions.append(p + "scores")
    if offset != coef.shape[1]:
        raise ModelError(f"export --format onnx: the vocabularies hold {offset} features, the head reads "
                         f"{coef.shape[1]}")
    nodes.append(helper.make_node("Sum", contributions + ["intercept"], ["scores" if view.binary_column
                                                                          else "logits"]))
    if view.binary_column:  # one column s for two classes: logits [0, s]
        nodes += [helper.make_node("Sub", ["scores", "scores"], ["zeros"]),
                  helper.make_node("Concat", ["zeros", "scores"], ["logits"], axis=1)]
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2 if view.binary_column
                                                                         else coef.shape[0]])
    graph = helper.make_graph(nodes, "textclf_tfidf_linear", inputs, [output], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="textclf")
    model.ir_version = min(model.ir_version, 10)  # readable by ONNX Runtime releases of the last years
    return model
