"""Label efficiency: how many labels does each query strategy need to reach 95% of the macro-F1
the same model gets from every label? An oracle simulation (labels revealed one batch at a time).

Sets: Rotten Tomatoes 3-class and fresh-vs-rotten, BBC News (5 topics), and a kaomoji
single-label cut (rows with exactly one of six emotion labels). Per set and seed: a stratified
80/20 pool/test split; one model for every strategy (logistic regression, class-balanced, on
frozen MiniLM embeddings; TF-IDF+SVD in smoke mode; char TF-IDF+SVD for kaomoji); the same batch
schedule (first batch, then +10% of the labels so far, at least `batch`). Strategies:

- textclf: the labelling app's own (textclf.labelling.strategies): k-means diversity cold start
  (one typical text per cluster), then least-confidence batches ordered over k-means clusters;
- random: uniform sampling;
- small_text: small-text 1.4.1's standard strategies on the same model and features (BreakingTies,
  LeastConfidence, PredictionEntropy; random cold start), the best per set reported.

A run stops at the target or at the cap (then the cap is reported, `censored` says so).
Also the review benchmark: on a copy of Rotten Tomatoes with 5% of labels flipped on purpose, the
share of flipped rows that `textclf review`'s queue puts in its first 10%.

    python -m bench active_learning --mode smoke     # seconds; `run(mode)` from Python
    TEXTCLF_AL_SETS=rt3,bbc TEXTCLF_AL_SEEDS=0,1 TEXTCLF_AL_SYSTEMS=textclf,random \
        python -m bench active_learning --mode quick  # a part only, to iterate (comma lists)
Writes bench/results/active_learning.json (smoke/quick: active_learning.MODE.json in the harness's
folder) with summary.sets[SET] = {"textclf": N, "random": N, "small_text": N}; full mode also
draws docs/img/active_learning.png. Full size: twenty seeds, since the first-crossing label count
swings widely from seed to seed (the summary gives textclf minus each peer seed by seed, with a 95%
bootstrap interval over seeds); about 32 minutes on 2 cores (printed as it goes).
"""

from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path

import numpy as np

from bench import data
from bench.harness import Benchmark, register

ROOT = Path(__file__).resolve().parents[2]  # the repository
PLOT = ROOT / "docs" / "img" / "active_learning.png"
TARGET_SHARE = 0.95
TIME_BUDGET_S = 70 * 60  # full mode: seeds not started by then are left out (and listed)
KAOMOJI_EMOTIONS = ("happy", "angry", "sad", "surprised", "shy", "sleepy")
SMALL_TEXT = ("BreakingTies", "LeastConfidence", "PredictionEntropy")
SIZES = {
    "smoke": {"seeds": [0], "rows": 300, "features": "tfidf", "first": 20, "batch": 20, "cap": 120,
              "clusters": 10, "review_rows": 300, "sets": ["rt3", "rt-binary"]},
    "quick": {"seeds": [0], "rows": 3000, "features": "minilm", "first": 20, "batch": 20, "cap": 1500,
              "clusters": 30, "review_rows": 3000, "sets": ["rt3", "rt-binary", "bbc", "kaomoji-emotions"]},
    "full": {"seeds": list(range(20)), "rows": 8000, "features": "minilm", "first": 20, "batch": 20, "cap": 3000,
             "clusters": 50, "review_rows": None, "sets": ["rt3", "rt-binary", "bbc", "kaomoji-emotions"]},
}


def chosen(what: str, default: list, cast=str) -> list:
    """The part of `default` named in $TEXTCLF_AL_<WHAT> (comma list), else all of it."""
    given = os.environ.get(f"TEXTCLF_AL_{what.upper()}", "").strip()
    if not given:
        return default
    picked = [cast(x.strip()) for x in given.split(",") if x.strip()]
    unknown = [x for x in picked if x not in default] if what != "seeds" else []
    if unknown:
        raise ValueError(f"TEXTCLF_AL_{what.upper()}: unknown {', '.join(map(str, unknown))}; choose from {default}")
    return picked


# -- data and features --------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def bundled(name: str):
    return data.bundled(name)


def load_set(name: str, rows: int | None):
    """(texts, labels) of one set, a fixed stratified sample of `rows` when given."""
    if name == "kaomoji-emotions":
        examples = bundled("kaomoji")
        keep, labels = [], []
        for i, label in enumerate(examples.labels):
            hits = [x for x in label if x in KAOMOJI_EMOTIONS]
            if len(hits) == 1:
                keep.append(i)
                labels.append(hits[0])
        from textclf.data import Examples

        examples = Examples(texts=[examples.texts[i] for i in keep], labels=labels)
    else:
        examples = bundled("bbc-news" if name == "bbc" else "rotten-tomatoes")
        if name == "rt-binary":
            examples = examples.subset([i for i, x in enumerate(examples.labels) if x != "plot"])
    examples = data.stratified_subset(examples, rows)
    return list(examples.texts), list(examples.labels)


