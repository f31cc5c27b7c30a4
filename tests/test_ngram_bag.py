"""The bag with hashed token n-grams (text/ngrams.py, `model.type: bag`, `word_ngrams`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textclf.classifier import TextClassifier
from textclf.config import TrainingConfig
from textclf.data import LabelMap
from textclf.data.batching import pad_batch
from textclf.errors import ConfigError, ModelError
from textclf.models.encoders import BagEncoder
from textclf.models.heads import LinearHead
from textclf.models.long import encode_documents
from textclf.models.net import MeanBagNet, NeuralNet
from textclf.models.neural import BagConfig, BagModel
from textclf.models.pooling import build_pooling
from textclf.text.long import LongTextConfig, window_spans
from textclf.text.ngrams import (
    NGRAMS_FILE, NgramTokenizer, fit_rows, fnv1a64, ngram_buckets, ngram_hashes, token_hash,
)
from textclf.text.tokenizers import SubwordTokenizer, TokenizerConfig

torch.set_num_threads(1)

TRAINING = {"epochs": 8, "batch_size": 16, "learning_rate": 0.05, "max_grad_norm": None, "progress": False,
            "early_stopping_patience": None, "device": "cpu"}


# -- hashing -----------------------------------------------------------------------------------------
def test_fnv1a_matches_the_published_test_vectors():
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8


def test_hashes_and_buckets_are_fixed_numbers():
    # Hard-coded: a bucket must not depend on the process (no salted hash()), platform or run.
    assert token_hash(5) == 0x2D401A55EEC16520
    hashes = ngram_hashes([token_hash(i) for i in (5, 17, 42)], max_n=3)
    assert hashes == [0xFB64D55E739380B1, 0xDCF45AFDC7EDDCD4, 0xEEC6B55A3216CB0A]  # (5,17) (17,42) (5,17,42)
    assert ngram_buckets([[5, 17, 42]], 3, 2_000_000) == [[1666225, 1026260, 1597322]]


def test_vectorised_token_hashes_equal_the_byte_loop():
    from textclf.text.ngrams import token_hash_table

    ids = [0, 1, 255, 256, 65_535, 65_536, 69_999]
    assert token_hash_table(70_000)[ids].tolist() == [token_hash(i) for i in ids]


def test_encoding_pauses_the_cyclic_gc_and_restores_it():
    import gc

    from textclf.text.tokenizers import cyclic_gc_paused

    assert gc.isenabled()
    with cyclic_gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()


def test_order_matters_and_ids_must_be_32_bit():
    assert ngram_buckets([[3, 4]], 2, 1 << 40) != ngram_buckets([[4, 3]], 2, 1 << 40)
    with pytest.raises(ValueError):
        token_hash(1 << 32)


def test_ngrams_never_cross_text_boundaries():
    together = ngram_buckets([[5, 17, 42], [7], [], [42, 5]], 2, 1000)
    assert together == [[225, 260], [], [], [482]]  # (5,17) (17,42) | none | none | (42,5)
    alone = [ngram_buckets([seq], 2, 1000)[0] for seq in ([5, 17, 42], [7], [], [42, 5])]
    assert together == alone
    # (42, 7) and (7, 42), which would span texts 1-2 or 2-4, appear nowhere.
    spanning = ngram_buckets([[42, 7], [7, 42]], 2, 1000)
    assert not set(spanning[0] + spanning[1]) & {b for found in together for b in found}


def test_fit_rows_keeps_buckets_seen_min_count_times():
    assert fit_rows([[9, 3, 9], [3, 1]]) == [1, 3, 9]
    assert fit_rows([[9, 3, 9], [3, 1]], min_count=2) == [3, 9]


# -- the tokenizer -----------------------------------------------------------------------------------
TEXTS = ["the film is not good", "a good film , not a bad one", "good acting , bad plot", "not bad at all"]


@pytest.fixture(scope="module")
def subwords():
    return SubwordTokenizer.fit(TEXTS * 3, TokenizerConfig(vocab_size=200, min_frequency=1))


def test_sequences_are_subwords_then_their_seen_ngrams(subwords):
    tok = NgramTokenizer.fit(subwords, TEXTS, word_ngrams=2, buckets=1 << 40)
    content = subwords.encode_content(TEXTS)
    assert tok.vocab_size == subwords.vocab_size + len(tok.rows) > subwords.vocab_size
    for ids, seq in zip(content, tok.encode(TEXTS, max_length=64)):
        assert seq[: len(ids) + 1] == [subwords.cls_id, *ids]
        ngram_ids = seq[len(ids) + 1:]
        assert len(ngram_ids) == len(ids) - 1  # every training bigram has a row (no collisions at 2**40)
        assert min(ngram_ids) >= subwords.vocab_size and max(ngram_ids) < tok.vocab_size
    # An unseen bigram ("bad good") has no row: only the subwords remain.
    unseen = subwords.encode_content(["bad good"])[0]
    assert tok.encode(["bad good"], 64) == [[subwords.cls_id, *unseen]]


def test_max_length_counts_subwords_and_ngrams_cover_only_kept_tokens(subwords):
    tok = NgramTokenizer.fit(subwords, TEXTS, word_ngrams=3, buckets=1 << 40)
    ids = subwords.encode_content([TEXTS[1]])[0]
    [seq] = tok.encode([TEXTS[1]], max_length=4)  # [CLS] + 3 subwords
    assert seq[:4] == [subwords.cls_id, *ids[:3]]
    assert seq == tok.add_specials(ids[:3])
    assert len(seq) == 4 + 2 + 1  # two bigrams and one trigram of the three kept tokens


def test_batch_of_sequences_equals_one_at_a_time(subwords):
    tok = NgramTokenizer.fit(subwords, TEXTS, word_ngrams=3, buckets=1000)  # small: collisions happen
    contents = subwords.encode_content(TEXTS + ["bad good", "", "film"])
    assert tok.add_specials_batch(contents) == [tok.add_specials(ids) for ids in contents]
    assert tok.add_specials_batch([]) == []


def test_windows_get_their_own_ngrams(subwords):
    tok = NgramTokenizer.fit(subwords, TEXTS, word_ngrams=2, buckets=1 << 40)
    config = LongTextConfig(strategy="sliding_window", window=3, stride=3, max_windows=8)
    encoded = encode_documents(tok, [TEXTS[1]], config, max_length=16)
    ids = subwords.encode_content([TEXTS[1]])[0]
    windows = encoded.sequences[0]
    spans = window_spans(len(ids), 3, 3, 8)
    assert len(spans) > 1
    assert windows == [tok.add_specials(ids[s:e]) for s, e in spans]


def test_min_count_drops_rare_ngrams(subwords):
    texts = [*TEXTS, TEXTS[0]]  # the first text's bigrams are seen twice
    every = NgramTokenizer.fit(subwords, texts, word_ngrams=2, buckets=1 << 40)
    frequent = NgramTokenizer.fit(subwords, texts, word_ngrams=2, buckets=1 << 40, min_count=2)
    assert len(frequent.rows) == len(subwords.encode_content(TEXTS[:1])[0]) - 1 < len(every.rows)
    assert len(frequent.encode(TEXTS[:1], 64)[0]) == len(every.encode(TEXTS[:1], 64)[0])
    assert frequent.encode(TEXTS[1:2], 64)[0] == subwords.encode(TEXTS[1:2], 64)[0]  # no n-gram kept


def test_save_load_keeps_ids(subwords, tmp_path):
    tok = NgramTokenizer.fit(subwords, TEXTS, word_ngrams=3, buckets=5000)
    tok.save(tmp_path)
    again = NgramTokenizer.load(tmp_path)
    assert again.encode(TEXTS, 32) == tok.encode(TEXTS, 32)
    assert (again.word_ngrams, again.buckets, again.vocab_size) == (3, 5000, tok.vocab_size)
    (tmp_path / NGRAMS_FILE).unlink()
    with pytest.raises(ModelError, match="n-gram file missing"):
        NgramTokenizer.load(tmp_path)


def test_padding_leaves_bag_logits_unchanged(subwords):
    tok = NgramTokenizer.fit(subwords, TEXTS, word_ngrams=2, buckets=1 << 40)
    torch.manual_seed(0)
    encoder = BagEncoder(tok.vocab_size, 8, tok.pad_id)
    net = NeuralNet(encoder, build_pooling("mean", 8), LinearHead(8, 3, dropout=0.5)).eval()
    ids, mask = pad_batch(tok.encode(TEXTS, 64), tok.pad_id)
    wider = torch.cat([ids, torch.full((len(TEXTS), 5), tok.pad_id)], dim=1)
    wider_mask = torch.cat([mask, torch.zeros((len(TEXTS), 5), dtype=torch.bool)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(net(wider, wider_mask), net(ids, mask), atol=1e-6, rtol=0)


@pytest.mark.parametrize("sparse", [False, True])
def test_fused_training_pooling_equals_encoder_then_mean_pooling(subwords, sparse):
    tok = NgramTokenizer.fit(subwords, TEXTS, word_ngrams=2, buckets=1 << 40)
    torch.manual_seed(0)
    generic = NeuralNet(BagEncoder(tok.vocab_size, 8, tok.pad_id, sparse=sparse), build_pooling("mean", 8),
                        LinearHead(8, 3, dropout=0.0)).train()
    fused = MeanBagNet(generic.encoder, generic.pooling, generic.head).train()
    ids, mask = pad_batch(tok.encode(TEXTS + [""], 64), tok.pad_id)
    wider = torch.cat([ids, torch.full((len(ids), 5), tok.pad_id)], dim=1)
    wider_mask = torch.cat([mask, torch.zeros((len(ids), 5), dtype=torch.bool)], dim=1)
    mask[-1] = False  # a row without a real token pools to zeros on both paths
    wider_mask[-1] = False
    grads = []
    for net, batch in ((generic, (ids, mask)), (fused, (ids, mask)), (fused, (wider, wider_mask))):
        logits = net(*batch)
        logits.square().sum().backward()
        grad = net.encoder.embedding.weight.grad
        grads.append((logits.detach(), grad.to_dense() if grad.is_sparse else grad.clone()))
        net.zero_grad(set_to_none=True)
    for logits, grad in grads[1:]:
        torch.testing.assert_close(logits, grads[0][0], atol=1e-6, rtol=0)
        torch.testing.assert_close(grad, grads[0][1], atol=1e-6, rtol=0)
    assert grads[0][1][tok.pad_id].abs().max() == 0  # padding's row never learns
    with torch.no_grad():  # inference keeps the generic path (what ONNX export traces)
        torch.testing.assert_close(fused.eval()(ids, mask), generic.eval()(ids, mask), atol=0, rtol=0)


def test_plain_mean_bag_trains_with_the_fused_pooling():
    labels = LabelMap(("a", "b"))
    assert BagModel(BagConfig(), labels, TrainingConfig(), 0).net_class() is MeanBagNet
    for other in (BagConfig(pooling="max"), BagConfig(dropout=0.1)):
        assert BagModel(other, labels, TrainingConfig(), 0).net_class() is NeuralNet


# -- the model ---------------------------------------------------------------------------------------
def word_order_data(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Every text holds 'not' and 'good' once, among filler words: 'not good' is negative,
    'good not' positive. Both classes have the same words, so only word order tells them apart."""
    rng = np.random.default_rng(seed)
    fillers = "the a film plot was is it and this very".split()
    texts, labels = [], []
    for i in range(n):
        words = list(rng.choice(fillers, size=6))
        negative = i % 2 == 0
        at = int(rng.integers(0, len(words) + 1))
        words[at:at] = ["not", "good"] if negative else ["good", "not"]
        texts.append(" ".join(words))
        labels.append("neg" if negative else "pos")
    return texts, labels


