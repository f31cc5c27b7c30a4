"""Every benchmark's data, in one place: the bundled corpora, the standard splits, the reduced and
imbalanced samples, the synthetic corpora, and the one scoring function for every system.

Bundled (offline) corpora: "rotten-tomatoes" (fresh / rotten / plot), "bbc-news" (5 topics, long
articles), "kaomoji" (multi-label). The standard split is textclf's own (`configs/default.yaml`:
test 0.2, validation 0.1, split seed 0); seeds vary initialisation and data order, never that split.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textclf.data import Examples
from textclf.data.bundled import load_bundled
from textclf.data.splits import Splits, split_examples

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
SUBSET_SEED = 0  # reduced training subsets are the same rows for every system and every seed


def bundled(name: str) -> Examples:
    """A bundled corpus: "rotten-tomatoes", "bbc-news" or "kaomoji"."""
    return load_bundled(name)


def config_splits(config: str = "default") -> Splits:
    """The splits of configs/CONFIG.yaml, as `textclf train --config` makes them."""
    from textclf.config import load_config
    from textclf.data.sources import load_splits

    return load_splits(load_config(CONFIGS / f"{config}.yaml"))


def stratified_subset(examples: Examples, rows: int | None) -> Examples:
    """The first `rows` of a fixed stratified shuffle; all of `examples` when rows is None or large."""
    from sklearn.model_selection import train_test_split

    if rows is None or rows >= len(examples):
        return examples
    index = np.arange(len(examples))
    kept, _ = train_test_split(index, train_size=rows, stratify=examples.labels, random_state=SUBSET_SEED)
    return examples.subset(sorted(kept.tolist()))


def default_splits(limit: int | None = None) -> Splits:
    """The standard splits (configs/default.yaml); `limit` (smoke runs) shrinks each part."""
    splits = config_splits("default")
    if limit is None:
        return splits
    small = max(limit // 2, 30)
    return Splits(stratified_subset(splits.train, limit), stratified_subset(splits.validation, small),
                  stratified_subset(splits.test, small))


def stratified(name: str, seed: int, keep: set[str] | None = None, limit: int | None = None) -> Splits:
    """A bundled corpus (optionally only the classes in `keep`) split stratified 70/10/20 with `seed`;
    `limit` keeps a stratified sample of that many rows first."""
    examples = bundled(name)
    if keep:
        examples = examples.subset([i for i, label in enumerate(examples.labels) if label in keep])
    examples = stratified_subset(examples, limit)
    return split_examples(examples, "stratified", 0.1, 0.2, seed=seed)


def shuffled(name: str, seed: int = 0) -> Examples:
    """A bundled corpus in a seeded random order (take the first rows to train, the next to test)."""
    examples = bundled(name)
    return examples.subset(np.random.default_rng(seed).permutation(len(examples)).tolist())


def _take(rng, pool: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    picked = rng.choice(pool, size=n, replace=False)
    return picked, np.setdiff1d(pool, picked)


def rt_imbalanced(seed: int, scale: float = 1.0) -> tuple[Examples, Examples, Examples]:
    """Fresh vs rotten, 600 rows with ~10% rotten (540 train / 60 validation), tested on 1,000 other
    rows with the same share (900 / 100), one sample per seed; `scale` shrinks every count."""
    rt = bundled("rotten-tomatoes")
    labels = np.array(rt.labels, dtype=object)
    rng = np.random.default_rng(seed)
    fresh, rotten = np.flatnonzero(labels == "fresh"), np.flatnonzero(labels == "rotten")
    fit_fresh, fresh = _take(rng, fresh, int(540 * scale))
    fit_rotten, rotten = _take(rng, rotten, max(4, int(60 * scale)))
    test_fresh, _ = _take(rng, fresh, int(900 * scale))
    test_rotten, _ = _take(rng, rotten, max(4, int(100 * scale)))
    both = rt.subset(np.sort(np.r_[fit_fresh, fit_rotten]))
    parts = split_examples(both, "stratified", validation_size=0.1, test_size=0.0, seed=seed)
    return parts.train, parts.validation, rt.subset(np.sort(np.r_[test_fresh, test_rotten]))


def bbc_rare_topic(seed: int, scale: float = 1.0) -> tuple[Examples, Examples, Examples, str]:
    """200 BBC articles, one topic (rotating with the seed) at ~5% (10 articles, the other four ~47
    each), tested on 400 other articles with the same shares; also returns the rare topic."""
    bbc = bundled("bbc-news")
    labels = np.array(bbc.labels, dtype=object)
    topics = sorted(set(bbc.labels))
    rare = topics[seed % len(topics)]
    rng = np.random.default_rng(seed)
    others = [t for t in topics if t != rare]
    sizes = {rare: (10, 20), **{t: (47 + (i < 2), 95) for i, t in enumerate(others)}}  # 200 / 400 in all
    fit_rows, test_rows = [], []
    for topic in topics:
        pool = np.flatnonzero(labels == topic)
        n_fit, n_test = (max(4, int(n * scale)) for n in sizes[topic])
        picked, pool = _take(rng, pool, n_fit)
        fit_rows.extend(picked.tolist())
        test_rows.extend(_take(rng, pool, n_test)[0].tolist())
    both = bbc.subset(sorted(fit_rows))
    parts = split_examples(both, "stratified", validation_size=0.1, test_size=0.0, seed=seed)
    return parts.train, parts.validation, bbc.subset(sorted(test_rows)), rare


def imbalanced_binary(minority_share: float, seed: int, minority: str = "rotten", limit: int | None = None) -> Examples:
    """Fresh vs `minority` with every fresh review (or `limit` of them) and rotten ones drawn so that
    they are `minority_share` of the rows."""
    rt = bundled("rotten-tomatoes")
    labels = np.array(rt.labels, dtype=object)
    fresh = np.flatnonzero(labels == "fresh")[:limit]
    rotten = np.flatnonzero(labels == minority)
    n_rotten = max(10, int(round(len(fresh) * minority_share / (1 - minority_share))))
    picked = np.random.default_rng(seed).choice(rotten, n_rotten, replace=False)
    return rt.subset(np.sort(np.r_[fresh, picked]))


def edited_corpus(n_docs: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """`n_docs` texts: each a random bundled review with 0-3 random word deletions, insertions or
    substitutions, so many documents are near (not exact) copies of another."""
    source = bundled("rotten-tomatoes")
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


def write_csv(path: Path, texts: list[str], rows: int) -> None:
    """A CSV (id, text) of `rows` texts cycling through `texts`, written row by row."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for i in range(rows):
            writer.writerow([f"r{i}", texts[i % len(texts)]])


