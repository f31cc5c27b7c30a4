"""Objectives on raw logits, with imbalance weights computed from TRAINING targets only.

single-label: CrossEntropyLoss(logits (B, K), ids (B,)) with optional class weights and label smoothing.
multi-label:  BCEWithLogitsLoss(logits (B, K), multi-hot (B, K)) with optional pos_weight; label
              smoothing pulls each 0/1 target towards 0.5 by `label_smoothing / 2`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..config import TrainingConfig
from ..data import LabelMap
from ..imbalance import class_weights, pos_weights


class MultiLabelLoss(nn.Module):
    def __init__(self, pos_weight: torch.Tensor | None = None, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.bce = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        targets = targets.to(logits.dtype)
        if self.label_smoothing:
            targets = targets * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        return self.bce(logits, targets)


def build_loss(label_map: LabelMap, train_targets: np.ndarray, training: TrainingConfig) -> nn.Module:
    """The loss module for this task; call it as `loss(logits, targets)` (logits, never probabilities)."""
    if label_map.multi_label:
        weights = pos_weights(train_targets, label_map, training.pos_weight or training.class_weight)
        return MultiLabelLoss(None if weights is None else torch.from_numpy(weights), training.label_smoothing)
    weights = class_weights(train_targets, label_map, training.class_weight)
    return nn.CrossEntropyLoss(weight=None if weights is None else torch.from_numpy(weights),
                               label_smoothing=training.label_smoothing)
