"""Runs that several benchmarks share: fit one textclf model and score it on test; the systems of
the small imbalanced set in alternating order; the bag's shipped settings."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from bench import data


def bag_settings() -> tuple[dict, dict]:
    """configs/bag.yaml's model and training sections, as `textclf train` runs them (CPU, no progress)."""
    from textclf.config import load_config

    cfg = load_config(data.CONFIGS / "bag.yaml")
    training = cfg.training.model_dump()
    training.update(progress=False, device="cpu")
    return dict(cfg.model), training


def fit_and_score(name: str, model: dict, training: dict, train, validation, test, seed: int,
                  workdir: Path) -> dict:
    """Fit (validation for early stopping / model choice), argmax decisions on test: macro-F1,
    accuracy, per-class recall, fit seconds; `auto`'s choice and leaderboard top when it is auto.
    A model that fails (a missing optional dependency) gives a row with its error."""
    from textclf.classifier import TextClassifier
    from textclf.evaluation.metrics import single_label_metrics

    clf = TextClassifier(model=model, training={**training, "progress": False}, seed=seed)
    started = time.perf_counter()
    try:
        clf.fit(train, validation=validation, workdir=workdir)
    except Exception as err:  # noqa: BLE001 - one missing optional model must not sink the benchmark
        print(f"bench: {name} failed: {type(err).__name__}: {err}", file=sys.stderr)
        return {"model": name, "error": f"{type(err).__name__}: {err}"}
    seconds = time.perf_counter() - started
    y = clf.label_map_.encode(test)
    metrics = single_label_metrics(y, clf.decide(clf.predict_proba(test)), clf.label_map_)
    row = {"model": name, "macro_f1": round(metrics["macro_f1"], 4), "accuracy": round(metrics["accuracy"], 4),
           "recall": {c: round(v["recall"], 4) for c, v in metrics["per_class"].items()},
           "fit_seconds": round(seconds, 2), "train_rows": len(train)}
    summary = clf.card.training_summary
    if isinstance(summary, dict) and "leaderboard" in summary:
        row["auto"] = {k: summary.get(k) for k in ("protocol", "metric", "time_budget", "elapsed_seconds", "trials",
                                                    "selected")}
        row["auto"]["top"] = summary["leaderboard"][:5]
        row["chosen_type"] = clf.model_params.get("type")
    return row


def rt_imbalanced_runs(systems: dict[str, tuple[dict, dict]], seeds: list[int], workdir: Path,
                       scale: float = 1.0) -> list[dict]:
    """Each system (name -> model config, training config) on data.rt_imbalanced of every seed, in
    alternating order from seed to seed; one row per run, with its seed and the load then."""
    rows, names = [], list(systems)
    for seed in seeds:
        train, validation, test = data.rt_imbalanced(seed, scale)
        for i, name in enumerate(names if seed % 2 == 0 else names[::-1]):
            model, training = systems[name]
            row = fit_and_score(name, model, training, train, validation, test, seed, workdir / f"{seed}-{i}")
            rows.append({**row, "seed": seed, "loadavg_1min": round(os.getloadavg()[0], 2)})
    return rows


def seed_means(rows: list[dict], name: str, minority: str) -> dict:
    """Means over seeds of one system's completed runs: test macro-F1, `minority` recall, fit seconds."""
    mine = [r for r in rows if r["model"] == name and "macro_f1" in r]
    if not mine:
        return {"runs": 0}
    return {"macro_f1": round(float(np.mean([r["macro_f1"] for r in mine])), 4),
            f"{minority}_recall": round(float(np.mean([r["recall"][minority] for r in mine])), 4),
            "fit_seconds": round(float(np.mean([r["fit_seconds"] for r in mine])), 1), "runs": len(mine)}
