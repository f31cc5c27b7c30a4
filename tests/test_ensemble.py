"""model.type ensemble: probability mixing, the one-member identity, save/load, config errors."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import stratified_sample
from textclf.classifier import TextClassifier
from textclf.config import TrainingConfig
from textclf.data import Examples, LabelMap
from textclf.errors import ConfigError
from textclf.models.ensemble import EnsembleConfig, EnsembleModel, member_config, mix_logits
from textclf.models.linear import TfidfConfig, TfidfLinearModel
from textclf.objectives import sigmoid, softmax

WORD = {"type": "tfidf", "C": 2.0}
CHAR = {"type": "tfidf", "word_ngrams": None, "char_ngrams": [2, 4], "C": 10.0}


@pytest.fixture(scope="module")
def data(rotten_tomatoes):
    sample = stratified_sample(rotten_tomatoes, 80, seed=1)
    train, held = sample.subset(range(0, len(sample), 2)), sample.subset(range(1, len(sample), 2))
    label_map = LabelMap.fit(train, multi_label=False)
    return train, held, label_map


def _tfidf(values, train, label_map):
    model = TfidfLinearModel(TfidfConfig.model_validate(values), label_map, TrainingConfig(), 0)
    model.fit(train, label_map.encode(train))
    return model


def test_one_member_equals_that_member(data):
    train, held, label_map = data
    member = _tfidf(WORD, train, label_map)
    ensemble = EnsembleModel.from_fitted([(member.config, member)], [1.0], label_map, TrainingConfig(), 0)
    np.testing.assert_array_equal(ensemble.logits(held.texts), member.logits(held.texts))
    # fitted from its config, the lone member reproduces an independently fitted one
    fitted = EnsembleModel(EnsembleConfig(members=[WORD]), label_map, TrainingConfig(), 0)
    fitted.fit(train, label_map.encode(train))
    np.testing.assert_allclose(fitted.logits(held.texts), member.logits(held.texts), rtol=1e-6, atol=1e-6)


def test_mixing_path_preserves_identical_members(data):
    train, held, label_map = data
    member = _tfidf(WORD, train, label_map)
    twin = _tfidf(WORD, train, label_map)
    ensemble = EnsembleModel.from_fitted([(member.config, member), (twin.config, twin)], [0.3, 0.7], label_map,
                                         TrainingConfig(), 0)
    np.testing.assert_allclose(softmax(ensemble.logits(held.texts)), softmax(member.logits(held.texts)),
                               atol=1e-6)


def test_single_label_mix_is_the_weighted_probability_average(data):
    train, held, label_map = data
    a, b = _tfidf(WORD, train, label_map), _tfidf(CHAR, train, label_map)
    pa, pb = softmax(a.logits(held.texts)), softmax(b.logits(held.texts))
    assert np.abs(pa - pb).max() > 0.05  # the members really differ
    ensemble = EnsembleModel.from_fitted([(a.config, a), (b.config, b)], [1.0, 3.0], label_map, TrainingConfig(), 0)
    np.testing.assert_allclose(softmax(ensemble.logits(held.texts)), 0.25 * pa + 0.75 * pb, atol=1e-5)
    geometric = EnsembleModel.from_fitted([(a.config, a), (b.config, b)], [0.5, 0.5], label_map, TrainingConfig(),
                                          0, combine="log_probability")
    expected = np.sqrt(pa * pb)
    np.testing.assert_allclose(softmax(geometric.logits(held.texts)), expected / expected.sum(axis=1, keepdims=True),
                               atol=1e-5)


def test_multi_label_mix_averages_sigmoids():
    rng = np.random.default_rng(0)
    za, zb = rng.normal(0, 3, size=(20, 4)), rng.normal(0, 3, size=(20, 4))
    mixed = mix_logits([za, zb], np.array([0.4, 0.6]), multi_label=True)
    np.testing.assert_allclose(sigmoid(mixed), 0.4 * sigmoid(za) + 0.6 * sigmoid(zb), atol=1e-6)
    extreme = mix_logits([np.full((1, 2), 40.0), np.full((1, 2), 40.0)], np.array([0.5, 0.5]), multi_label=True)
    assert np.isfinite(extreme).all() and extreme.max() < 17  # clipped, never inf


def test_multi_label_ensemble_fits_and_round_trips(tmp_path):
    words = ["goal", "match", "vote", "party", "film", "actor"]
    topics = {"sport": {"goal", "match"}, "politics": {"vote", "party"}, "film": {"film", "actor"}}
    rng = np.random.default_rng(3)
    texts, labels = [], []
    for _ in range(120):
        chosen = rng.choice(words, size=3)
        texts.append(" ".join(chosen) + " filler text")
        labels.append([t for t, keys in topics.items() if keys & set(chosen)])
    train = Examples.from_lists(texts, labels)
    clf = TextClassifier(model={"type": "ensemble", "members": [WORD, CHAR], "weights": [0.5, 0.5]},
                         task="multi_label").fit(train)
    probs = clf.predict_proba(texts[:10])
    assert probs.shape == (10, 3)
    loaded = TextClassifier.load(clf.save(tmp_path / "model"))
    np.testing.assert_allclose(loaded.predict_proba(texts[:10]), probs, atol=1e-6)


def test_save_load_round_trip_is_identical(data, tmp_path):
    train, held, _ = data
    clf = TextClassifier(model={"type": "ensemble", "members": [WORD, CHAR], "weights": [2, 1]}).fit(train)
    before = clf.predict_proba(held)
    directory = clf.save(tmp_path / "model")
    assert (directory / "members" / "0" / "tfidf.json").is_file()
    assert (directory / "members" / "1" / "model.safetensors").is_file()
    assert (directory / "ensemble.json").is_file()
    loaded = TextClassifier.load(directory)
    np.testing.assert_array_equal(loaded.predict_proba(held), before)
    assert loaded.predict(held.texts[:5]) == clf.predict(held.texts[:5])
    assert loaded.model_.config.normalised_weights().tolist() == pytest.approx([2 / 3, 1 / 3])


def test_config_mistakes_are_config_errors():
    with pytest.raises(ValueError, match="2 weights for 1 members"):
        EnsembleConfig(members=[WORD], weights=[0.5, 0.5])
    with pytest.raises(ValueError, match="needs a `type`"):
        EnsembleConfig(members=[{"C": 1.0}])
    with pytest.raises(ConfigError, match="not one of"):
        member_config({"type": "no-such-type"})
    with pytest.raises(ConfigError, match="members.0"):
        member_config({"type": "tfidf", "C": "lots"}, "model.members.0")


def test_an_ensemble_refitted_from_its_config_trains_each_member_as_it_was_trained(data):
    """auto tunes training per trial: a refit (refit_full) must not fall back to the run's settings."""
    from textclf.models import model_class

    train, held, label_map = data
    own = TrainingConfig(epochs=4, learning_rate=0.05, batch_size=16, progress=False, device="cpu", max_grad_norm=None)
    config = member_config({"type": "bag", "embedding_dim": 16}, "m")
    bag = model_class("bag")(config, label_map, own, 0)
    bag.fit(train, label_map.encode(train))
    run_training = TrainingConfig(epochs=1, progress=False, device="cpu")
    ensemble = EnsembleModel.from_fitted([(config, bag)], [1.0], label_map, run_training, 0)
    assert ensemble.config.member_training[0]["epochs"] == 4
    refitted = EnsembleModel(EnsembleConfig.model_validate(ensemble.config.model_dump()), label_map, run_training, 0)
    refitted.fit(train, label_map.encode(train))
    assert refitted.member_trainings[0].epochs == 4 and refitted.member_trainings[0].learning_rate == 0.05
    np.testing.assert_allclose(refitted.logits(held.texts), bag.logits(held.texts), atol=1e-5)
    with pytest.raises(ValueError, match="member_training"):
        EnsembleConfig(members=[WORD], member_training=[{}, {}])
