"""Small data: `model.type: auto` against its own candidates and four peers on six packaged sets.

Sets (bench/small_data_sets.py): rt3 (movie snippets), bbc (long news), tweets, drug-reviews (long
reviews), questions (chat questions by topic), debates (spoken statements by party); per seed a
stratified training cut of 100-2,000 rows with at least one class under 10%, and a disjoint test
cut of up to 1,000 rows. Every system sees the training cut only; all are scored on the test cut
by bench.data.score (macro-F1 from their probabilities, argmax).

Systems, side by side per (set, seed):
- auto: textclf.TextClassifier with model {type: auto, time_budget}; what it chose is recorded.
- candidate:NAME: each family auto searches (models/auto/search.py), fitted alone with the
  family's known-good defaults (the first trial auto runs), through the same TextClassifier.
- sklearn: TF-IDF + LogisticRegression, n-grams x C x class_weight by 5-fold CV (GridSearchCV).
- fasttext: epoch x lr x wordNgrams on a 20% validation cut of the training cut, then refitted.
- embeddings_lr: frozen MiniLM (sentence-transformers) embeddings + LR, C x class_weight by CV.
- setfit / setfit_tuned: SetFit on the packaged MiniLM, its default recipe and one tuned setting
  (larger body learning rate, class-balanced head), both capped at `setfit_steps` steps on CPU.

Goal checks in the summary: auto >= every peer on the mean and on all sets but at most one (5 of
6); auto >= its own best single candidate on all sets but at most one.

    python -m bench small_data --mode smoke|quick|full
    TEXTCLF_SMALL_DATA_SEEDS=0,1,2 python -m bench small_data --mode quick   # the quick protocol, more seeds
    TEXTCLF_SMALL_DATA_LATER=auto python -m bench small_data --mode full   # a sitting for the others
Writes bench/results/small_data.json (quick/smoke: small_data.MODE.json in the harness's folder)
with summary.sets[SET][SYSTEM] and summary.mean[SYSTEM] (test macro-F1, mean over seeds),
summary.fit_seconds, summary.auto_choice and summary.goals. Resumable: every finished
(set, seed, system) is appended to small_data.MODE.partial.jsonl beside the results and skipped by
a rerun of the same mode whose settings for that system are unchanged (SYSTEM_SETTINGS); the file
is removed once the run completes. The results JSON keeps each run's settings fingerprint, so a
later run with more seeds, or of another mode, takes from every small_data results JSON the
finished runs whose system ran with the same settings (the full protocol fits auto, its neural
candidates and SetFit, and takes the rest from the quick one). The full protocol takes hours
longer than a sitting: its partial file is committed (see .gitignore), so each sitting goes on
where the last one stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bench.harness import Benchmark, register
from bench.protocol import SittingOver, git_commit, load_average, markdown_table

PEERS = ("sklearn", "fasttext", "embeddings_lr", "setfit", "setfit_tuned")
ALL_SYSTEMS = ("auto", *PEERS)
# Encoder levers measured beside auto's candidates (issue #32): the family's defaults plus a change.
# On long-text sets auto's embedding family starts from window-mean (whole-document) embeddings; the
# truncation variant reads each text's first window only, to measure that lever.
VARIANTS = {"embedding_mpnet": ("embedding_mpnet", {}),  # frozen all-mpnet-base-v2 vectors + LR
            "embedding_truncation": ("embedding", {"long_text": {"strategy": "head"}})}
# Quick: auto's families but the slow neural ones (GRU, MiniLM fine-tune), mpnet searched where installed.
QUICK_CANDIDATES = ["tfidf_word", "tfidf_char", "bag", "embedding", "embedding_mpnet", "cnn"]
SIZES = {
    # Smoke (CI runs it with every other benchmark): one set from a bundled package, every system, tiny.
    "smoke": {"seeds": [0], "sets": ["debates"], "train_rows": 60, "test_rows": 40, "time_budget": 3.0,
              "candidates": ["tfidf_word", "tfidf_char"], "setfit_steps": 2, "max_length": 32, "setfit_max_length": 32,
              "tiny_grids": True,  # SetFit's setup is ~40 s even for 2 steps: one recipe is enough to check it
              "systems": ["auto", "candidate:tfidf_word", "candidate:tfidf_char", "sklearn", "fasttext",
                          "embeddings_lr", "setfit"]},
    # Quick: one seed, every set (smallest first), auto at the 10-minute budget the goals allow, over the families
    # that fit in it on two cores.
    # SetFit gets 20 contrastive steps at 64 tokens (each step took 5-25 s on two busy cores).
    "quick": {"seeds": [0], "sets": ["questions", "bbc", "debates", "drug-reviews", "tweets", "rt3"],
              "train_rows": None, "test_rows": None,
              "time_budget": 600.0, "candidates": QUICK_CANDIDATES, "setfit_steps": 20, "max_length": 128,
              "setfit_max_length": 64, "tiny_grids": False, "variants": ["embedding_truncation"]},
    # Full: every set, three seeds, auto's 10-minute default budget over every family (MiniLM fine-tune too).
    "full": {"seeds": [0, 1, 2], "sets": ["rt3", "bbc", "tweets", "drug-reviews", "questions", "debates"],
             "train_rows": None, "test_rows": None, "time_budget": 600.0, "candidates": None, "setfit_steps": 200,
             "max_length": 128, "setfit_max_length": 128, "tiny_grids": False, "variants": ["embedding_truncation"]},
}


def candidate_names(candidates: list[str] | None) -> list[str]:
    """The families auto searches: the given ones, or its defaults on this machine (None)."""
    if candidates is not None:
        return list(candidates)
    try:
        from textclf.models.auto.search import default_candidates
    except ImportError:  # a textclf from before encoder-dependent families
        from textclf.models.auto.search import DEFAULT_CANDIDATES as defaults
    else:
        defaults = default_candidates()
    return list(defaults)


def _scored(clf, test, train_seconds: float) -> dict:
    from bench.data import score

    started = time.perf_counter()
    probs = clf.predict_proba(list(test.texts))
    predict_seconds = time.perf_counter() - started
    scores = score(list(test.labels), probs, [str(c) for c in clf.label_map_.labels])
    return {"macro_f1": scores.macro_f1, "accuracy": scores.accuracy, "ece": scores.ece,
            "train_seconds": train_seconds, "predict_seconds": predict_seconds}


@contextlib.contextmanager
def cold_embedding_cache(workdir: Path) -> Iterator[None]:
    """textclf caches sentence embeddings on disk ($TEXTCLF_CACHE/embeddings): a fit that found
    the texts of an earlier run there would report a few seconds for encoding it never did. Each
    textclf run gets an empty cache of its own; the encoders/ folder (reassembled packaged
    encoders) is linked in, as that is installation, not work."""
    from textclf.models.encoder_registry import CACHE_VARIABLE, encoder_cache_dir

    encoders = encoder_cache_dir()
    root = workdir / "textclf-cache"
    root.mkdir(parents=True, exist_ok=True)
    if encoders.is_dir() and not (root / "encoders").exists():
        (root / "encoders").symlink_to(encoders, target_is_directory=True)
    before = os.environ.get(CACHE_VARIABLE)
    os.environ[CACHE_VARIABLE] = str(root)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(CACHE_VARIABLE, None)
        else:
            os.environ[CACHE_VARIABLE] = before


def run_auto(train, test, seed: int, budget: float, candidates: list[str] | None, workdir: Path) -> dict:
    """textclf's auto, through the Python API, on the training cut alone (it cross-validates)."""
    from textclf import TextClassifier

    model = {"type": "auto", "time_budget": budget, **({"candidates": candidates} if candidates is not None else {})}
    clf = TextClassifier(model=model, training={"progress": False}, seed=seed)
    started = time.perf_counter()
    clf.fit(list(train.texts), list(train.labels), workdir=workdir)
    row = _scored(clf, test, time.perf_counter() - started)
    summary = clf.card.training_summary if isinstance(clf.card.training_summary, dict) else {}
    chosen = clf.model_params
    row["settings"] = {"time_budget": budget, "candidates": candidate_names(candidates),
                       "chosen_type": chosen.get("type"), "chosen": chosen,
                       "selected": summary.get("selected"), "protocol": summary.get("protocol"),
                       "elapsed_seconds": summary.get("elapsed_seconds"), "trials": summary.get("trials"),
                       "leaderboard_top": (summary.get("leaderboard") or [])[:8]}
    return row


