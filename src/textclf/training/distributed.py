"""Distributed data-parallel training: the same command, under `torchrun --nproc_per_node N`.

    torchrun --nproc_per_node 2 -m textclf train configs/minilm.yaml

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; `DistributedContext.from_env` joins the process
group (nccl on GPUs, gloo on CPU). Without those variables it is a 1-process context whose
methods are no-ops, so the trainer has a single code path.

Semantics, chosen so that N processes reproduce one process with an N-times larger batch:
- `training.batch_size` is per process; the global batch is batch_size * world_size.
- Every rank builds the same epoch plan (same seed) with the global batch size and takes its own
  slice of each global batch (`shard`): batch order, length bucketing and resume positions are
  shared, and rank r sees rows r, r+N, r+2N, ... of every batch.
- Gradients are averaged by DistributedDataParallel. A short last batch is split unevenly, so each
  rank scales its mean loss by (local rows * N / global rows) (`loss_weight`), which makes the
  average the exact global mean; a global batch with fewer rows than ranks is skipped by all.
- Evaluation shards rows the same way and gathers logits back in row order (`gather_rows`), so
  metrics are computed on every row once, identically on every rank.
- Only rank 0 writes (checkpoints, logs, the saved model): `is_main`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a torchrun job (safe to call before init)."""
    return int(os.environ.get("RANK", "0")) == 0


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # None: not distributed

    @classmethod
    def from_env(cls, device: str = "auto") -> DistributedContext:
        """Join the torchrun process group if there is one; else a 1-process context."""
        world_size = env_world_size()
        if world_size <= 1:
            return cls()
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = torch.cuda.is_available() and not device.startswith("cpu")
        backend = "nccl" if use_cuda else "gloo"
        if not dist.is_initialized():
            if use_cuda:
                torch.cuda.set_device(local_rank)
            dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
        return cls(rank=rank, world_size=world_size, local_rank=local_rank, backend=backend)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: str = "auto") -> torch.device:
        """This rank's device: cuda:LOCAL_RANK under nccl, else what was asked for."""
        if self.backend == "nccl":
            return torch.device("cuda", self.local_rank)
        if requested == "auto":
            return torch.device("cuda" if torch.cuda.is_available() and not self.enabled else "cpu")
        return torch.device(requested)

    # -- data -------------------------------------------------------------------------------
    def global_batch_size(self, per_process: int) -> int:
        return per_process * self.world_size

    def shard(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        """This rank's rows of every global batch; batches too small to give every rank a row
        are dropped (on every rank alike, so the ranks stay in step)."""
        if not self.enabled:
            return list(batches)
        return [b[self.rank:: self.world_size] for b in batches if len(b) >= self.world_size]

    def loss_weight(self, local_rows: int, global_rows: int) -> float:
        """Factor on a rank's mean loss so that DDP's average equals the global-batch mean."""
        return local_rows * self.world_size / global_rows if self.enabled else 1.0

    def shard_rows(self, n: int) -> np.ndarray:
        """Row indices this rank evaluates: rank, rank + N, ..."""
        return np.arange(self.rank, n, self.world_size)

    # -- model ------------------------------------------------------------------------------
    def wrap(self, module: nn.Module) -> nn.Module:
        """DistributedDataParallel around `module` when distributed; `module` itself otherwise."""
        if not self.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.local_rank] if self.backend == "nccl" else None
        return DistributedDataParallel(module, device_ids=device_ids)

    # -- communication ----------------------------------------------------------------------
    def all_gather_objects(self, obj) -> list:
        if not self.enabled:
            return [obj]
        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def gather_rows(self, local: np.ndarray, n: int) -> np.ndarray:
        """Reassemble per-rank arrays computed on `shard_rows(n)` into (n, ...) in row order."""
        if not self.enabled:
            return local
        parts = self.all_gather_objects(np.asarray(local))
        out = np.empty((n, *parts[0].shape[1:]), dtype=parts[0].dtype)
        for rank, part in enumerate(parts):
            out[np.arange(rank, n, self.world_size)] = part
        return out

    def mean(self, value: float) -> float:
        """The mean of a scalar over ranks (e.g. the training loss for logging)."""
        if not self.enabled:
            return float(value)
        return float(np.mean(self.all_gather_objects(float(value))))

    def broadcast_object(self, obj):
        """Rank 0's `obj` on every rank (e.g. an early-stopping decision)."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def shutdown(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()
