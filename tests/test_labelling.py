"""Labelling: the journal (durable, idempotent, undo/edit), the query strategies, the learner's
scores, the session's queue and outputs, and review decisions. Small real data, TF-IDF features."""

from __future__ import annotations

import json
import re
import sqlite3

import numpy as np
import pandas as pd
import pytest

from textclf.errors import ConfigError, DataError
from textclf.labelling import learner, strategies
from textclf.labelling.features import tfidf_svd
from textclf.labelling.journal import Journal, current_answers, last_undoable
from textclf.labelling.output import LabelledOutput, label_studio_tasks, write_labelled
from textclf.labelling.pool import Pool, parse_label_names
from textclf.labelling.review import ReviewOutput, review_pool, review_queue, write_review
from textclf.labelling.session import LabelSession, SessionSettings


# -- journal ----------------------------------------------------------------------------------------
def test_journal_is_idempotent_durable_and_replays_undo_and_edit(tmp_path):
    path = tmp_path / "j.sqlite"
    journal = Journal(path, {"items": "x"})
    first, created = journal.append("tab1", 1, "a", "label", ["pos"], "ann")
    again, created_again = journal.append("tab1", 1, "a", "label", ["neg"], "ann")  # a retried request
    assert created and not created_again and again == first
    journal.append("tab2", 1, "b", "label", ["neg"], "ann")
    journal.append("tab1", 2, "a", "label", ["neg"], "ann")  # edit from the history
    journal.append("tab1", 3, "c", "skip", None, "ann")
    undo_target = last_undoable(journal.events(), "tab1")
    assert undo_target.item == "c"
    journal.append("tab1", 4, "c", "undo", target=undo_target.id, annotator="ann")
    journal.close()
    # another connection (a restarted server) sees every committed answer; WAL mode is on
    reopened = Journal(path, {"items": "x"})
    standing = current_answers(reopened.events())
    assert {k: (e.kind, e.labels) for k, e in standing.items()} == {"a": ("label", ("neg",)), "b": ("label", ("neg",))}
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(ConfigError, match="other items"):
        Journal(path, {"items": "y"})


def test_undo_of_an_edit_restores_the_earlier_answer(tmp_path):
    journal = Journal(tmp_path / "j.sqlite", {})
    journal.append("t", 1, "a", "label", ["pos"])
    edit, _ = journal.append("t", 2, "a", "label", ["neg"])
    journal.append("t", 3, "a", "undo", target=edit.id)
    assert current_answers(journal.events())["a"].labels == ("pos",)


# -- strategies -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vectors(rt_small):
    return tfidf_svd(rt_small.texts, dims=50)


def test_cold_start_covers_the_clusters(vectors):
    assignments, centres = strategies.cluster_pool(vectors, 12, seed=0)
    picked = strategies.diverse_start(vectors, assignments, centres, 12)
    assert len(set(picked)) == 12 and len({assignments[i] for i in picked}) == 12
    nearest = [min(np.flatnonzero(assignments == assignments[i]),
                   key=lambda j: np.linalg.norm(vectors[j] - centres[assignments[i]])) for i in picked]
    assert picked == nearest


def test_next_batch_is_the_least_confident_rows_spread_over_clusters():
    probs = np.array([[0.5, 0.5], [0.51, 0.49], [0.9, 0.1], [0.55, 0.45], [0.99, 0.01], [0.52, 0.48]])
    assignments = np.array([0, 0, 1, 1, 2, 0])
    # the first pick after the cold start is the least confident row; the batch is exactly the
    # `count` least confident rows (no wider shortlist: row 4, alone in its cluster, but sure, waits)
    assert strategies.next_batch(probs, assignments, range(6), 1) == [0]
    assert strategies.next_batch(probs, assignments, range(6), 2) == [0, 1]
    assert strategies.next_batch(probs, assignments, range(6), 3) == [0, 1, 5]
    # order within a batch: round-robin over the clusters, least confident first
    assert strategies.next_batch(probs, assignments, range(6), 4) == [0, 3, 1, 5]
    assert strategies.next_batch(probs, assignments, [1, 2, 4], 1) == [1]
    assert strategies.next_batch(probs, assignments, [], 3) == []


