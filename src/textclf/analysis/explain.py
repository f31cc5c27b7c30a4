"""Why this label? Token attributions for single predictions, and the tokens behind mistakes.

>>> explanations = explain(clf, ["a gripping, beautifully shot film"], top_k=10)
>>> explanations[0].top()          # tokens pushing hardest toward the explained label
>>> drivers = mistake_drivers(clf, test_examples, explain(clf, test_examples), flagged=audit.shortcuts)
>>> html = explanations_html(explanations, drivers)   # a self-contained <section>

What is explained is the score the label's probability grows with, read from the model's logits z:

    single-label, 2 classes   log-odds z_c - z_other (logistic regression's one coefficient row,
                              with its sign flipped for the first class)
    single-label, K > 2       the logit z_c (as multinomial logistic regression has it)
    multi-label               the logit z_c (the sigmoid's log-odds)

`label=None` explains the predicted label (multi-label: the most probable predicted label, or
the most probable label when none is predicted).

Methods, and what `base_value` means (always: sum of token attributions + base_value ~ score):

    tfidf         exact. Every feature contributes value x coefficient; base_value is the
                  intercept, and the sum is the logit to float precision. A feature that occurs
                  several times in the text has its contribution split equally between its
                  occurrences; a word n-gram's share is split equally between the words it
                  spans (a char_wb n-gram lies inside one word). `tokens` are therefore words
                  that never overlap, and `features` keep the n-gram occurrences themselves.
    bag, rnn, cnn, transformer, pretrained
                  Integrated Gradients (Captum LayerIntegratedGradients, Gauss-Legendre) on the
                  token embeddings. The baseline is the same sequence with every content token
                  replaced by [PAD]; special tokens ([CLS], [SEP]) stay in place, so they get no
                  attribution. base_value is the score of that baseline. Steps start at `steps`
                  (32) and double, up to `max_steps` (256), while the completeness gap
                  |sum(attr) - (score - base_value)| / max(|score - base_value|, 0.01) is above
                  `tolerance` (5%); each explanation reports its steps and gap. Subword pieces
                  are summed into the tokenizer's words, with character offsets into the text.
                  Tokens the model never saw (cut by `max_length`) get no entry; `truncated`
                  says so. long_text head / tail / head_tail are followed exactly.

Not supported yet (one ModelError line): windowed long_text strategies (sliding_window,
hierarchical), retrieval, and the ensemble / embedding / onnx types. A fitted `auto` model is
explained through the model it selected.
"""

from __future__ import annotations

import bisect
import html
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError, ModelError

COMPLETENESS_TOLERANCE = 0.05  # IG: relative completeness gap accepted before doubling the steps
START_STEPS = 32
MAX_STEPS = 256
_GAP_FLOOR = 1e-2  # logit units: below this the score hardly moved, a relative gap means nothing
_TOKEN_BUDGET = 32768  # IG: (texts x steps x tokens) per forward pass, bounds memory
_WORD = re.compile(r"\S+")


# -- results -----------------------------------------------------------------------------------------
@dataclass
class TokenAttribution:
    """A span of the original text, `text[start:end]`, and its share of the explained score."""

    text: str
    start: int
    end: int
    attribution: float

    def to_dict(self) -> dict:
        return {"text": self.text, "start": self.start, "end": self.end, "attribution": float(self.attribution)}


