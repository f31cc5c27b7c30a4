"""The train job: every config problem at once, the collapse warning, training from a data file."""

from __future__ import annotations

import io
from types import SimpleNamespace
import json

import numpy as np

from textclf.cli import main
from textclf.data import Examples
from textclf.data.io import examples_frame, write_frame
from textclf.jobs.train import collapsed_label, warn_on_collapse


def test_all_config_problems_of_a_file_in_one_line(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("model: {type: transformerz}\ntraining: {epochs: -3}\n")
    assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"textclf: error: {config}: ")
    for problem in ("data: Field required", "training.epochs", "'transformerz' is not one of"):
        assert problem in err[0], problem


def test_a_config_error_prints_nothing_before_its_line(tmp_path, rt_small, capsys):
    data = tmp_path / "rt.csv"
    write_frame(examples_frame(rt_small.subset(range(300))), data)
    assert main(["train", f"data.train={data}", "model.type=tfidf", "thresholds.tune=per_label", "audit=false",
                 f"output_dir={tmp_path / 'run'}"]) == 2  # 3 classes: thresholds need a binary task
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "thresholds.tune needs a binary" in err[0]


def test_collapse_is_recognised_only_when_the_gold_labels_are_not_as_skewed():
    assert collapsed_label(["a"] * 97 + ["b"] * 3, ["a"] * 60 + ["b"] * 40) == "a"
    assert collapsed_label(["a"] * 97 + ["b"] * 3, ["a"] * 96 + ["b"] * 4) is None  # the data is that skewed
    assert collapsed_label(["a"] * 80 + ["b"] * 20, ["a"] * 50 + ["b"] * 50) is None


class _Majority:
    """A constructed model that predicts the majority label for every text."""

    multi_label = False

    def infer(self, examples):
        return SimpleNamespace(labels=["fresh"] * len(examples))


def test_collapse_warning_fires_on_a_majority_only_model():
    validation = Examples.from_lists(["t"] * 100, ["fresh"] * 60 + ["rotten"] * 40)
    log = io.StringIO()
    warn_on_collapse(_Majority(), validation, log)
    lines = log.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("textclf: warning:") and "'fresh'" in lines[0]


def test_train_from_a_data_file_chooses_a_model_within_the_budget(tmp_path, rt_small, capsys):
    frame = examples_frame(rt_small.subset(range(0, 600, 2)))
    frame = frame.rename(columns={"text": "review", "label": "sentiment"})
    write_frame(frame, tmp_path / "reviews.csv")
    assert main(["train", str(tmp_path / "reviews.csv"), "--text-column", "review", "--label-column", "sentiment",
                 "--time-budget", "20s", "-o", str(tmp_path / "run"), "model.candidates=[tfidf_word]",
                 "audit=false", "refit_full=false"]) == 0  # a refitted model refuses its own test split
    model = tmp_path / "run" / "model"
    leaderboard = json.loads((model / "leaderboard.json").read_text())
    assert leaderboard and (tmp_path / "run" / "leaderboard.json").is_file()
    config = json.loads((model / "config.json").read_text())
    assert config["model"]["type"] == "tfidf" and config["info"]["columns"]["text_column"] == "review"
    assert main(["evaluate", str(model)]) == 0  # its own test split, read with the recorded columns
    assert np.isfinite(json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]["macro_f1"])
