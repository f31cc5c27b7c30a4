"""What a training run is set up with: device, precision, parameter groups, learning-rate schedule."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import TrainingConfig
from ..errors import ConfigError


# -- devices and precision --------------------------------------------------------------------------
def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present; asking for CUDA without one is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"training.device: {name!r} is not a device (cpu, cuda, cuda:1, auto)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"training.device: {name!r} requested but no CUDA device is available")
    return device


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for fp32. `auto`: bf16 on CUDA where supported, else fp16;
    fp32 on CPU (CPU bf16 is slower than fp32 on most CPUs without AMX; ask for it explicitly)."""
    cuda = device.type == "cuda"
    if name == "auto":
        if not cuda:
            return None
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


def autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device_type=device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


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
