"""Outputs are safe: modes follow the umask, one writer per output, no silent replacement,
resumes that match what they continue, and every output problem is one line and exit code 2."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from textclf import TextClassifier
from textclf.cli import main
from textclf.data.io import examples_frame, write_frame
from textclf.errors import DataError
from textclf.fileio import (
    atomic_directory,
    atomic_file,
    check_output,
    check_writable,
    current_umask,
    lock_path,
    output_lock,
    write_json,
)
from textclf.serving.predict import PredictOptions, manifest_path, partial_path, predict_file


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def models(tmp_path_factory, rt_small):
    """Two TF-IDF models trained on different halves: same config, other weights."""
    root = tmp_path_factory.mktemp("models")
    paths = []
    for name, rows in (("a", range(0, 600, 2)), ("b", range(1, 600, 2))):
        TextClassifier(model={"type": "tfidf"}).fit(rt_small.subset(rows)).save(root / name)
        paths.append(root / name)
    return paths


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, rt_small):
    root = tmp_path_factory.mktemp("inputs")
    first, second = root / "in.csv", root / "other.csv"
    write_frame(examples_frame(rt_small.subset(range(0, 120))), first)
    write_frame(examples_frame(rt_small.subset(range(120, 240))), second)
    return first, second


@pytest.fixture
def umask():
    """Set the process umask for one test, and restore it."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


def one_error_line(capsys) -> str:
    """The CLI's stderr: exactly one line, `textclf: error: ...`; returns it."""
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("textclf: error: ")
    return lines[0]


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def listing(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def interrupted_run(model_dir, input_path, output, after_chunks: int, **options) -> None:
    """A predict run killed (KeyboardInterrupt) after `after_chunks` chunks of 10 rows."""
    clf = TextClassifier.load(model_dir)
    calls = []

    def logits(texts):
        if len(calls) == after_chunks:
            raise KeyboardInterrupt
        calls.append(len(texts))
        return clf.logits(texts)

    with pytest.raises(KeyboardInterrupt):
        predict_file(clf, input_path, output, PredictOptions(chunk_size=10, progress=False, **options),
                     logits_fn=logits, model_path=model_dir)
    assert partial_path(output).is_file() and manifest_path(output).is_file()


# -- modes follow the umask ----------------------------------------------------------------------
@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                     (0o002, 0o664, 0o775)])
def test_written_files_and_directories_follow_the_umask(tmp_path, umask, rt_small, mask, file_mode, dir_mode):
    umask(mask)
    assert current_umask() == mask
    with atomic_file(tmp_path / "a.txt") as handle:
        handle.write("x")
    write_json(tmp_path / "b.json", {"a": 1})
    with atomic_directory(tmp_path / "run") as tmp:
        (tmp / "inside.txt").write_text("y")
    assert mode(tmp_path / "a.txt") == mode(tmp_path / "b.json") == file_mode
    assert mode(tmp_path / "run") == dir_mode and mode(tmp_path / "run" / "inside.txt") == file_mode
    assert current_umask() == mask  # reading it changed nothing


def test_a_saved_model_and_a_prediction_file_are_readable_by_others_under_umask_022(tmp_path, umask, rt_small,
                                                                                      inputs):
    umask(0o022)
    model = TextClassifier(model={"type": "tfidf"}).fit(rt_small.subset(range(0, 300))).save(tmp_path / "m")
    assert mode(model) == 0o755
    assert {mode(p) for p in model.rglob("*") if p.is_file()} == {0o644}
    assert main(["predict", str(model), str(inputs[0]), "-o", str(tmp_path / "out.csv")]) == 0
    assert mode(tmp_path / "out.csv") == 0o644
    assert listing(tmp_path) == ["m", "out.csv"]  # no lock, partial or manifest left behind


# -- one writer per output -----------------------------------------------------------------------
def test_a_second_writer_gets_one_line_and_the_first_is_untouched(tmp_path, models, inputs, capsys):
    out = tmp_path / "o.csv"
    with output_lock(out):
        assert lock_path(out).exists()
        assert main(["predict", str(models[0]), str(inputs[0]), "-o", str(out)]) == 2
        line = one_error_line(capsys)
        assert line == f"textclf: error: {out}: another textclf process is writing this output"
        assert listing(tmp_path) == [lock_path(out).name]  # no output, no 0-byte .partial
        with pytest.raises(DataError, match="another textclf process"):
            with atomic_file(out, lock=True):
                pass
    assert listing(tmp_path) == []  # released: the sidecar is removed
    assert main(["predict", str(models[0]), str(inputs[0]), "-o", str(out)]) == 0
    assert listing(tmp_path) == ["o.csv"]


