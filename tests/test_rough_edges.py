"""Rough edges a newcomer hits (issue 18), each pinned: one-line tune-thresholds warnings, blank
stdin lines named, a cheap row estimate for progress ETAs, the sign of a worst slice's gap, a
low-power shift warning, time-leakage advice that fits a supplied test file and readable dates,
export advice that fits the model type, the report's mistake tables, and ECE intervals that
contain their estimate."""

from __future__ import annotations

import dataclasses
import io
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from textclf import TextClassifier
from textclf.analysis import analyze_errors, analyze_shift, errors_html, format_report, format_shift
from textclf.analysis.errors import ErrorSettings, _margin
from textclf.audit.leakage import format_time, time_leakage
from textclf.cli import main
from textclf.data import Examples
from textclf.data.io import estimate_rows, examples_frame, stream_texts, write_frame
from textclf.data.splits import split_examples
from textclf.errors import ModelError
from textclf.evaluation.bootstrap import headline_intervals, percentile_interval, single_label_statistics
from textclf.evaluation.calibration import calibrated_probabilities, fit_calibration
from textclf.evaluation.metrics import confidence_and_outcome, expected_calibration_error


@pytest.fixture(scope="module")
def parts(rt_small):
    return split_examples(rt_small, "stratified", validation_size=0.2, test_size=0.3, seed=0)


@pytest.fixture(scope="module")
def tfidf(parts):
    return TextClassifier(model={"type": "tfidf"}).fit(parts.train)


# -- tune-thresholds: warnings as `textclf: warning:` lines, never raw Python warnings --------------
def test_tune_thresholds_warnings_are_single_textclf_lines(rt_small, tmp_path, capsys):
    rows = [(t, [label] + (["long"] if len(t) > 120 else [])) for t, label in zip(rt_small.texts, rt_small.labels)]
    train = pd.DataFrame({"text": [t for t, _ in rows[:450]], "label": [labels for _, labels in rows[:450]]})
    # validation without a single "plot" row: that label's threshold cannot be tuned -> a warning
    kept = [(t, labels) for t, labels in rows[450:] if "plot" not in labels]
    validation = pd.DataFrame({"text": [t for t, _ in kept], "label": [labels for _, labels in kept]})
    write_frame(train, tmp_path / "train.csv")
    write_frame(validation, tmp_path / "val.csv")
    assert main(["train", f"data.train={tmp_path / 'train.csv'}", "task=multi_label", "model.type=tfidf",
                 "audit=false", "data.split.test_size=0.0", f"output_dir={tmp_path / 'run'}"]) == 0
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["tune-thresholds", str(tmp_path / "run" / "model"), "--data", str(tmp_path / "val.csv")]) == 0
    err = capsys.readouterr().err
    assert not [w for w in caught if "threshold" in str(w.message).lower()]  # nothing escaped as a raw warning
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and all(line.startswith("textclf: warning: ") for line in lines), err
    assert any("plot" in line for line in lines) and ".py:" not in err and "ThresholdWarning" not in err


# -- stdin: blank lines are skipped out loud, rows keep their line numbers --------------------------
def test_blank_stdin_lines_are_named_on_stderr(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("first text\n\n   \nsecond text\r\nthird\n"))
    chunks = list(stream_texts("-", chunk_size=2))
    assert [t for c in chunks for t in c.texts] == ["first text", "second text", "third"]
    assert [r for c in chunks for r in c.rows] == [1, 4, 5]
    assert sum(c.skipped for c in chunks) == 2
    err = capsys.readouterr().err
    assert "textclf: warning: <stdin>: skipped 2 blank lines (lines 2, 3)" in err


def test_stdin_without_blank_lines_says_nothing(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("one\ntwo\n"))
    assert [r for c in stream_texts("-") for r in c.rows] == [1, 2]
    assert capsys.readouterr().err == ""


