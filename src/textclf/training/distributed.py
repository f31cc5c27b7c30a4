"""Distributed data-parallel training: the same command, under `torchrun --nproc_per_node N`.

    torchrun --nproc_per_node 2 -m textclf train configs/minilm.yaml

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; `TorchDistributedContext.from_env` joins the process
group (nccl on GPUs, gloo on CPU) and fills the trainer's `DistributedContext` seam
(training/trainer.py). Without those variables `context_from_env` returns the trainer's
single-process context, so there is one code path.

Semantics, chosen so that N processes reproduce one process (same config, same result):
- `training.batch_size` is the GLOBAL batch: every rank builds the same epoch plan (same seed),
  and takes its own slice of each batch (`shard`): rank r gets rows r, r+N, r+2N, ... Batch order,
  length bucketing and resume positions are shared by all ranks.
- DistributedDataParallel averages gradients. With equal slices that is exactly the global-batch
  mean; a batch whose size is not a multiple of N (at most the last of an epoch) weighs its slices
  equally instead, and a batch with fewer rows than ranks is skipped by every rank.
- Evaluation runs each rank on a share of the batches and gathers logits back in row order, so
  metrics (and early-stopping decisions) are computed on every row once, identically everywhere.
- Only rank 0 writes (logs, checkpoints, the saved model): `is_main` here, RANK in jobs.train.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from .trainer import SINGLE_PROCESS, DistributedContext


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def context_from_env(device: str = "auto") -> DistributedContext:
    """The torchrun context when launched by torchrun with N > 1, else the single-process one."""
    if env_world_size() <= 1:
        return SINGLE_PROCESS
    return TorchDistributedContext.from_env(device)


@dataclass
class TorchDistributedContext(DistributedContext):
    """The trainer's seam filled with torch.distributed (see the module docstring)."""

    local_rank: int = 0
    backend: str = "gloo"

    @classmethod
    def from_env(cls, device: str = "auto") -> TorchDistributedContext:
        world_size = env_world_size()
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = torch.cuda.is_available() and not device.startswith("cpu")
        backend = "nccl" if use_cuda else "gloo"
        if not dist.is_initialized():
            if use_cuda:
                torch.cuda.set_device(local_rank)
            dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
        return cls(rank=rank, world_size=world_size, local_rank=local_rank, backend=backend)

    # -- the trainer's seam -----------------------------------------------------------------
    def shard(self, batches: list) -> list:
        """This rank's rows of every global batch; batches too small to give every rank a row
        are dropped (on every rank alike, so the ranks stay in step)."""
        return [b[self.rank:: self.world_size] for b in batches if len(b) >= self.world_size]

    def gather(self, array: np.ndarray) -> np.ndarray:
        """Concatenate every rank's array along axis 0, in rank order (empty parts allowed)."""
        parts = [p for p in self.all_gather_objects(np.asarray(array)) if len(p)]
        return np.concatenate(parts) if parts else np.asarray(array)

    def wrap(self, module: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.local_rank] if self.backend == "nccl" else None
        return DistributedDataParallel(module, device_ids=device_ids)

    # -- helpers ----------------------------------------------------------------------------
    def all_gather_objects(self, obj) -> list:
        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out
