"""The bag's size-aware default epochs against a fixed 5, on sets from 180 to 9,600 training rows.

    python bench/bench_bag_epochs.py [--seeds 0 1 2]

`model.type: bag` with its own defaults: once as they are (epochs from the training-set size,
models/neural.py bag_epochs: ~48,000 examples seen, 5 to 50 epochs, patience epochs // 5), once
with `epochs: 5, early_stopping_patience: 2` (the earlier default). Data sets as in
bench_bag_tokenizers.py, plus rt3-2k (the first 2,000 training rows of rt3). Reported per set:
validation and test macro-F1 and the lowest per-class test recall, means over seeds. Accuracy
only: the run need not be alone. Writes bench/results/bag_epochs.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_bag_tokenizers import DATA_SETS  # noqa: E402
from peers_data import ROOT, score  # noqa: E402
from protocol import cpu_info, environment, load_average, write_results  # noqa: E402
from textclf.classifier import TextClassifier  # noqa: E402
from textclf.models.neural import bag_epochs  # noqa: E402

VARIANTS = {"size-aware epochs (default)": {}, "5 epochs, patience 2": {"epochs": 5, "early_stopping_patience": 2}}


def rt3_2k(seed: int):
    train, validation, test = DATA_SETS["rt3"](seed)
    return train.subset(range(2000)), validation, test


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "bag_epochs.json"))
    args = parser.parse_args()
    loads = [load_average()]
    data_sets = {**DATA_SETS, "rt3-2k": rt3_2k}
    rows = []
    for data_name, make in data_sets.items():
        for variant, training in VARIANTS.items():
            for seed in args.seeds:
                train, validation, test = make(seed)
                clf = TextClassifier(model={"type": "bag"}, training={"progress": False, **training}, seed=seed)
                clf.fit(train, validation=validation)
                classes = list(clf.label_map.labels)
                predicted, gold = np.array(clf.predict(test.texts)), np.array(test.labels)
                rows.append({
                    "data": data_name, "variant": variant, "seed": seed, "train_rows": len(train),
                    "epochs": training.get("epochs", bag_epochs(len(train))),
                    "epochs_run": clf.card.training_summary.get("epochs"),
                    "validation_macro_f1": score(validation.labels, clf.predict_proba(validation.texts),
                                                 classes).macro_f1,
                    "test_macro_f1": score(test.labels, clf.predict_proba(test.texts), classes).macro_f1,
                    "min_class_recall": float(min(np.mean(predicted[gold == c] == c) for c in classes))})
            mine = [r for r in rows if r["data"] == data_name and r["variant"] == variant]
            print(f"{data_name:12s} {variant:28s} epochs {mine[0]['epochs']:2d}  validation "
                  f"{np.mean([r['validation_macro_f1'] for r in mine]):.4f}  test "
                  f"{np.mean([r['test_macro_f1'] for r in mine]):.4f}  min recall "
                  f"{np.mean([r['min_class_recall'] for r in mine]):.2f}", flush=True)
    summary = {d: {v: {k: float(np.mean([r[k] for r in rows if r["data"] == d and r["variant"] == v]))
                       for k in ("validation_macro_f1", "test_macro_f1", "min_class_recall", "epochs")}
                   for v in VARIANTS} for d in data_sets}
    loads.append(load_average())
    write_results(Path(args.output), {
        "benchmark": "n-gram bag: size-aware default epochs vs fixed 5", "seeds": args.seeds,
        "summary": summary, "runs": rows, "cpu": cpu_info(), "environment": environment(),
        "load_average": {"before": loads[0], "after": loads[1]}})


if __name__ == "__main__":
    main()
