"""The documentation site builds with `mkdocs build --strict` (no warning: every nav page exists,
every link and anchor resolves, every API docstring renders), and the README stays a short front
page whose links point at real files. The build needs the `docs` extra; where it is not installed
the build test skips, except under CI=true (.ci/run installs the extra)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _docs_tools() -> bool:
    return all(importlib.util.find_spec(name) is not None
               for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"))


def test_mkdocs_strict_build(tmp_path):
    if not _docs_tools():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI=true but the docs extra is not installed (.ci/run installs it)")
        pytest.skip("the docs extra (mkdocs, mkdocs-material, mkdocstrings) is not installed")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert "textclf.classifier.TextClassifier.fit" in api  # the API reference came from the docstrings
    for page in ("data", "audit", "models", "training", "long-documents", "evaluation", "serving", "benchmarks",
                 "reference/cli", "reference/config"):
        assert (site / page / "index.html").is_file(), page


def test_readme_is_short_and_its_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    assert "## Which model?" in readme and "NOTICE" in readme and "CC BY 4.0" in readme
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if not t.startswith(("http://", "https://", "mailto:"))]
    assert local, "the README links to the docs"
    for target in local:
        assert (ROOT / target).exists(), f"README links to a missing file: {target}"
    assert (ROOT / "NOTICE").read_text(encoding="utf-8").count("CC BY 4.0") >= 1


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.slow
def test_the_from_python_page_runs(tmp_path, monkeypatch):
    """Every Python block of docs/python.md, in order, in one namespace, as a reader would run them."""
    blocks = python_blocks(ROOT / "docs" / "python.md")
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for number, block in enumerate(blocks, start=1):
        try:
            exec(compile(block, f"docs/python.md block {number}", "exec"), namespace)
        except Exception as err:  # the block's number makes the failure easy to find
            raise AssertionError(f"docs/python.md block {number} fails: {type(err).__name__}: {err}") from err
    assert (tmp_path / "runs" / "from-python" / "model" / "policy.json").is_file()
