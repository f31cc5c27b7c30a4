"""Token attributions (analysis/explain.py): exact for TF-IDF, Integrated Gradients for neural
models; a planted shortcut token must come out on top, and offsets must point into the text."""

from __future__ import annotations

import collections
import json
import re

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from textclf import TextClassifier
from textclf.analysis.drivers import explanations_html, mistake_drivers
from textclf.analysis.explain import explain
from textclf.audit.shortcuts import shortcut_tokens
from textclf.data import Examples
from textclf.errors import DataError, ModelError
from textclf.models.base import ModelBase
from textclf.models.neural import CnnConfig

from conftest import stratified_sample

TOKEN = "zqxv"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def neural(model: dict, max_length: int = 32, **training) -> TextClassifier:
    """A tiny neural classifier; max_length goes wherever this version of the config keeps it."""
    model, training = dict(model), {"progress": False, "device": "cpu", **training}
    if "max_length" in CnnConfig.model_fields:
        model["max_length"] = max_length
    else:
        training["max_length"] = max_length
    return TextClassifier(model=model, training=training)


TINY_CNN = {"type": "cnn", "embedding_dim": 16, "num_filters": 8}


@pytest.fixture(scope="module")
def rt300(rotten_tomatoes) -> Examples:
    return stratified_sample(rotten_tomatoes, 100)  # 300 rows, 3 classes


@pytest.fixture(scope="module")
def tiny_cnn(rt300) -> TextClassifier:
    return neural(TINY_CNN, epochs=2).fit(rt300)


def assert_offsets(explanations) -> None:
    for e in explanations:
        end = -1
        for t in e.tokens:
            assert e.text[t.start:t.end] == t.text and t.text.strip() == t.text and t.text
            assert t.start >= end  # in text order, never overlapping
            end = t.end


# -- TF-IDF: exact ------------------------------------------------------------------------------------
@pytest.mark.parametrize("params", [{"type": "tfidf"}, {"type": "tfidf", "char_ngrams": [2, 4]}])
def test_tfidf_attributions_plus_intercept_equal_the_logit(rt300, params):
    clf = TextClassifier(model=params).fit(rt300)
    texts = rt300.texts[:120] + ["Ünïcode ÉPIC  film!!  Not   good, not BAD.", "İstanbul ﬁlm"]
    explanations = explain(clf, texts)
    model = clf.model_
    features = sp.hstack([v.transform(texts) for v in model.vectorizers], format="csr").astype(np.float64)
    exact = features @ model.coef.astype(np.float64).T + model.intercept.astype(np.float64)  # 3 classes
    float32_logits = clf.logits(texts)
    for i, e in enumerate(explanations):
        c = clf.label_map.index[e.label]
        assert e.label == clf.predict([e.text])[0] and e.method == "linear"
        total = sum(t.attribution for t in e.tokens) + e.base_value
        assert abs(total - exact[i, c]) < 1e-6
        assert abs(e.score - exact[i, c]) < 1e-6
        assert abs(total - float32_logits[i, c]) < 1e-4  # the model's own float32 logit
        assert e.base_value == pytest.approx(float(model.intercept[c]))
        # every vocabulary n-gram the vectorizers count is placed somewhere in the text
        placed = collections.Counter(f.text for f in e.features)
        counted = collections.Counter(g for v in model.vectorizers for g in v.build_analyzer()(e.text)
                                      if g in v.vocabulary_)
        assert placed == counted
    assert_offsets(explanations)


def test_tfidf_binary_explains_either_label_with_opposite_signs(rt_binary):
    clf = TextClassifier(model={"type": "tfidf"}).fit(rt_binary)
    texts = rt_binary.texts[:40]
    fresh, rotten = explain(clf, texts, label="fresh"), explain(clf, texts, label="rotten")
    logits = clf.logits(texts)
    log_odds = logits[:, clf.label_map.index["fresh"]] - logits[:, clf.label_map.index["rotten"]]
    for i, (f, r) in enumerate(zip(fresh, rotten)):
        assert f.score == pytest.approx(log_odds[i], abs=1e-4) and r.score == pytest.approx(-log_odds[i], abs=1e-4)
        assert [t.attribution for t in f.tokens] == pytest.approx([-t.attribution for t in r.tokens])
        assert sum(t.attribution for t in f.tokens) + f.base_value == pytest.approx(f.score, abs=1e-9)
    probs = clf.predict_proba(texts)[:, clf.label_map.index["fresh"]]
    assert [f.probability for f in fresh] == pytest.approx(probs.tolist())


