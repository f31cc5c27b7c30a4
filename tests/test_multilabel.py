"""Multi-label end to end: list labels in files, multi-hot targets, sigmoid decisions with tuned
thresholds, metrics equal to hand-computed values, save/load, CLI, and the curated kaomoji set."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from textclf.classifier import TextClassifier
from textclf.cli import main
from textclf.config import load_config
from textclf.data import Examples, LabelMap
from textclf.data.io import examples_frame, write_frame
from textclf.data.kaomoji import SYNONYMS, concepts, curated_labels
from textclf.evaluation.metrics import multi_label_metrics, probability_metrics
from textclf.objectives import decide
from textclf.jobs.train import train

# Tags derived from the words of a review, on top of its Rotten Tomatoes class: a small English
# multi-label set where a row carries one to four labels.
TAGS = {
    "acting": r"\b(actor|actors|actress|acting|performance|performances|cast|role)\b",
    "story": r"\b(story|plot|script|narrative|screenplay|writing)\b",
    "comedy": r"\b(funny|comedy|laugh|laughs|humor|hilarious|comic)\b",
}


def english_multilabel(examples: Examples) -> Examples:
    labels = [(label, *(tag for tag, pattern in TAGS.items() if re.search(pattern, text.lower())))
              for text, label in zip(examples.texts, examples.labels)]
    return Examples.from_lists(examples.texts, labels)


@pytest.fixture(scope="module")
def ml_files(tmp_path_factory, rt_small):
    root = tmp_path_factory.mktemp("ml")
    data = english_multilabel(rt_small)
    order = np.random.default_rng(0).permutation(len(data))
    parts = {"train": order[:400], "val": order[400:500], "test": order[500:]}
    for name, idx in parts.items():
        write_frame(examples_frame(data.subset(np.sort(idx))), root / f"{name}.csv")
    return root


def _cfg(root, out: str, *extra: str):
    return load_config(None, [
        "task=multi_label", f"data.train={root / 'train.csv'}", f"data.validation={root / 'val.csv'}",
        f"data.test={root / 'test.csv'}", "audit=false", f"output_dir={root / out}", *extra,
    ])


# -- metrics equal hand-computed values ----------------------------------------------------------
LABELS = LabelMap(("a", "b", "c"), multi_label=True)
Y_TRUE = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
Y_PRED = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]])


def test_multilabel_decision_metrics_are_hand_computed():
    m = multi_label_metrics(Y_TRUE, Y_PRED, LABELS)
    # per label: a tp 2 (F1 1); b tp 1 fn 1 (P 1, R 1/2, F1 2/3); c fn 1 (all 0)
    assert m["per_class"]["b"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert m["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert m["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 0 + 2))  # tp 3, fp 0, fn 2
    assert m["weighted_f1"] == pytest.approx((2 * 1 + 2 * 2 / 3 + 1 * 0) / 5)
    assert m["samples_f1"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)  # per row 2tp / (|true| + |pred|)
    assert m["subset_accuracy"] == pytest.approx(1 / 3)
    assert m["hamming_loss"] == pytest.approx(2 / 9)


def test_per_label_roc_and_pr_auc_are_hand_computed():
    probs = np.array([[0.9, 0.6, 0.1], [0.2, 0.7, 0.5], [0.4, 0.3, 0.2]])
    m = probability_metrics(Y_TRUE, probs, LABELS)
    # a: both positives above the negative -> 1; b: positive 0.7 > 0.6, positive 0.3 < 0.6 -> 1/2;
    # c: the positive is ranked last -> 0.
    assert [m["per_class"][n]["roc_auc"] for n in "abc"] == pytest.approx([1.0, 0.5, 0.0])
    # AP: a 1; b: hits at ranks 1 and 3 -> (1 + 2/3) / 2; c: hit at rank 3 -> 1/3.
    assert [m["per_class"][n]["pr_auc"] for n in "abc"] == pytest.approx([1.0, 5 / 6, 1 / 3])
    assert m["roc_auc"] == pytest.approx(0.5)


def test_min_labels_turns_on_the_top_label_of_an_empty_row():
    probs = np.array([[0.2, 0.4, 0.1], [0.9, 0.6, 0.1]])
    assert decide(probs, True).tolist() == [[False, False, False], [True, True, False]]
    assert decide(probs, True, min_labels=1).tolist() == [[False, True, False], [True, True, False]]
    assert decide(probs, True, np.array([0.95, 0.5, 0.5])).tolist()[1] == [False, True, False]


# -- end to end ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_tfidf_multilabel_end_to_end_with_tuned_thresholds(ml_files):
    fixed = train(_cfg(ml_files, "fixed"))
    tuned = train(_cfg(ml_files, "tuned", "thresholds.tune=per_label", "thresholds.min_labels=1"))
    clf = tuned.classifier
    assert clf.label_map.labels == ("acting", "comedy", "fresh", "plot", "rotten", "story")
    assert clf.policy.thresholds.shape == (6,) and fixed.classifier.policy.thresholds is None
    # the model learns: better than predicting every label (the best constant rule for micro-F1 here)
    everything = multi_label_metrics(clf.label_map.encode(tuned.splits.test),
                                     np.ones((len(tuned.splits.test), 6)), clf.label_map)
    assert tuned.metrics["test"]["micro_f1"] > everything["micro_f1"] + 0.15
    # thresholds tuned on validation help there (by construction) and predictions are tuples
    assert tuned.metrics["validation"]["macro_f1"] >= fixed.metrics["validation"]["macro_f1"]
    predictions = clf.predict(tuned.splits.test.texts[:20])
    assert all(isinstance(p, tuple) and len(p) >= 1 for p in predictions)  # min_labels: 1
    # save / load keeps thresholds, min_labels and the probabilities
    loaded = TextClassifier.load(tuned.model_dir)
    assert loaded.policy.min_labels == 1 and loaded.policy.thresholds.tolist() == clf.policy.thresholds.tolist()
    assert loaded.policy.provenance["thresholds"]["scope"] == "per_label"
    np.testing.assert_allclose(loaded.predict_proba(tuned.splits.test), clf.predict_proba(tuned.splits.test),
                               rtol=1e-5, atol=1e-6)
    assert loaded.predict(tuned.splits.test) == clf.predict(tuned.splits.test)
    per_class = tuned.metrics["test"]["per_class"]
    assert {"precision", "recall", "f1", "support", "roc_auc", "pr_auc"} <= set(per_class["acting"])


@pytest.mark.slow
def test_cli_predict_and_evaluate_multilabel(ml_files, capsys):
    model = ml_files / "cli" / "model"
    assert main(["train", f"data.train={ml_files / 'train.csv'}", f"data.validation={ml_files / 'val.csv'}",
                 f"data.test={ml_files / 'test.csv'}", "task=multi_label", "audit=false",
                 f"output_dir={ml_files / 'cli'}"]) == 0
    assert main(["evaluate", str(model), "--data", str(ml_files / "test.csv"), "-o", str(ml_files / "m.json")]) == 0
    metrics = json.loads((ml_files / "m.json").read_text())
    assert metrics["n"] == 100 and "hamming_loss" in metrics and "samples_f1" in metrics
    assert main(["tune-thresholds", str(model), "--data", str(ml_files / "val.csv"), "--scope", "global"]) == 0
    thresholds = json.loads((model / "policy.json").read_text())["thresholds"]
    assert len(set(thresholds)) == 1  # one global cut for every label
    assert main(["predict", str(model), str(ml_files / "test.csv"), "-o", str(ml_files / "p.jsonl")]) == 0
    rows = [json.loads(line) for line in (ml_files / "p.jsonl").read_text().splitlines()]
    assert len(rows) == 100
    texts = pd.read_csv(ml_files / "test.csv")["text"].tolist()
    assert [tuple(r["label"]) for r in rows] == TextClassifier.load(model).predict(texts)


@pytest.mark.slow
def test_tiny_neural_model_learns_multilabel_with_pos_weight(ml_files):
    result = train(_cfg(ml_files, "bag", "model={type: bag, embedding_dim: 32, tokenizer: {vocab_size: 1000}}",
                        "training={epochs: 6, batch_size: 16, learning_rate: 0.01, max_length: 96, progress: false, "
                        "early_stopping_patience: null, pos_weight: balanced}",
                        "thresholds.tune=per_label"))
    test_y = result.classifier.label_map.encode(result.splits.test)
    everything = multi_label_metrics(test_y, np.ones_like(test_y), result.classifier.label_map)
    assert result.metrics["test"]["micro_f1"] > everything["micro_f1"] + 0.05
    assert result.classifier.policy.thresholds.shape == (6,)


# -- the curated kaomoji labels ------------------------------------------------------------------
def test_kaomoji_keyword_lists_parse_into_concepts():
    emotion = SYNONYMS["emotion"]
    assert concepts(["happy", "smile", "glad", "cheerful", "joy", "laugh", "laughing", "lol"], emotion) == ["happy", "laugh"]
    assert concepts(["smug", "smirk", "proud", "gloating", "lenny"], emotion) == ["smug"]  # proud: a synonym here
    assert concepts(["happy", "smile", "glad", "cheerful", "joy", "proud", "triumph"], emotion) == ["happy", "proud"]
    assert concepts(["doubt", "suspicious", "skeptical", "hmm", "side eye", "thinking", "think", "pondering",
                     "wondering"], emotion) == ["doubt", "thinking"]
    row = {"emotion": ["cute", "kawaii"], "intent": ["cheer up", "encourage"],
           "subject": ["cat", "kitty", "kitten", "meow", "animal", "creature"]}
    assert curated_labels(row) == ("animal", "cat", "cheer_up", "cute")


@pytest.mark.slow
def test_bundled_kaomoji_keeps_frequent_curated_labels():
    from collections import Counter

    from textclf.data.bundled import DATASETS, load_bundled
    from textclf.data.kaomoji import MIN_ROWS

    data = load_bundled("kaomoji")
    assert DATASETS["kaomoji"].task == "multi_label" and data.multi_label
    counts = Counter(name for label in data.labels for name in label)
    assert min(counts.values()) >= MIN_ROWS and 30 <= len(counts) <= 60
    assert "glad" not in counts and "happy" in counts  # synonyms merged
    assert all(data.labels) and len(set(data.texts)) == len(data)
