"""Where `TextClassifier.save` may write. A save replaces the whole directory (save_classifier
writes a fresh one and swaps it in), so whatever the directory held is gone afterwards: a missing
or empty directory is written, a saved model is replaced only with `overwrite=True`, and anything
else (a user's folder, the working directory) is never replaced."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DataError
from . import FORMAT
from .manifest import MANIFEST_FILE, MANIFEST_FORMAT


def check_save_target(directory: str | Path, overwrite: bool) -> Path:
    """Refuse (one-line DataError) to save into `directory` when that would delete what is there and
    was not asked for: a non-empty directory without `overwrite`, or, even with it, a non-empty
    directory that is not a textclf model directory. Creates and deletes nothing."""
    directory = Path(directory)
    if not directory.is_dir() or not any(directory.iterdir()):
        return directory  # missing or empty (or a file, which save_classifier refuses by itself)
    if not is_model_directory(directory):
        raise DataError(f"{directory}: not empty and not a textclf model directory (no textclf config.json or "
                        "manifest.json); saving would delete its files, so it is refused even with overwrite=True: "
                        "save to a new or empty directory")
    if not overwrite:
        raise DataError(f"{directory} holds a saved model; pass overwrite=True to replace it")
    return directory


def is_model_directory(directory: Path) -> bool:
    """Whether `directory` holds a model textclf saved: its config.json or manifest.json says so."""
    for name, expected in (("config.json", FORMAT), (MANIFEST_FILE, MANIFEST_FORMAT)):
        try:
            document = json.loads((directory / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and document.get("format") == expected:
            return True
    return False
