"""Neural models from scratch vs the TF-IDF baseline on the bundled Rotten Tomatoes data (CPU).

The split of configs/default.yaml; each neural type trained with its shipped configs/<type>.yaml
(validation drives early stopping), the TF-IDF row with configs/default.yaml. Reports test
accuracy, macro-F1, training seconds and parameter counts."""

from __future__ import annotations

import time

from bench import data
from bench.harness import Benchmark, register

MODELS = {"tfidf": "default", "bag": "bag", "rnn": "rnn", "cnn": "cnn", "transformer": "transformer"}


@register
class Neural(Benchmark):
    name = "neural"
    summary = "bag / rnn / cnn / transformer from scratch (their configs) vs TF-IDF, Rotten Tomatoes"
    sizes = {"smoke": {"rows": 80, "epochs": 1, "max_length": 32}, "quick": {"rows": 3000, "epochs": 2, "max_length": None},
             "full": {"rows": None, "epochs": None, "max_length": None}}

    def run(self) -> dict:
        from textclf.classifier import TextClassifier
        from textclf.config import load_config

        splits = data.default_splits(self.size.rows)
        counts = {name: splits.test.labels.count(name) for name in set(splits.test.labels)}
        majority = max(counts.values()) / len(splits.test)
        rows, settings = [], {}
        for name, config_name in MODELS.items():
            cfg = load_config(data.CONFIGS / f"{config_name}.yaml")
            training = cfg.training.model_dump()
            training.update(progress=False, device="cpu")
            if self.size.epochs is not None:
                training["epochs"] = self.size.epochs
            settings[name] = {"config": f"configs/{config_name}.yaml", "model": cfg.model,
                              **({} if name == "tfidf" else {k: training[k] for k in (
                                  "epochs", "learning_rate", "max_grad_norm", "batch_size")})}
            model = dict(cfg.model)
            if self.size.max_length and name != "tfidf":
                model["max_length"] = self.size.max_length
            clf = TextClassifier(model=model, training=training, seed=cfg.seed)
            started = time.perf_counter()
            clf.fit(splits.train, validation=splits.validation)
            seconds = time.perf_counter() - started
            scores = data.score(splits.test.labels, clf.predict_proba(splits.test), list(clf.label_map_.labels))
            summary = clf.card.training_summary or {}
            rows.append({"model": name, "accuracy": round(scores.accuracy, 4),
                         "macro_f1": round(scores.macro_f1, 4), "train_seconds": round(seconds, 1),
                         "parameters": summary.get("parameters"), "best_epoch": summary.get("best_epoch"),
                         "epochs_run": summary.get("epochs")})
        return {"data": "configs/default.yaml split", "seed": 0,
                "split_sizes": {"train": len(splits.train), "validation": len(splits.validation),
                                "test": len(splits.test)},
                "majority_accuracy": round(majority, 4), "settings": settings, "results": rows}
