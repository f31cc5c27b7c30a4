"""Which tokenizer the n-gram bag should default to, chosen on validation over several data sets.

    python bench/bench_bag_tokenizers.py [--seeds 0 1] [--quick]

The bag (configs/bag.yaml's model and training sections) with each tokenizer variant below, on
five data sets cut from the bundled data, each seed giving its own split (and, for the small
sets, its own sample):

  rt3          Rotten Tomatoes, fresh / rotten / plot, stratified 70/10/20
  rt-binary    Rotten Tomatoes, fresh / rotten only, stratified 70/10/20
  bbc          BBC News, 5 topics, stratified 70/10/20 (long articles: 256 tokens are read)
  rt600-imb    600 rows, ~10% rotten (bench_auto.rt_imbalanced)
  bbc200-rare  200 articles, one topic at ~5% (bench_auto.bbc_rare_topic)

The choice is made on the mean validation macro-F1; test macro-F1 is reported beside it. Fit
seconds are not compared here (bench_bag_vs_fasttext.py times the bag), so the run need not be
alone. Writes bench/results/bag_tokenizers.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_auto import bbc_rare_topic, rt_imbalanced  # noqa: E402
from bench_bag_vs_fasttext import bag_settings  # noqa: E402
from peers_data import ROOT, score  # noqa: E402
from protocol import cpu_info, environment, load_average, write_results  # noqa: E402
from textclf.classifier import TextClassifier  # noqa: E402
from textclf.data.bundled import load_bundled  # noqa: E402
from textclf.data.splits import split_examples  # noqa: E402

VARIANTS = {
    "bpe 8k (min count 2)": {"algorithm": "bpe", "vocab_size": 8000, "min_frequency": 2},
    "words (every word)": {"algorithm": "word", "vocab_size": 1_000_000, "min_frequency": 1},
    "words (min count 2)": {"algorithm": "word", "vocab_size": 1_000_000, "min_frequency": 2},
}


def stratified(name: str, seed: int, keep: set[str] | None = None):
    examples = load_bundled(name)
    if keep:
        examples = examples.subset([i for i, label in enumerate(examples.labels) if label in keep])
    splits = split_examples(examples, "stratified", 0.1, 0.2, seed=seed)
    return splits.train, splits.validation, splits.test


DATA_SETS = {
    "rt3": lambda seed: stratified("rotten-tomatoes", seed),
    "rt-binary": lambda seed: stratified("rotten-tomatoes", seed, {"fresh", "rotten"}),
    "bbc": lambda seed: stratified("bbc-news", seed),
    "rt600-imb": lambda seed: rt_imbalanced(seed, False),
    "bbc200-rare": lambda seed: bbc_rare_topic(seed, False)[:3],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--quick", action="store_true", help="500 training rows per set: checks the script runs")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "bag_tokenizers.json"))
    args = parser.parse_args()
    loads = [load_average()]
    model, training = bag_settings()
    rows = []
    for data_name, make in DATA_SETS.items():
        for seed in args.seeds:
            train, validation, test = make(seed)
            if args.quick:
                train = train.subset(range(min(500, len(train))))
            for variant, tokenizer in VARIANTS.items():
                clf = TextClassifier(model=dict(model, tokenizer=dict(model["tokenizer"], **tokenizer)),
                                     training=training, seed=seed)
                started = time.perf_counter()
                clf.fit(train, validation=validation)
                seconds = time.perf_counter() - started
                classes = list(clf.label_map.labels)
                row = {"data": data_name, "seed": seed, "variant": variant, "fit_seconds": round(seconds, 2),
                       "validation_macro_f1": score(validation.labels, clf.predict_proba(validation.texts),
                                                    classes).macro_f1,
                       "test_macro_f1": score(test.labels, clf.predict_proba(test.texts), classes).macro_f1}
                rows.append(row)
                print(f"{data_name:12s} seed {seed}  {variant:22s} validation {row['validation_macro_f1']:.4f}  "
                      f"test {row['test_macro_f1']:.4f}  {seconds:5.1f}s", flush=True)
    summary = {}
    for variant in VARIANTS:
        mine = [r for r in rows if r["variant"] == variant]
        summary[variant] = {
            "mean_validation_macro_f1": float(np.mean([r["validation_macro_f1"] for r in mine])),
            "mean_test_macro_f1": float(np.mean([r["test_macro_f1"] for r in mine])),
            "per_data_set": {d: {"validation": float(np.mean([r["validation_macro_f1"] for r in mine if r["data"] == d])),
                                 "test": float(np.mean([r["test_macro_f1"] for r in mine if r["data"] == d]))}
                             for d in DATA_SETS}}
    chosen = max(summary, key=lambda v: summary[v]["mean_validation_macro_f1"])
    loads.append(load_average())
    write_results(Path(args.output), {
        "benchmark": "n-gram bag tokenizer variants, chosen on mean validation macro-F1 over 5 data sets",
        "mode": "quick" if args.quick else "full", "seeds": args.seeds, "bag_model": model,
        "variants": VARIANTS, "summary": summary, "chosen_on_validation": chosen, "runs": rows,
        "cpu": cpu_info(), "environment": environment(), "load_average": {"before": loads[0], "after": loads[1]}})
    for variant, s in summary.items():
        print(f"{variant:22s} mean validation {s['mean_validation_macro_f1']:.4f}  mean test {s['mean_test_macro_f1']:.4f}")
    print(f"chosen on validation: {chosen}")


if __name__ == "__main__":
    main()
