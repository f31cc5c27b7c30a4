"""`model.type: auto` against single models it should match or beat.

  (a) rt-default: Rotten Tomatoes (fresh / rotten / plot), stratified 70/10/20 split (seed 0); auto
      gets `budget_rt` seconds and scores candidates on the validation split (9.7k training rows).
  (b) rt-imbalanced: data.rt_imbalanced (600 rows at ~10% rotten; 1,000 test rows), per seed.
  (c) bbc-rare-topic: data.bbc_rare_topic (200 articles, one topic at ~5%; 400 test), per seed.
  (b) and (c) have under 5,000 training rows: auto cross-validates on the training split.

Models: tfidf (class_weight none), tfidf balanced, embedding + LR (frozen MiniLM) and auto
(`budget_small` seconds on b and c). Reported: macro-F1, per-class recall, fit seconds."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from bench import data
from bench.harness import Benchmark, register
from bench.runs import fit_and_score

TFIDF = {"type": "tfidf", "word_ngrams": [1, 2], "sublinear_tf": True, "C": 1.0}


def models(budget: float, candidates: list[str] | None, max_length: int) -> dict[str, tuple[dict, dict]]:
    """name -> (model config, training config)."""
    auto = {"type": "auto", "time_budget": budget, **({"candidates": candidates} if candidates else {})}
    return {"tfidf": (TFIDF, {"class_weight": None}), "tfidf_balanced": (TFIDF, {"class_weight": "balanced"}),
            "embedding_lr": ({"type": "embedding", "max_length": max_length}, {}), "auto": (auto, {})}


def means(results: list[dict]) -> dict:
    summary: dict[str, dict] = {}
    for row in results:
        if "macro_f1" not in row:
            continue
        cell = summary.setdefault(row["dataset"], {}).setdefault(
            row["model"], {"macro_f1": [], "minority_recall": [], "fit_seconds": []})
        cell["macro_f1"].append(row["macro_f1"])
        minority = "rotten" if row["dataset"] == "rt-imbalanced" else row.get("rare_topic")
        if minority is not None:
            cell["minority_recall"].append(row["recall"][minority])
        cell["fit_seconds"].append(row["fit_seconds"])
    return {d: {m: {k: (round(float(np.mean(v)), 4) if v else None) for k, v in cell.items()}
                for m, cell in per_model.items()} for d, per_model in summary.items()}


@register
class Auto(Benchmark):
    name = "auto"
    summary = "model.type auto vs tfidf / tfidf balanced / embedding + LR on three data sets"
    sizes = {
        "smoke": {"seeds": [0], "budget_rt": 2.0, "budget_small": 2.0, "rt_rows": 200, "scale": 0.25,
                  "candidates": ["tfidf_word", "tfidf_char"], "max_length": 16},
        "quick": {"seeds": [0], "budget_rt": 30.0, "budget_small": 20.0, "rt_rows": 1100, "scale": 0.5,
                  "candidates": ["tfidf_word", "tfidf_char", "bag", "embedding"], "max_length": 128},
        "full": {"seeds": [0, 1, 2], "budget_rt": 900.0, "budget_small": 120.0, "rt_rows": None, "scale": 1.0,
                 "candidates": None, "max_length": 128},
    }

    def run(self) -> dict:
        results: list[dict] = []
        with tempfile.TemporaryDirectory(prefix="bench-auto-") as tmp:
            def bench(dataset: str, seed: int, parts, budget: float, extra: dict | None = None) -> None:
                train, validation, test = parts
                sizes = {"train": len(train), "validation": len(validation), "test": len(test)}
                for name, (model, training) in models(budget, self.size.candidates, self.size.max_length).items():
                    row = fit_and_score(name, model, training, train, validation, test, seed,
                                        Path(tmp) / f"{dataset}-{seed}-{name}")
                    results.append({"dataset": dataset, "seed": seed, "sizes": sizes, **(extra or {}), **row})

            rt = data.stratified("rotten-tomatoes", seed=0, limit=self.size.rt_rows)
            bench("rt-default", 0, (rt.train, rt.validation, rt.test), self.size.budget_rt)
            for seed in self.size.seeds:
                bench("rt-imbalanced", seed, data.rt_imbalanced(seed, self.size.scale), self.size.budget_small)
                *parts, rare = data.bbc_rare_topic(seed, self.size.scale)
                bench("bbc-rare-topic", seed, tuple(parts), self.size.budget_small, {"rare_topic": rare})
        return {"seeds": self.size.seeds, "budget_rt": self.size.budget_rt, "budget_small": self.size.budget_small,
                "mean_over_seeds": means(results), "runs": results}
