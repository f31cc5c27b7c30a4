"""`textclf explain`, `predict --explain K` and the report's tokens-behind-mistakes section."""

from __future__ import annotations

import json

import pytest

from textclf.cli import main
from textclf.data.io import examples_frame, write_frame


@pytest.fixture(scope="module")
def trained(tmp_path_factory, rt_small):
    root = tmp_path_factory.mktemp("explain_cli")
    data = root / "rt.csv"
    write_frame(examples_frame(rt_small.subset(range(500))), data)
    assert main(["train", f"data.train={data}", "audit=false", "model.type=tfidf", "model.C=10", f"output_dir={root / 'run'}"]) == 0
    return root, root / "run" / "model", data


def test_explain_verb_prints_and_writes(trained, capsys):
    root, model, _ = trained
    assert main(["explain", str(model), "a tender, funny and moving film", "dull and lifeless"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "(p=" in out[0]
    assert main(["explain", str(model), "--data", "test", "--limit", "40", "-o", str(root / "e.jsonl")]) == 0
    rows = [json.loads(line) for line in (root / "e.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and all(abs(sum(t["attribution"] for t in r["tokens"]) + r["base_value"] - r["score"])
                                   < 1e-4 for r in rows)
    assert main(["explain", str(model), "--data", "test", "--limit", "40", "-o", str(root / "e.html")]) == 0
    assert "textclf-explain" in (root / "e.html").read_text()


def test_predict_explain_adds_the_top_tokens(trained, capsys):
    root, model, data = trained
    assert main(["predict", str(model), str(data), "-o", str(root / "p.jsonl"), "--explain", "3"]) == 0
    rows = [json.loads(line) for line in (root / "p.jsonl").read_text().splitlines()]
    assert len(rows) == 500 and all("explanation" in r for r in rows)
    assert sum(1 for r in rows if r["explanation"]) > 450
    first = rows[0]["explanation"].split()
    assert 1 <= len(first) <= 3 and all(":" in t for t in first)


def test_report_shows_tokens_behind_mistakes(trained):
    root, model, _ = trained
    assert main(["report", str(model), "-o", str(root / "report.html"), "--bootstrap", "50"]) == 0
    page = (root / "report.html").read_text()
    assert "Tokens behind mistakes" in page and "could not be built" not in page
