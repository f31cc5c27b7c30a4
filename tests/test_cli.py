"""The command line: exit codes, one-line errors, atomic outputs."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from textclf.cli import main
from textclf.data.io import examples_frame, write_frame
from textclf.data.splits import split_examples


@pytest.fixture(scope="module")
def trained(tmp_path_factory, rt_small):
    """A TF-IDF model trained through the CLI on files, plus its data files."""
    root = tmp_path_factory.mktemp("cli")
    splits = split_examples(rt_small, "stratified", 0.0, 0.25, seed=0)
    write_frame(examples_frame(splits.train), root / "train.csv")
    write_frame(examples_frame(splits.test), root / "test.jsonl")
    code = main(["train", f"data.train={root / 'train.csv'}", f"data.test={root / 'test.jsonl'}",
                 "data.split.validation_size=0.1", f"output_dir={root / 'run'}"])
    assert code == 0
    return root


def test_train_writes_model_and_metrics(trained):
    metrics = json.loads((trained / "run" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.6
    assert (trained / "run" / "model" / "labels.json").is_file()


def test_evaluate_on_a_file_and_on_the_saved_split(trained, capsys):
    assert main(["evaluate", str(trained / "run" / "model"), "--data", str(trained / "test.jsonl"),
                 "-o", str(trained / "m.json")]) == 0
    assert "macro_f1" in capsys.readouterr().out
    assert json.loads((trained / "m.json").read_text())["n"] == 150
    assert main(["evaluate", str(trained / "run" / "model")]) == 0  # rebuilt held-out test file


def test_predict_file_to_csv_and_jsonl(trained):
    model = str(trained / "run" / "model")
    assert main(["predict", model, str(trained / "test.jsonl"), "-o", str(trained / "p.csv")]) == 0
    table = pd.read_csv(trained / "p.csv")
    assert len(table) == 150 and {"label", "prob_fresh", "prob_plot", "prob_rotten"} <= set(table.columns)
    assert table[["prob_fresh", "prob_plot", "prob_rotten"]].sum(axis=1).round(4).eq(1).all()
    assert main(["predict", model, str(trained / "test.jsonl"), "-o", str(trained / "p.jsonl")]) == 0
    rows = [json.loads(line) for line in (trained / "p.jsonl").read_text().splitlines()]
    assert [r["label"] for r in rows] == table["label"].tolist()


def test_predict_reads_stdin(trained):
    result = subprocess.run(
        [sys.executable, "-m", "textclf", "predict", str(trained / "run" / "model")],
        input="a moving, beautifully acted drama\n\nthe plot follows a young detective in paris\n",
        capture_output=True, text=True, check=True,
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["row"] for r in rows] == [1, 3]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "textclf", *args], capture_output=True, text=True)


def test_bad_input_exits_2_with_one_line_and_no_partial_output(trained, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text\nfine text\n\"\"\nmore\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = run_cli("predict", str(trained / "run" / "model"), str(bad), "-o", str(out), "--chunk-size", "1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f'textclf: error: {bad}, row 2, column "text": empty or missing text'
    ]
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [bad]  # no half-written output, no temp file


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "nope.yaml"], "nope.yaml: config file not found"),
        (["train", "data.dataset=rotten-tomatoes", "model.type=forest"], "model.type 'forest' is not one of"),
        (["train", "data.dataset=rotten-tomatoes", "training.epochz=3"], "training.epochz: Extra inputs"),
        (["train", "data.dataset=nope"], "unknown bundled data set 'nope'"),
        (["evaluate", "no-such-model"], "no-such-model: model directory not found"),
    ],
)
def test_user_mistakes_exit_2(args, message):
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_evaluate_with_an_unknown_label_exits_2(trained, tmp_path):
    data = tmp_path / "other.csv"
    data.write_text("text,label\ngreat,fresh\nawful,spoiled\n", encoding="utf-8")
    result = run_cli("evaluate", str(trained / "run" / "model"), "--data", str(data))
    assert result.returncode == 2 and "row 2: unknown label 'spoiled'" in result.stderr


def test_data_list_and_export(tmp_path):
    result = run_cli("data", "list")
    assert result.returncode == 0 and "rotten-tomatoes" in result.stdout and "bbc-news" in result.stdout
    assert main(["data", "export", "rotten-tomatoes", "-o", str(tmp_path / "rt.parquet")]) == 0
    frame = pd.read_parquet(tmp_path / "rt.parquet")
    assert len(frame) == 13835 and {"text", "label", "group"} <= set(frame.columns)
