"""What a neural model declares (models/base.py `Capabilities`) and the views it hands out: the
Integrated Gradients view (how the ids it reads line up with the text) and the export view.

Everything here reads the model's tokenizer and net from the inside, so that analysis and serving
never have to. `model` below is a models.neural.NeuralModel (not imported: neural.py imports this)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ..errors import ModelError
from ..text.long import LongTextConfig
from .base import Capabilities, ExportView, GradientAttributionView


class NeuralViews:
    """NeuralModel's declarations: capabilities by long-text strategy, the IG and export views."""

    # Under the default config (long_text head); `capabilities()` answers for the model's own config.
    declared_capabilities: ClassVar[Capabilities]

    def capabilities(self) -> Capabilities:
        return neural_capabilities(self.config.long_text)

    def attribution_view(self) -> GradientAttributionView | None:
        return gradient_view(self)

    def export_view(self) -> ExportView | None:
        return export_view(self)


def neural_capabilities(long_text: LongTextConfig, hf_export: bool = False) -> Capabilities:
    """A neural model under its long-text strategy: explain follows truncation (head, tail,
    head_tail) exactly but not windows or retrieval yet; exports read a text's first max_length
    tokens, so only `head` models export. `hf_export`: the model maps onto a Hugging Face classifier."""
    strategy = long_text.strategy
    explainable = not long_text.windowed and strategy != "retrieval"
    formats = frozenset({"onnx", "hf"} if hf_export else {"onnx"}) if strategy == "head" else frozenset()
    return Capabilities(explain="gradient" if explainable else None, export_formats=formats, checkpointing=True,
                        long_text=strategy, soft_targets=True)


def export_view(model, hf_encoder=None, hf_parts=None) -> ExportView | None:
    if model.net is None or model.tokenizer is None:
        return None
    return ExportView(model.net, model.tokenizer, model.max_tokens(), hf_encoder, hf_parts)


def gradient_view(model) -> GradientAttributionView | None:
    """The IG view of a fitted neural model; None when its long-text strategy is not explainable."""
    if model.net is None or model.tokenizer is None or model.capabilities().explain != "gradient":
        return None
    tokenizer = model.tokenizer
    inner = getattr(tokenizer, "subwords", tokenizer)  # NgramTokenizer wraps a SubwordTokenizer
    limit = model.max_tokens()
    budget = None if limit is None else max(limit - int(getattr(tokenizer, "num_specials", 0)), 0)
    long_text = model.config.long_text
    return GradientAttributionView(
        net=model.net, embedding_layer=embedding_layer(model.net), pad_id=int(tokenizer.pad_id),
        device=model.training.device, encode=model.encode,
        content_tokens=lambda text: content_with_offsets(inner, text), content_budget=budget,
        truncation=long_text.strategy, head_tokens=long_text.head_tokens,
        frame=getattr(inner, "add_specials", list), sequence=getattr(tokenizer, "add_specials", list),
        extra_cover=(lambda ids: ngram_cover(tokenizer, ids)) if tokenizer is not inner else (lambda ids: []))


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


def content_with_offsets(tokenizer, text: str) -> tuple[list[int], list[tuple[int, int]], list]:
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


def ngram_cover(tokenizer, ids: Sequence[int]) -> list[tuple[int, ...]]:
    """For text.ngrams.NgramTokenizer: the content tokens under each n-gram id it appends."""
    from ..text.ngrams import ngram_hashes, token_hash

    try:
        max_n, buckets, rows = tokenizer.word_ngrams, tokenizer.buckets, set(tokenizer.rows)
    except AttributeError:
        raise ModelError(f"explain: cannot place the extra ids of {type(tokenizer).__name__}") from None
    places = [tuple(range(p, p + n)) for n in range(2, max_n + 1) for p in range(len(ids) - n + 1)]
    hashes = ngram_hashes([token_hash(i) for i in ids], max_n)
    return [place for place, h in zip(places, hashes) if h % buckets in rows]


NeuralViews.declared_capabilities = neural_capabilities(LongTextConfig())
