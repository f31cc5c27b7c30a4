"""Calibration on the bundled Rotten Tomatoes data: test-split ECE before and after each method,
fitted on the validation split only, for an over-confident TF-IDF model (C=100) and a CNN trained
from scratch for a few epochs. Prints a table and writes bench/results/calibration.json.

    nice -n 10 python bench/bench_calibration.py [--epochs 4]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from textclf import TextClassifier
from textclf.data.bundled import load_bundled
from textclf.data.splits import split_examples
from textclf.evaluation.calibration import METHODS
from textclf.policy import DecisionPolicy
from textclf.evaluation.metrics import probability_metrics


def measure(name: str, clf: TextClassifier, splits) -> list[dict]:
    targets = clf.label_map.encode(splits.test)
    logits = clf.logits(splits.test)
    rows = []
    clf.policy = DecisionPolicy()
    raw = clf.probabilities_from_logits(logits)
    for method in ("none", *METHODS):
        if method != "none":
            clf.calibrate(splits.validation, method)
        probs = clf.probabilities_from_logits(logits)
        m = probability_metrics(targets, probs, clf.label_map)
        rows.append({
            "model": name, "method": method, "ece": m["ece"], "ece_equal_mass": m["ece_equal_mass"], "mce": m["mce"],
            "log_loss": m["log_loss"], "brier": m["brier"], "accuracy": float((probs.argmax(1) == targets).mean()),
            "argmax_changed": int((probs.argmax(1) != raw.argmax(1)).sum()),
            **({"temperature": clf.calibration["temperature"]} if method == "temperature" else {}),
        })
    clf.policy = DecisionPolicy()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    splits = split_examples(load_bundled("rotten-tomatoes"), "stratified", validation_size=0.1, test_size=0.2, seed=0)
    rows = []
    started = time.perf_counter()
    tfidf = TextClassifier(model={"type": "tfidf", "C": 100.0}).fit(splits.train)
    rows += measure("tfidf C=100", tfidf, splits)
    cnn = TextClassifier(model={"type": "cnn"}, training={"epochs": args.epochs, "progress": False,
                                                          "early_stopping_patience": None, "max_length": 64})
    cnn.fit(splits.train, validation=splits.validation)
    rows += measure(f"cnn {args.epochs} epochs", cnn, splits)
    print(f"{'model':<18}{'method':<13}{'ece':>8}{'ece_mass':>10}{'mce':>8}{'log_loss':>10}{'brier':>8}"
          f"{'accuracy':>10}{'argmax_changed':>16}")
    for r in rows:
        print(f"{r['model']:<18}{r['method']:<13}{r['ece']:>8.4f}{r['ece_equal_mass']:>10.4f}{r['mce']:>8.4f}"
              f"{r['log_loss']:>10.4f}{r['brier']:>8.4f}{r['accuracy']:>10.4f}{r['argmax_changed']:>16d}")
    out = Path(__file__).parent / "results" / "calibration.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"data": "rotten-tomatoes, stratified 70/10/20, seed 0; calibrators fitted on "
                                       "validation, measured on test", "seconds": round(time.perf_counter() - started, 1),
                               "rows": rows}, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
