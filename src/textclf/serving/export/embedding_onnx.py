"""The `embedding` model (frozen encoder -> mean pooling -> L2 norm -> logistic regression) as one
network, so the neural ONNX exporter writes it like any other: ids and mask in, logits out.

The regression's coefficients become a linear layer after the pooled, normalised embedding; a
binary model's single column s becomes logits [0, s] as in `EmbeddingModel.logits`. The export's
parity check holds the graph to the model's own logits.
"""

from __future__ import annotations

import numpy as np

from ...models.base import EmbeddingExportView, ExportView


def embedding_net(view: EmbeddingExportView):
    """A torch module: input_ids (B, T) int64, attention_mask (B, T) -> logits (B, K)."""
    import torch
    from torch import nn

    from ...models.pooling import MeanPooling

    class EmbeddingClassifierNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = view.encoder
            self.pooling = MeanPooling()
            self.register_buffer("coef_t", torch.from_numpy(np.ascontiguousarray(view.coef, np.float32).T.copy()))
            self.register_buffer("intercept", torch.from_numpy(np.asarray(view.intercept, np.float32).copy()))

        def forward(self, input_ids, attention_mask):
            hidden, mask = self.encoder(input_ids, attention_mask)
            pooled = self.pooling(hidden.float(), mask)
            if view.normalize:
                pooled = pooled / pooled.norm(dim=1, keepdim=True).clamp_min(1e-12)
            scores = pooled @ self.coef_t + self.intercept
            if view.binary_column:
                scores = torch.cat([torch.zeros_like(scores), scores], dim=1)
            return scores

    return EmbeddingClassifierNet().eval()


def embedding_export_view(view: EmbeddingExportView) -> ExportView:
    """The neural export view of an embedding model (the encoder traced as a Hugging Face one)."""
    return ExportView(net=embedding_net(view), tokenizer=view.tokenizer, max_tokens=view.max_tokens,
                      hf_encoder=view.encoder)
