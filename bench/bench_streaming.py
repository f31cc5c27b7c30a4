"""Streaming predict of a TF-IDF model against a plain scikit-learn loop over pandas chunks.

    python bench/bench_streaming.py              # 100k and 1M rows, 3 alternating pairs each
    python bench/bench_streaming.py --quick      # 5k and 20k rows, 2 pairs: checks the script
    python bench/bench_streaming.py --publish    # also bench/results/streaming.md (quiet runs only)

Both sides are whole processes started the same way (`python -c ...` / `python -m textclf`),
each predicting a CSV of repeated Rotten Tomatoes texts into JSON lines with id, label and one
probability per class; seconds are wall time of the process (imports and model load included:
that is what a user waits for), peak RSS comes from wait4. The peer is the ten lines a
scikit-learn user would write: `pd.read_csv(chunksize=4096)`, `predict_proba`, `to_json`. Its
model is the same: a TfidfVectorizer + LogisticRegression with textclf's TF-IDF settings, fitted
on the same training rows (the model's test accuracy is stated for both).

Goal (issue #21): textclf >= 0.9x the peer's rows/s, and textclf's peak memory flat from 100k to
1M rows. Writes bench/results/streaming.json (quick: streaming.quick.json).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench_inference import write_input  # noqa: E402
from protocol import Protocol, add_protocol_args, main_guard, markdown_table, run_subprocess  # noqa: E402

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
    from textclf.data.bundled import load_bundled

    data = load_bundled("rotten-tomatoes")
    n = len(data)  # every fifth row held out for the accuracy figure
    train, test = data.subset([i for i in range(n) if i % 5]), data.subset(range(0, n, 5))
    clf = TextClassifier(model={"type": "tfidf"}).fit(train)
    clf.save(workdir / "textclf_tfidf")
    pipe = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype="float32"),
                         LogisticRegression(C=1.0, max_iter=1000))
    pipe.fit(train.texts, train.labels)
    joblib.dump(pipe, workdir / "sklearn.joblib")
    truth = test.labels
    acc = lambda predicted: sum(p == t for p, t in zip(predicted, truth)) / len(truth)  # noqa: E731
    return {"train_rows": len(train), "test_rows": len(test),
            "accuracy": {"textclf": round(acc(clf.predict(test.texts)), 4),
                         "sklearn": round(acc(list(pipe.predict(test.texts))), 4)},
            "texts": data.texts}


def main() -> int:
    parser = add_protocol_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--sizes", type=int, nargs="*", default=None, help="rows per input (default 100k 1M)")
    args = parser.parse_args()
    proto = Protocol.from_args("streaming", args)
    proto.check_publishable()
    sizes = args.sizes or ([5_000, 20_000] if args.quick else [100_000, 1_000_000])
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
        workdir = Path(tmp)
        models = train_models(workdir)
        texts = models.pop("texts")
        results = []
        for rows in sizes:
            source = workdir / f"in_{rows}.csv"
            write_input(source, texts, rows)

            def textclf_run(rows=rows, source=source):
                out = workdir / "textclf.jsonl"
                measure = run_subprocess([python, "-m", "textclf", "predict", str(workdir / "textclf_tfidf"),
                                          str(source), "-o", str(out), "--id-column", "id", "--overwrite",
                                          "--no-progress"])
                measure.pop("stdout")
                return {**measure, "rows_per_s": rows / measure["seconds"]}

            def sklearn_run(rows=rows, source=source):
                measure = run_subprocess([python, "-c", PEER, str(workdir / "sklearn.joblib"), str(source),
                                          str(workdir / "sklearn.jsonl")])
                measure.pop("stdout")
                return {**measure, "rows_per_s": rows / measure["seconds"]}

            comparison = proto.compare("textclf", textclf_run, "sklearn_loop", sklearn_run, warmup=not args.quick)
            comparison["rows"] = rows
            results.append(comparison)
            source.unlink()
    rows_md = []
    for c in results:
        med = c["median"]
        rows_md.append([f"{c['rows']:,}", f"{med['textclf']['rows_per_s']:,.0f}",
                        f"{med['sklearn_loop']['rows_per_s']:,.0f}", f"{c['median_ratio']:.2f}x",
                        f"{med['textclf']['peak_mib']:.0f}", f"{med['sklearn_loop']['peak_mib']:.0f}"])
    table = markdown_table(["rows", "textclf rows/s", "scikit-learn loop rows/s", "textclf / loop (median of pairs)",
                            "textclf peak MiB", "loop peak MiB"], rows_md)
    goal = {"ratio_at_least": 0.9,
            "met": all(c["median_ratio"] >= 0.9 for c in results),
            "memory_flat": (len(results) < 2 or results[-1]["median"]["textclf"]["peak_mib"]
                            <= 1.15 * results[0]["median"]["textclf"]["peak_mib"])}
    path = proto.finish({"models": models, "goal": goal, "comparisons": results}, table)
    print(table)
    print(f"written {path}" + (" (NOISY: load above 1.5 per core)" if proto.noisy else ""))
    return 0


if __name__ == "__main__":
    main_guard(main)
