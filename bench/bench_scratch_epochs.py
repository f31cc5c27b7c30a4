"""Size-aware default epochs for models trained from scratch, against a fixed 5.

    python bench/bench_scratch_epochs.py [--types bag] [--sets ...] [--seeds 0 1 2]

Each `model.type` in `--types` with its own defaults: once as they are (epochs from the training-set
size, models/neural.py scratch_epochs: ~48,000 examples seen, 5 to 50 epochs, patience epochs // 5),
once with `epochs: 5, early_stopping_patience: 2` (the earlier default). Data sets as in
bench_bag_tokenizers.py, plus rt3-2k (the first 2,000 training rows of rt3). Reported per set:
validation and test macro-F1 and the lowest per-class test recall, means over seeds. Accuracy
only: the run need not be alone. Writes bench/results/TYPE_epochs.json for one type,
scratch_epochs.json for several.
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
from textclf.models.neural import scratch_epochs  # noqa: E402

VARIANTS = {"size-aware epochs (default)": {}, "5 epochs, patience 2": {"epochs": 5, "early_stopping_patience": 2}}


def rt3_2k(seed: int):
    train, validation, test = DATA_SETS["rt3"](seed)
    return train.subset(range(2000)), validation, test


def run(model_type: str, data_name: str, make, variant: str, training: dict, seed: int) -> dict:
    train, validation, test = make(seed)
    clf = TextClassifier(model={"type": model_type}, training={"progress": False, **training}, seed=seed)
    clf.fit(train, validation=validation)
    classes = list(clf.label_map.labels)
    predicted, gold = np.array(clf.predict(test.texts)), np.array(test.labels)
    return {"type": model_type, "data": data_name, "variant": variant, "seed": seed, "train_rows": len(train),
            "epochs": training.get("epochs", scratch_epochs(len(train))),
            "epochs_run": clf.card.training_summary.get("epochs"),
            "validation_macro_f1": score(validation.labels, clf.predict_proba(validation.texts), classes).macro_f1,
            "test_macro_f1": score(test.labels, clf.predict_proba(test.texts), classes).macro_f1,
            "min_class_recall": float(min(np.mean(predicted[gold == c] == c) for c in classes))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--types", nargs="+", default=["bag"])
    parser.add_argument("--sets", nargs="+", default=None, help="data sets (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    name = f"{args.types[0]}_epochs.json" if len(args.types) == 1 else "scratch_epochs.json"
    output = args.output or str(ROOT / "bench" / "results" / name)
    loads = [load_average()]
    data_sets = {k: v for k, v in {**DATA_SETS, "rt3-2k": rt3_2k}.items() if not args.sets or k in args.sets}
    rows = []
    for model_type in args.types:
        for data_name, make in data_sets.items():
            for variant, training in VARIANTS.items():
                mine = [run(model_type, data_name, make, variant, training, seed) for seed in args.seeds]
                rows += mine
                print(f"{model_type:11s} {data_name:12s} {variant:28s} epochs {mine[0]['epochs']:2d}  validation "
                      f"{np.mean([r['validation_macro_f1'] for r in mine]):.4f}  test "
                      f"{np.mean([r['test_macro_f1'] for r in mine]):.4f}  min recall "
                      f"{np.mean([r['min_class_recall'] for r in mine]):.2f}", flush=True)
    summary = {t: {d: {v: {k: float(np.mean([r[k] for r in rows if (r["type"], r["data"], r["variant"]) == (t, d, v)]))
                           for k in ("validation_macro_f1", "test_macro_f1", "min_class_recall", "epochs")}
                       for v in VARIANTS} for d in data_sets} for t in args.types}
    loads.append(load_average())
    write_results(Path(output), {
        "benchmark": "models from scratch: size-aware default epochs vs fixed 5", "types": args.types, "seeds": args.seeds,
        "summary": summary, "runs": rows, "cpu": cpu_info(), "environment": environment(),
        "load_average": {"before": loads[0], "after": loads[1]}})


if __name__ == "__main__":
    main()
