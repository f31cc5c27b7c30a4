"""Calibration: test-split ECE before and after each method, fitted on the validation split only,
for an over-confident TF-IDF model (C=100) and a CNN trained from scratch for a few epochs
(bundled Rotten Tomatoes, stratified 70/10/20, seed 0)."""

from __future__ import annotations

from bench import data
from bench.harness import Benchmark, register


def measure(name: str, clf, splits) -> list[dict]:
    from textclf.evaluation.calibration import METHODS
    from textclf.evaluation.metrics import probability_metrics
    from textclf.policy import DecisionPolicy

    targets = clf.label_map_.encode(splits.test)
    logits = clf.logits(splits.test)
    rows = []
    clf.policy_ = DecisionPolicy()
    raw = clf.probabilities_from_logits(logits)
    for method in ("none", *METHODS):
        adopted = method == "none" or clf.calibrate(splits.validation, method).calibration is not None
        probs = clf.probabilities_from_logits(logits)
        m = probability_metrics(targets, probs, clf.label_map_)
        rows.append({
            "model": name, "method": method, **{k: m[k] for k in ("ece", "ece_equal_mass", "mce", "log_loss", "brier")},
            "accuracy": float((probs.argmax(1) == targets).mean()),
            "argmax_changed": int((probs.argmax(1) != raw.argmax(1)).sum()),
            "adopted_by_the_guard": adopted, **({"temperature": (clf.policy.calibration or {}).get("temperature")}
                                                 if method == "temperature" else {}),
        })
    return rows


@register
class Calibration(Benchmark):
    name = "calibration"
    summary = "ECE before/after each calibration method (TF-IDF C=100, CNN from scratch), fitted on validation"
    sizes = {"smoke": {"rows": 600, "epochs": 1}, "quick": {"rows": 3000, "epochs": 2},  # smoke: 60 validation rows
             "full": {"rows": None, "epochs": 4}}

    def run(self) -> dict:
        from textclf import TextClassifier

        splits = data.stratified("rotten-tomatoes", seed=0, limit=self.size.rows)
        tfidf = TextClassifier(model={"type": "tfidf", "C": 100.0}).fit(splits.train)
        rows = measure("tfidf C=100", tfidf, splits)
        cnn = TextClassifier(model={"type": "cnn", "max_length": 64},
                             training={"epochs": self.size.epochs, "progress": False, "early_stopping_patience": None})
        cnn.fit(splits.train, validation=splits.validation)
        rows += measure(f"cnn {self.size.epochs} epochs", cnn, splits)
        return {"data": "rotten-tomatoes, stratified 70/10/20, seed 0; calibrators fitted on validation, "
                        "measured on test", "rows": rows}
