"""A classifier's metrics on labelled examples: decisions, probabilities and intervals."""

from __future__ import annotations

import numpy as np

from ..data import Examples
from .bootstrap import RESAMPLES, headline_intervals
from .metrics import classification_metrics, merge_metrics, probability_metrics


def evaluate(clf, examples: Examples, n_resamples: int = RESAMPLES) -> dict:
    """Metrics of `clf` on labelled `examples`; unknown labels are an error, never remapped."""
    targets = clf.label_map.encode(examples)
    return metrics_from_probabilities(clf, targets, clf.predict_proba(examples), n_resamples)


def metrics_from_probabilities(clf, targets: np.ndarray, probs: np.ndarray, n_resamples: int = RESAMPLES) -> dict:
    """Decision metrics, probability metrics (ROC/PR-AUC, log loss, Brier, ECE) and seeded
    bootstrap intervals for the headline numbers."""
    decisions = clf.decide(probs)
    metrics = merge_metrics(classification_metrics(targets, decisions, clf.label_map),
                            probability_metrics(targets, probs, clf.label_map))
    metrics.update(headline_intervals(targets, probs, decisions, clf.multi_label, n_resamples, seed=clf.seed))
    return metrics
