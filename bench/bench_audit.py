"""The audit inside its budget: label noise and near duplicates on 100,000 documents.

    python bench/bench_audit.py                # 100k docs, 3 timed runs of each check, medians
    python bench/bench_audit.py --quick        # 5k docs, 2 runs: checks the script
    python bench/bench_audit.py --with-old     # also the previous label-noise method, in alternating pairs
    python bench/bench_audit.py --publish      # also bench/results/audit.md (quiet, full runs only)

Corpus: bench_near_duplicates.edited_corpus (bundled Rotten Tomatoes reviews with 0-3 random word
edits), split 80/20, plus planted cross-split pairs of unique words whose word-3-shingle Jaccard is
exactly 0.8, 0.85 and 0.9 (and 0.78, which must not be reported). Reports seconds of
`label_noise_suspects` (goal: < 60 s) and `near_duplicates` at threshold 0.8, and the recall of
the planted pairs per level (goal: >= 0.95). With --with-old, the label-noise method before
issue #21 (a TF-IDF + LR pipeline refitted per fold by cross_val_predict) runs as peer B.
Writes bench/results/audit.json (quick: audit.quick.json).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from protocol import Protocol, add_protocol_args, main_guard, markdown_table  # noqa: E402

PLANTED = {0.8: (45, 5), 0.85: (37, 3), 0.9: (38, 2), 0.7778: (40, 5)}  # Jaccard: (shingles m, k replaced)


def plant_pairs(per_level: int, seed: int = 1):
    """(train texts, test texts, {(train offset, test offset): jaccard}) of unique-word texts."""
    rng = np.random.default_rng(seed)
    train, test, truth, n = [], [], {}, 0
    for level, (m, k) in PLANTED.items():
        for _ in range(per_level):
            words = [f"p{n + i}q{int(rng.integers(10**6))}" for i in range(m + 2)]
            n += m + 2
            other = words[:-k] + [f"p{n + i}r{int(rng.integers(10**6))}" for i in range(k)]
            n += k
            truth[(len(train), len(test))] = level
            train.append(" ".join(words))
            test.append(" ".join(other))
    return train, test, truth


def old_label_noise(texts, targets, folds=5, seed=0):
    """The method before issue #21, for --with-old."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=50_000),
                             LogisticRegression(C=4.0, max_iter=1000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(pipeline, texts, targets, cv=cv, method="predict_proba")


def main() -> int:
    parser = add_protocol_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--docs", type=int, default=None, help="documents (default 100,000; quick 5,000)")
    parser.add_argument("--with-old", action="store_true", help="time the previous label-noise method as peer B")
    args = parser.parse_args()
    proto = Protocol.from_args("audit", args)
    proto.check_publishable()
    docs = args.docs or (5_000 if args.quick else 100_000)

    from bench_near_duplicates import edited_corpus

    from textclf.audit.duplicates import lsh_bands, near_duplicates
    from textclf.audit.label_noise import label_noise_suspects, out_of_fold_probabilities
    from textclf.data import Examples

    texts, labels = edited_corpus(docs)
    per_level = 50 if args.quick else 250
    extra_train, extra_test, truth = plant_pairs(per_level)
    cut = int(0.8 * len(texts))
    train = Examples(texts=extra_train + texts[:cut], labels=[labels[0]] * len(extra_train) + labels[:cut])
    test = Examples(texts=extra_test + texts[cut:], labels=[labels[0]] * len(extra_test) + labels[cut:])
    splits = {"train": train, "test": test}
    rows = len(train) + len(test)

    found: dict = {}

    def noise_check():
        found["noise"] = label_noise_suspects(splits, folds=5, top=50)

    def near():
        found["result"] = near_duplicates(splits, threshold=0.8)

    noise = proto.repeat("label_noise", noise_check)
    noise["flagged"] = found["noise"].flagged

    near_timing = proto.repeat("near_duplicates", near)
    result = found["result"]
    pairs = {(p.a.index, p.b.index): p.jaccard for p in result.pairs}
    recall = {str(level): float(np.mean([key in pairs for key, v in truth.items() if v == level]))
              for level in PLANTED if level >= 0.8}
    below_reported = sum(key in pairs for key, v in truth.items() if v < 0.8)
    comparison = None
    if args.with_old:
        names = sorted(set(train.labels + test.labels))
        all_texts = train.texts + test.texts
        targets = np.array([names.index(x) for x in train.labels + test.labels])
        comparison = proto.compare("oof_new", lambda: out_of_fold_probabilities(all_texts, targets).shape and None,
                                   "oof_before_21", lambda: old_label_noise(all_texts, targets).shape and None,
                                   warmup=False)
    goal = {"label_noise_under_s": 60, "label_noise_met": noise["median"]["seconds"] < 60,
            "recall_at_least": 0.95, "recall_met": all(r >= 0.95 for r in recall.values()),
            "no_pair_below_threshold": below_reported == 0 and all(j >= 0.8 for j in pairs.values())}
    table_rows = [["label noise (5-fold TF-IDF + LR, cleanlab)", f"{noise['median']['seconds']:.1f}", "< 60 s"],
                  ["near duplicates (J >= 0.8, LSH bands %d x %d rows)" % lsh_bands(0.8, 128),
                   f"{near_timing['median']['seconds']:.1f}",
                   "recall " + ", ".join(f"{r:.3f} at J={lv}" for lv, r in recall.items())]]
    if comparison is not None:
        table_rows.append(["out-of-fold probabilities, before #21 / now (median of pairs)",
                           f"{comparison['median_ratio']:.2f}x", ""])
    table = markdown_table([f"check on {rows:,} documents", "seconds (median)", "goal / quality"], table_rows)
    payload = {"documents": rows, "planted_per_level": per_level, "label_noise": noise,
               "near_duplicates": {**near_timing, "candidates": result.candidates, "pairs": len(result.pairs),
                                   "bands_rows": lsh_bands(0.8, 128), "planted_recall": recall,
                                   "planted_below_threshold_reported": below_reported},
               "goal": goal, "comparisons": [comparison] if comparison else []}
    path = proto.finish(payload, table)
    print(table)
    print(f"written {path}" + (" (NOISY: load above 1.5 per core)" if proto.noisy else ""))
    return 0


if __name__ == "__main__":
    main_guard(main)
