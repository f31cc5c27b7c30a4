"""Long documents inside neural models: encoding, mask-aware window aggregation, the plain model
as the one-window case, save/load, retrieval, coverage reporting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textclf import TextClassifier, load
from textclf.artifacts import save_classifier
from textclf.config import TrainingConfig
from textclf.data import Examples, LabelMap
from textclf.errors import ConfigError
from textclf.models.long import DocumentNet, encode_documents, pad_documents
from textclf.models.neural import BagConfig, BagModel, CnnConfig, CnnModel
from textclf.text.long import LongTextConfig
from textclf.text.tokenizers import SubwordTokenizer, TokenizerConfig

MAX_LENGTH = 16


@pytest.fixture(scope="module")
def tokenizer(rt_small):
    return SubwordTokenizer.fit(rt_small.texts, TokenizerConfig(vocab_size=600))


def untrained(rt_small, tokenizer, model_cls, config_cls, seed=0, **long_text):
    """A model with a built (randomly initialised) network: enough to test shapes and masks."""
    config = config_cls(embedding_dim=16, max_length=MAX_LENGTH, long_text=LongTextConfig(**long_text))
    model = model_cls(config, LabelMap.fit(rt_small), TrainingConfig(), seed)
    model.tokenizer = tokenizer
    torch.manual_seed(seed)
    model.net = model.build_net(tokenizer)
    model.net.eval()
    return model


def long_texts(rt_small, n=6, sentences=8):
    return [" ".join(rt_small.texts[i * sentences:(i + 1) * sentences]) for i in range(n)]


def test_head_strategy_encodes_exactly_like_the_tokenizer(rt_small, tokenizer):
    texts = long_texts(rt_small) + ["", "short"]
    encoded = encode_documents(tokenizer, texts, LongTextConfig(), MAX_LENGTH)
    assert encoded.sequences == tokenizer.encode(texts, MAX_LENGTH)


def test_pretrained_tokenizer_specials_wrap_truncated_content():
    from textclf.models.pretrained import PretrainedTokenizer, resolve_name_or_path

    tok = PretrainedTokenizer.from_pretrained(resolve_name_or_path(None))
    texts = ["the film is a long, slow and rewarding journey " * 20, "fine"]
    assert encode_documents(tok, texts, LongTextConfig(), 24).sequences == tok.encode(texts, 24)
    tail = encode_documents(tok, texts, LongTextConfig(strategy="tail"), 24).sequences
    content = tok.encode_content(texts)
    assert tail[0] == tok.add_specials(content[0][-22:]) and tail[0][0] == tok.hf_tokenizer.cls_token_id
    assert tail[1] == tok.encode(["fine"], 24)[0]


def test_coverage_report_counts_seen_content_tokens(tokenizer):
    text = " ".join(["the"] * 40)  # "the" is one token of the vocabulary: 40 content tokens
    assert len(tokenizer.encode_content([text])[0]) == 40
    head = encode_documents(tokenizer, [text, "the"], LongTextConfig(strategy="head_tail", head_tokens=5), MAX_LENGTH)
    assert head.seen_tokens.tolist() == [15, 1] and head.content_tokens.tolist() == [40, 1]
    report = head.report()
    assert report["truncated_share"] == 0.5 and report["seen_share_mean"] == pytest.approx((15 / 40 + 1) / 2)
    windows = encode_documents(tokenizer, [text], LongTextConfig(strategy="sliding_window", stride=5), MAX_LENGTH)
    assert [len(w) for w in windows.sequences[0]] == [16] * 6  # 15-token windows every 5 tokens + [CLS]
    assert windows.seen_tokens.tolist() == [40] and windows.report()["windows_mean"] == 6.0
    capped = encode_documents(tokenizer, [text], LongTextConfig(strategy="sliding_window", stride=15, max_windows=2),
                              MAX_LENGTH)
    assert capped.seen_tokens.tolist() == [30]  # first and last window only


@pytest.mark.parametrize("model_cls, config_cls, long_text", [
    (BagModel, BagConfig, {"strategy": "hierarchical"}),
    (CnnModel, CnnConfig, {"strategy": "hierarchical", "aggregation": "max"}),
    (BagModel, BagConfig, {"strategy": "sliding_window", "aggregation": "mean"}),
    (CnnModel, CnnConfig, {"strategy": "sliding_window", "aggregation": "max"}),
    (CnnModel, CnnConfig, {"strategy": "sliding_window", "aggregation": "attention"}),
])
def test_padding_windows_never_change_document_logits(rt_small, tokenizer, model_cls, config_cls, long_text):
    model = untrained(rt_small, tokenizer, model_cls, config_cls, **long_text)
    assert isinstance(model.net, DocumentNet)
    docs = model.encode(long_texts(rt_small) + ["a short one"])
    assert max(len(d) for d in docs) > 1 and min(len(d) for d in docs) == 1
    with torch.no_grad():
        alone = [model.net(*pad_documents([d], tokenizer.pad_id)) for d in docs]
        batch = model.net(*pad_documents(docs, tokenizer.pad_id))
        ids, mask = pad_documents(docs, tokenizer.pad_id)
        # One more all-padding window per document and more padding tokens per window.
        ids = torch.nn.functional.pad(ids, (0, 5, 0, 1), value=tokenizer.pad_id)
        mask = torch.nn.functional.pad(mask, (0, 5, 0, 1), value=False)
        padded = model.net(ids, mask)
    np.testing.assert_allclose(padded.numpy(), batch.numpy(), atol=1e-5)
    np.testing.assert_allclose(torch.cat(alone).numpy(), batch.numpy(), atol=1e-5)
    np.testing.assert_allclose(model.logits(long_texts(rt_small) + ["a short one"]), batch.numpy(), atol=1e-5)


@pytest.mark.parametrize("long_text", [{"strategy": "hierarchical"}, {"strategy": "sliding_window"},
                                       {"strategy": "sliding_window", "aggregation": "max"}])
def test_a_document_within_one_window_gets_the_plain_models_logits(rt_small, tokenizer, long_text):
    plain = untrained(rt_small, tokenizer, CnnModel, CnnConfig, seed=1)
    windowed = untrained(rt_small, tokenizer, CnnModel, CnnConfig, seed=2, **long_text)
    missing, unexpected = windowed.net.load_state_dict(plain.net.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("window_pooling.") for k in missing)
    short = [t for t in rt_small.texts if len(tokenizer.encode_content([t])[0]) <= MAX_LENGTH - 1][:20]
    assert len(short) == 20
    np.testing.assert_allclose(windowed.logits(short), plain.logits(short), atol=1e-5)
    assert not np.allclose(windowed.logits(long_texts(rt_small)), plain.logits(long_texts(rt_small)), atol=1e-3)


def test_window_larger_than_max_length_is_a_config_error(rt_small, tokenizer):
    model = untrained(rt_small, tokenizer, BagModel, BagConfig, strategy="sliding_window", window=MAX_LENGTH)
    with pytest.raises(ConfigError, match="window.*max_length"):
        model.encode(["some text"])
    with pytest.raises(ValueError, match="skip tokens"):
        LongTextConfig(strategy="sliding_window", window=8, stride=9)


def test_retrieval_keeps_the_relevant_passage(rt_small, tokenizer):
    filler = "The weather was mild and the trains ran on time."
    text = " ".join([filler] * 12 + ["A fresh, funny and moving film."] + [filler] * 12)
    config = LongTextConfig(strategy="retrieval", top_k=1, passage_words=11, query={"fresh": "funny moving film"})
    seen = encode_documents(tokenizer, [text], config, 64, labels=["fresh", "rotten"]).sequences[0]
    assert seen == tokenizer.encode(["A fresh, funny and moving film."], 64)[0]
    head = encode_documents(tokenizer, [text], LongTextConfig(), 64).sequences[0]
    assert not set(tokenizer.encode_content(["funny"])[0]) & set(head)


@pytest.mark.parametrize("long_text", [{"strategy": "hierarchical", "window": 24, "stride": 24, "max_windows": 200},
                                       {"strategy": "sliding_window", "window": 24, "stride": 12, "max_windows": 200}])
def test_saved_long_text_model_predicts_identically_and_reports_coverage(rt_small, tmp_path, long_text):
    train = Examples.from_lists(long_texts(rt_small, n=60, sentences=3), ["one", "two"] * 30)
    clf = TextClassifier(model={"type": "bag", "embedding_dim": 16, "long_text": long_text,
                                "tokenizer": {"vocab_size": 500}},
                         training={"max_length": 32, "epochs": 1, "batch_size": 16, "progress": False})
    clf.fit(train)
    report = clf.card.training_summary["long_text"]
    assert report["strategy"] == long_text["strategy"] and report["windows_mean"] > 1
    assert report["seen_share_mean"] == pytest.approx(1.0)
    save_classifier(clf, tmp_path / "model")
    loaded = load(tmp_path / "model")
    assert loaded.model_.config.long_text == clf.model_.config.long_text
    np.testing.assert_array_equal(loaded.logits(train.texts[:20]), clf.logits(train.texts[:20]))


def test_exports_refuse_long_text_strategies_and_coverage_is_per_text(rt_small, tokenizer):
    from textclf.errors import ModelError
    from textclf.models.long import coverage, refuse_export

    model = untrained(rt_small, tokenizer, BagModel, BagConfig, strategy="sliding_window")
    with pytest.raises(ModelError, match="not exportable"):
        refuse_export(model, "onnx")
    refuse_export(untrained(rt_small, tokenizer, BagModel, BagConfig), "onnx")  # head: fine
    texts = long_texts(rt_small, n=2) + ["short"]
    summary, shares = coverage(untrained(rt_small, tokenizer, BagModel, BagConfig), texts)
    assert shares.shape == (3,) and shares[2] == 1.0 and shares[0] < 0.5
    assert summary["truncated_share"] == pytest.approx(2 / 3)
    assert coverage(object(), texts) is None


def test_pretrained_encoder_reads_documents_as_windows(rt_small):
    from textclf.models.pretrained import PretrainedConfig, PretrainedModel

    texts = long_texts(rt_small, n=2, sentences=2) + ["A short one."]
    models = {}
    for strategy in ("head", "hierarchical"):
        config = PretrainedConfig(max_length=32, long_text=LongTextConfig(strategy=strategy, window=30, stride=30))
        model = PretrainedModel(config, LabelMap.fit(rt_small), TrainingConfig(), seed=0)
        model.tokenizer = model.build_tokenizer([])
        torch.manual_seed(0)
        model.net = model.build_net(model.tokenizer)
        models[strategy] = model
    windows = models["hierarchical"].encode(texts)
    assert len(windows[0]) > 2 and all(w[0] == 101 and w[-1] == 102 for doc in windows for w in doc)
    models["hierarchical"].net.load_state_dict(models["head"].net.state_dict(), strict=False)
    logits = models["hierarchical"].logits(texts)
    assert logits.shape == (3, 3) and np.isfinite(logits).all()
    np.testing.assert_allclose(logits[2], models["head"].logits(texts[2:])[0], atol=1e-4)
