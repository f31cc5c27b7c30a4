"""The saved-model format, version 2: one directory, and the only code that writes it.

    config.json        format name and version, task, seed, model and training config, model card
    labels.json        the LabelMap (class names in sorted id order)
    policy.json        the decision policy: calibration, thresholds, min_labels and what they were
                       fitted on (optional; absent means argmax / 0.5, uncalibrated)
    model files        written by the model type (model.safetensors, tokenizer files, ...)
    metrics.json       optional, evaluation results at training time
    leaderboard.json   optional, the candidates `auto` compared
    manifest.json      the sha256 of every other file in the directory (see below)

A whole model is written into a temporary directory that replaces the old one; a policy change
rewrites only policy.json, in one atomic rename, so a crash leaves the old policy or the new one,
never a mix. Version 1 directories (calibration.json, thresholds.json, min_labels and
training.max_length in config.json) are migrated when read. Every part is checked against the
others on load: a mismatch is a ModelError that names the file, never a silent wrong answer.

A model directory is data. manifest.json lists every file in it with its sha256; loading refuses a
listed file that is missing or changed, a file or folder it does not list, a symbolic link or
special file anywhere in it, before any file is parsed; nothing named in a file is ever imported
(model types and tokenizers are looked up in textclf's own registries). policy.json is listed too,
so a model saved with a policy refuses to load without it unless the caller asks for raw scores
(`policy=False`). A policy update writes the manifest twice around the policy's rename: first with
the new digest and the old one under "replacing", then with the new one alone, so a crash at any
point leaves a pair that loads the old policy or the new one, never one the manifest does not vouch
for. Checksums catch accidents (a truncated copy, a hand edit, a file from another model); someone
who can rewrite the directory can rewrite manifest.json too, which is why `textclf verify --sha256`
compares the manifest's own digest with one kept elsewhere (docs/security.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..card import ModelCard
from ..config import migrate_max_length
from ..data import LabelMap
from ..errors import ConfigError, DataError, ModelError, TextclfError
from ..fileio import atomic_directory, atomic_file, write_json
from ..models import model_class
from ..policy import DecisionPolicy
from ..version import __version__
from .manifest import (MANIFEST_FILE, _RAW_SCORES, manifest_document, _first_line, _read_json, _read_manifest, _scan, _sha256,
                       _verify_manifest, raw_scores)
from .parts import (CLASSIFIER_FILES, POLICY_FILE, POLICY_KEYS, check_device, check_files, check_probe_outputs,
                    model_file_digests, read_label_map, read_policy)

FORMAT = "textclf-model"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
PROBE_TEXT = "a short probe text to check the saved model's outputs"


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False, default=_plain) + "\n").encode("utf-8")


def _dump(path: Path, obj: Any) -> None:
    path.write_bytes(_json_bytes(obj))


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def policy_json(policy: DecisionPolicy) -> dict:
    return {"calibration": policy.calibration,
            "thresholds": None if policy.thresholds is None else policy.thresholds.tolist(),
            "min_labels": policy.min_labels, "provenance": policy.provenance}


def save_classifier(clf, directory: Path, metrics: dict | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write the whole fitted classifier; `extra` maps further JSON files (leaderboard.json) to content."""
    with atomic_directory(directory) as tmp:
        clf.model_.save(tmp)
        _dump(tmp / "config.json", {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "textclf_version": __version__,
            "task": clf.task,
            "seed": clf.seed,
            "model": clf.model_config().model_dump(mode="json"),
            "training": clf.training_config().model_dump(mode="json"),
            "info": clf.card.to_json(),
            "files": model_file_digests(tmp),  # read by textclf versions without manifest.json
            "manifest": MANIFEST_FILE,  # loading refuses this directory without it
        })
        _dump(tmp / "labels.json", clf.label_map.to_json())
        _dump(tmp / POLICY_FILE, policy_json(clf.policy))
        if metrics is not None:
            _dump(tmp / "metrics.json", metrics)
        for name, content in (extra or {}).items():
            _dump(tmp / name, content)
        files, _ = _scan(tmp)
        _dump(tmp / MANIFEST_FILE, manifest_document({name: _sha256(path) for name, path in files.items()}))
    return directory


