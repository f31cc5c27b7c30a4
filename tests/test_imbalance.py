"""Class imbalance: weights and resampling fitted on training data only, and a weighted model that
finds more of the minority class."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pytest

from textclf.classifier import TextClassifier
from textclf.config import load_config
from textclf.data import Examples, LabelMap
from textclf.data.io import examples_frame, write_frame
from textclf.data.splits import split_examples
from textclf.errors import ConfigError
from textclf.evaluation.metrics import single_label_metrics
from textclf.imbalance import class_weights, pos_weights, resample, resample_indices
from textclf.jobs.train import train


def test_balanced_class_weights_are_hand_computed():
    label_map = LabelMap(("a", "b", "c"))
    # 6 rows: a x3, b x2, c x1 -> n / (k * count) = 6/9, 6/6, 6/3
    weights = class_weights(np.array([0, 0, 0, 1, 1, 2]), label_map, "balanced")
    assert weights.tolist() == pytest.approx([2 / 3, 1.0, 2.0])
    assert class_weights(np.array([0, 1]), label_map, {"c": 5.0}).tolist() == [1.0, 1.0, 5.0]
    with pytest.raises(ConfigError, match=r"unknown labels \['z'\]"):
        class_weights(np.array([0, 1]), label_map, {"z": 2.0})


def test_pos_weights_are_negatives_over_positives():
    label_map = LabelMap(("x", "y", "z"), multi_label=True)
    targets = np.array([[1, 1, 0], [0, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32)
    # x: 3 negatives / 1 positive; y: 1 / 3; z: no positive -> 1
    assert pos_weights(targets, label_map, "balanced").tolist() == pytest.approx([3.0, 1 / 3, 1.0])


def test_oversampling_balances_classes_and_keeps_every_row():
    labels = ["a"] * 8 + ["b"] * 2
    idx = resample_indices(labels, "over", seed=0)
    assert Counter(labels[i] for i in idx) == {"a": 8, "b": 8}
    assert set(idx.tolist()) == set(range(10))
    assert resample_indices(labels, "over", seed=0).tolist() == idx.tolist()  # seeded
    half = resample_indices(labels, "over", seed=0, ratio=0.5)
    assert Counter(labels[i] for i in half) == {"a": 8, "b": 4}


def test_undersampling_cuts_majority_to_minority():
    labels = ["a"] * 8 + ["b"] * 2 + ["c"] * 3
    idx = resample_indices(labels, "under", seed=1)
    assert Counter(labels[i] for i in idx) == {"a": 2, "b": 2, "c": 2}
    assert len(set(idx.tolist())) == len(idx)  # no repeats


def test_multilabel_oversampling_repeats_rows_with_rare_labels():
    labels = [("common",)] * 9 + [("common", "rare")]
    idx = resample_indices(labels, "over", seed=0)
    counts = Counter(name for i in idx for name in labels[i])
    # mean label count is (10 + 1) / 2 = 5.5: the rare row is repeated floor(5.5 / 1) = 5 times
    assert counts["rare"] == 5 and Counter(idx.tolist())[9] == 5
    with pytest.raises(ConfigError, match="not supported for multi-label"):
        resample_indices(labels, "under")


def test_workflow_resamples_training_split_only(tmp_path, rt_small):
    splits = split_examples(rt_small, "stratified", 0.15, 0.2, seed=0)
    skew = [i for i, label in enumerate(splits.train.labels) if label != "plot" or i % 4 == 0]
    write_frame(examples_frame(splits.train.subset(skew)), tmp_path / "train.csv")
    write_frame(examples_frame(splits.validation), tmp_path / "val.csv")
    write_frame(examples_frame(splits.test), tmp_path / "test.csv")
    cfg = load_config(None, [f"data.train={tmp_path / 'train.csv'}", f"data.validation={tmp_path / 'val.csv'}",
                             f"data.test={tmp_path / 'test.csv'}", "training.resample={method: over}",
                             "audit=false", f"output_dir={tmp_path / 'run'}"])
    log = io.StringIO()
    result = train(cfg, log=log)
    train_counts = Counter(splits.train.subset(skew).labels)
    assert result.classifier.card.train_size == 3 * max(train_counts.values())
    assert result.metrics["validation"]["n"] == len(splits.validation)
    assert result.metrics["test"]["n"] == len(splits.test)
    assert f"resample over: {len(skew)} -> {3 * max(train_counts.values())}" in log.getvalue()


def test_resample_refuses_unlabelled_data():
    with pytest.raises(ConfigError, match="labelled"):
        resample(Examples(texts=["a", "b"]), "over")


@pytest.fixture(scope="module")
def skewed_binary(rotten_tomatoes):
    """About 8% minority: 600 fresh reviews and 50 plot summaries; 70/30 stratified split.
    (Fresh vs rotten on this few rows is too hard for any weighting to show; the 95/5 fresh vs
    rotten comparison on the full data is bench/bench_imbalance.py.)"""
    rng = np.random.default_rng(0)
    labels = np.array(rotten_tomatoes.labels, dtype=object)
    fresh = rng.choice(np.flatnonzero(labels == "fresh"), 600, replace=False)
    plot = rng.choice(np.flatnonzero(labels == "plot"), 50, replace=False)
    data = rotten_tomatoes.subset(np.sort(np.r_[fresh, plot]))
    return split_examples(data, "stratified", 0.0, 0.3, seed=0)


def _scores(clf, test) -> tuple[float, float]:
    y = clf.label_map.encode(test)
    metrics = single_label_metrics(y, clf.decide(clf.predict_proba(test)), clf.label_map)
    return metrics["per_class"]["plot"]["recall"], metrics["macro_f1"]


def test_class_weighting_finds_more_of_the_minority(skewed_binary):
    plain = TextClassifier(model={"type": "tfidf"}, training={"class_weight": None}).fit(skewed_binary.train)
    weighted = TextClassifier(model={"type": "tfidf"}, training={"class_weight": "balanced"}).fit(skewed_binary.train)
    plain_recall, plain_f1 = _scores(plain, skewed_binary.test)
    weighted_recall, weighted_f1 = _scores(weighted, skewed_binary.test)
    assert weighted_recall > plain_recall + 0.3, (plain_recall, weighted_recall)
    assert weighted_f1 > plain_f1
    assert plain.card.imbalance is None  # an explicit `class_weight: null` is respected


def test_skewed_classes_get_balanced_weights_by_default(skewed_binary):
    default = TextClassifier(model={"type": "tfidf"}).fit(skewed_binary.train)
    weighted = TextClassifier(model={"type": "tfidf"}, training={"class_weight": "balanced"}).fit(skewed_binary.train)
    assert default.card.imbalance["class_weight"] == "balanced"
    assert default.training_config().class_weight == "balanced"
    np.testing.assert_allclose(default.predict_proba(skewed_binary.test), weighted.predict_proba(skewed_binary.test))
    even = skewed_binary.train.subset([i for i, y in enumerate(skewed_binary.train.labels) if y == "plot"] * 2 +
                                      [i for i, y in enumerate(skewed_binary.train.labels) if y == "fresh"][:60])
    assert TextClassifier(model={"type": "tfidf"}).fit(even).card.imbalance is None  # not skewed: no default


def test_tfidf_multilabel_pos_weight_dict_is_checked():
    train = Examples.from_lists(["good fun", "bad fun", "good", "bad"], [["pos", "fun"], ["neg", "fun"], ["pos"], ["neg"]])
    clf = TextClassifier(model={"type": "tfidf"}, task="multi_label", training={"pos_weight": {"nope": 2.0}})
    with pytest.raises(ConfigError, match="pos_weight: unknown labels"):
        clf.fit(train)
    weighted = TextClassifier(model={"type": "tfidf"}, task="multi_label", training={"pos_weight": {"fun": 5.0}})
    plain = TextClassifier(model={"type": "tfidf"}, task="multi_label")
    fun = 0  # labels sorted: fun, neg, pos
    p_weighted = weighted.fit(train).predict_proba(["good"])[0, fun]
    p_plain = plain.fit(train).predict_proba(["good"])[0, fun]
    assert p_weighted > p_plain  # a heavier positive class raises its scores


def test_every_model_type_uses_the_one_definition_of_balanced_weights(rt_small, monkeypatch):
    """tfidf, embedding and the neural losses all take balanced weights from imbalance.balanced_weights:
    on one skewed label vector each records the same weights, equal to the hand-computed ones."""
    import textclf.imbalance as imbalance
    from textclf import TextClassifier

    rows = ([i for i, label in enumerate(rt_small.labels) if label == "fresh"][:40]
            + [i for i, label in enumerate(rt_small.labels) if label == "rotten"][:15]
            + [i for i, label in enumerate(rt_small.labels) if label == "plot"][:5])
    data = rt_small.subset(rows)
    expected = np.array([60 / (3 * 40), 60 / (3 * 5), 60 / (3 * 15)])  # ids: fresh 40, plot 5, rotten 15
    seen: dict[str, np.ndarray] = {}
    original = imbalance.balanced_weights

    for model in ({"type": "tfidf"}, {"type": "bag", "embedding_dim": 8}, {"type": "embedding"}):
        calls = []

        def spy(targets, n_classes):
            weights = original(targets, n_classes)
            calls.append(weights)
            return weights

        monkeypatch.setattr(imbalance, "balanced_weights", spy)
        TextClassifier(model=model, training={"class_weight": "balanced", "epochs": 1, "progress": False},
                       calibration=None).fit(data)
        assert calls, f"{model['type']} did not use imbalance.balanced_weights"
        seen[model["type"]] = calls[0]
    for name, weights in seen.items():
        np.testing.assert_allclose(weights, expected, err_msg=name)
