"""Jobs that change a saved model's decision policy: calibrate, tune-thresholds."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from ..classifier import TextClassifier
from ..config import ThresholdsConfig, validate
from .inspect import DataChoice, examples_for


@dataclass
class PolicyResult:
    classifier: TextClassifier
    examples_used: int
    source: str
    details: object  # CalibrationResult or ThresholdResult
    warnings: list[str]


def calibrate(model: str | Path, method: str = "temperature", data: DataChoice = DataChoice()) -> PolicyResult:
    """Fit a calibration on validation data (default: the model's validation split) and save it
    with the model's policy; the weights are not rewritten."""
    clf = TextClassifier.load(model)
    examples = examples_for(clf, data, default_split="validation")
    result = clf.calibrate(examples, method)
    notes = []
    if clf.thresholds is not None:
        notes.append("this model's decision thresholds were tuned on its previous probabilities; "
                     "tune them again (textclf tune-thresholds)")
    clf.save_policy(model)
    return PolicyResult(clf, len(examples), examples.source, result, notes)


def tune_thresholds(model: str | Path, spec: ThresholdsConfig | dict, data: DataChoice = DataChoice(),
                    min_labels: int | None = None) -> PolicyResult:
    """Tune decision thresholds on validation data and save them with the model's policy."""
    if isinstance(spec, dict):
        spec = validate(ThresholdsConfig, spec, "tune-thresholds")
    clf = TextClassifier.load(model)
    examples = examples_for(clf, data, default_split="validation")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = clf.tune_thresholds(examples, spec.tune, spec.objective, spec.beta, spec.target)
    if min_labels is not None:
        clf.set_min_labels(min_labels)
    clf.save_policy(model)
    return PolicyResult(clf, len(examples), examples.source, result, [str(w.message) for w in caught])