@dataclass
class Explanation:
    """Why one text got (or did not get) `label`. `tokens` are in text order and never overlap."""

    text: str
    predicted: Any  # the classifier's decision: a label, or a tuple of labels (multi-label)
    label: str  # the label explained
    probability: float  # of `label`, calibrated when the classifier is
    score: float  # the explained logit / log-odds (see the module docstring)
    base_value: float  # intercept (tfidf) or the baseline's score (IG)
    tokens: list[TokenAttribution]
    method: str  # "linear" or "integrated_gradients"
    top_k: int = 10
    completeness_gap: float | None = None  # IG only: relative, see the module docstring
    steps: int | None = None  # IG only
    truncated: bool = False  # the model saw only part of the text
    features: list[TokenAttribution] | None = None  # tfidf only: n-gram occurrences

    def top(self, k: int | None = None) -> list[TokenAttribution]:
        """Up to k tokens with positive attribution (toward `label`), strongest first."""
        ranked = sorted((t for t in self.tokens if t.attribution > 0), key=lambda t: -t.attribution)
        return ranked[: self.top_k if k is None else k]

    def against(self, k: int | None = None) -> list[TokenAttribution]:
        """Up to k tokens with negative attribution (away from `label`), strongest first."""
        ranked = sorted((t for t in self.tokens if t.attribution < 0), key=lambda t: t.attribution)
        return ranked[: self.top_k if k is None else k]

    def to_dict(self) -> dict:
        """JSON-able; `tokens` in full (for highlighting), `top`/`against` cut to `top_k`."""
        out = {
            "text": self.text,
            "predicted": list(self.predicted) if isinstance(self.predicted, tuple) else self.predicted,
            "label": self.label,
            "probability": float(self.probability),
            "score": float(self.score),
            "base_value": float(self.base_value),
            "method": self.method,
            "completeness_gap": None if self.completeness_gap is None else float(self.completeness_gap),
            "steps": self.steps,
            "truncated": self.truncated,
            "top": [t.to_dict() for t in self.top()],
            "against": [t.to_dict() for t in self.against()],
            "tokens": [t.to_dict() for t in self.tokens],
        }
        if self.features is not None:
            ranked = sorted(self.features, key=lambda t: -abs(t.attribution))[: self.top_k]
            out["features"] = [t.to_dict() for t in ranked]
        return out


# -- entry point -------------------------------------------------------------------------------------
def explain(clf, texts, *, label: str | None = None, top_k: int = 10, steps: int = START_STEPS,
            max_steps: int = MAX_STEPS, tolerance: float = COMPLETENESS_TOLERANCE) -> list[Explanation]:
    """One Explanation per text (a list of strings or Examples) for a fitted TextClassifier.

    `label`: explain this label for every text instead of each text's prediction."""
    from ..classifier import as_texts

    texts = as_texts(texts)
    if top_k < 1:
        raise DataError(f"top_k must be at least 1, got {top_k}")
    if steps < 1 or max_steps < steps:
        raise DataError(f"IG steps: need 1 <= steps ({steps}) <= max_steps ({max_steps})")
    model = _explainable(clf)
    label_map = clf.label_map
    if label is not None and label not in label_map.index:
        raise DataError(f"--label {label!r} is not one of the model's labels: {', '.join(label_map.labels)}")
    if not texts:
        return []
    probs = clf.predict_proba(texts)
    decisions = clf.decide(probs)
    predicted = clf.labels_from_decisions(decisions)
    targets = _targets(label, label_map, probs, decisions)
    binary = not label_map.multi_label and len(label_map) == 2
    common = [dict(text=t, predicted=p, label=label_map.labels[c], probability=float(probs[i, c]), top_k=top_k)
              for i, (t, p, c) in enumerate(zip(texts, predicted, targets))]
    if _is_linear(model):
        parts = _linear_explanations(model, texts, targets, binary)
    else:
        parts = _ig_explanations(model, texts, targets, binary, steps, max_steps, tolerance)
    return [Explanation(**c, **p) for c, p in zip(common, parts)]


def _model_type(model) -> str:
    return str(getattr(getattr(model, "config", None), "type", type(model).__name__))


def _explainable(clf):
    """The fitted model to explain, or one ModelError line saying why it cannot be."""
    model = getattr(clf, "model", None)
    if model is None or getattr(clf, "label_map", None) is None:
        raise ModelError("this TextClassifier is not fitted: call fit() or textclf.load()")
    chosen = model.selected() if hasattr(model, "selected") else None
    if chosen is not None:  # `auto`, freshly fitted: explain what it picked
        model = chosen[1]
    if _is_linear(model):
        return model
    kind = _model_type(model)
    net = getattr(model, "net", None)
    if net is None or getattr(model, "tokenizer", None) is None or not hasattr(net, "encoder"):
        raise ModelError(f"explain does not support model type {kind!r} yet")
    long_text = getattr(model.config, "long_text", None)
    if long_text is not None and (long_text.windowed or long_text.strategy == "retrieval"):
        raise ModelError(f"explain does not support model.long_text.strategy {long_text.strategy!r} yet "
                         "(only head, tail and head_tail)")
    return model


