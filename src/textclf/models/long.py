"""Long documents inside every neural model type (`model.long_text`, see text/long.py).

Encoding (`encode_documents`): the tokenizer gives untruncated content ids, text/long.py decides
which of them the model sees, and the tokenizer's specials are added last, per window:

    head | tail | head_tail   one sequence per document: specials + truncate(content)
    retrieval                 the top-k BM25 passages of the text, then head truncation
    sliding_window            a list of windows per document (each with its own specials)
    hierarchical              the same windows

The network (`DocumentNet`) is the plain `NeuralNet` (same encoder, pooling and head, same
parameter names) plus a masked pooling over the window axis. It takes (B, T) batches exactly like
`NeuralNet`, or (B, C, T) batches of documents made of C windows (`pad_documents`); the real
windows of the whole batch go through the encoder in one (N, T) pass, and padding windows never
reach it:

    sliding_window + mean/max   window logits -> masked mean / max over windows; trained on the
                                windows themselves, each labelled with its document's label
    attention, hierarchical     window vectors -> masked mean / max / attention over windows ->
                                head; trained end to end on whole documents

A document that fits in one window is one window, so it gets exactly the plain model's logits.
`LongEncoding.report()` says how much of the documents the model saw (the fit summary carries it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data.batching import pad_batch
from ..data.padding import pad_ids
from ..errors import ConfigError, ModelError
from ..text.long import (
    LongTextConfig, covered_tokens, query_terms, retrieve_passages, split_windows, truncate, window_spans,
)
from .net import NeuralNet
from .pooling import build_pooling


# -- which tokens the model sees ---------------------------------------------------------------------
@dataclass
class LongEncoding:
    """What a model gets for n documents, and how much of each it is."""

    sequences: list  # per document: ids (list[int]) or, windowed, windows (list[list[int]])
    content_tokens: np.ndarray  # (n,) content tokens (no specials) in the whole document
    seen_tokens: np.ndarray  # (n,) distinct content tokens the model sees
    strategy: str = "head"

    def seen_share(self) -> np.ndarray:
        """(n,) share of each document's content tokens the model sees (1.0 for empty texts)."""
        content = self.content_tokens.astype(np.float64)
        return np.where(content > 0, self.seen_tokens / np.maximum(content, 1.0), 1.0)

    def report(self) -> dict:
        """JSON-able coverage: share of documents truncated, share of content tokens seen."""
        n = len(self.content_tokens)
        if n == 0:
            return {"strategy": self.strategy, "documents": 0}
        share = self.seen_share()
        out = {
            "strategy": self.strategy,
            "documents": n,
            "truncated_share": float(np.mean(self.seen_tokens < self.content_tokens)),
            "seen_share_mean": float(share.mean()),
            "seen_share_median": float(np.median(share)),
            "content_tokens_mean": float(self.content_tokens.mean()),
            "content_tokens_median": float(np.median(self.content_tokens)),
            "content_tokens_max": int(self.content_tokens.max()),
        }
        if self.sequences and self.sequences[0] and isinstance(self.sequences[0][0], list):
            out["windows_mean"] = float(np.mean([len(doc) for doc in self.sequences]))
        return out


