"""A model directory is data (issue #28): every file is covered by manifest.json, nothing named in a
file is imported, a policy saved with the model is required, policy values are range-checked.

Each tampered directory is generated from one small trained TF-IDF model (fresh vs rotten, a
temperature calibration and a tuned threshold in its policy), then damaged the way an accident or a
careless hand edit would. "Resealed" cases also rewrite manifest.json to match, as a directory put
together by hand (or by someone who can write it) would be: those exercise the checks behind the
checksums. Every case runs the CLI and must exit 2 with one short stderr line naming the file,
leaving every file of the case as it was; a sentinel module that writes a marker when imported must
never run, also when the CLI runs from inside the model directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import textclf
from textclf.artifacts import MANIFEST_FILE, read_model_directory, save_policy
from textclf.cli import main
from textclf.errors import ModelError
from textclf.policy import DecisionPolicy

ROOT = Path(__file__).resolve().parents[1]
PROBE = ["a gripping, beautifully shot film", "dull and far too long"]


# -- the model every case starts from -----------------------------------------------------------
@pytest.fixture(scope="module")
def pristine(tmp_path_factory, rotten_tomatoes) -> Path:
    rows = [i for i, label in enumerate(rotten_tomatoes.labels) if label != "plot"]
    train, validation = rows[:80], rows[80:160]
    texts = [rotten_tomatoes.texts[i] for i in train]
    labels = [rotten_tomatoes.labels[i] for i in train]
    clf = textclf.TextClassifier(model={"type": "tfidf"}).fit(texts, labels)
    held_out = ([rotten_tomatoes.texts[i] for i in validation], [rotten_tomatoes.labels[i] for i in validation])
    clf.policy_ = clf.policy.with_calibration(
        {"method": "temperature", "multi_label": False, "n_classes": 2, "n_fitted": 80, "temperature": 1.7})
    clf.tune_thresholds(held_out)
    model = clf.save(tmp_path_factory.mktemp("pristine") / "model")
    assert read_model_directory(model).policy.thresholds is not None
    return model


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reseal(model: Path) -> None:
    """Rewrite manifest.json, and config.json's `files` (the model files' digests), to match the
    directory as it now is (what a hand-made directory has)."""
    config = json.loads((model / "config.json").read_text())
    config["files"] = {name: _sha(model / name) for name in config["files"] if (model / name).is_file()}
    (model / "config.json").write_text(json.dumps(config, indent=2))
    files = {p.relative_to(model).as_posix(): _sha(p) for p in sorted(model.rglob("*"))
             if p.is_file() and not p.is_symlink() and p.name != MANIFEST_FILE}
    manifest = json.loads((model / MANIFEST_FILE).read_text())
    manifest["files"] = files
    (model / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))


def edit_json(path: Path, change: Callable[[dict], object]) -> None:
    value = json.loads(path.read_text())
    result = change(value)
    path.write_text(json.dumps(value if result is None else result, indent=2))


def sentinel(folder: Path, name: str, marker: Path) -> Path:
    """A module that leaves `marker` behind if anything ever imports it."""
    path = folder / f"{name}.py"
    path.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('imported')\n"
                    "class Tok:\n    @classmethod\n    def load(cls, directory):\n        return cls()\n")
    return path


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[relative] = "-> " + os.readlink(path)
        elif path.is_file():
            out[relative] = _sha(path)
        elif path.is_dir():
            out[relative] = "dir"
        else:
            out[relative] = "special"
    return out


# -- the tampering --------------------------------------------------------------------------------
def _policy(change: Callable[[dict], None]) -> Callable[[Path, Path], None]:
    def tamper(model: Path, outside: Path) -> None:
        edit_json(model / "policy.json", change)
        reseal(model)
    return tamper


def _temperature(value):
    return _policy(lambda p: p["calibration"].__setitem__("temperature", value))


def rename_label(model, outside):
    edit_json(model / "labels.json", lambda d: json.loads(json.dumps(d).replace('"rotten"', '"rotted"')))


def reorder_labels(model, outside):
    edit_json(model / "labels.json", lambda d: json.loads(json.dumps(d).replace('"fresh"', '"@@"')
                                                         .replace('"rotten"', '"fresh"').replace('"@@"', '"rotten"')))


def delete_policy(model, outside):
    (model / "policy.json").unlink()


def delete_policy_resealed(model, outside):
    delete_policy(model, outside)
    reseal(model)


def policy_symlink_outside(model, outside):
    shutil.move(model / "policy.json", outside / "policy.json")
    (model / "policy.json").symlink_to(outside / "policy.json")


def labels_symlink_inside(model, outside):
    (model / "labels.json").rename(model / "labels.orig")
    (model / "labels.json").symlink_to("labels.orig")


def folder_symlink(model, outside):
    (outside / "extra").mkdir()
    (model / "extra").symlink_to(outside / "extra", target_is_directory=True)


def extra_py_file(model, outside):
    sentinel(model, "textclf_plugin", outside.parent / "marker")


def extra_folder(model, outside):
    (model / "plugins").mkdir()
    sentinel(model / "plugins", "evil", outside.parent / "marker")


def onnx_tokenizer_zen(model, outside):
    edit_json(model / "config.json", lambda c: c.__setitem__(
        "model", {"type": "onnx", "source": {"type": "cnn"}, "tokenizer": "this:Zen"}))
    reseal(model)


def onnx_tokenizer_sentinel(model, outside):
    sentinel(model, "sentinel_tok", outside.parent / "marker")
    edit_json(model / "config.json", lambda c: c.__setitem__(
        "model", {"type": "onnx", "source": {"type": "cnn"}, "tokenizer": "sentinel_tok:Tok"}))
    reseal(model)


def model_type_sentinel(model, outside):
    sentinel(model, "sentinel_model", outside.parent / "marker")
    edit_json(model / "config.json", lambda c: c["model"].__setitem__("type", "sentinel_model:Tok"))
    reseal(model)


def model_type_not_a_string(model, outside):
    edit_json(model / "config.json", lambda c: c["model"].__setitem__("type", ["tfidf"]))
    reseal(model)


def weights_byte_changed(model, outside):
    data = bytearray((model / "model.safetensors").read_bytes())
    data[-3] ^= 0x01
    (model / "model.safetensors").write_bytes(bytes(data))


def weights_missing(model, outside):
    (model / "model.safetensors").unlink()


def weights_truncated_resealed(model, outside):
    path = model / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    reseal(model)


def manifest_digest_edited(model, outside):
    edit_json(model / MANIFEST_FILE, lambda m: m["files"].__setitem__("labels.json", "0" * 64))


def manifest_deleted(model, outside):
    (model / MANIFEST_FILE).unlink()


def manifest_not_json(model, outside):
    (model / MANIFEST_FILE).write_text('{"format": "textclf-manifest", "files": {')


def manifest_names_parent(model, outside):
    edit_json(model / MANIFEST_FILE, lambda m: m["files"].__setitem__("../labels.json", "0" * 64))


def policy_is_a_directory(model, outside):
    (model / "policy.json").unlink()
    (model / "policy.json").mkdir()


def policy_is_a_fifo(model, outside):
    (model / "policy.json").unlink()
    os.mkfifo(model / "policy.json")


def config_truncated(model, outside):
    path = model / "config.json"
    path.write_text(path.read_text()[:200])


def labels_truncated_resealed(model, outside):
    path = model / "labels.json"
    path.write_text(path.read_text()[:10])
    reseal(model)


def platt_infinite(model, outside):
    (model / "policy.json").write_text((model / "policy.json").read_text().replace(
        '"temperature": 1.7', '"temperature": 1.7, "columns": [1], "a": [Infinity], "b": [0.0]').replace(
        '"method": "temperature"', '"method": "platt"'))
    reseal(model)


CASES: dict[str, tuple[Callable[[Path, Path], None], str]] = {  # tamper, the file the error must name
    "rename_label": (rename_label, "labels.json"),
    "reorder_labels": (reorder_labels, "labels.json"),
    "delete_policy": (delete_policy, "policy.json"),
    "delete_policy_resealed": (delete_policy_resealed, "policy.json"),
    "temperature_1e-300": (_temperature(1e-300), "policy.json"),
    "temperature_1e300": (_temperature(1e300), "policy.json"),
    "temperature_nan": (_temperature(float("nan")), "policy.json"),
    "temperature_negative": (_temperature(-2.0), "policy.json"),
    "threshold_1.5": (_policy(lambda p: p.__setitem__("thresholds", [1.5])), "policy.json"),
    "threshold_nan": (_policy(lambda p: p.__setitem__("thresholds", [float("nan")])), "policy.json"),
    "min_labels_true": (_policy(lambda p: p.__setitem__("min_labels", True)), "policy.json"),
    "min_labels_negative": (_policy(lambda p: p.__setitem__("min_labels", -1)), "policy.json"),
    "platt_infinite": (platt_infinite, "policy.json"),
    "policy_symlink_outside": (policy_symlink_outside, "policy.json"),
    "labels_symlink_inside": (labels_symlink_inside, "labels.json"),
    "folder_symlink": (folder_symlink, "extra"),
    "extra_py_file": (extra_py_file, "textclf_plugin.py"),
    "extra_folder": (extra_folder, "plugins"),
    "onnx_tokenizer_zen": (onnx_tokenizer_zen, "config.json"),
    "onnx_tokenizer_sentinel": (onnx_tokenizer_sentinel, "config.json"),
    "model_type_sentinel": (model_type_sentinel, "config.json"),
    "model_type_not_a_string": (model_type_not_a_string, "config.json"),
    "weights_byte_changed": (weights_byte_changed, "model.safetensors"),
    "weights_missing": (weights_missing, "model.safetensors"),
    "weights_truncated_resealed": (weights_truncated_resealed, "model"),
    "manifest_digest_edited": (manifest_digest_edited, "labels.json"),
    "manifest_deleted": (manifest_deleted, "manifest.json"),
    "manifest_not_json": (manifest_not_json, "manifest.json"),
    "manifest_names_parent": (manifest_names_parent, "manifest.json"),
    "policy_is_a_directory": (policy_is_a_directory, "policy.json"),
    "policy_is_a_fifo": (policy_is_a_fifo, "policy.json"),
    "config_truncated": (config_truncated, "config.json"),
    "labels_truncated_resealed": (labels_truncated_resealed, "labels.json"),
}


SEALED_BUT_BROKEN = {"weights_truncated_resealed"}  # the manifest matches: only loading the weights fails


@pytest.fixture
def case_dir(tmp_path, pristine):
    """tmp_path/case/{model, outside, in.csv}; the marker a sentinel would write is tmp_path/marker."""
    root = tmp_path / "case"
    model = shutil.copytree(pristine, root / "model")
    (root / "outside").mkdir()
    (root / "in.csv").write_text("text\n" + "\n".join(f'"{text}"' for text in PROBE) + "\n")
    return root


def _one_line(stderr: str, name: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert len(lines[0]) <= 300 and name in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_tampered_model_directory_is_refused_in_one_line(case, case_dir, capsys):
    tamper, name = CASES[case]
    model, marker = case_dir / "model", case_dir.parent / "marker"
    tamper(model, case_dir / "outside")
    before = snapshot(case_dir)
    code = main(["predict", str(model), str(case_dir / "in.csv"), "-o", str(case_dir / "out.csv")])
    captured = capsys.readouterr()
    assert code == 2, captured
    _one_line(captured.err, name)
    assert captured.out == ""  # the Zen of Python, or anything else, was never printed
    assert snapshot(case_dir) == before  # nothing written, nothing changed
    assert not marker.exists()
    if case in SEALED_BUT_BROKEN:  # verify checks files against the manifest; loading finds the damage
        assert main(["verify", str(model)]) == 0
    else:
        assert main(["verify", str(model)]) == 2
        _one_line(capsys.readouterr().err, name)


@pytest.mark.parametrize("case", ["onnx_tokenizer_sentinel", "model_type_sentinel", "extra_py_file"])
@pytest.mark.parametrize("how", [["-m", "textclf"], "script"])
def test_a_module_in_the_model_directory_never_runs_from_its_own_folder(case, how, case_dir):
    tamper, name = CASES[case]
    model, marker = case_dir / "model", case_dir.parent / "marker"
    tamper(model, case_dir / "outside")
    before = snapshot(case_dir)
    command = [sys.executable, *how] if how != "script" else [str(Path(sys.executable).parent / "textclf")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(["."] + sys.path)}
    done = subprocess.run([*command, "predict", ".", "../in.csv", "-o", "../out.csv"], cwd=model, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    _one_line(done.stderr, name)
    assert not marker.exists()
    assert snapshot(case_dir) == before


def test_the_sentinel_does_run_when_imported(tmp_path, monkeypatch):
    """The marker check above is meaningful: importing the sentinel does write it."""
    marker = tmp_path / "marker"
    sentinel(tmp_path, "sentinel_selftest", marker)
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("sentinel_selftest")
    assert marker.read_text() == "imported"
    sys.modules.pop("sentinel_selftest", None)


def test_the_onnx_type_never_imports_a_tokenizer_named_in_a_file(tmp_path, monkeypatch):
    from textclf.models.onnx_runtime import load_tokenizer, tokenizer_kind

    marker = tmp_path / "marker"
    sentinel(tmp_path, "sentinel_direct", marker)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("sentinel_direct:Tok", "this:Zen", "os:system", "textclf.fileio:atomic_file", ""):
        with pytest.raises(ModelError, match="unknown tokenizer"):
            load_tokenizer(name, tmp_path)
    assert not marker.exists() and "sentinel_direct" not in sys.modules
    # names older exports wrote still resolve, to textclf's own classes, without importing their module
    assert tokenizer_kind("textclf.models.pretrained:PretrainedTokenizer") == "json"
    assert tokenizer_kind("textclf.text.tokenizers:SubwordTokenizer") == "subword"
    assert tokenizer_kind("ngram") == "ngram"


# -- what still loads ---------------------------------------------------------------------------
def test_the_pristine_model_loads_verifies_and_keeps_its_policy(pristine, tmp_path, capsys):
    clf = textclf.load(pristine)
    assert clf.policy.calibration["temperature"] == 1.7 and clf.policy.thresholds is not None
    assert main(["verify", str(pristine)]) == 0
    line = capsys.readouterr().out.strip()
    digest = line.split()[0]
    assert digest == _sha(pristine / MANIFEST_FILE) and line.endswith("manifest.json")
    (tmp_path / "model.sha256").write_text(line + "\n")
    assert main(["verify", str(pristine), "--sha256", str(tmp_path / "model.sha256")]) == 0
    assert main(["verify", str(pristine), "--sha256", digest.upper()]) == 0
    capsys.readouterr()
    assert main(["verify", str(pristine), "--sha256", "f" * 64]) == 2
    _one_line(capsys.readouterr().err, "manifest.json")
    assert main(["verify", str(pristine), "--sha256", str(tmp_path / "nothing-here")]) == 2
    _one_line(capsys.readouterr().err, "--sha256")


def test_policy_false_loads_raw_scores_deliberately(case_dir, capsys):
    model = case_dir / "model"
    calibrated = textclf.load(model)
    delete_policy(model, None)
    with pytest.raises(ModelError, match="policy.json: missing"):
        read_model_directory(model)
    raw = read_model_directory(model, policy=False)
    assert raw.policy == DecisionPolicy()
    assert main(["predict", str(model), str(case_dir / "in.csv"), "-o", str(case_dir / "raw.csv"),
                 "--no-policy"]) == 0
    import pandas as pd

    rows = pd.read_csv(case_dir / "raw.csv")
    logits = calibrated.logits(PROBE)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # uncalibrated softmax
    np.testing.assert_allclose(rows[["prob_fresh", "prob_rotten"]].to_numpy(), expected, atol=1e-5)
    assert "threshold" not in rows.columns
    # a policy that is present but damaged is not read either
    shutil.copy(case_dir / "in.csv", model / "policy.json")
    assert main(["predict", str(model), str(case_dir / "in.csv"), "--no-policy"]) == 0
    assert main(["predict", str(model), str(case_dir / "in.csv")]) == 2


@pytest.mark.parametrize("crash_at", [1, 2, 3])
def test_a_policy_update_interrupted_anywhere_loads_one_whole_policy(case_dir, crash_at, monkeypatch):
    """save_policy writes manifest (new + old digest), policy.json, manifest (new digest): a crash
    before any of the three writes leaves a directory that loads the old policy or the new one."""
    import textclf.artifacts as artifacts

    model = case_dir / "model"
    clf = textclf.load(model)
    clf.policy_ = clf.policy.with_calibration({**clf.policy.calibration, "temperature": 3.0})
    writes = []
    real = artifacts._write_bytes

    def flaky(path, content):
        writes.append(path.name)
        if len(writes) == crash_at:
            raise OSError("simulated crash")
        real(path, content)

    monkeypatch.setattr(artifacts, "_write_bytes", flaky)
    with pytest.raises(OSError):
        save_policy(clf, model)
    monkeypatch.undo()
    assert writes[-1] == ["manifest.json", "policy.json", "manifest.json"][crash_at - 1]
    loaded = textclf.load(model)
    assert loaded.policy.calibration["temperature"] == (1.7 if crash_at <= 2 else 3.0)
    assert sorted(p.name for p in model.iterdir() if p.name.startswith(".")) == []
    clf.save_policy(model)  # the next update completes the pair
    assert textclf.load(model).policy.calibration["temperature"] == 3.0
    assert "replacing" not in json.loads((model / MANIFEST_FILE).read_text())
    assert main(["verify", str(model)]) == 0


def test_policy_values_are_range_checked_when_set(pristine):
    policy = textclf.load(pristine).policy
    for bad in (1e-300, 1e300, float("nan"), -1.0, 0.0, True, "2"):
        with pytest.raises(ModelError, match="temperature"):
            policy.with_calibration({"method": "temperature", "temperature": bad})
    for bad in ([1.5], [-0.1], [float("nan")], [float("inf")]):
        with pytest.raises(ModelError, match="thresholds"):
            policy.with_thresholds(np.array(bad))
    for bad in (True, -1, 2, 1.0):
        with pytest.raises(ModelError, match="min_labels"):
            policy.with_min_labels(bad)
    assert policy.with_calibration({"method": "temperature", "temperature": 0.01}).calibration["temperature"] == 0.01


def test_format_1_fixtures_still_load_without_a_manifest(tmp_path):
    fixtures = Path(__file__).parent / "fixtures"
    for name in ("v1_tfidf", "v1_cnn"):
        copy = shutil.copytree(fixtures / name, tmp_path / name)
        assert textclf.load(copy).predict(PROBE)
        assert main(["verify", str(copy)]) == 2  # no manifest to verify: says so in one line