def run_candidate(name: str, train, test, seed: int, workdir: Path) -> dict:
    """One auto family alone (or a VARIANTS entry), with the defaults of its first trial, through
    TextClassifier."""
    from optuna.trial import FixedTrial

    from textclf import TextClassifier
    from textclf.models.auto.search import FAMILIES, long_texts

    base, change = VARIANTS.get(name, (name, {}))
    family = FAMILIES[base]
    context = {"multi_label": False, "class_weight": None, "pretrained": "minilm", "train_rows": len(train),
               "long_texts": long_texts(train.texts)}
    model, overrides = family.suggest(FixedTrial(dict(family.defaults)), context)
    model = {**model, **change}
    clf = TextClassifier(model=model, training={**overrides, "progress": False}, seed=seed)
    started = time.perf_counter()
    clf.fit(list(train.texts), list(train.labels), workdir=workdir)
    row = _scored(clf, test, time.perf_counter() - started)
    row["settings"] = {"model": model, "training_overrides": overrides, "defaults_of": f"auto family {name}"}
    return row


def run_peer(system: str, train, test, seed: int, size) -> dict:
    from bench import peers_systems

    tiny = peers_systems.TINY_GRIDS if size.tiny_grids else {}
    if system in ("setfit", "setfit_tuned"):
        return peers_systems.small_setfit(train, test, seed, "tuned" if system == "setfit_tuned" else "default",
                                          max_steps=size.setfit_steps, max_length=size.setfit_max_length)
    if system == "embeddings_lr":
        return peers_systems.small_embeddings_lr(train, test, seed, max_length=size.max_length,
                                                 **({"cs": tiny["embeddings_lr"]} if tiny else {}))
    return peers_systems.SMALL_PEERS[system](train, test, seed, grid=tiny.get(system))


