"""The decision policy: what turns a model's logits into probabilities and labels.

Calibration, decision thresholds and `min_labels` are fitted after the weights, on data the model
did not train on, and change without retraining. They live together in one immutable value owned
by the TextClassifier, so every inference path (predict, streaming, HTTP) applies the same policy
and a saved model writes all of it at once (artifacts.save_policy).

Every value is range-checked when it is set and when a saved policy is read (`check`), so a
hand-edited or damaged policy.json is refused instead of deciding nonsense:

* temperature: a finite number in [TEMPERATURE_RANGE] = [0.01, 100] (the band the fitter searches;
  outside it the probabilities collapse to one-hot or to uniform);
* thresholds: finite probabilities in [0, 1];
* min_labels: the integer 0 or 1 (not a bool, not 1.0);
* Platt a/b and isotonic x/y: finite numbers (isotonic points are probabilities in [0, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .errors import ModelError
from .objectives import decide, probabilities

TEMPERATURE_RANGE = (1e-2, 1e2)  # evaluation.calibration fits T in this band; 1e-6 relative slack


@dataclass(frozen=True)
class DecisionPolicy:
    calibration: dict | None = None  # evaluation.calibration's fitted dict (method + parameters)
    thresholds: np.ndarray | None = None  # (1,) binary or (k,) multi-label; None: argmax / 0.5
    min_labels: int = 0  # multi-label: 1 gives a row with no label above threshold its top label
    # What each part was fitted on and how (objective, sizes, ECE before/after): a record for the
    # model card and the report, never read by the decision itself.
    provenance: dict[str, Any] = field(default_factory=dict)

    def probabilities(self, logits: np.ndarray, multi_label: bool) -> np.ndarray:
        """Probabilities from logits, refused when any is not finite: every entrance (predict,
        streaming, HTTP, evaluate) goes through here, so none can emit NaN as an answer."""
        if self.calibration is None:
            return finite_probabilities(probabilities(logits, multi_label))
        from .evaluation.calibration import calibrated_probabilities

        return finite_probabilities(calibrated_probabilities(logits, self.calibration, multi_label))

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
        check_calibration_values(calibration, "calibration")
        return replace(self, calibration=calibration, provenance=_recorded(self.provenance, "calibration", record))

    def with_thresholds(self, thresholds: np.ndarray | None, record: dict | None = None) -> DecisionPolicy:
        cut = None if thresholds is None else np.asarray(thresholds, dtype=np.float64).ravel()
        check_thresholds(cut, "thresholds")
        return replace(self, thresholds=cut, provenance=_recorded(self.provenance, "thresholds", record))

    def with_min_labels(self, min_labels: int) -> DecisionPolicy:
        check_min_labels(min_labels, "min_labels")
        return replace(self, min_labels=int(min_labels))

    def check(self, num_labels: int, multi_label: bool, where: str) -> None:
        """Refuse a policy that does not fit the model (a hand-edited or mixed-up file)."""
        check_min_labels(self.min_labels, where)
        check_thresholds(self.thresholds, where)
        if self.thresholds is not None:
            cut = self.thresholds
            expected = num_labels if multi_label else 1
            if not multi_label and num_labels != 2:
                raise ModelError(f"{where}: thresholds given for a {num_labels}-class model (only binary "
                                 "or multi-label models use thresholds)")
            if cut.shape != (expected,) and not (multi_label and cut.shape == (1,)):
                raise ModelError(f"{where}: {cut.size} threshold(s) for {expected} expected")
        if self.calibration is not None:
            from .evaluation.calibration import check_calibration

            check_calibration(self.calibration, num_labels, multi_label, where)
            check_calibration_values(self.calibration, where)


class NonFiniteProbabilities(ModelError):
    """The model answered NaN or infinity for a row: `row` is its 0-based position in the batch."""

    def __init__(self, row: int, rows: int) -> None:
        self.row = row
        of = "" if rows == 1 else f" of the {rows:,} scored together"
        super().__init__(f"the model produced non-finite probabilities (NaN or infinite) for row {row + 1}{of}; "
                         "its weights or inputs are damaged, so no answer is given")


def finite_probabilities(probs: np.ndarray) -> np.ndarray:
    """`probs` itself, or NonFiniteProbabilities naming the first row holding NaN or infinity."""
    probs = np.asarray(probs)
    if probs.size and not np.isfinite(probs).all():
        bad = np.flatnonzero(~np.isfinite(probs).reshape(len(probs), -1).all(axis=1))
        raise NonFiniteProbabilities(int(bad[0]), len(probs))
    return probs


def check_min_labels(min_labels: Any, where: str) -> None:
    if isinstance(min_labels, bool) or not isinstance(min_labels, int | np.integer) or min_labels not in (0, 1):
        raise ModelError(f"{where}: min_labels must be the integer 0 or 1, got {min_labels!r}")


def check_thresholds(cut: np.ndarray | None, where: str) -> None:
    if cut is None:
        return
    if cut.size == 0 or not np.all(np.isfinite(cut)) or cut.min() < 0 or cut.max() > 1:
        raise ModelError(f"{where}: thresholds must be finite probabilities in [0, 1], got {_short(cut.tolist())}")


def _numbers(value: Any) -> np.ndarray | None:
    """`value` (a number or lists of numbers, possibly ragged) flattened to float64, or None when
    anything in it is not a number."""
    flat: list = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, int | float | np.number) and not isinstance(item, bool):
            flat.append(float(item))
        else:
            return None
    return np.asarray(flat, dtype=np.float64)


def check_calibration_values(calibration: Any, where: str) -> None:
    """Parameters of a calibration dict that are out of range: a temperature outside
    TEMPERATURE_RANGE, a non-finite Platt parameter, an isotonic point outside [0, 1]."""
    if calibration is None:
        return
    if not isinstance(calibration, dict):
        raise ModelError(f"{where}: calibration must be a JSON object or null")
    method = calibration.get("method")
    if method == "temperature":
        t = calibration.get("temperature")
        low, high = TEMPERATURE_RANGE
        if isinstance(t, bool) or not isinstance(t, int | float) or not np.isfinite(t) or not (
                low * (1 - 1e-6) <= t <= high * (1 + 1e-6)):
            raise ModelError(f"{where}: temperature must be a number in [{low:g}, {high:g}], got {_short(t)}")
    for key in {"platt": ("a", "b"), "isotonic": ("x", "y")}.get(method, ()):
        values = _numbers(calibration.get(key))
        if values is None or not np.all(np.isfinite(values)):
            raise ModelError(f"{where}: {method} calibration parameter {key!r} must be finite numbers")
        if method == "isotonic" and values.size and (values.min() < 0 or values.max() > 1):
            raise ModelError(f"{where}: isotonic calibration points {key!r} must lie in [0, 1]")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _recorded(provenance: dict, key: str, record: dict | None) -> dict:
    out = {k: v for k, v in provenance.items() if k != key}
    if record is not None:
        out[key] = record
    return out
