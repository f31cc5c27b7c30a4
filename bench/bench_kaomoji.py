"""Multi-label thresholds on the bundled kaomoji set: fixed 0.5 vs thresholds tuned on validation.

    python bench/bench_kaomoji.py [--config configs/kaomoji.yaml] [--subsample N]

Fits the config's model on the train split, tunes per-label and global F1 thresholds on the
validation split only, and scores every decision rule on the test split (never seen by tuning).
Writes bench/results/kaomoji.json."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from textclf.classifier import TextClassifier
from textclf.config import load_config
from textclf.evaluation.metrics import multi_label_metrics, probability_metrics
from textclf.evaluation.thresholds import tune_thresholds
from textclf.objectives import decide
from textclf.data.sources import load_splits

HEADLINE = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="configs/kaomoji.yaml")
    parser.add_argument("--subsample", type=int, default=None, help="training rows to keep (for speed)")
    parser.add_argument("--output", default="bench/results/kaomoji.json")
    args = parser.parse_args()
    cfg = load_config(args.config)
    splits = load_splits(cfg)
    train = splits.train
    if args.subsample and args.subsample < len(train):
        train = train.subset(np.sort(np.random.default_rng(cfg.seed).choice(len(train), args.subsample, replace=False)))
    clf = TextClassifier(model=cfg.model, task=cfg.task, training=cfg.training, seed=cfg.seed)
    started = time.perf_counter()
    clf.fit(train, validation=splits.validation)
    fit_seconds = time.perf_counter() - started
    names = list(clf.label_map.labels)
    val_probs, val_y = clf.predict_proba(splits.validation), clf.label_map.encode(splits.validation)
    test_probs, test_y = clf.predict_proba(splits.test), clf.label_map.encode(splits.test)
    rules = {"fixed_0.5": None}
    for scope in ("global", "per_label"):
        rules[f"tuned_{scope}"] = tune_thresholds(val_probs, val_y, True, scope, "f1", label_names=names).thresholds
    results = {}
    for rule, thresholds in rules.items():
        for min_labels in (0, 1):
            decisions = decide(test_probs, True, thresholds, min_labels)
            m = multi_label_metrics(test_y, decisions, clf.label_map)
            results[f"{rule}{'+min1' if min_labels else ''}"] = {k: round(m[k], 4) for k in HEADLINE}
    ranking = probability_metrics(test_y, test_probs, clf.label_map)
    out = {
        "data": {"train": len(train), "validation": len(splits.validation), "test": len(splits.test),
                 "labels": len(names), "subsampled": bool(args.subsample)},
        "model": cfg.model, "fit_seconds": round(fit_seconds, 1),
        "test": results,
        "test_macro_roc_auc": round(ranking["roc_auc"], 4), "test_macro_pr_auc": round(ranking["pr_auc"], 4),
        "per_label_thresholds": dict(zip(names, np.round(rules["tuned_per_label"], 4).tolist())),
    }
    print(f"{'rule':<26}" + "".join(f"{k:>17}" for k in HEADLINE))
    for rule, m in results.items():
        print(f"{rule:<26}" + "".join(f"{m[k]:>17.4f}" for k in HEADLINE))
    print(f"labels {len(names)}, train {len(train)}, fit {fit_seconds:.0f}s, "
          f"macro ROC-AUC {out['test_macro_roc_auc']}, macro PR-AUC {out['test_macro_pr_auc']}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
