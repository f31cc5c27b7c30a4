"""manifest.json: the sha256 of every file in a model directory, checked before anything in it is
read (see textclf.artifacts for the format and how a policy update keeps the pair consistent)."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ModelError

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "textclf-manifest"
POLICY_FILE = "policy.json"
_DIGEST = re.compile(r"[0-9a-f]{64}")
# Set by `raw_scores()`: every model directory read in the block is read without its policy.
_RAW_SCORES: contextvars.ContextVar[bool] = contextvars.ContextVar("textclf_raw_scores", default=False)


def manifest_document(files: dict[str, str], replacing: dict[str, str] | None = None) -> dict:
    """manifest.json's content for `files` (name -> sha256)."""
    out = {"format": MANIFEST_FORMAT, "version": 1, "algorithm": "sha256", "files": dict(sorted(files.items()))}
    if replacing:
        out["replacing"] = replacing  # a policy update under way: either digest is the saved policy
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as err:
        raise ModelError(f"{path}: cannot read ({err.strerror or err})") from None
    return digest.hexdigest()


def _scan(directory: Path) -> tuple[dict[str, Path], set[str]]:
    """The regular files (relative POSIX path -> path) and folders under `directory`. A symbolic
    link or a special file (FIFO, socket, device) anywhere is refused: a model directory holds
    plain files, so a link out of it, or a FIFO that would hang the reader, never loads."""
    files: dict[str, Path] = {}
    folders: set[str] = set()
    pending = [directory]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as err:
            raise ModelError(f"{folder}: cannot read ({err.strerror or err})") from None
        for entry in entries:
            path = Path(entry.path)
            relative = path.relative_to(directory).as_posix()
            if entry.is_symlink():
                raise ModelError(f"{path}: is a symbolic link{_outside(path, directory)}; a model directory "
                                 "holds plain files only")
            if entry.is_dir(follow_symlinks=False):
                folders.add(relative)
                pending.append(path)
            elif entry.is_file(follow_symlinks=False):
                files[relative] = path
            else:
                raise ModelError(f"{path}: not a regular file (a FIFO, socket or device)")
    return files, folders


def _outside(link: Path, directory: Path) -> str:
    try:
        target = link.resolve()
        root = directory.resolve()
    except (OSError, RuntimeError):
        return " that cannot be resolved"
    return "" if target == root or root in target.parents else " pointing outside the model directory"


def _read_manifest(directory: Path) -> dict | None:
    """manifest.json checked for shape, or None when the directory has none (saved before manifests)."""
    path = directory / MANIFEST_FILE
    if not os.path.lexists(path):
        return None
    raw = _read_json(path)
    files = raw.get("files") if isinstance(raw, dict) else None
    replacing = raw.get("replacing") or {} if isinstance(raw, dict) else None
    if not (isinstance(raw, dict) and raw.get("format") == MANIFEST_FORMAT and raw.get("algorithm", "sha256") == "sha256"
            and isinstance(files, dict) and isinstance(replacing, dict)
            and all(isinstance(v, str) and _DIGEST.fullmatch(v) for v in (*files.values(), *replacing.values()))):
        raise ModelError(f"{path}: not a textclf manifest (expected format {MANIFEST_FORMAT!r} and "
                         "files: name -> sha256 hex digest)")
    for name in (*files, *replacing):
        parts = name.split("/")
        if not name or name.startswith("/") or "\\" in name or any(part in ("", ".", "..") for part in parts) \
                or name == MANIFEST_FILE:
            raise ModelError(f"{path}: lists {name[:80]!r}, not a plain relative file name")
    return raw


def _is_temporary(name: str) -> bool:
    """A temporary file of an atomic write under way (fileio.atomic_file: `.NAME.XXXX.tmp`)."""
    return "/" not in name and name.startswith(".") and name.endswith(".tmp")


def _verify_manifest(directory: Path, manifest: dict, scanned: tuple[dict[str, Path], set[str]],
                     policy: bool) -> None:
    """Every file listed is there unchanged, and nothing else is (policy.json skipped when not read)."""
    files, folders = scanned
    listed = {name: digest for name, digest in manifest["files"].items() if policy or name != POLICY_FILE}
    replacing = manifest.get("replacing") or {}
    ignored = {MANIFEST_FILE} | (set() if policy else {POLICY_FILE})
    for name in files:
        if name not in listed and name not in ignored and not _is_temporary(name):
            raise ModelError(f"{directory / name}: not in {MANIFEST_FILE} (added after the model was saved); "
                             "remove it")
    parents = {"/".join(name.split("/")[:i]) for name in listed for i in range(1, name.count("/") + 1)}
    for name in sorted(folders - parents - ignored):
        if not any(name.startswith(f"{other}/") for other in ignored):
            raise ModelError(f"{directory / name}: a folder not in {MANIFEST_FILE} (added after the model was "
                             "saved); remove it")
    for name, digest in listed.items():
        path = directory / name
        if name not in files:
            if name in folders:
                raise ModelError(f"{path}: is a directory; {MANIFEST_FILE} lists a file here")
            if name == POLICY_FILE:
                raise ModelError(f"{path}: missing; the model was saved with a decision policy (restore it, "
                                 "or ask for raw scores: --no-policy, load(..., policy=False))")
            raise ModelError(f"{path}: missing (listed in {MANIFEST_FILE}); is {directory} a complete copy?")
        actual = _sha256(path)
        if actual != digest and actual != replacing.get(name):
            raise ModelError(f"{path}: changed since the model was saved (sha256 differs from {MANIFEST_FILE})")


@contextlib.contextmanager
def raw_scores(active: bool = True) -> Iterator[None]:
    """Within the block (when `active`), every model directory is read without its decision policy,
    as with `read_model_directory(..., policy=False)`: what the CLI's --no-policy does around a verb."""
    token = _RAW_SCORES.set(_RAW_SCORES.get() or active)
    try:
        yield
    finally:
        _RAW_SCORES.reset(token)


def _read_json(path: Path, required: bool = True) -> Any:
    if path.is_symlink():
        raise ModelError(f"{path}: is a symbolic link{_outside(path, path.parent)}; a model directory holds "
                         "plain files only")
    if path.is_dir():
        raise ModelError(f"{path}: is a directory, expected a JSON file")
    if not path.is_file():
        if required:
            raise ModelError(f"{path}: missing; is {path.parent} a textclf model directory?")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise ModelError(f"{path}: corrupt JSON ({_first_line(err)[:120]})") from None
    except OSError as err:
        raise ModelError(f"{path}: cannot read ({err.strerror or err})") from None


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else ""