def test_next_batch_uses_the_top_probability_not_the_margin():
    # row 0 is a near tie of two labels (margin 0.02), row 1 spread over three (top 0.36):
    # least confidence asks row 1 first, a top-2 margin would ask row 0
    probs = np.array([[0.49, 0.47, 0.04], [0.36, 0.33, 0.31], [0.8, 0.1, 0.1]])
    assert strategies.next_batch(probs, np.zeros(3, dtype=int), range(3), 1) == [1]
    assert int(np.argmin(strategies.margins(probs))) == 0
    assert np.allclose(strategies.confidence(probs), [0.49, 0.36, 0.8])
    # multi-label: each label is its own yes/no question; the label nearest 0.5 decides
    multi = np.array([[0.2, 0.9], [0.45, 0.99], [0.05, 0.97]])
    assert np.allclose(strategies.margins(np.array([[0.2, 0.9]]), multi_label=True), [0.6])
    assert np.allclose(strategies.confidence(multi, multi_label=True), [0.6, 0.1, 0.9])
    assert strategies.next_batch(multi, np.array([0, 1, 2]), range(3), 2, multi_label=True) == [1, 0]


def test_more_like_and_keywords(vectors, rt_small):
    neighbours = strategies.more_like(vectors, 0, range(len(vectors)), 5)
    assert 0 not in neighbours and len(neighbours) == 5
    sims = vectors[neighbours] @ vectors[0]
    assert np.all(np.diff(sims) <= 1e-6) and sims[0] >= np.sort(vectors @ vectors[0])[-2] - 1e-6
    rows = strategies.keyword_rows(rt_small.texts, ["boring", "hilarious"], 10)
    assert rows and all("boring" in rt_small.texts[i].lower() or "hilarious" in rt_small.texts[i].lower() for i in rows)


# -- learner ----------------------------------------------------------------------------------------
def test_cross_validated_f1_and_power_law(vectors, rt_small):
    names = sorted(set(rt_small.labels))
    targets = np.array([names.index(x) for x in rt_small.labels])
    rows = list(range(0, 600, 3))
    score = learner.cross_validated_f1(vectors, rows, targets[rows], 3)
    assert 0.45 < score.f1 < 0.95 and score.low <= score.f1 <= score.high and score.labels == 200
    probs = learner.fit_predict(vectors, rows, targets[rows], 3)
    assert probs.shape == (600, 3) and np.allclose(probs.sum(axis=1), 1)
    assert learner.cross_validated_f1(vectors, [0, 1], np.array([0, 1]), 3) is None  # one row per class
    curve = [(n, 1 - 0.5 * n ** -0.5) for n in (20, 40, 80, 160)]
    gain = learner.power_law_gain(curve)
    assert gain == pytest.approx((1 - 0.5 * 260 ** -0.5) - (1 - 0.5 * 160 ** -0.5), rel=1e-6)
    assert learner.power_law_gain(curve[:2]) is None


# -- session --------------------------------------------------------------------------------------
SPREAD = list(range(0, 600, 5))  # the sample is sorted by class: every 5th row mixes them


def _pool(rt_small):
    return Pool([f"row-{i}" for i in range(len(SPREAD))], [rt_small.texts[i] for i in SPREAD], ("fresh", "plot", "rotten"))


def test_session_answers_queue_two_tabs_and_resume(tmp_path, rt_small, vectors):
    pool = _pool(rt_small)
    settings = SessionSettings(clusters=8, refit_every=1000)
    session = LabelSession(pool, Journal(tmp_path / "j.sqlite", pool.identity()), vectors[SPREAD], settings)
    gold = [rt_small.labels[i] for i in SPREAD]
    first, second = session.next_row("A"), session.next_row("B")
    assert first != second and session.next_row("A") == first  # a shown item is leased to its tab
    for seq in range(1, 13):
        row = session.next_row("A")
        session.answer("A", seq, pool.ids[row], "label", [gold[row]])
    session.answer("A", 12, "row-0", "label", ["plot"])  # a resent request: no new answer
    session.answer("B", 1, pool.ids[second], "skip")
    assert len(session.standing()) == 13
    with pytest.raises(DataError, match="unknown label"):
        session.answer("A", 99, "row-1", "label", ["great"])
    session.refit()
    assert session.model.probabilities is not None and session.suggestion(5)[0][0] in pool.labels
    undone = session.undo("A", 13)
    assert undone is not None and session.next_row("A") == pool.index[undone.item]
    output = LabelledOutput.of(tmp_path / "out.csv")
    assert write_labelled(session, output) == 11
    resumed = LabelSession(pool, Journal(tmp_path / "j.sqlite", pool.identity()), vectors[SPREAD], settings)
    assert resumed.standing() == session.standing()
    frame = pd.read_csv(output.path)
    assert list(frame.columns) == ["id", "text", "label", "annotator", "labelled_at"] and frame["id"].is_unique
    tasks = label_studio_tasks(session)
    assert len(tasks) == 11 and tasks[0]["annotations"][0]["result"][0]["value"]["choices"] == [frame["label"][0]]