def _is_linear(model) -> bool:
    return hasattr(model, "vectorizers") and getattr(model, "coef", None) is not None


def _targets(label, label_map, probs: np.ndarray, decisions: np.ndarray) -> np.ndarray:
    """Class id explained per row."""
    n = probs.shape[0]
    if label is not None:
        return np.full(n, label_map.index[label], dtype=np.int64)
    if not label_map.multi_label:
        return np.asarray(decisions, dtype=np.int64).reshape(n)
    # Multi-label: the most probable predicted label, else the most probable label.
    masked = np.where(np.asarray(decisions) > 0, probs, -1.0)
    return np.where(masked.max(axis=1) >= 0, masked.argmax(axis=1), probs.argmax(axis=1)).astype(np.int64)


def _explained_scores(logits, binary: bool):
    """(n, K) torch scores whose column c is what explaining class c means."""
    if binary:
        return logits - logits.flip(-1)
    return logits


# -- TF-IDF: exact contributions ---------------------------------------------------------------------
def _preprocessed(vectorizer, text: str) -> tuple[str, list[int] | None]:
    """The vectorizer's preprocessed text and, per character of it, its index in `text` (None:
    the same positions)."""
    preprocess = vectorizer.build_preprocessor()
    whole = preprocess(text)
    if len(whole) == len(text) and not getattr(vectorizer, "strip_accents", None):
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
    for m in _WORD.finditer(processed):
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


def _linear_explanations(model, texts: list[str], targets: np.ndarray, binary: bool) -> list[dict]:
    import scipy.sparse as sp

    vectorizers = model.vectorizers
    features = sp.hstack([v.transform(texts) for v in vectorizers], format="csr")
    coef = np.asarray(model.coef, dtype=np.float64)
    intercept = np.asarray(model.intercept, dtype=np.float64).reshape(-1)
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
            units = [m.span() for m in _WORD.finditer(text)]
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


# -- neural models: Integrated Gradients ---------------------------------------------------------
def embedding_layer(net):
    """The token-embedding module IG attributes to: `encoder.input_embeddings()` where an encoder
    offers it, else `encoder.embedding` (models trained from scratch), else the Hugging Face
    model's `get_input_embeddings()` (pretrained)."""
    from torch import nn

    encoder = getattr(net, "encoder", None)
    accessor = getattr(encoder, "input_embeddings", None)
    if callable(accessor):
        return accessor()
    if isinstance(getattr(encoder, "embedding", None), nn.Embedding):
        return encoder.embedding
    inner = getattr(encoder, "model", None)
    if inner is not None and hasattr(inner, "get_input_embeddings"):
        return inner.get_input_embeddings()
    raise ModelError(f"explain: cannot find the token embedding layer of {type(encoder).__name__}")


@dataclass
class _Aligned:
    ids: list[int]  # what the model reads, specials included
    content: list[int]  # position in `ids` of each content token
    words: list[tuple[int, int]]  # per content token: (start, end) of its word in the text
    truncated: bool


def _content_with_offsets(tokenizer, text: str) -> tuple[list[int], list[tuple[int, int]], list]:
    """(ids, character offsets, word ids) of the text's content tokens (no specials, untruncated)."""
    offsets_of = getattr(tokenizer, "content_offsets", None)  # an accessor a tokenizer may offer
    if callable(offsets_of):
        return offsets_of(text)
    hf = getattr(tokenizer, "hf_tokenizer", None)  # PretrainedTokenizer: a transformers fast tokenizer
    if hf is not None:
        encoded = hf(text, add_special_tokens=False, truncation=False, return_offsets_mapping=True,
                     return_attention_mask=False, return_token_type_ids=False)
        return list(encoded["input_ids"]), [tuple(o) for o in encoded["offset_mapping"]], encoded.word_ids()
    raw = getattr(tokenizer, "_tokenizer", None)  # SubwordTokenizer: a `tokenizers.Tokenizer`
    if raw is not None and hasattr(raw, "encode"):
        encoding = raw.encode(text, add_special_tokens=False)
        return list(encoding.ids), [tuple(o) for o in encoding.offsets], list(encoding.word_ids)
    raise ModelError(f"explain: {type(tokenizer).__name__} gives no character offsets")