@dataclass(frozen=True)
class Scores:
    accuracy: float
    macro_f1: float
    ece: float  # top-label expected calibration error, 15 equal-width bins


def score(labels: list[str], probs: np.ndarray, classes: list[str]) -> Scores:
    """labels: gold class names (n,); probs: (n, k) with columns in the order of `classes`.

    Every system is scored here, from its probabilities, so no system's own metric code is trusted."""
    from sklearn.metrics import accuracy_score, f1_score

    from textclf.evaluation.metrics import confidence_and_outcome, expected_calibration_error

    index = {name: i for i, name in enumerate(classes)}
    targets = np.array([index[label] for label in labels])
    probs = np.asarray(probs, dtype=np.float64)
    predicted = probs.argmax(axis=1)
    confidence, outcome = confidence_and_outcome(targets, probs, multi_label=False)
    return Scores(
        accuracy=float(accuracy_score(targets, predicted)),
        macro_f1=float(f1_score(targets, predicted, average="macro", labels=list(range(len(classes))),
                                zero_division=0)),
        ece=expected_calibration_error(confidence, outcome, n_bins=15),
    )


def five_sets(limit: int | None = None) -> dict:
    """The five data sets the from-scratch ablations choose defaults on: name -> seed -> (train,
    validation, test). `limit` (smoke runs) cuts each split to at most that many rows."""
    def cut(parts):
        if limit is None:
            return tuple(parts[:3])
        return tuple(part.subset(range(min(limit, len(part)))) for part in parts[:3])

    def split3(name: str, keep: set[str] | None = None):
        def make(seed: int):
            splits = stratified(name, seed, keep)
            return cut((splits.train, splits.validation, splits.test))
        return make

    return {
        "rt3": split3("rotten-tomatoes"),  # fresh / rotten / plot, stratified 70/10/20
        "rt-binary": split3("rotten-tomatoes", {"fresh", "rotten"}),
        "bbc": split3("bbc-news"),  # 5 topics, long articles
        "rt600-imb": lambda seed: cut(rt_imbalanced(seed)),  # 600 rows, ~10% rotten
        "bbc200-rare": lambda seed: cut(bbc_rare_topic(seed)),  # 200 articles, one topic at ~5%
    }