def save_policy(clf, directory: Path) -> None:
    """Replace the saved decision policy of the model in `directory`: policy.json in one atomic
    rename, with manifest.json rewritten before (new digest, old one under "replacing") and after
    (new digest alone), so that every state a crash can leave loads one whole policy."""
    read_config(directory)  # refuse to write into something that is not a textclf model
    manifest = _read_manifest(directory)
    if manifest is None:  # a directory saved before manifests (format 1, early format 2)
        write_json(directory / POLICY_FILE, policy_json(clf.policy))
        for legacy in ("calibration.json", "thresholds.json"):  # format 1 files would now be stale
            (directory / legacy).unlink(missing_ok=True)
        return
    content = _json_bytes(policy_json(clf.policy))
    files = {**manifest["files"], POLICY_FILE: hashlib.sha256(content).hexdigest()}
    previous = manifest["files"].get(POLICY_FILE)
    if previous is not None and previous != files[POLICY_FILE]:
        _write_bytes(directory / MANIFEST_FILE, _json_bytes(manifest_document(files, {POLICY_FILE: previous})))
    _write_bytes(directory / POLICY_FILE, content)
    _write_bytes(directory / MANIFEST_FILE, _json_bytes(manifest_document(files)))


def _write_bytes(path: Path, content: bytes) -> None:
    with atomic_file(path, "wb") as handle:
        handle.write(content)


# -- reading -------------------------------------------------------------------------------------
def read_config(directory: Path) -> dict:
    """config.json of a model directory, checked and migrated to the current format."""
    if not directory.is_dir():
        raise ModelError(f"{directory}: model directory not found")
    path = directory / "config.json"
    config = _read_json(path)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelError(f"{path}: not a textclf model config")
    version = config.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ModelError(
            f"{directory}: saved with model format {version} (textclf {config.get('textclf_version')}); "
            f"this textclf ({__version__}) reads formats {', '.join(map(str, READABLE_VERSIONS))}"
        )
    missing = [key for key in ("task", "model", "training") if not isinstance(config.get(key), dict | str)]
    if missing:
        raise ModelError(f"{path}: missing {', '.join(missing)}")
    if config["task"] not in ("single_label", "multi_label"):
        raise ModelError(f"{path}: task must be single_label or multi_label, got {config['task']!r}")
    if not isinstance(config["model"], dict) or not isinstance(config["training"], dict):
        raise ModelError(f"{path}: model and training must be JSON objects")
    if version == 1:
        config["model"], config["training"] = migrate_max_length(config["model"], config["training"])
    return config


@dataclass
class SavedModel:
    """A model directory read and checked, ready for TextClassifier to assemble."""

    directory: Path
    task: str
    seed: int
    model_params: dict
    training: dict
    label_map: LabelMap
    policy: DecisionPolicy
    card: ModelCard

    def build_model(self, model_config, training) -> Any:
        """The fitted model, loaded by its type on `training.device` (checked first: an unknown name
        or a GPU this host lacks is refused) and checked to give one finite output per label."""
        check_device(training.device)
        try:
            model = model_class(model_config.type).load(self.directory, model_config, self.label_map, training,
                                                        self.seed)
        except TextclfError as err:  # a model type's own refusal names the file (DIR/tfidf.json: ...)
            message = str(err)
            raise ModelError(message if message.startswith(str(self.directory)) else
                             f"{self.directory}: {message}") from None
        except Exception as err:  # a truncated or mismatched weight file surfaces as many library errors
            raise ModelError(f"{self.directory}: cannot load model weights "
                             f"({type(err).__name__}: {_first_line(err)})") from None
        try:
            outputs = np.asarray(model.logits([PROBE_TEXT]))
        except Exception as err:
            raise ModelError(f"{self.directory}: the model fails on a probe text "
                             f"({type(err).__name__}: {_first_line(err)})") from None
        check_probe_outputs(self.directory, outputs, len(self.label_map))
        return model