def features(name: str, texts: list[str], kind: str) -> np.ndarray:
    from textclf.labelling.features import minilm_embeddings, tfidf_svd

    if name == "kaomoji-emotions":  # emoticons: characters carry the meaning, MiniLM sees [UNK]s
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.preprocessing import normalize

        matrix = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2).fit_transform(texts)
        return normalize(TruncatedSVD(n_components=200, random_state=0).fit_transform(matrix)).astype(np.float32)
    return tfidf_svd(texts) if kind == "tfidf" else minilm_embeddings(texts)


def model():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=4.0, max_iter=1000, class_weight="balanced")


def macro_f1(fitted, x, y) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, fitted.predict(x), average="macro", labels=np.unique(y), zero_division=0))


# -- one simulated labelling run ----------------------------------------------------------------
def schedule(first: int, batch: int, cap: int) -> list[int]:
    sizes = [first]
    while sizes[-1] < cap:
        sizes.append(min(cap, sizes[-1] + max(batch, int(0.1 * sizes[-1]))))
    return sizes


def simulate(choose, x_pool, y_pool, x_test, y_test, target: float, budgets: list[int]) -> dict:
    """`choose(labelled, fitted, n)` -> n new pool rows; stops when test macro-F1 >= target."""
    from threadpoolctl import threadpool_limits

    labelled: list[int] = choose([], None, budgets[0])
    curve = []
    with threadpool_limits(1, user_api="blas"):
        for k, budget in enumerate(budgets):
            fitted = model().fit(x_pool[labelled], y_pool[labelled]) if len(set(y_pool[labelled])) > 1 else None
            score = macro_f1(fitted, x_test, y_test) if fitted is not None else 0.0
            curve.append([len(labelled), round(score, 4)])
            if score >= target:
                return {"labels": len(labelled), "censored": False, "curve": curve}
            if k + 1 < len(budgets):
                labelled = labelled + choose(labelled, fitted, budgets[k + 1] - len(labelled))
    return {"labels": len(labelled), "censored": True, "curve": curve}


def textclf_chooser(x_pool, clusters: int, seed: int):
    from textclf.labelling import strategies

    assignments, _ = strategies.cluster_pool(x_pool, clusters, seed)  # orders each batch

    def choose(labelled, fitted, n):
        unlabelled = np.setdiff1d(np.arange(len(x_pool)), labelled)
        if fitted is None:  # as the app: one text per cluster, as many clusters as texts asked
            first, centres = strategies.cluster_pool(x_pool, n, seed)
            start = strategies.diverse_start(x_pool, first, centres, n, exclude=labelled)
            return start + strategies.random_order(len(x_pool), n - len(start), labelled + start, seed)
        probs = fitted.predict_proba(x_pool)
        return strategies.next_batch(probs, assignments, unlabelled, n)
    return choose


def random_chooser(size: int, seed: int):
    order = np.random.default_rng(seed).permutation(size).tolist()

    def choose(labelled, fitted, n):
        return order[len(labelled):len(labelled) + n]
    return choose


def small_text_chooser(strategy_name: str, x_pool, y_pool, seed: int):
    from small_text import query_strategies
    from small_text.classifiers import SklearnClassifier
    from small_text.data import SklearnDataset
    from small_text.initialization import random_initialization

    classes = int(y_pool.max()) + 1
    strategy = getattr(query_strategies, strategy_name)()
    pool = SklearnDataset(x_pool, y_pool, target_labels=np.arange(classes))
    np.random.seed(seed)  # small-text's random initialisation draws from numpy's global state

    def choose(labelled, fitted, n):
        if fitted is None:
            return [int(i) for i in random_initialization(y_pool, n_samples=n)]
        clf = SklearnClassifier(model(), classes)
        clf.model = fitted  # the very model the benchmark fitted on these labels
        unlabelled = np.setdiff1d(np.arange(len(x_pool)), labelled)
        return [int(i) for i in strategy.query(clf, pool, unlabelled, np.array(labelled), y_pool[labelled], n=n)]
    return choose


