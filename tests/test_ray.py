"""Batch prediction on Ray Data (serving/ray_predict.py): the rows equal local `predict` rows, row
for row, for a TF-IDF and a tiny CNN; several input files and formats; a worker killed mid-run is
retried without losing or duplicating rows; user errors stay one line; OUTPUT appears atomically.

One local Ray instance (2 CPUs, no dashboard, loopback) serves the whole module."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray")  # the optional extra: make install EXTRAS=ray

from textclf import TextClassifier
from textclf.data.io import examples_frame, write_frame
from textclf.errors import DataError
from textclf.serving.predict import PredictOptions, predict_file
from textclf.serving.loading import load_for_inference as load_classifier
from textclf.serving.ray_predict import (ID, BatchPredictor, input_files, predict_dataset,
                                        predict_files)

from conftest import stratified_sample

TINY_CNN = {"type": "cnn", "embedding_dim": 16, "num_filters": 8, "max_length": 32}


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning",
             _node_ip_address="127.0.0.1")
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def data(rotten_tomatoes):
    sample = stratified_sample(rotten_tomatoes, 150, seed=3)  # 450 rows, 3 classes
    order = np.random.default_rng(0).permutation(len(sample))
    return sample.subset(order[:300].tolist()), sample.subset(order[300:].tolist())  # train, unseen


@pytest.fixture(scope="module")
def tfidf_dir(tmp_path_factory, data):
    directory = tmp_path_factory.mktemp("ray") / "tfidf"
    clf = TextClassifier(model={"type": "tfidf"}).fit(data[0])
    clf.calibrate(data[1])  # calibrated probabilities must survive the trip through Ray
    clf.save(directory)
    return directory


@pytest.fixture(scope="module")
def input_csv(tmp_path_factory, data):
    unseen = data[1]
    frame = examples_frame(unseen)
    frame.insert(0, "doc", [f"{i:05d}" for i in range(len(frame))])  # ids with leading zeros stay text
    path = tmp_path_factory.mktemp("ray-in") / "unseen.csv"
    write_frame(frame, path)
    return path


def read_output(directory: Path, fmt: str = "parquet") -> pd.DataFrame:
    """Every row of an output directory written by Ray's writers, as one table."""
    read = {"parquet": pd.read_parquet, "csv": lambda p: pd.read_csv(p, dtype={ID: str}, keep_default_na=False),
            "json": lambda p: pd.read_json(p, lines=True, dtype={ID: str})}[fmt]
    files = sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
    assert files, f"no output files in {directory}"
    return pd.concat([read(p) for p in files], ignore_index=True)


def local_rows(model_dir, input_path, tmp_path, backend: str = "torch", **options) -> pd.DataFrame:
    out = tmp_path / f"local-{backend}-{Path(input_path).stem}.jsonl"
    predict_file(load_classifier(model_dir, backend), input_path, out, PredictOptions(progress=False, **options))
    return pd.DataFrame([json.loads(line) for line in out.read_text().splitlines()])


def assert_same_rows(local: pd.DataFrame, distributed: pd.DataFrame) -> None:
    """Same columns, the same rows once sorted by row, labels identical, probabilities within 1e-6."""
    assert list(distributed.columns) == list(local.columns)
    assert len(distributed) == len(local) and not distributed["row"].duplicated().any()
    local, distributed = (f.sort_values("row").reset_index(drop=True) for f in (local, distributed))
    assert distributed["row"].tolist() == local["row"].tolist()
    for column in local.columns:
        if column.startswith("prob_") or column.startswith("threshold"):
            np.testing.assert_allclose(distributed[column].to_numpy(float), local[column].to_numpy(float), atol=1e-6)
        else:
            assert distributed[column].astype(str).tolist() == local[column].astype(str).tolist(), column


def test_tfidf_rows_equal_local_predict_row_for_row(tfidf_dir, input_csv, tmp_path):
    local = local_rows(tfidf_dir, input_csv, tmp_path, id_column="doc")
    out = tmp_path / "preds.parquet"
    summary = predict_files(tfidf_dir, input_csv, out, id_column="doc", num_workers=2, chunk_size=40)
    assert summary.rows == len(local) == 150 and out.is_dir()
    result = read_output(out, "parquet")
    assert_same_rows(local, result)
    assert result["id"].iloc[0].startswith("0")  # read as text, like the local reader
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".preds")]  # no temporary left behind


@pytest.mark.slow
def test_tiny_cnn_over_a_glob_of_parquet_shards_equals_local_predict_torch_and_onnx(tmp_path, data):
    import torch

    from textclf.serving.onnx_export import export_onnx

    torch.set_num_threads(1)
    train, unseen = data
    clf = TextClassifier(model=TINY_CNN, training={"epochs": 1, "progress": False, "device": "cpu"}).fit(train)
    clf.calibrate(unseen)
    model_dir = clf.save(tmp_path / "cnn")
    shards = tmp_path / "shards"
    shards.mkdir()
    for i, part in enumerate((range(0, 90), range(90, 150))):
        write_frame(examples_frame(unseen.subset(list(part))), shards / f"part-{i}.parquet")
    out = tmp_path / "preds.json"
    summary = predict_files(model_dir, str(shards / "part-*.parquet"), out, num_workers=2, chunk_size=32,
                            batch_size=8)
    assert summary.rows == 150
    result = read_output(out, "json")
    assert result.columns[0] == "path"
    for shard in sorted(shards.iterdir()):
        local = local_rows(model_dir, shard, tmp_path)
        assert_same_rows(local, result[result["path"] == str(shard)].drop(columns="path"))

    # The ONNX backend: each worker loads the export instead (rows as local predict --backend onnx).
    export_onnx(TextClassifier.load(model_dir), tmp_path / "onnx")
    shard = shards / "part-1.parquet"
    predict_files(tmp_path / "onnx", shard, tmp_path / "onnx.parquet", backend="onnx", num_workers=1)
    assert_same_rows(local_rows(tmp_path / "onnx", shard, tmp_path, backend="onnx"),
                     read_output(tmp_path / "onnx.parquet"))


