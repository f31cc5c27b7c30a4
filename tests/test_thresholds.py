"""Decision thresholds: hand-computed cuts, validation-only tuning, fallbacks, CLI, persistence."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from textclf.cli import main
from textclf.config import load_config
from textclf.data import Examples
from textclf.data.io import examples_frame, write_frame
from textclf.data.splits import split_examples
from textclf.errors import ConfigError
from textclf.evaluation.thresholds import ThresholdWarning, binary_curve, best_cut, tune_thresholds
from textclf.objectives import decide
from textclf.jobs.train import train

# Label a: scores 0.9 0.8 0.6 0.4 0.2 with truths 1 1 0 1 0. Label b: no positive at all.
PROBS = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.3], [0.4, 0.3], [0.2, 0.7]])
TRUTH = np.array([[1, 0], [1, 0], [0, 0], [1, 0], [0, 0]])


def test_curve_counts_match_hand_count():
    curve = binary_curve(TRUTH[:, 0], PROBS[:, 0])
    assert curve.cuts.tolist() == [0.9, 0.8, 0.6, 0.4, 0.2]
    assert curve.tp.tolist() == [1, 2, 2, 3, 3]
    assert curve.fp.tolist() == [0, 0, 1, 1, 2]


def test_f1_cut_is_hand_computed():
    # Cutting at 0.4 predicts 4 positives: tp 3, fp 1, fn 0 -> F1 = 6 / 7, the best of the five cuts;
    # the threshold sits halfway to the next lower score, (0.4 + 0.2) / 2.
    cut, score, reached = best_cut(binary_curve(TRUTH[:, 0], PROBS[:, 0]), "f1")
    assert cut == pytest.approx(0.3) and score == pytest.approx(6 / 7) and reached


def test_fbeta_and_target_cuts_are_hand_computed():
    curve = binary_curve(TRUTH[:, 0], PROBS[:, 0])
    # beta = 0.5 favours precision: at 0.8 (tp 2, fp 0, fn 1) F0.5 = 1.25*2 / (1.25*2 + 0.25*1) = 10/11,
    # better than 0.4 (tp 3, fp 1): 1.25*3 / (3.75 + 1) = 15/19.
    cut, score, _ = best_cut(curve, "fbeta", beta=0.5)
    assert cut == pytest.approx(0.7) and score == pytest.approx(10 / 11)
    # precision >= 1.0: the lowest cut that keeps it is 0.8 (recall 2/3).
    cut, score, reached = best_cut(curve, "precision", target=1.0)
    assert cut == pytest.approx(0.7) and score == 1.0 and reached
    # recall >= 0.9: the highest cut reaching it is 0.4 (recall 1, precision 3/4).
    cut, score, reached = best_cut(curve, "recall", target=0.9)
    assert cut == pytest.approx(0.3) and score == 1.0 and reached
    # precision >= 1.0 is out of reach once the first score is a negative.
    flipped = binary_curve(np.array([0, 1, 1]), np.array([0.9, 0.5, 0.4]))
    assert best_cut(flipped, "precision", target=1.0)[2] is False


def test_label_without_validation_positives_warns_and_falls_back_to_global():
    with pytest.warns(ThresholdWarning, match=r"fewer than 1 positive validation examples.*'rare'"):
        result = tune_thresholds(PROBS, TRUTH, multi_label=True, label_names=["common", "rare"], min_positives=1)
    global_only = tune_thresholds(PROBS, TRUTH, multi_label=True, scope="global", label_names=["common", "rare"],
                                  min_positives=1)
    assert result.fallback_labels == ["rare"]
    assert result.thresholds[0] == pytest.approx(0.3)
    assert result.thresholds[1] == pytest.approx(global_only.thresholds[0])
    assert result.validation_scores[1] is None


def test_a_label_with_fewer_than_five_positives_keeps_the_global_threshold():
    # 'common': 3 positives of 5 rows, tuned to 0.3 above when one positive is enough; by default
    # three positives are too few for a cut of its own, and the pool (3) too few for a global one.
    with pytest.warns(ThresholdWarning, match=r"fewer than 5 positive validation examples for 2 label\(s\) "
                                              r"\['common', 'rare'\].*the default"):
        result = tune_thresholds(PROBS, TRUTH, multi_label=True, label_names=["common", "rare"])
    assert result.thresholds.tolist() == [0.5, 0.5] and result.fallback_labels == ["common", "rare"]
    # Twelve rows: 'common' has 8 positives (tuned), 'rare' 2 (falls back to the pooled cut).
    probs, truth = np.tile(PROBS, (3, 1))[:12], np.tile(TRUTH, (3, 1))[:12].copy()
    truth[[2, 4], 1] = 1
    with pytest.warns(ThresholdWarning, match=r"for 1 label\(s\) \['rare'\].*the global threshold"):
        result = tune_thresholds(probs, truth, multi_label=True, label_names=["common", "rare"])
    pooled = tune_thresholds(probs, truth, multi_label=True, scope="global")
    assert result.fallback_labels == ["rare"] and result.thresholds[1] == pytest.approx(pooled.thresholds[0])
    assert result.thresholds[0] == pytest.approx(0.3)


def test_no_positive_anywhere_falls_back_to_half():
    with pytest.warns(ThresholdWarning, match="the default"):
        result = tune_thresholds(PROBS, np.zeros_like(TRUTH), multi_label=True)
    assert result.thresholds.tolist() == [0.5, 0.5]


def test_target_objective_needs_a_target_and_multiclass_is_refused():
    with pytest.raises(ConfigError, match="needs thresholds.target"):
        tune_thresholds(PROBS, TRUTH, True, objective="precision")
    with pytest.raises(ConfigError, match="binary or multi-label"):
        tune_thresholds(np.full((4, 3), 1 / 3), np.array([0, 1, 2, 0]), multi_label=False)
    with pytest.raises(ConfigError, match="needs a target"):
        load_config(None, ["data.dataset=kaomoji", "thresholds.tune=per_label", "thresholds.objective=recall"])


def test_binary_threshold_drives_single_label_decisions():
    probs = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.55, 0.45]])
    targets = np.array([0, 1, 1, 1])
    result = tune_thresholds(probs, targets, multi_label=False, label_names=["neg", "pos"], min_positives=1)
    assert result.thresholds.shape == (1,)
    assert result.thresholds[0] == pytest.approx(0.3)  # between 0.4 and 0.2: every positive caught
    assert decide(probs, False, result.thresholds).tolist() == [0, 1, 1, 1]
    assert decide(probs, False).tolist() == [0, 0, 1, 0]  # argmax without a tuned threshold


# -- thresholds never see test data --------------------------------------------------------------
@pytest.fixture(scope="module")
def binary_files(tmp_path_factory, rt_binary):
    root = tmp_path_factory.mktemp("thr")
    splits = split_examples(rt_binary, "stratified", 0.2, 0.2, seed=0)
    write_frame(examples_frame(splits.train), root / "train.csv")
    write_frame(examples_frame(splits.validation), root / "val.csv")
    write_frame(examples_frame(splits.test), root / "test.csv")
    # A planted test set: the same texts with every label flipped, which would move any threshold
    # tuned on it.
    flipped = Examples.from_lists(splits.test.texts,
                                  ["rotten" if label == "fresh" else "fresh" for label in splits.test.labels])
    write_frame(examples_frame(flipped), root / "planted_test.csv")
    return root


def _config(root, test_file: str, out: str, validation: str = "val.csv"):
    return load_config(None, [
        f"data.train={root / 'train.csv'}", f"data.validation={root / validation}",
        f"data.test={root / test_file}", "thresholds.tune=per_label", "audit=false", f"output_dir={root / out}",
    ])


def test_thresholds_are_identical_whatever_the_test_set_contains(binary_files, capsys):
    honest = train(_config(binary_files, "test.csv", "honest"))
    planted = train(_config(binary_files, "planted_test.csv", "planted"))
    assert honest.classifier.policy.thresholds.tolist() == planted.classifier.policy.thresholds.tolist()
    assert honest.metrics["test"]["accuracy"] != planted.metrics["test"]["accuracy"]  # the test sets differ
    # ...while the validation split does move them: the tuning really depends on what it is given.
    moved = train(_config(binary_files, "test.csv", "moved", validation="planted_test.csv"))
    assert moved.classifier.policy.thresholds.tolist() != honest.classifier.policy.thresholds.tolist()
    assert honest.metrics["thresholds"]["n_validation"] == 120
    saved = json.loads((binary_files / "honest" / "model" / "policy.json").read_text())
    assert saved["thresholds"] == honest.classifier.policy.thresholds.tolist()


def test_cli_tune_thresholds_rewrites_the_saved_model(binary_files, capsys):
    model = binary_files / "honest" / "model"
    if not model.exists():
        train(_config(binary_files, "test.csv", "honest"))
    assert main(["tune-thresholds", str(model), "--data", str(binary_files / "val.csv"),
                 "--objective", "recall", "--target", "0.95"]) == 0
    assert "recall" in capsys.readouterr().out
    from textclf.classifier import TextClassifier

    clf = TextClassifier.load(model)
    assert clf.policy.provenance["thresholds"]["objective"] == "recall" and clf.policy.provenance["thresholds"]["target"] == 0.95
    from textclf.data.io import Columns, read_examples

    validation = read_examples(binary_files / "val.csv", Columns())
    predicted = clf.predict(validation)
    truth = validation.labels
    rotten = [p for p, t in zip(predicted, truth) if t == "rotten"]
    assert sum(p == "rotten" for p in rotten) / len(rotten) >= 0.95  # the target holds on validation
    # A user mistake is one line and exit code 2, and the saved thresholds are untouched.
    before = (model / "policy.json").read_text()
    assert main(["tune-thresholds", str(model), "--data", str(binary_files / "val.csv"), "--objective", "precision"]) == 2
    assert "needs a target" in capsys.readouterr().err
    assert (model / "policy.json").read_text() == before


def test_tuning_a_multiclass_model_is_refused_before_training(tmp_path, rt_small):
    write_frame(examples_frame(rt_small), tmp_path / "three.csv")
    cfg = load_config(None, [f"data.train={tmp_path / 'three.csv'}", "thresholds.tune=global", "audit=false",
                             f"output_dir={tmp_path / 'run'}"])
    log = io.StringIO()
    with pytest.raises(ConfigError, match="thresholds.tune needs a binary or multi-label task"):
        train(cfg, log=log)
    assert "threshold" not in log.getvalue() and not (tmp_path / "run").exists()


def test_workflow_reports_a_label_missing_from_validation(tmp_path, rt_small):
    # Multi-label rows from real reviews: every row has its class; "film" marks texts that say
    # "film", and the validation file has none of them.
    def rows(examples, keep_film: bool):
        out = [(t, [c, "film"] if "film" in t.lower() else [c]) for t, c in zip(examples.texts, examples.labels)]
        return Examples.from_lists(*zip(*[(t, lab) for t, lab in out if keep_film or "film" not in lab]))

    order = np.random.default_rng(0).permutation(len(rt_small))
    write_frame(examples_frame(rows(rt_small.subset(order[:400]), True)), tmp_path / "train.csv")
    write_frame(examples_frame(rows(rt_small.subset(order[400:]), False)), tmp_path / "val.csv")
    cfg = load_config(None, ["task=multi_label", f"data.train={tmp_path / 'train.csv'}",
                             f"data.validation={tmp_path / 'val.csv'}", "data.split.test_size=0",
                             "thresholds.tune=per_label", "audit=false", f"output_dir={tmp_path / 'run'}"])
    log = io.StringIO()
    result = train(cfg, log=log)
    assert "warning: fewer than 5 positive validation examples for 1 label(s) ['film']" in log.getvalue()
    assert result.metrics["thresholds"]["fallback_labels"] == ["film"]
    index = result.classifier.label_map.index
    others = [t for name, t in zip(result.classifier.label_map.labels, result.classifier.policy.thresholds) if name != "film"]
    assert 0.0 < result.classifier.policy.thresholds[index["film"]] < 1.0 and len(others) == 3


def test_thresholds_are_not_tuned_on_a_handful_of_rows(binary_files, capsys):
    # A cut chosen on 6 rows is noise: the verb refuses in one line and leaves the model as it was;
    # training with so small a validation split keeps the default cut and says why.
    model = binary_files / "honest" / "model"
    if not model.exists():
        train(_config(binary_files, "test.csv", "honest"))
    rows = (binary_files / "val.csv").read_text().splitlines()
    (binary_files / "six.csv").write_text("\n".join(rows[:7]) + "\n")
    before = (model / "policy.json").read_text()
    capsys.readouterr()
    assert main(["tune-thresholds", str(model), "--data", str(binary_files / "six.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "threshold tuning needs at least 50 labelled rows, got 6" in err and "\n" not in err and len(err) <= 300
    assert (model / "policy.json").read_text() == before
    log = io.StringIO()
    small = train(_config(binary_files, "test.csv", "small", validation="six.csv"), log=log)
    assert small.classifier.policy.thresholds is None
    assert "thresholds not tuned: 6" in log.getvalue()
