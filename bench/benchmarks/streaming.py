"""Streaming predict of a TF-IDF model against a plain scikit-learn loop over pandas chunks.

Both sides are whole processes started the same way (`python -m textclf predict` / `python -c`),
each predicting a CSV of repeated Rotten Tomatoes texts into JSON lines with id, label and one
probability per class; seconds are the process's wall time (imports and model load included:
what a user waits for), peak RSS its own (VmHWM). The peer is the ten lines a scikit-learn user
would write: `pd.read_csv(chunksize=4096)`, `predict_proba`, `to_json`, with the same TF-IDF + LR
settings fitted on the same rows (test accuracy stated for both). Goal (issue #21): textclf >= 0.9x
the peer's rows/s, and its peak memory flat from 100k to 1M rows."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench import data
from bench.harness import Benchmark, register
from bench.protocol import markdown_table, run_subprocess

PEER = r"""
import sys, json, joblib, pandas as pd
pipe = joblib.load(sys.argv[1])
classes = [str(c) for c in pipe.classes_]
with open(sys.argv[3], "w", encoding="utf-8") as out:
    for chunk in pd.read_csv(sys.argv[2], chunksize=4096, dtype=str, keep_default_na=False):
        probs = pipe.predict_proba(chunk["text"].tolist())
        frame = pd.DataFrame(probs.round(6), columns=[f"prob_{c}" for c in classes])
        frame.insert(0, "label", [classes[i] for i in probs.argmax(axis=1)])
        frame.insert(0, "id", chunk["id"].to_numpy())
        frame.to_json(out, orient="records", lines=True, force_ascii=False)
"""


def train_models(workdir: Path) -> dict:
    """textclf TF-IDF and the equivalent scikit-learn pipeline, fitted on the same rows."""
    import joblib
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from textclf import TextClassifier

    rows = data.bundled("rotten-tomatoes")
    n = len(rows)  # every fifth row held out for the accuracy figure
    train, test = rows.subset([i for i in range(n) if i % 5]), rows.subset(range(0, n, 5))
    clf = TextClassifier(model={"type": "tfidf"}).fit(train)
    clf.save(workdir / "textclf_tfidf")
    pipe = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype="float32"),
                         LogisticRegression(C=1.0, max_iter=1000))
    pipe.fit(train.texts, train.labels)
    joblib.dump(pipe, workdir / "sklearn.joblib")

    def accuracy(predicted) -> float:
        return round(sum(str(p) == str(t) for p, t in zip(predicted, test.labels)) / len(test), 4)

    return {"train_rows": len(train), "test_rows": len(test),
            "accuracy": {"textclf": accuracy(clf.predict(test.texts)), "sklearn": accuracy(pipe.predict(test.texts))}}


@register
class Streaming(Benchmark):
    name = "streaming"
    summary = "textclf predict (streaming TF-IDF) vs a scikit-learn + pandas chunk loop: rows/s, peak MiB"
    sizes = {"smoke": {"rows": [500]}, "quick": {"rows": [5_000, 20_000]}, "full": {"rows": [100_000, 1_000_000]}}

    def run(self) -> dict:
        python, results = sys.executable, []
        with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
            workdir = Path(tmp)
            models = train_models(workdir)
            texts = data.bundled("rotten-tomatoes").texts
            for rows in self.size.rows:
                source = workdir / f"in_{rows}.csv"
                data.write_csv(source, texts, rows)

                def textclf_run(rows=rows, source=source):
                    measure = run_subprocess([python, "-m", "textclf", "predict", str(workdir / "textclf_tfidf"),
                                              str(source), "-o", str(workdir / "textclf.jsonl"), "--id-column", "id",
                                              "--overwrite", "--no-progress"])
                    measure.pop("stdout")
                    return {**measure, "rows_per_s": rows / measure["seconds"]}

                def sklearn_run(rows=rows, source=source):
                    measure = run_subprocess([python, "-c", PEER, str(workdir / "sklearn.joblib"), str(source),
                                              str(workdir / "sklearn.jsonl")])
                    measure.pop("stdout")
                    return {**measure, "rows_per_s": rows / measure["seconds"]}

                comparison = self.proto.compare("textclf", textclf_run, "sklearn_loop", sklearn_run,
                                                warmup=not self.proto.quick)
                results.append({**comparison, "rows": rows})
                source.unlink()
        table = markdown_table(
            ["rows", "textclf rows/s", "scikit-learn loop rows/s", "textclf / loop (median of pairs)",
             "textclf peak MiB", "loop peak MiB"],
            [[f"{c['rows']:,}", f"{c['median']['textclf']['rows_per_s']:,.0f}",
              f"{c['median']['sklearn_loop']['rows_per_s']:,.0f}", f"{c['median_ratio']:.2f}x",
              f"{c['median']['textclf']['peak_mib']:.0f}", f"{c['median']['sklearn_loop']['peak_mib']:.0f}"]
             for c in results])
        goal = {"ratio_at_least": 0.9, "met": all(c["median_ratio"] >= 0.9 for c in results),
                "memory_flat": (len(results) < 2 or results[-1]["median"]["textclf"]["peak_mib"]
                                <= 1.15 * results[0]["median"]["textclf"]["peak_mib"])}
        return {"models": models, "goal": goal, "comparisons": results, "table": table}
