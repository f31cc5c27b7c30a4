"""Every entrance runs the same pipeline and the same checks: lists, Series, DataFrames, `datasets`,
files and Examples; labels keep their type; the decision policy is fitted on validation only and
only when it helps; estimator conventions (clone, set_params after fit, inference device)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, cross_val_score

import textclf
from textclf import DataError, TextClassifier
from textclf.cli import main
from textclf.classifier import FittedConfig, TextclfWarning
from textclf.data import read_examples
from textclf.data.io import Columns
from textclf.evaluation.calibration import guarded_calibration

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def frame(rt_small) -> pd.DataFrame:
    return pd.DataFrame({"review": rt_small.texts, "sentiment": rt_small.labels,
                         "movie": [f"m{i % 37}" for i in range(len(rt_small))]})


@pytest.fixture(scope="module")
def fitted(rt_small) -> TextClassifier:
    return TextClassifier().fit(rt_small.texts[:400], rt_small.labels[:400])


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message and len(message) <= 300
    return message


# -- inputs people already have ------------------------------------------------------------------
def test_one_column_frame_series_and_array_predict_like_the_list(fitted, frame):
    texts = frame["review"].tolist()[400:]
    expected = fitted.predict(texts)
    assert fitted.predict(frame[["review"]].iloc[400:]) == expected
    assert fitted.predict(frame["review"].iloc[400:]) == expected
    assert fitted.predict(np.asarray(texts, dtype=object)) == expected
    assert fitted.predict(frame.iloc[400:], text_column="review") == expected
    np.testing.assert_allclose(fitted.predict_proba(frame[["review"]].iloc[400:]), fitted.predict_proba(texts))


@pytest.mark.parametrize("bad, expected", [
    (lambda f: f.iloc[:3], r"a DataFrame with columns \['review', 'sentiment', 'movie'\]; pass text_column="),
    (lambda f: "a gripping film", "a single string is not a list of texts"),
    (lambda f: [{"text": "a gripping film", "label": "fresh"}], r"X\[0\] is a dict"),
    (lambda f: ["fine", 3], r"X\[1\]: text is not a string but int 3"),
    (lambda f: ["fine", "  "], r"X\[1\]: empty text"),
    (lambda f: {"review": ["fine"]}, "a dict"),
    (lambda f: np.zeros((4, 2)), r"shape \(4, 2\)"),
])
def test_ambiguous_inputs_are_refused_in_one_line(fitted, frame, bad, expected):
    with pytest.raises(DataError, match=expected) as err:
        fitted.predict(bad(frame))
    _one_line(err)


def test_dataset_trains_and_scores_like_lists(rt_small, frame):
    train = datasets.Dataset.from_pandas(frame.iloc[:400], preserve_index=False)
    held = datasets.Dataset.from_pandas(frame.iloc[400:], preserve_index=False)
    from_dataset = TextClassifier().fit(train, text_column="review", label_column="sentiment")
    from_lists = TextClassifier().fit(rt_small.texts[:400], rt_small.labels[:400])
    np.testing.assert_allclose(from_dataset.predict_proba(held, text_column="review"),
                               from_lists.predict_proba(rt_small.texts[400:]))
    assert from_dataset.score(held, text_column="review", label_column="sentiment") == \
        from_lists.score(rt_small.texts[400:], rt_small.labels[400:])
    assert from_dataset.evaluate(held)["macro_f1"] == from_lists.evaluate(rt_small.texts[400:],
                                                                          rt_small.labels[400:])["macro_f1"]
    with pytest.raises(DataError, match="a Dataset with columns") as err:
        TextClassifier().fit(train)
    _one_line(err)
    with pytest.raises(DataError, match="DatasetDict"):
        TextClassifier().fit(datasets.DatasetDict({"train": train}))


def test_validation_takes_every_form(rt_small, frame):
    texts, labels = rt_small.texts, rt_small.labels
    forms = [(texts[300:], labels[300:]), frame.iloc[300:], (frame["review"].iloc[300:], frame["sentiment"].iloc[300:]),
             datasets.Dataset.from_pandas(frame.iloc[300:], preserve_index=False), rt_small.subset(range(300, 600))]
    temperatures = set()
    for form in forms:
        clf = TextClassifier().fit(frame.iloc[:300], text_column="review", label_column="sentiment",
                                   validation=form)
        assert clf.card.calibration["rows"] == 300
        temperatures.add(round((clf.policy.calibration or {}).get("temperature", 0.0), 6))
    assert len(temperatures) == 1


# -- labels keep their type ----------------------------------------------------------------------
def test_integer_labels_round_trip_and_every_scorer_works(rt_small):
    names = sorted(set(rt_small.labels))
    y = np.array([names.index(label) * 5 for label in rt_small.labels])  # 0, 5, 10: numeric order != text order
    x = np.asarray(rt_small.texts, dtype=object)
    clf = TextClassifier().fit(x[:400], y[:400])
    assert clf.classes_.tolist() == [0, 5, 10] and clf.classes_.dtype.kind == "i"
    predicted = clf.predict(x[400:])
    assert all(type(p) is int for p in predicted)
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    for scoring in ("f1_macro", "accuracy", "roc_auc_ovr"):
        scores = cross_val_score(TextClassifier(), x, y, cv=folds, scoring=scoring)
        assert np.isfinite(scores).all() and scores.mean() > 0.4, scoring


def test_boolean_labels_round_trip(rt_binary):
    y = [label == "fresh" for label in rt_binary.labels[:300]]
    clf = TextClassifier().fit(rt_binary.texts[:300], y)
    assert clf.classes_.tolist() == [False, True]
    assert {type(p) for p in clf.predict(rt_binary.texts[300:340])} == {bool}


def test_mixed_label_representations_follow_one_rule(rt_binary, tmp_path):
    texts = rt_binary.texts[:40]
    # 1 and 1.0 are the same integer class
    clf = TextClassifier(calibration=None).fit(texts, [1, 0] * 10 + [1.0, 0.0] * 10)
    assert clf.classes_.tolist() == [0, 1]
    # 1 and "1" are refused, naming both rows
    with pytest.raises(DataError, match=r"row 3: label '1' is a string but row 1 has 1, a number") as err:
        TextClassifier().fit(texts[:4], [1, 0, "1", "0"])
    _one_line(err)
    # the same rule reads JSONL: true and "true" refused; 1 and 1.0 one class
    path = tmp_path / "mixed.jsonl"
    rows = [{"text": t, "label": v} for t, v in zip(texts, [1, 0, 1.0, 0.0] * 10)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    examples = read_examples(path)
    assert sorted(set(examples.labels)) == ["0", "1"] and examples.label_kind == "int"
    rows[5]["label"] = "true"
    rows[0]["label"] = True
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r'mixed.jsonl, row 2, column "label": label 0 is a number but row 1 '
                                        r"has True, a boolean"):
        read_examples(path)


def test_a_csv_file_evaluates_an_integer_model(rt_binary, tmp_path):
    """CSV cells are strings: "1" is the class 1 of a model trained on integers."""
    y = [int(label == "fresh") for label in rt_binary.labels[:300]]
    clf = TextClassifier().fit(rt_binary.texts[:300], y)
    pd.DataFrame({"text": rt_binary.texts[300:400], "label": y[:100]}).to_csv(tmp_path / "eval.csv", index=False)
    held = read_examples(tmp_path / "eval.csv", Columns())
    assert held.label_kind == "str"
    assert clf.evaluate(held)["accuracy"] == clf.score(rt_binary.texts[300:400], y[:100])


# -- one pipeline --------------------------------------------------------------------------------
def _without(obj, keys=("train_seconds", "seconds", "fitted_on", "source")):
    if isinstance(obj, dict):
        return {k: _without(v, keys) for k, v in obj.items() if k not in keys}
    if isinstance(obj, list):
        return [_without(v, keys) for v in obj]
    return obj


def test_python_and_cli_training_write_the_same_policy_and_metrics(rt_binary, tmp_path):
    data = tmp_path / "reviews.csv"
    pd.DataFrame({"review": rt_binary.texts[:700], "sentiment": rt_binary.labels[:700]}).to_csv(data, index=False)
    settings = ["model.type=tfidf", "thresholds.tune=global", "data.text_column=review",
                "data.label_column=sentiment", "seed=3"]
    assert main(["train", f"data.train={data}", f"output_dir={tmp_path / 'cli'}", *settings]) == 0
    frame = pd.read_csv(data)
    result = textclf.train(frame, text_column="review", label_column="sentiment", output_dir=tmp_path / "py",
                           overrides=["model.type=tfidf", "thresholds.tune=global", "seed=3"])
    for name in ("metrics.json", "model/policy.json"):
        cli = json.loads((tmp_path / "cli" / name).read_text())
        python = json.loads((tmp_path / "py" / name).read_text())
        assert _without(cli) == _without(python), name
    policy = json.loads((tmp_path / "py" / "model" / "policy.json").read_text())
    assert policy["thresholds"] is not None and result.metrics["test"]["macro_f1"] > 0.6
    # TextClassifier.fit on the same split decides the same policy
    direct = TextClassifier(thresholds={"tune": "global"}, seed=3).fit(result.splits.train,
                                                                      validation=result.splits.validation)
    assert direct.policy.thresholds.tolist() == policy["thresholds"]
    assert direct.policy.calibration == policy["calibration"]


def test_resample_from_python_is_applied_and_recorded(rt_small):
    skewed = rt_small.subset([i for i, label in enumerate(rt_small.labels) if label != "plot"][:200]
                             + [i for i, label in enumerate(rt_small.labels) if label == "plot"][:20])
    clf = TextClassifier(training={"resample": {"method": "over"}}).fit(skewed)
    assert clf.card.resample["rows_before"] == 220 and clf.card.resample["rows_after"] > 300
    assert clf.card.imbalance is None  # over-sampled classes are no longer skewed


# -- a guarded decision policy -------------------------------------------------------------------
def test_calibration_on_twenty_rows_is_skipped_with_a_warning(rt_small):
    with pytest.warns(TextclfWarning, match=r"not calibrated: 20 validation rows \(< 50\)"):
        clf = TextClassifier().fit(rt_small.texts[:300], rt_small.labels[:300],
                                   validation=(rt_small.texts[300:320], rt_small.labels[300:320]))
    assert clf.policy.calibration is None and clf.card.calibration["kept"] is False


def test_a_calibrator_that_worsens_cross_fitted_ece_is_not_kept():
    rng = np.random.default_rng(0)
    # already calibrated: p(class 1) = sigmoid(z) with labels drawn from it; isotonic only adds noise
    z = rng.normal(0, 2, 200)
    targets = (rng.random(200) < 1 / (1 + np.exp(-z))).astype(int)
    logits = np.stack([np.zeros(200), z], axis=1)
    decision = guarded_calibration(logits, targets, "isotonic", False, seed=0)
    assert decision.calibration is None and decision.ece_cross_fitted >= decision.ece_before
    assert "did not lower cross-fitted validation ECE" in decision.reason
    # an over-confident model: temperature helps out of fold and is kept
    confident = guarded_calibration(logits * 6, targets, "temperature", False, seed=0)
    assert confident.calibration is not None and confident.ece_cross_fitted < confident.ece_before


def test_calibrate_without_a_validation_split_exits_2_and_writes_nothing(rt_small, tmp_path, capsys):
    data = tmp_path / "rt.csv"
    pd.DataFrame({"text": rt_small.texts, "label": rt_small.labels}).to_csv(data, index=False)
    assert main(["train", f"data.train={data}", f"output_dir={tmp_path / 'run'}", "model.type=tfidf",
                 "data.split.validation_size=0", "calibration=null"]) == 0
    model = tmp_path / "run" / "model"
    before = {p.name: p.read_bytes() for p in model.iterdir()}
    capsys.readouterr()
    for extra in ([], ["--data", "test"]):
        assert main(["calibrate", str(model), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and len(err[0]) <= 300 and "validation" in err[0]
    assert {p.name: p.read_bytes() for p in model.iterdir()} == before


# -- estimator conventions -----------------------------------------------------------------------
def test_clone_keeps_every_parameter_including_legacy_keys():
    clf = TextClassifier(model={"type": "bag"}, training={"max_length": 48, "epochs": 2}, thresholds={"tune": "none"})
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    assert twin.model_config().max_length == 48  # the legacy key still reaches the model


def test_set_params_after_fit_does_not_change_what_is_saved(rt_small, tmp_path):
    clf = TextClassifier(model={"type": "tfidf", "C": 4.0}).fit(rt_small.texts[:300], rt_small.labels[:300])
    expected = clf.predict_proba(rt_small.texts[300:])
    clf.set_params(model__C=0.01, model__word_ngrams=[1, 1])
    clf.save(tmp_path / "m")
    loaded = textclf.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_proba(rt_small.texts[300:]), expected)
    assert loaded.model_config().C == 4.0


def test_a_model_trained_for_cuda_loads_and_predicts_on_cpu(rt_small, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this host has a GPU")
    every_fifth = rt_small.subset(range(0, 600, 5))
    texts, labels = every_fifth.texts, every_fifth.labels
    cpu = TextClassifier(model={"type": "bag", "embedding_dim": 8}, training={"epochs": 1, "progress": False},
                         calibration=None).fit(texts, labels)
    # as if it had been trained on a GPU: the saved training config names cuda and fp16
    cpu.fitted_ = FittedConfig(cpu.fitted_.model, cpu.fitted_.training.model_copy(
        update={"device": "cuda", "precision": "fp16"}))
    cpu.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["training"]["device"] == "cuda"
    loaded = textclf.load(tmp_path / "m")
    assert loaded.predict(texts[:10]) == cpu.predict(texts[:10])
    assert textclf.load(tmp_path / "m", device="cpu").predict(texts[:10]) == cpu.predict(texts[:10])