def run_set(name: str, size, seed: int, vectors: np.ndarray, y: np.ndarray, systems: list[str]) -> dict:
    from sklearn.model_selection import train_test_split

    pool_rows, test_rows = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=seed)
    x_pool, y_pool, x_test, y_test = vectors[pool_rows], y[pool_rows], vectors[test_rows], y[test_rows]
    full = macro_f1(model().fit(x_pool, y_pool), x_test, y_test)
    target = TARGET_SHARE * full
    budgets = schedule(size.first, size.batch, min(size.cap, len(y_pool)))
    choosers = {"textclf": lambda: textclf_chooser(x_pool, size.clusters, seed),
                "random": lambda: random_chooser(len(y_pool), seed)}
    for strategy in SMALL_TEXT:
        choosers[f"small_text:{strategy}"] = lambda s=strategy: small_text_chooser(s, x_pool, y_pool, seed)
    runs = {system: simulate(choosers[system](), x_pool, y_pool, x_test, y_test, target, budgets)
            for system in choosers if system.split(":")[0] in systems}
    return {"pool": len(y_pool), "test": len(y_test), "full_macro_f1": round(full, 4),
            "target_macro_f1": round(target, 4), "runs": runs}


# -- the review queue on flipped labels ----------------------------------------------------------
def review_flips(rows: int | None, seed: int = 0, share: float = 0.05) -> dict:
    """Flip `share` of a Rotten Tomatoes copy's labels; how many flipped rows the review queue
    (label-noise suspects + the model's confident mistakes, interleaved) puts in its first 10%."""
    from textclf.analysis.errors import ErrorSettings, analyze_errors
    from textclf.audit.label_noise import label_noise_suspects
    from textclf.classifier import TextClassifier
    from textclf.data import Examples
    from textclf.labelling.review import review_queue

    texts, labels = load_set("rt3", rows)
    rng = np.random.default_rng(seed)
    flipped = set(rng.choice(len(texts), size=int(round(share * len(texts))), replace=False).tolist())
    names = sorted(set(labels))
    noisy = [rng.choice([x for x in names if x != label]) if i in flipped else label for i, label in enumerate(labels)]
    examples = Examples.from_lists(texts, noisy)
    started = time.perf_counter()
    suspects = label_noise_suspects({"data": examples}, top=len(examples), seed=seed).suspects
    clf = TextClassifier(model={"type": "tfidf"}, calibration=None, seed=seed).fit(examples)
    mistakes = [m for m in analyze_errors(clf, examples, settings=ErrorSettings(n_resamples=20)).mistakes
                if m["kind"] == "confident"]
    queue = review_queue(examples, suspects, mistakes)
    head = [entry.index for entry in queue[:max(1, len(examples) // 10)]]
    found = sum(i in flipped for i in head)
    return {"rows": len(examples), "flipped": len(flipped), "queue": len(queue), "first_10_percent": len(head),
            "flipped_in_first_10_percent": found, "recall_in_first_10_percent": round(found / len(flipped), 4),
            "precision_in_first_10_percent": round(found / len(head), 4), "goal": ">= 0.5 recall",
            "seconds": round(time.perf_counter() - started, 1)}


# -- the whole benchmark -------------------------------------------------------------------------
def paired_difference(seeds: list[dict], system: str, peer: str, resamples: int = 10_000) -> dict:
    """textclf's labels minus `peer`'s, seed by seed (same pool, test cut and target): the mean and
    a 95% bootstrap interval over seeds. An interval that holds 0 is a difference within noise."""
    differences = np.array([s["runs"][system]["labels"] - s["runs"][peer]["labels"] for s in seeds], dtype=float)
    draws = np.random.default_rng(0).integers(0, len(differences), size=(resamples, len(differences)))
    low, high = np.percentile(differences[draws].mean(axis=1), [2.5, 97.5])
    return {"peer": peer, "mean": round(float(differences.mean()), 1), "interval95": [round(float(low), 1), round(float(high), 1)],
            "seeds": len(differences)}


def summarise(per_set: dict) -> dict:
    """Labels to reach the target, mean over seeds; small_text is its best strategy per set."""
    sets = {}
    for name, seeds in per_set.items():
        mean = {system: float(np.mean([s["runs"][system]["labels"] for s in seeds])) for system in seeds[0]["runs"]}
        peers = {k: v for k, v in mean.items() if k.startswith("small_text:")}
        row = {"textclf": mean.get("textclf"), "random": mean.get("random")}
        if peers:
            best = min(peers, key=peers.get)
            row.update(small_text=peers[best], small_text_strategy=best.split(":", 1)[1])
        if "textclf" in mean:  # textclf minus each peer, seed by seed
            row["textclf_minus"] = {peer.replace("small_text:", ""): paired_difference(seeds, "textclf", peer)
                                    for peer in mean if peer != "textclf"}
        row["censored"] = sorted({system for s in seeds for system, r in s["runs"].items() if r["censored"]})
        sets[name] = row
    ratios = [r["random"] / r["textclf"] for r in sets.values() if r.get("textclf") and r.get("random")]
    return {"sets": sets, "random_over_textclf_mean": round(float(np.mean(ratios)), 3) if ratios else None,
            "goal": "random/textclf >= 2 on the mean over sets; textclf <= small_text on every set"}


def markdown_table(summary: dict) -> str:
    """The docs table (docs/labelling.md): labels to reach the target, mean over seeds."""
    lines = ["| set | textclf | random | small-text (best strategy) | textclf minus that strategy, 95% interval |",
             "|---|---|---|---|---|"]
    for name, row in summary["sets"].items():
        peer = f"{row['small_text']:.0f} ({row['small_text_strategy']})" if "small_text" in row else "–"
        cells = [f"{row[k]:.0f}" if row.get(k) is not None else "–" for k in ("textclf", "random")]
        paired = row.get("textclf_minus", {}).get(row.get("small_text_strategy"))
        gap = f"{paired['mean']:+.0f} [{paired['interval95'][0]:+.0f}, {paired['interval95'][1]:+.0f}]" if paired else "–"
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {peer} | {gap} |")
    review = summary["review"]
    lines.append(f"\nRandom / textclf labels, mean over sets: {summary['random_over_textclf_mean']}."
                 + (f" Review queue: {review['recall_in_first_10_percent']:.0%} of the flipped labels in its first 10%."
                    if review else ""))
    return "\n".join(lines)


def plot(per_set: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(per_set), figsize=(4.2 * len(per_set), 3.4), squeeze=False)
    for axis, (name, seeds) in zip(axes[0], per_set.items()):
        first = seeds[0]
        for system, run in first["runs"].items():
            n, f1 = zip(*run["curve"])
            axis.plot(n, f1, label=system.replace("small_text:", "st:"), lw=2 if system == "textclf" else 1)
        axis.axhline(first["target_macro_f1"], color="grey", ls="--", lw=1)
        axis.set_xscale("log")
        axis.set_title(name)
        axis.set_xlabel("labels")
    axes[0][0].set_ylabel("test macro-F1 (seed 0)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(mode: str = "smoke", systems: list[str] | None = None, plot_path: Path | None = None) -> dict:
    """The benchmark's payload (per set and seed runs, the summary, the review figure)."""
    from types import SimpleNamespace

    size = SimpleNamespace(**SIZES[mode])
    size.sets, size.seeds = chosen("sets", size.sets), chosen("seeds", size.seeds, int)
    systems = chosen("systems", systems or ["textclf", "random", "small_text"])
    started, per_set, left_out = time.perf_counter(), {}, []
    total = len(size.sets) * len(size.seeds)
    for name in size.sets:
        texts, labels = load_set(name, size.rows)
        names = sorted(set(labels))
        y = np.array([names.index(x) for x in labels])
        vectors = features(name, texts, size.features)
        per_set[name] = []
        for seed in size.seeds:
            if time.perf_counter() - started > TIME_BUDGET_S and per_set[name]:
                left_out.append(f"{name} seed {seed}")
                continue
            per_set[name].append(run_set(name, size, seed, vectors, y, systems))
            done = sum(len(v) for v in per_set.values())
            elapsed = time.perf_counter() - started
            print(f"active_learning {name} seed {seed}: {elapsed:.0f} s so far, about "
                  f"{elapsed / done * (total - done):.0f} s left", file=sys.stderr, flush=True)
    review = review_flips(size.review_rows) if "textclf" in systems else None
    if plot_path is not None:
        plot(per_set, plot_path)
    summary = {**summarise(per_set), "review": review}
    return {"summary": summary, "table": markdown_table(summary), "per_set": per_set, "schedule": {"first": size.first, "batch": size.batch,
            "growth": "10% of the labels so far", "cap": size.cap}, "target_share": TARGET_SHARE,
            "features": size.features, "model": "LogisticRegression(C=4, class_weight=balanced)",
            "peer": "small-text==1.4.1", "left_out_for_time": left_out,
            "seconds": round(time.perf_counter() - started, 1)}


@register
class ActiveLearning(Benchmark):
    name = "active_learning"
    summary = "labels to reach 95% of full-data macro-F1: textclf's query strategy vs random vs small-text"
    sizes = SIZES
    optional = {"small_text": "small_text"}

    def run(self) -> dict:
        systems = ["textclf", "random"] + (["small_text"] if self.available("small_text") else [])
        return run(self.proto.mode, systems, PLOT if self.proto.mode == "full" else None)

