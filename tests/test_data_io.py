"""Reading and validating files: every error names the file, row and column."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from textclf.data.io import Columns, examples_frame, read_examples, stream_texts, write_frame
from textclf.errors import DataError


def write_csv(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_csv_tsv_jsonl_parquet_identically(tmp_path, rt_small):
    small = rt_small.subset(range(50))
    frame = examples_frame(small)
    expected = (small.texts, small.labels)
    for name in ("d.csv", "d.tsv", "d.jsonl", "d.parquet"):
        write_frame(frame, tmp_path / name)
        got = read_examples(tmp_path / name)
        assert (got.texts, got.labels) == expected, name


def test_reads_compressed_jsonl(tmp_path):
    path = tmp_path / "d.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for text, label in [("good film", "pos"), ("bad film", "neg")]:
            handle.write(json.dumps({"text": text, "label": label}) + "\n")
    assert read_examples(path).labels == ["pos", "neg"]


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        read_examples(tmp_path / "nope.csv")


def test_missing_column_names_it_and_lists_the_others(tmp_path):
    path = write_csv(tmp_path / "d.csv", "review,label\ngood,pos\n")
    with pytest.raises(DataError, match=r'column "text" not found \(columns: review, label\)'):
        read_examples(path)


def test_empty_text_names_row_and_column(tmp_path):
    path = write_csv(tmp_path / "d.csv", "text,label\ngood,pos\n  ,neg\nbad,neg\n")
    with pytest.raises(DataError, match=r'd\.csv, row 2, column "text": empty or missing text'):
        read_examples(path)


def test_null_text_in_jsonl(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "ok", "label": "a"}\n{"text": null, "label": "b"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r'row 2, column "text"'):
        read_examples(path)


def test_missing_label_names_row(tmp_path):
    path = write_csv(tmp_path / "d.csv", "text,label\ngood,pos\nbad,\n")
    with pytest.raises(DataError, match=r'row 2, column "label": empty or missing label'):
        read_examples(path)


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"text,label\ngood,pos\ncaf\xe9 cr\xe8me,neg\n")
    with pytest.raises(DataError, match=r"d\.csv, line 3: bytes are not valid UTF-8"):
        read_examples(path)


def test_invalid_json_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "ok", "label": "a"}\n{"text": "x", \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"d\.jsonl, row 2: invalid JSON"):
        read_examples(path)


def test_duplicate_ids(tmp_path):
    path = write_csv(tmp_path / "d.csv", "id,text,label\n1,a,x\n2,b,y\n1,c,x\n")
    with pytest.raises(DataError, match=r"row 3, column \"id\": duplicate id '1' \(first at row 1\)"):
        read_examples(path, Columns(id="id"))


def test_skip_policy_drops_and_counts_bad_rows(tmp_path, capsys):
    path = write_csv(tmp_path / "d.csv", "text,label\ngood,pos\n,neg\nbad,\nfine,neg\n")
    examples = read_examples(path, bad_rows="skip")
    assert examples.texts == ["good", "fine"]
    assert examples.rows == [1, 4]
    assert examples.skipped == 2
    assert "skipped 2 bad row(s)" in capsys.readouterr().err


def test_unknown_extension(tmp_path):
    path = tmp_path / "d.xlsx"
    path.write_text("x")
    with pytest.raises(DataError, match="unknown file type '.xlsx'"):
        read_examples(path)


def test_multi_label_from_json_lists_and_delimiters(tmp_path):
    csv_path = write_csv(tmp_path / "d.csv", 'text,label\na,"[""x"", ""y""]"\nb,x|z\nc,\n')
    got = read_examples(csv_path, Columns(multi_label=True, label_delimiter="|"))
    assert got.labels == [("x", "y"), ("x", "z"), ()]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "a", "label": ["x", "y", "x"]}\n', encoding="utf-8")
    assert read_examples(jsonl, Columns(multi_label=True)).labels == [("x", "y")]


def test_list_label_in_single_label_task_is_an_error(tmp_path):
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "a", "label": ["x", "y"]}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r'row 1, column "label": list-valued label'):
        read_examples(jsonl)


def test_numeric_labels_become_names(tmp_path):
    path = tmp_path / "d.parquet"
    pd.DataFrame({"text": ["a", "b"], "label": [0, 1]}).to_parquet(path)
    assert read_examples(path).labels == ["0", "1"]


def test_time_column_parsed_and_bad_date_named(tmp_path):
    good = write_csv(tmp_path / "g.csv", "text,label,t\na,x,2020-01-02\nb,y,2021-03-04\n")
    times = read_examples(good, Columns(time="t")).times
    assert times.dtype.kind == "M" and times[0] < times[1]
    bad = write_csv(tmp_path / "b.csv", "text,label,t\na,x,2020-01-02\nb,y,someday\n")
    with pytest.raises(DataError, match=r'row 2, column "t": cannot parse'):
        read_examples(bad, Columns(time="t"))


def test_stream_texts_chunks_keep_rows(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"text {i}" for i in range(25)]}).to_csv(path, index=False)
    chunks = list(stream_texts(path, chunk_size=10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert np.concatenate([c.rows for c in chunks]).tolist() == list(range(1, 26))


# -- data/formats.py: one table of suffixes, BOMs, compression, writing --------------------------------
def test_one_suffix_table_for_reading_and_writing():
    from textclf.data.formats import format_of, output_format

    assert [format_of(n) for n in ("a.CSV", "a.tsv.gz", "a.txt", "a.ndjson.xz", "a.json", "a.pq", "a.csv.zip",
                                   "README")] == ["csv", "tsv", "tsv", "jsonl", "jsonl", "parquet", None, None]
    assert [output_format(p) for p in ("p.csv", "p.tsv", "p.jsonl", None, "out")] == ["csv", "tsv", "jsonl", "jsonl", "jsonl"]
    with pytest.raises(DataError, match="cannot write '.parquet' here"):  # local predict writes no Parquet
        output_format("p.parquet")
    ray_like = {"supported": ("parquet", "csv", "jsonl"), "default": "parquet"}
    assert [output_format(p, **ray_like) for p in ("out", "out.csv", "out.json")] == ["parquet", "csv", "jsonl"]
    assert output_format("out", "json", **ray_like) == "jsonl"
    with pytest.raises(DataError, match="output format 'xml' is not one of parquet, csv, jsonl"):
        output_format("out", "xml", **ray_like)


@pytest.mark.parametrize("name", ["d.csv", "d.tsv", "d.jsonl", "d.csv.gz", "d.jsonl.bz2", "d.tsv.xz"])
def test_a_utf8_byte_order_mark_is_accepted_in_every_text_format(tmp_path, name):
    frame = pd.DataFrame({"text": ["good film", "bad film"], "label": ["pos", "neg"]})
    plain = tmp_path / f"plain-{name}"
    write_frame(frame, plain)
    from textclf.data.formats import COMPRESSIONS, compression_of, open_binary

    with open_binary(plain) as handle:
        data = b"\xef\xbb\xbf" + handle.read()
    opener = COMPRESSIONS.get(compression_of(name) or "", open)
    with opener(tmp_path / name, "wb") as handle:
        handle.write(data)
    got = read_examples(tmp_path / name)
    assert (got.texts, got.labels) == (["good film", "bad film"], ["pos", "neg"])


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz"])
def test_truncated_or_fake_compressed_files_are_one_line(tmp_path, suffix):
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(300)], "label": ["a", "b"] * 150})
    whole = tmp_path / f"whole.csv{suffix}"
    write_frame(frame, whole)  # written compressed, read back whole
    assert len(read_examples(whole)) == 300
    cut = tmp_path / f"cut.csv{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    fake = tmp_path / f"fake.jsonl{suffix}"
    fake.write_text('{"text": "x", "label": "a"}\n')
    for path in (cut, fake):
        with pytest.raises(DataError, match=rf"{path.name}: cannot decompress .*truncated or corrupt") as err:
            read_examples(path)
        assert "\n" not in str(err.value) and len(str(err.value)) < 300
        with pytest.raises(DataError, match="truncated or corrupt"):
            list(stream_texts(path))


def test_a_directory_is_not_a_missing_file(tmp_path):
    (tmp_path / "shards.csv").mkdir()
    with pytest.raises(DataError, match=r"shards\.csv: is a directory"):
        read_examples(tmp_path / "shards.csv")
