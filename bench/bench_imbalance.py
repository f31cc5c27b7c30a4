"""Class imbalance on a 95/5 binary task: does weighting the minority class help it?

    python bench/bench_imbalance.py [--seeds 0 1 2]

Data: the bundled Rotten Tomatoes reviews, fresh vs rotten, subsampled to 95% fresh / 5% rotten
(every fresh review, rotten ones drawn at random), stratified 70/10/20 split per seed. Model:
TF-IDF word 1-2-grams + logistic regression. Variants: unweighted, class_weight balanced,
random over- and under-sampling of the training split, and the unweighted model with a decision
threshold tuned for F1 on the validation split. Scores are on the test split (mean over seeds).
Writes bench/results/imbalance.json."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from textclf.classifier import TextClassifier
from textclf.data.bundled import load_bundled
from textclf.data.splits import split_examples
from textclf.evaluation.metrics import single_label_metrics
from textclf.evaluation.thresholds import tune_thresholds
from textclf.imbalance import resample

MINORITY = "rotten"
MODEL = {"type": "tfidf", "word_ngrams": [1, 2], "sublinear_tf": True, "C": 1.0}
VARIANTS = {
    "unweighted": {},
    "class_weight_balanced": {"class_weight": "balanced"},
    "resample_over": {"resample": "over"},
    "resample_under": {"resample": "under"},
    "unweighted+threshold_f1": {"threshold": True},
}


def imbalanced_binary(minority_share: float, seed: int):
    rt = load_bundled("rotten-tomatoes")
    labels = np.array(rt.labels, dtype=object)
    fresh = np.flatnonzero(labels == "fresh")
    rotten = np.flatnonzero(labels == MINORITY)
    n_rotten = int(round(len(fresh) * minority_share / (1 - minority_share)))
    picked = np.random.default_rng(seed).choice(rotten, n_rotten, replace=False)
    return rt.subset(np.sort(np.r_[fresh, picked]))


def run_variant(spec: dict, splits, seed: int) -> dict:
    training = {"class_weight": spec["class_weight"]} if "class_weight" in spec else {}
    train = resample(splits.train, spec["resample"], seed) if "resample" in spec else splits.train
    clf = TextClassifier(model=MODEL, training=training, seed=seed)
    started = time.perf_counter()
    clf.fit(train)
    seconds = time.perf_counter() - started
    if spec.get("threshold"):  # tuned on validation only
        val_probs = clf.predict_proba(splits.validation)
        clf.thresholds = tune_thresholds(val_probs, clf.label_map.encode(splits.validation), False, "per_label",
                                         "f1", label_names=list(clf.label_map.labels)).thresholds
    y = clf.label_map.encode(splits.test)
    m = single_label_metrics(y, clf.decide(clf.predict_proba(splits.test)), clf.label_map)
    return {"minority_recall": m["per_class"][MINORITY]["recall"],
            "minority_precision": m["per_class"][MINORITY]["precision"],
            "minority_f1": m["per_class"][MINORITY]["f1"], "macro_f1": m["macro_f1"], "accuracy": m["accuracy"],
            "train_rows": len(train), "fit_seconds": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--minority-share", type=float, default=0.05)
    parser.add_argument("--output", default="bench/results/imbalance.json")
    args = parser.parse_args()
    per_seed: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    sizes = []
    for seed in args.seeds:
        data = imbalanced_binary(args.minority_share, seed)
        splits = split_examples(data, "stratified", validation_size=0.1, test_size=0.2, seed=seed)
        sizes.append({"all": len(data), "minority": int(sum(l == MINORITY for l in data.labels)),
                      "test_minority": int(sum(l == MINORITY for l in splits.test.labels))})
        for name, spec in VARIANTS.items():
            per_seed[name].append(run_variant(spec, splits, seed))
    keys = ("minority_recall", "minority_precision", "minority_f1", "macro_f1", "accuracy")
    summary = {name: {k: round(float(np.mean([r[k] for r in rows])), 4) for k in keys}
               for name, rows in per_seed.items()}
    print(f"{'variant':<26}" + "".join(f"{k:>20}" for k in keys))
    for name, row in summary.items():
        print(f"{name:<26}" + "".join(f"{row[k]:>20.4f}" for k in keys))
    out = {"task": f"rotten-tomatoes fresh vs rotten, {args.minority_share:.0%} rotten", "model": MODEL,
           "seeds": args.seeds, "sizes": sizes, "mean_over_seeds": summary, "per_seed": per_seed}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