SEEDS_ENV = "TEXTCLF_SMALL_DATA_SEEDS"


def seeds_wanted(default: list[int]) -> list[int]:
    """$TEXTCLF_SMALL_DATA_SEEDS (a comma list of integers) when set, else the mode's seeds: the
    quick protocol over more seeds, one seed per sitting (finished runs are kept, see below)."""
    given = os.environ.get(SEEDS_ENV, "").strip()
    if not given:
        return list(default)
    try:
        return [int(x) for x in given.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"{SEEDS_ENV}={given!r}: expected a comma list of integers, e.g. 0,1,2") from None


LATER_ENV = "TEXTCLF_SMALL_DATA_LATER"


def systems_for_later(known: list[str]) -> set[str]:
    """$TEXTCLF_SMALL_DATA_LATER (a comma list of systems): their unfinished runs are left for a
    later sitting, so that one sitting can finish the peers while auto's search is still changing.
    A sitting that leaves runs writes no results (bench.protocol.SittingOver)."""
    given = {x.strip() for x in os.environ.get(LATER_ENV, "").split(",") if x.strip()}
    unknown = sorted(given - set(known))
    if unknown:
        raise SystemExit(f"{LATER_ENV}: {', '.join(unknown)} is not a system of this run ({', '.join(known)})")
    return given


# -- the partial-results file: one JSON line per finished (set, seed, system) -----------------------
def partial_path(results: Path, mode: str) -> Path:
    return results / f"small_data.{mode}.partial.jsonl"


# The sizes each kind of system depends on, beside the cuts (train_rows, test_rows): a record stays
# valid when only another system's settings change (a longer auto budget reruns auto alone).
SYSTEM_SETTINGS = {"auto": ("time_budget", "candidates"), "setfit": ("setfit_steps", "setfit_max_length"),
                   "embeddings_lr": ("max_length", "tiny_grids"), "sklearn": ("tiny_grids",),
                   "fasttext": ("tiny_grids",), "candidate": (), "variant": ()}


def run_fingerprint(sizes: dict, system: str) -> str:
    """What makes two runs' records of `system` interchangeable: the cuts and the settings that
    system uses (not which sets, seeds and systems are run: a record names its own). auto's
    candidates are named as resolved on this machine (`None` means its defaults, which depend on
    the installed encoders)."""
    kind = "setfit" if system.startswith("setfit") else system.split(":", 1)[0]
    keys = ("train_rows", "test_rows", *SYSTEM_SETTINGS[kind])
    settings = {k: sizes.get(k) for k in keys}
    if "candidates" in settings:
        settings["candidates"] = candidate_names(settings["candidates"])
    revision = search_revision() if kind == "auto" else 1
    if revision > 1:  # records of the first revision carry no key, and stay valid only for it
        settings["search_revision"] = revision
    return json.dumps({"sizes": settings}, sort_keys=True, default=str)


