"""Whole-document embeddings (`model.long_text.strategy: sliding_window`) with the packaged MiniLM: a text
within one window embeds exactly as under truncation, a long one also reads its later windows,
the cache keeps the two readings apart, and the export refuses in one line."""

from __future__ import annotations

import numpy as np
import pytest

from textclf.classifier import TextClassifier
from textclf.data import Examples
from textclf.errors import ConfigError
from textclf.models.embedding.cache import text_key
from textclf.models.embedding.encoding import WindowSettings, window_sequences
from textclf.serving.onnx_export import refusal
from textclf.text.long import LongTextConfig

QUIET = {"progress": False, "device": "cpu"}
WINDOWS = {"strategy": "sliding_window", "stride": 22, "max_windows": 4}
pytestmark = pytest.mark.usefixtures("one_torch_thread")

CATS = ("The cat sleeps on the warm windowsill all afternoon, purring softly while the sun "
        "moves across the kitchen floor and the old clock ticks. ")
ROCKETS = "The rocket engine roared as the launch vehicle climbed into orbit above the ocean. "


@pytest.fixture(scope="module")
def train(rt_small):
    return rt_small.subset(range(0, 600, 20))  # 30 rows, all three classes


def fit(train, cache_dir, **extra) -> TextClassifier:
    model = {"type": "embedding", "max_length": 32, "C": 1.0, "cache_dir": str(cache_dir), **extra}
    return TextClassifier(model=model, training=QUIET).fit(train)


@pytest.fixture(scope="module")
def pair(train, tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("embedding-cache")
    truncating = fit(train, cache_dir)
    windowed = fit(train, cache_dir, long_text=WINDOWS)
    return truncating.model_, windowed.model_, cache_dir


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_a_text_within_one_window_embeds_exactly_as_truncated(pair):
    truncating, windowed, _ = pair
    short = ["A quiet film.", "Too long by half, and not funny at all.", ROCKETS]
    assert max(len(ids) for ids in truncating.tokenizer.encode(short, 512)) <= 32
    np.testing.assert_array_equal(windowed.embed(short, use_cache=False), truncating.embed(short, use_cache=False))


def test_a_long_text_reads_its_later_windows(pair):
    truncating, windowed, _ = pair
    document = CATS * 2 + ROCKETS * 2  # the first 32-token window is all cats
    cut, whole = truncating.embed([document], use_cache=False)[0], windowed.embed([document], use_cache=False)[0]
    rockets = truncating.embed([ROCKETS], use_cache=False)[0]
    assert cosine(cut, whole) < 0.99
    assert cosine(whole, rockets) > cosine(cut, rockets) + 0.1
    assert np.linalg.norm(whole) == pytest.approx(1.0, abs=1e-5)


def test_windows_are_capped_cover_both_ends_and_fit_the_encoder(pair):
    _, windowed, _ = pair
    tokenizer = windowed.tokenizer
    content = tokenizer.encode_content([CATS * 10])[0]
    sequences, owners = window_sequences(tokenizer, [CATS * 10, "short"], WindowSettings(32, LongTextConfig(strategy="sliding_window", stride=22, max_windows=4)))
    assert [len(rows) for rows in owners] == [4, 1]
    windows = [sequences[r] for r in owners[0]]
    assert all(len(w) == 32 for w in windows)
    assert windows[0][1:-1] == content[:30] and windows[-1][1:-1] == content[-30:]
    with pytest.raises(ConfigError, match="model.long_text.window: 31"):
        window_sequences(tokenizer, ["x"], WindowSettings(32, LongTextConfig(strategy="sliding_window",
                                                                             window=31)))
    with pytest.raises(ConfigError, match="model.long_text"):
        TextClassifier(model={"type": "embedding", "long_text": {"strategy": "hierarchical"}}).fit(
            Examples.from_lists(["a", "b"], ["x", "y"]))


def test_the_cache_keeps_truncated_and_window_vectors_apart(pair):
    truncating, windowed, cache_dir = pair
    documents = [CATS * 3 + ROCKETS * i for i in range(3)]
    cut = truncating.embed(documents)  # written to the cache first
    assert windowed._cache().lookup([text_key(d) for d in documents]) == {}  # not served to window_mean
    whole = windowed.embed(documents)
    np.testing.assert_allclose(whole, windowed.embed(documents, use_cache=False), atol=1e-6)
    np.testing.assert_allclose(cut, truncating.embed(documents, use_cache=False), atol=1e-6)
    assert truncating._cache().root != windowed._cache().root
    assert windowed._cache().root.name.endswith("-windows4-windowauto-stride22")
    assert len(windowed._cache().lookup([text_key(d) for d in documents])) == len(documents)


def test_export_refuses_and_save_load_keeps_the_setting(pair, train, tmp_path):
    _, windowed, _ = pair
    capabilities = windowed.capabilities()
    assert capabilities.export_formats == frozenset() and windowed.export_view() is None
    line = refusal(windowed, "onnx")  # what `textclf export` prints
    assert line is not None and "sliding_window" in line and "\n" not in line and len(line) <= 300
    assert windowed.max_tokens() == 2 + 30 + 3 * 22
    clf = fit(train, tmp_path / "cache", long_text=WINDOWS, cache=False)
    clf.save(tmp_path / "model")
    loaded = TextClassifier.load(tmp_path / "model")
    texts = [CATS * 4, "A quiet film."]
    np.testing.assert_allclose(loaded.predict_proba(texts), clf.predict_proba(texts), atol=1e-5)
    assert loaded.model_.config.long_text.strategy == "sliding_window"
