"""One CLI vocabulary and one output rule (issues 28, 29): every writing verb takes -o/--output and
--overwrite; one flag name means one thing on every verb; no hidden aliases; defaults live once;
an existing output is never replaced without --overwrite; split writes its files as a set; a
rewritten policy.json keeps its mode; a full disk during train leaves nothing behind."""

from __future__ import annotations

import argparse
import errno
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import textclf
from textclf.cli import main
from textclf.cli.parser import _Deprecated, build_parser
from textclf.data.io import examples_frame, write_frame

WRITING_VERBS = {"train", "evaluate", "calibrate", "report", "tune-thresholds", "errors", "explain", "shift",
                 "predict", "export", "audit", "split", "data export", "distill"}
READING_VERBS = {"serve", "verify", "data list"}


def _verbs(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix}{name}"
                nested = _verbs(sub, full + " ")
                found.update(nested if nested else {full: sub})
    return found


def _options(sub: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in sub._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def _kind(action: argparse.Action) -> tuple:
    kind = action.type.__name__ if isinstance(action.type, type) else action.type
    if kind is None and action.nargs != 0 and not isinstance(action, argparse._StoreConstAction):
        kind = "str"  # argparse's own default type
    return (action.dest, type(action).__name__, kind, action.nargs)


# a verb writes when it is one of these, or has any option naming a written file (new verbs too)
WRITE_WORDS = re.compile(r"^--(output|out|overwrite|json|html|save|write|mistakes)\b")


# -- the parser itself ---------------------------------------------------------------------------
def test_every_writing_verb_has_output_and_overwrite():
    verbs = _verbs(build_parser())
    assert WRITING_VERBS | READING_VERBS <= set(verbs)
    for name, sub in verbs.items():
        flags = {flag for action in _options(sub) for flag in action.option_strings}
        writes = name in WRITING_VERBS or any(WRITE_WORDS.match(flag) for flag in flags)
        current = {flag for action in _options(sub) if not isinstance(action, _Deprecated)
                   for flag in action.option_strings}
        assert writes == ({"-o", "--output", "--overwrite"} <= current), name
        assert not (name in READING_VERBS and writes), name
        output = [a.option_strings for a in _options(sub) if a.dest == "output" and not isinstance(a, _Deprecated)]
        assert output == ([["-o", "--output"]] if writes else []), name


def test_one_meaning_per_flag_name_and_no_hidden_alias():
    meanings: dict[str, dict[tuple, str]] = {}
    for name, sub in _verbs(build_parser()).items():
        for action in _options(sub):
            if isinstance(action, _Deprecated):
                continue  # an old spelling, kept one release, says so on use
            assert action.help != argparse.SUPPRESS, f"{name}: hidden option {action.option_strings}"
            for flag in action.option_strings:
                meanings.setdefault(flag, {}).setdefault(_kind(action), name)
    clashes = {flag: kinds for flag, kinds in meanings.items() if len(kinds) > 1}
    assert not clashes, clashes
    assert {"--split-seed", "--bootstrap-seed"} <= set(meanings)
    assert all(kind[2] != "int" for kind in meanings.get("--seed", {})), "a number seed is --split-seed / --bootstrap-seed"
    assert "--output-dir" not in meanings and "--out-dir" not in meanings and "--json" not in meanings


def test_defaults_are_defined_once():
    from textclf.cli import parser as parser_module
    from textclf.config import AuditConfig, SplitConfig
    from textclf.jobs import defaults
    from textclf.jobs.audit import SplitJob, SplitSizes
    from textclf.jobs.inspect import ErrorsOptions, ReportOptions

    source = Path(parser_module.__file__).read_text(encoding="utf-8")
    assert not re.search(r"default=(0\.1|0\.2|0\.8|0\.99|1000)\b", source)
    args = build_parser().parse_args(["split", "d.csv", "-o", "out"])
    assert args.validation_size == SplitConfig().validation_size == SplitSizes().validation_size
    assert args.threshold == AuditConfig().near_threshold == SplitJob("d", "o").threshold
    errors = build_parser().parse_args(["errors", "m"])
    report = build_parser().parse_args(["report", "m"])
    assert errors.bootstrap == report.bootstrap == ErrorsOptions().bootstrap == ReportOptions().bootstrap \
        == defaults.BOOTSTRAP_RESAMPLES


def test_old_spellings_work_once_more_with_one_line(capsys):
    args = build_parser().parse_args(["split", "d.csv", "--out-dir", "out", "--seed", "3", "--method", "random"])
    assert (args.output, args.split_seed, args.split) == ("out", 3, "random")
    args = build_parser().parse_args(["errors", "m", "--seed", "5", "--json", "r.json", "--slice-col", "a",
                                      "--slice-col", "b"])
    assert (args.bootstrap_seed, args.output, args.format, args.slice_column) == (5, "r.json", "json", ["a", "b"])
    args = build_parser().parse_args(["predict", "m", "--output-format", "csv"])
    assert args.format == "csv"
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 8 and all("is deprecated; use" in line for line in err), err


# -- the overwrite rule --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model(tmp_path_factory, rt_binary):
    root = tmp_path_factory.mktemp("vocab")
    write_frame(examples_frame(rt_binary), root / "data.csv")
    assert main(["train", str(root / "data.csv"), "model.type=tfidf", "audit.enabled=false", "-o",
                 str(root / "run")]) == 0
    return root


def _existing(tmp_path: Path, name: str, directory: bool = False) -> Path:
    path = tmp_path / name
    if directory:
        path.mkdir()
        (path / "keep.txt").write_text("hand made", encoding="utf-8")
    else:
        path.write_text("hand made", encoding="utf-8")
    return path


def _verb_writing(verb: str, model: Path, out: Path) -> list[str]:
    m, data = str(model / "run" / "model"), str(model / "data.csv")
    return {
        "train": ["train", data, "model.type=tfidf", "audit.enabled=false"],
        "evaluate": ["evaluate", m], "calibrate": ["calibrate", m], "tune-thresholds": ["tune-thresholds", m],
        "report": ["report", m], "errors": ["errors", m], "explain": ["explain", m, "great film"],
        "shift": ["shift", m], "predict": ["predict", m, data], "export": ["export", m],
        "audit": ["audit", data], "split": ["split", data], "data export": ["data", "export", "rotten-tomatoes"],
        "distill": ["distill", m, "--data", data],
    }[verb] + ["-o", str(out)]


@pytest.mark.parametrize("verb", sorted(WRITING_VERBS))
def test_existing_output_is_refused_without_overwrite(verb, model, tmp_path, capsys):
    directory = verb in ("train", "calibrate", "tune-thresholds", "export", "split", "distill")
    out = _existing(tmp_path, "out", directory)
    if verb == "split":
        (out / "test.csv").write_text("text,label\nhand edited,x\n", encoding="utf-8")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(_verb_writing(verb, model, out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists; pass --overwrite" in err[0], err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_overwrite_replaces_and_keeps_the_mode(model, tmp_path):
    out = _existing(tmp_path, "metrics.json")
    os.chmod(out, 0o640)
    assert main(["evaluate", str(model / "run" / "model"), "-o", str(out), "--overwrite"]) == 0
    assert "accuracy" in out.read_text(encoding="utf-8") and stat.S_IMODE(out.stat().st_mode) == 0o640


def test_calibrate_keeps_the_mode_of_policy_json(model, tmp_path):
    import shutil

    copy = Path(shutil.copytree(model / "run" / "model", tmp_path / "model"))
    os.chmod(copy / "policy.json", 0o664)
    assert main(["calibrate", str(copy)]) == 0
    assert main(["tune-thresholds", str(copy)]) == 0
    assert stat.S_IMODE((copy / "policy.json").stat().st_mode) == 0o664
    assert textclf.load(copy).policy_.thresholds is not None


def test_calibrate_to_a_new_model_directory(model, tmp_path):
    out = tmp_path / "calibrated"
    assert main(["calibrate", str(model / "run" / "model"), "-o", str(out)]) == 0
    assert textclf.load(out).predict(["a great film"]) and (out / "manifest.json").is_file()


# -- split: a set of files, all or none ----------------------------------------------------------
def test_split_under_a_failure_leaves_the_old_set(model, tmp_path, monkeypatch, capsys):
    import textclf.data.io as data_io

    out = tmp_path / "splits"
    out.mkdir()
    (out / "test.csv").write_text("text,label\nhand edited,x\n", encoding="utf-8")
    real = data_io.write_frame

    def full_disk_on_test(frame, path):
        if Path(path).name == "test.csv":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(frame, path)

    monkeypatch.setattr(data_io, "write_frame", full_disk_on_test)
    capsys.readouterr()
    assert main(["split", str(model / "data.csv"), "-o", str(out), "--overwrite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left" in err[0], err
    assert sorted(p.name for p in out.iterdir()) == ["test.csv"]
    assert (out / "test.csv").read_text(encoding="utf-8") == "text,label\nhand edited,x\n"
    monkeypatch.setattr(data_io, "write_frame", real)
    assert main(["split", str(model / "data.csv"), "-o", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["test.csv", "train.csv", "validation.csv"]


def test_a_failed_rename_puts_the_old_files_back(tmp_path, monkeypatch):
    from textclf.errors import DataError
    from textclf.fileio import atomic_file_set

    (tmp_path / "a.txt").write_text("old a", encoding="utf-8")
    real, calls = os.replace, []

    def second_rename_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)

    with pytest.raises(DataError, match="No space left"):
        with atomic_file_set(tmp_path, ["a.txt", "b.txt"], overwrite=True) as staging:
            (staging / "a.txt").write_text("new a", encoding="utf-8")
            (staging / "b.txt").write_text("new b", encoding="utf-8")
            monkeypatch.setattr(os, "replace", second_rename_fails)
    monkeypatch.setattr(os, "replace", real)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "old a"


def test_split_files_honour_the_umask(model, tmp_path):
    old = os.umask(0o027)
    try:
        assert main(["split", str(model / "data.csv"), "-o", str(tmp_path / "s")]) == 0
    finally:
        os.umask(old)
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "s").iterdir()} == {0o640}


# -- train on a full disk, export after a killed run, predict to stdout ---------------------------
def test_train_on_a_full_disk_is_one_line_and_leaves_nothing(model, tmp_path):
    run = tmp_path / "run"
    script = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096)); from textclf.cli import main; "
              f"sys.exit(main(['train', {str(model / 'data.csv')!r}, 'model.type=tfidf', 'audit.enabled=false', "
              f"'-o', {str(run)!r}]))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "File too large" in lines[0] and "Traceback" not in result.stderr, result.stderr
    assert not run.exists() and [p.name for p in tmp_path.iterdir()] == []


def test_export_removes_what_a_killed_export_left(model, tmp_path):
    out = tmp_path / "exported"
    stale = [tmp_path / ".exported.onnx-k1ll3d", tmp_path / ".exported.a1b2.tmp"]
    for directory in stale:
        directory.mkdir()
        (directory / "model.onnx").write_bytes(b"half")
    main(["export", str(model / "run" / "model"), "-o", str(out)])  # tfidf may or may not export: either way
    assert not any(p.exists() for p in stale)


def test_predict_to_stdout_prints_no_row_of_a_chunk_with_a_bad_row(model, tmp_path):
    data = tmp_path / "in.csv"
    data.write_text("text\none\ntwo\nthree\nfour\n\"\"\nsix\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "textclf", "predict", str(model / "run" / "model"), str(data),
                             "--chunk-size", "3"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert len(result.stdout.splitlines()) == 3  # the first chunk; nothing of the second (rows 4-6)
    assert len(result.stderr.strip().splitlines()) == 1 and "row 5," in result.stderr, result.stderr


def test_old_train_resume_directory_becomes_output(capsys):
    from textclf.cli.outputs import upgrade_train_resume

    assert upgrade_train_resume(["train", "c.yaml", "--resume", "runs/a"]) == ["train", "c.yaml", "-o", "runs/a",
                                                                               "--resume"]
    assert "deprecated" in capsys.readouterr().err
    assert upgrade_train_resume(["train", "--resume", "c.yaml"]) == ["train", "--resume", "c.yaml"]


def test_train_user_error_after_the_data_line_is_one_line(model, tmp_path, monkeypatch, capsys):
    from textclf.errors import ModelError

    def refuse(*args, **kwargs):
        raise ModelError("model.x: cannot be fitted here")

    monkeypatch.setattr(textclf.TextClassifier, "fit", refuse)
    capsys.readouterr()
    assert main(["train", str(model / "data.csv"), "model.type=tfidf", "audit.enabled=false", "-o",
                 str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == "textclf: error: model.x: cannot be fitted here\n"
    assert not (tmp_path / "run").exists()


def test_export_refuses_column_flags_it_would_ignore(capsys):
    """export reads texts only (for its parity check): a group, time or id column would change
    nothing, so it is an unknown flag rather than one accepted and silently ignored."""
    export = _verbs(build_parser())["export"]
    flags = {flag for action in _options(export) for flag in action.option_strings}
    assert "--text-column" in flags and not flags & {"--group-column", "--time-column", "--id-column"}
    assert main(["export", "some-model", "-o", "out", "--group-column", "author"]) == 2
    assert "--group-column" in capsys.readouterr().err
