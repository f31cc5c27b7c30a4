"""Edges of time columns, config files and -o: each is refused in one line (exit 2, nothing written)
or does exactly what it says; never a silently different run."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from textclf.cli import main
from textclf.config import load_config
from textclf.data.io import Columns, read_examples
from textclf.errors import ConfigError, DataError

WORDS = ["great fun film", "a dull mess", "warm and witty", "tedious and long", "lovely acting", "awful plot"]


def _time_csv(path, times: list[str]) -> str:
    rows = [{"text": f"{WORDS[i % 6]} {i}", "label": "pos" if i % 2 == 0 else "neg", "time": t}
            for i, t in enumerate(times)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and len(err[0]) <= 300 and "Traceback" not in err[0], err
    return err[0]


# -- A1: time columns ---------------------------------------------------------------------------------
def test_a_sentinel_date_is_refused_naming_row_and_column(tmp_path, capsys):
    dates = [f"2020-01-{d:02d}" for d in range(1, 21)]
    dates[3] = "9999-12-31"  # out of datetime64[ns]: it used to wrap around to 1816, into TRAIN
    data = _time_csv(tmp_path / "d.csv", dates)
    assert main(["split", data, "--time-column", "time", "--split", "time", "-o", str(tmp_path / "out")]) == 2
    line = _one_error_line(capsys)
    assert 'd.csv, row 4, column "time"' in line and "9999-12-31" in line and "range" in line
    assert not (tmp_path / "out").exists()


def test_a_date_before_1677_is_refused(tmp_path):
    data = _time_csv(tmp_path / "d.csv", ["2020-01-01", "1500-06-01", "2020-01-03"])
    with pytest.raises(DataError, match=r'row 2, column "time": date .1500-06-01. is outside'):
        read_examples(data, Columns(time="time"))


def test_numbers_mixed_with_dates_are_refused_at_the_rarer_kind(tmp_path, capsys):
    times = [f"2020-01-{d:02d}" for d in range(1, 16)] + ["1000", "1001"]
    data = _time_csv(tmp_path / "d.csv", times)
    assert main(["split", data, "--time-column", "time", "--split", "time", "-o", str(tmp_path / "out")]) == 2
    line = _one_error_line(capsys)
    assert 'row 16, column "time": \'1000\' is a number while row 1 holds a date' in line
    assert not (tmp_path / "out").exists()
    mostly_numbers = _time_csv(tmp_path / "n.csv", ["5", "6", "2020-01-01", "7"])
    with pytest.raises(DataError, match=r"row 3, column \"time\": '2020-01-01' is not a number"):
        read_examples(mostly_numbers, Columns(time="time"))


def test_a_numeric_time_column_is_ordered_as_numbers_and_written_verbatim(tmp_path):
    times = [str(1300 + i) for i in range(20)][::-1]  # newest first in the file
    data = _time_csv(tmp_path / "d.csv", times)
    out = tmp_path / "out"
    assert main(["split", data, "--time-column", "time", "--split", "time", "-o", str(out)]) == 0
    parts = {name: (out / f"{name}.csv").read_text().splitlines()[1:] for name in ("train", "validation", "test")}
    cells = {name: [line.rsplit(",", 1)[1] for line in lines] for name, lines in parts.items()}
    assert sorted(sum(cells.values(), [])) == sorted(times)  # 1321, never 1321.0
    assert max(map(int, cells["train"])) < min(map(int, cells["validation"] + cells["test"]))


def test_dates_are_written_back_as_the_file_wrote_them(tmp_path):
    times = [f"2020-01-{d:02d}T08:30" for d in range(1, 21)]
    data = _time_csv(tmp_path / "d.csv", times)
    out = tmp_path / "out"
    assert main(["split", data, "--time-column", "time", "--split", "time", "-o", str(out), "--format", "jsonl"]) == 0
    written = [json.loads(line)["time"] for name in ("train", "validation", "test")
               for line in (out / f"{name}.jsonl").read_text().splitlines()]
    assert written == times  # the time order is the file order here; each cell unchanged


def test_offsets_are_compared_in_utc_and_a_missing_zone_is_refused(tmp_path):
    summer_then_winter = _time_csv(tmp_path / "z.csv", ["2020-07-01T01:00+02:00", "2020-07-01T00:30Z",
                                                       "2020-01-01T00:30+01:00"])
    assert read_examples(summer_then_winter, Columns(time="time")).times.argsort().tolist() == [2, 0, 1]
    some_naive = _time_csv(tmp_path / "n.csv", ["2020-07-01T01:00+02:00", "2020-01-01", "2020-01-02"])
    with pytest.raises(DataError, match=r"row 1, column \"time\": date .* has a time zone while row 2's has none"):
        read_examples(some_naive, Columns(time="time"))


def test_parsed_times_order_and_subset_with_their_cells(tmp_path):
    data = _time_csv(tmp_path / "d.csv", ["2262-01-01", "1700-01-01", "2020-05-05"])
    examples = read_examples(data, Columns(time="time"))
    assert examples.times.dtype.kind == "M" and examples.times.argsort().tolist() == [1, 2, 0]
    picked = examples.subset([2, 0]).times
    assert list(picked.raw) == ["2020-05-05", "2262-01-01"] and picked[0] < picked[1]


# -- A7: duplicate keys -------------------------------------------------------------------------------
def test_a_duplicate_top_level_key_is_refused_with_its_line(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  dataset: null\n  train: a.csv\nmodel: {type: tfidf}\ndata: {train: b.csv}\n")
    assert main(["train", str(config), "-o", str(tmp_path / "run")]) == 2
    line = _one_error_line(capsys)
    assert "c.yaml, line 5: duplicate key 'data' (first given on line 1)" in line
    assert not (tmp_path / "run").exists()


def test_a_duplicate_key_inside_a_block_is_refused(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  train: a.csv\n  train: b.csv\n")
    with pytest.raises(ConfigError, match=r"c\.yaml, line 3: duplicate key 'train' \(first given on line 2\)"):
        load_config(config)


def test_merge_keys_may_still_be_overridden():
    from textclf.config import read_yaml

    values = read_yaml("c.yaml", "base: &b {validation_size: 0.1, test_size: 0.2}\nsplit:\n  <<: *b\n  test_size: 0.3\n")
    assert values["split"] == {"validation_size": 0.1, "test_size": 0.3}  # YAML's rule: the explicit key wins


# -- A8: no lax coercion ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, key", [
    ("model: {type: tfidf, C: yes}\n", "model.C: expected a number, got the boolean true"),
    ("model: {type: tfidf, sublinear_tf: 'false'}\n", "model.sublinear_tf: expected true or false"),
    ("refit_full: 'no'\n", "refit_full: expected true or false"),
    ("training: {epochs: true}\n", "training.epochs: expected a number"),
    ("data: {split: {test_size: on}}\n", "data.split.test_size: expected a number"),
])
def test_a_boolean_for_a_number_or_a_string_for_a_boolean_is_refused(tmp_path, capsys, text, key):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    assert main(["train", str(config), "-o", str(tmp_path / "run")]) == 2
    assert key in _one_error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_plain_values_still_load(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("refit_full: auto\ntraining: {epochs: 3, learning_rate: 1}\naudit: false\n"
                      "data: {dataset: rotten-tomatoes, split: {test_size: 0.25}}\n")
    cfg = load_config(config, ["refit_full=false", "training.compile=true"])
    assert cfg.refit_full is False and cfg.training.epochs == 3 and cfg.training.learning_rate == 1.0
    assert cfg.training.compile is True and cfg.audit.enabled is False


# -- B2 and C: -o - and argparse errors ---------------------------------------------------------------
@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("edges")
    data = _time_csv(root / "train.csv", [str(i) for i in range(60)])
    code = main(["train", f"data.train={data}", "data.dataset=null", "model.type=tfidf",
                 "data.split.method=random", "-o", str(root / "run")])
    assert code == 0
    return root


def test_predict_to_dash_means_stdout(model, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["predict", str(model / "run" / "model"), str(model / "train.csv"), "-o", "-"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 60 and json.loads(lines[0])["row"] == 1
    assert not (tmp_path / "-").exists()


def test_dash_is_refused_where_a_verb_writes_only_files(model, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["evaluate", str(model / "run" / "model"), "--data", str(model / "train.csv"), "-o", "-"]) == 2
    assert "-o -: evaluate cannot write to stdout; give a file name" in _one_error_line(capsys)
    assert not (tmp_path / "-").exists()


def test_an_unrecognized_argument_is_not_prefixed_twice(model, capsys):
    capsys.readouterr()
    assert main(["predict", str(model / "run" / "model"), "--no-such-flag"]) == 2
    line = _one_error_line(capsys)
    assert line == "textclf: error: unrecognized arguments: --no-such-flag"
