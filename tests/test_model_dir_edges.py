"""Edges of the model directory, the decision policy and serving that an adversarial probe found
(FINDINGS A6, A12, B4, C5, D): each must be refused in one line naming the file and key, or answer
with the model's own types; never a NaN, a traceback or a policy fitted on test rows.

Tampered directories are resealed the way someone who can write the directory would do it: the
manifest (and config.json's `files`) rewritten to match, so the checks behind the checksums run.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file, save_file

import textclf
from textclf.cli import main
from textclf.errors import ConfigError, DataError, ModelError
from textclf.serving.http import ServiceConfig, create_app

PROBE = ["a gripping, beautifully shot film", "dull and far too long"]


# -- models and data ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def binary(rt_binary):
    return rt_binary.subset(range(0, 200))


@pytest.fixture(scope="module")
def saved(tmp_path_factory, binary) -> Path:
    clf = textclf.TextClassifier(model={"type": "tfidf"}).fit(binary)
    return clf.save(tmp_path_factory.mktemp("saved") / "model")


@pytest.fixture
def model(tmp_path, saved) -> Path:
    """A fresh copy of the saved model, and in.csv beside it."""
    (tmp_path / "in.csv").write_text("text\n" + "\n".join(f'"{t}"' for t in PROBE) + "\n")
    return Path(shutil.copytree(saved, tmp_path / "model"))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reseal(model: Path, files_too: bool = True) -> None:
    """manifest.json (and, with `files_too`, config.json's `files`) rewritten to match the directory."""
    if files_too:
        config = json.loads((model / "config.json").read_text())
        config["files"] = {name: _sha(model / name) for name in config["files"]}
        (model / "config.json").write_text(json.dumps(config, indent=2))
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["files"] = {p.relative_to(model).as_posix(): _sha(p) for p in sorted(model.rglob("*"))
                         if p.is_file() and p.name != "manifest.json"}
    (model / "manifest.json").write_text(json.dumps(manifest, indent=2))


def edit_json(path: Path, change: Callable[[object], object]) -> None:
    value = json.loads(path.read_text())
    result = change(value)
    path.write_text(json.dumps(value if result is None else result))


def edit_weights(model: Path, change: Callable[[dict], None]) -> None:
    weights = load_file(str(model / "model.safetensors"))
    change(weights)
    save_file(weights, str(model / "model.safetensors"))


def one_line(capsys, *names: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert len(lines[0]) <= 300 and "Traceback" not in err, lines[0]
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def predict_refused(model: Path, capsys, *names: str) -> str:
    code = main(["predict", str(model), str(model.parent / "in.csv"), "-o", str(model.parent / "out.jsonl")])
    line = one_line(capsys, *names)
    assert code == 2 and not (model.parent / "out.jsonl").exists()
    return line


def _vocab(change: Callable[[dict], None]) -> Callable[[list], None]:
    return lambda state: change(state[0]["vocabulary"])


def _first_term(vocabulary: dict) -> str:
    return next(iter(vocabulary))


# -- B4, A12: tfidf.json and model.safetensors checked against each other and the config --------
TFIDF_CASES: dict[str, tuple[Callable[[list], object], str]] = {
    "index_out_of_range": (_vocab(lambda v: v.__setitem__(_first_term(v), 10**7)), "out of range"),
    "negative_index": (_vocab(lambda v: v.__setitem__(_first_term(v), -1)), "out of range"),
    "float_index": (_vocab(lambda v: v.__setitem__(_first_term(v), 1.5)), "integer indices"),
    "shared_index": (_vocab(lambda v: v.__setitem__(_first_term(v), v[list(v)[1]])), "share one index"),
    "idf_nan": (lambda s: s[0].__setitem__("idf", [float("nan")] * len(s[0]["idf"])), "idf"),
    "input_filename": (lambda s: s[0]["params"].__setitem__("input", "filename"), "'input'"),
    "redos_pattern": (lambda s: s[0]["params"].__setitem__("token_pattern", "(a+)+$"), "token_pattern"),
    "char_analyzer": (lambda s: s[0]["params"].__setitem__("analyzer", "char"), "analyzer"),
    "two_vectorizers": (lambda s: s + s, "vectorizer"),
    "empty": (lambda s: s.clear(), "vectorizer"),
}


@pytest.mark.parametrize("case", sorted(TFIDF_CASES))
def test_a_resealed_tfidf_json_that_does_not_fit_is_refused(case, model, capsys):
    change, words = TFIDF_CASES[case]
    edit_json(model / "tfidf.json", change)
    reseal(model)
    predict_refused(model, capsys, "tfidf.json", words)


WEIGHT_CASES: dict[str, tuple[Callable[[dict], None], str]] = {
    "nan_coef": (lambda w: w.__setitem__("coef", np.full_like(w["coef"], np.nan)), "NaN"),
    "inf_intercept": (lambda w: w.__setitem__("intercept", np.full_like(w["intercept"], np.inf)), "NaN"),
    "float16": (lambda w: w.__setitem__("coef", w["coef"].astype(np.float16)), "float32"),
    "int32": (lambda w: w.__setitem__("coef", w["coef"].astype(np.int32)), "float32"),
    "fewer_features": (lambda w: w.__setitem__("coef", w["coef"][:, :50].copy()), "shape"),
    "extra_tensor": (lambda w: w.__setitem__("extra", np.zeros(3, np.float32)), "coef and intercept"),
}


@pytest.mark.parametrize("case", sorted(WEIGHT_CASES))
def test_resealed_weights_that_do_not_fit_are_refused(case, model, capsys):
    change, words = WEIGHT_CASES[case]
    edit_weights(model, change)
    reseal(model)
    predict_refused(model, capsys, "model.safetensors", words)
    assert main(["verify", str(model)]) == 0  # the checksums match: only loading finds the damage
    capsys.readouterr()


def test_weights_resealed_in_the_manifest_alone_disagree_with_config_files(model, capsys):
    edit_weights(model, lambda w: w.__setitem__("coef", w["coef"] * 2))
    reseal(model, files_too=False)
    predict_refused(model, capsys, "model.safetensors", "config.json 'files'")


def test_the_load_probe_refuses_non_finite_outputs(model, capsys, monkeypatch):
    """Behind the weight checks of one model type, the probe every type goes through."""
    import textclf.models.linear as linear

    monkeypatch.setattr(linear, "checked_weights", lambda path, weights, rows, features: (
        weights["coef"], weights["intercept"]))
    edit_weights(model, lambda w: w.__setitem__("coef", np.full_like(w["coef"], np.nan)))
    reseal(model)
    predict_refused(model, capsys, str(model), "probe text are not finite")


def test_prediction_refuses_non_finite_probabilities_at_every_entrance(model, capsys, monkeypatch):
    import textclf.artifacts as artifacts
    import textclf.models.linear as linear

    clf = textclf.load(model)
    clf.model_.coef = clf.model_.coef.copy()
    clf.model_.coef[:, :] = np.nan
    with pytest.raises(ModelError, match=r"non-finite probabilities \(NaN or infinite\) for row 1 of the 2"):
        clf.predict(PROBE)
    with pytest.raises(ModelError, match="non-finite"):
        clf.predict_proba(PROBE[:1])
    from fastapi.testclient import TestClient

    with TestClient(create_app(clf, ServiceConfig())) as client:
        for path in ("/predict", "/explain"):
            reply = client.post(path, json={"texts": PROBE})
            assert reply.status_code == 500, reply.text
            assert "non-finite" in reply.json()["detail"] and "NaN," not in reply.text
    # the CLI, with both load-time checks switched off: the prediction itself refuses
    monkeypatch.setattr(linear, "checked_weights", lambda path, weights, rows, features: (
        weights["coef"], weights["intercept"]))
    monkeypatch.setattr(artifacts, "check_probe_outputs", lambda directory, outputs, num_labels: None)
    edit_weights(model, lambda w: w.__setitem__("coef", np.full_like(w["coef"], np.nan)))
    reseal(model)
    predict_refused(model, capsys, "non-finite probabilities", "row 1")


# -- D: policy.json, labels.json -----------------------------------------------------------------
@pytest.mark.parametrize("content, words", [("null", "got null"), ("[]", "got list")])
def test_a_policy_json_that_is_not_a_policy_is_refused(model, capsys, content, words):
    (model / "policy.json").write_text(content)
    reseal(model)
    predict_refused(model, capsys, "policy.json", words)


def test_an_unknown_key_in_policy_json_is_refused(model, capsys):
    edit_json(model / "policy.json", lambda p: p.__setitem__("thresholdz", [0.9]))
    reseal(model)
    predict_refused(model, capsys, "policy.json", "'thresholdz'")


def test_a_label_listed_twice_names_labels_json(model, capsys):
    edit_json(model / "labels.json", lambda m: m.__setitem__("labels", ["fresh", "fresh"]))
    reseal(model)
    predict_refused(model, capsys, "labels.json", "'fresh' is listed twice")


# -- D: the inference device ---------------------------------------------------------------------
def test_an_unknown_or_absent_device_is_refused(saved):
    import torch

    for device in ("tpu", "cuda:x", "gpu0", "CPU"):
        with pytest.raises(ConfigError, match="not a device"):
            textclf.load(saved, device=device)
    absent = f"cuda:{torch.cuda.device_count() if torch.cuda.is_available() else 7}"
    with pytest.raises(ConfigError, match=f"device '{absent}': requested but this host has"):
        textclf.load(saved, device=absent)
    assert textclf.load(saved, device="cpu").predict(PROBE)


# -- D: /explain takes and returns the model's label type ------------------------------------------
@pytest.fixture(scope="module")
def int_model(binary):
    labels = [1 if label == "fresh" else 0 for label in binary.labels]
    return textclf.TextClassifier(model={"type": "tfidf"}).fit(binary.texts, labels)


def test_explain_speaks_the_models_label_type_and_top_k_is_a_strict_int(int_model):
    from fastapi.testclient import TestClient

    with TestClient(create_app(int_model, ServiceConfig())) as client:
        predicted = client.post("/predict", json={"texts": PROBE}).json()["predictions"]
        reply = client.post("/explain", json={"texts": PROBE, "top_k": 3})
        assert reply.status_code == 200, reply.text
        explanations = reply.json()["explanations"]
        assert [e["predicted"] for e in explanations] == [p["label"] for p in predicted] == int_model.predict(PROBE)
        assert all(type(e["predicted"]) is int and type(e["label"]) is int for e in explanations)
        chosen = client.post("/explain", json={"text": PROBE[0], "label": 0})
        assert chosen.status_code == 200 and chosen.json()["explanations"][0]["label"] == 0
        as_text = client.post("/explain", json={"text": PROBE[0], "label": "0"})
        assert as_text.status_code == 422 and "send 0 (a JSON integer)" in as_text.json()["detail"]
        assert client.post("/explain", json={"text": PROBE[0], "label": True}).status_code == 422
        assert client.post("/explain", json={"text": PROBE[0], "label": 5}).status_code == 422
        for top_k in ("3", True, 3.0, 0, 101):
            assert client.post("/explain", json={"text": PROBE[0], "top_k": top_k}).status_code == 422, top_k


# -- A6: a decision policy is never fitted on the model's test rows -------------------------------
def _csv(path: Path, examples) -> Path:
    pd.DataFrame({"text": examples.texts, "label": examples.labels}).to_csv(path, index=False)
    return path


@pytest.fixture
def run(tmp_path, rt_binary, monkeypatch, capsys) -> Path:
    """A model trained by the CLI on all.csv (split 70/10/20 by the seed); other.csv: unseen rows."""
    monkeypatch.chdir(tmp_path)
    _csv(tmp_path / "all.csv", rt_binary.subset(range(0, 400)))
    _csv(tmp_path / "other.csv", rt_binary.subset(range(400, 600)))
    assert main(["train", "data.train=all.csv", "data.dataset=null", "model.type=tfidf", "-o", "run"]) == 0
    capsys.readouterr()
    return tmp_path / "run" / "model"


def test_policy_data_holding_test_rows_is_refused_and_unseen_rows_are_not(run, capsys):
    before = (run / "policy.json").read_bytes()
    for verb in (["calibrate"], ["tune-thresholds", "--scope", "global"]):
        assert main([*verb, str(run), "--data", "all.csv"]) == 2
        one_line(capsys, "all.csv", "of the model's 80 test rows")
    assert (run / "policy.json").read_bytes() == before
    assert main(["tune-thresholds", str(run), "--data", "other.csv", "--scope", "global", "-o", "tuned"]) == 0
    assert "test rows" not in capsys.readouterr().err


def test_policy_data_repeating_a_few_test_rows_is_fitted_with_a_note(run, tmp_path, capsys):
    """A new file may repeat a few of the test split's texts (real data does): a note, not a refusal."""
    from textclf.data.sources import ModelData

    test = ModelData.of(textclf.load(run)).splits().test
    repeated = pd.DataFrame({"text": test.texts[:3], "label": test.labels[:3]})
    pd.concat([pd.read_csv(tmp_path / "other.csv"), repeated]).to_csv(tmp_path / "mixed.csv", index=False)
    assert main(["tune-thresholds", str(run), "--data", "mixed.csv", "--scope", "global", "-o", "tuned"]) == 0
    assert "3 of its 203 rows are also test rows" in capsys.readouterr().err


def test_a_validation_file_sharing_test_rows_is_refused_at_train_time(tmp_path, rt_binary, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _csv(tmp_path / "train.csv", rt_binary.subset(range(0, 300)))
    _csv(tmp_path / "test.csv", rt_binary.subset(range(300, 400)))
    assert main(["train", "data.train=train.csv", "data.dataset=null", "data.validation=test.csv",
                 "data.test=test.csv", "model.type=tfidf", "-o", "run"]) == 2
    one_line(capsys, "test.csv", "share 100 of 100 validation rows")
    assert not (tmp_path / "run").exists()
    frame = pd.DataFrame({"text": rt_binary.texts[:300], "label": rt_binary.labels[:300]})
    held_out = pd.DataFrame({"text": rt_binary.texts[300:400], "label": rt_binary.labels[300:400]})
    with pytest.raises(DataError, match="share 100 of 100 validation rows"):
        textclf.train(frame, validation=held_out, test=held_out, text_column="text", label_column="label",
                      overrides=["model.type=tfidf"], log=io.StringIO())


def test_a_few_rows_shared_by_separate_validation_and_test_files_train(tmp_path, rt_binary, monkeypatch, capsys):
    """Official splits of real data often repeat a few short texts: up to a tenth is the audit's to report."""
    monkeypatch.chdir(tmp_path)
    _csv(tmp_path / "train.csv", rt_binary.subset(range(0, 300)))
    _csv(tmp_path / "validation.csv", rt_binary.subset(list(range(300, 395)) + list(range(400, 405))))
    _csv(tmp_path / "test.csv", rt_binary.subset(range(400, 500)))  # 5 of its rows are validation rows too
    assert main(["train", "data.train=train.csv", "data.dataset=null", "data.validation=validation.csv",
                 "data.test=test.csv", "model.type=tfidf", "-o", "run"]) == 0
    assert (tmp_path / "run" / "model").is_dir()


def test_duplicates_inside_one_data_set_split_in_two_still_train(tmp_path, rt_binary, monkeypatch, capsys):
    """Parts cut from one set may share its own duplicate texts: the audit reports them, training runs."""
    monkeypatch.chdir(tmp_path)
    rows = rt_binary.subset(list(range(0, 300)) + [0] * 40)  # one row 41 times: in validation and test too
    _csv(tmp_path / "dups.csv", rows)
    assert main(["train", "data.train=dups.csv", "data.dataset=null", "model.type=tfidf", "-o", "run"]) == 0
    assert "duplicate" in capsys.readouterr().err


# -- C5: report checks --data before any section runs --------------------------------------------
def test_report_with_a_bad_data_file_is_one_line_and_no_work(run, tmp_path, capsys, monkeypatch):
    import textclf.jobs.inspect as inspect

    def never(*args, **kwargs):
        raise AssertionError("a report section ran before the data was checked")

    monkeypatch.setattr(inspect, "report_sections", never)
    (tmp_path / "bad.csv").write_text("text,label\ngood film,fresh\nbad film,neutral\n")
    assert main(["report", str(run), "--data", "bad.csv", "-o", "r.html"]) == 2
    one_line(capsys, "bad.csv", "unknown label 'neutral'")
    assert not (tmp_path / "r.html").exists()
