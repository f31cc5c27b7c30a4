"""The TF-IDF baseline: learns, matches scikit-learn run directly, survives save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

import textclf
from textclf import TextClassifier
from textclf.data.splits import split_examples
from textclf.errors import ModelError


@pytest.mark.slow
def test_matches_scikit_learn_on_the_peer_split(rotten_tomatoes):
    """The README's peer figure: stratified 80/20, seed 0 -> accuracy 0.773, macro-F1 0.802."""
    splits = split_examples(rotten_tomatoes, "stratified", validation_size=0.0, test_size=0.2, seed=0)
    assert (len(splits.train), len(splits.test)) == (11068, 2767)
    # class_weight: null, as in the direct run (the skew-aware default would weight the rare class)
    clf = TextClassifier(model={"type": "tfidf"}, training={"class_weight": None}).fit(splits.train)
    ours = clf.predict(splits.test)

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    lr = LogisticRegression(max_iter=1000).fit(vectorizer.fit_transform(splits.train.texts), splits.train.labels)
    direct = lr.predict(vectorizer.transform(splits.test.texts))

    acc, direct_acc = accuracy_score(splits.test.labels, ours), accuracy_score(splits.test.labels, direct)
    f1 = f1_score(splits.test.labels, ours, average="macro")
    assert abs(acc - direct_acc) < 0.005
    assert abs(acc - 0.773) < 0.005 and abs(f1 - 0.802) < 0.005


def test_learns_beyond_majority_class(rt_small):
    splits = split_examples(rt_small, "stratified", 0.0, 0.25, seed=0)
    clf = TextClassifier().fit(splits.train)
    accuracy = np.mean(np.array(clf.predict(splits.test)) == np.array(splits.test.labels))
    assert accuracy > 0.6  # three balanced classes: majority rate is 1/3


def test_probabilities_are_softmax_of_logits(rt_small):
    clf = TextClassifier().fit(rt_small)
    logits = clf.logits(rt_small.texts[:5])
    probs = clf.predict_proba(rt_small.texts[:5])
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-5)


def test_binary_logits_reproduce_scikit_learn_probabilities(rt_binary):
    clf = TextClassifier(model={"type": "tfidf", "word_ngrams": [1, 1]}).fit(rt_binary)
    vectorizer = TfidfVectorizer(sublinear_tf=True)
    lr = LogisticRegression(max_iter=1000, random_state=0).fit(
        vectorizer.fit_transform(rt_binary.texts), rt_binary.labels
    )
    np.testing.assert_allclose(
        clf.predict_proba(rt_binary.texts[:20]), lr.predict_proba(vectorizer.transform(rt_binary.texts[:20])),
        atol=1e-5,
    )


def test_char_ngrams_add_features(rt_small):
    words = TextClassifier().fit(rt_small)
    both = TextClassifier(model={"type": "tfidf", "char_ngrams": [2, 4]}).fit(rt_small)
    assert both.card.training_summary["features"] > words.card.training_summary["features"]


def test_save_load_round_trip_gives_identical_predictions(tmp_path, rt_small):
    clf = TextClassifier(model={"type": "tfidf", "char_ngrams": [2, 3]}).fit(rt_small)
    clf.save(tmp_path / "model")
    loaded = textclf.load(tmp_path / "model")
    texts = rt_small.texts[:50] + ["an unseen text with zxqv tokens"]
    np.testing.assert_array_equal(clf.logits(texts), loaded.logits(texts))
    assert loaded.predict(texts) == clf.predict(texts)
    assert loaded.label_map == clf.label_map


def test_load_refuses_other_format_versions_and_corrupt_files(tmp_path, rt_small):
    clf = TextClassifier().fit(rt_small)
    directory = clf.save(tmp_path / "model")
    config = json.loads((directory / "config.json").read_text())
    config["format_version"] = 99
    config.pop("manifest", None)  # an old directory, without the manifest that would refuse the edit first
    (directory / "manifest.json").unlink()
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="format 99"):
        textclf.load(directory)

    directory = clf.save(tmp_path / "model2")
    (directory / "model.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ModelError, match="changed since the model was saved"):
        textclf.load(directory)

    directory = clf.save(tmp_path / "model3")
    (directory / "labels.json").write_text("{broken")
    with pytest.raises(ModelError, match="labels.json: changed since the model was saved"):
        textclf.load(directory)

    with pytest.raises(ModelError, match="model directory not found"):
        textclf.load(tmp_path / "missing")


def test_multi_label_one_vs_rest_with_constant_label():
    texts = ["red apple", "green apple", "red car", "blue car", "red bus", "green bus"]
    labels = [["red", "fruit", "thing"], ["fruit", "thing"], ["red", "thing"], ["thing"], ["red", "thing"], ["thing"]]
    clf = TextClassifier(task="multi_label").fit(texts, labels)
    probs = clf.predict_proba(["red apple"])
    thing = clf.label_map.index["thing"]
    assert probs[0, thing] > 0.99  # always present in training: constant, confident score
    assert "thing" in clf.predict(["a new vehicle"])[0]


def test_tfidf_cannot_resume(tmp_path, rt_small):
    from textclf.errors import ConfigError

    with pytest.raises(ConfigError, match="'tfidf' cannot resume"):
        TextClassifier().fit(rt_small, workdir=tmp_path, resume=True)