def test_labelled_output_is_read_by_training(tmp_path, rt_small, vectors):
    from textclf.data.io import Columns, read_examples

    pool = Pool([f"row-{i}" for i in range(40)], rt_small.texts[:40], ("fresh", "plot", "rotten"), multi_label=True)
    session = LabelSession(pool, Journal(tmp_path / "j.sqlite", pool.identity()), vectors[:40], SessionSettings(clusters=4))
    session.answer("A", 1, "row-3", "label", ["rotten", "fresh"])
    write_labelled(session, LabelledOutput.of(tmp_path / "out.jsonl"))
    examples = read_examples(tmp_path / "out.jsonl", Columns(multi_label=True))
    assert examples.labels == [("fresh", "rotten")] and json.loads((tmp_path / "out.jsonl").read_text())["id"] == "row-3"
    with pytest.raises(ConfigError):
        LabelledOutput.of(tmp_path / "out.parquet")
    with pytest.raises(ConfigError):
        parse_label_names("only-one")


# -- review -----------------------------------------------------------------------------------------
def test_review_queue_interleaves_and_decisions_write_corrected_data(tmp_path, rt_small):
    from textclf.audit.label_noise import label_noise_suspects

    examples = rt_small.subset(range(0, 600, 4))
    suspects = label_noise_suspects({"data": examples}, top=10).suspects
    mistakes = [{"row": examples.rows[7], "predicted": "plot", "confidence": 0.97},
                {"row": suspects[0].ref.row, "predicted": "fresh", "confidence": 0.9}]
    queue = review_queue(examples, suspects, mistakes, limit=6)
    assert [e.index for e in queue[:2]] == [suspects[0].ref.index, 7]
    assert "confident mistake" in queue[0].reason and "label-noise suspect #1" in queue[0].reason
    pool = review_pool(examples, queue, ("fresh", "plot", "rotten"))
    session = LabelSession(pool, Journal(tmp_path / "r.sqlite", pool.identity()), None,
                           SessionSettings(mode="review"), order=[e.index for e in queue])
    rows = [session.next_row("A") for _ in range(1)]
    assert rows == [queue[0].index]
    ids = [pool.ids[e.index] for e in queue]
    session.answer("A", 1, ids[0], "relabel", ["plot"], reason="a plot summary")
    session.answer("A", 2, ids[1], "drop")
    session.answer("A", 3, ids[2], "keep")
    output = ReviewOutput.of(tmp_path / "fixed.csv")
    kept, changed = write_review(pool, session.standing(), output)
    assert (kept, changed) == (len(examples) - 1, 3)
    fixed = pd.read_csv(output.path)
    assert ids[1] not in set(fixed["id"]) and fixed.set_index("id").loc[ids[0], "label"] == "plot"
    log = pd.read_csv(output.changes)
    assert list(log["decision"]) == ["relabel", "drop", "keep"]
    assert log["reason"][0] == "a plot summary" and "suspect" in log["reason"][1] or "mistake" in log["reason"][1]


def test_review_job_queues_suspects_and_mistakes_and_writes_atomically(tmp_path, rt_small):
    from textclf import TextClassifier
    from textclf.jobs.label import ReviewOptions, open_review_session

    examples = rt_small.subset(range(0, 600, 2))
    flipped = list(range(0, 300, 20))
    frame = pd.DataFrame({"text": examples.texts, "label": [
        ("plot" if x != "plot" else "fresh") if i in flipped else x for i, x in enumerate(examples.labels)]})
    frame.to_csv(tmp_path / "noisy.csv", index=False)
    model = TextClassifier(model={"type": "tfidf"}, calibration=None).fit(rt_small.subset(range(1, 600, 2)))
    model.save(tmp_path / "model")
    options = ReviewOptions(str(tmp_path / "model"), str(tmp_path / "fixed.csv"), data=str(tmp_path / "noisy.csv"),
                            limit=30)
    session, output = open_review_session(options)
    queued = [i for i, asked in enumerate(session.pool.asked) if asked]
    assert len(queued) == 30 and len(set(queued) & set(flipped)) >= 5  # the flips come to the top
    first = session.next_row("A")
    assert session.suggestion(first)[0] is not None and session.pool.reasons[first]
    session.answer("A", 1, session.pool.ids[first], "drop")
    session.flush()
    assert len(pd.read_csv(output.path)) == 299 and len(pd.read_csv(output.changes)) == 1
    with pytest.raises(DataError, match="exists"):  # someone else's file is never replaced
        open_review_session(ReviewOptions(options.model, str(tmp_path / "noisy.csv"), data=options.data))


