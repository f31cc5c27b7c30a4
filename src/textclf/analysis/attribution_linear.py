"""Exact token attributions of the TF-IDF + logistic regression model: feature value x coefficient,
mapped back to character spans of the original text (see analysis/explain.py for the contract)."""

from __future__ import annotations

import bisect
import re
from collections import defaultdict

import numpy as np

from ..errors import ModelError
from ..models.base import LinearAttributionView
from .attributions import WORD, TokenAttribution


# -- TF-IDF: exact contributions ---------------------------------------------------------------------
def _preprocessed(vectorizer, text: str) -> tuple[str, list[int] | None]:
    """The vectorizer's preprocessed text and, per character of it, its index in `text` (None:
    the same positions)."""
    preprocess = vectorizer.build_preprocessor()
    whole = preprocess(text)
    if len(whole) == len(text) and not vectorizer.strip_accents:
        return whole, None
    pieces = [preprocess(ch) for ch in text]
    if "".join(pieces) != whole:
        raise ModelError("explain: cannot map this TF-IDF model's preprocessing back to character offsets")
    return whole, [i for i, piece in enumerate(pieces) for _ in piece]


def _to_original(span: tuple[int, int], index: list[int] | None) -> tuple[int, int]:
    start, end = span
    if index is None:
        return start, end
    if end <= start:  # an empty match: a point
        point = index[start] if start < len(index) else (index[-1] + 1 if index else 0)
        return point, point
    return index[start], index[end - 1] + 1


def _word_occurrences(vectorizer, text: str) -> tuple[list[tuple[str, int, int]], list[tuple[int, int]]]:
    """([(feature, start, end)] of every word n-gram in `text`, [token spans]), original offsets."""
    processed, index = _preprocessed(vectorizer, text)
    pattern = re.compile(vectorizer.token_pattern)
    group = 1 if pattern.groups == 1 else 0
    tokens = [(m.group(group), *_to_original(m.span(group), index)) for m in pattern.finditer(processed)]
    low, high = vectorizer.ngram_range
    found = []
    for n in range(low, high + 1):
        for i in range(len(tokens) - n + 1):
            gram = tokens[i:i + n]
            found.append((" ".join(t[0] for t in gram), gram[0][1], gram[-1][2]))
    return found, [(s, e) for _, s, e in tokens]


def _char_wb_occurrences(vectorizer, text: str) -> tuple[list[tuple[str, int, int]], list[tuple[int, int]]]:
    """The same for char_wb n-grams (scikit-learn pads each word with one space either side;
    an n-gram's span is the part of it inside the word)."""
    processed, index = _preprocessed(vectorizer, text)
    low, high = vectorizer.ngram_range
    found, words = [], []
    for m in WORD.finditer(processed):
        word_start, word = m.start(), m.group()
        words.append(_to_original(m.span(), index))
        padded = f" {word} "
        for n in range(low, high + 1):
            offset = 0
            while True:
                a = word_start + max(offset - 1, 0)
                b = word_start + min(offset + n - 1, len(word))
                span = (a, b) if b > a else m.span()  # the lone " " gram of n=1: the word
                found.append((padded[offset:offset + n], *_to_original(span, index)))
                if offset + n >= len(padded):
                    break
                offset += 1
            if offset == 0:  # a word shorter than n: counted once, as scikit-learn does
                break
    return found, words


def _occurrences(vectorizer, text: str):
    if vectorizer.analyzer == "word":
        return _word_occurrences(vectorizer, text)
    if vectorizer.analyzer == "char_wb":
        return _char_wb_occurrences(vectorizer, text)
    raise ModelError(f"explain: TF-IDF analyzer {vectorizer.analyzer!r} is not supported")


def linear_explanations(view: LinearAttributionView, texts: list[str], targets: np.ndarray, binary: bool) -> list[dict]:
    import scipy.sparse as sp

    vectorizers = view.vectorizers
    features = sp.hstack([v.transform(texts) for v in vectorizers], format="csr")
    coef = np.asarray(view.coef, dtype=np.float64)
    intercept = np.asarray(view.intercept, dtype=np.float64).reshape(-1)
    starts = np.cumsum([0] + [len(v.vocabulary_) for v in vectorizers])
    has_char = any(v.analyzer != "word" for v in vectorizers)
    out = []
    for i, text in enumerate(texts):
        c = int(targets[i])
        if binary:  # one row of coefficients for class 1; class 0 is its mirror
            sign = 1.0 if c == 1 else -1.0
            weights, base = sign * coef[0], sign * intercept[0]
        else:
            weights, base = coef[c], intercept[c]
        row = features.getrow(i)
        contribution = dict(zip(row.indices.tolist(), (row.data.astype(np.float64) * weights[row.indices]).tolist()))
        occurrences, units, placed = [], None, set()
        for v, vectorizer in enumerate(vectorizers):
            found, spans = _occurrences(vectorizer, text)
            by_feature: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
            vocabulary = vectorizer.vocabulary_
            for gram, s, e in found:
                j = vocabulary.get(gram)
                if j is not None:
                    by_feature[int(starts[v] + j)].append((gram, s, e))
            for j, places in by_feature.items():
                share = contribution.get(j, 0.0) / len(places)
                occurrences.extend(TokenAttribution(gram, s, e, share) for gram, s, e in places)
            if units is None and not has_char:
                units = spans
            placed.update(by_feature)
        unplaced = sum(v for j, v in contribution.items() if j not in placed)
        if unplaced:  # not expected (the analyzers are mirrored exactly); keeps the sum exact anyway
            occurrences.append(TokenAttribution("(unplaced features)", 0, len(text), unplaced))
        if units is None:
            units = [m.span() for m in WORD.finditer(text)]
        words = _spread(text, units, occurrences)
        # The logit in float64 from the model's own float32 features and weights: the model's
        # float32 logits are this value rounded (they agree to ~1e-5).
        score = base + float(np.sum(row.data.astype(np.float64) * weights[row.indices]))
        out.append({"score": score, "base_value": float(base), "tokens": words,
                    "method": "linear", "features": occurrences})
    return out


def _spread(text: str, units: list[tuple[int, int]], occurrences: list[TokenAttribution]) -> list[TokenAttribution]:
    """Word attributions: each occurrence's share split equally between the units it overlaps."""
    units = sorted(set(units))
    totals = [0.0] * len(units)
    ends = [e for _, e in units]
    for occ in occurrences:
        hit = []
        u = bisect.bisect_right(ends, occ.start)  # first unit ending after the occurrence starts
        while u < len(units) and (units[u][0] < occ.end or (occ.end == occ.start and units[u][0] <= occ.start)):
            hit.append(u)
            u += 1
        if not hit:  # cannot happen for the built-in analyzers; keep the sum exact regardless
            hit = list(range(len(units)))
        for u in hit:
            totals[u] += occ.attribution / len(hit)
    return [TokenAttribution(text[s:e], s, e, totals[u]) for u, (s, e) in enumerate(units)]