def test_the_lock_holds_across_processes_and_dies_with_its_holder(tmp_path, models, inputs, capsys):
    out = tmp_path / "o.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from textclf.fileio import output_lock
            with output_lock({str(out)!r}):
                print("held", flush=True)
                sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["predict", str(models[0]), str(inputs[0]), "-o", str(out)]) == 2
        assert "another textclf process is writing this output" in one_error_line(capsys)
    finally:
        holder.kill()  # killed, not released: the kernel drops the flock with the process
        holder.wait(timeout=10)
    assert main(["predict", str(models[0]), str(inputs[0]), "-o", str(out)]) == 0
    assert not lock_path(out).exists()


# -- no silent replacement -----------------------------------------------------------------------
def test_a_finished_output_is_replaced_only_with_overwrite(tmp_path, models, inputs, capsys):
    out = tmp_path / "o.csv"
    assert main(["predict", str(models[0]), str(inputs[0]), "-o", str(out)]) == 0
    capsys.readouterr()
    first = out.read_bytes()
    assert main(["predict", str(models[1]), str(inputs[0]), "-o", str(out)]) == 2
    assert one_error_line(capsys) == f"textclf: error: {out} exists; pass --overwrite to replace it"
    assert out.read_bytes() == first and listing(tmp_path) == ["o.csv"]
    assert main(["predict", str(models[1]), str(inputs[0]), "-o", str(out), "--overwrite"]) == 0
    assert out.read_bytes() != first  # the other model's predictions
    capsys.readouterr()
    assert main(["predict", str(models[0]), str(inputs[0]), "-o", str(out), "--resume"]) == 2
    assert "exists; pass --overwrite" in one_error_line(capsys)  # a finished output is not resumed


def test_fileio_overwrite_and_directory_guards(tmp_path):
    write_json(tmp_path / "a.json", {"v": 1})
    with pytest.raises(DataError, match=r"a.json exists; pass --overwrite"):
        write_json(tmp_path / "a.json", {"v": 2}, overwrite=False)
    assert json.loads((tmp_path / "a.json").read_text()) == {"v": 1}
    (tmp_path / "file").write_text("a file, not a run directory")
    with pytest.raises(DataError, match="exists and is not a directory"):
        with atomic_directory(tmp_path / "file"):
            pass
    assert (tmp_path / "file").read_text() == "a file, not a run directory"
    with pytest.raises(DataError, match="is a directory; give a file name"):
        write_json(tmp_path, {})
    with pytest.raises(DataError, match=r"exists; pass --overwrite"):
        with atomic_directory(tmp_path / "run2", overwrite=False) as tmp:
            (tmp / "mine").write_text("x")
            with atomic_directory(tmp_path / "run2") as other:  # someone else finishes first
                (other / "theirs").write_text("y")
    assert listing(tmp_path / "run2") == ["theirs"]
    with pytest.raises(DataError, match=r"exists; pass --overwrite"):
        with atomic_file(tmp_path / "b.txt", overwrite=False) as handle:
            handle.write("mine")
            (tmp_path / "b.txt").write_text("theirs")
    assert (tmp_path / "b.txt").read_text() == "theirs"
    assert listing(tmp_path) == ["a.json", "b.txt", "file", "run2"]  # temporaries removed


# -- resumes match what they continue ------------------------------------------------------------
def test_resume_refuses_another_model_another_input_or_a_changed_input(tmp_path, models, inputs, capsys):
    full = tmp_path / "full.jsonl"
    assert main(["predict", str(models[0]), str(inputs[0]), "-o", str(full)]) == 0
    out = tmp_path / "o.jsonl"
    interrupted_run(models[0], inputs[0], out, after_chunks=3)
    partial = partial_path(out)
    kept = partial.read_bytes()
    assert kept.count(b"\n") == 30
    capsys.readouterr()

    cases = [
        ([str(models[1]), str(inputs[0])], "the model differs (other weights, labels, calibration or thresholds)"),
        ([str(models[0]), str(inputs[1])], f"the input differs ({inputs[0].resolve()} then, {inputs[1].resolve()} now)"),
        ([str(models[0]), str(inputs[0]), "--text-column", "label"], "option text_column differs ('text' then, 'label' now)"),
    ]
    for args, reason in cases:
        assert main(["predict", *args, "-o", str(out), "--resume"]) == 2
        line = one_error_line(capsys)
        assert line == f"textclf: error: {partial}: cannot resume: {reason}; delete it or run without --resume"
        assert partial.read_bytes() == kept and not out.exists()  # the partial is kept for the right run

    assert main(["predict", str(models[0]), str(inputs[0]), "-o", str(out), "--resume"]) == 0
    assert "30 kept from an earlier run" in capsys.readouterr().err
    assert out.read_bytes() == full.read_bytes()
    assert listing(tmp_path) == ["full.jsonl", "o.jsonl"]

    changed = tmp_path / "changed.csv"
    changed.write_bytes(inputs[0].read_bytes())
    out2 = tmp_path / "o2.jsonl"
    interrupted_run(models[0], changed, out2, after_chunks=2)
    with open(changed, "ab") as handle:
        handle.write(b"appended text,fresh\n")
    assert main(["predict", str(models[0]), str(changed), "-o", str(out2), "--resume"]) == 2
    assert f"the input file {changed.resolve()} changed since" in one_error_line(capsys)


