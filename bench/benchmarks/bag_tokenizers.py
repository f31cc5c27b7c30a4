"""Which tokenizer the n-gram bag should default to, chosen on validation over five data sets.

The bag (configs/bag.yaml's model and training sections) with each tokenizer variant, on
data.five_sets (each seed its own split and, for the small sets, its own sample). The choice is
made on the mean validation macro-F1; test macro-F1 is reported beside it. Accuracy only (the bag
is timed in bag_vs_fasttext), so the run need not be alone."""

from __future__ import annotations

import time

import numpy as np

from bench import data
from bench.harness import Benchmark, register
from bench.runs import bag_settings

VARIANTS = {
    "bpe 8k (min count 2)": {"algorithm": "bpe", "vocab_size": 8000, "min_frequency": 2},
    "words (every word)": {"algorithm": "word", "vocab_size": 1_000_000, "min_frequency": 1},
    "words (min count 2)": {"algorithm": "word", "vocab_size": 1_000_000, "min_frequency": 2},
}


@register
class BagTokenizers(Benchmark):
    name = "bag_tokenizers"
    summary = "n-gram bag tokenizer variants, chosen on mean validation macro-F1 over five data sets"
    sizes = {"smoke": {"seeds": [0], "train_rows": 100, "sets": ["rt3"], "epochs": 1},
             "quick": {"seeds": [0], "train_rows": 500, "sets": None, "epochs": None},
             "full": {"seeds": [0, 1], "train_rows": None, "sets": None, "epochs": None}}

    def run(self) -> dict:
        from textclf.classifier import TextClassifier

        model, training = bag_settings()
        if self.size.epochs:
            training["epochs"] = self.size.epochs
        sets = {k: v for k, v in data.five_sets(self.size.train_rows).items() if not self.size.sets or k in self.size.sets}
        rows = []
        for data_name, make in sets.items():
            for seed in self.size.seeds:
                train, validation, test = make(seed)
                for variant, tokenizer in VARIANTS.items():
                    clf = TextClassifier(model=dict(model, tokenizer=dict(model["tokenizer"], **tokenizer)),
                                         training=training, seed=seed)
                    started = time.perf_counter()
                    clf.fit(train, validation=validation)
                    classes = list(clf.label_map_.labels)
                    rows.append({"data": data_name, "seed": seed, "variant": variant,
                                 "fit_seconds": round(time.perf_counter() - started, 2),
                                 "validation_macro_f1": data.score(validation.labels, clf.predict_proba(validation.texts),
                                                                   classes).macro_f1,
                                 "test_macro_f1": data.score(test.labels, clf.predict_proba(test.texts),
                                                             classes).macro_f1})
        summary = {}
        for variant in VARIANTS:
            mine = [r for r in rows if r["variant"] == variant]
            summary[variant] = {
                "mean_validation_macro_f1": float(np.mean([r["validation_macro_f1"] for r in mine])),
                "mean_test_macro_f1": float(np.mean([r["test_macro_f1"] for r in mine])),
                "per_data_set": {d: {k: float(np.mean([r[f"{k}_macro_f1"] for r in mine if r["data"] == d]))
                                     for k in ("validation", "test")} for d in sets}}
        return {"seeds": self.size.seeds, "bag_model": model, "variants": VARIANTS, "summary": summary,
                "chosen_on_validation": max(summary, key=lambda v: summary[v]["mean_validation_macro_f1"]),
                "runs": rows}
