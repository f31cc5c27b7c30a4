"""Label-noise suspects, the `audit` / `split` verbs (exit codes, outputs) and the fast audit in `train`."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pandas as pd
import pytest

from textclf.audit.label_noise import label_noise_suspects
from textclf.cli import main
from textclf.config import load_config
from textclf.data.bundled import load_bundled
from textclf.data.io import Columns, examples_frame, write_frame
from textclf.data.splits import split_examples
from textclf.jobs.train import train

from conftest import stratified_sample


@pytest.mark.slow
def test_label_noise_finds_flipped_labels():
    bbc = stratified_sample(load_bundled("bbc-news"), 50)  # 250 articles, 5 topics
    rng = np.random.default_rng(0)
    flipped = sorted(rng.choice(len(bbc), size=10, replace=False).tolist())
    names = sorted(set(bbc.labels))
    labels = list(bbc.labels)
    for i in flipped:
        labels[i] = names[(names.index(labels[i]) + 1) % len(names)]
    noisy = dataclasses.replace(bbc, labels=labels)
    result = label_noise_suspects({"train": noisy}, folds=5, top=20)
    top = [s.ref.index for s in result.suspects[:10]]
    assert len(set(top) & set(flipped)) >= 8, (top, flipped)  # the flipped rows rank first
    assert result.flagged >= 3 and all(s.ref.index in flipped for s in result.suspects if s.flagged)
    first = result.suspects[0]
    assert first.rank == 1 and first.given != first.predicted and first.given_probability < 0.5
    assert label_noise_suspects({"train": bbc}, top=20).flagged == 0  # clean labels: nothing flagged


def _write_split(tmp_path, examples, name):
    path = tmp_path / f"{name}.csv"
    write_frame(examples_frame(examples, Columns(group="movie")), path)
    return str(path)


@pytest.fixture(scope="module")
def group_split(rt_small):
    return split_examples(rt_small, "group", 0.0, 0.25, seed=0)


def test_audit_cli_exit_codes_and_json(tmp_path, group_split, capsys):
    train = _write_split(tmp_path, group_split.train, "train")
    clean_test = _write_split(tmp_path, group_split.test, "test")
    args = ["audit", train, "--test", clean_test, "--group-column", "movie", "--no-label-noise"]
    assert main(args + ["--fail-on", "duplicates,near_duplicates,group"]) == 0

    leaky = group_split.test.subset(range(len(group_split.test)))
    leaky = dataclasses.replace(leaky, texts=group_split.train.texts[:3] + leaky.texts[3:])
    leaky_test = _write_split(tmp_path, leaky, "leaky")
    out = tmp_path / "audit.json"
    args = ["audit", train, "--test", leaky_test, "--group-column", "movie", "--no-label-noise", "-o", str(out),
            "--format", "json", "--overwrite"]
    assert main(args + ["--fail-on", "duplicates"]) == 1
    report = json.loads(out.read_text())
    assert report["problems"]["duplicates"] == 3
    assert "audit failed: duplicates" in capsys.readouterr().err
    assert main(args + ["--fail-on", "time"]) == 0  # no time column: that check cannot fail
    assert main(args + ["--fail-on", "duplicatez"]) == 2


@pytest.mark.slow
def test_audit_cli_bundled_group_leakage(capsys):
    # A random split of raw Rotten Tomatoes puts most movies on both sides.
    code = main(["audit", "rotten-tomatoes", "--group-column", "movie_name", "--split", "random",
                 "--no-label-noise", "--fail-on", "group"])
    out = capsys.readouterr().out
    assert code == 1 and "group" in out and "leaked groups" in out


def test_split_cli_writes_honest_files(tmp_path, rt_small):
    doubled = dataclasses.replace(rt_small, texts=rt_small.texts + rt_small.texts[:30],
                                  labels=rt_small.labels + rt_small.labels[:30],
                                  groups=rt_small.groups + rt_small.groups[:30],
                                  rows=rt_small.rows + list(range(20_000, 20_030)))
    data = _write_split(tmp_path, doubled, "all")
    out_dir = tmp_path / "splits"
    assert main(["split", data, "--split", "stratified", "-o", str(out_dir)]) == 0
    parts = {name: pd.read_csv(out_dir / f"{name}.csv") for name in ("train", "validation", "test")}
    train_texts = set(parts["train"]["text"])
    assert not train_texts & set(parts["test"]["text"]) and not train_texts & set(parts["validation"]["text"])
    assert sum(len(p) for p in parts.values()) < len(doubled)
    assert main(["split", data, "--split", "time", "-o", str(out_dir)]) == 2  # no time column


def test_train_runs_fast_audit_and_stores_it(tmp_path, group_split):
    leaky = dataclasses.replace(group_split.test, texts=group_split.train.texts[:4] + group_split.test.texts[4:])
    train_file = _write_split(tmp_path, group_split.train, "train")
    test_file = _write_split(tmp_path, leaky, "test")
    overrides = [f"data.train={train_file}", f"data.test={test_file}", "data.split.validation_size=0.0",
                 f"output_dir={tmp_path / 'run'}"]
    log = io.StringIO()
    result = train(load_config(None, overrides), log=log)
    assert result.metrics["audit"]["problems"]["duplicates"] == 4
    assert "audit warning: exact duplicates across splits" in log.getvalue()
    saved = json.loads((result.model_dir / "metrics.json").read_text()) if (result.model_dir / "metrics.json").exists() else None
    assert saved is None or saved["audit"]["problems"]["duplicates"] == 4
    assert result.classifier.card.audit["problems"]["duplicates"] == 4

    quiet = io.StringIO()
    result = train(load_config(None, overrides + ["audit=false", f"output_dir={tmp_path / 'run2'}"]), log=quiet)
    assert "audit" not in result.metrics and "audit warning" not in quiet.getvalue()
