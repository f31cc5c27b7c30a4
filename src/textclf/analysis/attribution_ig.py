"""Integrated Gradients on the input embeddings of neural models (Captum), with subword
attributions merged back into words of the original text (see analysis/explain.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelError
from .attributions import TokenAttribution, explained_scores, model_type

_GAP_FLOOR = 0.1  # logit units: a score that moved less than this is judged on an absolute gap
_TOKEN_BUDGET = 32768  # IG: (texts x steps x tokens) per forward pass, bounds memory


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
    cover: list[tuple[int, ...]]  # per position of `ids`: the content tokens it stands for (specials: none)
    words: list[tuple[int, int]]  # per content token the model sees: (start, end) of its word in the text
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


def _ngram_cover(tokenizer, ids: list[int]) -> list[tuple[int, ...]]:
    """For text.ngrams.NgramTokenizer: the content tokens under each n-gram id it appends."""
    from ..text.ngrams import ngram_hashes, token_hash

    try:
        max_n, buckets, rows = tokenizer.word_ngrams, tokenizer.buckets, set(tokenizer.rows)
    except AttributeError:
        raise ModelError(f"explain: cannot place the extra ids of {type(tokenizer).__name__}") from None
    places = [tuple(range(p, p + n)) for n in range(2, max_n + 1) for p in range(len(ids) - n + 1)]
    hashes = ngram_hashes([token_hash(i) for i in ids], max_n)
    return [place for place, h in zip(places, hashes) if h % buckets in rows]


def _max_tokens(model) -> int | None:
    if hasattr(model, "max_tokens"):
        return model.max_tokens()
    return getattr(model.config, "max_length", None) or getattr(model.training, "max_length", None)


def _align(model, text: str) -> _Aligned:
    """The ids the model reads for `text` and which content tokens each position stands for."""
    from ..text.long import truncate

    tokenizer = model.tokenizer
    inner = getattr(tokenizer, "subwords", tokenizer)  # NgramTokenizer wraps a SubwordTokenizer
    sequence = list(model.encode([text])[0])
    ids, offsets, word_ids = _content_with_offsets(inner, text)
    long_text = getattr(model.config, "long_text", None)
    strategy = long_text.strategy if long_text is not None else "head"
    head_tokens = long_text.head_tokens if long_text is not None else 0
    limit = _max_tokens(model)
    budget = len(ids) if limit is None else max(limit - int(getattr(tokenizer, "num_specials", 0)), 0)
    kept = truncate(list(range(len(ids))), budget, strategy, head_tokens)
    kept_ids = [ids[k] for k in kept]
    add_inner = getattr(inner, "add_specials", lambda x: list(x))
    frame = add_inner([-1])
    prefix = frame.index(-1)
    cover = [()] * prefix + [(j,) for j in range(len(kept))] + [()] * (len(frame) - 1 - prefix)
    if tokenizer is not inner:
        cover += _ngram_cover(tokenizer, kept_ids)
    rebuilt = getattr(tokenizer, "add_specials", lambda x: list(x))(kept_ids)
    if rebuilt != sequence or len(cover) != len(sequence):
        raise ModelError(f"explain: cannot align the tokens of model type {model_type(model)!r} with the text")
    extent: dict[Any, list[int]] = {}
    for k in range(len(ids)):  # a word's extent from all its pieces, seen or not
        key = ("w", word_ids[k]) if word_ids[k] is not None else ("t", k)
        span = extent.setdefault(key, [offsets[k][0], offsets[k][1]])
        span[0], span[1] = min(span[0], offsets[k][0]), max(span[1], offsets[k][1])
    words = [tuple(extent[("w", word_ids[k]) if word_ids[k] is not None else ("t", k)]) for k in kept]
    return _Aligned(sequence, cover, words, len(kept) < len(ids))


def ig_explanations(model, texts: list[str], targets: np.ndarray, binary: bool, steps: int, max_steps: int,
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
        return explained_scores(net(input_ids, attention_mask).float(), binary)

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
                    content = [p for p, c in enumerate(aligned[i].cover) if c]
                    baseline[b, content] = pad_id
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
    """Position attributions summed per word (a position standing for several tokens, e.g. an
    n-gram id, is split equally between them), in text order."""
    totals: dict[tuple[int, int], float] = {span: 0.0 for span in aligned.words}
    for position, tokens in enumerate(aligned.cover):
        for k in tokens:
            totals[aligned.words[k]] += float(per_token[position]) / len(tokens)
    return [TokenAttribution(text[s:e], s, e, a) for (s, e), a in sorted(totals.items())]
