"""textclf distill: a student trained on a saved teacher's probabilities (jobs/distill.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

import textclf
from conftest import stratified_sample
from textclf.cli import main
from textclf.jobs import distill as distill_job
from textclf.training.losses import build_loss, soft_cross_entropy
from textclf.training.soft_targets import expand_rows, mix_hard, tempered

pytestmark = pytest.mark.usefixtures("one_torch_thread")
BAG = {"type": "bag", "embedding_dim": 16, "buckets": 1000}
QUICK = {"epochs": 2, "progress": False}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, rotten_tomatoes):
    """A TF-IDF teacher trained from a 210-row file (so it records its splits), and a 90-row pool."""
    root = tmp_path_factory.mktemp("distill")
    labelled = stratified_sample(rotten_tomatoes, 70, seed=0)
    pool = stratified_sample(rotten_tomatoes, 30, seed=1)
    seen = set(labelled.texts)
    pd.DataFrame({"text": labelled.texts, "label": labelled.labels}).to_csv(root / "train.csv", index=False)
    pd.DataFrame({"text": [t for t in pool.texts if t not in seen]}).to_csv(root / "pool.csv", index=False)
    pd.DataFrame({"review": pool.texts}).to_csv(root / "pool_review.csv", index=False)
    textclf.train({"data": {"train": str(root / "train.csv"), "split": {"validation_size": 0.25, "test_size": 0.2}},
                   "model": {"type": "tfidf"}}, output_dir=root / "teacher", log=open("/dev/null", "w"))
    return root


def test_distill_writes_a_student_that_loads_predicts_and_names_its_teacher(teacher):
    result = textclf.distill(teacher / "teacher" / "model", teacher / "pool.csv", BAG, teacher / "bag",
                             training=QUICK, bootstrap=0, log=None)
    student = textclf.load(teacher / "bag")
    assert student.model_params["type"] == "bag"
    assert set(student.predict(["a moving, beautifully acted film", "the plot follows two brothers"])) <= {
        "fresh", "rotten", "plot"}
    origin = student.card.distilled_from
    assert origin["teacher"] == str((teacher / "teacher" / "model").resolve()) and origin["type"] == "tfidf"
    assert origin["targets"] == "soft" and 0.0 < origin["validation_macro_f1"] <= 1.0
    assert origin["pool_rows"] == result.pool_rows > 0 and origin["train_rows"] == result.metrics["sizes"]["train"]
    saved = json.loads((teacher / "bag" / "metrics.json").read_text())
    assert {"validation", "test", "teacher"} <= set(saved)
    assert student.card.data == textclf.load(teacher / "teacher" / "model").card.data  # evaluate finds its splits


def test_soft_cross_entropy_equals_a_hand_computed_value():
    logits = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    targets = torch.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    # T = 2: row 1 reads logits (0.5, 1, 1.5); row 2 is uniform, -log(1/3) on class 0.
    norm = math.log(math.exp(0.5) + math.exp(1.0) + math.exp(1.5))
    row1 = -(0.2 * (0.5 - norm) + 0.3 * (1.0 - norm) + 0.5 * (1.5 - norm))
    row2 = math.log(3.0)
    expected = 4.0 * (row1 + row2) / 2  # T^2 * mean
    assert soft_cross_entropy(logits, targets, temperature=2.0).item() == pytest.approx(expected, rel=1e-6)
    assert soft_cross_entropy(logits, targets).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, targets).item(), rel=1e-6)
    ids = torch.tensor([2, 0])  # class ids (validation targets) count as one-hot
    assert soft_cross_entropy(logits, ids).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, ids).item(), rel=1e-6)


def test_soft_targets_are_tempered_mixed_and_expanded_in_proportion():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.2, 0.6]], dtype=np.float32)
    assert np.allclose(tempered(probs, 1.0, False), probs)
    soft = tempered(probs, 2.0, False)
    assert np.allclose(soft.sum(axis=1), 1.0) and soft[0, 0] < 0.7 and soft[0].argmax() == 0
    assert np.allclose(mix_hard(probs, np.array([1, 2]), 0.5)[0], [0.35, 0.6, 0.05])
    source, labels = expand_rows(probs, 4, multi_label=False)
    assert source.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert np.bincount(labels[:4], minlength=3).tolist() == [3, 1, 0]
    assert np.bincount(labels[4:], minlength=3).tolist() == [1, 1, 2]
    _, multi = expand_rows(np.array([[0.9, 0.3, 0.6]]), 4, multi_label=True)
    assert multi.sum(axis=0).tolist() == [4, 1, 2]  # a label is on in round(p * copies) copies


def test_soft_targets_train_a_neural_model_through_build_loss():
    from textclf.config import TrainingConfig
    from textclf.data import Examples, LabelMap
    from textclf.models import model_class
    from textclf.training.losses import SoftTargetLoss

    label_map = LabelMap.fit(Examples.from_lists(["a", "b", "c"], ["x", "y", "z"]))
    loss = build_loss(label_map, np.array([[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]], dtype=np.float32), TrainingConfig())
    assert isinstance(loss, SoftTargetLoss)
    assert model_class("bag").declared_capabilities.soft_targets  # declared, never probed
    assert not model_class("tfidf").declared_capabilities.soft_targets


def test_the_cache_makes_a_second_run_skip_teacher_prediction(teacher, monkeypatch, capsys):
    model = str(teacher / "teacher" / "model")
    args = ["distill", model, "--data", str(teacher / "pool.csv"), "--student", "tfidf", "--copies", "2",
            "--bootstrap", "0", "-o", str(teacher / "t1")]
    assert main(args) == 0
    assert (teacher / "t1.teacher.jsonl").is_file() and "teacher predicts the pool" in capsys.readouterr().err

    def no_prediction(*args, **kwargs):
        raise AssertionError("the teacher predicted the pool again")

    monkeypatch.setattr(distill_job, "predict_file", no_prediction)
    assert main([*args, "--overwrite"]) == 0
    assert "teacher predictions from the cache" in capsys.readouterr().err
    student = textclf.load(teacher / "t1")
    assert student.card.distilled_from["targets"] == "hard labels, 2 copies per text"


@pytest.mark.parametrize("case", ["missing teacher", "no text column", "output exists"])
def test_a_bad_input_exits_2_with_one_line_and_writes_nothing(teacher, tmp_path, capsys, case):
    model, pool, out = teacher / "teacher" / "model", teacher / "pool.csv", tmp_path / "student"
    if case == "missing teacher":
        model = tmp_path / "nowhere"
    elif case == "no text column":
        pool = teacher / "pool_review.csv"
    else:
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    code = main(["distill", str(model), "--data", str(pool), "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("textclf: error:") and len(err[0]) <= 320
    expected = {"missing teacher": "nowhere", "no text column": "text", "output exists": "--overwrite"}[case]
    assert expected in err[0]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == (["student"] if case == "output exists" else [])
    if case == "output exists":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
