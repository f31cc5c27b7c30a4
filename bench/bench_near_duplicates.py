"""Near-duplicate search at scale: 100,000 documents made from bundled Rotten Tomatoes texts with
random word edits, split 80/20, all cross-split pairs with Jaccard >= 0.8 (word 3-shingles,
MinHash 128 permutations + LSH, every candidate verified with the exact Jaccard).

    nice -n 10 python bench/bench_near_duplicates.py [--docs 100000]

Prints a table and writes bench/results/near_duplicates.json. Not a test: timings depend on load."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from textclf.audit.duplicates import near_duplicates
from textclf.data import Examples
from textclf.data.bundled import load_bundled


def edited_corpus(n_docs: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """`n_docs` texts: each a random bundled review with 0-3 random word deletions, insertions or
    substitutions, so many documents are near (not exact) copies of another."""
    source = load_bundled("rotten-tomatoes")
    rng = np.random.default_rng(seed)
    vocabulary = [w for text in source.texts[:2000] for w in text.split()]
    texts, labels = [], []
    for base in rng.integers(0, len(source), size=n_docs):
        words = source.texts[base].split()
        for _ in range(int(rng.integers(0, 4))):
            position = int(rng.integers(0, len(words) + 1))
            kind = rng.integers(0, 3)
            if kind == 0 and len(words) > 1:
                del words[min(position, len(words) - 1)]
            elif kind == 1:
                words.insert(position, vocabulary[int(rng.integers(0, len(vocabulary)))])
            else:
                words[min(position, len(words) - 1)] = vocabulary[int(rng.integers(0, len(vocabulary)))]
        texts.append(" ".join(words))
        labels.append(source.labels[base])
    return texts, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "near_duplicates.json"))
    args = parser.parse_args()

    started = time.perf_counter()
    texts, labels = edited_corpus(args.docs)
    build_seconds = time.perf_counter() - started
    cut = int(0.8 * len(texts))
    splits = {
        "train": Examples(texts=texts[:cut], labels=labels[:cut]),
        "test": Examples(texts=texts[cut:], labels=labels[cut:]),
    }
    started = time.perf_counter()
    found = near_duplicates(splits, threshold=args.threshold)
    seconds = time.perf_counter() - started
    errors = [abs(p.estimate - p.jaccard) for p in found.pairs]
    result = {
        "docs": len(texts), "train": cut, "test": len(texts) - cut, "threshold": args.threshold,
        "shingle": found.shingle, "num_perm": 128, "candidate_pairs": found.candidates,
        "near_duplicate_pairs": len(found.pairs),
        "test_rows_with_a_train_near_duplicate": len({p.b.index for p in found.pairs}),
        "mean_abs_estimate_error": round(float(np.mean(errors)), 4) if errors else None,
        "seconds": round(seconds, 2), "corpus_build_seconds": round(build_seconds, 2),
        "under_60s": seconds < 60,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), nice -n 10",
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    width = max(len(k) for k in result)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in result.items()))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