def bag(word_ngrams: int) -> dict:
    return {"type": "bag", "embedding_dim": 16, "dropout": 0.0, "word_ngrams": word_ngrams,
            "tokenizer": {"vocab_size": 100, "min_frequency": 1}}


def test_bigrams_learn_word_order_that_a_unigram_bag_cannot():
    train_texts, train_labels = word_order_data(320, seed=0)
    test_texts, test_labels = word_order_data(200, seed=1)
    accuracy = {}
    for n in (1, 2):
        clf = TextClassifier(model=bag(n), training=TRAINING, seed=0).fit(train_texts, train_labels)
        accuracy[n] = float(np.mean(np.array(clf.predict(test_texts)) == np.array(test_labels)))
    assert accuracy[2] >= 0.95, accuracy
    assert accuracy[1] <= 0.65, accuracy  # same bag of words in both classes: chance level


def test_saved_bag_with_ngrams_gives_identical_logits(tmp_path):
    texts, labels = word_order_data(96, seed=2)
    clf = TextClassifier(model=dict(bag(3), buckets=4096), training=dict(TRAINING, epochs=2), seed=0)
    clf.fit(texts, labels)
    clf.save(tmp_path / "model")
    assert (tmp_path / "model" / NGRAMS_FILE).is_file()
    again = TextClassifier.load(tmp_path / "model")
    np.testing.assert_array_equal(again.logits(texts), clf.logits(texts))
    # A config that disagrees with the saved n-gram files is refused, not silently misread.
    config = BagConfig(**dict(bag(3), buckets=8192))
    with pytest.raises(ModelError, match="n-gram files"):
        BagModel.load(tmp_path / "model", config, clf.label_map, TrainingConfig(), 0)