def window_size(tokenizer, config: LongTextConfig, max_length: int) -> tuple[int, int]:
    """(window, stride) in content tokens; a window plus its specials must fit in max_length."""
    budget = max_length - tokenizer.num_specials
    window = config.window or budget
    if window > budget:
        raise ConfigError(f"model.long_text.window: {window} content tokens + {tokenizer.num_specials} special "
                          f"tokens exceed model.max_length ({max_length})")
    stride = config.stride or max(1, window // 2)
    if stride > window:
        raise ConfigError(f"model.long_text.stride ({stride}) larger than window ({window}) would skip tokens")
    return window, stride


def encode_documents(tokenizer, texts: Sequence[str], config: LongTextConfig, max_length: int,
                     labels: Sequence[str] = (), content: list | None = None) -> LongEncoding:
    """Token ids the model sees for each text under `config` (see the module docstring).
    `content`: `tokenizer.encode_content(texts)` when the caller already has it."""
    texts = list(texts)
    if not hasattr(tokenizer, "encode_content"):
        if config.strategy != "head":
            raise ConfigError(f"model.long_text.strategy {config.strategy!r}: this tokenizer cannot "
                              "give untruncated content ids (encode_content)")
        sequences = tokenizer.encode(texts, max_length)  # coverage unknown: count what is there
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        return LongEncoding(sequences, lengths, lengths, config.strategy)
    if content is None:
        content = tokenizer.encode_content(texts)
    lengths = np.array([len(ids) for ids in content], dtype=np.int64)
    budget = max_length - tokenizer.num_specials
    if config.windowed:
        window, stride = window_size(tokenizer, config, max_length)
        spans = [window_spans(len(ids), window, stride, config.max_windows) for ids in content]
        flat = with_specials(tokenizer, [ids[s:e] for ids, doc in zip(content, spans) for s, e in doc])
        ends = np.cumsum([len(doc) for doc in spans])
        docs = [flat[end - len(doc):end] for doc, end in zip(spans, ends)]
        seen = np.array([covered_tokens(doc) for doc in spans], dtype=np.int64)
        return LongEncoding(docs, lengths, seen, config.strategy)
    if config.strategy == "retrieval":
        terms = query_terms(labels, config.query)
        kept = [retrieve_passages(t, terms, config.top_k, config.passage_words) for t in texts]
        content = tokenizer.encode_content(kept)
        strategy = "head"
    else:
        strategy = config.strategy
    sequences = with_specials(tokenizer, [truncate(ids, budget, strategy, config.head_tokens) for ids in content])
    seen = np.minimum([len(ids) for ids in content], budget).astype(np.int64)
    return LongEncoding(sequences, lengths, np.minimum(seen, lengths), config.strategy)


def with_specials(tokenizer, contents: list) -> list:
    """The model's sequence for each content sequence; in one call where the tokenizer can
    (the n-gram bag hashes all its n-grams in one vectorised pass)."""
    if hasattr(tokenizer, "add_specials_batch"):
        return tokenizer.add_specials_batch(contents)
    return [tokenizer.add_specials(ids) for ids in contents]


def training_rows(sequences: list, targets: np.ndarray, weights: np.ndarray | None,
                  config: LongTextConfig) -> tuple[list, np.ndarray, np.ndarray | None]:
    """Rows to train on: per-window training expands each document into its windows, each
    carrying the document's target (and sample weight); otherwise the documents as they are."""
    if not config.per_window_training:
        return sequences, targets, weights
    owner = np.repeat(np.arange(len(sequences)), [len(doc) for doc in sequences])
    flat = [window for doc in sequences for window in doc]
    return flat, targets[owner], (weights[owner] if weights is not None else None)


def pad_documents(rows: list, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate for the trainer: token id lists -> (B, T) as pad_batch does; documents of windows
    -> input_ids (B, C, T) int64 and attention_mask (B, C, T) bool. A padding window is all False."""
    if not rows or not rows[0] or not isinstance(rows[0][0], (list, tuple)):
        return pad_batch(rows, pad_id)
    counts = [len(doc) for doc in rows]
    windows, window_mask = pad_ids([window for doc in rows for window in doc], pad_id)  # (N, T)
    input_ids = np.full((len(rows), max(counts), windows.shape[1]), pad_id, dtype=np.int64)
    mask = np.zeros(input_ids.shape, dtype=bool)
    doc = np.repeat(np.arange(len(rows)), counts)
    chunk = np.concatenate([np.arange(n) for n in counts])
    input_ids[doc, chunk], mask[doc, chunk] = windows, window_mask
    return torch.from_numpy(input_ids), torch.from_numpy(mask)


# -- the network -------------------------------------------------------------------------------------
class DocumentNet(NeuralNet):
    """NeuralNet over documents of windows: (B, C, T) -> logits (B, K); (B, T) as NeuralNet."""

    def __init__(self, encoder: nn.Module, pooling: nn.Module, head: nn.Module, aggregation: str,
                 per_window_logits: bool, num_outputs: int) -> None:
        super().__init__(encoder, pooling, head)
        self.per_window_logits = per_window_logits
        # The poolings of models/pooling.py, over the window axis instead of the token axis.
        self.window_pooling = build_pooling(aggregation, num_outputs if per_window_logits else encoder.output_dim)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if input_ids.dim() == 2:
            return super().forward(input_ids, attention_mask)
        mask = attention_mask.bool()
        windows = mask.any(dim=-1)  # (B, C): real windows
        width = int(mask.any(dim=(0, 1)).nonzero().max()) + 1 if mask.any() else 1
        pooled = self.pooled(input_ids[windows][:, :width], mask[windows][:, :width])  # (N, H)
        if self.per_window_logits:
            return self.window_pooling(_scatter(self.head(pooled), windows), windows)
        return self.head(self.window_pooling(_scatter(pooled, windows), windows))


def _scatter(values: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
    """(N, D) rows of the real windows -> (B, C, D), zeros at padding windows."""
    out = values.new_zeros((*windows.shape, values.shape[-1]))
    out[windows] = values
    return out


def long_text_net(net: NeuralNet, config: LongTextConfig, num_outputs: int) -> NeuralNet:
    """`net` itself unless the strategy is windowed; then a DocumentNet sharing its modules."""
    if not config.windowed:
        return net
    return DocumentNet(net.encoder, net.pooling, net.head, config.pooling, config.per_window_training, num_outputs)


def refuse_export(model, export_format: str) -> None:
    """Exports read a text's first max_length tokens; refuse models that see documents otherwise."""
    long_text = getattr(getattr(model, "config", None), "long_text", None)
    if long_text is not None and long_text.strategy != "head":
        raise ModelError(f"export --format {export_format}: model.long_text.strategy {long_text.strategy!r} is "
                         "not exportable (exports truncate to the head); serve the saved model instead")


def coverage(clf, texts: Sequence[str]) -> tuple[dict, np.ndarray] | None:
    """For an evaluation report or error analysis: (summary, per-text share of content tokens the
    classifier's model sees), or None for models that read whole texts (TF-IDF)."""
    model = getattr(clf, "model", clf)
    if not hasattr(model, "encode_long"):
        return None
    encoded = model.encode_long(list(texts))
    return encoded.report(), encoded.seen_share()
