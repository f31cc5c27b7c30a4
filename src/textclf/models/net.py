"""NeuralNet: encoder -> pooling -> head, the module every neural model type trains."""

from __future__ import annotations

import torch
from torch import nn


class NeuralNet(nn.Module):
    def __init__(self, encoder: nn.Module, pooling: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.head = head

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """One vector per text, (B, H): useful as an embedding."""
        hidden, mask = self.encoder(input_ids, attention_mask.bool())
        return self.pooling(hidden, mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits (B, K)."""
        return self.head(self.pooled(input_ids, attention_mask))
