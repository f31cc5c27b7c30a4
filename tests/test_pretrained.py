"""Fine-tuning pretrained encoders, on a tiny random BERT saved locally (fast, offline)."""

from __future__ import annotations

import collections
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from textclf.classifier import TextClassifier
from textclf.data.batching import pad_batch
from textclf.errors import ConfigError
from textclf.models.pretrained import PretrainedEncoder, PretrainedTokenizer, resolve_name_or_path


def make_tiny_bert(directory: Path, texts: list[str], hidden: int = 32, layers: int = 2, vocab_words: int = 3000,
                   seed: int = 0) -> Path:
    """A random BERT (no dropout, so runs compare exactly) + a WordPiece tokenizer whose vocabulary
    is the commonest words of `texts`, saved as a Hugging Face model directory."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    counts = collections.Counter(w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower()))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [w for w, _ in counts.most_common(vocab_words)]
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True).save_pretrained(str(directory))
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=128,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, rt_small) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), rt_small.texts)


def tiny_model_params(path: Path, **extra) -> dict:
    return {"type": "pretrained", "name_or_path": str(path), "dropout": 0.0, **extra}


TINY_TRAINING = {"epochs": 4, "batch_size": 16, "learning_rate": 3e-3, "max_length": 48, "progress": False,
                 "device": "cpu", "early_stopping_patience": None}


def test_padding_does_not_change_hidden_states(tiny_bert, rt_small):
    tokenizer = PretrainedTokenizer.from_pretrained(str(tiny_bert))
    encoder = PretrainedEncoder.from_pretrained(str(tiny_bert)).eval()
    ids = tokenizer.encode(rt_small.texts[:4], max_length=32)
    assert all(seq[0] == tokenizer.hf_tokenizer.cls_token_id for seq in ids)
    input_ids, mask = pad_batch(ids, tokenizer.pad_id)
    wider_ids = torch.cat([input_ids, torch.full((4, 7), tokenizer.pad_id)], dim=1)
    wider_mask = torch.cat([mask, torch.zeros((4, 7), dtype=torch.bool)], dim=1)
    with torch.no_grad():
        hidden, out_mask = encoder(input_ids, mask)
        wider, _ = encoder(wider_ids, wider_mask)
    assert hidden.shape == (4, input_ids.shape[1], 32) and out_mask.dtype == torch.bool
    real = mask.unsqueeze(-1).expand_as(hidden)
    torch.testing.assert_close(wider[:, : input_ids.shape[1]][real], hidden[real], atol=1e-5, rtol=1e-5)


def test_freeze_layers_freezes_embeddings_and_lowest_blocks(tiny_bert):
    encoder = PretrainedEncoder.from_pretrained(str(tiny_bert))
    total = sum(p.numel() for p in encoder.parameters())
    trainable = encoder.freeze(layers=1)
    frozen = {name for name, p in encoder.named_parameters() if not p.requires_grad}
    assert any(name.startswith("model.embeddings.") for name in frozen)
    assert any(".layer.0." in name for name in frozen) and not any(".layer.1." in name for name in frozen)
    assert 0 < trainable < total
    with pytest.raises(ConfigError, match="freeze_layers"):
        PretrainedEncoder.from_pretrained(str(tiny_bert)).freeze(layers=5)


def test_bad_name_or_path_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no config.json"):
        resolve_name_or_path(str(tmp_path))
    clf = TextClassifier(model={"type": "pretrained", "name_or_path": "no-such-org/no-such-model"},
                         training=TINY_TRAINING)
    with pytest.raises(ConfigError, match="no-such-org/no-such-model"):
        clf.fit(["good", "bad"], ["pos", "neg"])


def test_packaged_minilm_resolves_without_network():
    path = Path(resolve_name_or_path("minilm"))
    assert (path / "config.json").is_file() and (path / "tokenizer.json").is_file()
    assert resolve_name_or_path(None) == str(path)


@pytest.mark.slow
def test_fine_tunes_beats_majority_and_reloads_offline(tiny_bert, rt_small, tmp_path):
    train, test = rt_small.subset(range(0, 600, 2)), rt_small.subset(range(1, 600, 2))
    clf = TextClassifier(model=tiny_model_params(tiny_bert, pooling="mean"), training=TINY_TRAINING, seed=0)
    clf.fit(train)
    predictions = clf.predict(test)
    accuracy = np.mean([p == y for p, y in zip(predictions, test.labels)])
    majority = max(collections.Counter(test.labels).values()) / len(test)
    assert accuracy > majority + 0.05

    saved = clf.save(tmp_path / "model")
    files = {p.name for p in saved.rglob("*")}
    assert {"model.safetensors", "tokenizer.json"} <= files
    assert (saved / "encoder" / "config.json").is_file()
    # The saved model no longer needs the original directory.
    for f in tiny_bert.iterdir():
        f.rename(tmp_path / f"moved-{f.name}")
    try:
        reloaded = TextClassifier.load(saved)
        np.testing.assert_allclose(reloaded.logits(test.texts[:20]), clf.logits(test.texts[:20]), atol=1e-5)
    finally:
        for f in tmp_path.glob("moved-*"):
            f.rename(tiny_bert / f.name[len("moved-"):])


def test_tensorboard_log_mirrors_numeric_fields_or_stays_silent(tmp_path):
    from textclf.training.tensorboard import TensorBoardLog

    log = TensorBoardLog(tmp_path)
    log.write({"event": "epoch", "step": 3, "train_loss": 0.5, "validation_macro_f1": 0.7, "note": "text"})
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        assert not (tmp_path / "tensorboard").exists()  # the optional extra is absent: nothing written
    else:
        assert any((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_fine_tuning_defaults_follow_the_training_set_size():
    clf = TextClassifier(model={"type": "pretrained"})
    small, large = clf.training_config(300), clf.training_config(20_000)
    assert (small.epochs, small.head_learning_rate, small.early_stopping_patience) == (10, 1e-3, 3)
    assert (large.epochs, large.learning_rate, large.head_learning_rate) == (3, 3e-5, None)
    assert clf.training_config().epochs == 3  # size unknown: the general recipe
    mine = TextClassifier(model={"type": "pretrained"}, training={"epochs": 2}).training_config(300)
    assert mine.epochs == 2 and mine.head_learning_rate == 1e-3  # what the user set always wins
