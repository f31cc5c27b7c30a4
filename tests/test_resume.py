"""Stopping after step k and resuming gives exactly the weights of a run that never stopped."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textclf.cli import main
from textclf.data import LabelMap
from textclf.errors import ConfigError
from textclf.models.neural import TransformerConfig, TransformerModel
from textclf.config import TrainingConfig

torch.set_num_threads(2)

MODEL = TransformerConfig(embedding_dim=16, num_heads=2, num_layers=1, ff_dim=32, dropout=0.3, max_length=48,
                          tokenizer={"vocab_size": 500})
# 96 rows / 16 = 6 batches; accumulation 2 -> 3 optimizer steps per epoch, 9 in all.
TRAINING = TrainingConfig(epochs=3, batch_size=16, gradient_accumulation_steps=2, learning_rate=5e-3,
                          progress=False, early_stopping_patience=None, checkpoint_every_steps=1)


@pytest.fixture(scope="module")
def data(rt_small):
    order = np.random.default_rng(2).permutation(len(rt_small))
    train, validation = rt_small.subset(order[:96]), rt_small.subset(order[96:144])
    labels = LabelMap.fit(train)
    return train, labels.encode(train), validation, labels.encode(validation), labels


def run(data, workdir, resume=False, stop_after_step=None) -> TransformerModel:
    train, train_targets, validation, validation_targets, labels = data
    model = TransformerModel(MODEL, labels, TRAINING, seed=7)
    model.fit(train, train_targets, validation, validation_targets, workdir, resume=resume,
              stop_after_step=stop_after_step)
    return model


def assert_same_weights(a: TransformerModel, b: TransformerModel) -> None:
    sa, sb = a.net.state_dict(), b.net.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


@pytest.mark.slow
@pytest.mark.parametrize("stop_after_step", [2, 3])  # mid-epoch and exactly at an epoch's end
def test_resumed_run_ends_with_exactly_the_uninterrupted_weights(data, tmp_path, stop_after_step):
    straight = run(data, tmp_path / "straight")
    stopped = run(data, tmp_path / "stopped", stop_after_step=stop_after_step)
    assert not any(torch.equal(a, b) for a, b in zip(stopped.net.state_dict().values(),
                                                      straight.net.state_dict().values()) if a.ndim > 1)
    resumed = run(data, tmp_path / "stopped", resume=True)
    assert_same_weights(resumed, straight)
    texts = data[2].texts[:16]
    np.testing.assert_array_equal(resumed.logits(texts), straight.logits(texts))


def test_resume_without_a_checkpoint_is_a_config_error(data, tmp_path):
    with pytest.raises(ConfigError, match="no checkpoint"):
        run(data, tmp_path / "empty", resume=True)


def test_cli_resume_of_a_directory_without_checkpoints_exits_2(tmp_path, capsys):
    code = main(["train", "data.dataset=rotten-tomatoes", "model.type=bag", "-o", str(tmp_path / "nope"), "--resume"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("textclf: error:") and "no checkpoints" in err and "\n" not in err


@pytest.mark.parametrize("change, named", [({"batch_size": 8}, "training.batch_size differs"),
                                           ({"seed": 8}, "seed differs")])
def test_resume_refuses_other_settings_naming_them(data, tmp_path, change, named):
    train, train_targets, validation, validation_targets, labels = data
    run(data, tmp_path, stop_after_step=2)
    seed = change.get("seed", 7)
    training = TRAINING.model_copy(update={k: v for k, v in change.items() if k != "seed"})
    model = TransformerModel(MODEL, labels, training, seed=seed)
    with pytest.raises(ConfigError, match=named):
        model.fit(train, train_targets, validation, validation_targets, tmp_path, resume=True)


def test_resume_refuses_other_training_data(data, tmp_path):
    train, train_targets, validation, validation_targets, labels = data
    run(data, tmp_path, stop_after_step=2)
    model = TransformerModel(MODEL, labels, TRAINING, seed=7)
    fewer = train.subset(range(len(train) - 1))
    with pytest.raises(ConfigError, match="data.rows differs"):
        model.fit(fewer, labels.encode(fewer), validation, validation_targets, tmp_path, resume=True)
