"""NeuralNet: encoder -> pooling -> head, the module every neural model type trains."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


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


class MeanBagNet(NeuralNet):
    """The bag with mean pooling and no token dropout (fastText's model). In training it pools with
    one `embedding_bag` over the real tokens only: the same vectors as encoder -> MeanPooling, but
    neither the (B, T, H) hidden states nor padding's rows of the row-sparse gradient are built,
    and training cost follows the tokens rather than the padded batch. Inference and ONNX export
    keep the generic path, whose graph exporters know."""

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().pooled(input_ids, attention_mask)
        mask = attention_mask.bool()
        lengths = mask.sum(dim=1)
        offsets = lengths.cumsum(0) - lengths
        embedding = self.encoder.embedding
        # An empty bag pools to zeros, as MeanPooling gives a text without a real token.
        return F.embedding_bag(input_ids[mask], embedding.weight, offsets, mode="mean", sparse=embedding.sparse)
