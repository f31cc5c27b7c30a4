"""ONNX export: parity with PyTorch, dynamic axes, int8, the onnx model type, and clear refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from textclf import TextClassifier
from textclf.cli import main
from textclf.data.io import examples_frame, write_frame
from textclf.errors import ModelError
from textclf.models.onnx_runtime import OnnxModel, pad_batch
from textclf.serving.onnx_export import export_onnx, load_onnx_classifier

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
    parity = export_onnx(clf, root / "onnx", quantize=True)
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
    assert isinstance(onnx_clf.model, OnnxModel) and onnx_clf.label_map.labels == clf.label_map.labels
    # Unseen texts, batch sizes other than the traced one (8 per batch, and one at a time).
    np.testing.assert_allclose(onnx_clf.logits(texts), clf.logits(texts), atol=1e-3)
    np.testing.assert_allclose(onnx_clf.logits(texts[:1]), clf.logits(texts[:1]), atol=1e-3)
    assert onnx_clf.predict(texts) == clf.predict(texts)
    int8 = load_onnx_classifier(root / "onnx", int8=True)
    assert np.mean(np.array(int8.predict(texts)) == np.array(clf.predict(texts))) >= 0.9


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


def test_tfidf_export_is_refused_clearly(rt_small, tmp_path, capsys):
    clf = TextClassifier(model={"type": "tfidf"}).fit(rt_small.subset(range(0, 600, 3)))
    clf.save(tmp_path / "tfidf")
    with pytest.raises(ModelError, match="ONNX export supports neural models"):
        export_onnx(clf, tmp_path / "out")
    assert main(["export", str(tmp_path / "tfidf"), str(tmp_path / "out"), "--format", "onnx"]) == 2
    assert "supports neural models" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    with pytest.raises(ModelError, match="not an ONNX export"):
        load_onnx_classifier(tmp_path / "tfidf")
