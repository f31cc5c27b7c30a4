"""Distributed data-parallel training: the same command, under `torchrun --nproc_per_node N`.

    torchrun --nproc_per_node 2 -m textclf train configs/minilm.yaml

Across hosts, the same command on every host with torchrun's c10d rendezvous:

    torchrun --nnodes 2 --nproc_per_node 1 --rdzv_backend c10d --rdzv_endpoint HOST0:29400 \
             --rdzv_id RUN -m textclf train configs/minilm.yaml

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; `TorchDistributedContext.from_env` joins the process
group (nccl on GPUs, gloo on CPU: `process_group_backend`) and fills the trainer's `DistributedContext` seam
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


def process_group_backend(device: str = "auto") -> str:
    """nccl when this process trains on a GPU (training.device auto / cuda / cuda:N with CUDA
    present), gloo otherwise (CPU training, or `device: cpu` on a GPU host)."""
    on_gpu = torch.cuda.is_available() and (device == "auto" or device.startswith("cuda"))
    return "nccl" if on_gpu else "gloo"


def gpu_index(device: str, local_rank: int) -> int:
    """The GPU a process uses: the one named (cuda:N), else its local rank (auto, cuda)."""
    return torch.device(device).index if device.startswith("cuda:") else local_rank


@dataclass
class TorchDistributedContext(DistributedContext):
    """The trainer's seam filled with torch.distributed (see the module docstring)."""

    local_rank: int = 0
    backend: str = "gloo"

    @classmethod
    def from_env(cls, device: str = "auto") -> TorchDistributedContext:
        world_size = env_world_size()
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        backend = process_group_backend(device)
        if not dist.is_initialized():
            if backend == "nccl":
                torch.cuda.set_device(gpu_index(device, local_rank))
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

        device_ids = [torch.cuda.current_device()] if self.backend == "nccl" else None  # set in from_env
        return DistributedDataParallel(module, device_ids=device_ids)

    # -- helpers ----------------------------------------------------------------------------
    def all_gather_objects(self, obj) -> list:
        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out
