"""Encoders trained from scratch. The encoder contract (also met by `pretrained`):

    encoder(input_ids (B, T) int64, attention_mask (B, T) bool) -> (hidden (B, T, H) float, mask (B, T) bool)
    encoder.output_dim == H

Hidden states at padded positions may hold anything; the returned mask says which to ignore, and
every pooling honours it. Each encoder is written so that appending padding to a batch does not
change the hidden states at real positions (tests/test_masks.py checks it for all of them).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class BagEncoder(nn.Module):
    """Token embeddings only: with mean pooling, fastText's model. The ids may include hashed
    n-gram rows (text/ngrams.py appends them after the subword ids); to the encoder every id is
    one embedding row, and padding is masked like any other token's.

    `sparse=True` gives the table row-sparse gradients (only the batch's rows), for an optimizer
    that updates just those rows; the rows then start at fastText's uniform(-1/dim, 1/dim) instead
    of N(0, 1), since such row-wise steps are small next to unit-scale vectors."""

    def __init__(self, vocab_size: int, embedding_dim: int, pad_id: int = 0, dropout: float = 0.0,
                 sparse: bool = False) -> None:
        super().__init__()
        weight = None
        if sparse:  # drawn directly: N(0, 1) first would cost a second pass over a large table
            weight = torch.empty(vocab_size, embedding_dim).uniform_(-1.0 / embedding_dim, 1.0 / embedding_dim)
            weight[pad_id] = 0.0
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id, sparse=sparse, _weight=weight)
        self.dropout = nn.Dropout(dropout)
        self.output_dim = embedding_dim

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        return self.dropout(self.embedding(input_ids)), attention_mask


class RnnEncoder(nn.Module):
    """LSTM or GRU over packed sequences: padding never enters the recurrence, so the backward
    direction of a bidirectional RNN starts at each text's real last token."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, cell: Literal["lstm", "gru"] = "lstm",
                 num_layers: int = 1, bidirectional: bool = True, dropout: float = 0.0, pad_id: int = 0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        rnn_class = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn_class(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                             bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.output_dim = hidden_size * (2 if bidirectional else 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        embedded = self.dropout(self.embedding(input_ids))
        lengths = attention_mask.sum(dim=1).clamp(min=1).cpu()  # pack needs lengths >= 1, on CPU
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.rnn(packed)
        hidden, _ = pad_packed_sequence(output, batch_first=True, total_length=input_ids.shape[1])
        return self.dropout(hidden), attention_mask


class CnnEncoder(nn.Module):
    """1-D convolutions of several widths over the embeddings, concatenated per position.

    Padding embeddings are zeroed first, so a real position next to padding sees exactly what the
    convolution's own zero padding would give: extra padding changes nothing. With max pooling
    this is the classic masked max-over-time CNN."""

    def __init__(self, vocab_size: int, embedding_dim: int, num_filters: int, kernel_sizes: tuple[int, ...],
                 dropout: float = 0.0, pad_id: int = 0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.kernel_sizes = tuple(kernel_sizes)
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, num_filters, k) for k in kernel_sizes)
        self.output_dim = num_filters * len(kernel_sizes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        embedded = self.dropout(self.embedding(input_ids)) * attention_mask.unsqueeze(-1).to(torch.float32)
        channels = embedded.transpose(1, 2)  # (B, E, T)
        # "same" output length; explicit zero padding also handles even widths without a warning.
        outputs = [torch.relu(conv(F.pad(channels, ((k - 1) // 2, k // 2))))
                   for k, conv in zip(self.kernel_sizes, self.convs)]
        hidden = torch.cat(outputs, dim=1).transpose(1, 2)
        # No dropout here: before a max over time it inflates the training-time maxima by
        # 1/(1 - p) relative to inference; the head's dropout regularises the pooled vector.
        return hidden, attention_mask


def sinusoidal_positions(max_positions: int, dim: int) -> torch.Tensor:
    """(max_positions, dim): the fixed sine/cosine table of 'Attention is all you need'."""
    position = torch.arange(max_positions, dtype=torch.float32).unsqueeze(1)
    rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(max_positions, dim)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate[: dim // 2])
    return table


class TransformerEncoder(nn.Module):
    """Pre-LayerNorm transformer encoder; padding is excluded as attention keys."""

    def __init__(self, vocab_size: int, dim: int, num_heads: int, num_layers: int, ff_dim: int,
                 max_positions: int, positions: Literal["learned", "sinusoidal"] = "learned",
                 dropout: float = 0.1, pad_id: int = 0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=pad_id)
        if positions == "learned":
            self.positions = nn.Embedding(max_positions, dim)
        else:
            self.register_buffer("sinusoid", sinusoidal_positions(max_positions, dim), persistent=False)
            self.positions = None
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(dim, num_heads, ff_dim, dropout=dropout, batch_first=True,
                                           norm_first=True, activation="gelu")
        self.layers = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)  # pre-LN stacks need a final norm
        self.output_dim = dim

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        steps = torch.arange(input_ids.shape[1], device=input_ids.device)
        position = self.positions(steps) if self.positions is not None else self.sinusoid[steps]
        x = self.dropout(self.embedding(input_ids) + position)
        x = self.layers(x, src_key_padding_mask=~attention_mask)
        return self.norm(x), attention_mask
