"""`model.type: auto` against single models it should match or beat.

    python bench/bench_auto.py                 # full run: ~15 min (a) + seeds x 2 min (b, c), x models
    python bench/bench_auto.py --smoke         # tiny budgets and data: proves the script runs

Data sets (bundled, offline):
  (a) rt-default: Rotten Tomatoes (fresh / rotten / plot) on the default stratified 70/10/20 split
      (seed 0); auto gets `--budget-rt` seconds (900). 9.7k training rows: auto scores
      candidates on the validation split.
  (b) rt-imbalanced: fresh vs rotten, 600 rows for train + validation with ~10% rotten (540 / 60;
      10% of them are the validation split), tested on 1,000 other rows with the same share
      (900 / 100), so the minority recall is measured on 100 rows, not 12. One sample per seed.
  (c) bbc-rare-topic: 200 BBC News articles, one topic (rotating with the seed) at ~5% (10
      articles, the other four ~47 each); tested on 400 other articles with the same shares.
  (b) and (c) have under 5,000 training rows: auto cross-validates on the training split.

Models, all fitted on train (validation given for early stopping / auto's large-data protocol),
argmax decisions, scored on test: tfidf (class_weight none, explicitly), tfidf balanced,
embedding + LR (frozen MiniLM, C by CV on train; textclf's default class weighting), and auto
(`--budget-small` seconds on b and c). Reported: macro-F1, per-class recall, fit seconds.
Writes bench/results/auto.json with the load average before and after (os.getloadavg()).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from textclf.classifier import TextClassifier
from textclf.data import Examples
from textclf.data.bundled import load_bundled
from textclf.data.splits import split_examples
from textclf.evaluation.metrics import single_label_metrics

TFIDF = {"type": "tfidf", "word_ngrams": [1, 2], "sublinear_tf": True, "C": 1.0}


def models(budget: float, smoke: bool) -> dict[str, tuple[dict, dict]]:
    """name -> (model config, training config)."""
    auto = {"type": "auto", "time_budget": budget}
    if smoke:
        auto["candidates"] = ["tfidf_word", "tfidf_char", "bag", "embedding"]
    return {
        "tfidf": (TFIDF, {"class_weight": None}),
        "tfidf_balanced": (TFIDF, {"class_weight": "balanced"}),
        "embedding_lr": ({"type": "embedding", "max_length": 128}, {}),
        "auto": (auto, {}),
    }


# -- data ------------------------------------------------------------------------------------------
def _take(rng, pool: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    picked = rng.choice(pool, size=n, replace=False)
    return picked, np.setdiff1d(pool, picked)


def rt_default(smoke: bool) -> tuple[Examples, Examples | None, Examples]:
    splits = split_examples(load_bundled("rotten-tomatoes"), "stratified", 0.1, 0.2, seed=0)
    train, validation, test = splits.train, splits.validation, splits.test
    if smoke:  # a slice, so the smoke run takes seconds
        train, validation, test = train.subset(range(600)), validation.subset(range(200)), test.subset(range(300))
    return train, validation, test


def rt_imbalanced(seed: int, smoke: bool) -> tuple[Examples, Examples, Examples]:
    rt = load_bundled("rotten-tomatoes")
    labels = np.array(rt.labels, dtype=object)
    rng = np.random.default_rng(seed)
    fresh, rotten = np.flatnonzero(labels == "fresh"), np.flatnonzero(labels == "rotten")
    scale = 0.5 if smoke else 1.0
    fit_fresh, fresh = _take(rng, fresh, int(540 * scale))
    fit_rotten, rotten = _take(rng, rotten, int(60 * scale))
    test_fresh, _ = _take(rng, fresh, int(900 * scale))
    test_rotten, _ = _take(rng, rotten, int(100 * scale))
    both = rt.subset(np.sort(np.r_[fit_fresh, fit_rotten]))
    parts = split_examples(both, "stratified", validation_size=0.1, test_size=0.0, seed=seed)
    return parts.train, parts.validation, rt.subset(np.sort(np.r_[test_fresh, test_rotten]))


def bbc_rare_topic(seed: int, smoke: bool) -> tuple[Examples, Examples, Examples, str]:
    bbc = load_bundled("bbc-news")
    labels = np.array(bbc.labels, dtype=object)
    topics = sorted(set(bbc.labels))
    rare = topics[seed % len(topics)]
    rng = np.random.default_rng(seed)
    others = [t for t in topics if t != rare]
    sizes = {rare: (10, 20), **{t: (47 + (i < 2), 95) for i, t in enumerate(others)}}  # 200 / 400 in all
    fit_rows, test_rows = [], []
    for topic in topics:
        pool = np.flatnonzero(labels == topic)
        n_fit, n_test = sizes[topic]
        if smoke:
            n_fit, n_test = max(4, n_fit // 2), max(4, n_test // 4)
        picked, pool = _take(rng, pool, n_fit)
        fit_rows.extend(picked.tolist())
        test_rows.extend(_take(rng, pool, n_test)[0].tolist())
    both = bbc.subset(sorted(fit_rows))
    parts = split_examples(both, "stratified", validation_size=0.1, test_size=0.0, seed=seed)
    return parts.train, parts.validation, bbc.subset(sorted(test_rows)), rare


# -- one run ---------------------------------------------------------------------------------------
def run(name: str, model: dict, training: dict, train: Examples, validation: Examples | None, test: Examples,
        seed: int, workdir: Path) -> dict:
    clf = TextClassifier(model=model, training={**training, "progress": False}, seed=seed)
    started = time.perf_counter()
    try:
        clf.fit(train, validation=validation, workdir=workdir)
    except Exception as err:  # noqa: BLE001 - a missing optional model must not sink the whole bench
        print(f"bench_auto: {name} failed: {type(err).__name__}: {err}", file=sys.stderr)
        return {"model": name, "error": f"{type(err).__name__}: {err}"}
    seconds = time.perf_counter() - started
    y = clf.label_map.encode(test)
    metrics = single_label_metrics(y, clf.decide(clf.predict_proba(test)), clf.label_map)
    row = {"model": name, "macro_f1": round(metrics["macro_f1"], 4), "accuracy": round(metrics["accuracy"], 4),
           "recall": {c: round(v["recall"], 4) for c, v in metrics["per_class"].items()},
           "fit_seconds": round(seconds, 2), "train_rows": len(train)}
    summary = getattr(clf, "card", None)
    summary = getattr(summary, "training_summary", None) if summary is not None else None
    if isinstance(summary, dict) and "leaderboard" in summary:
        row["auto"] = {k: summary[k] for k in ("protocol", "metric", "time_budget", "elapsed_seconds", "trials",
                                                "selected")}
        row["auto"]["top"] = summary["leaderboard"][:5]
        row["chosen_type"] = clf.model_params.get("type")
    print(f"bench_auto: {name:<15} macro-F1 {row['macro_f1']:.4f}  recall {row['recall']}  "
          f"({seconds:.1f} s)", file=sys.stderr, flush=True)
    return row


def rt_imbalanced_runs(systems: dict[str, tuple[dict, dict]], seeds: list[int], workdir: Path,
                       smoke: bool = False) -> list[dict]:
    """Each system (name -> model config, training config) on (b)'s sample of every seed, in
    alternating order from seed to seed; one row per run, with its seed and the load then."""
    rows, names = [], list(systems)
    for seed in seeds:
        train, validation, test = rt_imbalanced(seed, smoke)
        for i, name in enumerate(names if seed % 2 == 0 else names[::-1]):
            model, training = systems[name]
            row = run(name, model, training, train, validation, test, seed, workdir / f"{seed}-{i}")
            row.update(seed=seed, loadavg_1min=round(os.getloadavg()[0], 2))
            print(f"seed {seed}  {name:<34} macro-F1 {row.get('macro_f1', float('nan')):.4f}  rotten recall "
                  f"{row.get('recall', {}).get('rotten', float('nan')):.3f}  {row.get('fit_seconds')} s", flush=True)
            rows.append(row)
    return rows


def print_rotten_means(means: dict[str, dict]) -> None:
    for name, cell in means.items():
        print(f"{name:<34} macro-F1 {cell['macro_f1']:.4f}  rotten recall {cell['rotten_recall']:.3f}  "
              f"{cell['fit_seconds']} s  ({cell['runs']} runs)")


def seed_means(rows: list[dict], name: str, minority: str) -> dict:
    """Means over seeds of one system's completed runs: test macro-F1, `minority` recall, fit seconds."""
    mine = [r for r in rows if r["model"] == name and "macro_f1" in r]
    return {"macro_f1": round(float(np.mean([r["macro_f1"] for r in mine])), 4),
            f"{minority}_recall": round(float(np.mean([r["recall"][minority] for r in mine])), 4),
            "fit_seconds": round(float(np.mean([r["fit_seconds"] for r in mine])), 1), "runs": len(mine)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget-rt", type=float, default=900.0, help="auto's seconds on (a)")
    parser.add_argument("--budget-small", type=float, default=120.0, help="auto's seconds on (b) and (c)")
    parser.add_argument("--only", nargs="+", choices=["rt-default", "rt-imbalanced", "bbc-rare-topic"])
    parser.add_argument("--smoke", action="store_true", help="tiny budgets, slices of data, one seed")
    parser.add_argument("--output", default="bench/results/auto.json")
    parser.add_argument("--workdir", default="runs/bench_auto")
    args = parser.parse_args()
    if args.smoke:
        args.seeds, args.budget_rt, args.budget_small = args.seeds[:1], 30.0, 20.0
    load_before = os.getloadavg()
    workdir = Path(args.workdir)
    results = []
    wanted = set(args.only or ["rt-default", "rt-imbalanced", "bbc-rare-topic"])

    def bench(dataset: str, seed: int, parts, budget: float, extra: dict | None = None) -> None:
        train, validation, test = parts
        sizes = {"train": len(train), "validation": len(validation) if validation is not None else 0,
                 "test": len(test)}
        print(f"bench_auto: {dataset} seed {seed} {sizes}", file=sys.stderr, flush=True)
        for name, (model, training) in models(budget, args.smoke).items():
            row = run(name, model, training, train, validation, test, seed, workdir / f"{dataset}-{seed}-{name}")
            results.append({"dataset": dataset, "seed": seed, "sizes": sizes, **(extra or {}), **row})

    if "rt-default" in wanted:
        bench("rt-default", 0, rt_default(args.smoke), args.budget_rt)
    for seed in args.seeds:
        if "rt-imbalanced" in wanted:
            bench("rt-imbalanced", seed, rt_imbalanced(seed, args.smoke), args.budget_small)
        if "bbc-rare-topic" in wanted:
            *parts, rare = bbc_rare_topic(seed, args.smoke)
            bench("bbc-rare-topic", seed, tuple(parts), args.budget_small, {"rare_topic": rare})

    summary: dict[str, dict] = {}
    for row in results:
        if "macro_f1" not in row:
            continue
        cell = summary.setdefault(row["dataset"], {}).setdefault(row["model"], {"macro_f1": [], "minority_recall": [],
                                                                                 "fit_seconds": []})
        cell["macro_f1"].append(row["macro_f1"])
        minority = "rotten" if row["dataset"] == "rt-imbalanced" else row.get("rare_topic")
        if minority is not None:
            cell["minority_recall"].append(row["recall"][minority])
        cell["fit_seconds"].append(row["fit_seconds"])
    means = {d: {m: {k: (round(float(np.mean(v)), 4) if v else None) for k, v in cell.items()}
                 for m, cell in per_model.items()} for d, per_model in summary.items()}
    print(f"{'dataset':<16}{'model':<16}{'macro-F1':>10}{'minority recall':>17}{'fit s':>9}")
    for dataset, per_model in means.items():
        for model, cell in per_model.items():
            recall = "-" if cell["minority_recall"] is None else f"{cell['minority_recall']:.4f}"
            print(f"{dataset:<16}{model:<16}{cell['macro_f1']:>10.4f}{recall:>17}{cell['fit_seconds']:>9.1f}")
    out = {"smoke": args.smoke, "seeds": args.seeds, "budget_rt": args.budget_rt, "budget_small": args.budget_small,
           "loadavg_before": [round(x, 2) for x in load_before],
           "loadavg_after": [round(x, 2) for x in os.getloadavg()], "cpu_count": os.cpu_count(),
           "mean_over_seeds": means, "runs": results}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"bench_auto: wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
