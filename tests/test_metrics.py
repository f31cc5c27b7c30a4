"""Probability metrics, calibration error and bootstrap intervals: hand-computed values on tiny
examples, and agreement with scikit-learn where scikit-learn has the metric."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from textclf.data import LabelMap
from textclf.evaluation.bootstrap import bootstrap_intervals, headline_intervals, multi_label_statistics, \
    single_label_statistics
from textclf.evaluation.metrics import (
    average_precision, binary_roc_auc, brier_score, calibration_bins, classification_metrics,
    confidence_and_outcome, expected_calibration_error, format_metrics, log_loss, maximum_calibration_error,
    merge_metrics, normalized_confusion, probability_metrics, ranking_metrics,
)

# Six predictions: confidence and whether each was right.
CONF = np.array([0.1, 0.3, 0.35, 0.8, 0.9, 0.95])
HIT = np.array([0, 1, 0, 1, 1, 0])


def test_ece_equal_width_by_hand():
    # bins [0, .5): conf mean .25, accuracy 1/3 -> gap 1/12; [.5, 1]: conf mean 2.65/3, accuracy 2/3.
    gap_low, gap_high = abs(1 / 3 - 0.25), abs(2 / 3 - 2.65 / 3)
    assert expected_calibration_error(CONF, HIT, n_bins=2, strategy="width") == pytest.approx(
        0.5 * gap_low + 0.5 * gap_high)
    assert expected_calibration_error(CONF, HIT, n_bins=2) == pytest.approx(0.15)
    assert maximum_calibration_error(CONF, HIT, n_bins=2) == pytest.approx(gap_high)


def test_ece_equal_mass_by_hand():
    # sorted into pairs {.1,.3}, {.35,.8}, {.9,.95} with accuracy 1/2 each: gaps .3, .075, .425.
    assert expected_calibration_error(CONF, HIT, n_bins=3, strategy="mass") == pytest.approx((0.3 + 0.075 + 0.425) / 3)
    assert maximum_calibration_error(CONF, HIT, n_bins=3, strategy="mass") == pytest.approx(0.425)
    bins = calibration_bins(CONF, HIT, n_bins=3, strategy="mass")
    assert bins["count"].tolist() == [2, 2, 2]


def test_ece_is_zero_when_calibrated_and_bins_match_sklearn():
    assert expected_calibration_error([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0], n_bins=10) == 0.0
    rng = np.random.default_rng(0)
    p = rng.uniform(size=2000)
    y = (rng.uniform(size=2000) < p**2).astype(float)
    bins = calibration_bins(p, y, n_bins=10, strategy="width")
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    np.testing.assert_allclose(bins["accuracy"], prob_true)
    np.testing.assert_allclose(bins["confidence"], prob_pred)
    with pytest.raises(ValueError, match="binning"):
        calibration_bins(p, y, strategy="quantiles")


def test_top_label_confidence_and_outcome():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])
    conf, hit = confidence_and_outcome(np.array([0, 2, 2]), probs, multi_label=False)
    assert conf.tolist() == [0.7, 0.6, 0.6]
    assert hit.tolist() == [1.0, 0.0, 1.0]


def test_roc_auc_and_average_precision_by_hand():
    y, s = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    assert binary_roc_auc(y, s) == pytest.approx(0.75)  # 3 of 4 positive-negative pairs ordered right
    assert binary_roc_auc([0, 1], [0.5, 0.5]) == 0.5  # a tie counts one half
    assert binary_roc_auc([1, 1], [0.2, 0.3]) is None
    # descending: .8 (+) P=1 R=.5; .4 (-); .35 (+) P=2/3 R=1 -> AP = .5*1 + .5*2/3
    assert average_precision(y, s) == pytest.approx(0.5 + 1 / 3)
    assert average_precision([0, 0], [0.1, 0.2]) is None


def test_log_loss_and_brier_by_hand():
    probs = np.array([[0.8, 0.2], [0.3, 0.7]])
    y = np.array([0, 1])
    assert log_loss(y, probs, False) == pytest.approx(-(np.log(0.8) + np.log(0.7)) / 2)
    assert brier_score(y, probs, False) == pytest.approx((0.2**2 + 0.3**2) / 2)  # binary: mean (p1 - y)^2
    three = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    assert brier_score(np.array([0, 1, 2]), three, False) == pytest.approx((0.06 + 0.14 + 0.06) / 3)
    ml_y, ml_p = np.array([[1, 0], [0, 1]]), np.array([[0.9, 0.2], [0.4, 0.5]])
    assert brier_score(ml_y, ml_p, True) == pytest.approx((0.01 + 0.04 + 0.16 + 0.25) / 4)
    assert log_loss(ml_y, ml_p, True) == pytest.approx(-(np.log(0.9) + np.log(0.8) + np.log(0.6) + np.log(0.5)) / 4)


def _random_problem(n=400, k=3, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(k, p=p) for p in probs])
    return y, probs


@pytest.mark.parametrize("k", [2, 3, 5])
def test_single_label_metrics_agree_with_sklearn(k):
    y, probs = _random_problem(k=k)
    ranking = ranking_metrics(y, probs, multi_label=False)
    if k == 2:
        assert ranking["roc_auc"] == pytest.approx(skm.roc_auc_score(y, probs[:, 1]))
        assert ranking["pr_auc"] == pytest.approx(skm.average_precision_score(y, probs[:, 1]))
    else:
        assert ranking["roc_auc"] == pytest.approx(skm.roc_auc_score(y, probs, multi_class="ovr", average="macro"))
        onehot = np.eye(k)[y]
        assert ranking["pr_auc"] == pytest.approx(skm.average_precision_score(onehot, probs, average="macro"))
        np.testing.assert_allclose(ranking["per_class_roc_auc"], skm.roc_auc_score(onehot, probs, average=None))
    assert log_loss(y, probs, False) == pytest.approx(skm.log_loss(y, probs, labels=list(range(k))))
    assert brier_score(y, probs, False) == pytest.approx(skm.brier_score_loss(y, probs, labels=list(range(k))))


def test_multi_label_metrics_agree_with_sklearn():
    rng = np.random.default_rng(1)
    probs = rng.uniform(size=(300, 4))
    y = (rng.uniform(size=(300, 4)) < probs).astype(int)
    y[:, 3] = 0  # a label never present: its AUC is undefined, not NaN
    ranking = ranking_metrics(y, probs, multi_label=True)
    np.testing.assert_allclose(ranking["per_class_roc_auc"][:3], skm.roc_auc_score(y[:, :3], probs[:, :3], average=None))
    assert ranking["per_class_roc_auc"][3] is None
    assert ranking["roc_auc"] == pytest.approx(skm.roc_auc_score(y[:, :3], probs[:, :3], average="macro"))
    assert ranking["micro_roc_auc"] == pytest.approx(skm.roc_auc_score(y, probs, average="micro"))
    assert ranking["micro_pr_auc"] == pytest.approx(skm.average_precision_score(y, probs, average="micro"))
    label_map = LabelMap(("a", "b", "c", "d"), multi_label=True)
    out = probability_metrics(y, probs, label_map)
    flat_conf, flat_hit = probs.ravel(), y.ravel()  # multi-label ECE pools every label probability
    assert out["ece"] == pytest.approx(expected_calibration_error(flat_conf, flat_hit))
    assert out["per_class"]["d"]["roc_auc"] is None


def test_normalized_confusion():
    m = normalized_confusion(np.array([[3, 1], [0, 0]]))
    assert m.tolist() == [[0.75, 0.25], [0.0, 0.0]]


def test_bootstrap_statistics_on_all_rows_equal_the_metrics():
    y, probs = _random_problem(k=3)
    decisions = probs.argmax(axis=1)
    stats = single_label_statistics(y, probs, decisions)
    everyone = np.arange(len(y))
    assert stats["accuracy"](everyone) == pytest.approx(skm.accuracy_score(y, decisions))
    assert stats["macro_f1"](everyone) == pytest.approx(skm.f1_score(y, decisions, average="macro"))
    assert stats["roc_auc"](everyone) == pytest.approx(skm.roc_auc_score(y, probs, multi_class="ovr"))
    assert stats["ece"](everyone) == pytest.approx(expected_calibration_error(*confidence_and_outcome(y, probs, False)))

    rng = np.random.default_rng(2)
    ml_p = rng.uniform(size=(200, 3))
    ml_y = (rng.uniform(size=(200, 3)) < ml_p).astype(int)
    ml_d = ml_p >= 0.5
    ml = multi_label_statistics(ml_y, ml_p, ml_d)
    everyone = np.arange(200)
    assert ml["micro_f1"](everyone) == pytest.approx(skm.f1_score(ml_y, ml_d, average="micro"))
    assert ml["macro_f1"](everyone) == pytest.approx(skm.f1_score(ml_y, ml_d, average="macro"))
    assert ml["subset_accuracy"](everyone) == pytest.approx(skm.accuracy_score(ml_y, ml_d))


def test_bootstrap_intervals_are_seeded_and_cover_the_estimate():
    y, probs = _random_problem(n=300, k=3)
    decisions = probs.argmax(axis=1)
    a = headline_intervals(y, probs, decisions, False, n_resamples=200, seed=0)
    b = headline_intervals(y, probs, decisions, False, n_resamples=200, seed=0)
    c = headline_intervals(y, probs, decisions, False, n_resamples=200, seed=1)
    assert a == b and a != c
    low, high = a["intervals"]["accuracy"]
    assert low < skm.accuracy_score(y, decisions) < high
    assert high - low < 0.2
    # the interval of a mean of 0/1 values is close to the normal approximation +-1.96 sd/sqrt(n)
    acc = skm.accuracy_score(y, decisions)
    assert high - low == pytest.approx(2 * 1.96 * np.sqrt(acc * (1 - acc) / len(y)), rel=0.25)
    assert bootstrap_intervals({"never": lambda idx: None}, 10, n_resamples=5) == {"never": None}


def test_merged_metrics_and_console_format():
    y, probs = _random_problem(n=120, k=3)
    label_map = LabelMap(("a", "b", "c"))
    decisions = probs.argmax(axis=1)
    metrics = merge_metrics(classification_metrics(y, decisions, label_map), probability_metrics(y, probs, label_map))
    metrics.update(headline_intervals(y, probs, decisions, False, n_resamples=50))
    assert set(metrics["per_class"]["a"]) >= {"precision", "recall", "f1", "support", "roc_auc", "pr_auc"}
    rows = np.asarray(metrics["confusion_matrix_normalized"]).sum(axis=1)
    np.testing.assert_allclose(rows, 1.0, atol=1e-5)
    text = format_metrics(metrics, label_map)
    low, high = metrics["intervals"]["macro_f1"]
    assert f"macro_f1        {metrics['macro_f1']:.4f}  [{low:.4f}, {high:.4f}]" in text
    assert "roc_auc" in text and "ece" in text and "95% bootstrap" in text