def _align(model, text: str) -> _Aligned:
    """The ids the model reads for `text` and where each content token comes from."""
    from ..text.long import truncate

    tokenizer = model.tokenizer
    sequence = list(model.encode([text])[0])
    ids, offsets, word_ids = _content_with_offsets(tokenizer, text)
    add = getattr(tokenizer, "add_specials", None)
    frame = add([-1]) if add is not None else [-1]
    prefix = frame.index(-1)
    budget = len(sequence) - (len(frame) - 1)
    long_text = getattr(model.config, "long_text", None)
    strategy = long_text.strategy if long_text is not None else "head"
    head_tokens = long_text.head_tokens if long_text is not None else 0
    kept = truncate(list(range(len(ids))), max(budget, 0), strategy, head_tokens)
    rebuilt = add([ids[k] for k in kept]) if add is not None else [ids[k] for k in kept]
    if rebuilt != sequence:
        raise ModelError(f"explain: cannot align {_model_type(model)!r} tokens with the text (tokenizer mismatch)")
    spans: dict[Any, list[int]] = {}
    for k in range(len(ids)):  # word extent from all its pieces, seen or not
        key = ("w", word_ids[k]) if word_ids[k] is not None else ("t", k)
        span = spans.setdefault(key, [offsets[k][0], offsets[k][1]])
        span[0], span[1] = min(span[0], offsets[k][0]), max(span[1], offsets[k][1])
    words = []
    for k in kept:
        key = ("w", word_ids[k]) if word_ids[k] is not None else ("t", k)
        words.append(tuple(spans[key]))
    return _Aligned(sequence, [prefix + i for i in range(len(kept))], words, len(kept) < len(ids))


