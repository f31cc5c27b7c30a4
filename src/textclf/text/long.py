"""Long documents: which tokens (or passages) of a document a model gets to see.

Everything here works on lists of content token ids (no special tokens: the tokenizer adds
[CLS]/[SEP] to each window afterwards) and is pure, so it is easy to test and to reuse at
training, evaluation and prediction time alike.

    head         the first `max_tokens` tokens (plain truncation)
    tail         the last `max_tokens` tokens
    head_tail    `head_tokens` from the start + the rest of the budget from the end
    sliding_window / hierarchical
                 overlapping windows (`window`, `stride`) that together cover every token;
                 a classifier scores each and the scores are aggregated per document
    retrieval    the top-k passages by BM25 against a query (label names/descriptions),
                 kept in document order
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from ..config import Section

Strategy = Literal["head", "tail", "head_tail", "sliding_window", "hierarchical", "retrieval"]


WINDOW_STRATEGIES = ("sliding_window", "hierarchical")


class LongTextConfig(Section):
    """`long_text:` in a model config. Windows are counted in content tokens (specials excluded).

    aggregation: sliding_window + mean/max averages (or maxes) the windows' logits, and trains on
    windows labelled with their document's label; attention (and every hierarchical aggregation)
    pools the windows' vectors inside the network, trained end to end on whole documents."""

    strategy: Strategy = "head"
    head_tokens: int = Field(64, ge=0)  # head_tail: tokens kept from the start
    window: int | None = Field(None, ge=1)  # default: the model's max_length minus special tokens
    stride: int | None = Field(None, ge=1)  # default: window // 2 (50% overlap)
    max_windows: int = Field(16, ge=1)  # memory cap per document; windows beyond it are thinned evenly
    # default: mean for sliding_window, attention for hierarchical
    aggregation: Literal["mean", "max", "attention"] | None = None
    top_k: int = Field(3, ge=1)  # retrieval: passages kept
    passage_words: int = Field(60, ge=1)  # retrieval: passage size in words
    query: dict[str, str] | None = None  # retrieval: label -> description (default: label names)

    @model_validator(mode="after")
    def _stride_fits(self) -> LongTextConfig:
        if self.window is not None and self.stride is not None and self.stride > self.window:
            raise ValueError(f"stride ({self.stride}) larger than window ({self.window}) would skip tokens")
        return self

    @property
    def windowed(self) -> bool:
        return self.strategy in WINDOW_STRATEGIES

    @property
    def pooling(self) -> str:
        """How a windowed model joins its windows (mean, max or attention)."""
        return self.aggregation or ("attention" if self.strategy == "hierarchical" else "mean")

    @property
    def per_window_training(self) -> bool:
        """True when the model trains on single windows and averages their logits at prediction."""
        return self.strategy == "sliding_window" and self.pooling != "attention"


def truncate(ids: Sequence[int], max_tokens: int, strategy: str = "head", head_tokens: int = 64) -> list[int]:
    """Cut `ids` to at most `max_tokens` tokens, keeping the head, the tail, or both."""
    ids = list(ids)
    if len(ids) <= max_tokens:
        return ids
    if strategy == "tail":
        return ids[len(ids) - max_tokens:]
    if strategy == "head_tail":
        head = min(head_tokens, max_tokens)
        tail = max_tokens - head
        return ids[:head] + (ids[len(ids) - tail:] if tail else [])
    return ids[:max_tokens]


def window_spans(n_tokens: int, window: int, stride: int, max_windows: int | None = None) -> list[tuple[int, int]]:
    """[start, end) spans of width `window` every `stride` tokens; the last span ends at the last
    token, so together they cover every token. A document no longer than one window is one span.

    With `max_windows`, spans are thinned evenly (first and last always kept): a memory cap that
    trades coverage in the middle of very long documents for bounded cost."""
    if window < 1 or stride < 1:
        raise ValueError("window and stride must be positive")
    if stride > window:
        raise ValueError("stride larger than window would skip tokens")
    if n_tokens <= window:
        return [(0, n_tokens)]
    starts = list(range(0, n_tokens - window, stride)) + [n_tokens - window]
    spans = [(s, s + window) for s in dict.fromkeys(starts)]
    if max_windows is not None and len(spans) > max_windows:
        keep = np.unique(np.linspace(0, len(spans) - 1, max_windows).round().astype(int))
        spans = [spans[i] for i in keep]
    return spans


def covered_tokens(spans: Sequence[tuple[int, int]]) -> int:
    """How many distinct tokens a set of [start, end) spans covers."""
    covered, reach = 0, 0
    for start, end in sorted(spans):
        start = max(start, reach)
        if end > start:
            covered += end - start
            reach = end
    return covered


def split_windows(ids: Sequence[int], window: int, stride: int, max_windows: int | None = None) -> list[list[int]]:
    ids = list(ids)
    return [ids[s:e] for s, e in window_spans(len(ids), window, stride, max_windows)]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def passages(text: str, passage_words: int) -> list[str]:
    """Consecutive sentences grouped into passages of about `passage_words` words."""
    out, current, size = [], [], 0
    for sentence in filter(None, (s.strip() for s in _SENTENCE_END.split(text))):
        words = len(sentence.split())
        if current and size + words > passage_words:
            out.append(" ".join(current))
            current, size = [], 0
        current.append(sentence)
        size += words
    if current:
        out.append(" ".join(current))
    return out or [text]


def retrieve_passages(text: str, query_terms: Sequence[str], top_k: int, passage_words: int) -> str:
    """The `top_k` passages of `text` that score highest under BM25 for `query_terms`, joined in
    their original order. A text with at most `top_k` passages is returned whole."""
    # Kept over bm25s: these are tens of passages per text, where an index gives no speed-up, and no
    # bm25s method reproduces BM25Okapi's IDF floor, so the passages picked (and recorded scores) would move.
    from rank_bm25 import BM25Okapi

    parts = passages(text, passage_words)
    if len(parts) <= top_k:
        return " ".join(parts)
    bm25 = BM25Okapi([_words(p) for p in parts])
    scores = bm25.get_scores([t.lower() for t in query_terms])
    best = sorted(np.argsort(-scores, kind="stable")[:top_k])
    return " ".join(parts[i] for i in best)


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def query_terms(labels: Sequence[str], descriptions: dict[str, str] | None = None) -> list[str]:
    """Words of the label names and their descriptions: what retrieval looks for."""
    text = " ".join(list(labels) + list((descriptions or {}).values()))
    return list(dict.fromkeys(_words(text.replace("_", " ").replace("-", " "))))
