"""Long documents: what each `model.long_text` strategy sees, and what it costs in accuracy.

    nice -n 10 python bench/bench_long_docs.py [--quick]

(a) BBC News (bundled, 5 topics; most articles are several windows long): stratified random
    train/test cut, accuracy and macro-F1 per strategy, with the share of content tokens seen.
(b) Needle in long filler: business vs sports, decided by one sentence (the lede of a BBC
    business or sports article) inserted at a random sentence boundary of ~360 words of Rotten
    Tomatoes plot-summary sentences (filler neutral between the two topics). Accuracy per evidence position (start /
    middle / end third of the document). Head truncation only sees the first window, so it should
    fail when the evidence is late; sliding windows and hierarchical encoding see everything.

Models: a small from-scratch bag of subwords (attention pooling), 64-token windows ([CLS] included), at most 16
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

from sklearn.metrics import accuracy_score, f1_score  # noqa: E402

from textclf import Examples, TextClassifier  # noqa: E402
from textclf.data.bundled import load_bundled  # noqa: E402

MAX_LENGTH = 64  # tokens per window, [CLS] included
MODEL = {"type": "bag", "pooling": "attention", "embedding_dim": 64, "dropout": 0.1, "tokenizer": {"vocab_size": 8000}}
TRAINING = {"max_length": MAX_LENGTH, "epochs": 8, "batch_size": 32, "learning_rate": 1e-2, "progress": False}
# Per-window training has ~5-10x more rows than documents: batches of windows keep its step count
# (and time) comparable with the document-level strategies.
WINDOW_BATCH_SIZE = 128
MAX_WINDOWS = 16  # per document (first and last always kept)
BBC_TOPICS = {  # retrieval queries: label -> description
    "business": "business economy company market shares bank profits firm sales growth prices",
    "entertainment": "entertainment film music star award show actor singer band album",
    "politics": "politics government minister election party labour tory parliament vote",
    "sports": "sport match game team player win cup champion coach season",
    "tech": "technology computer software internet mobile phone users digital online games",
}
STRATEGIES = {
    "head": {"strategy": "head"},
    "head_tail": {"strategy": "head_tail", "head_tokens": 32},
    "retrieval_bm25": {"strategy": "retrieval", "top_k": 2, "passage_words": 40},
    "sliding_window_mean": {"strategy": "sliding_window", "aggregation": "mean", "max_windows": MAX_WINDOWS},
    "hierarchical_attention": {"strategy": "hierarchical", "aggregation": "attention", "max_windows": MAX_WINDOWS},
}


def split(examples: Examples, n_train: int, n_test: int, seed: int = 0) -> tuple[Examples, Examples]:
    order = np.random.default_rng(seed).permutation(len(examples))
    return examples.subset(order[:n_train].tolist()), examples.subset(order[n_train:n_train + n_test].tolist())


# -- (b) the needle set ---------------------------------------------------------------------------
NEEDLE_LABELS = ("business", "sports")


def ledes() -> dict[str, list[str]]:
    """The first paragraph after the headline of each BBC business / sports article (<= 45 words):
    one topical sentence, decisive on its own."""
    bbc = load_bundled("bbc-news")
    out: dict[str, list[str]] = {label: [] for label in NEEDLE_LABELS}
    for text, label in zip(bbc.texts, bbc.labels):
        paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
        if label in out and len(paragraphs) > 1 and len(paragraphs[1].split()) <= 45:
            out[label].append(paragraphs[1])
    return out


def needle_set(n: int, filler_words: int, seed: int) -> tuple[Examples, np.ndarray]:
    """n documents (half per topic): ~filler_words of Rotten Tomatoes plot-summary sentences with
    one BBC lede inserted at a random sentence boundary. Returns the examples and the evidence
    position (share of the document's words before the lede)."""
    rt = load_bundled("rotten-tomatoes")
    sentences = [s for t, y in zip(rt.texts, rt.labels) if y == "plot"
                 for s in re.split(r"(?<=[.!?])\s+", t) if len(s.split()) >= 5]
    needles = ledes()
    rng = np.random.default_rng(seed)
    texts, labels, positions = [], [], []
    for label in NEEDLE_LABELS:
        for i in rng.permutation(len(needles[label]))[: n // 2]:
            filler, words = [], 0
            while words < filler_words:
                filler.append(sentences[rng.integers(len(sentences))])
                words += len(filler[-1].split())
            at = int(rng.integers(len(filler) + 1))
            before = sum(len(s.split()) for s in filler[:at])
            texts.append(" ".join(filler[:at] + [needles[label][i]] + filler[at:]))
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
    coverage = clf.model_.long_text_report(test.texts)
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
        row, correct = run(name, long_text, needle_train, needle_test,
                           {k: BBC_TOPICS[k] for k in NEEDLE_LABELS})
        row.update({f"accuracy_{b}": float(correct[m].mean()) for b, m in bins.items()})
        needle_rows.append(row)
        print(f"needle {name}: accuracy {row['accuracy']:.3f} ({row['fit_seconds']} s)", flush=True)

    columns = ["strategy", "accuracy", "macro_f1", "seen_share_mean", "truncated_share", "windows_mean",
               "fit_seconds", "predict_seconds"]
    print(f"\n(a) BBC News: {len(bbc_train)} train / {len(bbc_test)} test articles, {MAX_LENGTH}-token windows")
    print(table(bbc_rows, columns))
    print(f"\n(b) business/sports lede at a random position in ~360 words of plot-summary filler: "
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
