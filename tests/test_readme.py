"""README.md and docs/quickstart.md run as written: their fenced `bash`/`sh` and `python` blocks,
in order, in a fresh working directory that holds what a clone has after `make run`.

The set-up commands the README names (`make ...` lines) are not rerun: the fixture does what
`make run` leaves behind (runs/default/model) with the same command. The fast test checks that
every `textclf` command line parses with today's CLI; the slow ones run everything."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "docs" / "quickstart.md"]
TEXTCLF = ".venv/bin/textclf"


def blocks(page: Path) -> list[tuple[str, str]]:
    """(language, code) of every fenced bash/sh/python block, in page order."""
    found = re.findall(r"^```(bash|sh|python)\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    return [("python" if language == "python" else "bash", code) for language, code in found]


def command_lines(code: str) -> list[str]:
    """Shell commands of a block (continuation lines joined, comments and set-up `make` lines dropped)."""
    joined = code.replace("\\\n", " ")
    lines = [line.split(" #")[0].strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "make "))]


def textclf_argvs(code: str) -> list[list[str]]:
    argvs = []
    for line in command_lines(code):
        for part in line.split("|"):
            words = shlex.split(part)
            if words and words[0] == TEXTCLF:
                argvs.append(words[1:])
    return argvs


def test_every_page_has_runnable_blocks_and_every_command_parses(capsys):
    from textclf.cli.parser import build_parser

    parser = build_parser()
    for page in PAGES:
        page_blocks = blocks(page)
        assert any(language == "python" for language, _ in page_blocks), page.name
        argvs = [argv for language, code in page_blocks if language == "bash" for argv in textclf_argvs(code)]
        assert len(argvs) >= 3, page.name
        for language, code in page_blocks:
            if language == "python":
                compile(code, page.name, "exec")
            for line in command_lines(code) if language == "bash" else []:
                assert "textclf " not in line or TEXTCLF in line, f"{page.name}: {line!r} needs {TEXTCLF}"
        for argv in argvs:
            try:
                args = parser.parse_args(argv)
            except SystemExit as stop:
                raise AssertionError(f"{page.name}: `textclf {shlex.join(argv)}` does not parse") from stop
            legacy = [name for name, value in vars(args).items() if name.startswith("legacy") and value]
            warned = capsys.readouterr().err
            assert not legacy and "deprecated" not in warned, f"{page.name}: `textclf {shlex.join(argv)}`: {warned}"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A directory laid out like a clone after `make run`: configs/, .venv, runs/default/model."""
    directory = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "configs", directory / "configs")
    (directory / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    run_bash("HF_HUB_OFFLINE=1 .venv/bin/textclf train configs/default.yaml", directory, "make run")
    assert (directory / "runs" / "default" / "model").is_dir()
    return directory


def run_bash(code: str, cwd: Path, where: str) -> None:
    script = "\n".join(command_lines(code))
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, f"{where} fails (exit {done.returncode}):\n{script}\n{done.stderr[-3000:]}"


def run_page(page: Path, cwd: Path) -> None:
    for number, (language, code) in enumerate(blocks(page), start=1):
        where = f"{page.relative_to(ROOT)} block {number}"
        if language == "bash":
            run_bash(code, cwd, where)
            continue
        done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=900,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert done.returncode == 0, f"{where} fails:\n{done.stderr[-3000:]}"


@pytest.mark.slow
def test_readme_runs_verbatim(workdir):
    run_page(ROOT / "README.md", workdir)
    assert (workdir / "predictions.csv").is_file() and (workdir / "my-model").is_dir()


@pytest.mark.slow
def test_quickstart_runs_verbatim(workdir):
    run_page(ROOT / "docs" / "quickstart.md", workdir)
