"""Size-aware default epochs for models trained from scratch, against a fixed 5.

Each model type with its own defaults: once as they are (epochs from the training-set size,
models/neural.py scratch_epochs: ~48,000 examples seen, 5 to 50 epochs, patience epochs // 5),
once with `epochs: 5, early_stopping_patience: 2` (the earlier default). Data: data.five_sets plus
rt3-2k (the first 2,000 training rows of rt3). Reported per set: validation and test macro-F1 and
the lowest per-class test recall, means over seeds. Accuracy only: the run need not be alone."""

from __future__ import annotations

import numpy as np

from bench import data
from bench.harness import Benchmark, register

VARIANTS = {"size-aware epochs (default)": {}, "5 epochs, patience 2": {"epochs": 5, "early_stopping_patience": 2}}
KEYS = ("validation_macro_f1", "test_macro_f1", "min_class_recall", "epochs")


def run(model_type: str, data_name: str, parts, variant: str, training: dict, seed: int) -> dict:
    from textclf.classifier import TextClassifier
    from textclf.models.neural import scratch_epochs

    train, validation, test = parts
    clf = TextClassifier(model={"type": model_type}, training={"progress": False, **training}, seed=seed)
    clf.fit(train, validation=validation)
    classes = list(clf.label_map_.labels)
    predicted, gold = np.array(clf.predict(test.texts)), np.array(test.labels)
    return {"type": model_type, "data": data_name, "variant": variant, "seed": seed, "train_rows": len(train),
            "epochs": training.get("epochs", scratch_epochs(len(train))),
            "epochs_run": (clf.card.training_summary or {}).get("epochs"),
            "validation_macro_f1": data.score(validation.labels, clf.predict_proba(validation.texts), classes).macro_f1,
            "test_macro_f1": data.score(test.labels, clf.predict_proba(test.texts), classes).macro_f1,
            "min_class_recall": float(min(np.mean(predicted[gold == c] == c) for c in classes if (gold == c).any()))}


@register
class ScratchEpochs(Benchmark):
    name = "scratch_epochs"
    summary = "from-scratch models: size-aware default epochs vs a fixed 5, six data sets"
    sizes = {"smoke": {"types": ["bag"], "seeds": [0], "sets": ["bbc200-rare"], "variants": ["5 epochs, patience 2"]},
             "quick": {"types": ["bag"], "seeds": [0], "sets": None, "variants": None},
             "full": {"types": ["bag", "cnn", "rnn", "transformer"], "seeds": [0, 1, 2], "sets": None,
                      "variants": None}}

    def run(self) -> dict:
        sets = data.five_sets()

        def rt3_2k(seed: int):
            train, validation, test = sets["rt3"](seed)
            return train.subset(range(2000)), validation, test

        sets["rt3-2k"] = rt3_2k
        sets = {k: v for k, v in sets.items() if not self.size.sets or k in self.size.sets}
        variants = {k: v for k, v in VARIANTS.items() if not self.size.variants or k in self.size.variants}
        rows = [run(t, d, make(seed), v, training, seed) for t in self.size.types for d, make in sets.items()
                for v, training in variants.items() for seed in self.size.seeds]
        summary = {t: {d: {v: {k: float(np.mean([r[k] for r in rows if (r["type"], r["data"], r["variant"]) == (t, d, v)]))
                               for k in KEYS} for v in variants} for d in sets} for t in self.size.types}
        return {"types": self.size.types, "seeds": self.size.seeds, "summary": summary, "runs": rows}
