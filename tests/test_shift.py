"""Distribution shift: BBC News against a Rotten Tomatoes model is shifted; held-out Rotten Tomatoes is not."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from textclf import TextClassifier
from textclf.analysis import analyze_shift, shift_html
from textclf.analysis.shift import auroc_greater, energy_score
from textclf.cli import main
from textclf.data.bundled import load_bundled

from conftest import stratified_sample


@pytest.fixture(scope="module")
def rt_model_and_heldout(rotten_tomatoes, rt_small):
    """A TF-IDF model on 600 RT rows, plus two disjoint held-out RT samples of 400 rows."""
    clf = TextClassifier(model={"type": "tfidf"}).fit(rt_small)
    used = set(rt_small.texts)
    rest = rotten_tomatoes.subset([i for i, t in enumerate(rotten_tomatoes.texts) if t not in used])
    rng = np.random.default_rng(0)
    picked = rng.choice(len(rest), size=800, replace=False)
    return clf, rest.subset(picked[:400]), rest.subset(picked[400:])


@pytest.fixture(scope="module")
def bbc_sample():
    return stratified_sample(load_bundled("bbc-news"), 60)


def test_energy_and_auroc_by_hand():
    assert energy_score(np.array([[0.0, 0.0]]))[0] == pytest.approx(-np.log(2))
    assert energy_score(np.array([[0.0]]), multi_label=True)[0] == pytest.approx(-np.log(2))
    assert auroc_greater(np.array([1.0, 2.0]), np.array([3.0, 4.0]))[0] == 1.0
    assert auroc_greater(np.array([1.0, 2.0]), np.array([1.0, 2.0]))[0] == 0.5


@pytest.mark.slow
def test_same_distribution_is_not_shifted(rt_model_and_heldout):
    clf, reference, same = rt_model_and_heldout
    report = analyze_shift(clf, reference, same)
    assert report.verdict == "not shifted", [c.evidence for c in report.checks]
    assert {c.name for c in report.checks} == {"vocabulary", "length", "label prior", "ood score"}
    assert report.n_flagged / report.n_new < 0.05


@pytest.mark.slow
def test_other_corpus_is_shifted_with_evidence(rt_model_and_heldout, bbc_sample):
    clf, reference, _ = rt_model_and_heldout
    report = analyze_shift(clf, reference, bbc_sample)
    assert report.verdict == "shifted"
    checks = {c.name: c for c in report.checks}
    assert checks["length"].shifted and checks["length"].statistic > 0.8  # articles vs one-line snippets
    # a 600-row training vocabulary misses much of any text, so the rise is real but modest here
    assert checks["vocabulary"].statistic > 0.02 and checks["vocabulary"].p_value < 1e-6
    assert report.n_flagged / report.n_new > 0.05  # far more than the 1% expected without shift
    assert "shifted" in shift_html(report)


@pytest.mark.slow
def test_cli_shift_exit_code_and_json(tmp_path, rt_model_and_heldout, bbc_sample):
    clf, reference, _ = rt_model_and_heldout
    model_dir = clf.save(tmp_path / "model")
    ref_csv, new_csv = tmp_path / "ref.csv", tmp_path / "new.csv"
    pd.DataFrame({"text": reference.texts}).to_csv(ref_csv, index=False)
    pd.DataFrame({"text": bbc_sample.texts}).to_csv(new_csv, index=False)
    out = tmp_path / "shift.json"
    code = main(["shift", str(model_dir), "--data", str(new_csv), "--reference", str(ref_csv),
                 "-o", str(out), "--fail-on-shift"])
    assert code == 1
    assert json.loads(out.read_text())["verdict"] == "shifted"
    assert main(["shift", str(model_dir), "--data", str(ref_csv), "--reference", str(ref_csv)]) == 0
