"""Training checkpoints: everything needed to continue a run as if it had never stopped.

`workdir/checkpoints/last.pt` (replaced atomically, so a crash mid-write leaves the previous one)
holds the model, optimizer, scheduler and grad-scaler states, the python / numpy / torch RNG
states, the sampler position (epoch + batches already consumed in it: epoch plans are rebuilt
from the seed, see data/batching.py), the optimizer step, early-stopping state, the best weights
so far, and a fingerprint of the model config that a resume must match.

Files load with `torch.load(weights_only=True)`: plain containers and tensors only, no pickled code.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, ModelError
from ..fileio import atomic_file

CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.pt"


def checkpoint_path(workdir: Path) -> Path:
    return Path(workdir) / CHECKPOINT_DIR / LAST_CHECKPOINT


def rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"]), python["gauss_next"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    with atomic_file(path, "wb") as handle:
        torch.save(payload, handle)


def load_checkpoint(path: Path, fingerprint: dict[str, Any] | None = None) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: no checkpoint to resume from")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file surfaces as many torch errors
        raise ModelError(f"{path}: unreadable checkpoint ({type(err).__name__}: {err})") from None
    if fingerprint is not None and payload.get("fingerprint") != fingerprint:
        raise ConfigError(f"{path}: cannot resume: {fingerprint_difference(payload.get('fingerprint') or {}, fingerprint)}"
                          "; resume with the config and data of that run")
    return payload


def fingerprint_difference(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> str:
    """The first setting that differs between two fingerprints, named by its dotted key."""
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if old == new:
            continue
        name = f"{prefix}{key}"
        if isinstance(old, dict) and isinstance(new, dict):
            return fingerprint_difference(old, new, name + ".")
        return f"{name} differs ({old!r} then, {new!r} now)"
    return "the checkpoint's settings differ"