def test_resume_refuses_a_partial_without_a_manifest_and_a_tuned_threshold_counts(tmp_path, models, inputs, capsys):
    out = tmp_path / "o.csv"
    partial_path(out).write_text("row,label\n1,fresh\n")
    assert main(["predict", str(models[0]), str(inputs[0]), "-o", str(out), "--resume"]) == 2
    assert "cannot resume: no manifest o.csv.partial.manifest beside it" in one_error_line(capsys)
    partial_path(out).unlink()

    clf = TextClassifier.load(models[0])
    interrupted_run(models[0], inputs[0], out, after_chunks=1)
    tuned = TextClassifier.load(models[0])  # same files, another decision policy
    tuned.set_min_labels(1)
    with pytest.raises(DataError, match="cannot resume: the model differs"):
        predict_file(tuned, inputs[0], out, PredictOptions(resume=True, progress=False), model_path=models[0])
    summary = predict_file(clf, inputs[0], out, PredictOptions(resume=True, progress=False), model_path=models[0])
    assert summary.resumed_rows == 10 and summary.rows == 120


# -- output problems: one line, exit 2, nothing left behind --------------------------------------
def test_output_naming_a_directory_is_one_line_and_leaves_nothing(tmp_path, models, inputs, capsys):
    target = tmp_path / "outdir"
    target.mkdir()
    assert main(["predict", str(models[0]), str(inputs[0]), "-o", str(target)]) == 2
    assert one_error_line(capsys) == f"textclf: error: {target}: is a directory; give a file name"
    assert listing(tmp_path) == ["outdir"] and listing(target) == []


def test_output_under_a_regular_file_is_one_line(tmp_path, models, inputs, capsys):
    (tmp_path / "plain").write_text("not a directory")
    out = tmp_path / "plain" / "sub" / "o.csv"
    assert main(["predict", str(models[0]), str(inputs[0]), "-o", str(out)]) == 2
    assert one_error_line(capsys) == f"textclf: error: {out}: cannot create it, {tmp_path / 'plain'} is not a directory"
    assert listing(tmp_path) == ["plain"]
    with pytest.raises(DataError, match="is not a directory"):
        write_json(out, {})
    with pytest.raises(DataError, match="is not a directory"):
        check_writable(out)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_output_directory_is_one_line_before_any_work(tmp_path, models, inputs, capsys):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert main(["predict", str(models[0]), str(inputs[0]), "-o", str(locked / "o.csv")]) == 2
        assert "cannot write in" in one_error_line(capsys)
        with pytest.raises(DataError, match="cannot write in"):
            write_json(locked / "x.json", {})
    finally:
        locked.chmod(0o755)
    assert listing(locked) == []


def test_check_output_names_the_path(tmp_path):
    assert check_output(tmp_path / "new" / "deeper" / "o.csv") == tmp_path / "new" / "deeper" / "o.csv"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    (tmp_path / "o.csv").write_text("x")
    with pytest.raises(DataError, match=r"o.csv exists; pass --overwrite to replace it"):
        check_output(tmp_path / "o.csv")
    assert check_output(tmp_path / "o.csv", overwrite=True)
    with pytest.raises(DataError, match="exists and is not a directory"):
        check_output(tmp_path / "o.csv", overwrite=True, directory=True)


def test_a_bad_row_after_resume_removes_partial_and_manifest(tmp_path, models, rt_small, capsys):
    frame = examples_frame(rt_small.subset(range(0, 60)))
    frame.loc[45, "text"] = "   "
    bad = tmp_path / "bad.csv"
    write_frame(frame, bad)
    out = tmp_path / "o.jsonl"
    interrupted_run(models[0], bad, out, after_chunks=2)
    assert main(["predict", str(models[0]), str(bad), "-o", str(out), "--resume"]) == 2
    assert 'row 46, column "text"' in one_error_line(capsys)
    assert listing(tmp_path) == ["bad.csv"]  # no output, no .partial (empty or not), no manifest


def test_an_os_error_while_writing_is_one_line_naming_the_path(tmp_path, models, inputs, capsys, monkeypatch):
    import errno

    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system", str(dst))

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(DataError, match=r"b.json: cannot write \(Read-only file system\)"):
        write_json(tmp_path / "b.json", {})
    out = tmp_path / "o.csv"
    assert main(["predict", str(models[0]), str(inputs[0]), "-o", str(out)]) == 2
    assert "cannot write (Read-only file system)" in one_error_line(capsys)
    assert listing(tmp_path) == []  # no temporary, partial, manifest or lock left