def search_revision() -> int:
    """The revision of auto's search and choice (textclf.models.auto.SEARCH_REVISION; 1 before it
    existed): auto's finished runs of another revision are run again."""
    try:
        from textclf.models.auto import SEARCH_REVISION
    except ImportError:
        return 1
    return int(SEARCH_REVISION)


def reusable(records, sizes: dict) -> dict[tuple[str, int, str], dict]:
    """The finished records (of a partial file or a results JSON) whose system ran with the
    settings in `sizes`, by (set, seed, system); the others are run again."""
    done, expected = {}, {}  # expected: one fingerprint per system (auto's probes the installed encoders)
    for record in records:
        system = record.get("system", "")
        known = system in ALL_SYSTEMS or system.startswith(("candidate:", "variant:"))
        if not known or record.get("status") != "ok":
            continue
        if system not in expected:
            expected[system] = run_fingerprint(sizes, system)
        if record.get("fingerprint") == expected[system]:
            done[(record["set"], record["seed"], system)] = record
    return done


def read_partial(path: Path, sizes: dict) -> dict[tuple[str, int, str], dict]:
    """Finished records of an earlier run whose system ran with the same settings; others are ignored."""
    records = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill: that system reruns
                continue
            records.append(record)
    return reusable(records, sizes)


def published_runs(paths: list[Path], sizes: dict) -> dict[tuple[str, int, str], dict]:
    """The finished runs of earlier complete runs (their results JSONs, of any mode) that ran with
    the same settings: a run with more seeds fits only the new ones, and the full protocol takes
    from the quick one the systems both run alike (the candidates, TF-IDF, fastText, MiniLM+LR),
    fitting only those whose settings differ (auto's candidates, SetFit's steps). A later path
    wins over an earlier one."""
    done = {}
    for path in paths:
        try:
            runs = json.loads(path.read_text(encoding="utf-8")).get("runs", [])
        except (OSError, json.JSONDecodeError, AttributeError):
            continue
        done.update(reusable(runs, sizes))
    return done


def published_paths(own: Path) -> list[Path]:
    """Every mode's results JSON beside this mode's `own`, which comes last (it wins)."""
    others = sorted(p for p in own.parent.glob("small_data*.json") if p != own)
    return [*others, own]


def append_partial(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, default=str) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


# -- the summary ---------------------------------------------------------------------------------
def summarise(records: list[dict], sets: list[str], systems: list[str], candidates: list[str]) -> dict:
    def mean(values):
        return round(float(np.mean(values)), 4) if values else None

    ok = [r for r in records if r.get("status") == "ok"]
    per_set = {s: {name: mean([r["macro_f1"] for r in ok if r["set"] == s and r["system"] == name]) for name in systems}
               for s in sets}
    per_set = {s: {k: v for k, v in cells.items() if v is not None} for s, cells in per_set.items()}
    complete = [name for name in systems if all(name in per_set[s] for s in sets)]
    overall = {name: mean([per_set[s][name] for s in sets]) for name in complete}
    fit_seconds = {name: mean([r["train_seconds"] for r in ok if r["system"] == name]) for name in systems}
    choice = {s: sorted({str(r["settings"].get("chosen_type")) for r in ok if r["set"] == s and r["system"] == "auto"})
              for s in sets}
    goals: dict = {"sets": len(sets), "wins_needed": max(1, len(sets) - 1), "definition":
                   "auto >= X on the mean over sets, and auto >= X on at least all sets but one (5 of 6)"}
    if "auto" in complete:
        peers = [p for p in PEERS if p in complete]
        beats_all = [s for s in sets if all(per_set[s]["auto"] >= per_set[s][p] for p in peers)]
        goals["auto_vs_peers"] = {
            "peers": peers, "mean_auto": overall["auto"],
            "mean_ok": {p: overall["auto"] >= overall[p] for p in peers},
            "sets_where_auto_beats_every_peer": beats_all,
            "passed": all(overall["auto"] >= overall[p] for p in peers) and len(beats_all) >= goals["wins_needed"]}
        names = [f"candidate:{c}" for c in candidates if f"candidate:{c}" in complete]
        if names:
            best = {s: max(names, key=lambda n: per_set[s][n]) for s in sets}
            wins = [s for s in sets if per_set[s]["auto"] >= per_set[s][best[s]]]
            goals["auto_vs_best_candidate"] = {
                "best_candidate": {s: {"name": best[s], "macro_f1": per_set[s][best[s]]} for s in sets},
                "sets_where_auto_matches_or_beats_it": wins, "passed": len(wins) >= goals["wins_needed"]}
    return {"metric": "test macro-F1, mean over seeds", "sets": per_set, "mean": overall,
            "fit_seconds": fit_seconds, "auto_choice": choice, "goals": goals,
            "encoder_levers": encoder_levers(per_set, overall, sets)}


