"""Corrupt every file of a saved model, one way at a time: loading and predicting must end in
exit code 2 with one line on stderr, or succeed with exactly the original predictions. Never a
traceback, never exit 0 with different answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from textclf import TextClassifier
from textclf.cli import main
from textclf.data.io import examples_frame, write_frame

TINY = {"embedding_dim": 8, "max_length": 24, "tokenizer": {"vocab_size": 300}}
TRAINING = {"epochs": 1, "batch_size": 32, "progress": False}
MODELS = {
    "tfidf": {"type": "tfidf", "min_df": 2},
    "bag": {"type": "bag", **TINY},
    "cnn": {"type": "cnn", "num_filters": 4, "kernel_sizes": [2], **TINY},
    "rnn": {"type": "rnn", "hidden_size": 8, **TINY},
    "transformer": {"type": "transformer", "num_heads": 2, "num_layers": 1, "ff_dim": 16, **TINY},
}


def corruptions(path: Path):
    """(name, new bytes) for one file: truncated, garbage, and for JSON empty / wrong types / reordered."""
    data = path.read_bytes()
    yield "truncated", data[: len(data) // 2]
    yield "garbage", b"\x00\xff not what was here \xfe" * 3
    if path.suffix == ".json":
        yield "empty object", b"{}"
        yield "a list", b"[]"
        yield "a string", b'"x"'
        try:
            value = json.loads(data)
        except json.JSONDecodeError:
            return
        if isinstance(value, dict) and isinstance(value.get("labels"), list):
            yield "labels reversed", json.dumps({**value, "labels": value["labels"][::-1]}).encode()
            yield "label added", json.dumps({**value, "labels": value["labels"] + ["zzz"]}).encode()
        if isinstance(value, dict):
            for key in list(value)[:6]:
                yield f"{key} wrong type", json.dumps({**value, key: 12345}).encode()
                yield f"{key} removed", json.dumps({k: v for k, v in value.items() if k != key}).encode()


def _predict(model: Path, data: Path, out: Path, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["predict", str(model), str(data), "-o", str(out), "--overwrite"])
    captured = capsys.readouterr()
    return code, captured.err, out.read_text() if code == 0 else ""


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, rt_small) -> Path:
    from test_pretrained import make_tiny_bert

    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), rt_small.texts, hidden=16, layers=1,
                          vocab_words=400)


def _saved(name: str, directory: Path, rt_small, tiny_bert: Path) -> Path:
    """A small saved model of type `name` (calibrated, so policy.json is not empty)."""
    if name == "onnx":
        from textclf.serving.onnx_export import export_onnx

        source = _saved("cnn", directory.parent / "onnx-source", rt_small, tiny_bert)
        export_onnx(TextClassifier.load(source), directory, sample_texts=rt_small.texts[:8])
        return directory
    model = {"pretrained": {"type": "pretrained", "name_or_path": str(tiny_bert), "max_length": 24},
             "embedding": {"type": "embedding", "name_or_path": str(tiny_bert), "max_length": 24, "C": 1.0,
                           "cache": False},
             "ensemble": {"type": "ensemble", "members": [MODELS["tfidf"], {"type": "tfidf", "C": 4.0}],
                          "weights": [0.5, 0.5]}}.get(name) or MODELS[name]
    clf = TextClassifier(model=model, training=TRAINING).fit(rt_small.subset(range(0, 600, 3)))
    clf.calibrate(rt_small.subset(range(1, 600, 6)))
    return clf.save(directory)


@pytest.mark.slow
@pytest.mark.parametrize("name", [*sorted(MODELS), "pretrained", "embedding", "ensemble", "onnx"])
def test_every_corruption_is_refused_in_one_line_or_harmless(name, tmp_path, rt_small, tiny_bert, capsys):
    original = _saved(name, tmp_path / "model", rt_small, tiny_bert)
    data = tmp_path / "in.csv"
    write_frame(examples_frame(rt_small.subset(range(2, 600, 12))), data)
    code, err, expected = _predict(original, data, tmp_path / "expected.jsonl", capsys)
    assert code == 0, err
    checked = 0
    for target in sorted(p for p in original.rglob("*") if p.is_file()):
        relative = target.relative_to(original)
        for kind, content in corruptions(target):
            broken = tmp_path / "broken"
            shutil.rmtree(broken, ignore_errors=True)
            shutil.copytree(original, broken)
            (broken / relative).write_bytes(content)
            code, err, got = _predict(broken, data, tmp_path / "got.jsonl", capsys)
            where = f"{relative} {kind}"
            assert "Traceback" not in err, where
            if code == 0:
                assert got == expected, f"{where}: exit 0 with changed predictions"
            else:
                assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("textclf: error:"), \
                    f"{where}: exit {code}: {err}"
            checked += 1
    assert checked > 20