def read_model_directory(directory: Path, policy: bool = True) -> SavedModel:
    """A model directory checked file by file (manifest.json), then part against part. Nothing
    named in a file is imported; the model itself is built later (`SavedModel.build_model`).
    `policy=False` reads the model without its decision policy (raw scores: argmax / 0.5): policy.json
    is then neither required nor read."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelError(f"{directory}: model directory not found")
    policy = policy and not _RAW_SCORES.get()
    scanned = _scan(directory)
    manifest = _read_manifest(directory)
    if manifest is not None:
        _verify_manifest(directory, manifest, scanned, policy)
    config = read_config(directory)
    if manifest is None:
        if config.get("manifest") is not None:
            raise ModelError(f"{directory / MANIFEST_FILE}: missing; config.json says the model was saved with "
                             "one (restore it, or save the model again)")
    check_files(directory, config, manifest)
    label_map = read_label_map(directory)
    if label_map.multi_label != (config["task"] == "multi_label"):
        raise ModelError(f"{directory}: labels.json and config.json disagree on the task")
    decision = DecisionPolicy()
    if policy:
        decision = read_policy(directory, config, required=manifest is not None)
        decision.check(len(label_map), label_map.multi_label, str(directory / POLICY_FILE))
    card = ModelCard.from_json(config.get("info"), str(directory / "config.json"))
    seed = config.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ModelError(f"{directory / 'config.json'}: seed must be an integer")
    saved = SavedModel(directory, config["task"], seed, config["model"], config["training"], label_map, decision,
                       card)
    _check_configs(saved)
    return saved


def expected_digest(value: str) -> str:
    """A sha256 given to `textclf verify --sha256`: 64 hex digits, or a file that starts with them
    (what `textclf verify MODEL > model.sha256` or sha256sum wrote)."""
    text = value.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return text.lower()
    path = Path(value)
    if not path.is_file():
        raise DataError(f"--sha256 {value[:80]!r}: neither a sha256 digest (64 hex digits) nor a file")
    try:
        first = path.read_text(encoding="utf-8", errors="replace")[:4096].split()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    if not first or not re.fullmatch(r"[0-9a-fA-F]{64}", first[0]):
        raise DataError(f"{path}: does not start with a sha256 digest (64 hex digits)")
    return first[0].lower()


@dataclass
class Verified:
    """What `textclf verify` reports: the manifest's own sha256 and how many files it covers."""

    manifest: Path
    digest: str
    files: int


def verify_model_directory(directory: Path, expected: str | None = None) -> Verified:
    """Check every file of a model directory against manifest.json and every part against the
    others (as loading does, without building the model); with `expected`, also the manifest's own
    sha256 against that digest, kept somewhere the directory's writers cannot reach."""
    directory = Path(directory)
    saved = read_model_directory(directory)
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise ModelError(f"{path}: missing; {directory} was saved by an older textclf without a manifest "
                         "(load and save it again to add one)")
    digest = _sha256(path)
    if expected is not None and digest != expected.strip().lower():
        raise ModelError(f"{path}: sha256 {digest} differs from the expected {expected.strip()[:64]}; the "
                         "directory is not the model that digest was taken of")
    del saved
    return Verified(path, digest, len(_read_manifest(directory)["files"]))


def _check_configs(saved: SavedModel) -> None:
    from ..config import TrainingConfig, validate

    kind = saved.model_params.get("type", "tfidf")
    if not isinstance(kind, str):
        raise ModelError(f"{saved.directory / 'config.json'}: model.type must be a string, got {kind!r:.60}")
    try:
        validate(model_class(kind).config_class, saved.model_params,
                 "model config", prefix="model")
        validate(TrainingConfig, saved.training, "training config", prefix="training")
    except ConfigError as err:
        raise ModelError(f"{saved.directory / 'config.json'}: saved config is invalid ({_first_line(err)})") from None
