"""Batches of token ids: dynamic padding, attention masks and epoch plans (which rows go together).

An epoch plan is a pure function of (seed, epoch): the list of index batches is rebuilt, not
stored, so a run resumed in the middle of an epoch skips the batches already seen and continues
with exactly the remaining ones (see training/checkpoint.py).

    plan = EpochPlan(lengths, batch_size=32, seed=0, strategy="length_bucketed")
    for indices in plan.batches(epoch):                  # list of int arrays
        input_ids, attention_mask = pad_batch([ids[i] for i in indices], pad_id)

`length_bucketed` shuffles rows, cuts them into buckets of `bucket_batches` batches, sorts each
bucket by length and shuffles the resulting batches: rows of similar length share a batch, so
little compute is spent on padding, while the order stays random from epoch to epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from .padding import pad_ids

Strategy = Literal["length_bucketed", "random", "weighted", "sequential"]


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest sequence in the batch.

    Returns input_ids (B, T) int64 and attention_mask (B, T) bool (True = real token)."""
    ids, mask = pad_ids(sequences, pad_id)
    return torch.from_numpy(ids), torch.from_numpy(mask)


@dataclass(frozen=True)
class EpochPlan:
    """Which rows form each batch in a given epoch.

    `weights` (one per row) are only used by the `weighted` strategy, which samples rows with
    replacement in proportion to them (e.g. inverse class frequency)."""

    lengths: np.ndarray  # (n,) token counts
    batch_size: int
    seed: int = 0
    strategy: Strategy = "length_bucketed"
    bucket_batches: int = 50
    weights: np.ndarray | None = None

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def batches(self, epoch: int) -> list[np.ndarray]:
        n = len(self.lengths)
        rng = np.random.default_rng([self.seed, epoch])
        if self.strategy == "sequential":
            order = np.arange(n)
        elif self.strategy == "weighted":
            p = np.asarray(self.weights if self.weights is not None else np.ones(n), dtype=np.float64)
            order = rng.choice(n, size=n, replace=True, p=p / p.sum())
        else:
            order = rng.permutation(n)
        if self.strategy != "length_bucketed":
            return [order[i: i + self.batch_size] for i in range(0, n, self.batch_size)]
        bucket = self.batch_size * self.bucket_batches  # a multiple of batch_size: only the last batch is short
        batches = []
        for start in range(0, n, bucket):
            chunk = order[start: start + bucket]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches.extend(chunk[i: i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        return [batches[i] for i in rng.permutation(len(batches))]


def inference_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Rows sorted by length, cut into batches: the cheapest padding for prediction."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
