"""The Python entrance's edges: inputs that used to be read a wrong way (an indicator matrix as
labels, a set paired in hash order, a dict's keys as labels), results that must line up with the
caller's frame (predict_frame keeps the index), no rows, awkward column names, and writes that must
never remove what textclf did not write (save, textclf.train's output_dir)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import textclf
from textclf import ConfigError, DataError, TextClassifier

TRAIN = ["model.type=tfidf", "audit=false"]


@pytest.fixture(scope="module")
def frame(rt_small) -> pd.DataFrame:
    return pd.DataFrame({"text": rt_small.texts, "label": rt_small.labels})


@pytest.fixture(scope="module")
def fitted(frame) -> TextClassifier:
    return TextClassifier(model={"type": "tfidf"}).fit(frame["text"].tolist()[:400], frame["label"].tolist()[:400])


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message and len(message) <= 300, message
    return message


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# -- A1: y must be one label (or one label list) per text ------------------------------------------
def _multi_label(frame: pd.DataFrame) -> list[list[str]]:
    return [[label] + (["long"] if len(text) > 120 else []) for text, label in zip(frame["text"], frame["label"])]


@pytest.mark.parametrize("form", ["array", "tolist", "rows", "sparse", "frame"])
def test_an_indicator_matrix_y_is_refused_and_names_the_way_to_pass_it(frame, form):
    from scipy import sparse
    from sklearn.preprocessing import MultiLabelBinarizer

    indicator = MultiLabelBinarizer().fit_transform(_multi_label(frame))
    y = {"array": indicator, "tolist": indicator.tolist(), "rows": list(indicator),
         "sparse": sparse.csr_matrix(indicator), "frame": pd.DataFrame(indicator)}[form]
    with pytest.raises(DataError, match="inverse_transform") as err:
        TextClassifier(task="multi_label").fit(frame["text"].tolist(), y)
    assert _one_line(err).startswith("y: ")


def test_the_label_lists_of_that_matrix_train_the_real_classes(frame):
    from sklearn.preprocessing import MultiLabelBinarizer

    binarizer = MultiLabelBinarizer()
    indicator = binarizer.fit_transform(_multi_label(frame))
    clf = TextClassifier(task="multi_label").fit(frame["text"].tolist(), binarizer.inverse_transform(indicator))
    assert clf.classes_.tolist() == ["fresh", "long", "plot", "rotten"]


def test_a_single_label_column_vector_y_is_refused(frame):
    with pytest.raises(DataError, match=r"shape \(600, 1\)") as err:
        TextClassifier().fit(frame["text"].tolist(), np.asarray(frame["label"], dtype=object).reshape(-1, 1))
    _one_line(err)


# -- A4 / A5: nothing without a row order ----------------------------------------------------------
@pytest.mark.parametrize("which, make, expected", [
    ("X", set, "X: a set has no order"),
    ("X", frozenset, "X: a frozenset has no order"),
    ("y", set, "y: a set has no order"),
    ("y", lambda labels: dict(enumerate(labels)), r"y: a dict \(600 keys\)"),
])
def test_unordered_x_or_y_is_refused(frame, which, make, expected):
    texts, labels = frame["text"].tolist(), frame["label"].tolist()
    X, y = (make(texts), labels) if which == "X" else (texts, make(labels))
    with pytest.raises(DataError, match=expected) as err:
        TextClassifier().fit(X, y)
    _one_line(err)


def test_predict_refuses_a_set_and_ordered_iterables_pair_as_lists(fitted, frame):
    with pytest.raises(DataError, match="X: a set has no order"):
        fitted.predict({"a gripping film"})
    texts, labels = frame["text"].tolist()[:300], frame["label"].tolist()[:300]
    pairs = dict(zip(texts, labels))
    as_lists = TextClassifier().fit(list(pairs), list(pairs.values()))
    from_views = TextClassifier().fit(pairs.keys(), pairs.values())  # a dict's views share its order
    from_generator = TextClassifier().fit((t for t in pairs), list(pairs.values()))
    held = frame["text"].tolist()[400:]
    np.testing.assert_array_equal(from_views.predict_proba(held), as_lists.predict_proba(held))
    np.testing.assert_array_equal(from_generator.predict_proba(held), as_lists.predict_proba(held))


def test_labels_whose_index_differs_from_the_texts_are_refused(fitted, frame):
    texts, labels = frame["text"].iloc[400:], frame["label"].iloc[400:]
    assert fitted.score(texts, labels) == fitted.score(texts.tolist(), labels.tolist())  # same index: fine
    with pytest.raises(DataError, match="index differs") as err:
        fitted.score(texts, labels.reset_index(drop=True))
    _one_line(err)


# -- A7: predict_frame lines up with the caller's frame --------------------------------------------
def test_predict_frame_keeps_the_index_of_a_frame_and_of_a_series(fitted, frame):
    shuffled = frame.iloc[400:].sample(frac=1, random_state=0)
    table = fitted.predict_frame(shuffled)
    assert table.index.equals(shuffled.index)
    shuffled = shuffled.assign(predicted=table["label"])  # the pandas idiom: aligned by index label
    assert shuffled["predicted"].tolist() == fitted.predict(shuffled["text"].tolist())
    assert fitted.predict_frame(shuffled["text"]).index.equals(shuffled.index)
    assert fitted.predict_frame(shuffled["text"].tolist()).index.equals(pd.RangeIndex(len(shuffled)))
    assert fitted.predict(shuffled["text"]) == shuffled["predicted"].tolist()  # a list, in row order


# -- B2: no rows ----------------------------------------------------------------------------------
def test_no_texts_predict_nothing_of_the_right_shape(fitted):
    assert fitted.predict([]) == []
    probabilities = fitted.predict_proba([])
    assert isinstance(probabilities, np.ndarray) and probabilities.shape == (0, 3)
    table = fitted.predict_frame([])
    assert len(table) == 0 and table.columns.tolist() == fitted.predict_frame(["a film"]).columns.tolist()
    assert fitted.predict(pd.DataFrame({"text": []}, dtype=object)) == []


@pytest.mark.parametrize("method", ["evaluate", "score"])
def test_scoring_no_rows_is_refused(fitted, method):
    with pytest.raises(DataError, match="no rows to score") as err:
        getattr(fitted, method)([], [])
    _one_line(err)


# -- B3: column names -----------------------------------------------------------------------------
def test_duplicate_and_multiindex_columns_are_refused(fitted, frame):
    doubled = pd.concat([frame[["text"]], frame[["text"]].iloc[::-1].reset_index(drop=True)], axis=1)
    for kwargs in ({}, {"text_column": "text"}):
        with pytest.raises(DataError, match="more than one column named 'text'") as err:
            fitted.predict(doubled, **kwargs)
        _one_line(err)
    nested = pd.DataFrame({("review", "text"): frame["text"].tolist()[:3]})
    with pytest.raises(DataError, match="MultiIndex columns") as err:
        fitted.predict(nested)
    _one_line(err)


def test_integer_column_names_work(fitted, frame):
    numbered = pd.DataFrame({0: frame["text"], 1: frame["label"]})
    assert fitted.predict(numbered.iloc[400:], text_column=0) == fitted.predict(frame["text"].tolist()[400:])
    clf = TextClassifier().fit(numbered.iloc[:400], text_column=0, label_column=1)
    assert clf.classes_.tolist() == ["fresh", "plot", "rotten"]
    assert clf.score(numbered.iloc[400:], text_column=0, label_column=1) == \
        fitted.score(frame["text"].tolist()[400:], frame["label"].tolist()[400:])


def test_a_misspelt_column_keyword_is_refused(fitted, frame):
    with pytest.raises(DataError, match="txt_column=") as err:
        fitted.predict(frame, txt_column="text")
    _one_line(err)


# -- D: fit reads the `text` / `label` columns that predict and evaluate read ------------------------
def test_fit_defaults_to_the_text_and_label_columns_only_where_they_exist(frame):
    datasets = pytest.importorskip("datasets")
    train = frame.iloc[:400]
    explicit = TextClassifier().fit(train, text_column="text", label_column="label")
    held = frame["text"].tolist()[400:]
    for form in (train, datasets.Dataset.from_pandas(train, preserve_index=False)):
        np.testing.assert_array_equal(TextClassifier().fit(form).predict_proba(held), explicit.predict_proba(held))
    renamed = train.rename(columns={"text": "review"})
    with pytest.raises(DataError, match=r"columns \['review', 'label'\]; pass text_column=") as err:
        TextClassifier().fit(renamed)
    _one_line(err)
    assert explicit.evaluate(frame.iloc[400:])["accuracy"] == explicit.score(held, frame["label"].tolist()[400:])


# -- C1: save never removes what it did not write ---------------------------------------------------
def test_save_refuses_a_folder_that_is_not_a_model_even_with_overwrite(fitted, tmp_path):
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    (folder / "data.csv").write_text("text,label\nmine,a\n")
    (folder / "sub" / "notes.txt").write_text("keep me")
    before = _files(folder)
    for overwrite in (False, True):
        with pytest.raises(DataError, match="not a textclf model directory") as err:
            fitted.save(folder, overwrite=overwrite)
        _one_line(err)
        assert _files(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no staging directory left behind


def test_save_writes_new_or_empty_and_replaces_a_model_only_with_overwrite(fitted, frame, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    fitted.save(empty)
    assert (empty / "manifest.json").is_file()
    model = fitted.save(tmp_path / "model")
    saved = _files(model)
    other = TextClassifier(model={"type": "tfidf", "C": 0.1}).fit(frame["text"].tolist()[:300],
                                                                  frame["label"].tolist()[:300])
    with pytest.raises(DataError, match="holds a saved model; pass overwrite=True") as err:
        other.save(model)
    _one_line(err)
    assert _files(model) == saved
    other.save(model, overwrite=True)
    held = frame["text"].tolist()[400:]
    np.testing.assert_allclose(textclf.load(model).predict_proba(held), other.predict_proba(held), atol=1e-6)


# -- C2 / B5: textclf.train writes only where told, and replaces a run only with overwrite ------------
def test_train_refuses_an_existing_run_without_overwrite(frame, tmp_path):
    run = tmp_path / "run"
    kwargs = dict(overrides=TRAIN, output_dir=run, log=io.StringIO())
    textclf.train(frame, **kwargs)
    (run / "notes.txt").write_text("mine")
    before = _files(run)
    with pytest.raises(DataError, match="exists; pass overwrite=True") as err:
        textclf.train(frame, **kwargs)
    _one_line(err)
    assert _files(run) == before
    result = textclf.train(frame, overwrite=True, **{**kwargs, "overrides": TRAIN + ["seed=1"]})
    assert json.loads((run / "model" / "config.json").read_text())["seed"] == 1
    assert result.model_dir == run / "model" and (run / "notes.txt").read_text() == "mine"


def test_train_with_overwrite_never_replaces_a_model_folder_that_is_not_a_model(frame, tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "mine.txt").write_text("mine")
    with pytest.raises(DataError, match="not a textclf model directory") as err:
        textclf.train(frame, overrides=TRAIN, output_dir=tmp_path, overwrite=True, log=io.StringIO())
    _one_line(err)
    assert _files(tmp_path) == {"model/mine.txt": b"mine"}


def test_a_config_without_output_dir_writes_nothing(frame, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame.iloc[:400].to_csv("train.csv", index=False)
    config = {"data": {"train": "train.csv"}, "model": {"type": "tfidf"}, "audit": False}
    result = textclf.train(config, log=io.StringIO())
    assert result.model_dir is None and sorted(p.name for p in tmp_path.iterdir()) == ["train.csv"]
    assert textclf.train(frame, overrides=TRAIN, log=io.StringIO()).model_dir is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.csv"]
    named = textclf.train({**config, "output_dir": "named"}, log=io.StringIO())
    assert named.model_dir == Path("named") / "model" and (tmp_path / "named" / "model" / "manifest.json").is_file()


@pytest.mark.parametrize("bad, expected", [
    ({"overrides": "model.type=tfidf"}, "overrides: pass a list of key=value strings"),
    ({"overwrite": "false"}, "overwrite: pass True or False"),
])
def test_train_argument_mistakes_are_refused_in_one_line(frame, tmp_path, bad, expected):
    with pytest.raises(ConfigError, match=expected) as err:
        textclf.train(frame, output_dir=tmp_path / "run", log=io.StringIO(), **bad)
    _one_line(err)
    assert list(tmp_path.iterdir()) == []
