"""Streaming predict at library speed: whole-column validation with the per-row rules and
messages, TF-IDF called once per chunk, and streamed rows identical to in-memory predictions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from textclf import TextClassifier
from textclf.data.io import Columns, _unlabelled_chunk, _validate_frame, stream_texts
from textclf.errors import DataError
from textclf.serving.predict import PredictOptions, predict_chunks, predict_file


@pytest.fixture(scope="module")
def tfidf(rt_small):
    return TextClassifier(model={"type": "tfidf"}).fit(rt_small.subset(range(0, 600, 2)))


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["a", " b ", 3.0, "d", None, "f", 7, "h"],
        "text": ["fine", "   ", "also fine", float("nan"), "no id", 42, None, "\tlast\n"],
    })


def test_whole_column_validation_matches_the_per_row_rules():
    frame, columns = _frame(), Columns(text="text", label=None, id="id")
    old, old_skipped = _validate_frame(Path("f.csv"), 10, frame, columns, "skip", labelled=False)
    new = _unlabelled_chunk(Path("f.csv"), 10, frame, columns, "skip")
    # 42 is a number, not a text: skipped like an empty one, never classified as "42"
    assert new.texts == old["texts"] == ["fine", "also fine", "\tlast\n"]
    assert new.ids == old["ids"] == ["a", "3", "h"]
    assert new.rows == old["rows"] == [10, 12, 17]
    assert new.skipped == old_skipped == 5


@pytest.mark.parametrize("id_column, row, column", [("id", 11, "text"), (None, 11, "text")])
def test_first_bad_row_is_reported_like_before(id_column, row, column):
    frame, columns = _frame(), Columns(text="text", label=None, id=id_column)
    with pytest.raises(DataError) as old:
        _validate_frame(Path("f.csv"), 10, frame, columns, "error", labelled=False)
    with pytest.raises(DataError) as new:
        _unlabelled_chunk(Path("f.csv"), 10, frame, columns, "error")
    assert str(new.value) == str(old.value)
    assert f"row {row}" in str(new.value) and column in str(new.value)


def test_a_missing_id_alone_names_the_id_column():
    frame = pd.DataFrame({"id": ["x", ""], "text": ["one", "two"]})
    columns = Columns(text="text", label=None, id="id")
    with pytest.raises(DataError) as old:
        _validate_frame(Path("f.csv"), 1, frame, columns, "error", labelled=False)
    with pytest.raises(DataError) as new:
        _unlabelled_chunk(Path("f.csv"), 1, frame, columns, "error")
    assert str(new.value) == str(old.value) and "id" in str(new.value) and "empty or missing value" in str(new.value)


def test_tfidf_prefers_whole_chunks(tfidf, rt_small):
    assert tfidf.model_.preferred_batch_size() >= 1 << 16
    calls: list[int] = []

    def counting(texts):
        calls.append(len(texts))
        return tfidf.logits(texts)

    chunks = list(stream_like(rt_small.texts[:250], chunk=100))
    rows = [r for part in predict_chunks(tfidf, chunks, counting, batch_size=8) for r in part]
    assert calls == [100, 100, 50] and len(rows) == 250


def stream_like(texts, chunk):
    from textclf.data import Examples

    for start in range(0, len(texts), chunk):
        part = texts[start:start + chunk]
        yield Examples(texts=part, rows=list(range(start + 1, start + 1 + len(part))))


@pytest.mark.parametrize("suffix, chunk_size", [(".csv", 37), (".jsonl", 500), (".parquet", 64)])
def test_streamed_rows_equal_in_memory_predictions(tfidf, rotten_tomatoes, tmp_path, suffix, chunk_size):
    data = rotten_tomatoes.subset(range(0, 2000, 9))
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(len(data))], "text": data.texts})
    path = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path, index=False)
    out = tmp_path / "out.jsonl"
    predict_file(tfidf, path, out, PredictOptions(id_column="id", chunk_size=chunk_size, progress=False))
    streamed = [json.loads(line) for line in out.read_text().splitlines()]
    probs = tfidf.predict_proba(data.texts)
    assert [r["id"] for r in streamed] == frame["id"].tolist()
    assert [r["row"] for r in streamed] == list(range(1, len(data) + 1))
    assert [r["label"] for r in streamed] == tfidf.predict(data.texts)
    names = tfidf.label_map.labels
    got = np.array([[r[f"prob_{n}"] for n in names] for r in streamed])
    np.testing.assert_allclose(got, probs, atol=1e-6)
    assert all(math.isfinite(v) for row in got for v in row)


def test_stream_chunks_keep_their_row_numbers(tmp_path):
    pd.DataFrame({"n": range(6), "text": ["a", "", "c", "d", " ", "f"]}).to_csv(tmp_path / "t.csv", index=False)
    chunks = list(stream_texts(tmp_path / "t.csv", chunk_size=4, bad_rows="skip"))
    assert [c.texts for c in chunks] == [["a", "c", "d"], ["f"]]
    assert [c.rows for c in chunks] == [[1, 3, 4], [6]] and [c.skipped for c in chunks] == [1, 1]


def _written(clf, chunk, logits) -> str:
    import io

    from textclf.serving.predict import RowWriter, prediction_rows

    handle = io.StringIO()
    RowWriter(handle, "jsonl").write(prediction_rows(clf, chunk, logits))
    return handle.getvalue()


def test_json_lines_fast_path_writes_the_same_bytes(tfidf, rt_small):
    from textclf.data import Examples
    from textclf.serving.predict import prediction_lines

    texts = rt_small.texts[:40]
    ids = [f'id "{i}" ü\\ {chr(0x1F3AC)}' for i in range(40)]
    for chunk in (Examples(texts=texts, ids=ids, rows=list(range(5, 45))), Examples(texts=texts)):
        logits = tfidf.logits(chunk.texts)
        assert "".join(prediction_lines(tfidf, chunk, logits)) == _written(tfidf, chunk, logits)


def test_json_lines_fast_path_with_multi_label_and_thresholds(rt_small):
    from textclf.data import Examples
    from textclf.serving.predict import prediction_lines

    labels = [("good", "film") if i % 3 == 0 else ("film",) if i % 3 == 1 else () for i in range(len(rt_small))]
    data = Examples(texts=rt_small.texts, labels=labels)
    clf = TextClassifier(model={"type": "tfidf"}, task="multi_label").fit(data.subset(range(0, 600, 2)))
    clf.tune_thresholds(data.subset(range(1, 600, 2)))
    chunk = data.subset(range(1, 80, 2))
    logits = clf.logits(chunk.texts)
    written = _written(clf, chunk, logits)
    assert '"threshold' in written and "".join(prediction_lines(clf, chunk, logits)) == written