def _ig_explanations(model, texts: list[str], targets: np.ndarray, binary: bool, steps: int, max_steps: int,
                     tolerance: float) -> list[dict]:
    import torch
    from captum.attr import LayerIntegratedGradients

    from ..training.trainer import resolve_device

    net = model.net
    device = resolve_device(model.training.device)
    pad_id = int(model.tokenizer.pad_id)
    layer = embedding_layer(net)
    aligned = [_align(model, t) for t in texts]
    was_training = net.training
    net.to(device).eval()

    def forward(input_ids, attention_mask):
        return _explained_scores(net(input_ids, attention_mask).float(), binary)

    ig = LayerIntegratedGradients(forward, layer)
    results: list[dict | None] = [None] * len(texts)
    pending = list(range(len(texts)))
    current = steps
    try:
        while pending:
            redo = []
            for batch in _ig_batches(pending, aligned, current):
                width = max(1, max(len(aligned[i].ids) for i in batch))
                ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.bool)
                for b, i in enumerate(batch):
                    seq = aligned[i].ids
                    ids[b, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
                    mask[b, : len(seq)] = True
                baseline = ids.clone()
                for b, i in enumerate(batch):
                    baseline[b, aligned[i].content] = pad_id
                ids, mask, baseline = ids.to(device), mask.to(device), baseline.to(device)
                target = torch.as_tensor(targets[batch], dtype=torch.long, device=device)
                rows = max(1, _TOKEN_BUDGET // width)
                with _no_cudnn(device):
                    attributions = ig.attribute(ids, baselines=baseline, additional_forward_args=(mask,),
                                                target=target, n_steps=current, method="gausslegendre",
                                                internal_batch_size=max(rows, len(batch)))
                    with torch.no_grad():
                        score = forward(ids, mask).gather(1, target[:, None])[:, 0]
                        base = forward(baseline, mask).gather(1, target[:, None])[:, 0]
                per_token = attributions.float().sum(dim=-1).detach().cpu().numpy().astype(np.float64)
                score, base = score.cpu().numpy().astype(np.float64), base.cpu().numpy().astype(np.float64)
                for b, i in enumerate(batch):
                    total = float(per_token[b, : len(aligned[i].ids)].sum())
                    moved = float(score[b] - base[b])
                    gap = abs(total - moved) / max(abs(moved), _GAP_FLOOR)
                    results[i] = {"score": float(score[b]), "base_value": float(base[b]),
                                  "tokens": _merge(texts[i], aligned[i], per_token[b]),
                                  "method": "integrated_gradients", "completeness_gap": gap, "steps": current,
                                  "truncated": aligned[i].truncated}
                    if gap > tolerance and current * 2 <= max_steps:
                        redo.append(i)
            pending, current = redo, current * 2
    finally:
        net.train(was_training)
    return results


def _ig_batches(indices: list[int], aligned: list[_Aligned], steps: int) -> Iterable[list[int]]:
    """Texts of similar length together, at most _TOKEN_BUDGET tokens x steps per batch."""
    ordered = sorted(indices, key=lambda i: len(aligned[i].ids))
    batch: list[int] = []
    for i in ordered:
        width = max(1, len(aligned[i].ids))
        if batch and (len(batch) + 1) * steps * width > _TOKEN_BUDGET:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def _no_cudnn(device):
    """cuDNN RNNs refuse backward in eval mode; IG needs gradients through them."""
    import contextlib

    import torch

    if device.type == "cuda":
        return torch.backends.cudnn.flags(enabled=False)
    return contextlib.nullcontext()


def _merge(text: str, aligned: _Aligned, per_token: np.ndarray) -> list[TokenAttribution]:
    """Subword attributions summed per word, in text order."""
    totals: dict[tuple[int, int], float] = {}
    for position, span in zip(aligned.content, aligned.words):
        totals[span] = totals.get(span, 0.0) + float(per_token[position])
    return [TokenAttribution(text[s:e], s, e, a) for (s, e), a in sorted(totals.items())]


# -- which tokens drive mistakes ------------------------------------------------------------------
@dataclass
class MistakeDrivers:
    """Tokens found most often among the top-k attributions toward a wrong label, over the
    confident mistakes of a test set. `rows`: dicts, most frequent first (see `mistake_drivers`)."""

    rows: list[dict]
    mistakes: int  # explained rows whose explained label is wrong
    confident_mistakes: int
    confident: float
    top_k: int
    flagged_tokens: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"mistakes": self.mistakes, "confident_mistakes": self.confident_mistakes,
                "confident": self.confident, "top_k": self.top_k, "flagged_tokens": self.flagged_tokens,
                "rows": self.rows}

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)


def _flagged_set(flagged) -> set[str]:
    """Normalised tokens from a set of strings, ShortcutToken results, or an audit result."""
    from ..audit.normalize import normalize_text

    if flagged is None:
        return set()
    if hasattr(flagged, "shortcuts"):  # an AuditResult
        flagged = flagged.shortcuts or []
    out = set()
    for item in flagged:
        token = getattr(item, "token", item)
        norm = normalize_text(str(token))
        if norm:
            out.add(norm)
    return out


