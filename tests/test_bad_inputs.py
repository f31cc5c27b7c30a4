"""A generated corpus of bad inputs: every one is a single stderr line of at most 300 characters
that names the file, row, column or config key, exit code 2, and no new or changed file.

Cases are (id, build) pairs: `build(root)` writes the files it needs under `root` (a fresh
directory) and returns (CLI arguments, fragments the error line must contain). Config cases point
`data.train` at a file that does not exist: a config problem must be reported before any data is
read, so an error about the missing file fails the case."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from textclf.cli import main

MAX_LINE = 300
Build = Callable[[Path], tuple[list[str], list[str]]]


# -- tiny data --------------------------------------------------------------------------------------
def rows(n: int = 24) -> list[dict]:
    good = ["a warm and funny film", "great acting and a lovely story", "a delight from start to end"]
    bad = ["a dull and boring mess", "awful plot and poor acting", "a tedious waste of time"]
    return [{"id": str(i), "text": f"{(good if i % 2 else bad)[i % 3]} {i}", "label": "pos" if i % 2 else "neg"}
            for i in range(n)]


def csv_text(records: list[dict], sep: str = ",") -> str:
    return pd.DataFrame(records).to_csv(index=False, sep=sep)


def jsonl_text(records: list) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def write(root: Path, name: str, data: str | bytes) -> Path:
    path = root / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return str(path)


TRAIN_FLAGS = ["audit=false", "calibration=null", "data.split.validation_size=0.25", "data.split.test_size=0.25"]


def train_on(path: str, root: Path, *extra: str) -> list[str]:
    return ["train", f"data.train={path}", f"output_dir={root / 'run'}", *TRAIN_FLAGS, *extra]


# -- the checks -------------------------------------------------------------------------------------
def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns)
            for root in roots if root.exists() for p in sorted(root.rglob("*"))}


def assert_one_line_error(argv: list[str], fragments: list[str], capsys, *watched: Path) -> str:
    capsys.readouterr()
    before = snapshot(*watched)
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}: {err[-600:]}"
    assert len(lines) == 1, err[-1200:]
    assert len(lines[0]) <= MAX_LINE, f"{len(lines[0])} characters: {lines[0][:400]}"
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert snapshot(*watched) == before, "files changed"
    return lines[0]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a stray relative output would show in the snapshot


# -- bad configs: every model type's ranges, unknown keys, wrong types -----------------------------
CONFIG_CASES: dict[str, tuple[list[str], str]] = {
    # tfidf
    "tfidf-C-zero": (["model.type=tfidf", "model.C=0"], "model.C"),
    "tfidf-C-negative": (["model.type=tfidf", "model.C=-1"], "model.C"),
    "tfidf-C-string": (["model.type=tfidf", "model.C=strong"], "model.C"),
    "tfidf-min_df-zero": (["model.type=tfidf", "model.min_df=0"], "model.min_df"),
    "tfidf-min_df-negative": (["model.type=tfidf", "model.min_df=-2"], "model.min_df"),
    "tfidf-min_df-fraction-above-one": (["model.type=tfidf", "model.min_df=1.5"], "model.min_df"),
    "tfidf-max_features-zero": (["model.type=tfidf", "model.max_features=0"], "model.max_features"),
    "tfidf-word_ngrams-reversed": (["model.type=tfidf", "model.word_ngrams=[2, 1]"], "model.word_ngrams"),
    "tfidf-word_ngrams-zero": (["model.type=tfidf", "model.word_ngrams=[0, 2]"], "model.word_ngrams"),
    "tfidf-word_ngrams-three": (["model.type=tfidf", "model.word_ngrams=[1, 2, 3]"], "model.word_ngrams"),
    "tfidf-char_ngrams-reversed": (["model.type=tfidf", "model.char_ngrams=[5, 2]"], "model.char_ngrams"),
    "tfidf-no-ngrams": (["model.type=tfidf", "model.word_ngrams=null"], "model"),
    "tfidf-max_iter-zero": (["model.type=tfidf", "model.max_iter=0"], "model.max_iter"),
    "tfidf-solver-unknown": (["model.type=tfidf", "model.solver=newton"], "model.solver"),
    "tfidf-lowercase-not-bool": (["model.type=tfidf", "model.lowercase=maybe"], "model.lowercase"),
    "tfidf-unknown-key": (["model.type=tfidf", "model.max_df=0.5"], "model.max_df"),
    # bag
    "bag-embedding_dim-zero": (["model.type=bag", "model.embedding_dim=0"], "model.embedding_dim"),
    "bag-dropout-one": (["model.type=bag", "model.dropout=1.0"], "model.dropout"),
    "bag-dropout-negative": (["model.type=bag", "model.dropout=-0.1"], "model.dropout"),
    "bag-word_ngrams-zero": (["model.type=bag", "model.word_ngrams=0"], "model.word_ngrams"),
    "bag-buckets-zero": (["model.type=bag", "model.buckets=0"], "model.buckets"),
    "bag-sgd-lr-zero": (["model.type=bag", "model.sgd_embedding_lr=0"], "model.sgd_embedding_lr"),
    "bag-max_length-zero": (["model.type=bag", "model.max_length=0"], "model.max_length"),
    "bag-vocab_size-zero": (["model.type=bag", "model.tokenizer.vocab_size=0"], "model.tokenizer.vocab_size"),
    "bag-min_frequency-zero": (["model.type=bag", "model.tokenizer.min_frequency=0"], "model.tokenizer.min_frequency"),
    "bag-tokenizer-algorithm": (["model.type=bag", "model.tokenizer.algorithm=sentencepiece"],
                                "model.tokenizer.algorithm"),
    "bag-pooling-unknown": (["model.type=bag", "model.pooling=median"], "model.pooling"),
    # cnn / rnn / transformer
    "cnn-kernel-zero": (["model.type=cnn", "model.kernel_sizes=[0, 3]"], "model.kernel_sizes"),
    "cnn-kernels-empty": (["model.type=cnn", "model.kernel_sizes=[]"], "model.kernel_sizes"),
    "cnn-num_filters-zero": (["model.type=cnn", "model.num_filters=0"], "model.num_filters"),
    "rnn-hidden-zero": (["model.type=rnn", "model.hidden_size=0"], "model.hidden_size"),
    "rnn-layers-zero": (["model.type=rnn", "model.num_layers=0"], "model.num_layers"),
    "rnn-cell-unknown": (["model.type=rnn", "model.cell=elman"], "model.cell"),
    "transformer-heads-zero": (["model.type=transformer", "model.num_heads=0"], "model.num_heads"),
    "transformer-heads-divide": (["model.type=transformer", "model.num_heads=3"], "num_heads"),
    "transformer-ff-zero": (["model.type=transformer", "model.ff_dim=0"], "model.ff_dim"),
    "transformer-positions": (["model.type=transformer", "model.positions=rotary"], "model.positions"),
    # long text
    "long-max_windows-zero": (["model.type=cnn", "model.long_text.max_windows=0"], "model.long_text.max_windows"),
    "long-strategy-unknown": (["model.type=cnn", "model.long_text.strategy=middle"], "model.long_text.strategy"),
    "long-stride-over-window": (["model.type=cnn", "model.long_text.window=10", "model.long_text.stride=20"],
                                "model.long_text"),
    # pretrained / embedding
    "pretrained-freeze-negative": (["model.type=pretrained", "model.freeze_layers=-1"], "model.freeze_layers"),
    "pretrained-max_length-small": (["model.type=pretrained", "model.max_length=4"], "model.max_length"),
    "pretrained-dropout-big": (["model.type=pretrained", "model.dropout=1.5"], "model.dropout"),
    "embedding-C-zero": (["model.type=embedding", "model.C=0"], "model.C"),
    "embedding-batch-zero": (["model.type=embedding", "model.batch_size=0"], "model.batch_size"),
    "embedding-max_iter-zero": (["model.type=embedding", "model.max_iter=0"], "model.max_iter"),
    "embedding-pairs-negative": (["model.type=embedding", "model.contrastive_pairs=-1"], "model.contrastive_pairs"),
    "embedding-lr-zero": (["model.type=embedding", "model.contrastive_learning_rate=0"],
                          "model.contrastive_learning_rate"),
    # auto / ensemble
    "auto-budget-zero": (["model.type=auto", "model.time_budget=0"], "model.time_budget"),
    "auto-budget-text": (["model.type=auto", "model.time_budget=soon"], "model.time_budget"),
    "auto-cv-one": (["model.type=auto", "model.cv_folds=1"], "model.cv_folds"),
    "auto-trials-zero": (["model.type=auto", "model.max_trials=0"], "model.max_trials"),
    "auto-family-unknown": (["model.type=auto", "model.candidates=[svm]"], "model.candidates"),
    "auto-fixed-candidate-bad": (["model.type=auto", "model.candidates=[{type: tfidf, C: 0}]"], "model.candidates"),
    "ensemble-no-members": (["model.type=ensemble", "model.members=[]"], "model.members"),
    "ensemble-member-range": (["model.type=ensemble", "model.members=[{type: tfidf, C: 0}]"], "model.members"),
    "ensemble-member-type": (["model.type=ensemble", "model.members=[{C: 1}]"], "model.members"),
    "ensemble-member-unknown-type": (["model.type=ensemble", "model.members=[{type: svm}]"], "model.members"),
    "ensemble-weights-count": (["model.type=ensemble", "model.members=[{type: tfidf}, {type: tfidf}]",
                                "model.weights=[1]"], "model"),
    # other sections
    "model-type-unknown": (["model.type=svm"], "svm"),
    "training-epochs-zero": (["training.epochs=0"], "training.epochs"),
    "training-epochs-text": (["training.epochs=two"], "training.epochs"),
    "training-lr-zero": (["training.learning_rate=0"], "training.learning_rate"),
    "training-batch-zero": (["training.batch_size=0"], "training.batch_size"),
    "training-warmup-one": (["training.warmup_ratio=1"], "training.warmup_ratio"),
    "training-smoothing-one": (["training.label_smoothing=1"], "training.label_smoothing"),
    "training-typo": (["training.epoch=3"], "training.epoch"),
    "split-test-size": (["data.split.test_size=1.5"], "data.split.test_size"),
    "split-sizes-sum": (["data.split.validation_size=0.5", "data.split.test_size=0.5"], "data.split"),
    "split-method": (["data.split.method=kfold"], "data.split.method"),
    "bad-rows-value": (["data.bad_rows=ignore"], "data.bad_rows"),
    "thresholds-tune": (["thresholds.tune=always"], "thresholds.tune"),
    "thresholds-beta-zero": (["thresholds.beta=0"], "thresholds.beta"),
    "audit-threshold-zero": (["audit.near_threshold=0"], "audit.near_threshold"),
    "task-unknown": (["task=regression"], "task"),
    "seed-text": (["seed=abc"], "seed"),
    "top-level-unknown": (["epochs=3"], "epochs"),
    "override-not-key-value": (["training.epochs"], "training.epochs"),
}


@pytest.mark.parametrize("overrides,key", CONFIG_CASES.values(), ids=CONFIG_CASES.keys())
def test_a_bad_config_is_refused_before_data_is_read(overrides, key, tmp_path, capsys):
    argv = train_on(str(tmp_path / "never-read.csv"), tmp_path, *overrides)
    line = assert_one_line_error(argv, [key], capsys, tmp_path)
    assert "never-read" not in line  # the config is checked before the data


def _config_file(text: str | bytes) -> Build:
    def build(root: Path):
        path = write(root, "config.yaml", text)
        return ["train", path, f"output_dir={root / 'run'}"], ["config.yaml"]
    return build


def _missing_config(root: Path):
    return ["train", str(root / "nope.yaml")], ["nope.yaml", "not found"]


def _config_directory(root: Path):
    (root / "conf.yaml").mkdir()
    return ["train", str(root / "conf.yaml")], ["conf.yaml"]


def _no_data_source(root: Path):
    return ["train", "model.type=tfidf", f"output_dir={root / 'run'}"], ["data"]


YAML_CASES: dict[str, Build] = {
    "yaml-unclosed-list": _config_file("data:\n  train: x.csv\nmodel: [tfidf\n"),
    "yaml-bad-indent": _config_file("data:\n  train: x.csv\n   test: y.csv\n"),
    "yaml-tab": _config_file("data:\n\ttrain: x.csv\n"),
    "yaml-top-level-list": _config_file("- data\n- model\n"),
    "yaml-not-utf8": _config_file(b"data:\n  train: caf\xe9.csv\n"),
    "yaml-model-not-mapping": _config_file("data:\n  train: x.csv\nmodel: tfidf\n"),
    "yaml-unknown-section": _config_file("data:\n  train: x.csv\ntrainer:\n  epochs: 3\n"),
    "yaml-missing": _missing_config,
    "yaml-directory": _config_directory,
    "no-data-source": _no_data_source,
}


@pytest.mark.parametrize("build", YAML_CASES.values(), ids=YAML_CASES.keys())
def test_a_bad_config_file_is_one_line(build, tmp_path, capsys):
    argv, fragments = build(tmp_path)
    assert_one_line_error(argv, fragments, capsys, tmp_path)


# -- bad data files: each format, compression, encodings, shapes -------------------------------------
def _train_file(name: str, data: str | bytes | Callable[[], str | bytes], *fragments: str, extra=()) -> Build:
    def build(root: Path):
        path = write(root, name, data() if callable(data) else data)
        return train_on(path, root, *extra), [name, *fragments]
    return build


def _parquet(records: list[dict]) -> bytes:
    import io

    buffer = io.BytesIO()
    pd.DataFrame(records).to_parquet(buffer, index=False)
    return buffer.getvalue()


def _without(key: str, n: int = 24) -> list[dict]:
    return [{k: v for k, v in r.items() if k != key} for r in rows(n)]


def _with(row: int, **values) -> list[dict]:
    records = rows()
    records[row - 1] = {**records[row - 1], **values}
    return records


def _truncated(compress: Callable[[bytes], bytes], text: str) -> bytes:
    whole = compress(text.encode())
    return whole[: len(whole) // 2]


GOOD_CSV, GOOD_JSONL = csv_text(rows()), jsonl_text(rows())
DATA_CASES: dict[str, Build] = {}
for fmt, dump in (("csv", csv_text), ("tsv", lambda r: csv_text(r, "\t")), ("jsonl", jsonl_text),
                  ("parquet", _parquet)):
    DATA_CASES |= {
        f"{fmt}-no-text-column": _train_file(f"d.{fmt}", lambda d=dump: d(_without("text")), '"text" not found'),
        f"{fmt}-no-label-column": _train_file(f"d.{fmt}", lambda d=dump: d(_without("label")), '"label" not found'),
        f"{fmt}-empty-text": _train_file(f"d.{fmt}", lambda d=dump: d(_with(5, text="  ")), "row 5", '"text"'),
        f"{fmt}-empty-label": _train_file(f"d.{fmt}", lambda d=dump: d(_with(7, label="")), "row 7", '"label"'),
        f"{fmt}-duplicate-ids": _train_file(f"d.{fmt}", lambda d=dump: d(_with(9, id="3")), "row 9", "duplicate id",
                                            extra=["data.id_column=id"]),
    }
for kind, compress in (("gz", gzip.compress), ("bz2", bz2.compress), ("xz", lzma.compress)):
    for fmt, good in (("csv", GOOD_CSV), ("jsonl", GOOD_JSONL)):
        DATA_CASES |= {
            f"{fmt}.{kind}-truncated": _train_file(f"d.{fmt}.{kind}", lambda c=compress, g=good: _truncated(c, g),
                                                   "truncated or corrupt"),
            f"{fmt}.{kind}-fake": _train_file(f"d.{fmt}.{kind}", good, "truncated or corrupt"),
        }
for name, value in (("object", {"a": 1}), ("number", 3.5), ("bool", True), ("list", ["a", "b"])):
    DATA_CASES[f"jsonl-text-{name}"] = _train_file("d.jsonl", jsonl_text(_with(4, text=value)), "row 4", "not a string")
DATA_CASES |= {
    "jsonl-mixed-label-types": _train_file("d.jsonl", jsonl_text([{"text": f"t {i}", "label": 1 if i % 2 else "1"}
                                                                   for i in range(24)]), "label"),
    "jsonl-invalid-json": _train_file("d.jsonl", GOOD_JSONL + '{"text": "x", "label": \n', "row 25", "invalid JSON"),
    "jsonl-array-line": _train_file("d.jsonl", GOOD_JSONL + '["x", "pos"]\n', "row 25", "JSON object"),
    "jsonl-not-utf8": _train_file("d.jsonl", GOOD_JSONL.encode() + b'{"text": "caf\xe9", "label": "pos"}\n',
                                  "line 25", "UTF-8"),
    "csv-not-utf8": _train_file("d.csv", GOOD_CSV.encode() + b"99,caf\xe9 au lait,pos\n", "line 26", "UTF-8"),
    "csv-empty-file": _train_file("d.csv", "", "empty"),
    "jsonl-empty-file": _train_file("d.jsonl", "", "file is empty"),
    "jsonl-blank-lines-only": _train_file("d.jsonl", "\n  \n\n", "file is empty"),
    "csv-header-only": _train_file("d.csv", "id,text,label\n", "no usable rows"),
    "csv-unclosed-quote": _train_file("d.csv", GOOD_CSV + '99,"never closed,pos\n', "malformed CSV"),
    "parquet-fake": _train_file("d.parquet", GOOD_CSV, "not a readable Parquet"),
    "unknown-suffix": _train_file("d.xlsx", GOOD_CSV, "unknown file type"),
    "no-suffix": _train_file("data", GOOD_CSV, "unknown file type"),
    "gz-of-unknown-format": _train_file("d.dat.gz", gzip.compress(GOOD_CSV.encode()), "unknown file type"),
    "time-unparseable": _train_file("d.csv", csv_text([{**r, "when": "2024-01-01" if i != 6 else "someday"}
                                                       for i, r in enumerate(rows())]),
                                    "row 7", '"when"', extra=["data.time_column=when", "data.split.method=time"]),
    "group-missing": _train_file("d.csv", csv_text(rows()), '"movie" not found',
                                 extra=["data.group_column=movie", "data.split.method=group"]),
    "single-label": _train_file("d.csv", csv_text([{**r, "label": "pos"} for r in rows()]), "2 classes"),
}


def _directory(root: Path):
    (root / "d.csv").mkdir()
    return train_on(str(root / "d.csv"), root), ["d.csv", "is a directory"]


def _missing(root: Path):
    return train_on(str(root / "gone.csv"), root), ["gone.csv", "not found"]


def _many_labels(root: Path):
    records = [{"text": f"text number {i}", "label": f"label{i:05d}"} for i in range(50_000)]
    path = write(root, "many.csv", csv_text(records))
    return train_on(path, root), ["50,000"]


DATA_CASES |= {"directory": _directory, "missing-file": _missing, "50000-labels": _many_labels}


@pytest.mark.parametrize("build", DATA_CASES.values(), ids=DATA_CASES.keys())
def test_a_bad_training_file_is_one_line(build, tmp_path, capsys):
    argv, fragments = build(tmp_path)
    assert_one_line_error(argv, fragments, capsys, tmp_path)


# -- a saved model: bad inputs to evaluate and predict, bad model directories, bad flag values -------
@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("model")
    assert main(train_on(write(root, "train.csv", csv_text(rows(40))), root)) == 0
    return root / "run" / "model"


ModelBuild = Callable[[Path, Path], tuple[list[str], list[str]]]


def _predict(name: str, data: str | bytes | Callable[[], str | bytes], *fragments: str, flags=()) -> ModelBuild:
    def build(root: Path, model: Path):
        path = write(root, name, data() if callable(data) else data)
        return ["predict", str(model), path, "-o", str(root / "out.jsonl"), *flags], [name, *fragments]
    return build


def _evaluate(name: str, data: str | bytes, *fragments: str, flags=()) -> ModelBuild:
    def build(root: Path, model: Path):
        path = write(root, name, data)
        return ["evaluate", str(model), "--data", path, *flags], [name, *fragments]
    return build


def _predict_path(path: str, *fragments: str) -> ModelBuild:
    def build(root: Path, model: Path):
        if path.endswith("/"):
            (root / path).mkdir()
        return ["predict", str(model), str(root / path), "-o", str(root / "out.jsonl")], list(fragments)
    return build


PREDICT_CASES: dict[str, ModelBuild] = {
    "predict-missing-input": _predict_path("gone.csv", "gone.csv", "not found"),
    "predict-directory-input": _predict_path("shards.csv/", "shards.csv", "is a directory"),
    "predict-unknown-suffix": _predict("in.docx", GOOD_CSV, "unknown file type"),
    "predict-csv.gz-truncated": _predict("in.csv.gz", _truncated(gzip.compress, GOOD_CSV), "truncated or corrupt"),
    "predict-jsonl.xz-fake": _predict("in.jsonl.xz", GOOD_JSONL, "truncated or corrupt"),
    "predict-jsonl.bz2-truncated": _predict("in.jsonl.bz2", _truncated(bz2.compress, GOOD_JSONL),
                                            "truncated or corrupt"),
    "predict-tsv.gz-fake": _predict("in.tsv.gz", csv_text(rows(), "\t"), "truncated or corrupt"),
    "predict-no-text-column": _predict("in.csv", csv_text(_without("text")), '"text" not found'),
    "predict-text-column-flag": _predict("in.csv", GOOD_CSV, '"body" not found', flags=["--text-column", "body"]),
    "predict-id-column-flag": _predict("in.csv", GOOD_CSV, '"key" not found', flags=["--id-column", "key"]),
    "predict-empty-text": _predict("in.jsonl", jsonl_text(_with(3, text="")), "row 3", '"text"'),
    "predict-empty-id": _predict("in.csv", csv_text(_with(6, id=" ")), "row 6", '"id"', flags=["--id-column", "id"]),
    "predict-text-object": _predict("in.jsonl", jsonl_text(_with(2, text={"a": "b"})), "row 2", "not a string"),
    "predict-text-number": _predict("in.jsonl", jsonl_text(_with(8, text=12)), "row 8", "not a string"),
    "predict-not-utf8": _predict("in.tsv", csv_text(rows(), "\t").encode() + b"1\t\xff\xfe\tpos\n", "UTF-8"),
    "predict-invalid-json": _predict("in.jsonl", "{not json}\n", "row 1", "invalid JSON"),
    "predict-fake-parquet": _predict("in.parquet", b"PAR1 but not really", "Parquet"),
    "predict-empty-csv": _predict("in.csv", "", "empty"),
    "evaluate-unknown-label": _evaluate("t.csv", csv_text(_with(4, label="meh")), "row 4", "unknown label 'meh'"),
    "evaluate-long-unknown-label": _evaluate("t.csv", csv_text(_with(4, label="x" * 500_000)), "row 4",
                                             "unknown label"),
    "evaluate-no-label-column": _evaluate("t.csv", csv_text(_without("label")), '"label" not found'),
    "evaluate-label-column-flag": _evaluate("t.csv", GOOD_CSV, '"gold" not found', flags=["--label-column", "gold"]),
    "evaluate-list-label": _evaluate("t.jsonl", jsonl_text(_with(5, label=["pos", "neg"])), "row 5", "label"),
    "evaluate-csv.xz-truncated": _evaluate("t.csv.xz", _truncated(lzma.compress, GOOD_CSV), "truncated or corrupt"),
    "evaluate-header-only": _evaluate("t.csv", "id,text,label\n", "no usable rows"),
}


def _broken_model(damage: Callable[[Path], None], *fragments: str) -> ModelBuild:
    def build(root: Path, model: Path):
        import shutil

        copy = root / "m"
        shutil.copytree(model, copy)
        damage(copy)
        return ["predict", str(copy), write(root, "in.csv", GOOD_CSV), "-o", str(root / "out.jsonl")], list(fragments)
    return build


def _model_path(make: Callable[[Path], Path], *fragments: str) -> ModelBuild:
    def build(root: Path, model: Path):
        target = make(root)
        return ["predict", str(target), write(root, "in.csv", GOOD_CSV), "-o", str(root / "out.jsonl")], list(fragments)
    return build


def _empty_dir(root: Path) -> Path:
    (root / "empty").mkdir()
    return root / "empty"


MODEL_CASES: dict[str, ModelBuild] = {
    "model-missing": _model_path(lambda root: root / "no-model", "no-model"),
    "model-is-a-file": _model_path(lambda root: Path(write(root, "model.txt", "hello")), "model.txt"),
    "model-empty-directory": _model_path(_empty_dir, "empty"),
    "model-config-corrupt": _broken_model(lambda m: (m / "config.json").write_text("{not json"), "config.json"),
    "model-labels-missing": _broken_model(lambda m: (m / "labels.json").unlink(), "labels.json"),
    "model-labels-corrupt": _broken_model(lambda m: (m / "labels.json").write_text('{"labels": 3}'), "labels.json"),
    "model-weights-truncated": _broken_model(
        lambda m: (m / "model.safetensors").write_bytes((m / "model.safetensors").read_bytes()[:100]), "model"),
}
def _existing_output(verb: str) -> ModelBuild:
    def build(root: Path, model: Path):
        data = write(root, "in.csv", GOOD_CSV)
        out = write(root, "out.json", "{}")
        argv = ["predict", str(model), data] if verb == "predict" else [verb, str(model), "--data", data]
        return [*argv, "-o", out], ["out.json", "--overwrite"]
    return build


def _flag(verb: str, fragments: list[str], *flags: str) -> ModelBuild:
    def build(root: Path, model: Path):
        return [verb, str(model), "--data", write(root, "t.csv", GOOD_CSV), *flags], fragments
    return build


FLAG_CASES: dict[str, ModelBuild] = {
    "predict-backend-onnx-on-torch-model": lambda root, model: (
        ["predict", str(model), write(root, "in.csv", GOOD_CSV), "--backend", "onnx"], ["not an ONNX export"]),
    "predict-output-exists": _existing_output("predict"),
    "evaluate-output-exists": _existing_output("evaluate"),
    "errors-slice-column-missing": _flag("errors", ["t.csv", '"nope" not found'], "--slice-column", "nope"),
    "explain-top-k-zero": _flag("explain", ["--top-k", "positive integer"], "--top-k", "0"),
    "explain-top-k-not-a-number": _flag("explain", ["--top-k", "'abc'"], "--top-k", "abc"),
    "predict-chunk-size-zero": lambda root, model: (
        ["predict", str(model), write(root, "in.csv", GOOD_CSV), "-o", str(root / "out.csv"), "--chunk-size", "0"],
        ["--chunk-size", "positive integer"]),
    "predict-batch-size-zero": lambda root, model: (
        ["predict", str(model), write(root, "in.csv", GOOD_CSV), "-o", str(root / "out.csv"), "--batch-size", "0"],
        ["--batch-size", "positive integer"]),
    "predict-parquet-output-locally": lambda root, model: (
        ["predict", str(model), write(root, "in.csv", GOOD_CSV), "-o", str(root / "out.parquet")],
        ["parquet needs --engine ray"]),
}


@pytest.mark.parametrize("build", [*PREDICT_CASES.values(), *MODEL_CASES.values(), *FLAG_CASES.values()],
                         ids=[*PREDICT_CASES, *MODEL_CASES, *FLAG_CASES])
def test_a_bad_input_to_a_saved_model_is_one_line(build, model, tmp_path, capsys):
    argv, fragments = build(tmp_path, model)
    assert_one_line_error(argv, fragments, capsys, tmp_path, model.parent)


def test_the_corpus_holds_over_a_hundred_bad_inputs():
    cases = [CONFIG_CASES, YAML_CASES, DATA_CASES, PREDICT_CASES, MODEL_CASES, FLAG_CASES]
    assert sum(map(len, cases)) >= 100
