"""A lever issue #32 names, measured before it is built: per-class offsets on the log-probabilities
of a single-label model, tuned for macro-F1 on out-of-fold predictions, then applied to test.

For each small-data set (bench/small_data_sets.py, the cuts small_data uses) and seed: 5-fold
out-of-fold logits of the model on the training cut; offsets b (one per class) by coordinate ascent
on a grid (-2..2, step 0.1; three sweeps; a move is kept only when it raises out-of-fold macro-F1);
the model refitted on the whole cut; test macro-F1 of argmax(log p) against argmax(log p + b).
Models: textclf's `tfidf` and `embedding` (packaged MiniLM) defaults. Nothing here is a textclf
option yet: the figures decide whether it becomes one (and on by default only where it wins).

    python -m bench class_offsets --mode smoke|quick|full
"""

from __future__ import annotations

import tempfile

import numpy as np
from scipy.special import log_softmax

from bench.harness import Benchmark, register
from bench.small_data_sets import SETS, cut

GRID = np.round(np.linspace(-2.0, 2.0, 41), 2)


def macro_f1(targets: np.ndarray, predicted: np.ndarray, k: int) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(targets, predicted, average="macro", labels=list(range(k)), zero_division=0))


def tune_offsets(log_probs: np.ndarray, targets: np.ndarray, sweeps: int = 3) -> tuple[np.ndarray, float]:
    """Offsets (k,) that raise macro-F1 of argmax(log_probs + offsets), and that macro-F1."""
    k = log_probs.shape[1]
    offsets = np.zeros(k)
    best = macro_f1(targets, log_probs.argmax(axis=1), k)
    for _ in range(sweeps):
        moved = False
        for j in range(k):
            for value in GRID:
                trial = offsets.copy()
                trial[j] = value
                score = macro_f1(targets, (log_probs + trial).argmax(axis=1), k)
                if score > best + 1e-9:
                    best, offsets, moved = score, trial, True
        if not moved:
            break
    return offsets, best


@register
class ClassOffsets(Benchmark):
    name = "class_offsets"
    summary = "per-class log-prior offsets tuned for macro-F1 out of fold (issue #32 lever), six small sets"
    sizes = {"smoke": {"sets": ["debates"], "seeds": [0], "train_rows": 80, "test_rows": 60, "models": ["tfidf"]},
             "quick": {"sets": list(SETS), "seeds": [0], "train_rows": None, "test_rows": None,
                       "models": ["tfidf", "embedding"]},
             "full": {"sets": list(SETS), "seeds": [0, 1, 2], "train_rows": None, "test_rows": None,
                      "models": ["tfidf", "embedding"]}}

    def run(self) -> dict:
        from sklearn.model_selection import StratifiedKFold

        from textclf import TextClassifier

        rows = []
        with tempfile.TemporaryDirectory(prefix="bench-offsets-") as cache:
            models = {"tfidf": {"type": "tfidf"}, "embedding": {"type": "embedding", "cache_dir": cache}}
            for name in self.size.sets:
                for seed in self.size.seeds:
                    train, test, _ = cut(name, seed, self.size.train_rows, self.size.test_rows)
                    labels = sorted(set(train.labels))
                    k, index = len(labels), {label: i for i, label in enumerate(labels)}
                    y = np.array([index[label] for label in train.labels])
                    y_test = np.array([index[label] for label in test.labels])
                    folds = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
                    for model_name in self.size.models:
                        model = models[model_name]
                        out_of_fold = np.zeros((len(y), k))
                        for fit_rows, held in folds:
                            clf = TextClassifier(model=model, seed=seed).fit(train.subset(sorted(fit_rows.tolist())))
                            out_of_fold[held] = clf.logits([train.texts[i] for i in held])
                        clf = TextClassifier(model=model, seed=seed).fit(train)
                        test_log_probs = log_softmax(clf.logits(test.texts), axis=1)
                        offsets, oof_after = tune_offsets(log_softmax(out_of_fold, axis=1), y)
                        rows.append({
                            "set": name, "seed": seed, "model": model_name, "classes": k,
                            "train_rows": len(y), "test_rows": len(y_test),
                            "oof_before": macro_f1(y, out_of_fold.argmax(axis=1), k), "oof_after": oof_after,
                            "test_before": macro_f1(y_test, test_log_probs.argmax(axis=1), k),
                            "test_after": macro_f1(y_test, (test_log_probs + offsets).argmax(axis=1), k),
                            "offsets": offsets.tolist()})
                        print(f"class_offsets {name} seed {seed} {model_name}: test macro-F1 "
                              f"{rows[-1]['test_before']:.3f} -> {rows[-1]['test_after']:.3f}", flush=True)
        return {"runs": rows, "summary": summarize(rows)}


def summarize(rows: list[dict]) -> dict:
    """Per model: test macro-F1 gain per set (mean over seeds), its mean over sets, sets and runs won."""
    summary = {}
    for model in sorted({r["model"] for r in rows}):
        mine = [r for r in rows if r["model"] == model]
        gains = {s: float(np.mean([r["test_after"] - r["test_before"] for r in mine if r["set"] == s]))
                 for s in dict.fromkeys(r["set"] for r in mine)}
        summary[model] = {"gain_per_set": gains, "mean_gain": float(np.mean(list(gains.values()))),
                          "sets_won": sum(g > 0 for g in gains.values()), "sets": len(gains),
                          "runs_won": sum(r["test_after"] > r["test_before"] for r in mine), "runs": len(mine)}
    return summary