# -- a cheap row count for a progress bar's total (ETA) ------------------------------------------------
def test_estimate_rows_for_progress(rt_small, tmp_path):
    one_line = rt_small.subset(range(50))
    frame = examples_frame(dataclasses.replace(one_line, texts=[" ".join(t.split()) for t in one_line.texts]))
    for suffix in ("csv", "tsv", "jsonl", "parquet"):
        path = tmp_path / f"data.{suffix}"
        write_frame(frame, path)
        assert estimate_rows(path) == 50, suffix
    (tmp_path / "no-newline.csv").write_text("text\na\nb")
    assert estimate_rows(tmp_path / "no-newline.csv") == 2
    assert estimate_rows("-") is None and estimate_rows(tmp_path / "missing.csv") is None
    assert estimate_rows(tmp_path / "data.csv", max_bytes=10) is None


# -- errors: a slice below overall shows a negative gap -------------------------------------------------
def test_worst_slices_below_overall_show_a_negative_gap(tfidf, parts):
    report = analyze_errors(tfidf, parts.test, settings=ErrorSettings(min_slice_size=10, n_resamples=50))
    assert report.worst
    for w in report.worst:
        assert w["accuracy"] < report.accuracy and w["accuracy_gap"] == pytest.approx(
            w["accuracy"] - report.accuracy, abs=1e-4) and w["accuracy_gap"] < 0
    console = format_report(report)
    first = report.worst[0]
    assert f"{first['accuracy_gap']:+.3f}" in console and f"{first['accuracy_gap']:+.3f}".startswith("-")
    assert "negative = worse" in console
    html = errors_html(report)
    assert f"{first['accuracy_gap']:+.3f}" in html and ">vs all<" in html


# -- report: confident mistakes once, margins that are not all 0.00 ---------------------------------
def test_error_section_can_leave_confident_mistakes_to_the_report(tfidf, parts):
    report = analyze_errors(tfidf, parts.test, settings=ErrorSettings(n_resamples=20, confident=0.5))
    confident = [m for m in report.mistakes if m["kind"] == "confident"]
    assert confident
    full, short = errors_html(report), errors_html(report, confident_table=False)
    row = f"<td>{confident[0]['row']}</td>"
    confident_part = full.split("<h3>Confident mistakes</h3>", 1)[1].split("<h3>", 1)[0]
    assert row in confident_part
    short_part = short.split("<h3>Confident mistakes</h3>", 1)[1].split("<h3>", 1)[0]
    assert "<table>" not in short_part and "Most confident mistakes" in short_part


def test_uncertain_margins_are_shown_with_their_digits(tfidf, parts):
    assert (_margin(0.0004), _margin(0.0123), _margin(0.0)) == ("4.0e-04", "0.012", "0.000")
    report = analyze_errors(tfidf, parts.test, settings=ErrorSettings(n_resamples=20, ambiguous_margin=0.3))
    uncertain = sorted((m for m in report.mistakes if m["kind"] == "uncertain"), key=lambda m: m["margin"])[:5]
    assert uncertain
    section = errors_html(report).split("<h3>Uncertain mistakes</h3>", 1)[1].split("<h3>", 1)[0]
    for m in uncertain:
        assert f"<td>{_margin(m['margin'])}</td>" in section and f"<td>{m['gold_probability']:.3f}</td>" in section


# -- shift: a small reference gets a low-power warning -------------------------------------------------
def test_shift_on_a_small_reference_warns_of_low_power(tfidf, parts, rotten_tomatoes):
    small = parts.validation.subset(range(22))
    report = analyze_shift(tfidf, small, parts.test)
    assert report.low_power and report.warnings and "22 rows" in report.warnings[0]
    text = format_shift(report)
    assert text.splitlines()[1].startswith("warning: low power: the reference has 22 rows")
    assert report.to_dict()["low_power"] is True
    big = rotten_tomatoes.subset(range(0, 13000, 40))  # 325 rows
    assert not analyze_shift(tfidf, big, parts.test).warnings


