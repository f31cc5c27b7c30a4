"""Calibration: each method recovers known parameters on synthetic logits, is stored as plain
JSON, is applied by predict/evaluate after a save/load, and on the bundled data temperature
scaling fitted on validation lowers test ECE of an over-confident model without changing argmax."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from textclf import TextClassifier
from textclf.cli import main
from textclf.config import load_config
from textclf.data.io import examples_frame, write_frame
from textclf.data.splits import split_examples
from textclf.errors import ConfigError, DataError, ModelError
from textclf.evaluation.calibration import calibrated_probabilities, fit_calibration
from textclf.evaluation.metrics import confidence_and_outcome, expected_calibration_error, log_loss
from textclf.objectives import sigmoid, softmax
from textclf.jobs.train import train


def synthetic(n=4000, k=3, overconfidence=3.0, seed=0):
    """Labels drawn from softmax(z); the 'model' reports overconfidence * z."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 1.5
    p = softmax(z)
    y = (rng.uniform(size=(n, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    return overconfidence * z, y


def ece(y, probs, multi=False):
    return expected_calibration_error(*confidence_and_outcome(y, probs, multi))


def test_temperature_recovers_the_overconfidence_and_keeps_argmax():
    logits, y = synthetic()
    cal = fit_calibration(logits, y, "temperature", multi_label=False)
    assert cal["temperature"] == pytest.approx(3.0, rel=0.1)
    # the fitted T is the minimum of validation NLL: no temperature on a fine grid does better
    grid = np.exp(np.linspace(np.log(0.5), np.log(10), 400))
    best_on_grid = min(log_loss(y, softmax(logits / t), False) for t in grid)
    fitted = log_loss(y, calibrated_probabilities(logits, cal, False), False)
    assert fitted <= best_on_grid + 1e-6
    probs = calibrated_probabilities(logits, cal, False)
    assert (probs.argmax(axis=1) == logits.argmax(axis=1)).all()
    assert ece(y, probs) < ece(y, softmax(logits)) / 2


def test_temperature_for_multi_label_uses_sigmoid():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3000, 4)) * 2
    y = (rng.uniform(size=z.shape) < sigmoid(z)).astype(np.float32)
    cal = fit_calibration(0.4 * z, y, "temperature", multi_label=True)  # an under-confident model
    assert cal["temperature"] == pytest.approx(0.4, rel=0.1)


def test_platt_recovers_slope_and_offset():
    rng = np.random.default_rng(2)
    margin = rng.normal(size=20000) * 2
    y = (rng.uniform(size=margin.shape) < sigmoid(2.0 * margin - 1.0)).astype(int)
    logits = np.stack([np.zeros_like(margin), margin], axis=1)  # binary: logit(p1) = z1 - z0
    cal = fit_calibration(logits, y, "platt", multi_label=False)
    assert cal["columns"] == [1]
    assert cal["a"][0] == pytest.approx(2.0, rel=0.05)
    assert cal["b"][0] == pytest.approx(-1.0, abs=0.08)
    probs = calibrated_probabilities(logits, cal, False)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(probs[:, 1], sigmoid(cal["a"][0] * margin + cal["b"][0]))
    ml = fit_calibration(np.stack([margin, -margin], axis=1), np.stack([y, 1 - y], axis=1), "platt", multi_label=True)
    assert ml["a"][0] == pytest.approx(2.0, rel=0.05) and ml["a"][1] == pytest.approx(2.0, rel=0.05)
    assert ml["b"][1] == pytest.approx(1.0, abs=0.08)  # P(1 - y) = sigmoid(2 * (-m) + 1)


def test_isotonic_is_stored_as_json_and_matches_sklearn():
    logits, y = synthetic(n=1500, k=3)
    cal = fit_calibration(logits, y, "isotonic", multi_label=False)
    restored = json.loads(json.dumps(cal))  # plain JSON, no pickle
    probs = calibrated_probabilities(logits, restored, False)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    raw = softmax(logits)
    iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(raw[:, 0], y == 0)
    unnormalised = np.interp(raw[:, 0], restored["x"][0], restored["y"][0])
    np.testing.assert_allclose(unnormalised, iso.predict(raw[:, 0]))
    assert ece(y, probs) < ece(y, raw)


def test_bad_calibration_files_are_model_errors():
    logits, y = synthetic(n=50)
    with pytest.raises(ModelError, match="unknown method"):
        calibrated_probabilities(logits, {"method": "magic"}, False)
    cal = fit_calibration(logits, y, "temperature", False)
    with pytest.raises(ModelError, match="fitted for 3 classes"):
        calibrated_probabilities(logits[:, :2], cal, False)


@pytest.mark.slow
def test_temperature_on_bundled_data_lowers_test_ece_without_changing_predictions(rotten_tomatoes):
    subset = rotten_tomatoes.subset(np.random.default_rng(0).choice(len(rotten_tomatoes), 5000, replace=False))
    splits = split_examples(subset, "stratified", validation_size=0.2, test_size=0.3, seed=0)
    # C=1000: next to no regularisation, so the logistic regression is over-confident
    clf = TextClassifier(model={"type": "tfidf", "C": 1000.0}).fit(splits.train)
    test_targets = clf.label_map.encode(splits.test)
    before_labels = clf.predict(splits.test)
    before = ece(test_targets, clf.predict_proba(splits.test))
    result = clf.calibrate(splits.validation, "temperature")  # validation only
    after = ece(test_targets, clf.predict_proba(splits.test))
    assert result.calibration["temperature"] > 1.0  # over-confident: logits get softened
    assert after < before * 0.6
    assert clf.predict(splits.test) == before_labels


def test_train_with_calibration_config_saves_it_and_cli_recalibrates(rt_small, tmp_path, capsys):
    data = tmp_path / "rt.csv"
    write_frame(examples_frame(rt_small), data)
    cfg = load_config(None, [f"data.train={data}", f"output_dir={tmp_path / 'run'}", "model.type=tfidf", "model.C=50",
                             "calibration.method=temperature", "data.split.validation_size=0.25"])
    result = train(cfg)
    saved = json.loads((result.model_dir / "policy.json").read_text())["calibration"]
    assert saved["method"] == "temperature" and saved["n_fitted"] == len(result.splits.validation)
    record = result.metrics["calibration"]
    assert record["kept"] and record["ece_cross_fitted"] < record["ece_before"] and record["rows"] == 150
    loaded = TextClassifier.load(result.model_dir)
    test = result.splits.test
    np.testing.assert_allclose(loaded.predict_proba(test), result.classifier.predict_proba(test), atol=1e-6)
    np.testing.assert_allclose(loaded.predict_proba(test), softmax(loaded.logits(test) / saved["temperature"]),
                               atol=1e-6)

    assert main(["calibrate", str(result.model_dir), "--method", "isotonic"]) == 0
    out = capsys.readouterr().out
    assert f"isotonic on {len(result.splits.validation)} examples" in out and "ECE cross-fit" in out
    kept = json.loads((result.model_dir / "policy.json").read_text())["calibration"]
    assert kept is None or kept["method"] == "isotonic"  # kept only when it lowers cross-fitted ECE
    assert (TextClassifier.load(result.model_dir).policy.calibration or {"method": "isotonic"})["method"] == "isotonic"

    # 6 rows asked for explicitly: refused in one line, the model's calibration left as it was
    calibrated = (result.model_dir / "policy.json").read_text()
    six = tmp_path / "six.csv"
    write_frame(examples_frame(result.splits.validation.subset(list(range(6)))), six)
    capsys.readouterr()
    assert main(["calibrate", str(result.model_dir), "--data", str(six)]) == 2
    err = capsys.readouterr().err.strip()
    assert "too few rows to calibrate on (6 validation rows (< 50))" in err and "\n" not in err and len(err) <= 300
    assert (result.model_dir / "policy.json").read_text() == calibrated
    with pytest.raises(DataError, match="nothing changed"):
        TextClassifier.load(result.model_dir).calibrate(result.splits.validation.subset(list(range(6))))

    no_validation = load_config(None, [f"data.train={data}", f"output_dir={tmp_path / 'r2'}", "model.type=tfidf",
                                       "calibration.method=platt", "data.split.validation_size=0"])
    with pytest.raises(ConfigError, match="validation split"):
        train(no_validation)
    assert not (tmp_path / "r2" / "model").exists()
