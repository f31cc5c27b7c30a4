"""ONNX export: parity with PyTorch, dynamic axes, int8, the onnx model type, and clear refusals."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from textclf import TextClassifier
from textclf.cli import main
from textclf.data.io import examples_frame, write_frame
from textclf.errors import ModelError
from textclf.models.onnx_runtime import (
    INT8_FILE, PRETRAINED_TOKENIZER, THREADS_ENV, JsonTokenizer, OnnxModel, load_tokenizer, pad_batch, physical_cores,
    worker_count,
)
from textclf.serving.onnx_export import export_onnx, load_onnx_classifier
from textclf.serving.onnx_int8 import Int8Plan, int8_ladder, split_first_token

TINY = {"embedding_dim": 16, "tokenizer": {"vocab_size": 600}}
TRAINING = {"epochs": 1, "batch_size": 16, "eval_batch_size": 8, "max_length": 48}


@pytest.fixture(scope="module")
def texts(rt_small):
    return rt_small.subset(range(1, 600, 10)).texts  # 60 texts of varied length


@pytest.fixture(scope="module", params=[
    {"type": "transformer", "num_heads": 2, "num_layers": 1, "ff_dim": 32},  # the dynamo exporter
    {"type": "rnn", "hidden_size": 16},  # packed sequences: the TorchScript fallback
])
def exported(request, tmp_path_factory, rt_small):
    clf = TextClassifier(model={**request.param, **TINY}, training=TRAINING)
    clf.fit(rt_small.subset(range(0, 600, 4)))
    root = tmp_path_factory.mktemp(request.param["type"])
    clf.save(root / "model")
    clf = TextClassifier.load(root / "model")
    # int8 agreement judged on 100 held-out texts, not the 4 probe texts alone (one flip is 25%)
    held_out = rt_small.subset(range(2, 600, 6)).texts
    parity = export_onnx(clf, root / "onnx", quantize=True, int8_min_agreement=0.9, sample_texts=held_out)
    return clf, root, parity


def test_pad_batch_pads_to_the_longest_and_masks_padding():
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert ids.dtype == mask.dtype == np.int64
    assert pad_batch([], 0)[0].shape == (0, 1)


@pytest.mark.slow
def test_export_matches_pytorch_and_records_parity(exported, texts):
    clf, root, parity = exported
    assert json.loads((root / "onnx" / "parity.json").read_text()) == parity
    assert parity["fp32"]["max_abs_logit_diff"] < 1e-3 and parity["fp32"]["identical_argmax"]
    assert parity["int8"]["argmax_agreement"] >= 0.9 and parity["exporter"] in {"dynamo", "torchscript"}
    onnx_clf = load_onnx_classifier(root / "onnx")
    assert isinstance(onnx_clf.model_, OnnxModel) and onnx_clf.label_map.labels == clf.label_map.labels
    # Unseen texts, batch sizes other than the traced one (8 per batch, and one at a time).
    np.testing.assert_allclose(onnx_clf.logits(texts), clf.logits(texts), atol=1e-3)
    np.testing.assert_allclose(onnx_clf.logits(texts[:1]), clf.logits(texts[:1]), atol=1e-3)
    assert onnx_clf.predict(texts) == clf.predict(texts)
    int8 = load_onnx_classifier(root / "onnx", int8=True)
    assert np.mean(np.array(int8.predict(texts)) == np.array(clf.predict(texts))) >= 0.9


@pytest.mark.slow
def test_parallel_workers_change_speed_not_answers(exported, texts, monkeypatch):
    _, root, _ = exported
    monkeypatch.setenv(THREADS_ENV, "1")
    onnx_clf = load_onnx_classifier(root / "onnx")
    assert onnx_clf.model_.workers == 1
    one, few = onnx_clf.logits(texts), onnx_clf.logits(texts[:5])
    monkeypatch.setenv(THREADS_ENV, "3")  # batches finish out of order; each goes back to its rows
    onnx_clf = load_onnx_classifier(root / "onnx")
    assert onnx_clf.model_.workers == 3
    np.testing.assert_allclose(onnx_clf.logits(texts), one, atol=1e-5)
    np.testing.assert_allclose(onnx_clf.logits(texts[:5]), few, atol=1e-5)  # 3 batches of <= 2 texts
    np.testing.assert_allclose(few, one[:5], atol=1e-5)
    monkeypatch.setenv(THREADS_ENV, "none")
    assert worker_count() == physical_cores()


@pytest.mark.slow
def test_streaming_predict_through_the_onnx_backend_matches_pytorch(exported, rt_small, tmp_path):
    _, root, _ = exported
    write_frame(examples_frame(rt_small.subset(range(3, 600, 7))), tmp_path / "in.csv")
    assert main(["predict", str(root / "model"), str(tmp_path / "in.csv"), "-o", str(tmp_path / "torch.jsonl")]) == 0
    assert main(["predict", str(root / "onnx"), str(tmp_path / "in.csv"), "-o", str(tmp_path / "onnx.jsonl"),
                 "--backend", "onnx", "--chunk-size", "20", "--batch-size", "5"]) == 0
    torch_rows = [json.loads(line) for line in open(tmp_path / "torch.jsonl")]
    onnx_rows = [json.loads(line) for line in open(tmp_path / "onnx.jsonl")]
    assert [r["label"] for r in onnx_rows] == [r["label"] for r in torch_rows]
    probs = lambda rows: np.array([[v for k, v in r.items() if k.startswith("prob_")] for r in rows])  # noqa: E731
    np.testing.assert_allclose(probs(onnx_rows), probs(torch_rows), atol=1e-4)


def test_tfidf_exports_and_refuses_int8_in_one_line(rt_small, tmp_path, capsys):
    clf = TextClassifier(model={"type": "tfidf"}).fit(rt_small.subset(range(0, 600, 3)))
    clf.save(tmp_path / "tfidf")
    assert main(["export", str(tmp_path / "tfidf"), "-o", str(tmp_path / "q"), "--quantize"]) == 2
    assert "TF-IDF graph has no matrix products" in capsys.readouterr().err and not (tmp_path / "q").exists()
    assert main(["export", str(tmp_path / "tfidf"), "-o", str(tmp_path / "out"), "--format", "onnx"]) == 0
    texts = rt_small.texts[1:600:7]
    assert load_onnx_classifier(tmp_path / "out").predict(texts) == clf.predict(texts)
    with pytest.raises(ModelError, match="not an ONNX export"):
        load_onnx_classifier(tmp_path / "tfidf")


@pytest.fixture(scope="module")
def tiny_transformer(tmp_path_factory, rt_small):
    clf = TextClassifier(model={"type": "transformer", "num_heads": 2, "num_layers": 1, "ff_dim": 32, **TINY},
                         training=TRAINING)
    clf.fit(rt_small.subset(range(0, 600, 4)))
    root = tmp_path_factory.mktemp("tiny")
    clf.save(root / "model")
    return TextClassifier.load(root / "model"), root


@pytest.fixture(scope="module")
def int8_texts(rt_small):
    return rt_small.subset(range(3, 600, 5)).texts  # 120: int8 agreement needs INT8_MIN_TEXTS


@pytest.mark.slow
def test_int8_below_the_agreement_floor_is_refused_and_fp32_kept(tiny_transformer, int8_texts, texts):
    clf, root = tiny_transformer
    out = root / "refused"
    refused = r"int8 model refused: .* below the floor 101\.0%.*fp32 model was written"
    with pytest.raises(ModelError, match=refused) as err:
        export_onnx(clf, out, quantize=True, sample_texts=int8_texts, int8_min_agreement=1.01)
    assert "\n" not in str(err.value)
    assert (out / "model.onnx").is_file() and not (out / INT8_FILE).exists()
    parity = json.loads((out / "parity.json").read_text())
    assert parity["int8"]["refused"].startswith("int8 model refused") and len(parity["int8"]["tried"]) >= 2
    assert load_onnx_classifier(out).predict(texts) == clf.predict(texts)
    with pytest.raises(ModelError, match="missing \\(int8 model refused: .* below the floor"):
        load_onnx_classifier(out, int8=True)


@pytest.mark.slow
def test_int8_at_or_above_the_floor_is_written(tiny_transformer, int8_texts, texts):
    clf, root = tiny_transformer
    parity = export_onnx(clf, root / "accepted", quantize=True, sample_texts=int8_texts, int8_min_agreement=0.0)
    int8 = parity["int8"]
    assert int8["plan"] == "int8 weights" and int8["min_agreement"] == 0.0 and "refused" not in int8
    assert (root / "accepted" / INT8_FILE).is_file()
    agreement = np.mean(np.array(load_onnx_classifier(root / "accepted", int8=True).predict(texts))
                        == np.array(clf.predict(texts)))
    assert agreement >= 0.8
    # per-channel int8 weights: the quantized graph keeps a scale per output column
    import onnx

    graph = onnx.load(str(root / "accepted" / INT8_FILE)).graph
    scales = [i for i in graph.initializer if i.name.endswith("_scale") and len(i.dims) == 1 and i.dims[0] > 1]
    assert scales, "expected per-channel weight scales"
    plans = int8_ladder(root / "accepted" / "model.onnx")
    assert plans[0] == Int8Plan("int8 weights", [], []) and all(p.keep_fp32 or p.first_token_fp32 for p in plans[1:])
    # this graph's nodes carry no block names: the "first blocks" are the first products in graph order
    matmuls = [n.name for n in onnx.load(str(root / "accepted" / "model.onnx")).graph.node if n.op_type == "MatMul"]
    keeps = {p.name: p.keep_fp32 for p in plans}
    first, first_two = (keeps[f"fp32 feed-forward of the first {k}"] for k in ("block", "two blocks"))
    assert first == sorted(matmuls[:len(first)]) and set(first) < set(first_two)


@pytest.mark.slow
def test_first_token_split_computes_the_same_and_stays_fp32_in_int8(tiny_transformer, texts):
    import onnx

    from textclf.serving.onnx_int8 import quantize_int8

    clf, root = tiny_transformer
    export_onnx(clf, root / "split", quantize=False)
    graph = root / "split" / "model.onnx"
    plan = {p.name: p for p in int8_ladder(graph)}["fp32 first token in every block product"]
    assert plan.first_token_fp32 and not plan.keep_fp32  # the tiny encoder's (batch, tokens, features) products
    model = load_onnx_classifier(root / "split").model_  # loaded before files the manifest does not list
    first = split_first_token(graph, root / "split" / "split.onnx", plan.first_token_fp32)
    reference = model.logits(texts)
    np.testing.assert_allclose(model.use("split.onnx").logits(texts), reference, atol=1e-5, rtol=0)
    quantize_int8(graph, root / "split" / INT8_FILE, plan)
    nodes = {n.name: n.op_type for n in onnx.load(str(root / "split" / INT8_FILE)).graph.node}
    assert all(nodes[name] == "MatMul" for name in first)  # the first token's rows: fp32
    assert sum(op == "MatMulInteger" for op in nodes.values()) >= len(first)  # the other rows: int8
    assert np.mean(model.use(INT8_FILE).logits(texts).argmax(1) == reference.argmax(1)) >= 0.9


@pytest.mark.slow
def test_onnx_inference_imports_neither_torch_nor_transformers(exported):
    _, root, _ = exported
    code = ("from textclf.serving.onnx_export import load_onnx_classifier; "
            f"print(load_onnx_classifier({str(root / 'onnx')!r}).predict(['a fine film', 'dull']))")
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line]
    assert imported and not [m for m in imported if m.split(".")[0] in ("torch", "transformers")]


def test_json_tokenizer_matches_the_pretrained_tokenizer_without_torch(tmp_path, rotten_tomatoes):
    from textclf.models.pretrained import PretrainedTokenizer, resolve_name_or_path

    reference = PretrainedTokenizer.from_pretrained(resolve_name_or_path("minilm"))
    reference.save(tmp_path)
    fast = load_tokenizer(PRETRAINED_TOKENIZER, tmp_path)  # an export written before the twin existed
    assert isinstance(fast, JsonTokenizer) and fast.pad_id == reference.pad_id
    sample = rotten_tomatoes.texts[:300] + ["", "Ünïcödé, emoji 🎬 and punctuation?!", "word " * 500]
    for max_length in (8, 64, 512):
        assert fast.encode(sample, max_length) == reference.encode(sample, max_length)
    code = ("from textclf.models.onnx_runtime import load_tokenizer, PRETRAINED_TOKENIZER; import sys; "
            f"t = load_tokenizer(PRETRAINED_TOKENIZER, {str(tmp_path)!r}); t.encode(['a film'], 16); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr[-2000:]


def test_one_thread_per_physical_core(tmp_path):
    info = ""
    for proc, core in ((0, 0), (1, 1), (2, 0), (3, 1)):
        info += f"processor\t: {proc}\nphysical id\t: 0\ncore id\t: {core}\n\n"
    (tmp_path / "cpuinfo").write_text(info)
    assert physical_cores(str(tmp_path / "cpuinfo")) <= 2
    assert physical_cores(str(tmp_path / "missing")) >= 1
