"""Frozen MiniLM embeddings + logistic regression (`model.type: embedding`), on small real data:
it learns, saves and loads without pickle, caches embeddings on disk, pools with the mask, honours
class weights, and handles multi-label targets."""

from __future__ import annotations

import re

import numpy as np
import pytest

import textclf
from textclf.classifier import TextClassifier
from textclf.data import Examples
from textclf.errors import ConfigError, ModelError
from textclf.models.embedding import EmbeddingModel  # noqa: E402
from textclf.models.embedding.cache import EmbeddingCache, text_key  # noqa: E402
from textclf.models.embedding.head import C_GRID  # noqa: E402

from conftest import stratified_sample  # noqa: E402

QUIET = {"progress": False, "device": "cpu"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One cache for the module: each text is encoded once, whatever test needs it first."""
    return str(tmp_path_factory.mktemp("embedding-cache"))


@pytest.fixture(scope="module")
def split(rt_small):
    """300 training and 150 test rows of Rotten Tomatoes (3 balanced classes)."""
    order = np.random.default_rng(0).permutation(len(rt_small))
    return rt_small.subset(order[:300]), rt_small.subset(order[300:450])


def params(cache_dir: str, **extra) -> dict:
    return {"type": "embedding", "max_length": 32, "cache_dir": cache_dir, **extra}


def macro_f1(truth: list, predicted: list) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(truth, predicted, average="macro"))


@pytest.fixture(scope="module")
def fitted(split, cache_dir) -> TextClassifier:
    train, _ = split
    return TextClassifier(model=params(cache_dir), training=QUIET).fit(train)


def test_learns_well_above_majority(fitted, split):
    _, test = split
    f1 = macro_f1(test.labels, fitted.predict(test))
    majority = macro_f1(test.labels, [max(set(test.labels), key=test.labels.count)] * len(test))
    assert majority < 0.2
    assert f1 > 0.5, f1
    summary = fitted.card.training_summary
    assert summary["C"] in C_GRID  # chosen by cross-validation on the training split
    assert set(summary["cv_log_loss"]) == {str(c) for c in C_GRID}
    assert summary["features"] == 384
    logits = fitted.logits(test.texts[:5])
    assert logits.shape == (5, 3) and logits.dtype == np.float32


@pytest.mark.parametrize("tfidf", [False, True])
def test_save_load_round_trip(split, cache_dir, tmp_path, tfidf):
    train, test = split
    clf = TextClassifier(model=params(cache_dir, C=3.0, tfidf=tfidf), training=QUIET).fit(train)
    assert clf.card.training_summary["C"] == 3.0 and clf.card.training_summary["cv_log_loss"] is None
    expected = clf.predict_proba(test)
    clf.save(tmp_path / "model")
    files = {p.relative_to(tmp_path / "model").as_posix() for p in (tmp_path / "model").rglob("*") if p.is_file()}
    assert {"config.json", "labels.json", "model.safetensors", "encoder/config.json", "encoder/model.safetensors",
            "encoder/tokenizer.json"} <= files
    assert ("tfidf.json" in files) == tfidf
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".bin", ".pt"))]

    loaded = textclf.load(tmp_path / "model")
    assert isinstance(loaded.model_, EmbeddingModel)
    np.testing.assert_allclose(loaded.predict_proba(test), expected, rtol=0, atol=1e-6)
    # The copy in encoder/ computes the same embeddings, so it reads the original's cache entries...
    assert loaded.model_.identity() == clf.model_.identity()
    assert loaded.model_.cache.hits == len(set(test.texts)) and loaded.model_.cache.misses == 0
    # ...and encoding afresh from the saved weights gives the same vectors.
    np.testing.assert_allclose(loaded.model_.embed(test.texts[:40], use_cache=False),
                               clf.model_.embed(test.texts[:40]), rtol=0, atol=1e-5)
    assert loaded.predict(test.texts[:3]) == clf.predict(test.texts[:3])  # a small call bypasses the cache


def test_second_fit_hits_the_cache(split, tmp_path):
    train, _ = split
    texts = train.texts[:100] + train.texts[:20]  # 20 repeats: each distinct text is looked up once
    labels = train.labels[:100] + train.labels[:20]
    first = TextClassifier(model=params(str(tmp_path), C=1.0), training=QUIET).fit(texts, labels)
    assert (first.model_.cache.hits, first.model_.cache.misses) == (0, 100)
    second = TextClassifier(model=params(str(tmp_path), C=10.0), training=QUIET).fit(texts, labels)
    assert (second.model_.cache.hits, second.model_.cache.misses) == (100, 0)
    assert second.card.training_summary["cache"]["hits"] == 100
    # the cached vectors are the ones the encoder computes
    np.testing.assert_allclose(second.model_.embed(texts[:10]), second.model_.embed(texts[:10], use_cache=False),
                               rtol=0, atol=1e-6)
    # another max_length is another cache
    third = TextClassifier(model=params(str(tmp_path), C=1.0, max_length=24), training=QUIET).fit(texts, labels)
    assert (third.model_.cache.hits, third.model_.cache.misses) == (0, 100)
    # cache: false neither reads nor writes
    off = TextClassifier(model=params(str(tmp_path), C=1.0, cache=False), training=QUIET).fit(texts, labels)
    assert off.model_.cache is None


def test_cache_shards_from_other_writers_are_seen_and_temp_files_ignored(tmp_path):
    rng = np.random.default_rng(0)
    writer = EmbeddingCache(tmp_path, "ab" * 32, max_length=32, dim=4)
    reader = EmbeddingCache(tmp_path, "ab" * 32, max_length=32, dim=4)
    keys = [text_key(t) for t in ("one", "two", "three")]
    assert reader.lookup(keys) == {}
    vectors = rng.normal(size=(3, 4)).astype(np.float32)
    writer.store(keys[:2], vectors[:2])
    (writer.root / ".half-written.safetensors.tmp").write_bytes(b"garbage")  # an in-flight write elsewhere
    (writer.root / "broken.safetensors").write_bytes(b"garbage")  # unreadable: its texts are misses
    found = reader.lookup(keys)  # written after the reader's first look: picked up now
    assert set(found) == set(keys[:2])
    np.testing.assert_array_equal(found[keys[1]], vectors[1])
    assert (reader.hits, reader.misses) == (2, 4)
    other_encoder = EmbeddingCache(tmp_path, "cd" * 32, max_length=32, dim=4)
    assert other_encoder.lookup(keys) == {}


def test_padding_a_batch_does_not_change_an_embedding(fitted):
    model = fitted.model_
    short = "a quietly moving film."
    long = " ".join(["an overlong, meandering and thoroughly tedious exercise in style over substance"] * 5)
    alone = model.embed([short], use_cache=False)
    padded = model.embed([short, long], use_cache=False)  # one batch, the short text padded to 32 tokens
    assert model.token_lengths([short, long]).tolist()[0] < 12 < 32 < model.token_lengths([long])[0]
    np.testing.assert_allclose(padded[0], alone[0], rtol=0, atol=1e-5)
    assert np.abs(padded[1] - alone[0]).max() > 1e-2
    np.testing.assert_allclose(np.linalg.norm(padded, axis=1), 1.0, atol=1e-5)


def test_introspection(fitted):
    model = fitted.model_
    assert model.max_tokens() == 32 == model.max_length
    vocab = model.vocabulary()
    assert {"movie", "film", "[cls]"} <= vocab.keys() and len(vocab) > 20000
    assert all(count is None for count in vocab.values())  # a subword vocabulary keeps no counts
    assert model.token_lengths(["a film", ""]).tolist() == [4, 2]  # [CLS] a film [SEP]; [CLS] [SEP]
    assert model.encoder is not None and model.tokenizer is not None  # what an ONNX export reads


def test_balanced_class_weight_changes_predictions(rotten_tomatoes, cache_dir):
    keep = [i for i, label in enumerate(rotten_tomatoes.labels) if label != "plot"]
    binary = rotten_tomatoes.subset(keep)
    fresh = [i for i, label in enumerate(binary.labels) if label == "fresh"]
    rotten = [i for i, label in enumerate(binary.labels) if label == "rotten"]
    train = binary.subset(sorted(fresh[:150] + rotten[:25]))  # 6:1
    test = binary.subset(sorted(fresh[150:200] + rotten[25:75]))
    plain = TextClassifier(model=params(cache_dir, C=3.0), training={**QUIET, "class_weight": None}).fit(train)
    balanced = TextClassifier(model=params(cache_dir, C=3.0), training={**QUIET, "class_weight": "balanced"}).fit(train)
    plain_rotten = plain.predict(test).count("rotten")
    balanced_rotten = balanced.predict(test).count("rotten")
    assert balanced_rotten > plain_rotten + 5, (plain_rotten, balanced_rotten)
    weighted = TextClassifier(model=params(cache_dir, C=3.0),
                              training={**QUIET, "class_weight": {"rotten": 6.0}}).fit(train)
    assert weighted.predict(test).count("rotten") > plain_rotten
    with pytest.raises(ConfigError, match="unknown labels"):
        TextClassifier(model=params(cache_dir, C=3.0), training={**QUIET, "class_weight": {"rotton": 2.0}}).fit(train)


def test_multi_label(split, cache_dir, tmp_path):
    train, test = split

    def tags(examples: Examples) -> Examples:
        labels = [(label, "review", *(["acting"] if re.search(r"\b(acting|performances?|cast|actors?)\b", t.lower())
                                      else []))
                  for t, label in zip(examples.texts, examples.labels)]
        return Examples.from_lists(examples.texts, labels)

    clf = TextClassifier(model=params(cache_dir), task="multi_label", training=QUIET).fit(tags(train))
    assert clf.label_map.labels == ("acting", "fresh", "plot", "review", "rotten")
    summary = clf.card.training_summary
    assert summary["C"][3] is None and all(c in C_GRID for j, c in enumerate(summary["C"]) if j != 3)
    probs = clf.predict_proba(test)
    assert probs.shape == (len(test), 5)
    assert np.all(probs[:, 3] > 0.999)  # "review" is on every training row
    predicted = clf.predict(test)
    assert all("review" in row for row in predicted)
    truth = np.array([[name in row for name in ("fresh", "plot", "rotten")] for row in tags(test).labels])
    hits = probs[:, [1, 2, 4]].argmax(axis=1) == truth.argmax(axis=1)
    assert hits.mean() > 0.5
    clf.save(tmp_path / "ml")
    np.testing.assert_allclose(textclf.load(tmp_path / "ml").predict_proba(test), probs, rtol=0, atol=1e-6)


def test_user_mistakes(split, cache_dir, tmp_path, fitted):
    train, _ = split
    with pytest.raises(ConfigError, match="max_length"):
        TextClassifier(model=params(cache_dir, max_length=1024), training=QUIET).fit(train.subset(range(40)))
    with pytest.raises(ConfigError, match="cannot resume"):
        TextClassifier(model=params(cache_dir), training=QUIET).fit(train.subset(range(40)), workdir=tmp_path,
                                                                    resume=True)
    with pytest.raises(ConfigError, match="C"):
        TextClassifier(model=params(cache_dir, C=0.0), training=QUIET).fit(train.subset(range(40)))
    fitted.save(tmp_path / "broken")
    (tmp_path / "broken" / "encoder" / "tokenizer.json").unlink()
    with pytest.raises(ModelError, match="tokenizer.json"):
        textclf.load(tmp_path / "broken")


def test_small_classes_fall_back_to_a_fixed_C(rt_small, cache_dir):
    tiny = stratified_sample(rt_small, 1).subset(range(3))  # one row per class: no stratified folds
    clf = TextClassifier(model=params(cache_dir), training=QUIET).fit(tiny)
    assert clf.card.training_summary["C"] == 1.0 and clf.card.training_summary["cv_log_loss"] is None


def test_contrastive_pairs_are_same_label_positives_and_cross_label_negatives():
    from textclf.models.embedding.contrastive import make_pairs

    targets = np.array([0, 0, 0, 1, 1, 2])  # label 2 has one text: it gets negatives only
    rows = make_pairs(targets, pairs=3, seed=0)
    positives, negatives = rows[rows[:, 2] == 1], rows[rows[:, 2] == 0]
    assert len(positives) == 3 * 5 and len(negatives) == 3 * 6
    assert np.all(positives[:, 0] != positives[:, 1])
    assert np.all(targets[positives[:, 0]] == targets[positives[:, 1]])
    assert np.all(targets[negatives[:, 0]] != targets[negatives[:, 1]])
    assert np.array_equal(rows, make_pairs(targets, pairs=3, seed=0))  # seeded


def test_contrastive_step_pulls_labels_apart_and_saves_the_tuned_encoder(split, cache_dir, tmp_path):
    train, test = split
    train = stratified_sample(train, 16)  # 48 texts, 3 labels
    frozen = TextClassifier(model=params(cache_dir), training=QUIET, seed=0).fit(train)
    tuned = TextClassifier(model=params(cache_dir, contrastive_pairs=4, contrastive_learning_rate=1e-4), training=QUIET,
                           seed=0).fit(train)
    report = tuned.card.training_summary["contrastive"]
    assert report["pairs"] == 2 * 4 * len(train) and report["steps"] == -(-report["pairs"] // 16)
    assert report["last_loss"] < report["first_loss"]
    assert tuned.model_.identity() != frozen.model_.identity()  # new weights, new cache entries

    def separation(clf) -> float:
        """Mean cosine of same-label pairs minus that of different-label pairs, on the training texts."""
        vectors = clf.model_.embed(train.texts)
        cosine = vectors @ vectors.T
        labels = np.array(train.labels)
        same = (labels[:, None] == labels[None, :]) & ~np.eye(len(labels), dtype=bool)
        return float(cosine[same].mean() - cosine[labels[:, None] != labels[None, :]].mean())

    assert separation(tuned) > separation(frozen) + 0.05
    tuned.save(tmp_path / "tuned")
    np.testing.assert_allclose(textclf.load(tmp_path / "tuned").predict_proba(test), tuned.predict_proba(test),
                               rtol=0, atol=1e-6)
    with pytest.raises(ConfigError, match="single-label"):
        TextClassifier(model=params(cache_dir, contrastive_pairs=1), task="multi_label",
                       training=QUIET).fit(Examples.from_lists(train.texts, [[label] for label in train.labels]))
