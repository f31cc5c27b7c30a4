"""`textclf export --format hf`: a directory AutoModelForSequenceClassification loads, same predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from textclf.classifier import TextClassifier
from textclf.cli import main
from textclf.errors import ModelError

from test_pretrained import make_tiny_bert

TRAINING = {"epochs": 1, "batch_size": 16, "learning_rate": 3e-3, "max_length": 40, "progress": False,
            "device": "cpu", "early_stopping_patience": None}


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, rt_small):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), rt_small.texts)


@pytest.fixture(scope="module")
def saved_cls_model(tmp_path_factory, tiny_bert, rt_small):
    clf = TextClassifier(model={"type": "pretrained", "name_or_path": str(tiny_bert), "pooling": "cls"},
                         training=TRAINING, seed=0)
    clf.fit(rt_small.subset(range(0, 600, 3)))
    return clf.save(tmp_path_factory.mktemp("model") / "model")


def test_exported_directory_gives_the_same_predictions(saved_cls_model, rt_small, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path / "hf"
    assert main(["export", str(saved_cls_model), "-o", str(out), "--format", "hf"]) == 0
    clf = TextClassifier.load(saved_cls_model)
    hf_model = AutoModelForSequenceClassification.from_pretrained(str(out)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    assert hf_model.config.id2label == dict(enumerate(clf.label_map.labels))
    assert hf_model.config.label2id == {name: i for i, name in enumerate(clf.label_map.labels)}

    texts = rt_small.texts[1:600:5]  # rows it was not trained on; some longer than max_length
    with torch.no_grad():
        batch = tokenizer(texts, truncation=True, padding=True, return_tensors="pt")
        assert batch["input_ids"].shape[1] == TRAINING["max_length"]  # truncation follows training
        hf_logits = hf_model(**batch).logits.numpy()
    ours = clf.logits(texts)
    np.testing.assert_allclose(hf_logits, ours, atol=1e-4, rtol=1e-4)
    hf_labels = [hf_model.config.id2label[i] for i in hf_logits.argmax(axis=1)]
    assert hf_labels == clf.predict(texts)


def test_mean_pooling_is_refused_with_a_clear_error(tiny_bert, rt_small, tmp_path, capsys):
    clf = TextClassifier(model={"type": "pretrained", "name_or_path": str(tiny_bert), "pooling": "mean"},
                         training={**TRAINING, "max_steps": 2}, seed=0)
    clf.fit(rt_small.subset(range(0, 600, 10)))
    saved = clf.save(tmp_path / "model")
    from textclf.serving.hf_export import export_hf

    with pytest.raises(ModelError, match="pooling 'mean' has no Hugging Face counterpart"):
        export_hf(clf, tmp_path / "hf")
    assert main(["export", str(saved), "-o", str(tmp_path / "hf"), "--format", "hf"]) == 2
    assert "pooling 'mean'" in capsys.readouterr().err
    assert not (tmp_path / "hf").exists()


def test_non_pretrained_models_are_refused(rt_small, tmp_path):
    from textclf.serving.hf_export import export_hf

    clf = TextClassifier(model={"type": "tfidf"}).fit(rt_small)
    with pytest.raises(ModelError, match="no transformer encoder for a Hugging Face directory; use --format onnx"):
        export_hf(clf, tmp_path / "hf")


@pytest.mark.slow
def test_packaged_minilm_exports(rt_small, tmp_path):
    """MiniLM itself (22M parameters): one tiny training step, then the same check as above."""
    from textclf.serving.hf_export import build_hf_model, hf_logits

    clf = TextClassifier(model={"type": "pretrained", "pooling": "cls"},
                         training={**TRAINING, "max_steps": 1, "batch_size": 8}, seed=0)
    clf.fit(rt_small.subset(range(0, 600, 40)))
    hf_model, tokenizer = build_hf_model(clf)
    texts = rt_small.texts[5:600:60]
    np.testing.assert_allclose(hf_logits(hf_model, tokenizer, texts), clf.logits(texts), atol=1e-4, rtol=1e-4)
    config = json.loads(json.dumps(hf_model.config.to_dict()))
    assert config["id2label"] == {str(i): name for i, name in enumerate(clf.label_map.labels)}
