"""A model saved from Python remembers its columns; predict finds the one obvious text column."""

from __future__ import annotations

import json

from textclf import TextClassifier, load
from textclf.cli import main
from textclf.data.io import Columns, read_examples


def test_python_trained_model_predicts_a_file_with_its_columns(tmp_path, rt_small, capsys):
    import pandas as pd

    part = rt_small.subset(range(300))
    frame = pd.DataFrame({"review": part.texts, "sentiment": part.labels, "n": range(300)})
    frame.to_csv(tmp_path / "reviews.csv", index=False)
    examples = read_examples(tmp_path / "reviews.csv", Columns(text="review", label="sentiment"))
    TextClassifier().fit(examples).save(tmp_path / "my-model")
    assert load(tmp_path / "my-model").card.columns["text_column"] == "review"
    assert main(["predict", str(tmp_path / "my-model"), str(tmp_path / "reviews.csv"), "-o", str(tmp_path / "p.jsonl")]) == 0
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 300

    # A model that knows `text` meets a file whose only free-text column is `body`: it says so.
    TextClassifier().fit(part).save(tmp_path / "plain")
    frame.rename(columns={"review": "body"}).to_csv(tmp_path / "other.csv", index=False)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "plain"), str(tmp_path / "other.csv"), "-o", str(tmp_path / "q.jsonl")]) == 0
    assert "using its only text column 'body'" in capsys.readouterr().err
    # --text-column always wins: a wrong one is an error naming it.
    assert main(["predict", str(tmp_path / "plain"), str(tmp_path / "other.csv"), "--text-column", "nope",
                 "-o", str(tmp_path / "r.jsonl")]) == 2
    assert json.loads((tmp_path / "q.jsonl").read_text().splitlines()[0])["label"]
