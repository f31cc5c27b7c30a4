"""Neural models from scratch: they learn on real data, return logits, and save/load exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from textclf.classifier import TextClassifier
from textclf.config import TrainingConfig
from textclf.errors import ConfigError
from textclf.text import SubwordTokenizer, TokenizerConfig
from textclf.training.losses import build_loss
from textclf.data import LabelMap

torch.set_num_threads(2)

TINY = {
    "bag": {"type": "bag", "embedding_dim": 32},
    "rnn": {"type": "rnn", "embedding_dim": 32, "hidden_size": 32, "pooling": "mean"},
    "cnn": {"type": "cnn", "embedding_dim": 32, "num_filters": 32, "kernel_sizes": [3, 5], "pooling": "mean"},
    "transformer": {"type": "transformer", "embedding_dim": 32, "num_heads": 2, "num_layers": 1, "ff_dim": 64},
}
TRAINING = {"epochs": 5, "batch_size": 16, "learning_rate": 1e-2, "max_length": 96, "progress": False,
            "early_stopping_patience": None}


def tiny_model(model_type: str) -> dict:
    return dict(TINY[model_type], tokenizer={"vocab_size": 1000})


@pytest.fixture(scope="module")
def rt_split(rt_small):
    order = np.random.default_rng(0).permutation(len(rt_small))
    return rt_small.subset(order[:480]), rt_small.subset(order[480:])


@pytest.mark.slow
@pytest.mark.parametrize("model_type", list(TINY))
def test_each_model_type_beats_the_majority_class(model_type, rt_split):
    train, validation = rt_split
    clf = TextClassifier(model=tiny_model(model_type), training=TRAINING, seed=0)
    clf.fit(train, validation=validation)
    accuracy = float(np.mean(np.array(clf.predict(validation)) == np.array(validation.labels)))
    majority = max(validation.labels.count(name) for name in set(validation.labels)) / len(validation)
    assert accuracy >= majority + 0.15, (accuracy, majority)


def test_models_return_raw_logits_not_probabilities(rt_split):
    train, _ = rt_split
    clf = TextClassifier(model=tiny_model("bag"), training=dict(TRAINING, epochs=1), seed=0)
    clf.fit(train.subset(range(64)))
    logits = clf.logits(train.texts[:32])
    assert logits.dtype == np.float32 and logits.shape == (32, 3)
    assert not np.allclose(logits.sum(axis=1), 1.0, atol=1e-3)  # softmax outputs would sum to 1
    probs = clf.predict_proba(train.texts[:32])
    np.testing.assert_allclose(probs, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), rtol=1e-5)


def test_single_label_loss_is_cross_entropy_on_logits():
    labels = LabelMap(("a", "b", "c"))
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]])
    targets = torch.tensor([0, 2])
    loss = build_loss(labels, np.array([0, 2, 1]), TrainingConfig())(logits, targets)
    by_hand = -(torch.log_softmax(logits, dim=1)[[0, 1], [0, 2]]).mean()
    torch.testing.assert_close(loss, by_hand)
    # Softmaxing first (a common bug) would give a different number.
    assert abs(float(nn.CrossEntropyLoss()(torch.softmax(logits, 1), targets)) - float(by_hand)) > 0.1


def test_class_weights_and_label_smoothing_come_from_training_targets():
    labels = LabelMap(("a", "b"))
    train_targets = np.array([0, 0, 0, 1])  # balanced weights: 4/(2*3), 4/(2*1)
    loss = build_loss(labels, train_targets, TrainingConfig(class_weight="balanced", label_smoothing=0.1))
    torch.testing.assert_close(loss.weight, torch.tensor([4 / 6, 2.0]))
    assert loss.label_smoothing == 0.1


def test_multi_label_loss_is_bce_with_logits_and_pos_weight():
    labels = LabelMap(("x", "y"), multi_label=True)
    train_targets = np.array([[1, 0], [1, 1], [0, 0], [1, 0]], dtype=np.float32)
    loss_fn = build_loss(labels, train_targets, TrainingConfig(pos_weight="balanced"))
    logits = torch.tensor([[0.3, -1.2]])
    target = torch.tensor([[1.0, 0.0]])
    pos_weight = torch.tensor([1 / 3, 3.0])  # negatives / positives per label
    by_hand = -(pos_weight * target * torch.nn.functional.logsigmoid(logits)
                + (1 - target) * torch.nn.functional.logsigmoid(-logits)).mean()
    torch.testing.assert_close(loss_fn(logits, target), by_hand)


def test_tokenizer_is_fitted_on_training_texts_only_and_reproducible(rt_split):
    train, validation = rt_split
    config = TokenizerConfig(vocab_size=1000, min_frequency=2)
    first = SubwordTokenizer.fit(train.texts, config)
    second = SubwordTokenizer.fit(train.texts, config)
    assert first.encode(validation.texts, 64) == second.encode(validation.texts, 64)
    marker = "zyxwvutsrq"  # a word only in "validation" must not enter the vocabulary
    tokens = SubwordTokenizer.fit(train.texts, config).tokens(marker)
    assert marker not in tokens and tokens[0] == "[CLS]"
    ids = first.encode(["Plot: A GREAT film"] * 2, max_length=3)
    assert all(len(seq) == 3 and seq[0] == first.cls_id for seq in ids)
    wordpiece = SubwordTokenizer.fit(train.texts, TokenizerConfig(algorithm="wordpiece", vocab_size=1000))
    assert "##" in "".join(wordpiece.tokens("unremarkably overwrought"))
    words = SubwordTokenizer.fit(["a great film", "a dull film", "great"], TokenizerConfig(
        algorithm="word", vocab_size=100, min_frequency=2))
    assert words.tokens("A great overwrought film") == ["[CLS]", "a", "great", "[UNK]", "film"]


@pytest.mark.parametrize("model_type", list(TINY))
def test_save_and_load_give_identical_logits(model_type, rt_split, tmp_path):
    train, validation = rt_split
    clf = TextClassifier(model=tiny_model(model_type), training=dict(TRAINING, epochs=1), seed=0)
    clf.fit(train.subset(range(48)))
    clf.save(tmp_path / "model")
    loaded = TextClassifier.load(tmp_path / "model")
    texts = validation.texts[:20]
    np.testing.assert_array_equal(loaded.logits(texts), clf.logits(texts))
    assert (tmp_path / "model" / "tokenizer.json").is_file()


def test_config_mistakes_are_config_errors():
    with pytest.raises(ConfigError, match="num_heads"):
        TextClassifier(model={"type": "transformer", "embedding_dim": 30, "num_heads": 4}).model_config()
    with pytest.raises(ConfigError, match="kernel_size"):
        TextClassifier(model={"type": "cnn", "kernel_size": [3]}).model_config()
