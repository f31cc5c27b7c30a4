"""Poolings: hidden states (B, T, H) + mask (B, T) bool -> one vector per text (B, H).

Every pooling ignores masked (padding) positions, so adding padding never changes its output.
A row with no real token at all (not produced by textclf's tokenizers, which always emit [CLS])
pools to zeros instead of NaN.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

PoolingName = Literal["cls", "mean", "max", "attention"]


def _any(mask: torch.Tensor) -> torch.Tensor:
    return mask.any(dim=1, keepdim=True)  # (B, 1)


class ClsPooling(nn.Module):
    """The first position ([CLS] for textclf tokenizers)."""

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return hidden[:, 0] * mask[:, :1].to(hidden.dtype)


class MeanPooling(nn.Module):
    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weights = mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
        total = (hidden * weights).sum(dim=1)
        return total / weights.sum(dim=1).clamp(min=1.0)


class MaxPooling(nn.Module):
    """Masked max over time: padding is set to the lowest value before taking the max."""

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lowest = torch.finfo(hidden.dtype).min
        pooled = hidden.masked_fill(~mask.unsqueeze(-1), lowest).max(dim=1).values
        return torch.where(_any(mask), pooled, torch.zeros_like(pooled))


class AttentionPooling(nn.Module):
    """A learned score per position, masked before the softmax, then a weighted sum."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(hidden).squeeze(-1)  # (B, T)
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=1) * mask.to(scores.dtype)
        return torch.bmm(weights.unsqueeze(1).to(hidden.dtype), hidden).squeeze(1)


def build_pooling(name: PoolingName, dim: int) -> nn.Module:
    if name == "cls":
        return ClsPooling()
    if name == "mean":
        return MeanPooling()
    if name == "max":
        return MaxPooling()
    if name == "attention":
        return AttentionPooling(dim)
    raise ValueError(f"unknown pooling {name!r}")
