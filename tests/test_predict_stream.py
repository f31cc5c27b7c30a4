"""Streaming prediction: input order, chunk boundaries, formats, stdin, atomic and resumable output."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pandas as pd
import pytest

from textclf import TextClassifier
from textclf.cli import main
from textclf.data.io import examples_frame, write_frame
from textclf.errors import DataError
from textclf.data.lengths import chunk_logits, length_sorted_batches
from textclf.serving.predict import PredictOptions, complete_records, partial_path, predict_file


@pytest.fixture(scope="module")
def model(tmp_path_factory, rt_small):
    clf = TextClassifier(model={"type": "tfidf"}).fit(rt_small.subset(range(0, 600, 2)))
    directory = tmp_path_factory.mktemp("stream") / "model"
    clf.save(directory)
    return TextClassifier.load(directory), directory


@pytest.fixture(scope="module")
def unseen(rt_small):
    return rt_small.subset(range(1, 600, 6))  # 100 texts the model did not train on


@pytest.fixture(scope="module")
def input_csv(tmp_path_factory, unseen):
    path = tmp_path_factory.mktemp("input") / "in.csv"
    write_frame(examples_frame(unseen), path)
    return path


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def test_length_sorted_batches_cover_every_index_once_and_group_by_length():
    texts = ["a" * n for n in [5, 1, 9, 3, 7, 2, 8]]
    batches = length_sorted_batches(texts, 3)
    assert sorted(np.concatenate(batches).tolist()) == list(range(7))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [len(texts[i]) for i in batches[0]] == [9, 8, 7]


def test_chunk_logits_restores_input_order():
    texts = ["bb", "a", "dddd", "ccc", "eeeee"]
    calls = []

    def fake_logits(batch):
        calls.append(list(batch))
        return np.array([[len(t), -len(t)] for t in batch], dtype=np.float32)

    logits = chunk_logits(fake_logits, texts, batch_size=2)
    assert logits[:, 0].tolist() == [2, 1, 4, 3, 5]
    assert calls[0] == ["eeeee", "dddd"]  # the longest texts share the first batch


@pytest.mark.parametrize("chunk_size,batch_size", [(1, 1), (7, 3), (100, 64), (1000, 16)])
def test_streamed_output_equals_in_memory_predict_at_any_chunk_boundary(model, unseen, input_csv, tmp_path,
                                                                         chunk_size, batch_size):
    clf, _ = model
    out = tmp_path / "out.jsonl"
    summary = predict_file(clf, input_csv, out, PredictOptions(chunk_size=chunk_size, batch_size=batch_size,
                                                               progress=False))
    rows = read_jsonl(out)
    assert summary.rows == len(rows) == 100
    assert [r["row"] for r in rows] == list(range(1, 101))
    assert [r["label"] for r in rows] == clf.predict(unseen.texts)
    probs = np.array([[r[f"prob_{name}"] for name in clf.label_map.labels] for r in rows])
    np.testing.assert_allclose(probs, clf.predict_proba(unseen.texts), atol=1e-6)
    assert not partial_path(out).exists()


def test_csv_jsonl_and_parquet_inputs_give_the_same_predictions(model, unseen, tmp_path):
    clf, _ = model
    labels = []
    for suffix in ("csv", "jsonl", "parquet"):
        path = tmp_path / f"in.{suffix}"
        write_frame(examples_frame(unseen), path)
        out = tmp_path / f"out-{suffix}.csv"
        predict_file(clf, path, out, PredictOptions(chunk_size=33, progress=False))
        labels.append(pd.read_csv(out)["label"].tolist())
    assert labels[0] == labels[1] == labels[2] == clf.predict(unseen.texts)


def test_ids_are_carried_through(model, unseen, tmp_path):
    clf, _ = model
    frame = examples_frame(unseen)
    frame.insert(0, "doc", [f"d{i}" for i in range(len(frame))])
    path = tmp_path / "ids.jsonl"
    write_frame(frame, path)
    out = tmp_path / "out.jsonl"
    predict_file(clf, path, out, PredictOptions(id_column="doc", chunk_size=9, progress=False))
    assert [r["id"] for r in read_jsonl(out)] == frame["doc"].tolist()


def test_a_bad_row_leaves_no_output_and_keeps_an_older_one(model, unseen, tmp_path):
    clf, _ = model
    frame = examples_frame(unseen)
    frame.loc[57, "text"] = "   "
    path = tmp_path / "bad.csv"
    write_frame(frame, path)
    out = tmp_path / "out.csv"
    with pytest.raises(DataError, match=r'row 58, column "text"'):
        predict_file(clf, path, out, PredictOptions(chunk_size=10, progress=False))
    assert not out.exists() and not partial_path(out).exists()
    out.write_text("earlier result\n")
    with pytest.raises(DataError, match=r'row 58, column "text"'):  # even when asked to replace it
        predict_file(clf, path, out, PredictOptions(chunk_size=10, progress=False, overwrite=True))
    assert out.read_text() == "earlier result\n" and not partial_path(out).exists()
    assert main(["predict", str(model[1]), str(path), "-o", str(out), "--chunk-size", "10"]) == 2
    assert out.read_text() == "earlier result\n" and not partial_path(out).exists()


def test_stdin_input(model, monkeypatch, tmp_path):
    clf, directory = model
    texts = ["a moving, beautifully acted drama", "a tedious, lifeless mess", "the plot follows a detective"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join([texts[0], "", *texts[1:]]) + "\n"))
    out = tmp_path / "stdin.jsonl"
    assert main(["predict", str(directory), "-", "-o", str(out), "--chunk-size", "2"]) == 0
    rows = read_jsonl(out)
    assert [r["label"] for r in rows] == clf.predict(texts)
    assert [r["row"] for r in rows] == [1, 3, 4]  # input line numbers; the blank line is skipped


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_resume_keeps_complete_rows_and_predicts_only_the_rest(model, input_csv, tmp_path, suffix):
    clf, _ = model
    full = tmp_path / f"full.{suffix}"
    predict_file(clf, input_csv, full, PredictOptions(progress=False))
    lines = full.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = 30 + (suffix == "csv")  # the CSV header is a line too
    out = tmp_path / f"resumed.{suffix}"
    calls = []

    def interrupted_logits(texts):  # a run killed after 3 chunks of 10 rows leaves the manifest
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(len(texts))
        return clf.logits(texts)

    with pytest.raises(KeyboardInterrupt):
        predict_file(clf, input_csv, out, PredictOptions(chunk_size=10, progress=False), logits_fn=interrupted_logits)
    assert not out.exists() and partial_path(out).read_text(encoding="utf-8") == "".join(lines[:kept])
    partial_path(out).write_text("".join(lines[:kept]) + lines[kept][:12], encoding="utf-8")  # cut mid-row
    assert complete_records(partial_path(out), suffix)[0] == 30
    seen = []

    def counting_logits(texts):
        seen.extend(texts)
        return clf.logits(texts)

    summary = predict_file(clf, input_csv, out, PredictOptions(resume=True, chunk_size=16, progress=False),
                           logits_fn=counting_logits)
    assert summary.resumed_rows == 30 and summary.rows == 100 and len(seen) == 70
    assert out.read_text(encoding="utf-8") == full.read_text(encoding="utf-8")
    assert not partial_path(out).exists()


def test_complete_records_respects_quoted_newlines_in_csv(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('id,label\n"a\nb",x\n"c\nd",y\n"e\n', encoding="utf-8")
    records, end, header = complete_records(path, "csv")
    assert (records, header) == (2, True)
    assert path.read_bytes()[:end].endswith(b'"c\nd",y\n')


def test_tuned_binary_threshold_is_applied_and_written(rt_binary, tmp_path):
    clf = TextClassifier(model={"type": "tfidf"}).fit(rt_binary.subset(range(0, 600, 2)))
    clf.policy_ = clf.policy.with_thresholds(np.array([0.7]))
    texts = rt_binary.subset(range(1, 600, 4))
    path = tmp_path / "in.csv"
    write_frame(examples_frame(texts), path)
    out = tmp_path / "out.jsonl"
    predict_file(clf, path, out, PredictOptions(progress=False))
    rows = read_jsonl(out)
    positive = clf.label_map.labels[1]
    assert all(r["threshold"] == 0.7 for r in rows)
    assert [r["label"] == positive for r in rows] == [r[f"prob_{positive}"] >= 0.7 for r in rows]
    assert [r["label"] for r in rows] == clf.predict(texts.texts)


def test_resume_without_an_output_file_is_a_user_error(model, input_csv, capsys):
    assert main(["predict", str(model[1]), str(input_csv), "--resume"]) == 2
    assert "--resume needs -o" in capsys.readouterr().err
