"""Labelling app edges: answer kinds checked per mode over HTTP, a journal event the session cannot
apply refused at restart in one line, label names holding the multi-label delimiter refused, typed
(int) labels kept in JSONL outputs, the reviewed file's columns kept, and side files (Label Studio
export, change log) never replaced without --overwrite. Small real data, TF-IDF features."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from textclf.errors import ConfigError, DataError
from textclf.labelling.app import build_app
from textclf.labelling.journal import Journal
from textclf.labelling.pool import Pool
from textclf.labelling.session import LabelSession, SessionSettings

SPREAD = list(range(0, 600, 10))  # the sample is sorted by class: every 10th row mixes them


@pytest.fixture()
def int_data(tmp_path, rt_binary):
    """60 fresh/rotten texts labelled 1/0, with a group column, and a tfidf model trained on 1/0."""
    from textclf import TextClassifier

    rows = list(range(0, 600, 10))
    frame = pd.DataFrame({"group": [f"g{i % 7}" for i in rows], "text": [rt_binary.texts[i] for i in rows],
                          "label": [int(rt_binary.labels[i] == "fresh") for i in rows]})
    frame.to_csv(tmp_path / "int.csv", index=False)
    train = list(range(1, 600, 3))
    model = TextClassifier(model={"type": "tfidf"}, calibration=None).fit(
        [rt_binary.texts[i] for i in train], [int(rt_binary.labels[i] == "fresh") for i in train])
    model.save(tmp_path / "model")
    return frame, tmp_path / "int.csv", tmp_path / "model"


def _label_session(tmp_path, rt_small, labels=("fresh", "plot", "rotten")) -> LabelSession:
    texts = [rt_small.texts[i] for i in SPREAD]
    pool = Pool([f"row-{i}" for i in range(len(texts))], texts, labels)
    return LabelSession(pool, Journal(tmp_path / "j.sqlite", pool.identity()), None, SessionSettings())


def test_label_app_refuses_review_kinds_and_keeps_working(tmp_path, rt_small):
    session = _label_session(tmp_path, rt_small)
    client = TestClient(build_app(session, lambda: []))
    item = client.get("/api/state", params={"client": "A"}).json()["item"]["id"]
    for seq, kind in enumerate(("keep", "relabel", "drop"), start=1):
        answer = client.post("/api/answer", json={"client": "A", "seq": seq, "item": item, "kind": kind,
                                                  "labels": ["plot"]})
        assert answer.status_code == 422 and "label, skip" in answer.json()["detail"], answer.text
    assert session.journal.events() == []
    assert client.post("/api/answer", json={"client": "A", "seq": 9, "item": item, "kind": "label",
                                            "labels": ["plot"]}).json()["recorded"] is True
    assert client.get("/api/state", params={"client": "A"}).status_code == 200
    assert client.post("/api/save").status_code == 200


def test_review_app_refuses_label_and_skip(tmp_path, int_data):
    from textclf.jobs.label import ReviewOptions, open_review_session

    _, data, model = int_data
    session, _ = open_review_session(ReviewOptions(str(model), str(tmp_path / "fixed.csv"), data=str(data), limit=5))
    client = TestClient(build_app(session, lambda: []))
    item = client.get("/api/state", params={"client": "A"}).json()["item"]["id"]
    for seq, (kind, labels) in enumerate((("label", ["0"]), ("skip", None)), start=1):
        answer = client.post("/api/answer", json={"client": "A", "seq": seq, "item": item, "kind": kind,
                                                  "labels": labels})
        assert answer.status_code == 422 and "keep, relabel, drop" in answer.json()["detail"], answer.text
    assert session.journal.events() == []


def test_a_journal_event_that_cannot_be_replayed_is_refused_in_one_line(tmp_path, rt_small, capsys):
    from textclf.cli import main
    from textclf.data.io import Columns
    from textclf.labelling.pool import load_pool

    data = tmp_path / "texts.csv"
    pd.DataFrame({"text": [rt_small.texts[i] for i in SPREAD]}).to_csv(data, index=False)
    out = tmp_path / "out.csv"
    pool = load_pool(data, Columns(), ("a", "b"), False)
    journal = Journal(tmp_path / "out.csv.journal.sqlite", pool.identity())
    journal.append("A", 1, pool.ids[0], "label", ["a"], "ann")
    journal.append("A", 2, pool.ids[1], "keep", None, "ann")  # what the old app let through
    journal.close()
    with pytest.raises(DataError, match=r"event 2 .*'keep'"):
        LabelSession(pool, Journal(tmp_path / "out.csv.journal.sqlite", pool.identity()), None, SessionSettings())
    argv = ["label", str(data), "--labels", "a,b", "-o", str(out), "--features", "tfidf", "--port", "0"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out.csv.journal.sqlite, event 2" in err and "Traceback" not in err, err
    assert not out.exists()
    import sqlite3  # a damaged row (say, hand-edited) is one line too, never a traceback

    with sqlite3.connect(tmp_path / "out.csv.journal.sqlite") as db:
        db.execute("DELETE FROM events WHERE id=2")
        db.execute("UPDATE events SET labels='not json' WHERE id=1")
    with pytest.raises(DataError, match="a stored event cannot be read"):
        Journal(tmp_path / "out.csv.journal.sqlite", pool.identity()).events()


def test_label_names_holding_the_delimiter_are_refused(tmp_path, capsys):
    from textclf.cli import main

    data = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["good film", "bad film", "a plot"]}).to_csv(data, index=False)
    argv = ["label", str(data), "--labels", "good|bad,plot", "--multi-label", "-o", str(tmp_path / "o.csv"),
            "--features", "tfidf", "--port", "0"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'good|bad'" in err and "Traceback" not in err, err
    with pytest.raises(ConfigError, match="'a|b'"):
        Pool(["x", "y"], ["t1", "t2"], ("a|b", "c"), multi_label=True)
    Pool(["x", "y"], ["t1", "t2"], ("a|b", "c"))  # single-label cells are never split


def test_jsonl_outputs_keep_int_labels(tmp_path, int_data):
    from textclf.jobs.label import LabelOptions, ReviewOptions, open_label_session, open_review_session

    _, data, model = int_data
    session, output = open_label_session(LabelOptions(str(data), str(tmp_path / "lab.jsonl"), labels_from=str(model),
                                                      features="tfidf", settings=SessionSettings(clusters=4)),
                                         progress=False)
    session.answer("A", 1, session.pool.ids[0], "label", ["1"])
    session.answer("A", 2, session.pool.ids[1], "label", ["0"])
    session.flush()
    labels = [json.loads(line)["label"] for line in output.path.read_text().splitlines()]
    assert labels == [1, 0] and all(type(x) is int for x in labels)
    studio = json.loads(output.label_studio.read_text())
    assert studio[0]["annotations"][0]["result"][0]["value"]["choices"] == ["1"]

    review, fixed = open_review_session(ReviewOptions(str(model), str(tmp_path / "fixed.jsonl"), data=str(data),
                                                      limit=5))
    item = review.pool.ids[review.next_row("A")]
    review.answer("A", 1, item, "relabel", ["0"])
    review.flush()
    rows = [json.loads(line) for line in fixed.path.read_text().splitlines()]
    assert all(type(r["label"]) is int for r in rows) and len(rows) == 60


def test_review_keeps_the_input_columns_and_row_order(tmp_path, int_data):
    from textclf.jobs.label import ReviewOptions, open_review_session

    frame, data, model = int_data
    session, output = open_review_session(ReviewOptions(str(model), str(tmp_path / "fixed.csv"), data=str(data),
                                                        limit=6))
    first = session.next_row("A")
    session.answer("A", 1, session.pool.ids[first], "relabel", [str(1 - frame["label"][first])])
    second = session.next_row("A")
    session.answer("A", 2, session.pool.ids[second], "drop")
    session.flush()
    fixed = pd.read_csv(output.path)
    expected = frame.drop(index=second).reset_index(drop=True)
    expected.loc[first - (first > second), "label"] = 1 - frame["label"][first]
    assert list(fixed.columns) == ["group", "text", "label"]
    pd.testing.assert_frame_equal(fixed, expected)


def test_side_files_are_never_replaced_without_overwrite(tmp_path, rt_small, int_data):
    from textclf.jobs.label import LabelOptions, ReviewOptions, open_label_session, open_review_session

    _, data, model = int_data
    studio = tmp_path / "mine.label-studio.json"
    studio.write_text('{"my": "precious annotations"}')
    options = LabelOptions(str(data), str(tmp_path / "mine.csv"), labels=("a", "b"), features="tfidf",
                           settings=SessionSettings(clusters=4))
    with pytest.raises(DataError, match="label-studio.json exists"):
        open_label_session(options, progress=False)
    assert studio.read_text() == '{"my": "precious annotations"}' and not (tmp_path / "mine.csv").exists()
    changes = tmp_path / "fixed.changes.csv"
    changes.write_text("keep me\n")
    review = ReviewOptions(str(model), str(tmp_path / "fixed.csv"), data=str(data), limit=5)
    with pytest.raises(DataError, match="changes.csv exists"):
        open_review_session(review)
    assert changes.read_text() == "keep me\n" and not (tmp_path / "fixed.csv").exists()
    # --overwrite replaces them; a resumed session (its journal beside OUTPUT) rewrites its own
    session, _ = open_review_session(ReviewOptions(**{**review.__dict__, "overwrite": True}))
    session.journal.close()
    assert changes.read_text().startswith("id,decision")
    open_review_session(review)[0].journal.close()


def test_multi_label_none_of_these_is_an_answer_that_reads_back_empty(tmp_path, rt_small):
    from textclf.data.io import Columns, read_examples
    from textclf.labelling.features import tfidf_svd
    from textclf.labelling.output import LabelledOutput, write_labelled

    texts = [rt_small.texts[i] for i in SPREAD]
    pool = Pool([f"row-{i}" for i in range(len(texts))], texts, ("fresh", "plot", "rotten"), multi_label=True)
    session = LabelSession(pool, Journal(tmp_path / "m.sqlite", pool.identity()), tfidf_svd(texts, dims=20),
                           SessionSettings(clusters=4, refit_every=1000))
    client = TestClient(build_app(session, lambda: []))
    body = {"client": "A", "seq": 1, "item": "row-0", "kind": "label", "labels": []}
    assert client.post("/api/answer", json=body).json()["recorded"] is True
    assert client.post("/api/answer", json={**body, "seq": 2, "labels": None}).status_code == 422
    for seq, row in enumerate(range(1, 13), start=3):
        client.post("/api/answer", json={**body, "seq": seq, "item": f"row-{row}", "labels": [rt_small.labels[SPREAD[row]]]})
    session.refit()  # an empty answer trains as "none of the labels"
    assert session.model.probabilities is not None and client.get("/api/state", params={"client": "A"}).status_code == 200
    write_labelled(session, LabelledOutput.of(tmp_path / "out.csv"))
    read = read_examples(tmp_path / "out.csv", Columns(multi_label=True, label_delimiter="|"))
    assert read.labels[0] == () and len(read.labels) == 13
    single = _label_session(tmp_path / "single", rt_small)
    answer = TestClient(build_app(single, lambda: [])).post("/api/answer", json=body)
    assert answer.status_code == 422