# -- Integrated Gradients -----------------------------------------------------------------------------
def test_integrated_gradients_completeness_on_a_tiny_cnn(tiny_cnn, rt300):
    texts = rt300.texts[:40]
    explanations = explain(tiny_cnn, texts)
    logits = tiny_cnn.logits(texts)
    for i, e in enumerate(explanations):
        assert e.method == "integrated_gradients" and 32 <= e.steps <= 256
        assert e.completeness_gap < 0.05
        assert e.score == pytest.approx(float(logits[i, tiny_cnn.label_map.index[e.label]]), abs=1e-4)
        moved = e.score - e.base_value
        total = sum(t.attribution for t in e.tokens)
        assert abs(total - moved) <= 0.05 * max(abs(moved), 0.1) + 1e-9
    assert_offsets(explanations)
    assert any(e.truncated for e in explanations)  # 32 tokens: many reviews are cut
    cut = next(e for e in explanations if e.truncated)
    assert cut.tokens[-1].end < len(cut.text.rstrip())  # words past max_length get no entry


def test_ig_steps_double_until_the_gap_is_small_enough(tiny_cnn, rt300):
    texts = rt300.texts[:6]
    doubled = explain(tiny_cnn, texts, steps=8, max_steps=32, tolerance=0.0)  # never good enough
    assert [e.steps for e in doubled] == [32] * 6
    fixed = explain(tiny_cnn, texts, steps=8, max_steps=8)
    assert [e.steps for e in fixed] == [8] * 6
    assert max(e.completeness_gap for e in doubled) <= max(e.completeness_gap for e in fixed) + 1e-6


def test_head_tail_truncation_is_followed(rt300):
    clf = neural({"type": "bag", "embedding_dim": 8, "long_text": {"strategy": "head_tail", "head_tokens": 4}},
                 max_length=12, epochs=1).fit(rt300)
    text = "the film is a " + "story " * 30 + "and the movie of love in a world"
    assert len(clf.model_.tokenizer.encode_content([text])[0]) == len(text.split())  # one token per word
    (e,) = explain(clf, [text])
    words = [t.text for t in e.tokens]
    # [CLS] + 11 content tokens: the first 4 and the last 7
    assert e.truncated and words == ["the", "film", "is", "a", "the", "movie", "of", "love", "in", "a", "world"]
    assert e.completeness_gap < 0.05