def test_unigram_bag_is_the_plain_subword_model(tmp_path):
    texts, labels = word_order_data(64, seed=3)
    clf = TextClassifier(model=bag(1), training=dict(TRAINING, epochs=1), seed=0).fit(texts, labels)
    assert type(clf.model_.tokenizer) is SubwordTokenizer
    clf.save(tmp_path / "model")
    assert not (tmp_path / "model" / NGRAMS_FILE).exists()


def test_sgd_embedding_lr_makes_the_table_a_sparse_group(subwords):
    training = TrainingConfig(batch_size=16, gradient_accumulation_steps=2, max_grad_norm=None)
    config = BagConfig(embedding_dim=8, pooling="attention", sgd_embedding_lr=0.5)
    model = BagModel(config, LabelMap(("a", "b", "c")), training, seed=0)
    tok = NgramTokenizer.fit(subwords, TEXTS, word_ngrams=2, buckets=1 << 20)
    net = model.build_net(tok)
    groups = model.parameter_groups(net)
    table = net.encoder.embedding.weight
    [sparse] = [g for g in groups if g.get("sparse")]
    assert sparse["params"] == [table] and sparse["lr"] == 0.5 * 16 * 2 and sparse["weight_decay"] == 0.0
    others = [p for g in groups if not g.get("sparse") for p in g["params"]]
    assert len(others) == len(list(net.parameters())) - 1  # head and attention pooling keep their AdamW groups
    assert table.abs().max() <= 1 / 8 and not table[tok.pad_id].any()  # fastText's small initial rows
    ids, mask = pad_batch(tok.encode(TEXTS[:2], 64), tok.pad_id)
    net(ids, mask).sum().backward()
    assert table.grad.is_sparse
    with pytest.raises(ConfigError, match="max_grad_norm"):
        BagModel(config, LabelMap(("a", "b", "c")), TrainingConfig(), seed=0).parameter_groups(net)
    # A multi-label loss is a mean over labels too: the rate keeps fastText's per-example, per-label units.
    multi = BagModel(config, LabelMap(("a", "b", "c"), multi_label=True), training, seed=0)
    [sparse] = [g for g in multi.parameter_groups(net) if g.get("sparse")]
    assert sparse["lr"] == 0.5 * 16 * 2 * 3


def test_small_training_sets_get_more_epochs_unless_the_config_sets_them():
    from textclf.models.neural import CnnModel, scratch_epochs
    from textclf.models.pretrained import PretrainedModel

    assert [scratch_epochs(n) for n in (10, 180, 1600, 9600, 10**6)] == [50, 50, 30, 5, 5]
    assert CnnModel.training_defaults(180)["epochs"] == 50  # every from-scratch type
    assert PretrainedModel.training_defaults(180)["epochs"] == 10  # a fine-tune keeps its own recipe
    texts, labels = word_order_data(160, seed=4)
    small = {"type": "bag", "embedding_dim": 8, "tokenizer": {"min_frequency": 1}}
    clf = TextClassifier(model=small, training={"progress": False, "early_stopping_patience": None}, seed=0)
    clf.fit(texts, labels)
    assert clf.training_config().epochs == 50 and clf.card.training_summary["epochs"] == 50
    fixed = TextClassifier(model=small, training={"progress": False, "epochs": 3}, seed=0).fit(texts, labels)
    assert fixed.training_config().epochs == 3 and fixed.card.training_summary["epochs"] == 3
