"""Classification heads: pooled vector (B, H) -> logits (B, K). Never a softmax: the loss and
the decision rules (objectives.py) take raw logits."""

from __future__ import annotations

import torch
from torch import nn


class LinearHead(nn.Module):
    def __init__(self, dim: int, num_outputs: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(dim, num_outputs)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(pooled))