LONG_TEXT_SETS = ("bbc", "drug-reviews")  # where auto's embedding family reads whole documents (search.long_texts)


def encoder_levers(per_set: dict, overall: dict, sets: list[str]) -> dict:
    """The stronger encoder against MiniLM on the mean over sets (both with auto's embedding
    defaults), and whole-document embeddings (auto's MiniLM default on long texts) against
    truncation on the long-text sets."""
    plain, levers = "candidate:embedding", {}
    mpnet = next((n for n in ("candidate:embedding_mpnet", "variant:embedding_mpnet") if n in overall), None)
    if plain in overall and mpnet is not None:
        levers["mpnet_vs_minilm"] = {"mean_mpnet": overall[mpnet], "mean_minilm": overall[plain],
                                     "passed": overall[mpnet] > overall[plain]}
    long_sets = [s for s in LONG_TEXT_SETS if s in sets and {plain, "variant:embedding_truncation"} <= set(per_set[s])]
    if long_sets:
        levers["windows_vs_truncation"] = {
            "sets": {s: {"windows": per_set[s][plain], "truncation": per_set[s]["variant:embedding_truncation"]}
                     for s in long_sets},
            "passed": all(per_set[s][plain] > per_set[s]["variant:embedding_truncation"] for s in long_sets)}
    return levers


def table(summary: dict, systems: list[str], mode: str) -> str:
    shown = [system for system in systems if system in summary["mean"]]
    rows = [[set_name, *(f"{cells[system]:.3f}" for system in shown), ", ".join(summary["auto_choice"].get(set_name, []))]
            for set_name, cells in summary["sets"].items()]
    rows.append(["**mean**", *(f"**{summary['mean'][system]:.3f}**" for system in shown), ""])
    rows.append(["fit s (mean)", *(f"{summary['fit_seconds'][system]:.0f}" for system in shown), ""])
    return f"Small data ({mode}): test macro-F1\n\n" + markdown_table(["set", *shown, "auto chose"], rows)


