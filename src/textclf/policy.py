"""The decision policy: what turns a model's logits into probabilities and labels.

Calibration, decision thresholds and `min_labels` are fitted after the weights, on data the model
did not train on, and change without retraining. They live together in one immutable value owned
by the TextClassifier, so every inference path (predict, streaming, HTTP) applies the same policy
and a saved model writes all of it at once (artifacts.save_policy).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .errors import ModelError
from .objectives import decide, probabilities


@dataclass(frozen=True)
class DecisionPolicy:
    calibration: dict | None = None  # evaluation.calibration's fitted dict (method + parameters)
    thresholds: np.ndarray | None = None  # (1,) binary or (k,) multi-label; None: argmax / 0.5
    min_labels: int = 0  # multi-label: 1 gives a row with no label above threshold its top label
    # What each part was fitted on and how (objective, sizes, ECE before/after): a record for the
    # model card and the report, never read by the decision itself.
    provenance: dict[str, Any] = field(default_factory=dict)

    def probabilities(self, logits: np.ndarray, multi_label: bool) -> np.ndarray:
        if self.calibration is None:
            return probabilities(logits, multi_label)
        from .evaluation.calibration import calibrated_probabilities

        return calibrated_probabilities(logits, self.calibration, multi_label)

    def decide(self, probs: np.ndarray, multi_label: bool) -> np.ndarray:
        return decide(probs, multi_label, self.thresholds, self.min_labels)

    def applied_thresholds(self, labels: list[str], multi_label: bool) -> dict[str, float]:
        """The cut each output column is decided at, for prediction files and the HTTP API:
        per label for multi-label (0.5 unless tuned), the positive-class cut for a tuned binary model."""
        if multi_label:
            cut = np.full(len(labels), 0.5) if self.thresholds is None else np.broadcast_to(self.thresholds,
                                                                                           (len(labels),))
            return {f"threshold_{name}": float(t) for name, t in zip(labels, cut)}
        if self.thresholds is not None and len(labels) == 2:
            return {"threshold": float(np.ravel(self.thresholds)[0])}
        return {}

    def with_calibration(self, calibration: dict | None, record: dict | None = None) -> DecisionPolicy:
        return replace(self, calibration=calibration, provenance=_recorded(self.provenance, "calibration", record))

    def with_thresholds(self, thresholds: np.ndarray | None, record: dict | None = None) -> DecisionPolicy:
        cut = None if thresholds is None else np.asarray(thresholds, dtype=np.float64).ravel()
        return replace(self, thresholds=cut, provenance=_recorded(self.provenance, "thresholds", record))

    def with_min_labels(self, min_labels: int) -> DecisionPolicy:
        if min_labels not in (0, 1):
            raise ModelError(f"min_labels must be 0 or 1, got {min_labels!r}")
        return replace(self, min_labels=int(min_labels))

    def check(self, num_labels: int, multi_label: bool, where: str) -> None:
        """Refuse a policy that does not fit the model (a hand-edited or mixed-up file)."""
        if self.thresholds is not None:
            cut = self.thresholds
            expected = num_labels if multi_label else 1
            if not multi_label and num_labels != 2:
                raise ModelError(f"{where}: thresholds given for a {num_labels}-class model (only binary "
                                 "or multi-label models use thresholds)")
            if cut.shape != (expected,) and not (multi_label and cut.shape == (1,)):
                raise ModelError(f"{where}: {cut.size} threshold(s) for {expected} expected")
            if not np.all(np.isfinite(cut)) or cut.min() < 0 or cut.max() > 1:
                raise ModelError(f"{where}: thresholds must be probabilities in [0, 1]")
        if self.calibration is not None:
            from .evaluation.calibration import check_calibration

            check_calibration(self.calibration, num_labels, multi_label, where)


def _recorded(provenance: dict, key: str, record: dict | None) -> dict:
    out = {k: v for k, v in provenance.items() if k != key}
    if record is not None:
        out[key] = record
    return out
