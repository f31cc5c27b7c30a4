"""Does `auto`'s choice hold on test (issue #32)? Its choice rules replayed on the same trials.

For each small-data set (bench/small_data_sets.py, the cuts small_data uses) and seed: auto's
search on the training cut (models/auto; class-balanced weights where the classifier would set
them), every complete trial's out-of-fold probabilities kept, and every complete trial refitted on
the whole cut and scored on the test cut. The rules then choose among the very same trials:

- single: the cheapest trial within noise of the best cross-validated score (no mix);
- caruana: single, or the Caruana mix when it wins, also with weights chosen on other folds
  (auto before the family-leaders mix);
- auto: models/auto/choice.choose_model as shipped;
- best_default: the best test score among the families' first trials (their defaults: what
  small_data's `candidate:NAME` rows fit), the bar "auto >= its own best single candidate";
- best_trial: the best test score of any trial (hindsight, a ceiling).

Families: TF-IDF word and word+char, MiniLM and mpnet embeddings (mpnet where installed): the ones
that refit in seconds, so every trial can be scored on test. Embeddings come from the usual disk
cache (warm after the first set), so a search fits more trials than a cold one in small_data.
Each (set, seed) is stored under $TEXTCLF_BENCH_CACHE (default: bench/ beside the encoder cache,
~/.cache/textclf/bench)/auto_selection/MODE as npz + JSON (no pickle) and not run again: a rerun
replays the rules only; delete the folder to search again. Smoke mode keeps nothing.

    python -m bench auto_selection --mode smoke|quick|full
    TEXTCLF_AUTO_SELECTION_STORED_ONLY=1 python -m bench auto_selection --mode full   # replay only
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from bench.harness import Benchmark, register
from bench.small_data_sets import SETS, cut

FAMILIES = ["tfidf_word", "tfidf_char", "embedding", "embedding_mpnet"]
RULES = ("single", "caruana", "auto")
STORED_ONLY = "TEXTCLF_AUTO_SELECTION_STORED_ONLY"  # "1": replay the stored runs, search none (listed in left_out)


def store_dir(mode: str) -> Path:
    from textclf.models.encoder_registry import encoder_cache_dir

    root = Path(os.environ.get("TEXTCLF_BENCH_CACHE") or encoder_cache_dir().parent / "bench")
    return root / "auto_selection" / mode


def save_run(path: Path, record: dict) -> None:
    """One (set, seed): arrays in an npz, the rest as JSON inside it, written atomically."""
    arrays = {"targets": record["targets"], "test_targets": record["test_targets"]}
    meta = {k: v for k, v in record.items() if k not in ("targets", "test_targets", "trials")}
    meta["trials"] = []
    for i, t in enumerate(record["trials"]):
        arrays[f"t{i}_probs"], arrays[f"t{i}_test"] = t["probs"], t["test_probs"]
        for r, probs in enumerate(t["repeat_probs"]):
            arrays[f"t{i}_repeat{r}"] = probs
        meta["trials"].append({k: t[k] for k in ("index", "family", "params", "score", "fold_scores",
                                                 "fit_seconds", "test_f1")} | {"repeats": len(t["repeat_probs"])})
    arrays["meta"] = np.frombuffer(json.dumps(meta, default=float).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(staging, **arrays)
    os.replace(staging, path)


def load_run(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        record = json.loads(data["meta"].tobytes().decode())
        record["targets"], record["test_targets"] = data["targets"], data["test_targets"]
        for i, t in enumerate(record["trials"]):
            t["probs"], t["test_probs"] = data[f"t{i}_probs"], data[f"t{i}_test"]
            t["repeat_probs"] = [data[f"t{i}_repeat{r}"] for r in range(t.pop("repeats"))]
    return record


def search_and_score(name: str, seed: int, size) -> dict:
    """auto's search on the training cut; every complete trial refitted on it and scored on test."""
    from scipy.special import softmax

    from bench.data import score
    from textclf.config import TrainingConfig
    from textclf.data import LabelMap
    from textclf.imbalance import skewed_class_weight
    from textclf.models import model_class
    from textclf.models.auto import AutoConfig, AutoModel
    from textclf.models.auto.budget import quiet_blas
    from textclf.models.auto.search import installed_encoders

    train, test, _ = cut(name, seed, size.train_rows, size.test_rows)
    label_map = LabelMap.fit(train, multi_label=False)
    targets = label_map.encode(train)
    training, _ = skewed_class_weight(TrainingConfig(progress=False),
                                      np.bincount(targets, minlength=len(label_map)), label_map)
    families = [f for f in size.families if f != "embedding_mpnet" or "mpnet" in installed_encoders()]
    started = time.perf_counter()
    with open(os.devnull, "w") as quiet:
        auto = AutoModel(AutoConfig(time_budget=size.time_budget, candidates=families), label_map, training, seed,
                         log=quiet)
        summary = auto.fit(train, targets)
    labels = [str(c) for c in label_map.labels]
    record = {"set": name, "seed": seed, "labels": labels, "test_labels": list(test.labels),
              "targets": auto.eval_targets, "test_targets": label_map.encode(test),
              "folds_per_repeat": len(auto.folds) // auto.cv_repeats, "search_seconds": time.perf_counter() - started,
              "selected": summary["selected"], "trials": []}
    for trial in auto.trials:
        if trial.status != "complete":
            continue
        model = model_class(trial.config.type)(trial.config, label_map, trial.training, seed)
        with quiet_blas(trial.family):
            model.fit(train, targets, None, None, None)
        test_probs = softmax(model.logits(list(test.texts)), axis=1)
        record["trials"].append({"index": trial.index, "family": trial.family.name, "params": trial.params,
                                 "score": trial.score, "fold_scores": trial.fold_scores, "probs": trial.probs,
                                 "repeat_probs": trial.repeat_probs, "fit_seconds": trial.fit_seconds,
                                 "test_probs": test_probs,
                                 "test_f1": score(list(test.labels), test_probs, labels).macro_f1})
    return record


