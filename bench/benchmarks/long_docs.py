"""Long documents: what each `model.long_text` strategy sees, and what it costs in accuracy.

(a) BBC News (5 topics; most articles several windows long): random train/test cut, accuracy and
    macro-F1 per strategy, with the share of content tokens seen.
(b) Needle in long filler: business vs sports, decided by one BBC lede inserted at a random
    sentence boundary of ~360 words of Rotten Tomatoes plot-summary sentences. Accuracy per
    evidence position (start / middle / end third): head truncation should fail on late evidence.

Model: a small from-scratch bag of subwords (attention pooling), 64-token windows, at most 16
windows per document, the same training for every strategy (per-window training in batches of 128
windows instead of 32 documents)."""

from __future__ import annotations

import re
import time

import numpy as np

from bench import data
from bench.harness import Benchmark, register

MAX_LENGTH = 64  # tokens per window, [CLS] included
MODEL = {"type": "bag", "pooling": "attention", "embedding_dim": 64, "dropout": 0.1, "max_length": MAX_LENGTH,
         "tokenizer": {"vocab_size": 8000}}
TRAINING = {"epochs": 8, "batch_size": 32, "learning_rate": 1e-2, "progress": False}
WINDOW_BATCH_SIZE = 128  # per-window training has ~5-10x more rows than documents
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
NEEDLE_LABELS = ("business", "sports")
FILLER_WORDS = 360


def ledes() -> dict[str, list[str]]:
    """The first paragraph after the headline of each BBC business / sports article (<= 45 words)."""
    bbc = data.bundled("bbc-news")
    out: dict[str, list[str]] = {label: [] for label in NEEDLE_LABELS}
    for text, label in zip(bbc.texts, bbc.labels):
        paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
        if label in out and len(paragraphs) > 1 and len(paragraphs[1].split()) <= 45:
            out[label].append(paragraphs[1])
    return out


def needle_set(n: int, filler_words: int, seed: int):
    """n documents (half per topic) of plot-summary filler with one lede at a random sentence
    boundary; also the evidence position (share of the document's words before the lede)."""
    from textclf import Examples

    rt = data.bundled("rotten-tomatoes")
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
    return (Examples.from_lists([texts[i] for i in order], [labels[i] for i in order]),
            np.asarray(positions)[order])


def run_strategy(name: str, long_text: dict, train, test, query: dict | None, epochs: int):
    from sklearn.metrics import accuracy_score, f1_score

    from textclf import TextClassifier

    if query is not None and long_text["strategy"] == "retrieval":
        long_text = {**long_text, "query": query}
    per_window = long_text["strategy"] == "sliding_window" and long_text.get("aggregation") != "attention"
    training = {**TRAINING, "epochs": epochs, **({"batch_size": WINDOW_BATCH_SIZE} if per_window else {})}
    clf = TextClassifier(model={**MODEL, "long_text": long_text}, training=training, seed=0)
    started = time.perf_counter()
    clf.fit(train)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted = np.array(clf.predict(test.texts), dtype=object)
    predict_seconds = time.perf_counter() - started
    truth = np.array(test.labels, dtype=object)
    coverage = clf.model_.long_text_report(test.texts)
    row = {"strategy": name, "accuracy": float(accuracy_score(truth, predicted)),
           "macro_f1": float(f1_score(truth, predicted, average="macro")),
           "seen_share_mean": coverage["seen_share_mean"], "truncated_share": coverage["truncated_share"],
           "windows_mean": coverage.get("windows_mean", 1.0), "fit_seconds": round(fit_seconds, 1),
           "predict_seconds": round(predict_seconds, 2)}
    return row, predicted == truth


@register
class LongDocs(Benchmark):
    name = "long_docs"
    summary = "long_text strategies on BBC News and a needle-in-filler set (accuracy by evidence position)"
    sizes = {"smoke": {"train": 30, "test": 20, "epochs": 1, "strategies": ["head", "hierarchical_attention"]},
             "quick": {"train": 200, "test": 100, "epochs": 8,
                       "strategies": ["head", "sliding_window_mean", "hierarchical_attention"]},
             "full": {"train": 600, "test": 300, "epochs": 8, "strategies": list(STRATEGIES)}}

    def run(self) -> dict:
        n_train, n_test, epochs = self.size.train, self.size.test, self.size.epochs
        bbc = data.shuffled("bbc-news", seed=0)
        bbc_train, bbc_test = bbc.subset(range(n_train)), bbc.subset(range(n_train, n_train + n_test))
        bbc_rows = [run_strategy(name, STRATEGIES[name], bbc_train, bbc_test, BBC_TOPICS, epochs)[0]
                    for name in self.size.strategies]
        needles, positions = needle_set(n_train + int(1.5 * n_test), FILLER_WORDS, seed=0)
        needle_train = needles.subset(list(range(n_train)))
        test_idx = list(range(n_train, len(needles)))
        needle_test, test_positions = needles.subset(test_idx), positions[test_idx]
        bins = {"start": test_positions < 1 / 3, "middle": (test_positions >= 1 / 3) & (test_positions < 2 / 3),
                "end": test_positions >= 2 / 3}
        needle_rows = []
        for name in self.size.strategies:
            row, correct = run_strategy(name, STRATEGIES[name], needle_train, needle_test,
                                        {k: BBC_TOPICS[k] for k in NEEDLE_LABELS}, epochs)
            row.update({f"accuracy_{b}": float(correct[m].mean()) if m.any() else None for b, m in bins.items()})
            needle_rows.append(row)
        return {"model": MODEL, "training": {**TRAINING, "epochs": epochs}, "window_batch_size": WINDOW_BATCH_SIZE,
                "max_windows": MAX_WINDOWS,
                "bbc_news": {"train": len(bbc_train), "test": len(bbc_test), "rows": bbc_rows},
                "needle": {"train": len(needle_train), "test": len(needle_test), "filler_words": FILLER_WORDS,
                           "test_per_position": {b: int(m.sum()) for b, m in bins.items()}, "rows": needle_rows}}