class CrashOncePredictor(BatchPredictor):
    """Kills its own worker process (no cleanup, like a lost node) on the second batch it gets,
    once per test: a marker file records that the crash happened."""

    marker: str = ""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        self.calls += 1
        if self.calls == 2 and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)
        return super().__call__(batch)


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_retried_without_losing_or_duplicating_rows(tfidf_dir, input_csv, tmp_path):
    marker = tmp_path / "crashed"
    crashing = type("Crashing", (CrashOncePredictor,), {"marker": str(marker)})  # pickled by value
    import test_ray
    from ray import cloudpickle  # Ray's own copy pickles the UDF class

    cloudpickle.register_pickle_by_value(test_ray)  # workers need not import the tests
    out = tmp_path / "preds.csv"
    summary = predict_files(tfidf_dir, input_csv, out, id_column="doc", num_workers=2, chunk_size=25,
                            predictor_cls=crashing)
    assert marker.is_file()  # a worker did die mid-run
    assert summary.rows == 150
    assert_same_rows(local_rows(tfidf_dir, input_csv, tmp_path, id_column="doc"), read_output(out, "csv"))


def test_a_bad_row_in_a_worker_is_one_line_and_leaves_no_output(tfidf_dir, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["fine film", "dull", "   ", "ok"]))
    out = tmp_path / "preds"
    with pytest.raises(DataError) as err:
        predict_files(tfidf_dir, path, out, num_workers=1)
    assert str(err.value) == f'{path.resolve()}, row 3, column "text": empty or missing text'
    assert not out.exists()


def test_existing_output_is_refused_before_ray_runs_and_replaced_with_overwrite(tfidf_dir, input_csv, tmp_path):
    out = tmp_path / "preds.parquet"
    out.mkdir()
    (out / "old.parquet").write_text("stale")
    with pytest.raises(DataError, match="exists; pass --overwrite"):
        predict_files(tfidf_dir, input_csv, out)
    predict_files(tfidf_dir, input_csv, out, overwrite=True, num_workers=1)
    assert not (out / "old.parquet").exists() and len(read_output(out)) == 150


def test_predict_dataset_maps_an_in_memory_dataset(tfidf_dir):
    texts = ["a gripping, beautifully shot film", "tedious and overlong", "the plot follows two brothers"]
    dataset = ray.data.from_pandas(pd.DataFrame({"review": texts}))
    rows = predict_dataset(tfidf_dir, dataset, text_column="review", num_workers=1).to_pandas()
    expected = TextClassifier.load(tfidf_dir).predict(texts)
    assert rows["label"].tolist() == list(expected) and "row" not in rows.columns
    with pytest.raises(DataError, match="no column 'text'"):
        predict_dataset(tfidf_dir, dataset, num_workers=1)


def test_inputs_are_files_directories_or_globs_of_one_format(tmp_path):
    for name in ("a.csv", "b.csv", "_SUCCESS", "sub/c.csv"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("text\nx\n")
    paths, fmt = input_files(tmp_path)
    assert fmt == "csv" and [Path(p).name for p in paths] == ["a.csv", "b.csv", "c.csv"]
    assert len(input_files(str(tmp_path / "*.csv"))[0]) == 2
    (tmp_path / "d.parquet").write_text("")
    with pytest.raises(DataError, match="several formats"):
        input_files(tmp_path)
    with pytest.raises(DataError, match="no file matches"):
        input_files(str(tmp_path / "*.tsv"))


def test_cli_engine_ray_writes_the_same_rows(tfidf_dir, input_csv, tmp_path, capsys):
    from textclf.cli import main

    local = local_rows(tfidf_dir, input_csv, tmp_path, id_column="doc")
    out = tmp_path / "cli.parquet"
    assert main(["predict", str(tfidf_dir), str(input_csv), "-o", str(out), "--engine", "ray", "--id-column", "doc",
                 "--num-workers", "1"]) == 0
    assert "150 predictions written" in capsys.readouterr().err
    assert_same_rows(local, read_output(out, "parquet"))
    assert main(["predict", str(tfidf_dir), str(input_csv), "-o", str(out), "--engine", "ray", "--resume"]) == 2


def test_the_ray_reader_parses_files_as_the_local_reader(tfidf_dir, tmp_path):
    """One parser (data/formats.py): a byte-order mark is accepted, a truncated gzip is one line, a
    text that is not a string is refused as locally."""
    import gzip

    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps({"text": t}) + "\n" for t in ["fine film", "dull"]).encode())
    assert predict_files(tfidf_dir, bom, tmp_path / "out", num_workers=1).rows == 2
    cut = tmp_path / "cut.csv.gz"
    whole = gzip.compress(("text\n" + "".join(f"review number {i}\n" for i in range(2000))).encode())
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"cut\.csv\.gz: cannot decompress .*truncated or corrupt") as err:
        predict_files(tfidf_dir, cut, tmp_path / "out2", num_workers=1)
    assert "\n" not in str(err.value) and not (tmp_path / "out2").exists()
    number = tmp_path / "number.jsonl"
    number.write_text('{"text": "fine"}\n{"text": 12}\n')
    with pytest.raises(DataError, match=r'number\.jsonl, row 2, column "text": text is not a string but int 12'):
        predict_files(tfidf_dir, number, tmp_path / "out3", num_workers=1)
