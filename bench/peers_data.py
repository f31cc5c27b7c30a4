"""What every system in the peer benchmark sees: the same splits, the same reduced subsets, the
same scoring. Imported by the worker processes only (never by textclf).

Splits are textclf's own (`textclf.data.sources.load_splits` on configs/default.yaml: stratified,
test 0.2, validation 0.1, split seed 0). The split never moves with the run seed: seeds vary
initialisation and data order only, so the spread over seeds is the models' own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from textclf.config import load_config
from textclf.data import Examples
from textclf.data.splits import Splits
from textclf.evaluation.metrics import confidence_and_outcome, expected_calibration_error
from textclf.data.sources import load_splits

ROOT = Path(__file__).resolve().parent.parent
SPLIT_CONFIG = ROOT / "configs" / "default.yaml"
SUBSET_SEED = 0  # reduced training subsets are the same rows for every system and every seed


def stratified_subset(examples: Examples, rows: int | None) -> Examples:
    """The first `rows` of a fixed stratified shuffle; all of `examples` when rows is None or large."""
    if rows is None or rows >= len(examples):
        return examples
    index = np.arange(len(examples))
    kept, _ = train_test_split(index, train_size=rows, stratify=examples.labels, random_state=SUBSET_SEED)
    return examples.subset(sorted(kept.tolist()))


def bench_splits(limit: int | None = None) -> Splits:
    """The benchmark's splits; `limit` (development only) shrinks each part to a few rows."""
    splits = load_splits(load_config(SPLIT_CONFIG))
    if limit is None:
        return splits
    return Splits(stratified_subset(splits.train, limit), stratified_subset(splits.validation, max(limit // 2, 30)),
                  stratified_subset(splits.test, max(limit // 2, 30)))


@dataclass(frozen=True)
class Scores:
    accuracy: float
    macro_f1: float
    ece: float  # top-label expected calibration error, 15 equal-width bins


def score(labels: list[str], probs: np.ndarray, classes: list[str]) -> Scores:
    """labels: gold class names (n,); probs: (n, k) with columns in the order of `classes`.

    Every system is scored here, from its probabilities, so no system's own metric code is trusted."""
    from sklearn.metrics import accuracy_score, f1_score

    index = {name: i for i, name in enumerate(classes)}
    targets = np.array([index[label] for label in labels])
    predicted = probs.argmax(axis=1)
    confidence, outcome = confidence_and_outcome(targets, probs, multi_label=False)
    return Scores(
        accuracy=float(accuracy_score(targets, predicted)),
        macro_f1=float(f1_score(targets, predicted, average="macro", labels=list(range(len(classes))),
                                zero_division=0)),
        ece=expected_calibration_error(confidence, outcome, n_bins=15),
    )
