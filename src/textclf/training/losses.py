"""Objectives on raw logits, with imbalance weights computed from TRAINING targets only.

single-label: CrossEntropyLoss(logits (B, K), ids (B,)) with optional class weights and label smoothing.
multi-label:  BCEWithLogitsLoss(logits (B, K), multi-hot (B, K)) with optional pos_weight; label
              smoothing pulls each 0/1 target towards 0.5 by `label_smoothing / 2`.
soft targets: single-label targets given as probabilities (n, k) floats (a teacher's, for
              distillation) train with the soft cross-entropy `soft_cross_entropy`; multi-label
              targets in [0, 1] need nothing new (BCE takes probabilities as they are).
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


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0,
                       weight: torch.Tensor | None = None) -> torch.Tensor:
    """Temperature-scaled soft cross-entropy (Hinton et al. 2015), the mean over rows of
    T^2 * sum_k -w_k q_k log softmax(z / T)_k: logits z (B, K), target probabilities q (B, K)
    (already tempered at T, see training.soft_targets.tempered), optional class weights w (K,).
    The T^2 keeps gradient sizes comparable across temperatures. Class ids (B,) count as one-hot."""
    if targets.ndim == 1:
        targets = nn.functional.one_hot(targets.long(), logits.shape[-1])
    targets = targets.to(logits.dtype)
    if weight is not None:
        targets = targets * weight.to(logits.dtype)
    log_probs = nn.functional.log_softmax(logits / temperature, dim=-1)
    return -(targets * log_probs).sum(dim=-1).mean() * temperature ** 2


class SoftTargetLoss(nn.Module):
    """`soft_cross_entropy` as a module: the single-label loss when training targets are
    probabilities (n, k) rather than class ids; validation targets stay class ids."""

    def __init__(self, temperature: float = 1.0, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.temperature = temperature
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return soft_cross_entropy(logits, targets, self.temperature, self.weight)


def build_loss(label_map: LabelMap, train_targets: np.ndarray, training: TrainingConfig) -> nn.Module:
    """The loss module for this task; call it as `loss(logits, targets)` (logits, never probabilities).
    Single-label `train_targets` of shape (n, k) are soft targets (a model whose capabilities
    declare `soft_targets`): soft cross-entropy, class weights from their argmax."""
    if not label_map.multi_label and np.ndim(train_targets) == 2:
        weights = class_weights(np.asarray(train_targets).argmax(axis=1), label_map, training.class_weight)
        return SoftTargetLoss(weight=None if weights is None else torch.from_numpy(weights))
    if label_map.multi_label:
        weights = pos_weights(train_targets, label_map, training.pos_weight or training.class_weight)
        return MultiLabelLoss(None if weights is None else torch.from_numpy(weights), training.label_smoothing)
    weights = class_weights(train_targets, label_map, training.class_weight)
    return nn.CrossEntropyLoss(weight=None if weights is None else torch.from_numpy(weights),
                               label_smoothing=training.label_smoothing)