# -- time leakage: advice that fits a supplied test file; dates as dates --------------------------------
def test_time_leakage_advice_for_a_supplied_test_file_and_readable_dates(rt_small):
    days = np.datetime64("2017-01-01") + np.arange(len(rt_small)).astype("timedelta64[D]")
    dated = dataclasses.replace(rt_small, times=days.astype("datetime64[ns]"), source="train.csv")
    time_split = split_examples(dated.subset(range(400)), "time", 0.2, 0.0, seed=0)
    # the test file the user supplied covers dates inside the training period
    test_file = dataclasses.replace(dated.subset(range(300, 600)), source="test.csv")
    leak = time_leakage({"train": time_split.train, "validation": time_split.validation, "test": test_file})
    assert leak.early == {"validation": 0, "test": 20}
    assert leak.train_end == "2017-11-16"  # day 319, not 2017-11-16T00:00:00.000000000
    assert "data.split.method: time" not in leak.suggestion  # the split is already by time: no repeat
    assert "test.csv" in leak.suggestion and "2017-10-28" in leak.suggestion  # the test file's first day
    # split from the same data with a random split: the time split is the fix
    random = split_examples(dated, "random", 0.1, 0.2, seed=0)
    leak = time_leakage({"train": random.train, "validation": random.validation, "test": random.test})
    assert "data.split.method: time" in leak.suggestion and "own file" not in leak.suggestion
    assert format_time(np.datetime64("2017-12-11T08:30:00")) == "2017-12-11 08:30:00"
    assert format_time(np.int64(2017)) == "2017"


# -- export: the advice fits the model type --------------------------------------------------------------
def test_hf_export_of_tfidf_is_refused_naming_the_format_that_works(tfidf, tmp_path):
    """TF-IDF has no transformer encoder for a Hugging Face directory, but it does export to ONNX
    (tests/test_export_all.py): the one-line refusal says so and writes nothing."""
    from textclf.serving.hf_export import export_hf

    with pytest.raises(ModelError) as caught:
        export_hf(tfidf, tmp_path / "hf")
    message = str(caught.value)
    assert "\n" not in message and "--format onnx" in message
    assert not (tmp_path / "hf").exists()


# -- ECE intervals contain their estimate (isotonic calibration) -------------------------------------
def test_isotonic_ece_lies_inside_its_bootstrap_interval(rt_binary):
    clf = TextClassifier(model={"type": "tfidf", "C": 20.0}).fit(rt_binary.subset(range(0, 600, 2)))
    test = rt_binary.subset(range(1, 600, 2))
    logits = clf.logits(test)
    targets = np.asarray(clf.label_map.encode(test))
    # isotonic fitted on the rows it is scored on: a near-zero ECE, below every resample's ECE
    calibration = fit_calibration(logits, targets, "isotonic", False)
    probs = calibrated_probabilities(logits, calibration, False)
    decisions = probs.argmax(axis=1)
    ece = expected_calibration_error(*confidence_and_outcome(targets, probs, False))
    result = headline_intervals(targets, probs, decisions, False, n_resamples=200, seed=0)
    low, high = result["intervals"]["ece"]
    assert low <= ece <= high and high - low > 0
    assert result["bootstrap"]["bias_corrected"] == ["ece"]
    # the plain percentile interval of the same resamples misses the estimate
    statistic = single_label_statistics(targets, probs, decisions)["ece"]
    assert statistic(np.arange(len(targets))) == pytest.approx(ece)
    rng = np.random.default_rng(0)
    draws = [statistic(rng.integers(0, len(targets), size=len(targets))) for _ in range(200)]
    plain_low, _ = percentile_interval(draws)
    assert ece < plain_low
    # other metrics keep their percentile interval, which contains their estimate
    accuracy = float(np.mean(decisions == targets))
    acc_low, acc_high = result["intervals"]["accuracy"]
    assert acc_low <= accuracy <= acc_high


def test_predict_progress_has_rate_and_eta_without_a_terminal(tmp_path, rt_small, capsys):
    from textclf import TextClassifier
    from textclf.cli import main
    from textclf.data.io import examples_frame, write_frame

    model = TextClassifier().fit(rt_small.subset(range(300))).save(tmp_path / "model")
    write_frame(examples_frame(rt_small), tmp_path / "in.csv")
    capsys.readouterr()
    assert main(["predict", str(model), str(tmp_path / "in.csv"), "-o", str(tmp_path / "p.csv"), "--progress"]) == 0
    err = capsys.readouterr().err
    bars = [line for line in err.splitlines() if line.startswith("predict:")]
    assert bars and "\r" not in err
    assert "rows/s" in bars[-1] and "%|" in bars[-1] and "<" in bars[-1]  # rate, share done, ETA
