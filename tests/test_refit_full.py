"""refit_full: after evaluation the saved model is refitted on every labelled row, its decision
policy fitted on out-of-fold predictions; the reported scores stay those of the evaluated model."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import textclf
from textclf.jobs.train import load_train_config, refit_wanted

NOTE = ("the final model was refitted on all {n} labelled rows after evaluation; the scores above are from the "
        "model fitted on {m} rows before refit")


@pytest.fixture(scope="module")
def rows(rt_small):
    return rt_small.subset(range(0, 600, 2))  # 300 rows, three classes


@pytest.fixture(scope="module")
def runs(rows, tmp_path_factory):
    """The same data and seed trained with refit_full off and on."""
    out = {}
    for refit in ("false", "true"):
        log = io.StringIO()
        result = textclf.train(rows.texts, list(rows.labels), overrides=["audit=false", f"refit_full={refit}"],
                               output_dir=tmp_path_factory.mktemp(f"refit_{refit}"), log=log)
        out[refit] = (result, log.getvalue())
    return out


def _held_out(metrics: dict) -> dict:
    return {name: metrics[name] for name in ("sizes", "validation", "test")}


def test_refit_saves_a_model_fitted_on_every_row_with_the_held_out_scores_unchanged(runs, rows):
    (off, _), (on, log) = runs["false"], runs["true"]
    train_rows = off.metrics["sizes"]["train"]
    assert off.classifier.card.train_size == train_rows < len(rows)
    saved = textclf.load(on.model_dir)
    assert saved.card.train_size == len(rows) and saved.card.refit["rows"] == len(rows)
    assert _held_out(on.metrics) == _held_out(off.metrics)  # the scores are of the model before refit
    assert on.evaluated.card.train_size == train_rows
    refitted = np.array(saved.predict(rows.texts), dtype=object)
    evaluated = np.array(textclf.load(off.model_dir).predict(rows.texts), dtype=object)
    assert (refitted != evaluated).any()
    assert np.array_equal(np.array(on.evaluated.predict(rows.texts), dtype=object), evaluated)
    note = NOTE.format(n=len(rows), m=train_rows)
    assert saved.card.refit_note() == note and note in log
    saved_card = json.loads((on.model_dir / "config.json").read_text())
    assert note in json.dumps(saved_card)
    metrics = json.loads((on.model_dir.parent / "metrics.json").read_text())
    assert metrics["refit"]["note"] == note and metrics["refit"]["evaluated_model_rows"] == train_rows


def test_refit_off_changes_nothing(runs):
    off, log = runs["false"]
    assert "refit" not in off.metrics and off.evaluated is off.classifier
    assert textclf.load(off.model_dir).card.refit is None and "refit_full" not in log


def test_the_refitted_policy_is_fitted_out_of_fold_on_every_row(runs, rows):
    on, _ = runs["true"]
    calibration = textclf.load(on.model_dir).policy.provenance["calibration"]
    assert calibration["fitted_on"] == f"out-of-fold predictions (5-fold) over all {len(rows)} labelled rows"
    assert calibration["rows"] == len(rows) != on.metrics["sizes"]["validation"]


def test_tuned_thresholds_are_refitted_out_of_fold(rt_binary, tmp_path):
    data = rt_binary  # 600 rows: a validation split of more than the 50 rows thresholds need
    result = textclf.train(data.texts, list(data.labels), overrides=[
        "audit=false", "refit_full=true", "thresholds.tune=global", "calibration=null"], output_dir=tmp_path,
        log=io.StringIO())
    saved = textclf.load(result.model_dir)
    assert saved.policy.provenance["thresholds"]["fitted_on"].startswith("out-of-fold predictions (5-fold)")
    assert result.evaluated.policy.provenance["thresholds"]["fitted_on"] != \
        saved.policy.provenance["thresholds"]["fitted_on"]


def test_too_few_rows_of_a_class_skip_the_policy_with_one_warning(rows, tmp_path):
    labels = np.array(rows.labels, dtype=object)
    keep = np.flatnonzero(labels != "plot").tolist() + np.flatnonzero(labels == "plot")[:4].tolist()
    data = rows.subset(sorted(keep))
    log = io.StringIO()
    result = textclf.train(data.texts, list(data.labels), overrides=["audit=false", "refit_full=true"],
                           output_dir=tmp_path, log=log)
    warnings = [line for line in log.getvalue().splitlines() if line.startswith("textclf: warning: refit_full")]
    assert len(warnings) == 1 and "too few rows" in warnings[0]
    saved = textclf.load(result.model_dir)
    assert saved.policy.calibration is None and saved.card.train_size == len(data)


def test_without_a_test_split_the_refit_adds_the_validation_rows(rows, tmp_path):
    data = rows.subset(range(0, 300, 2))
    result = textclf.train(data.texts, list(data.labels), output_dir=tmp_path, log=io.StringIO(),
                           overrides=["audit=false", "refit_full=true", "data.split.test_size=0"])
    assert "test" not in result.metrics["sizes"] and result.classifier.card.train_size == len(data)
    log = io.StringIO()
    alone = textclf.train(data.texts, list(data.labels), log=log, overrides=[
        "audit=false", "refit_full=true", "data.split.test_size=0", "data.split.validation_size=0",
        "calibration=null"])
    assert alone.classifier is alone.evaluated and "no validation or test rows to add" in log.getvalue()


def test_refit_full_auto_means_on_for_auto_models_only():
    def wanted(*values):
        return refit_wanted(load_train_config(None, ["data.train=x.csv", *values]))

    assert wanted("model.type=auto") and not wanted("model.type=tfidf")
    assert wanted("model.type=tfidf", "refit_full=true") and not wanted("model.type=auto", "refit_full=false")


def test_an_auto_model_refits_its_choice(rows, tmp_path):
    data = rows.subset(range(0, 300, 2))
    result = textclf.train(data.texts, list(data.labels), output_dir=tmp_path, log=io.StringIO(), overrides=[
        "audit=false", 'model={"type": "auto", "candidates": ["tfidf_word"], "time_budget": 20, "max_trials": 2}'])
    saved = textclf.load(result.model_dir)
    assert saved.model_params["type"] == "tfidf" == result.evaluated.model_params["type"]
    assert saved.model_params == result.evaluated.model_params  # the choice, fixed, not a new search
    assert saved.card.train_size == len(data) and saved.card.refit["evaluated_model_rows"] < len(data)


def test_a_refitted_model_refuses_its_own_validation_and_test_splits(rows, tmp_path, capsys):
    """Its test and validation rows are in its training data now: scoring or calibrating there
    would be optimistic. Every command that defaults to them refuses in one line and writes nothing;
    data it never saw still works."""
    from textclf.cli import main

    frame = {"text": list(rows.texts), "label": list(rows.labels)}
    import pandas as pd

    pd.DataFrame(frame).iloc[:240].to_csv(tmp_path / "seen.csv", index=False)
    pd.DataFrame(frame).iloc[240:].to_csv(tmp_path / "unseen.csv", index=False)
    assert main(["train", str(tmp_path / "seen.csv"), "model.type=tfidf", "refit_full=true", "audit=false",
                 "-o", str(tmp_path / "run")]) == 0
    model = str(tmp_path / "run" / "model")
    capsys.readouterr()
    policy_before = (tmp_path / "run" / "model" / "policy.json").read_bytes()
    for argv in (["evaluate", model], ["report", model, "-o", str(tmp_path / "r.html")],
                 ["calibrate", model], ["errors", model], ["evaluate", model, "--data", "validation"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "refitted on all its labelled rows" in err and len(err) <= 300, argv
    assert not (tmp_path / "r.html").exists()
    assert (tmp_path / "run" / "model" / "policy.json").read_bytes() == policy_before
    assert main(["evaluate", model, "--data", str(tmp_path / "unseen.csv")]) == 0
    assert "macro_f1" in capsys.readouterr().out
