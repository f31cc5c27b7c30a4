"""What a training run is set up with: device, precision, host-to-device copies, compilation,
parameter groups, learning-rate schedule.

GPU paths, all chosen by configuration and exercised on CPU by tests where CPU allows:
- `training.device`: auto | cpu | cuda | cuda:N. Under torchrun, `auto` and `cuda` mean this
  process's own GPU (cuda:LOCAL_RANK), so N processes on one host use N GPUs.
- `training.precision`: fp16 autocast with a GradScaler (trainer.py), or bf16 autocast (no scaler).
- Batches are padded on the host; on CUDA they are copied from pinned (page-locked) memory with
  `non_blocking=True`, so the copy is a DMA transfer that does not stall the host thread.
- `training.compile`: torch.compile the network the loop calls (dynamic shapes: every batch has
  its own padded length).
"""

from __future__ import annotations

import contextlib
import math
import os

import torch
from torch import nn

from ..config import TrainingConfig
from ..errors import ConfigError


# -- devices and precision --------------------------------------------------------------------------
def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present; asking for CUDA without one, or for a GPU index the machine
    does not have, is a ConfigError. Under torchrun (WORLD_SIZE > 1) `auto` and `cuda` give
    cuda:LOCAL_RANK, one GPU per process."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"training.device: {name!r} is not a device (cpu, cuda, cuda:1, auto)") from None
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise ConfigError(f"training.device: {name!r} requested but no CUDA device is available")
    count = torch.cuda.device_count()
    if device.index is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if device.index is not None and device.index >= count:
        raise ConfigError(f"training.device: {str(device)!r} requested but this machine has {count} CUDA "
                          f"device{'s' if count != 1 else ''} (cuda:0 .. cuda:{count - 1})")
    return device


def resolve_precision(name: str, device: torch.device, training: bool = True) -> torch.dtype | None:
    """The autocast dtype, or None for fp32. `auto` on CUDA: bf16 where supported, else fp16. `auto`
    on a CPU: bf16 for training where the CPU computes bf16 natively (avx512_bf16 or AMX; elsewhere
    it is emulated and slower than fp32), fp32 for inference, so that predictions, exports and
    served answers of one model are the same on every CPU. Measured on MiniLM fine-tunes with
    avx512_bf16 (bench/results/trainer_speed.json): 1.7-1.8x faster, equal held-out accuracy."""
    cuda = device.type == "cuda"
    if name == "auto":
        if not cuda:
            return torch.bfloat16 if training and cpu_has_native_bf16() else None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if name == "fp32":
        return None
    if name == "fp16":
        if not cuda:
            raise ConfigError("training.precision: fp16 needs a CUDA device; use bf16 (or fp32) on CPU")
        return torch.float16
    if cuda and not torch.cuda.is_bf16_supported():
        raise ConfigError("training.precision: this GPU does not support bf16; use fp16")
    return torch.bfloat16


def cpu_has_native_bf16() -> bool:
    """True when this CPU has bf16 instructions (avx512_bf16, or AMX tiles)."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if check is not None)


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:  # a disabled torch.autocast still costs a few microseconds per batch
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """Loss scaling for fp16 (its narrow exponent underflows small gradients); a no-op otherwise."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`tensor` on `device`; a CPU tensor bound for CUDA goes through pinned memory, asynchronously
    (the stream orders the copy before the kernels that read it)."""
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


# -- compilation ------------------------------------------------------------------------------------
COMPILE_BACKEND = "inductor"  # torch.compile's default code generator (tests use aot_eager: no C++ build)


def compile_module(module: nn.Module, enabled: bool) -> nn.Module:
    """`torch.compile(module)` when `enabled` (training.compile), else `module` itself. The compiled
    wrapper shares parameters with `module`, so checkpoints and saved weights are unchanged."""
    if not enabled:
        return module
    if not hasattr(torch, "compile"):
        raise ConfigError("training.compile: this PyTorch build has no torch.compile")
    return torch.compile(module, backend=COMPILE_BACKEND, dynamic=True)


# -- optimisation -----------------------------------------------------------------------------------
def parameter_groups(body: nn.Module, head: nn.Module | None, training: TrainingConfig) -> list[dict]:
    """AdamW groups: weight decay on matrices only (never on biases or norm weights, i.e. tensors
    with one dimension); the head may get its own learning rate (training.head_learning_rate)."""
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    head_lr = training.head_learning_rate or training.learning_rate
    groups: dict[tuple[bool, bool], list] = {}
    for module in (body, head) if head is not None else (body,):
        for param in module.parameters():
            if not param.requires_grad:
                continue
            key = (id(param) in head_ids, param.ndim > 1)
            groups.setdefault(key, [])
            if all(param is not p for p in groups[key]):
                groups[key].append(param)
    return [
        {"params": params, "lr": head_lr if is_head else training.learning_rate,
         "weight_decay": training.weight_decay if decays else 0.0}
        for (is_head, decays), params in sorted(groups.items())
    ]


def schedule_factor(step: int, total_steps: int, warmup_steps: int, kind: str) -> float:
    """Learning-rate multiplier before optimizer step `step` (0-based)."""
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if kind == "constant":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return max(0.0, 1.0 - progress)
