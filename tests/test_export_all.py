"""Every model type exports with parity or is refused in one line; exports carry labels, label type,
max length and the decision policy; `predict --backend onnx` equals native predict row for row."""

from __future__ import annotations

import json

import numpy as np
import pytest

from textclf import TextClassifier
from textclf.artifacts import policy_json
from textclf.cli import main
from textclf.data.io import examples_frame, write_frame
from textclf.models import MODEL_TYPES, model_class
from textclf.serving.export.metadata import SIDECAR_FILE, read_graph_record
from textclf.serving.onnx_export import export_onnx, load_onnx_classifier, refusal

from test_pretrained import make_tiny_bert

TINY_NEURAL = {"embedding_dim": 16, "tokenizer": {"vocab_size": 600}}
TRAINING = {"epochs": 1, "batch_size": 16, "eval_batch_size": 16, "max_length": 24, "progress": False,
            "device": "cpu", "early_stopping_patience": None}


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, rt_small):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), rt_small.texts)


@pytest.fixture(scope="module")
def binary_tfidf(tmp_path_factory, rt_binary):
    """Word + char_wb TF-IDF on fresh/rotten, with a calibration and a threshold in its policy."""
    clf = TextClassifier(model={"type": "tfidf", "char_ngrams": [2, 4]}).fit(rt_binary.subset(range(0, 600, 2)))
    calibration = {"method": "temperature", "multi_label": False, "n_classes": 2, "n_fitted": 300,
                   "temperature": 1.7}
    clf.policy_ = clf.policy.with_calibration(calibration).with_thresholds(np.array([0.35]))
    root = tmp_path_factory.mktemp("tfidf")
    clf.save(root / "model")
    return TextClassifier.load(root / "model"), root


