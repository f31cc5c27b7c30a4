"""Neural models from scratch vs the TF-IDF baseline on a Rotten Tomatoes subset (CPU).

    nice -n 10 python bench/bench_neural.py [--rows 4000] [--epochs 3]

A stratified subset keeps the run to minutes on 2 cores: rows are split 70/10/20 (seed 0) into
train / validation (early stopping) / test. Reports test accuracy, macro-F1, training seconds and
parameter counts, prints a table and writes bench/results/neural.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from textclf.classifier import TextClassifier  # noqa: E402
from textclf.data.bundled import load_bundled  # noqa: E402
from textclf.data.splits import split_examples  # noqa: E402
from textclf.workflow import evaluate  # noqa: E402

TOKENIZER = {"algorithm": "bpe", "vocab_size": 8000}
MODELS = {
    "tfidf": {"type": "tfidf"},
    "bag": {"type": "bag", "embedding_dim": 64, "pooling": "mean", "tokenizer": TOKENIZER},
    "rnn": {"type": "rnn", "cell": "lstm", "embedding_dim": 64, "hidden_size": 64, "pooling": "attention",
            "dropout": 0.2, "tokenizer": TOKENIZER},
    "cnn": {"type": "cnn", "embedding_dim": 64, "num_filters": 64, "kernel_sizes": [3, 4, 5], "pooling": "max",
            "dropout": 0.3, "tokenizer": TOKENIZER},
    "transformer": {"type": "transformer", "embedding_dim": 64, "num_heads": 4, "num_layers": 2, "ff_dim": 128,
                    "pooling": "mean", "tokenizer": TOKENIZER},
}
LEARNING_RATES = {"bag": 1e-2, "rnn": 3e-3, "cnn": 3e-3, "transformer": 1e-3}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "neural.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    examples = load_bundled("rotten-tomatoes")
    subset = np.sort(np.random.default_rng(0).permutation(len(examples))[: args.rows])
    splits = split_examples(examples.subset(subset), "stratified", validation_size=0.1, test_size=0.2, seed=0)
    counts = {name: splits.test.labels.count(name) for name in sorted(set(splits.test.labels))}
    majority = max(counts.values()) / len(splits.test)
    print(f"train {len(splits.train)}  validation {len(splits.validation)}  test {len(splits.test)}  "
          f"majority-class accuracy {majority:.4f}")

    rows = []
    for name, model in MODELS.items():
        training = {"epochs": args.epochs, "batch_size": 32, "learning_rate": LEARNING_RATES.get(name, 1e-3),
                    "max_length": args.max_length, "progress": False, "early_stopping_patience": 2,
                    "device": "cpu"}
        clf = TextClassifier(model=model, training=training, seed=0)
        started = time.perf_counter()
        clf.fit(splits.train, validation=splits.validation)
        seconds = time.perf_counter() - started
        metrics = evaluate(clf, splits.test)
        summary = clf.info.get("training_summary", {})
        rows.append({"model": name, "accuracy": round(metrics["accuracy"], 4),
                     "macro_f1": round(metrics["macro_f1"], 4), "train_seconds": round(seconds, 1),
                     "parameters": summary.get("parameters"), "best_epoch": summary.get("best_epoch")})
        print(f"{name:<12} acc {rows[-1]['accuracy']:.4f}  macro-F1 {rows[-1]['macro_f1']:.4f}  "
              f"train {seconds:7.1f}s  params {summary.get('parameters')}", flush=True)

    result = {
        "benchmark": "neural models from scratch vs TF-IDF, Rotten Tomatoes subset (3 classes)",
        "rows": args.rows, "epochs": args.epochs, "max_length": args.max_length, "seed": 0,
        "sizes": {"train": len(splits.train), "validation": len(splits.validation), "test": len(splits.test)},
        "majority_accuracy": round(majority, 4),
        "machine": {"cpu_threads": args.threads, "platform": platform.platform(), "torch": torch.__version__,
                    "note": "2 shared CPU cores, other jobs running: seconds are indicative only"},
        "results": rows,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\n{'model':<12}{'accuracy':>10}{'macro-F1':>10}{'train s':>10}")
    for row in rows:
        print(f"{row['model']:<12}{row['accuracy']:>10.4f}{row['macro_f1']:>10.4f}{row['train_seconds']:>10.1f}")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
