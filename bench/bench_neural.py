"""Neural models from scratch vs the TF-IDF baseline on the bundled Rotten Tomatoes data (CPU).

    nice -n 10 python bench/bench_neural.py [--rows 0] [--epochs N]

The data and split are those of configs/default.yaml (train / validation / test, stratified,
seed 0); validation drives early stopping. Each neural type is trained with the model and
training sections of its shipped config, configs/<type>.yaml, so the numbers describe exactly
what `textclf train --config configs/<type>.yaml` does; the TF-IDF row uses configs/default.yaml.
`--rows N` benchmarks a stratified subset of N rows instead (70/10/20), `--epochs` overrides the
configs' epochs. Reports test accuracy, macro-F1, training seconds and parameter counts, prints a
table and writes bench/results/neural.json.
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
from textclf.config import load_config  # noqa: E402
from textclf.data.bundled import load_bundled  # noqa: E402
from textclf.data.splits import split_examples  # noqa: E402
from textclf.data.sources import load_splits  # noqa: E402
from textclf.evaluation.scoring import evaluate  # noqa: E402

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
MODELS = {"tfidf": "default", "bag": "bag", "rnn": "rnn", "cnn": "cnn", "transformer": "transformer"}


def benchmark_splits(rows: int):
    """The default config's splits, or (rows > 0) a stratified subset of the bundled data split 70/10/20."""
    cfg = load_config(CONFIGS / "default.yaml")
    if not rows:
        return load_splits(cfg)
    examples = load_bundled(cfg.data.dataset)
    subset = np.sort(np.random.default_rng(0).permutation(len(examples))[:rows])
    return split_examples(examples.subset(subset), "stratified", validation_size=0.1, test_size=0.2, seed=0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=0, help="0: the default config's full split")
    parser.add_argument("--epochs", type=int, default=None, help="override the configs' epochs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "neural.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    splits = benchmark_splits(args.rows)
    counts = {name: splits.test.labels.count(name) for name in sorted(set(splits.test.labels))}
    majority = max(counts.values()) / len(splits.test)
    print(f"train {len(splits.train)}  validation {len(splits.validation)}  test {len(splits.test)}  "
          f"majority-class accuracy {majority:.4f}")

    rows, settings = [], {}
    for name, config_name in MODELS.items():
        cfg = load_config(CONFIGS / f"{config_name}.yaml")
        training = cfg.training.model_dump()
        training.update(progress=False, device="cpu")
        if args.epochs is not None:
            training["epochs"] = args.epochs
        settings[name] = {"config": f"configs/{config_name}.yaml", "model": cfg.model,
                          **({} if name == "tfidf" else {k: training[k] for k in (
                              "epochs", "learning_rate", "max_grad_norm", "batch_size")}), "max_length": cfg.model.get("max_length")}
        clf = TextClassifier(model=cfg.model, training=training, seed=cfg.seed)
        started = time.perf_counter()
        clf.fit(splits.train, validation=splits.validation)
        seconds = time.perf_counter() - started
        metrics = evaluate(clf, splits.test)
        summary = clf.card.training_summary
        rows.append({"model": name, "accuracy": round(metrics["accuracy"], 4),
                     "macro_f1": round(metrics["macro_f1"], 4), "train_seconds": round(seconds, 1),
                     "parameters": summary.get("parameters"), "best_epoch": summary.get("best_epoch"),
                     "epochs_run": summary.get("epochs")})
        print(f"{name:<12} acc {rows[-1]['accuracy']:.4f}  macro-F1 {rows[-1]['macro_f1']:.4f}  "
              f"train {seconds:7.1f}s  params {summary.get('parameters')}", flush=True)

    result = {
        "benchmark": "neural models from scratch vs TF-IDF, bundled Rotten Tomatoes (3 classes: fresh, rotten, plot)",
        "data": "configs/default.yaml split" if not args.rows else f"stratified subset of {args.rows} rows, 70/10/20",
        "seed": 0,
        "sizes": {"train": len(splits.train), "validation": len(splits.validation), "test": len(splits.test)},
        "majority_accuracy": round(majority, 4),
        "machine": {"cpu_threads": args.threads, "platform": platform.platform(), "torch": torch.__version__,
                    "note": "2 shared CPU cores, other jobs running: seconds are indicative only"},
        "settings": settings,
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