def _one_line_refusal(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and len(err) <= 300 and "Traceback" not in err
    return err


def test_tfidf_export_matches_the_model_on_the_bundled_set(binary_tfidf, rt_binary):
    clf, root = binary_tfidf
    texts = rt_binary.texts[1:600:2]  # held out: the odd rows
    parity = export_onnx(clf, root / "onnx", sample_texts=texts)
    assert parity["probabilities"]["identical_labels"] and parity["probabilities"]["max_abs_diff"] <= 1e-5
    exported = load_onnx_classifier(root / "onnx")
    assert exported.predict(texts) == clf.predict(texts)
    np.testing.assert_allclose(exported.predict_proba(texts), clf.predict_proba(texts), atol=1e-5)


def test_metadata_round_trips_labels_kind_and_policy(binary_tfidf, rt_binary):
    clf, root = binary_tfidf
    if not (root / "onnx").exists():
        export_onnx(clf, root / "onnx")
    record = read_graph_record(root / "onnx" / "model.onnx")
    assert record == json.loads((root / "onnx" / SIDECAR_FILE).read_text())
    assert record["labels"] == list(clf.label_map.labels) and record["label_kind"] == clf.label_map.kind
    assert record["policy"] == json.loads(json.dumps(policy_json(clf.policy)))
    assert record["policy"]["thresholds"] == [0.35] and record["policy"]["calibration"]["temperature"] == 1.7
    assert record["max_length"] is None and "feature_ids_0" in record["inputs"]
    assert "export.json" in (root / "onnx" / "README.md").read_text()


def test_predict_backend_onnx_equals_native_predict_row_for_row(binary_tfidf, rt_binary, tmp_path):
    clf, root = binary_tfidf
    if not (root / "onnx").exists():
        export_onnx(clf, root / "onnx")
    write_frame(examples_frame(rt_binary.subset(range(1, 600, 3))), tmp_path / "in.csv")
    assert main(["predict", str(root / "model"), str(tmp_path / "in.csv"), "-o", str(tmp_path / "native.jsonl")]) == 0
    assert main(["predict", str(root / "onnx"), str(tmp_path / "in.csv"), "-o", str(tmp_path / "onnx.jsonl"),
                 "--backend", "onnx"]) == 0
    native = [json.loads(line) for line in open(tmp_path / "native.jsonl")]
    onnx = [json.loads(line) for line in open(tmp_path / "onnx.jsonl")]
    assert len(onnx) == len(native) == 200
    for a, b in zip(onnx, native):
        assert a.keys() == b.keys() and a["label"] == b["label"] and a["threshold"] == b["threshold"] == 0.35
        for key in (k for k in a if k.startswith("prob")):
            assert abs(a[key] - b[key]) <= 1e-5


def test_every_model_type_declares_onnx_or_a_one_line_refusal(tmp_path):
    from textclf.config import TrainingConfig
    from textclf.data import LabelMap

    labels = LabelMap(("a", "b"))
    built_in = [name for name, target in MODEL_TYPES.items()  # other tests register third-party types
                if isinstance(target, str) and target.startswith("textclf.")]
    for name in built_in:
        if name == "onnx":
            continue
        cls = model_class(name)
        extra = {"members": [{"type": "tfidf"}, {"type": "bag"}]} if name == "ensemble" else {}
        config = cls.config_class.model_validate({"type": name, **extra})
        model = cls(config, labels, TrainingConfig(), 0)
        line = refusal(model, "onnx")
        if name in ("ensemble", "auto"):  # auto saves its choice; unfitted, it is a combination
            assert line is not None and "distil it: textclf distill" in line, name
        else:
            assert line is None, f"{name}: {line}"
        assert line is None or (len(line) <= 300 and "\n" not in line)


def test_ensemble_export_exits_2_with_one_line(rt_small, tmp_path, capsys):
    members = [{"type": "tfidf"}, {"type": "tfidf", "word_ngrams": None, "char_ngrams": [2, 3]}]
    TextClassifier(model={"type": "ensemble", "members": members}).fit(rt_small.subset(range(0, 600, 3))).save(
        tmp_path / "model")
    err = _one_line_refusal(capsys, ["export", str(tmp_path / "model"), "-o", str(tmp_path / "out")])
    assert "distil it: textclf distill" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("params", [{"type": "bag", **TINY_NEURAL}, {"type": "cnn", **TINY_NEURAL}])
def test_neural_exports_still_pass_parity(params, rt_small, tmp_path):
    clf = TextClassifier(model=params, training=TRAINING).fit(rt_small.subset(range(0, 600, 4)))
    parity = export_onnx(clf, tmp_path / "onnx", fusions="off")
    assert parity["fp32"]["identical_argmax"] and parity["probabilities"]["identical_labels"]
    assert read_graph_record(tmp_path / "onnx" / "model.onnx")["max_length"] == TRAINING["max_length"]


def test_embedding_exports_as_one_graph_and_its_tokenizer_truncates(tiny_bert, rt_small, tmp_path):
    from tokenizers import Tokenizer

    clf = TextClassifier(model={"type": "embedding", "name_or_path": str(tiny_bert), "max_length": 16, "C": 1.0,
                                "cache": False}, training=TRAINING).fit(rt_small.subset(range(0, 600, 5)))
    texts = rt_small.texts[2:600:15]
    parity = export_onnx(clf, tmp_path / "onnx", sample_texts=texts, fusions="off")
    assert parity["fp32"]["max_abs_logit_diff"] < 1e-4 and parity["probabilities"]["identical_labels"]
    exported = load_onnx_classifier(tmp_path / "onnx")
    assert exported.predict(texts) == clf.predict(texts)
    long_text = " ".join(["the"] * 2000)
    tokenizer = Tokenizer.from_file(str(tmp_path / "onnx" / "encoder" / "tokenizer.json"))
    assert len(tokenizer.encode(long_text).ids) == 16  # the file itself truncates at max_length
    assert exported.model_.tokenizer.encode([long_text], 16)[0] == tokenizer.encode(long_text).ids


def test_hf_export_of_a_mean_pooled_model_is_refused_and_onnx_works(tiny_bert, rt_small, tmp_path, capsys):
    clf = TextClassifier(model={"type": "pretrained", "name_or_path": str(tiny_bert), "pooling": "mean"},
                         training={**TRAINING, "max_steps": 2}, seed=0).fit(rt_small.subset(range(0, 600, 10)))
    clf.save(tmp_path / "model")
    err = _one_line_refusal(capsys, ["export", str(tmp_path / "model"), "-o", str(tmp_path / "hf"), "--format", "hf"])
    assert "pooling 'mean'" in err and "--format onnx" in err
    assert main(["export", str(tmp_path / "model"), "-o", str(tmp_path / "onnx"), "--fusions", "off"]) == 0
    texts = rt_small.texts[3:600:40]
    assert load_onnx_classifier(tmp_path / "onnx").predict(texts) == clf.predict(texts)


@pytest.mark.parametrize("analyzer, ngrams", [("word", (1, 2)), ("char_wb", (2, 5)), ("char", (1, 3))])
def test_runtime_ngrams_are_scikit_learns(analyzer, ngrams, rt_small):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from textclf.models.onnx_runtime import TfidfFeatures
    from textclf.serving.export.tfidf_onnx import block_spec

    texts = rt_small.texts[:300] + ["  Ünïcödé  tabs\tand\n\nnew lines ", "a", "I", ""]
    vectorizer = TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams).fit(texts[:200])
    features = TfidfFeatures([block_spec(vectorizer)])
    reference = vectorizer.build_analyzer()
    assert all(sorted(features.ngrams(0, t)) == sorted(reference(t)) for t in texts)