def replay(record: dict) -> dict:
    """Test macro-F1 of each rule's choice among the record's trials, and the two bars."""
    from bench.data import score
    from textclf.models.auto.choice import caruana_mix, choose_model, fit_costs, simplest_within_noise
    from textclf.models.auto.trials import Trial
    from textclf.models.ensemble import mix_probabilities

    families: dict[str, SimpleNamespace] = {}
    ranked = sorted((Trial(t["index"], families.setdefault(t["family"], SimpleNamespace(name=t["family"])),
                           t["params"], status="complete", score=t["score"], probs=t["probs"],
                           repeat_probs=t["repeat_probs"], fold_scores=t["fold_scores"],
                           folds_per_repeat=record["folds_per_repeat"], fit_seconds=t["fit_seconds"])
                     for t in record["trials"]), key=lambda t: -t.score)
    test_probs = {t["index"]: t["test_probs"] for t in record["trials"]}
    runner = SimpleNamespace(ranked=lambda: ranked, config=SimpleNamespace(ensemble_size=5, bootstrap_resamples=20),
                             seed=record["seed"], label_map=SimpleNamespace(multi_label=False), metric="macro_f1",
                             protocol=SimpleNamespace(folds_per_repeat=record["folds_per_repeat"],
                                                      eval_targets=record["targets"], refit=False),
                             say=lambda line: None, score_name="cv macro-F1")

    def test_f1(members, weights) -> float:
        probs = mix_probabilities([test_probs[m.index] for m in members], np.asarray(weights), False)
        return score(record["test_labels"], probs, record["labels"]).macro_f1

    single, _ = simplest_within_noise([t.score for t in ranked], [t.fold_scores for t in ranked],
                                      fit_costs(ranked), record["folds_per_repeat"])
    caruana = caruana_mix(runner, ranked)
    kept = caruana is not None and caruana[3]["status"] == "kept"
    choice = choose_model(runner)
    firsts: dict[str, dict] = {}
    for t in sorted(record["trials"], key=lambda t: t["index"]):
        firsts.setdefault(t["family"], t)
    return {"single": test_f1([ranked[single]], [1.0]),
            "caruana": test_f1(caruana[0], caruana[1]) if kept else test_f1([ranked[single]], [1.0]),
            "auto": test_f1(choice.members, choice.weights),
            "auto_members": [f"{m.family.name}#{m.index}" for m in choice.members],
            "best_default": max(t["test_f1"] for t in firsts.values()),
            "best_trial": max(t["test_f1"] for t in record["trials"]), "trials": len(record["trials"])}


def summarize(rows: list[dict]) -> dict:
    """Per set (mean over seeds) and over sets: each rule, the bars, and the sets where the rule
    is >= the best default (the goal: at least 5 of 6)."""
    sets = list(dict.fromkeys(r["set"] for r in rows))
    keys = (*RULES, "best_default", "best_trial")
    per_set = {s: {k: float(np.mean([r[k] for r in rows if r["set"] == s])) for k in keys} for s in sets}
    return {"sets": per_set, "mean": {k: float(np.mean([per_set[s][k] for s in sets])) for k in keys},
            "sets_at_least_best_default": {k: sum(per_set[s][k] >= per_set[s]["best_default"] - 1e-12 for s in sets)
                                           for k in RULES},
            "runs_changed_by_the_family_leaders_mix": [
                {"set": r["set"], "seed": r["seed"], "gain": round(r["auto"] - r["caruana"], 4)}
                for r in rows if abs(r["auto"] - r["caruana"]) > 1e-12],
            "runs": len(rows)}


@register
class AutoSelection(Benchmark):
    name = "auto_selection"
    summary = "auto's choice rules replayed on the same trials, scored on test (issue #32), six small sets"
    sizes = {"smoke": {"sets": ["debates"], "seeds": [0], "train_rows": 80, "test_rows": 60, "time_budget": 4.0,
                       "families": ["tfidf_word", "tfidf_char"]},
             "quick": {"sets": list(SETS), "seeds": [0], "train_rows": None, "test_rows": None,
                       "time_budget": 600.0, "families": FAMILIES},
             "full": {"sets": list(SETS), "seeds": [0, 1, 2], "train_rows": None, "test_rows": None,
                      "time_budget": 600.0, "families": FAMILIES}}

    def run(self) -> dict:
        if self.proto.mode == "smoke":  # seconds of work: nothing kept between runs
            with tempfile.TemporaryDirectory(prefix="bench-auto-selection-") as scratch:
                return self._run(Path(scratch))
        return self._run(store_dir(self.proto.mode))

    def _run(self, store: Path) -> dict:
        stored_only = os.environ.get(STORED_ONLY) == "1"
        rows, left_out = [], []
        for seed in self.size.seeds:
            for name in self.size.sets:
                path = store / f"{name}-{seed}.npz"
                if not path.is_file() and stored_only:
                    left_out.append({"set": name, "seed": seed})
                    continue
                if not path.is_file():
                    save_run(path, search_and_score(name, seed, self.size))
                row = {"set": name, "seed": seed, **replay(load_run(path))}
                rows.append(row)
                print(f"auto_selection {name} seed {seed}: single {row['single']:.3f} caruana {row['caruana']:.3f} "
                      f"auto {row['auto']:.3f} best default {row['best_default']:.3f}", flush=True)
        return {"runs": rows, "summary": summarize(rows), "store": str(store), "left_out": left_out}
