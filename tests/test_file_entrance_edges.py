"""Files and the command line at their edges: a CSV row with an unquoted comma, a column named
twice, JSON-list labels in a single-label task, labels that differ only by spaces, a lone
surrogate, bad bytes on stdin, duplicate ids in predict, override values YAML would lose, output
suffixes (compressed, unknown), outputs inside the model directory, and typed labels in JSON
predictions. Every refusal is one stderr line naming the place, exit code 2, and no file written."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from textclf import DataError, TextClassifier
from textclf.cli import main
from textclf.config import override_value
from textclf.data.io import examples_frame, read_examples, write_frame

from test_bad_inputs import assert_one_line_error

FAST = ["model.type=tfidf", "audit=false", "calibration=null"]


# -- helpers ---------------------------------------------------------------------------------------
def refused(argv: list, fragments: list[str], capsys, *watched: Path) -> str:
    """Run the CLI in process: exit 2, one short stderr line holding every fragment, no file changed."""
    return assert_one_line_error([str(a) for a in argv], fragments, capsys, *watched)


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("edges")


@pytest.fixture(scope="module")
def model(root, rt_small) -> Path:
    """A TF-IDF model trained through the CLI on 600 Rotten Tomatoes rows (3 string classes)."""
    write_frame(examples_frame(rt_small), root / "train.csv")
    assert main(["train", f"data.train={root / 'train.csv'}", *FAST, f"output_dir={root / 'run'}"]) == 0
    return root / "run" / "model"


@pytest.fixture(scope="module")
def typed_models(root, rt_binary) -> dict[str, Path]:
    """TF-IDF models trained from JSON lines whose labels are integers, and booleans."""
    models = {}
    for kind, convert in (("int", lambda label: int(label == "fresh")), ("bool", lambda label: label == "fresh")):
        records = [{"text": t, "label": convert(y)} for t, y in zip(rt_binary.texts, rt_binary.labels)]
        data = write(root / f"{kind}.jsonl", jsonl(records))
        assert main(["train", f"data.train={data}", *FAST, f"output_dir={root / kind}"]) == 0
        models[kind] = root / kind / "model"
    return models


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a stray relative output would show in the snapshot


# -- CLI overrides keep what YAML would lose ---------------------------------------------------------
@pytest.mark.parametrize("raw, value", [
    ("|", "|"), (">", ">"), ("#x", "#x"), ("|-", "|-"), ("a #b", "a #b"), ("a#b", "a#b"), (" ", " "),
    ("3", 3), ("0.5", 0.5), ("true", True), ("null", None), ("~", None), ("''", ""), ("", ""),
    ("[1, 2]", [1, 2]), ("{type: tfidf}", {"type": "tfidf"}),
])
def test_an_override_value_is_yaml_unless_yaml_would_lose_text(raw, value):
    assert override_value(raw) == value


def test_a_pipe_delimiter_override_splits_labels(root, rt_small, tmp_path):
    labels = [f"{y}|long" if len(t) > 120 else y for t, y in zip(rt_small.texts, rt_small.labels)]
    data = tmp_path / "pipe.csv"
    pd.DataFrame({"text": rt_small.texts, "label": labels}).to_csv(data, index=False)
    argv = ["train", f"data.train={data}", "task=multi_label", "data.label_delimiter=|", *FAST,
            f"output_dir={tmp_path / 'run'}"]
    assert main(argv) == 0
    saved = json.loads((tmp_path / "run" / "model" / "labels.json").read_text())
    assert saved["labels"] == ["fresh", "long", "plot", "rotten"]  # never "fresh|long"


@pytest.mark.parametrize("override", ["data.label_delimiter=", "data.label_delimiter=''"])
def test_an_empty_label_delimiter_is_refused_before_data_is_read(override, tmp_path, capsys):
    argv = ["train", f"data.train={tmp_path / 'never-read.csv'}", "task=multi_label", override,
            f"output_dir={tmp_path / 'run'}"]
    line = refused(argv, ["data.label_delimiter", "must not be empty"], capsys, tmp_path)
    assert "never-read" not in line


# -- CSV: unquoted commas, names given twice ---------------------------------------------------------
def test_an_unquoted_comma_in_a_one_column_csv_is_refused(model, tmp_path, capsys):
    data = write(tmp_path / "commas.csv", "text\nthis film was a masterpiece, awful\nanother one, great acting\n")
    refused(["predict", model, data, "-o", tmp_path / "p.jsonl"],
            ["commas.csv, row 1 (line 2): 2 fields where the header has 1", "quote"], capsys, tmp_path)
    assert not (tmp_path / "p.jsonl").exists()


def test_a_long_row_is_named_by_row_and_line_past_quoted_line_breaks(tmp_path):
    data = write(tmp_path / "extra.csv", 'text,label\n"two\nlines",fresh\n\nok,rotten\na,b,c\n')
    with pytest.raises(DataError, match=r"extra.csv, row 3 \(line 6\): 3 fields where the header has 2"):
        read_examples(data)


def test_a_long_row_in_training_data_is_refused(tmp_path, capsys):
    data = write(tmp_path / "extra.tsv", "text\tlabel\na fine film\tfresh\tstray\n")
    refused(["train", f"data.train={data}", *FAST, f"output_dir={tmp_path / 'run'}"],
            ["extra.tsv, row 1 (line 2): 3 fields where the header has 2", "tab"], capsys, tmp_path)


@pytest.mark.parametrize("header", ["text,text", "text,label,text"])
def test_a_column_named_twice_is_refused(model, header, tmp_path, capsys):
    fields = header.count(",") + 1
    data = write(tmp_path / "dup.csv", f"{header}\n" + ",".join(["hello there"] * fields) + "\n")
    refused(["predict", model, data, "-o", tmp_path / "p.jsonl"],
            ['dup.csv: column "text" appears twice (columns 1 and', "rename one"], capsys, tmp_path)


def test_a_parquet_column_named_twice_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table([pa.array(["a b"]), pa.array(["c d"])], names=["text", "text"]), tmp_path / "d.parquet")
    with pytest.raises(DataError, match='d.parquet: column "text" appears twice'):
        read_examples(tmp_path / "d.parquet", labelled=False)


def test_well_formed_csv_still_reads_header_only_and_bom_included(tmp_path):
    data = write(tmp_path / "ok.csv", '\ufefftext,label\n"a, quoted text",fresh\n,\n')
    with pytest.raises(DataError, match=r'ok.csv, row 2, column "text": empty or missing text'):
        read_examples(data)
    write(data, '\ufefftext,label\n"a, quoted text",fresh\n')
    assert read_examples(data).texts == ["a, quoted text"]
    write(data, "text,label\n")
    with pytest.raises(DataError, match="no usable rows"):
        read_examples(data)


# -- labels ------------------------------------------------------------------------------------------
def test_json_list_labels_in_a_single_label_csv_are_refused(tmp_path, capsys):
    rows = [{"text": f"a film number {i}", "label": json.dumps(["fresh", "long"] if i % 2 else ["rotten"])}
            for i in range(40)]
    data = tmp_path / "lists.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    refused(["train", f"data.train={data}", *FAST, f"output_dir={tmp_path / 'run'}"],
            ['lists.csv, row 1, column "label"', "list-valued label in a single-label task (set task: multi_label)"],
            capsys, tmp_path)
    pd.DataFrame(rows).to_parquet(tmp_path / "lists.parquet")  # strings in Parquet too
    with pytest.raises(DataError, match="list-valued label in a single-label task"):
        read_examples(tmp_path / "lists.parquet")


def test_labels_that_differ_only_by_spaces_are_refused(tmp_path, capsys):
    data = write(tmp_path / "spaces.csv", "text,label\ngood film,a\nbad film,b\nfine film,a \nawful film,b\n")
    refused(["train", f"data.train={data}", *FAST, f"output_dir={tmp_path / 'run'}"],
            ['spaces.csv, row 3, column "label"', "'a ' and 'a' (row 1) differ only by surrounding spaces"],
            capsys, tmp_path)
    with pytest.raises(DataError, match=r"'a' and 'a ' \(row 1\) differ only by surrounding spaces"):
        TextClassifier().fit(["x y", "y z", "z w", "w q"], ["a ", "a", "b", "b"])


def test_spaces_written_the_same_way_everywhere_are_layout(tmp_path):
    data = write(tmp_path / "layout.csv", "text,label\ngood film, a\nbad film, b\n")
    assert read_examples(data).labels == ["a", "b"]  # `text, label` style: every cell has the space
    data = write(tmp_path / "ml.csv", "text,label\ngood film,a | b\nbad film,b|a\nok film, a\n")
    from textclf.data.io import Columns

    examples = read_examples(data, Columns(multi_label=True, label_delimiter="|"))
    assert examples.labels == [("a", "b"), ("b", "a"), ("a",)]


# -- Unicode -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("verb", ["predict", "evaluate", "train"])
def test_a_lone_surrogate_in_a_json_line_is_refused(model, verb, tmp_path, capsys):
    data = write(tmp_path / "s.jsonl", '{"text": "fine", "label": "fresh"}\n{"text": "\\ud800", "label": "fresh"}\n')
    argv = {"predict": ["predict", model, data, "-o", tmp_path / "p.jsonl"],
            "evaluate": ["evaluate", model, "--data", data, "-o", tmp_path / "m.json"],
            "train": ["train", f"data.train={data}", *FAST, f"output_dir={tmp_path / 'run'}"]}[verb]
    refused(argv, ['s.jsonl, row 2, column "text": not valid Unicode'], capsys, tmp_path)


def test_a_surrogate_pair_is_one_character(tmp_path):
    data = write(tmp_path / "emoji.jsonl", '{"text": "loved it \\ud83d\\ude00"}\n')
    assert read_examples(data, labelled=False).texts == ["loved it \U0001F600"]


def test_bad_bytes_on_stdin_are_refused(model):
    done = subprocess.run([sys.executable, "-m", "textclf", "predict", str(model)], input=b"fine\ngood\xff film\n",
                          capture_output=True)
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2 and done.stdout == b""
    assert lines == ["textclf: error: <stdin>, line 2: bytes are not valid UTF-8 (re-encode the input as UTF-8)"]


def test_a_text_stdin_holding_escaped_bad_bytes_is_refused(model, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("good\udcff film\n"))  # surrogateescape, as a C locale reads
    refused(["predict", model], ["<stdin>, line 1: bytes are not valid UTF-8"], capsys)


# -- predict: ids, output suffixes, typed labels ------------------------------------------------------
@pytest.mark.parametrize("chunk", ["1", "100"])
def test_duplicate_ids_are_refused_by_predict(model, chunk, tmp_path, capsys):
    data = write(tmp_path / "ids.csv", "id,text\n1,good film\n2,fine film\n1,bad film\n")
    refused(["predict", model, data, "--id-column", "id", "--chunk-size", chunk, "-o", tmp_path / "p.jsonl"],
            ['ids.csv, row 3, column "id": duplicate id \'1\' (first at row 1)'], capsys, tmp_path)


@pytest.mark.parametrize("name", ["p.csv.gz", "p.jsonl.gz", "p.tsv.bz2", "p.jsonl.xz"])
def test_a_compressed_output_name_gets_compressed_rows(model, root, name, tmp_path):
    plain = tmp_path / ("plain." + name.split(".")[1])
    assert main(["predict", str(model), str(root / "train.csv"), "-o", str(plain)]) == 0
    assert main(["predict", str(model), str(root / "train.csv"), "-o", str(tmp_path / name)]) == 0
    from textclf.data.formats import open_binary

    with open_binary(tmp_path / name) as handle:
        assert handle.read() == plain.read_bytes()
    assert not list(tmp_path.glob("*.partial*"))


def test_a_gzip_output_reads_back(model, root, tmp_path):
    out = tmp_path / "p.csv.gz"
    assert main(["predict", str(model), str(root / "train.csv"), "-o", str(out)]) == 0
    with gzip.open(out, "rt") as handle:
        assert len(pd.read_csv(handle)) == 600


@pytest.mark.parametrize("argv, fragments", [
    (["predict", "{model}", "{data}", "-o", "{tmp}/p.xyz"], ["p.xyz: cannot write '.xyz' here; use .csv", ".jsonl"]),
    (["predict", "{model}", "{data}", "-o", "{tmp}/p.jsonl.zip"], ["p.jsonl.zip: cannot write '.zip' here"]),
    (["errors", "{model}", "--data", "{data}", "-o", "{tmp}/e.csv"], ["e.csv: cannot write '.csv' here; use .json"]),
    (["explain", "{model}", "a fine film", "-o", "{tmp}/x.txt"], ["x.txt: cannot write '.txt' here; use .jsonl"]),
])
def test_an_output_suffix_the_verb_cannot_write_is_refused(model, root, argv, fragments, tmp_path, capsys):
    values = {"model": model, "data": root / "train.csv", "tmp": tmp_path}
    refused([a.format(**values) for a in argv], fragments, capsys, tmp_path)


def test_json_predictions_carry_typed_labels_and_csv_cells_names(typed_models, rt_binary, tmp_path):
    data = write(tmp_path / "in.jsonl", jsonl([{"text": t} for t in rt_binary.texts[:20]]))
    for kind, model in typed_models.items():
        assert main(["predict", str(model), str(data), "-o", str(tmp_path / f"{kind}.jsonl")]) == 0
        assert main(["predict", str(model), str(data), "-o", str(tmp_path / f"{kind}.csv")]) == 0
        rows = [json.loads(line) for line in (tmp_path / f"{kind}.jsonl").read_text().splitlines()]
        expected = TextClassifier.load(model).predict(rt_binary.texts[:20])
        assert [r["label"] for r in rows] == expected
        assert {type(r["label"]) for r in rows} == {int if kind == "int" else bool}
        cells = pd.read_csv(tmp_path / f"{kind}.csv", dtype=str)["label"].tolist()
        assert cells == [str(v).lower() for v in expected]  # 0 / 1, true / false


def test_explanations_in_json_carry_typed_labels(typed_models, rt_binary, tmp_path):
    for kind, model in typed_models.items():
        out = tmp_path / f"{kind}-explain.jsonl"
        assert main(["explain", str(model), *rt_binary.texts[:3], "-o", str(out)]) == 0
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["predicted"] for r in rows] == TextClassifier.load(model).predict(rt_binary.texts[:3])
        assert {type(r["predicted"]) for r in rows} | {type(r["label"]) for r in rows} == {int if kind == "int" else bool}


# -- outputs never inside the model --------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["predict", "{model}", "{data}", "-o", "{model}/preds.jsonl"],
    ["evaluate", "{model}", "--data", "{data}", "-o", "{model}/metrics.json", "--overwrite"],
    ["evaluate", "{model}", "--data", "{data}", "-o", "{model}/labels.json", "--overwrite"],
    ["report", "{model}", "--data", "{data}", "-o", "{model}/r.html"],
    ["export", "{model}", "--format", "hf", "-o", "{model}/hf"],
    ["export", "{model}", "--format", "hf", "-o", "{model}/..", "--overwrite"],
    ["errors", "{model}", "--data", "{data}", "--mistakes", "{model}/m.csv"],
    ["calibrate", "{model}", "--data", "{data}", "-o", "{model}"],
])
def test_an_output_in_or_around_the_model_directory_is_refused(model, root, argv, capsys):
    values = {"model": model, "data": root / "train.csv"}
    line = refused([a.format(**values) for a in argv], ["the model directory"], capsys, model.parent)
    assert str(model) in line
    assert main(["verify", str(model)]) == 0