def test_int8_export_of_a_fused_bert_graph_quantizes_the_unfused_one(tiny_bert, rt_small, tmp_path):
    # The quantizer cannot type the fused com.microsoft operators ("Unable to find data type ..."):
    # a kept fused graph must not be what int8 reads.
    clf = TextClassifier(model={"type": "pretrained", "name_or_path": str(tiny_bert), "pooling": "mean"},
                         training={**TRAINING, "max_steps": 2}, seed=0).fit(rt_small.subset(range(0, 600, 10)))
    texts = rt_small.texts[3:600:5]
    parity = export_onnx(clf, tmp_path / "onnx", sample_texts=texts, quantize=True, int8_min_agreement=0.0,
                         fusions="on")
    assert parity["graph"]["fused_graph_kept"] and parity["graph"]["fusions"].get("Attention")
    assert "argmax_agreement" in parity["int8"]
    assert sorted(p.name for p in (tmp_path / "onnx").glob("*.onnx")) == ["model.int8.onnx", "model.onnx"]
    assert len(load_onnx_classifier(tmp_path / "onnx", int8=True).predict(texts)) == len(texts)


def test_int8_judged_on_too_few_texts_is_refused_until_data_is_given(tiny_bert, rt_small, tmp_path, capsys):
    # a model fitted from Python records no test split: only the 4 probe texts would judge int8
    clf = TextClassifier(model={"type": "pretrained", "name_or_path": str(tiny_bert), "pooling": "cls"},
                         training={**TRAINING, "max_steps": 2}, seed=0).fit(rt_small.subset(range(0, 600, 10)))
    clf.save(tmp_path / "model")
    flags = ["--quantize", "--int8-min-agreement", "0", "--fusions", "off"]
    err = _one_line_refusal(capsys, ["export", str(tmp_path / "model"), "-o", str(tmp_path / "onnx"), *flags])
    assert "judged on 4 texts (4 probes + 0 of" in err and "fewer than 100" in err and "--data FILE" in err
    assert not (tmp_path / "onnx").exists()
    write_frame(examples_frame(rt_small.subset(range(1, 600, 4))), tmp_path / "texts.csv")
    assert main(["export", str(tmp_path / "model"), "-o", str(tmp_path / "onnx"), *flags,
                 "--data", str(tmp_path / "texts.csv")]) == 0
    parity = json.loads((tmp_path / "onnx" / "parity.json").read_text())
    assert parity["int8"]["texts"] == 4 + 150 and (tmp_path / "onnx" / "model.int8.onnx").is_file()
