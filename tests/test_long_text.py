"""Long-document primitives: truncation, windows that cover every token, mask-aware aggregation."""

from __future__ import annotations

import numpy as np
import pytest

from textclf.text.long import (
    passages, retrieve_passages, truncate, window_spans,
)


def test_truncation_strategies():
    ids = list(range(10))
    assert truncate(ids, 4, "head") == [0, 1, 2, 3]
    assert truncate(ids, 4, "tail") == [6, 7, 8, 9]
    assert truncate(ids, 4, "head_tail", head_tokens=1) == [0, 7, 8, 9]
    assert truncate(ids, 20, "head_tail") == ids


@pytest.mark.parametrize("n, window, stride", [(1, 4, 2), (4, 4, 2), (5, 4, 2), (17, 5, 3), (100, 16, 16), (33, 8, 1)])
def test_windows_cover_every_token_with_the_given_stride(n, window, stride):
    spans = window_spans(n, window, stride)
    covered = np.zeros(n, dtype=int)
    for start, end in spans:
        assert end - start == min(window, n)
        covered[start:end] += 1
    assert covered.min() >= 1, "a token is in no window"
    starts = [s for s, _ in spans]
    assert starts[0] == 0 and spans[-1][1] == n
    assert all(b - a <= stride for a, b in zip(starts, starts[1:]))


def test_short_document_is_one_window_equal_to_itself():
    assert window_spans(3, 8, 4) == [(0, 3)]


def test_window_cap_keeps_first_and_last():
    spans = window_spans(1000, 10, 10, max_windows=5)
    assert len(spans) == 5 and spans[0] == (0, 10) and spans[-1] == (990, 1000)


def test_stride_larger_than_window_is_refused():
    with pytest.raises(ValueError, match="skip tokens"):
        window_spans(10, 4, 5)


def test_retrieval_keeps_relevant_passages_in_order():
    filler = ["The weather was mild and the trains ran on time."] * 30
    text = " ".join(filler[:10] + ["The striker scored twice in the football match."] + filler[10:])
    kept = retrieve_passages(text, ["football", "sport", "match"], top_k=1, passage_words=12)
    assert "football" in kept and len(kept.split()) <= 24
    assert len(passages(text, 12)) > 10