def mistake_drivers(clf, examples, explanations: Sequence[Explanation] | None = None, *, top_k: int = 5,
                    confident: float = 0.8, flagged=None, limit: int = 25) -> MistakeDrivers:
    """Tokens that most often push confident mistakes toward their wrong label.

    `explanations` are those of `examples` (same order, each explaining its predicted label, as
    `explain(clf, examples)` gives); None explains the confident mistakes here. A mistake is an
    explained label the gold labels do not contain; it is confident when its probability is at
    least `confident`. Per token (normalised: case, punctuation), over confident mistakes: how
    many have it among the top-k attributions toward the wrong label, that share, its mean
    attribution there, the wrong labels, and up to 3 example rows. `flagged`: tokens the audit's
    shortcut check found (strings, audit ShortcutToken results, or the AuditResult), marked in
    the `shortcut` column. Ranked by count, then mean attribution."""
    from ..audit.normalize import normalize_text

    if getattr(examples, "labels", None) is None:
        raise DataError("mistake_drivers needs labelled examples")
    gold = examples.labels
    if explanations is None:
        probs = clf.predict_proba(examples.texts)
        predicted = clf.labels_from_decisions(clf.decide(probs))
        index = clf.label_map.index
        chosen = []
        for i, (g, p) in enumerate(zip(gold, predicted)):
            if not clf.multi_label and p != g and probs[i, index[p]] >= confident:
                chosen.append(i)
            elif clf.multi_label and any(x not in g and probs[i, index[x]] >= confident for x in p):
                chosen.append(i)
        found = explain(clf, [examples.texts[i] for i in chosen], top_k=top_k) if chosen else []
        pairs = list(zip(chosen, found))
    else:
        if len(explanations) != len(examples):
            raise DataError(f"mistake_drivers: {len(explanations)} explanations for {len(examples)} examples")
        pairs = list(enumerate(explanations))
    marked = _flagged_set(flagged)
    rows = getattr(examples, "rows", None) or list(range(1, len(examples) + 1))
    mistakes = confident_mistakes = 0
    counts: Counter = Counter()
    attribution_sum: dict[str, float] = defaultdict(float)
    wrong_labels: dict[str, Counter] = defaultdict(Counter)
    example_rows: dict[str, list[int]] = defaultdict(list)
    for i, e in pairs:
        g = gold[i]
        wrong = e.label not in g if isinstance(g, tuple) else e.label != g
        if not wrong:
            continue
        mistakes += 1
        if e.probability < confident:
            continue
        confident_mistakes += 1
        per_token: dict[str, float] = defaultdict(float)
        for t in e.top(top_k):
            key = normalize_text(t.text)
            if key:
                per_token[key] += t.attribution
        for key, value in per_token.items():
            counts[key] += 1
            attribution_sum[key] += value
            wrong_labels[key][e.label] += 1
            if len(example_rows[key]) < 3:
                example_rows[key].append(int(rows[i]))
    ranked = sorted(counts, key=lambda k: (-counts[k], -attribution_sum[k] / counts[k], k))[:limit]
    table = [{"token": k, "mistakes": counts[k], "share": counts[k] / max(confident_mistakes, 1),
              "mean_attribution": attribution_sum[k] / counts[k],
              "wrong_labels": dict(wrong_labels[k].most_common()), "shortcut": k in marked,
              "example_rows": example_rows[k]} for k in ranked]
    return MistakeDrivers(table, mistakes, confident_mistakes, confident, top_k, sorted(marked))


# -- HTML ------------------------------------------------------------------------------------------
# Diverging blue / orange (safe for the common colour-vision deficiencies), mixed with white at
# most _MAX_MIX so black text keeps a contrast ratio above 7:1 on every shade. The sign is also
# shown without colour: a solid underline toward the label, a dashed one against it.
_TOWARD = (33, 102, 172)
_AWAY = (230, 97, 1)
_MAX_MIX = 0.6

_STYLE = """
.textclf-explain .tx-text{line-height:1.9;color:#111;background:#fff;padding:.4em .6em;border:1px solid #ccc}
.textclf-explain .tx-tok{padding:.1em .15em;border-radius:3px}
.textclf-explain .tx-pos{border-bottom:2px solid #2166ac}
.textclf-explain .tx-neg{border-bottom:2px dashed #b35806}
.textclf-explain .tx-legend span{display:inline-block;margin-right:1em;padding:.1em .4em;color:#111}
.textclf-explain table{border-collapse:collapse;margin:.5em 0}
.textclf-explain th,.textclf-explain td{border:1px solid #ccc;padding:.2em .5em;text-align:left}
"""


def _shade(value: float, scale: float) -> str:
    color = _TOWARD if value >= 0 else _AWAY
    mix = _MAX_MIX * min(1.0, abs(value) / scale) if scale > 0 else 0.0
    r, g, b = (round(255 * (1 - mix) + c * mix) for c in color)
    return f"#{r:02x}{g:02x}{b:02x}"


