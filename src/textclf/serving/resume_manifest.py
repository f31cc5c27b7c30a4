"""The manifest beside a `predict` `.partial` file: what its rows were computed from (the model's
fingerprint, the input file's identity and every option that changes the rows), so that a resume
whose model, input or options differ is refused with one line naming the difference. Also used by
`distill` for its cached teacher probabilities."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..errors import DataError
from .options import PredictOptions

MANIFEST_FORMAT = "textclf-predict-partial"
_HASHED_FILE_BYTES = 64 << 20  # model files up to this size are hashed; larger: size and mtime


def _digest(obj) -> str:
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=lambda v: getattr(v, "tolist", str)())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_fingerprint(clf, model_path: str | Path | None = None) -> str:
    """A short hash of what decides the rows: task, model config, labels, calibration, thresholds,
    `min_labels`, and the saved files of `model_path` (content hash; size and mtime for files over
    64 MB). Without a directory, the logits of a fixed probe text stand in for the weights."""
    state: dict = {
        "task": clf.task, "model": clf.model_params, "labels": list(clf.label_map.labels),
        "calibration": clf.policy.calibration, "min_labels": clf.policy.min_labels,
        "thresholds": None if clf.policy.thresholds is None else np.asarray(clf.policy.thresholds).tolist(),
        "model_class": type(clf.model_).__name__,
    }
    if model_path is not None and Path(model_path).is_dir():
        root, files = Path(model_path), {}
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
            stat = path.stat()
            key = str(path.relative_to(root))
            files[key] = _file_digest(path) if stat.st_size <= _HASHED_FILE_BYTES else [stat.st_size, stat.st_mtime_ns]
        state["files"] = files
    else:
        probe = np.asarray(clf.logits(["textclf resume probe: a plain sentence."]))
        state["probe"] = np.round(probe.astype(np.float64), 4).tolist()
    return _digest(state)


def input_identity(input_path: str | Path) -> dict:
    """Absolute path, size and modification time of the input (stdin: just "-")."""
    if str(input_path) == "-":
        return {"path": "-"}
    path = Path(input_path).resolve()
    try:
        stat = path.stat()
    except OSError:  # reading it will say what is wrong
        return {"path": str(path)}
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def build_manifest(clf, input_path, options: PredictOptions, text_column: str, fmt: str,
                   model_path: str | Path | None = None) -> dict:
    """What a `.partial` file's rows were computed from (see `manifest_difference`)."""
    return {
        "format": MANIFEST_FORMAT, "version": 1,
        "model": model_fingerprint(clf, model_path),
        "input": input_identity(input_path),
        "options": {"text_column": text_column, "id_column": options.id_column, "output_format": fmt,
                    "backend": options.backend, "explain": options.explain},
    }


def manifest_difference(saved: dict, current: dict) -> str | None:
    """What differs between the manifest of a `.partial` file and the run that would resume it."""
    if saved.get("model") != current["model"]:
        return "the model differs (other weights, labels, calibration or thresholds)"
    old, new = saved.get("input") or {}, current["input"]
    if old.get("path") != new["path"]:
        return f"the input differs ({old.get('path')} then, {new['path']} now)"
    if old != new:
        return f"the input file {new['path']} changed since (size or modification time)"
    old_options = saved.get("options") or {}
    for key, value in current["options"].items():
        if old_options.get(key) != value:
            return f"option {key} differs ({old_options.get(key)!r} then, {value!r} now)"
    return None


def read_manifest(path: Path, partial: Path) -> dict:
    hint = "delete it or run without --resume"
    if not path.is_file():
        raise DataError(f"{partial}: cannot resume: no manifest {path.name} beside it (written by an older "
                        f"textclf or by hand); {hint}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise DataError(f"{partial}: cannot resume: {path.name} is not a textclf manifest; {hint}")
    return manifest