@register
class SmallData(Benchmark):
    name = "small_data"
    summary = "auto vs its candidates, SetFit, TF-IDF+LR, fastText, MiniLM+LR on six small packaged sets"
    sizes = SIZES
    optional = {"setfit": "setfit", "setfit_tuned": "setfit", "fasttext": "fasttext",
                "embeddings_lr": "sentence_transformers"}

    def available(self, system: str) -> bool:
        if system in ("variant:embedding_mpnet", "candidate:embedding_mpnet"):
            from textclf.models.encoder_registry import installed_encoders

            if "mpnet-base" not in installed_encoders():
                self.proto.skip(system, "all-mpnet-base-v2 is not installed (make install EXTRAS=mpnet)")
                return False
        return super().available(system)

    def systems(self) -> list[str]:
        wanted = getattr(self.size, "systems", None)  # a test may narrow them
        variants = [f"variant:{v}" for v in getattr(self.size, "variants", [])]
        every = ["auto", *(f"candidate:{c}" for c in candidate_names(self.size.candidates)), *variants, *PEERS]
        return [s for s in every if wanted is None or s in wanted]

    def run(self) -> dict:
        from bench import small_data_sets
        from textclf.errors import DataError

        size, mode = self.size, self.proto.mode
        size.seeds = seeds_wanted(size.seeds)
        # Every optional peer's availability is recorded, also those a smoke run leaves out.
        available = {s for s in ("auto", *PEERS, *self.systems()) if self.available(s)}
        systems = [s for s in self.systems() if s in available]
        partial = partial_path(self.proto.results, mode)
        published = published_paths(self.proto.results_path())
        done = {**published_runs(published, vars(size)), **read_partial(partial, vars(size))}
        if done:
            print(f"small_data: {len(done)} finished runs reused from "
                  f"{', '.join(p.name for p in published if p.is_file())} and {partial.name}", flush=True)
        sets = []
        for set_name in size.sets:  # a set whose package is not installed is skipped and recorded
            try:
                small_data_sets.load(set_name)
                sets.append(set_name)
            except DataError as err:
                self.proto.skip(f"set:{set_name}", str(err))
        jobs = [(s, seed, system) for s in sets for seed in size.seeds for system in systems
                if system != "variant:embedding_truncation" or s in LONG_TEXT_SETS]  # the same vectors elsewhere
        later = systems_for_later(systems)
        left_for_later = [job for job in jobs if job[2] in later and job not in done]
        jobs = [job for job in jobs if job not in left_for_later]
        records, cuts, started = [], {}, time.perf_counter()
        commit = git_commit()  # records from several sittings may come from several commits
        ran = 0
        with tempfile.TemporaryDirectory(prefix="bench-small-data-") as tmp:
            for i, (set_name, seed, system) in enumerate(jobs, 1):
                if (set_name, seed) not in cuts:
                    train, test, facts = small_data_sets.cut(set_name, seed, size.train_rows, size.test_rows)
                    cuts[(set_name, seed)] = (train, test, facts)
                train, test, facts = cuts[(set_name, seed)]
                key = (set_name, seed, system)
                if key in done:
                    records.append(done[key])
                    continue
                workdir = Path(tmp) / f"{set_name}-{seed}-{system.replace(':', '-')}"
                record = {"set": set_name, "seed": seed, "system": system,
                          "fingerprint": run_fingerprint(vars(size), system), "commit": commit,
                          "train_rows": len(train), "test_rows": len(test), "load_average_at_start": load_average()}
                t0 = time.perf_counter()
                try:
                    if system == "auto":
                        with cold_embedding_cache(workdir):
                            row = run_auto(train, test, seed, size.time_budget, size.candidates, workdir)
                    elif system.startswith(("candidate:", "variant:")):
                        with cold_embedding_cache(workdir):
                            row = run_candidate(system.split(":", 1)[1], train, test, seed, workdir)
                    else:
                        row = run_peer(system, train, test, seed, size)
                    record.update(status="ok", **row)
                    append_partial(partial, record)
                except Exception as err:  # noqa: BLE001 - one failing system must not sink the other runs
                    traceback.print_exc()
                    record.update(status="failed", error=f"{type(err).__name__}: {err}")
                record["wall_seconds"] = round(time.perf_counter() - t0, 2)
                records.append(record)
                ran += 1
                elapsed = time.perf_counter() - started
                left = sum(1 for j in jobs[i:] if j not in done)
                eta = elapsed / ran * left
                f1 = f"{record['macro_f1']:.3f}" if record["status"] == "ok" else record["status"]
                print(f"small_data [{i}/{len(jobs)}] {set_name} seed {seed} {system}: macro-F1 {f1}, "
                      f"{record['wall_seconds']:.0f}s (load {record['load_average_at_start'][0]}); "
                      f"elapsed {elapsed / 60:.1f} min, about {eta / 60:.0f} min left", file=sys.stderr, flush=True)
        if left_for_later:
            n = len(left_for_later)
            raise SittingOver(f"{n} run{'s' if n != 1 else ''} of {', '.join(sorted(later))} left for a later "
                              f"sitting ({LATER_ENV}); the finished ones are in {partial}")
        summary = summarise(records, sets, systems, candidate_names(size.candidates))
        failed = [r for r in records if r.get("status") != "ok"]
        if not failed:
            partial.unlink(missing_ok=True)  # complete: a rerun starts afresh
        data_sets = {s: cuts[(s, size.seeds[0])][2] for s in sets}
        return {"summary": summary, "systems": systems, "seeds": list(size.seeds),
                "budgets": {"auto_time_budget_s": size.time_budget, "auto_candidates": candidate_names(size.candidates),
                            "setfit_max_steps": size.setfit_steps, "setfit_batch": 16, "setfit_max_length": size.setfit_max_length,
                            "embeddings_max_length": size.max_length,
                            "sklearn_grid": "ngram (1,1)/(1,2) x C 0.3..30 x class_weight, 5-fold CV",
                            "fasttext_grid": "epoch 10/25/50 x lr 0.1/0.5/1.0 x wordNgrams 1/2 on a 20% validation cut"},
                "data_sets": data_sets, "failed": [{k: r.get(k) for k in ("set", "seed", "system", "error")} for r in failed],
                "runs": records,
                "table": table(summary, systems, mode)}
