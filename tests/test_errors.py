"""Error analysis: slices, grouped mistakes and outputs on hand-built examples with known answers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from textclf import TextClassifier
from textclf.analysis import ErrorSettings, analyze_errors, errors_html, format_report
from textclf.analysis.slices import (
    Outcomes, label_name_tags, length_tags, negation_tags, slice_metrics, time_tags, training_vocabulary,
    vocabulary_tags,
)
from textclf.cli import main
from textclf.data import Examples, LabelMap
from textclf.models.base import ModelBase

# text, gold, probability of "a" the stub model gives it (so the prediction is a when p > 0.5)
ROWS = [
    ("good film", "a", 0.90),
    ("not good", "b", 0.52),  # wrong, small margin: uncertain
    ("great fun", "a", 0.80),
    ("never boring at all", "a", 0.30),  # wrong, margin 0.4: moderate
    ("dull", "b", 0.10),
    ("it is not dull", "a", 0.60),
    ("boring", "b", 0.20),
    ("awful awful", "b", 0.95),  # wrong and confident: noise or a shortcut
]
SOURCE = ["x", "x", "y", "y", "x", "y", "x", "y"]


class LookupModel(ModelBase):
    """A stand-in ClassifierModel: fixed logits per text (log-probabilities, so softmax gives them back)."""

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table

    def max_tokens(self) -> int:
        return 256  # not TF-IDF: it reads at most 256 tokens, so truncation slices exist

    def logits(self, texts):
        p = np.array([self.table[t] for t in texts])
        return np.log(np.stack([p, 1 - p], axis=1)).astype(np.float32)


@pytest.fixture()
def stub():
    clf = TextClassifier(model={"type": "lookup"})
    clf.label_map_ = LabelMap(("a", "b"))
    clf.model_ = LookupModel({t: p for t, _, p in ROWS})
    return clf, Examples.from_lists([t for t, _, _ in ROWS], [g for _, g, _ in ROWS])


def test_slice_accuracy_and_f1_match_hand_computed_values(stub):
    clf, examples = stub
    settings = ErrorSettings(min_slice_size=1, n_resamples=200)
    report = analyze_errors(clf, examples, {"source": SOURCE}, settings)
    by = {(s.family, s.value): s for s in report.slices}
    assert report.accuracy == pytest.approx(5 / 8)
    # negation rows 2, 4, 6: gold b,a,a; predicted a,b,a -> accuracy 1/3; F1(a)=2/4, F1(b)=0 -> macro 0.25
    negation = by[("negation", "negation")]
    assert (negation.n, negation.errors) == (3, 2)
    assert negation.accuracy == pytest.approx(1 / 3)
    assert negation.f1 == pytest.approx(0.25)
    # no negation: gold a,a,b,b,b; predicted a,a,b,b,a -> accuracy 4/5; F1(a)=4/5, F1(b)=4/5
    assert by[("negation", "no negation")].accuracy == pytest.approx(4 / 5)
    assert by[("negation", "no negation")].f1 == pytest.approx(0.8)
    # user column: x = rows 1,2,5,7 (one wrong), y = rows 3,4,6,8 (two wrong)
    assert by[("source", "x")].accuracy == pytest.approx(3 / 4)
    assert by[("source", "y")].accuracy == pytest.approx(2 / 4)
    # ranked by how much worse than overall: negation first (gap 1/3 - 5/8)
    assert (report.worst[0]["family"], report.worst[0]["value"]) == ("negation", "negation")
    assert report.worst[0]["accuracy_gap"] == pytest.approx(1 / 3 - 5 / 8, abs=1e-4)  # below overall: negative
    assert {m["row"] for m in report.worst[0]["examples"]} == {2, 4}


def test_mistakes_grouped_by_pair_and_confidence(stub):
    clf, examples = stub
    report = analyze_errors(clf, examples, settings=ErrorSettings(min_slice_size=1, n_resamples=50))
    assert [(p["gold"], p["predicted"], p["count"]) for p in report.confusion_pairs] == [("b", "a", 2), ("a", "b", 1)]
    kinds = {m["row"]: m["kind"] for m in report.mistakes}
    assert kinds == {2: "uncertain", 4: "moderate", 8: "confident"}
    first = report.mistakes[0]  # most confident first
    assert (first["row"], first["gold"], first["predicted"]) == (8, "b", "a")
    assert first["confidence"] == pytest.approx(0.95) and first["gold_probability"] == pytest.approx(0.05)
    assert report.kinds == {"confident": 1, "moderate": 1, "uncertain": 1}
    # the stub is not TF-IDF, so it has a max length (256 tokens): nothing here is truncated
    assert set(report.tags["truncation"]) == {"not truncated"}
    text = format_report(report)
    assert "b -> a" in text and "negation=negation" in text
    fragment = errors_html(report)
    assert fragment.startswith('<section class="textclf-errors">') and fragment.endswith("</section>")


def test_bootstrap_intervals_are_seeded_and_bracket_the_estimate():
    rng = np.random.default_rng(1)
    targets, decisions = rng.integers(0, 3, 300), rng.integers(0, 3, 300)
    decisions[:150] = targets[:150]
    outcomes = Outcomes(targets, decisions, 3, multi_label=False)
    tags = {"half": ["first"] * 150 + ["second"] * 150}
    one = slice_metrics(outcomes, tags, n_resamples=300, seed=7)
    two = slice_metrics(outcomes, tags, n_resamples=300, seed=7)
    assert [s.accuracy_interval for s in one] == [s.accuracy_interval for s in two]
    second = one[1]
    assert second.accuracy_interval[0] < second.accuracy < second.accuracy_interval[1]
    assert second.f1_interval[0] < second.f1 < second.f1_interval[1]
    idx = np.arange(150, 300)
    assert second.f1 == pytest.approx(f1_score(targets[idx], decisions[idx], average="macro"))


def test_tag_functions():
    assert length_tags(np.array([1, 2, 3, 5, 10]), edges=[2, 5]) == ["1-2 words", "1-2 words", "3-5 words",
                                                                     "3-5 words", ">5 words"]
    assert negation_tags(["I didn't like it", "nothing works", "a notable film", "no."]) == [
        "negation", "negation", "no negation", "negation"]
    assert label_name_tags(["so Fresh", "totally rotten", "a plot twist", "a plotline"],
                           ["fresh", "fresh", "rotten", "plot"], ["fresh", "plot", "rotten"]) == [
        "names its gold label", "names another label", "names another label", "no label name"]


def test_time_buckets_have_equal_counts_and_ranges():
    expected = [name for name in ("1 .. 2", "3 .. 4", "5 .. 6", "7 .. 8") for _ in range(2)]
    assert time_tags(np.arange(1.0, 9.0), n_buckets=4) == expected
    dates = np.array(["2020-01-05", "2020-01-01", "2021-06-30", "2021-01-01"], dtype="datetime64[ns]")
    assert time_tags(dates, n_buckets=2) == ["2020-01-01 .. 2020-01-05", "2020-01-01 .. 2020-01-05",
                                             "2021-01-01 .. 2021-06-30", "2021-01-01 .. 2021-06-30"]


def test_multi_label_mistakes_use_exact_match_and_label_sets():
    clf = TextClassifier(model={"type": "lookup"}, task="multi_label")
    clf.label_map_ = LabelMap(("x", "y"), multi_label=True)
    probs = {"one": [0.9, 0.8], "two": [0.9, 0.47], "three": [0.1, 0.9], "four": [0.3, 0.1]}

    class Sigmoid(ModelBase):
        def logits(self, texts):
            p = np.array([probs[t] for t in texts])
            return np.log(p / (1 - p)).astype(np.float32)

    clf.model_ = Sigmoid()
    examples = Examples.from_lists(["one", "two", "three", "four"], [["y", "x"], ["x", "y"], ["y"], ["x"]])
    report = analyze_errors(clf, examples, settings=ErrorSettings(min_slice_size=1, n_resamples=20))
    assert report.accuracy == pytest.approx(2 / 4)  # exact match: rows 1 and 3
    assert [(m["row"], m["gold"], m["predicted"], m["kind"]) for m in report.mistakes] == [
        (4, "x", "", "moderate"), (2, "x|y", "x", "uncertain")]
    assert report.f1_name == "micro_f1"
    assert report.f1 == pytest.approx(2 * 4 / (2 * 4 + 0 + 2))  # tp 4, fp 0, fn 2


def test_tfidf_vocabulary_recovers_training_document_frequencies():
    texts = ["good good film", "good plot", "bad film", "bad bad bad acting", "great film", "awful acting"]
    labels = ["p", "p", "n", "n", "p", "n"]
    clf = TextClassifier(model={"type": "tfidf", "word_ngrams": [1, 2]}).fit(texts, labels)
    vocab = training_vocabulary(clf)
    assert vocab.source == "TF-IDF vocabulary"
    assert vocab.doc_freq == {"good": 2, "film": 3, "plot": 1, "bad": 2, "acting": 2, "great": 1, "awful": 1}
    assert vocabulary_tags(["good film", "great film", "a brand new word"], vocab, rare_max_df=1) == [
        "common terms only", "rare term", "oov term"]


def test_cli_errors_with_slice_column_writes_outputs(tmp_path, rt_small):
    train = rt_small.subset(range(0, 600, 2))
    test = rt_small.subset(range(1, 600, 2))
    clf = TextClassifier(model={"type": "tfidf"}).fit(train)
    model_dir = clf.save(tmp_path / "model")
    data = tmp_path / "test.csv"
    pd.DataFrame({"text": test.texts, "label": test.labels,
                  "batch": [f"b{i % 3}" for i in range(len(test))]}).to_csv(data, index=False)
    out_json, out_csv, out_html = tmp_path / "e.json", tmp_path / "m.csv", tmp_path / "e.html"
    code = main(["errors", str(model_dir), "--data", str(data), "--slice-column", "batch", "-o", str(out_json),
                 "--mistakes", str(out_csv), "--bootstrap", "100", "--min-slice-size", "5"])
    assert code == 0
    report = json.loads(out_json.read_text())
    batches = {s["value"]: s for s in report["slices"] if s["family"] == "batch"}
    assert {k: v["n"] for k, v in batches.items()} == {"b0": 100, "b1": 100, "b2": 100}
    mistakes = pd.read_csv(out_csv)
    assert len(mistakes) == report["mistakes"] == round((1 - report["accuracy"]) * 300)
    assert {"gold", "predicted", "confidence", "text", "slice_batch", "slice_negation"} <= set(mistakes.columns)
    assert main(["errors", str(model_dir), "--data", str(data), "-o", str(out_html), "--bootstrap", "100"]) == 0
    assert "Error analysis" in out_html.read_text()


def test_cli_errors_unknown_slice_column_is_a_clear_error(tmp_path, rt_small, capsys):
    clf = TextClassifier(model={"type": "tfidf"}).fit(rt_small)
    model_dir = clf.save(tmp_path / "model")
    data = tmp_path / "test.csv"
    pd.DataFrame({"text": rt_small.texts[:20], "label": rt_small.labels[:20]}).to_csv(data, index=False)
    out = tmp_path / "e.json"
    code = main(["errors", str(model_dir), "--data", str(data), "--slice-column", "nope", "-o", str(out)])
    assert code == 2
    assert 'slice column "nope" not found' in capsys.readouterr().err
    assert not out.exists()
