"""Long documents: what each `model.long_text` strategy sees, and what it costs in accuracy.

    nice -n 10 python bench/bench_long_docs.py [--quick]

(a) BBC News (bundled, 5 topics; most articles are several windows long): stratified random
    train/test cut, accuracy and macro-F1 per strategy, with the share of content tokens seen.
(b) Needle in long filler: a clear fresh/rotten review snippet (a held-out TF-IDF model is
    confident about its label) inserted at a random sentence boundary of ~450 tokens of Rotten
    Tomatoes plot-summary sentences (neutral filler). Accuracy per evidence position (start /
    middle / end third of the document). Head truncation only sees the first window, so it should
    fail when the evidence is late; sliding windows and hierarchical encoding see everything.

Models: a small from-scratch CNN (max pooling), 128-token windows ([CLS] included), at most 8
windows per document, the same training for every strategy (per-window training, which has
several rows per document, in batches of 128 windows instead of 32 documents). Writes bench/results/long_docs.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402

from textclf import Examples, TextClassifier  # noqa: E402
from textclf.data.bundled import load_bundled  # noqa: E402

MAX_LENGTH = 128  # tokens per window, [CLS] included
MODEL = {"type": "cnn", "embedding_dim": 64, "num_filters": 64, "kernel_sizes": [3, 5], "dropout": 0.2,
         "tokenizer": {"vocab_size": 8000}}
TRAINING = {"max_length": MAX_LENGTH, "epochs": 6, "batch_size": 32, "learning_rate": 5e-3, "progress": False}
# Per-window training has ~5-10x more rows than documents: batches of windows keep its step count
# (and time) comparable with the document-level strategies.
WINDOW_BATCH_SIZE = 128
MAX_WINDOWS = 8  # per document (first and last always kept)
BBC_TOPICS = {  # retrieval queries: label -> description
    "business": "business economy company market shares bank profits firm sales growth prices",
    "entertainment": "entertainment film music star award show actor singer band album",
    "politics": "politics government minister election party labour tory parliament vote",
    "sport": "sport match game team player win cup champion coach season",
    "tech": "technology computer software internet mobile phone users digital online games",
}
STRATEGIES = {
    "head": {"strategy": "head"},
    "tail": {"strategy": "tail"},
    "head_tail": {"strategy": "head_tail", "head_tokens": 32},
    "retrieval_bm25": {"strategy": "retrieval", "top_k": 2, "passage_words": 40},
    "sliding_window_mean": {"strategy": "sliding_window", "aggregation": "mean", "max_windows": MAX_WINDOWS},
    "hierarchical_attention": {"strategy": "hierarchical", "aggregation": "attention", "max_windows": MAX_WINDOWS},
}


def split(examples: Examples, n_train: int, n_test: int, seed: int = 0) -> tuple[Examples, Examples]:
    order = np.random.default_rng(seed).permutation(len(examples))
    return examples.subset(order[:n_train].tolist()), examples.subset(order[n_train:n_train + n_test].tolist())


# -- (b) the needle set ---------------------------------------------------------------------------
def clear_reviews(rt: Examples, seed: int) -> dict[str, list[str]]:
    """Fresh/rotten reviews (6-40 words), most clear first: ranked by the probability of their
    own label under a TF-IDF model trained on the OTHER half of the reviews."""
    texts = np.array([t for t, y in zip(rt.texts, rt.labels) if y != "plot"], dtype=object)
    labels = np.array([y for y in rt.labels if y != "plot"], dtype=object)
    fold = np.random.default_rng(seed).permutation(len(texts)) % 2
    scored: dict[str, list[tuple[float, str]]] = {"fresh": [], "rotten": []}
    for held in (0, 1):
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
        model = LogisticRegression(C=4.0, max_iter=1000)
        model.fit(vectorizer.fit_transform(texts[fold != held]), labels[fold != held])
        probs = model.predict_proba(vectorizer.transform(texts[fold == held]))
        for text, label, p in zip(texts[fold == held], labels[fold == held], probs):
            if 6 <= len(text.split()) <= 40:
                scored[label].append((float(p[list(model.classes_).index(label)]), text))
    return {label: [t for _, t in sorted(pairs, key=lambda x: -x[0])] for label, pairs in scored.items()}


def needle_set(n: int, filler_words: int, seed: int) -> tuple[Examples, np.ndarray]:
    """n documents: plot-summary sentences with one clear review inserted; returns the examples
    and the evidence position (share of the document's words before the review)."""
    rt = load_bundled("rotten-tomatoes")
    sentences = [s for t, y in zip(rt.texts, rt.labels) if y == "plot"
                 for s in re.split(r"(?<=[.!?])\s+", t) if len(s.split()) >= 5]
    clear = clear_reviews(rt, seed)
    rng = np.random.default_rng(seed)
    per_class = n // 2
    texts, labels, positions = [], [], []
    for label in ("fresh", "rotten"):
        for i in rng.permutation(per_class):  # the per_class clearest reviews
            filler, words = [], 0
            while words < filler_words:
                filler.append(sentences[rng.integers(len(sentences))])
                words += len(filler[-1].split())
            at = int(rng.integers(len(filler) + 1))
            before = sum(len(s.split()) for s in filler[:at])
            texts.append(" ".join(filler[:at] + [clear[label][i]] + filler[at:]))
            labels.append(label)
            positions.append(before / words)
    order = rng.permutation(len(texts))
    examples = Examples.from_lists([texts[i] for i in order], [labels[i] for i in order])
    return examples, np.asarray(positions)[order]


# -- runs -----------------------------------------------------------------------------------------
def run(name: str, long_text: dict, train: Examples, test: Examples, query: dict | None) -> tuple[dict, np.ndarray]:
    if query is not None and long_text["strategy"] == "retrieval":
        long_text = {**long_text, "query": query}
    per_window = long_text["strategy"] == "sliding_window" and long_text.get("aggregation") != "attention"
    training = {**TRAINING, "batch_size": WINDOW_BATCH_SIZE} if per_window else TRAINING
    clf = TextClassifier(model={**MODEL, "long_text": long_text}, training=training, seed=0)
    started = time.perf_counter()
    clf.fit(train)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted = np.array(clf.predict(test.texts), dtype=object)
    predict_seconds = time.perf_counter() - started
    truth = np.array(test.labels, dtype=object)
    coverage = clf.model.long_text_report(test.texts)
    row = {
        "strategy": name,
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro")),
        "seen_share_mean": coverage["seen_share_mean"],
        "truncated_share": coverage["truncated_share"],
        "windows_mean": coverage.get("windows_mean", 1.0),
        "fit_seconds": round(fit_seconds, 1),
        "predict_seconds": round(predict_seconds, 2),
    }
    return row, predicted == truth


def table(rows: list[dict], columns: list[str]) -> str:
    widths = [max(len(c), *(len(fmt(r.get(c))) for r in rows)) for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)


def fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sets, three strategies")
    args = parser.parse_args()
    strategies = {k: STRATEGIES[k] for k in ("head", "sliding_window_mean", "hierarchical_attention")} \
        if args.quick else STRATEGIES
    sizes = (200, 100) if args.quick else (600, 300)
    started = time.perf_counter()

    bbc_train, bbc_test = split(load_bundled("bbc-news"), *sizes)
    bbc_rows = []
    for name, long_text in strategies.items():
        row, _ = run(name, long_text, bbc_train, bbc_test, BBC_TOPICS)
        bbc_rows.append(row)
        print(f"bbc {name}: accuracy {row['accuracy']:.3f} ({row['fit_seconds']} s)", flush=True)

    needles, positions = needle_set(sizes[0] + int(1.5 * sizes[1]), filler_words=360, seed=0)
    needle_train = needles.subset(list(range(sizes[0])))
    test_idx = list(range(sizes[0], len(needles)))
    needle_test, test_positions = needles.subset(test_idx), positions[test_idx]
    bins = {"start": test_positions < 1 / 3, "middle": (test_positions >= 1 / 3) & (test_positions < 2 / 3),
            "end": test_positions >= 2 / 3}
    needle_rows = []
    for name, long_text in strategies.items():
        row, correct = run(name, long_text, needle_train, needle_test, {"fresh": "good great best", "rotten":
                                                                        "bad worst dull"})
        row.update({f"accuracy_{b}": float(correct[m].mean()) for b, m in bins.items()})
        needle_rows.append(row)
        print(f"needle {name}: accuracy {row['accuracy']:.3f} ({row['fit_seconds']} s)", flush=True)

    columns = ["strategy", "accuracy", "macro_f1", "seen_share_mean", "truncated_share", "windows_mean",
               "fit_seconds", "predict_seconds"]
    print(f"\n(a) BBC News: {len(bbc_train)} train / {len(bbc_test)} test articles, {MAX_LENGTH}-token windows")
    print(table(bbc_rows, columns))
    print(f"\n(b) review snippet at a random position in ~360 words of plot-summary filler: "
          f"{len(needle_train)} train / {len(needle_test)} test, test per position "
          f"{ {b: int(m.sum()) for b, m in bins.items()} }")
    print(table(needle_rows, ["strategy", "accuracy", "accuracy_start", "accuracy_middle", "accuracy_end",
                              "seen_share_mean", "fit_seconds"]))
    total = time.perf_counter() - started
    print(f"\ntotal {total:.0f} s")
    result = {
        "model": MODEL, "training": TRAINING, "window_batch_size": WINDOW_BATCH_SIZE, "max_windows": MAX_WINDOWS,
        "quick": args.quick,
        "bbc_news": {"train": len(bbc_train), "test": len(bbc_test), "rows": bbc_rows},
        "needle": {"train": len(needle_train), "test": len(needle_test), "filler_words": 360,
                   "test_per_position": {b: int(m.sum()) for b, m in bins.items()}, "rows": needle_rows},
        "total_seconds": round(total, 1),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average": os.getloadavg()},
    }
    out = Path(__file__).parent / "results" / ("long_docs_quick.json" if args.quick else "long_docs.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
