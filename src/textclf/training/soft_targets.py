"""Soft targets for distillation: a teacher's probabilities turned into what a student trains on.

Two kinds of student take them differently (jobs/distill.py picks by the student's declared
capabilities):

- a student that declares `soft_targets` (the neural types) trains on the probabilities
  themselves, shape (n, k) floats, with `training.losses.soft_cross_entropy`;
- any other student (TF-IDF + logistic regression, frozen embeddings + LR) trains on hard labels:
  `expand_rows` repeats each text `copies` times and gives the copies labels in proportion to the
  teacher's probabilities (largest remainders for single-label; for multi-label a label is on in
  round(p * copies) of the copies). A copy's gradient under cross-entropy is that of its label,
  so the sum over the copies is `copies` times the soft cross-entropy at probabilities rounded to
  multiples of 1 / copies: the documented equivalent for models that only take labels.

Everything here is numpy and pure: the same inputs give the same targets.
"""

from __future__ import annotations

import numpy as np


def tempered(probabilities: np.ndarray, temperature: float, multi_label: bool) -> np.ndarray:
    """The teacher's probabilities at `temperature` (> 1 softens, < 1 sharpens): single-label
    p_k^(1/T) renormalised (softmax of logits / T); multi-label sigmoid(logit(p) / T) per label."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-7, 1.0 - 1e-7)
    if temperature == 1.0:
        return np.asarray(probabilities, dtype=np.float32)
    if multi_label:
        return (1.0 / (1.0 + np.exp(-np.log(p / (1.0 - p)) / temperature))).astype(np.float32)
    scaled = np.log(p) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    out = np.exp(scaled)
    return (out / out.sum(axis=1, keepdims=True)).astype(np.float32)


def one_hot(targets: np.ndarray, num_classes: int) -> np.ndarray:
    """Class ids (n,) -> (n, k) float32; a multi-hot matrix (n, k) is returned as float32."""
    targets = np.asarray(targets)
    if targets.ndim == 2:
        return targets.astype(np.float32)
    out = np.zeros((len(targets), num_classes), dtype=np.float32)
    out[np.arange(len(targets)), targets] = 1.0
    return out


def mix_hard(soft: np.ndarray, hard: np.ndarray, hard_weight: float) -> np.ndarray:
    """(1 - hard_weight) * teacher + hard_weight * gold, for rows that have gold labels: `hard`
    as class ids (n,) or multi-hot (n, k). hard_weight 0 keeps the teacher, 1 the gold labels."""
    gold = one_hot(hard, soft.shape[1])
    return ((1.0 - hard_weight) * soft + hard_weight * gold).astype(np.float32)


def expand_rows(targets: np.ndarray, copies: int, multi_label: bool) -> tuple[np.ndarray, np.ndarray]:
    """Hard-label rows standing for soft targets (n, k): (source row per copy (m,), labels per copy:
    class ids (m,) or multi-hot (m, k)). Single-label: every row gets `copies` copies, labelled by
    largest-remainder apportionment of p * copies (the argmax always gets at least one). Multi-label:
    copy j of a row carries label k when p_k >= (j + 0.5) / copies."""
    targets = np.asarray(targets, dtype=np.float64)
    n, k = targets.shape
    if copies < 1:
        raise ValueError("copies must be at least 1")
    source = np.repeat(np.arange(n), copies)
    if multi_label:
        cuts = (np.arange(copies) + 0.5) / copies  # (copies,)
        labels = (targets[:, None, :] >= cuts[None, :, None]).reshape(n * copies, k).astype(np.float32)
        return source, labels
    counts = _apportion(targets, copies)
    labels = np.concatenate([np.repeat(np.arange(k), row) for row in counts]) if n else np.zeros(0, np.int64)
    return source, labels.astype(np.int64)


def _apportion(targets: np.ndarray, copies: int) -> np.ndarray:
    """Integer counts per row summing to `copies`, proportional to each row's probabilities."""
    share = targets / np.maximum(targets.sum(axis=1, keepdims=True), 1e-12) * copies
    counts = np.floor(share).astype(np.int64)
    top = targets.argmax(axis=1)
    counts[np.arange(len(targets)), top] = np.maximum(counts[np.arange(len(targets)), top], 1)
    remainder = share - counts
    # Floors sum to at most `copies`, and the argmax's minimum adds one only where every floor is 0.
    for i in range(len(targets)):  # hand out the copies still missing by largest remainder
        missing = copies - int(counts[i].sum())
        if missing > 0:
            counts[i, np.argsort(-remainder[i], kind="stable")[:missing]] += 1
    return counts
