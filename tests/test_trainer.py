"""The training loop: reproducibility, optimizer groups, schedule, early stopping, logs, precision."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from textclf.classifier import TextClassifier
from textclf.config import TrainingConfig
from textclf.data.batching import EpochPlan
from textclf.errors import ConfigError
from textclf.models.encoders import TransformerEncoder
from textclf.models.heads import LinearHead
from textclf.models.net import NeuralNet
from textclf.models.pooling import build_pooling
from textclf.training.trainer import parameter_groups, resolve_device, resolve_precision, schedule_factor

torch.set_num_threads(2)

TINY_TRANSFORMER = {"type": "transformer", "embedding_dim": 16, "num_heads": 2, "num_layers": 1, "ff_dim": 32,
                    "dropout": 0.2, "tokenizer": {"vocab_size": 600}}
FAST = {"epochs": 2, "batch_size": 16, "learning_rate": 5e-3, "max_length": 48, "progress": False}


@pytest.fixture(scope="module")
def tiny(rt_small):
    order = np.random.default_rng(1).permutation(len(rt_small))
    return rt_small.subset(order[:96]), rt_small.subset(order[96:144])


def fit(model: dict, training: dict, data, workdir=None, seed: int = 0) -> TextClassifier:
    train, validation = data
    return TextClassifier(model=model, training=training, seed=seed).fit(train, validation=validation, workdir=workdir)


@pytest.mark.slow
def test_same_seed_gives_identical_metrics_and_weights(tiny):
    first = fit(TINY_TRANSFORMER, FAST, tiny)
    second = fit(TINY_TRANSFORMER, FAST, tiny)
    assert first.card.training_summary["history"] == second.card.training_summary["history"]
    for (name, a), (_, b) in zip(first.model_.net.state_dict().items(), second.model_.net.state_dict().items()):
        assert torch.equal(a, b), name
    other = fit(TINY_TRANSFORMER, FAST, tiny, seed=1)
    assert not torch.equal(other.model_.net.head.linear.weight, first.model_.net.head.linear.weight)


def test_weight_decay_skips_biases_and_norms_and_head_gets_its_own_rate():
    encoder = TransformerEncoder(50, 8, 2, 1, 16, max_positions=16)
    net = NeuralNet(encoder, build_pooling("attention", 8), LinearHead(8, 3))
    groups = parameter_groups(torch.nn.ModuleList([net.encoder, net.pooling]), net.head,
                              TrainingConfig(learning_rate=1e-3, head_learning_rate=1e-2, weight_decay=0.05))
    names = {id(p): n for n, p in net.named_parameters()}
    decayed = {names[id(p)] for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    assert decayed and all("bias" not in n and "norm" not in n for n in decayed)
    assert "encoder.norm.weight" not in decayed and "head.linear.weight" in decayed
    head = {names[id(p)] for g in groups if g["lr"] == 1e-2 for p in g["params"]}
    assert head == {"head.linear.weight", "head.linear.bias"}
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))


def test_schedule_warms_up_then_decays_linearly_or_by_cosine():
    assert schedule_factor(0, 10, 4, "linear") == pytest.approx(1 / 5)
    assert schedule_factor(3, 10, 4, "linear") == pytest.approx(4 / 5)
    assert schedule_factor(4, 10, 4, "linear") == pytest.approx(1.0)
    assert schedule_factor(7, 10, 4, "linear") == pytest.approx(0.5)
    assert schedule_factor(7, 10, 4, "cosine") == pytest.approx(0.5)
    assert schedule_factor(9, 10, 0, "constant") == 1.0


def test_early_stopping_stops_when_the_metric_stops_improving_and_logs_epochs(tiny, tmp_path):
    # A learning rate this small leaves every prediction unchanged: no epoch beats the first.
    training = dict(FAST, epochs=10, learning_rate=1e-12, early_stopping_patience=2, log_every_steps=2)
    clf = fit({"type": "bag", "embedding_dim": 8, "tokenizer": {"vocab_size": 300}}, training, tiny, tmp_path)
    summary = clf.card.training_summary
    assert summary["epochs"] == 3 and summary["best_epoch"] == 1
    lines = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    epochs = [r for r in lines if r["event"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    assert {"train_loss", "validation_loss", "validation_macro_f1", "validation_accuracy"} <= set(epochs[0])
    assert sum(r["event"] == "step" for r in lines) == 3 * 6 // 2  # 6 batches of 16 per epoch
    assert (tmp_path / "checkpoints" / "last.pt").is_file()


def test_gradient_accumulation_counts_optimizer_steps(tiny):
    training = dict(FAST, gradient_accumulation_steps=4)  # 6 batches per epoch -> steps of 4 + 2
    clf = fit({"type": "bag", "embedding_dim": 8, "tokenizer": {"vocab_size": 300}}, training, tiny)
    assert clf.card.training_summary["steps"] == 2 * 2


def test_bf16_autocast_trains_on_cpu(tiny):
    clf = fit({"type": "cnn", "embedding_dim": 8, "num_filters": 4, "tokenizer": {"vocab_size": 300}},
              dict(FAST, epochs=1, precision="bf16", device="cpu"), tiny)
    assert clf.card.training_summary["precision"] == "bfloat16"
    assert np.isfinite(clf.logits(tiny[1].texts)).all()


def test_precision_and_device_mistakes_are_config_errors(tiny):
    with pytest.raises(ConfigError, match="fp16 needs a CUDA"):
        resolve_precision("fp16", torch.device("cpu"))
    assert resolve_precision("auto", torch.device("cpu"), training=False) is None  # CPU inference: fp32
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA"):
            resolve_device("cuda")
    with pytest.raises(ConfigError, match="early_stopping_metric"):
        fit({"type": "bag", "embedding_dim": 8, "tokenizer": {"vocab_size": 300}},
            dict(FAST, epochs=1, early_stopping_metric="f2"), tiny)


def test_length_bucketed_plan_covers_every_row_once_and_cuts_padding():
    lengths = np.random.default_rng(0).integers(1, 200, size=1000)
    plan = EpochPlan(lengths, batch_size=32, seed=3, bucket_batches=10)
    batches = plan.batches(0)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert len(batches) == len(plan) == 32
    assert all(np.array_equal(a, b) for a, b in zip(batches, plan.batches(0)))  # a pure function of (seed, epoch)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, plan.batches(1)))

    def padding(plan_batches):
        return sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum()) for b in plan_batches)

    shuffled = EpochPlan(lengths, batch_size=32, seed=3, strategy="random").batches(0)
    assert padding(batches) < padding(shuffled) / 3
