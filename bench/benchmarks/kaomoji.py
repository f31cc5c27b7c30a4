"""Multi-label thresholds on the bundled kaomoji set: fixed 0.5 vs thresholds tuned on validation.

Fits configs/kaomoji.yaml's model on the train split, tunes per-label and global F1 thresholds on
the validation split only, and scores every decision rule on the test split."""

from __future__ import annotations

import time

import numpy as np

from bench import data
from bench.harness import Benchmark, register

HEADLINE = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss")


def subsample_keeping_labels(examples, rows: int, seed: int) -> list[int]:
    """`rows` random rows, plus one row for every label the sample would otherwise miss (the
    validation split must not hold a label the model never saw)."""
    kept = set(np.random.default_rng(seed).choice(len(examples), rows, replace=False).tolist())
    seen = {label for i in kept for label in examples.labels[i]}
    for i, labels in enumerate(examples.labels):
        if not seen.issuperset(labels):
            kept.add(i)
            seen.update(labels)
    return sorted(kept)


@register
class Kaomoji(Benchmark):
    name = "kaomoji"
    summary = "multi-label kaomoji: fixed 0.5 vs global / per-label thresholds tuned on validation"
    sizes = {"smoke": {"train_rows": 300}, "quick": {"train_rows": 3000}, "full": {"train_rows": 12000}}

    def run(self) -> dict:
        from textclf.classifier import TextClassifier
        from textclf.config import load_config
        from textclf.evaluation.metrics import multi_label_metrics, probability_metrics
        from textclf.evaluation.thresholds import tune_thresholds
        from textclf.objectives import decide

        cfg = load_config(data.CONFIGS / "kaomoji.yaml")
        splits = data.config_splits("kaomoji")
        train = splits.train
        if self.size.train_rows < len(train):
            train = train.subset(subsample_keeping_labels(train, self.size.train_rows, cfg.seed))
        clf = TextClassifier(model=cfg.model, task=cfg.task, training=cfg.training, seed=cfg.seed)
        started = time.perf_counter()
        clf.fit(train, validation=splits.validation)
        fit_seconds = time.perf_counter() - started
        names = list(clf.label_map_.labels)
        val_probs, val_y = clf.predict_proba(splits.validation), clf.label_map_.encode(splits.validation)
        test_probs, test_y = clf.predict_proba(splits.test), clf.label_map_.encode(splits.test)
        rules = {"fixed_0.5": None}
        for scope in ("global", "per_label"):
            rules[f"tuned_{scope}"] = tune_thresholds(val_probs, val_y, True, scope, "f1", label_names=names).thresholds
        results = {}
        for rule, thresholds in rules.items():
            for min_labels in (0, 1):
                m = multi_label_metrics(test_y, decide(test_probs, True, thresholds, min_labels), clf.label_map_)
                results[f"{rule}{'+min1' if min_labels else ''}"] = {k: round(m[k], 4) for k in HEADLINE}
        ranking = probability_metrics(test_y, test_probs, clf.label_map_)
        return {"data": {"train": len(train), "validation": len(splits.validation), "test": len(splits.test),
                         "labels": len(names)},
                "model": cfg.model, "fit_seconds": round(fit_seconds, 1), "test": results,
                "test_macro_roc_auc": round(ranking["roc_auc"], 4), "test_macro_pr_auc": round(ranking["pr_auc"], 4),
                "per_label_thresholds": dict(zip(names, np.round(rules["tuned_per_label"], 4).tolist()))}