def test_api_key_required_off_loopback_and_answers_idempotent_over_http(tmp_path, rt_small, vectors, monkeypatch):
    from fastapi.testclient import TestClient

    from textclf.labelling.app import JSON_PATHS, OPEN_PATHS, build_app
    from textclf.labelling.server import resolve_api_key
    from textclf.serving.guards import RequestGuard

    monkeypatch.delenv("TEXTCLF_API_KEY", raising=False)
    assert resolve_api_key("127.0.0.1", None) is None
    with pytest.raises(ConfigError, match="API key"):
        resolve_api_key("0.0.0.0", None)
    monkeypatch.setenv("TEXTCLF_API_KEY", "s3cret")
    assert resolve_api_key("0.0.0.0", None) == "s3cret"

    pool = _pool(rt_small)
    session = LabelSession(pool, Journal(tmp_path / "j.sqlite", pool.identity()), vectors[SPREAD],
                           SessionSettings(clusters=4))
    app = RequestGuard(build_app(session, lambda: []), max_bytes=1 << 20, api_key="s3cret",
                       open_paths=OPEN_PATHS, json_paths=JSON_PATHS)
    client = TestClient(app)
    page = client.get("/")
    assert page.status_code == 200 and "textclf label" in page.text
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page.text)  # self-contained: no CDN
    assert client.get("/api/state", params={"client": "t"}).status_code == 401
    auth = {"Authorization": "Bearer s3cret"}
    item = client.get("/api/state", params={"client": "t"}, headers=auth).json()["item"]["id"]
    body = {"client": "t", "seq": 1, "item": item, "kind": "label", "labels": ["plot"]}
    assert client.post("/api/answer", json=body, headers=auth).json()["recorded"] is True
    assert client.post("/api/answer", json=body, headers=auth).json()["recorded"] is False  # resent: once
    assert client.post("/api/answer", json={**body, "seq": 2, "labels": ["nope"]}, headers=auth).status_code == 422
    assert len(session.journal.events()) == 1


def test_cli_user_mistakes_are_one_line_exit_2(tmp_path, capsys):
    from textclf.cli import main

    data = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["good film", "bad film", "a plot"]}).to_csv(data, index=False)
    (tmp_path / "taken.csv").write_text("someone else's file\n")
    cases = [
        (["--labels", "only"], "at least two"),
        (["--labels", "a,b", "-o", str(tmp_path / "out.parquet")], ".csv or .jsonl"),
        (["--labels", "a,b", "-o", str(tmp_path / "taken.csv")], "--overwrite"),
        (["--labels", "a,b", "--host", "0.0.0.0", "--features", "tfidf"], "API key"),
        (["--seed-file", str(data)], "label"),
    ]
    for extra, message in cases:
        argv = ["label", str(data), *extra]
        if "-o" not in extra:
            argv += ["-o", str(tmp_path / "out.csv")]
        assert main(argv) == 2, extra
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "Traceback" not in err, err
    assert (tmp_path / "taken.csv").read_text() == "someone else's file\n"


def test_multi_label_session_fits_and_suggests(tmp_path, rt_small, vectors):
    texts = [rt_small.texts[i] for i in SPREAD]
    pool = Pool([f"row-{i}" for i in range(len(texts))], texts, ("fresh", "plot", "rotten", "short"), multi_label=True)
    session = LabelSession(pool, Journal(tmp_path / "m.sqlite", pool.identity()), vectors[SPREAD],
                           SessionSettings(clusters=4, refit_every=1000))
    gold = [rt_small.labels[i] for i in SPREAD]
    answered = range(0, 120, 3)  # the three classes mixed
    for seq, row in enumerate(answered, start=1):
        labels = [gold[row]] + (["short"] if len(texts[row]) < 80 else [])
        session.answer("A", seq, pool.ids[row], "label", labels)
    session.refit()
    assert session.model.probabilities.shape == (len(texts), 4)
    suggested, confidence = session.suggestion(50)
    assert session.model.probabilities[:, :3].max() > 0.5
    assert set(suggested) <= set(pool.labels) and 0 <= confidence <= 1
    assert session.model.score is not None and 0 < session.model.score.f1 <= 1
    assert session.counts()["short"] == sum(len(texts[r]) < 80 for r in answered) > 0