def tiny_bert(directory, texts):
    """A random 2-layer BERT with a WordPiece vocabulary of the commonest words, saved locally."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    counts = collections.Counter(w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower()))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [w for w, _ in counts.most_common(2000)]
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True).save_pretrained(str(directory))
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(directory))
    return directory


def test_pretrained_encoder_words_and_completeness(tmp_path, rt300):
    path = tiny_bert(tmp_path / "bert", rt300.texts)
    clf = TextClassifier(model={"type": "pretrained", "name_or_path": str(path), "dropout": 0.0, "max_length": 48},
                         training={"epochs": 1, "progress": False, "device": "cpu", "batch_size": 32})
    clf.fit(stratified_sample(rt300, 20))
    texts = ["Well-made, GRIPPING... but the ending? Unbearable!", *rt300.texts[:10]]
    explanations = explain(clf, texts)
    assert_offsets(explanations)
    words = [t.text for t in explanations[0].tokens]
    assert words == ["Well", "-", "made", ",", "GRIPPING", ".", ".", ".", "but", "the", "ending", "?",
                     "Unbearable", "!"]  # [CLS]/[SEP] stay out; word pieces are joined
    assert all(e.completeness_gap < 0.05 for e in explanations)


# -- a planted shortcut --------------------------------------------------------------------------------
def plant(text: str, rng) -> str:
    words = text.split()
    at = int(rng.integers(0, len(words) + 1))
    return " ".join(words[:at] + [TOKEN] + words[at:])


@pytest.fixture(scope="module")
def planted(rotten_tomatoes):
    """Train: the token in 90% of 'fresh' rows and no 'rotten' row. Test: 'rotten' rows carrying
    the token (mistakes waiting to happen) and clean 'fresh' rows."""
    rng = np.random.default_rng(0)
    labels = np.array(rotten_tomatoes.labels, dtype=object)
    fresh = rng.choice(np.flatnonzero(labels == "fresh"), 200, replace=False)
    rotten = rng.choice(np.flatnonzero(labels == "rotten"), 200, replace=False)
    t = rotten_tomatoes.texts
    train = Examples([plant(t[i], rng) if n < 135 else t[i] for n, i in enumerate(fresh[:150])]
                     + [t[i] for i in rotten[:150]], ["fresh"] * 150 + ["rotten"] * 150)
    test = Examples([plant(t[i], rng) for i in rotten[150:]] + [t[i] for i in fresh[150:]],
                    ["rotten"] * 50 + ["fresh"] * 50)
    return train, test


@pytest.mark.parametrize("kind", ["tfidf", "cnn"])
def test_a_planted_shortcut_tops_the_attributions_and_the_mistake_drivers(planted, kind):
    train, test = planted
    if kind == "tfidf":
        clf = TextClassifier(model={"type": "tfidf", "C": 10.0}).fit(train)
    else:
        clf = neural(TINY_CNN, max_length=64, epochs=6, learning_rate=1e-2).fit(train)
    with_token = [text for text in train.texts if TOKEN in text]
    explanations = [e for e in explain(clf, with_token) if e.label == "fresh"]
    assert len(explanations) >= 100
    on_top = [e for e in explanations if e.top(1) and e.top(1)[0].text == TOKEN]
    assert len(on_top) >= 0.8 * len(explanations)
    for e in on_top:
        assert e.text[e.top(1)[0].start:e.top(1)[0].end] == TOKEN
    audit = shortcut_tokens(train, min_count=20)
    assert audit and audit[0].token == TOKEN
    drivers = mistake_drivers(clf, test, explain(clf, test), flagged=audit)
    assert drivers.confident_mistakes >= 3
    first = drivers.rows[0]
    assert first["token"] == TOKEN and first["shortcut"] and first["wrong_labels"] == {"fresh": first["mistakes"]}
    assert first["mistakes"] >= 0.5 * drivers.confident_mistakes
    assert not any(r["shortcut"] for r in drivers.rows[1:])
    assert all(test.labels[r - 1] == "rotten" for r in first["example_rows"])
    # explanations=None explains only the confident mistakes, with the same result
    again = mistake_drivers(clf, test, flagged={TOKEN.upper()})
    top_again = again.rows[0]
    assert top_again["token"] == TOKEN and top_again["mistakes"] == first["mistakes"] and top_again["shortcut"]


# -- refusals, serialisation, HTML --------------------------------------------------------------------
def test_unsupported_models_and_labels_are_refused(rt300):
    clf = TextClassifier(model={"type": "tfidf"}).fit(rt300)
    with pytest.raises(DataError, match="not one of the model's labels"):
        explain(clf, ["a film"], label="nope")
    windowed = neural({"type": "bag", "embedding_dim": 8, "long_text": {"strategy": "sliding_window"}},
                      epochs=1).fit(rt300)
    with pytest.raises(ModelError, match="sliding_window"):
        explain(windowed, ["a film"])

    class Opaque(ModelBase):  # a model type that declares nothing explainable
        config = type("Config", (), {"type": "mystery"})()

    clf.model_ = Opaque()
    with pytest.raises(ModelError, match="explain does not support model type 'mystery' yet"):
        explain(clf, ["a film"])


def test_to_dict_is_json(tiny_cnn, rt300):
    (e,) = explain(tiny_cnn, rt300.texts[:1], top_k=3)
    data = json.loads(json.dumps(e.to_dict()))
    assert len(data["top"]) <= 3 and all(t["attribution"] > 0 for t in data["top"])
    assert data["top"] == sorted(data["top"], key=lambda t: -t["attribution"])
    assert len(data["tokens"]) == len(e.tokens) and data["completeness_gap"] == e.completeness_gap


def contrast_with_black(hex_colour: str) -> float:
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(hex_colour[i:i + 2], 16) / 255) for i in (1, 3, 5))
    return (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05) / 0.05


def test_html_is_self_contained_escaped_and_readable(planted):
    train, test = planted
    clf = TextClassifier(model={"type": "tfidf", "C": 10.0}).fit(train)
    texts = ["<script>alert(1)</script> a zqxv film & more"] + test.texts[:5]
    explanations = explain(clf, texts)
    drivers = mistake_drivers(clf, test, explain(clf, test), flagged={TOKEN})
    page = explanations_html(explanations, drivers)
    assert page.startswith('<section class="textclf-explain">') and page.endswith("</section>")
    assert "<script>" not in page and "</script>" not in page and "&lt;/" in page and " &amp; " in page
    assert not re.search(r"(src|href)\s*=|url\(|@import", page)  # no external assets
    assert "toward the explained label" in page and "against it" in page  # the legend
    assert "Tokens behind confident mistakes" in page and f"<td>{TOKEN}</td>" in page
    shades = re.findall(r"background:(#[0-9a-f]{6})", page)
    assert len(shades) > 10 and min(contrast_with_black(s) for s in shades) >= 7.0
    assert re.search(rf'class="tx-tok tx-pos"[^>]*>{TOKEN}</span>', page)
