"""Class imbalance on a 95/5 binary task: does weighting the minority class help it?

Rotten Tomatoes fresh vs rotten, subsampled to 95% fresh / 5% rotten, stratified 70/10/20 per
seed; TF-IDF word 1-2-grams + logistic regression. Variants: unweighted, class_weight balanced,
random over- and under-sampling, and the unweighted model with a decision threshold tuned for F1
on validation. Scores on test, mean over seeds."""

from __future__ import annotations

import time

import numpy as np

from bench import data
from bench.harness import Benchmark, register

MINORITY = "rotten"
MODEL = {"type": "tfidf", "word_ngrams": [1, 2], "sublinear_tf": True, "C": 1.0}
VARIANTS = {
    "unweighted": {"class_weight": None},
    "class_weight_balanced": {"class_weight": "balanced"},
    "resample_over": {"class_weight": None, "resample": "over"},
    "resample_under": {"class_weight": None, "resample": "under"},
    "unweighted+threshold_f1": {"class_weight": None, "threshold": True},
}
KEYS = ("minority_recall", "minority_precision", "minority_f1", "macro_f1", "accuracy")


def run_variant(spec: dict, splits, seed: int) -> dict:
    from textclf.classifier import TextClassifier
    from textclf.evaluation.metrics import single_label_metrics
    from textclf.imbalance import resample

    train = resample(splits.train, spec["resample"], seed) if "resample" in spec else splits.train
    clf = TextClassifier(model=MODEL, training={"class_weight": spec["class_weight"]}, calibration=None, seed=seed)
    started = time.perf_counter()
    clf.fit(train)
    seconds = time.perf_counter() - started
    if spec.get("threshold"):  # tuned on validation only
        clf.tune_thresholds(splits.validation, "per_label", "f1")
    y = clf.label_map_.encode(splits.test)
    m = single_label_metrics(y, clf.decide(clf.predict_proba(splits.test)), clf.label_map_)
    minority = m["per_class"][MINORITY]
    return {"minority_recall": minority["recall"], "minority_precision": minority["precision"],
            "minority_f1": minority["f1"], "macro_f1": m["macro_f1"], "accuracy": m["accuracy"],
            "train_rows": len(train), "fit_seconds": round(seconds, 2)}


@register
class Imbalance(Benchmark):
    name = "imbalance"
    summary = "95/5 fresh vs rotten, TF-IDF: class weights, resampling, tuned threshold (minority recall)"
    sizes = {"smoke": {"seeds": [0], "fresh_rows": 560}, "quick": {"seeds": [0], "fresh_rows": None},
             "full": {"seeds": [0, 1, 2], "fresh_rows": None}}

    def run(self) -> dict:
        from textclf.data.splits import split_examples

        per_seed: dict[str, list[dict]] = {name: [] for name in VARIANTS}
        sizes = []
        for seed in self.size.seeds:
            examples = data.imbalanced_binary(0.05, seed, MINORITY, limit=self.size.fresh_rows)
            splits = split_examples(examples, "stratified", validation_size=0.1, test_size=0.2, seed=seed)
            sizes.append({"all": len(examples), "minority": examples.labels.count(MINORITY),
                          "test_minority": splits.test.labels.count(MINORITY)})
            for name, spec in VARIANTS.items():
                per_seed[name].append(run_variant(spec, splits, seed))
        summary = {name: {k: round(float(np.mean([r[k] for r in rows])), 4) for k in KEYS}
                   for name, rows in per_seed.items()}
        return {"task": "rotten-tomatoes fresh vs rotten, 5% rotten", "model": MODEL, "seeds": self.size.seeds,
                "sizes": sizes, "mean_over_seeds": summary, "per_seed": per_seed}
