"""The parts of a model directory read and checked one by one (labels.json, policy.json, the model
files' digests in config.json), and what loading checks around the model itself (the inference
device, the outputs on a probe text). Each check refuses in one line naming the file and key:
a model directory is data, and a part that does not fit the others is never silently ignored."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..data import LabelMap
from ..errors import ConfigError, ModelError, brief
from ..policy import DecisionPolicy, check_min_labels
from .manifest import _read_json, _sha256

POLICY_FILE = "policy.json"
POLICY_KEYS = ("calibration", "thresholds", "min_labels", "provenance")
LABEL_KEYS = ("labels", "multi_label", "label_type")
CLASSIFIER_FILES = ("config.json", "labels.json", POLICY_FILE, "metrics.json", "leaderboard.json",
                    "calibration.json", "thresholds.json", "manifest.json")  # calibration, thresholds: format 1
DEVICES = re.compile(r"auto|cpu|mps|cuda(:\d+)?")  # what TextClassifier.load(device=) and serve --device take


# -- labels.json ---------------------------------------------------------------------------------
def read_label_map(directory: Path) -> LabelMap:
    """labels.json: only its own keys, a bool `multi_label`, no label twice (LabelMap checks the rest)."""
    path = directory / "labels.json"
    raw = _read_json(path)
    if isinstance(raw, dict):
        unknown = [key for key in raw if key not in LABEL_KEYS]
        if unknown:
            raise ModelError(f"{path}: unknown key {brief(unknown[0])} (expected {', '.join(LABEL_KEYS)})")
        if not isinstance(raw.get("multi_label", False), bool):
            raise ModelError(f"{path}: multi_label must be true or false, got {brief(raw['multi_label'])}")
        labels = raw.get("labels")
        if isinstance(labels, list):
            counts = Counter(label for label in labels if isinstance(label, str))
            twice = next((name for name, count in counts.items() if count > 1), None)
            if twice is not None:  # LabelMap would refuse it too, without naming the file
                raise ModelError(f"{path}: label {brief(twice)} is listed twice")
    return LabelMap.from_json(raw, str(path))


# -- policy.json ---------------------------------------------------------------------------------
def _format_1_policy(directory: Path, config: dict) -> dict:
    thresholds = _read_json(directory / "thresholds.json", required=False)
    info = config.get("info") or {}
    return {"calibration": _read_json(directory / "calibration.json", required=False),
            "thresholds": thresholds.get("thresholds") if isinstance(thresholds, dict) else thresholds,
            "min_labels": config.get("min_labels", 0),
            "provenance": {"thresholds": info["thresholds"]} if isinstance(info, dict) and "thresholds" in info
            else {}}


def read_policy(directory: Path, config: dict, required: bool) -> DecisionPolicy:
    """The saved decision policy. A policy.json that is there is read whole: `null`, a missing key
    or an unknown one is refused (a policy that loads as "no policy" would silently drop the
    calibration and thresholds the model was saved with)."""
    if config["format_version"] == 1:
        raw, where = _format_1_policy(directory, config), str(directory / "thresholds.json")
    else:
        path = directory / POLICY_FILE
        where = str(path)
        if not required and not path.exists() and not path.is_symlink():
            return DecisionPolicy()  # a format-2 directory saved before manifests, without a policy
        raw = _read_json(path)
        if not isinstance(raw, dict):
            raise ModelError(f"{where}: expected a JSON object with {', '.join(POLICY_KEYS)}, got "
                             f"{'null' if raw is None else type(raw).__name__}")
        missing = [key for key in POLICY_KEYS if key not in raw]
        if missing:
            raise ModelError(f"{where}: not a decision policy (missing {', '.join(missing)})")
        unknown = [key for key in raw if key not in POLICY_KEYS]
        if unknown:
            raise ModelError(f"{where}: unknown key {brief(unknown[0])} (expected {', '.join(POLICY_KEYS)})")
    if not isinstance(raw, dict):
        raise ModelError(f"{where}: expected a JSON object")
    return _policy_of(raw, where)


def _policy_of(raw: dict, where: str) -> DecisionPolicy:
    if raw.get("calibration") is not None and not isinstance(raw["calibration"], dict):
        raise ModelError(f"{where}: calibration must be a JSON object or null")
    thresholds = raw.get("thresholds")
    if thresholds is not None:
        try:
            thresholds = np.asarray(thresholds, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise ModelError(f"{where}: thresholds must be a list of numbers") from None
    min_labels = raw.get("min_labels", 0)
    check_min_labels(min_labels, where)
    provenance = raw.get("provenance") or {}
    if not isinstance(provenance, dict):
        raise ModelError(f"{where}: provenance must be a JSON object")
    return DecisionPolicy(raw.get("calibration"), thresholds, int(min_labels), provenance)


# -- the model files' digests in config.json -----------------------------------------------------
def model_file_digests(directory: Path) -> dict[str, str]:
    """sha256 of every file the model type wrote (weights, tokenizer, vocabulary), by relative path."""
    out = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory).as_posix()
        if relative not in CLASSIFIER_FILES:
            out[relative] = _sha256(path)
    return out


def _recorded_files(directory: Path, config: dict) -> dict[str, str]:
    recorded = config.get("files")
    if not isinstance(recorded, dict) or not all(isinstance(v, str) for v in recorded.values()):
        raise ModelError(f"{directory / 'config.json'}: missing the model files' checksums ('files')")
    return recorded


def check_files(directory: Path, config: dict, manifest: dict | None) -> None:
    """config.json's `files` (the model files' sha256, written before manifests existed) must agree
    with the directory: with a manifest, with the manifest's digests (already checked against the
    files, so nothing is hashed twice); without one, with the files themselves. A weight file
    replaced and only manifest.json rewritten to match is refused here."""
    if manifest is None and config.get("files") is None and config["format_version"] == 1:
        return
    recorded = _recorded_files(directory, config)
    actual = manifest["files"] if manifest is not None else model_file_digests(directory)
    for name, digest in recorded.items():
        if name not in actual:
            raise ModelError(f"{directory / name}: missing; is {directory} a complete textclf model directory?")
        if actual[name] != digest:
            raise ModelError(f"{directory / name}: differs from its sha256 in config.json 'files' (changed since "
                             "the model was saved)")


# -- loading the model ---------------------------------------------------------------------------
def check_device(name: str) -> None:
    """Refuse an inference device that is not a device name, or a GPU this host does not have:
    the model would otherwise load and quietly run somewhere else (or fail at the first batch).
    `auto` and `cpu` are answered without importing torch."""
    if not isinstance(name, str) or not DEVICES.fullmatch(name):
        raise ConfigError(f"device {brief(name)}: not a device (auto, cpu, cuda, cuda:N, mps)")
    if name in ("auto", "cpu"):
        return
    import torch

    if name == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError("device 'mps': requested but this host has no MPS device (use cpu or auto)")
        return
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(name.split(":")[1]) if ":" in name else 0
    if index >= count:
        have = "no CUDA device" if count == 0 else f"{count} CUDA device{'s' if count > 1 else ''} " \
                                                   f"(cuda:0 .. cuda:{count - 1})"
        raise ConfigError(f"device {name!r}: requested but this host has {have} (use cpu or auto)")


def check_probe_outputs(directory: Path, outputs: Any, num_labels: int) -> None:
    """The model's logits on one probe text: one finite number per label. NaN or infinite weights
    (a damaged or hand-made weight file) would otherwise give NaN probabilities on every row."""
    outputs = np.asarray(outputs)
    if outputs.shape != (1, num_labels):
        raise ModelError(f"{directory}: labels.json has {num_labels} labels but the model gives "
                         f"{outputs.shape[-1] if outputs.ndim == 2 else outputs.shape} outputs")
    if not np.issubdtype(outputs.dtype, np.number) or not np.all(np.isfinite(outputs)):
        raise ModelError(f"{directory}: the model's outputs on a probe text are not finite numbers (NaN or "
                         "infinite): its weight files are damaged")