def _highlighted(e: Explanation) -> str:
    esc = html.escape
    scale = max((abs(t.attribution) for t in e.tokens), default=0.0)
    parts, at = [], 0
    for t in sorted(e.tokens, key=lambda t: t.start):
        if t.start < at:  # never overlap (guard for foreign token lists)
            continue
        parts.append(esc(e.text[at:t.start]))
        kind = "tx-pos" if t.attribution > 0 else "tx-neg" if t.attribution < 0 else ""
        parts.append(f'<span class="tx-tok {kind}" style="background:{_shade(t.attribution, scale)}" '
                     f'title="{t.attribution:+.4f}">{esc(e.text[t.start:t.end])}</span>')
        at = t.end
    parts.append(esc(e.text[at:]))
    return "".join(parts)


def _legend() -> str:
    return ('<p class="tx-legend">'
            f'<span class="tx-pos" style="background:{_shade(1, 1)}">toward the explained label</span>'
            f'<span class="tx-neg" style="background:{_shade(-1, 1)}">against it</span>'
            f'<span>shade: share of the largest attribution in that text; hover for the value</span></p>')


def drivers_html(drivers: MistakeDrivers) -> str:
    esc = html.escape
    head = "".join(f"<th>{h}</th>" for h in ("token", "mistakes", "share", "mean attribution", "wrong label(s)",
                                              "audit shortcut", "example rows"))
    body = "".join(
        f"<tr><td>{esc(r['token'])}</td><td>{r['mistakes']}</td><td>{r['share']:.0%}</td>"
        f"<td>{r['mean_attribution']:+.3f}</td>"
        f"<td>{esc(', '.join(f'{k} ({v})' for k, v in r['wrong_labels'].items()))}</td>"
        f"<td>{'yes' if r['shortcut'] else ''}</td><td>{esc(', '.join(map(str, r['example_rows'])))}</td></tr>"
        for r in drivers.rows)
    return (f"<h3>Tokens behind confident mistakes</h3><p>{drivers.confident_mistakes} of {drivers.mistakes} "
            f"mistakes are confident (p &ge; {drivers.confident}); a token counts when it is among the top "
            f"{drivers.top_k} attributions toward the wrong label.</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def explanations_html(explanations: Sequence[Explanation], drivers: MistakeDrivers | None = None, *,
                      limit: int = 50, title: str = "Why this label?") -> str:
    """A self-contained HTML fragment (one <section> with its own <style>, no external assets):
    each text with its tokens shaded by attribution, then the mistake drivers table."""
    esc = html.escape
    parts = [f'<section class="textclf-explain"><style>{_STYLE}</style><h2>{esc(title)}</h2>', _legend()]
    for e in list(explanations)[:limit]:
        predicted = ", ".join(e.predicted) if isinstance(e.predicted, tuple) else str(e.predicted)
        detail = f"{e.method.replace('_', ' ')}"
        if e.completeness_gap is not None:
            detail += f", {e.steps} steps, completeness gap {e.completeness_gap:.1%}"
        if e.truncated:
            detail += ", text truncated: only the part the model read is shaded"
        top = ", ".join(f"{esc(t.text)} ({t.attribution:+.3f})" for t in e.top())
        parts.append(
            f"<article><h4>explained: {esc(e.label)} (p = {e.probability:.3f}, score {e.score:+.3f}, "
            f"base {e.base_value:+.3f}); predicted: {esc(predicted)}</h4>"
            f'<div class="tx-text">{_highlighted(e)}</div>'
            f"<p>top tokens: {top or 'none'}. <small>{esc(detail)}</small></p></article>")
    if len(explanations) > limit:
        parts.append(f"<p>{len(explanations) - limit} more explanations not shown.</p>")
    if drivers is not None:
        parts.append(drivers_html(drivers))
    parts.append("</section>")
    return "\n".join(parts)


__all__ = ["Explanation", "MistakeDrivers", "TokenAttribution", "drivers_html", "embedding_layer", "explain",
           "explanations_html", "mistake_drivers"]
