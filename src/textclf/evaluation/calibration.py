"""Post-hoc calibration, fitted on validation logits and saved in the model's decision policy
(policy.json).

Three methods, all stored as plain JSON (no pickle):

- ``temperature``: one scalar T > 0, probabilities = softmax(logits / T) (sigmoid for multi-label).
  T is fitted by minimising validation negative log-likelihood over log T. Dividing by T keeps
  the order of the logits, so argmax predictions never change.
- ``platt``: p_j = sigmoid(a_j * x_j + b_j) where x_j is the logit of the uncalibrated probability
  of class j. Binary single-label: class 1 only (p_0 = 1 - p_1). Multi-label: each label alone.
  More than two classes: one-vs-rest, then rows are renormalised to sum to one.
- ``isotonic``: a monotone step-linear map per class of the uncalibrated probability, stored as its
  breakpoints (scikit-learn's IsotonicRegression thresholds) and applied with linear interpolation.
  Same one-vs-rest layout as Platt.

Platt and isotonic may move probabilities across 0.5 or reorder classes, so they can change
predictions; temperature scaling cannot.

`guarded_calibration` is what training uses: a calibration needs at least MIN_POLICY_ROWS
validation rows and MIN_PER_CLASS rows of every class (multi-label: that many positive and negative label
assignments), and is kept only when it lowers ECE on held-out folds of the validation data
(cross-fitted: each fold calibrated by a fit on the other folds). Otherwise the model stays
uncalibrated and the decision says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, log_softmax, logsumexp
from sklearn.isotonic import IsotonicRegression

from ..errors import DataError, ModelError
from ..objectives import MIN_PER_CLASS, MIN_POLICY_ROWS, probabilities
from .metrics import confidence_and_outcome, expected_calibration_error, one_hot

Method = Literal["temperature", "platt", "isotonic"]
METHODS: tuple[str, ...] = ("temperature", "platt", "isotonic")
_LOG_T_BOUNDS = (np.log(1e-2), np.log(1e2))  # temperatures between 0.01 and 100


# -- fitting -------------------------------------------------------------------------------------
def class_logits(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    """logit(p_j) of each uncalibrated probability, (n, k). Multi-label: the logits themselves.
    Single-label: z_j - logsumexp(z_others), computed without forming p (no overflow)."""
    logits = np.asarray(logits, dtype=np.float64)
    if multi_label:
        return logits
    k = logits.shape[1]
    others = np.stack([logsumexp(np.delete(logits, j, axis=1), axis=1) for j in range(k)], axis=1)
    return logits - others


def _calibrated_columns(k: int, multi_label: bool) -> list[int]:
    """Which probability columns Platt / isotonic model: class 1 alone for a binary problem."""
    return [1] if (not multi_label and k == 2) else list(range(k))


def _indicators(targets: np.ndarray, k: int, multi_label: bool) -> np.ndarray:
    return np.asarray(targets, dtype=np.float64) if multi_label else one_hot(targets, k)


def fit_temperature(logits: np.ndarray, targets: np.ndarray, multi_label: bool) -> float:
    """The T minimising mean NLL of probabilities(logits / T) on (validation) targets."""
    logits = np.asarray(logits, dtype=np.float64)
    if multi_label:
        y = np.asarray(targets, dtype=np.float64)

        def nll(log_t: float) -> float:
            z = logits / np.exp(log_t)  # BCE with logits: softplus(z) - y z
            return float(np.mean(np.logaddexp(0.0, z) - y * z))
    else:
        rows, cols = np.arange(len(logits)), np.asarray(targets, dtype=int)

        def nll(log_t: float) -> float:
            return float(-np.mean(log_softmax(logits / np.exp(log_t), axis=1)[rows, cols]))

    result = minimize_scalar(nll, bounds=_LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6})
    return float(np.exp(result.x))


def _fit_platt_column(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) minimising cross-entropy of sigmoid(a x + b) against Platt's smoothed targets
    ((n+ + 1) / (n+ + 2) for positives, 1 / (n- + 2) for negatives), which keeps the fit finite
    even when a column has no positive example."""
    n_pos = float(y.sum())
    n_neg = float(len(y) - n_pos)
    t = np.where(y > 0.5, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

    def loss_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = params
        s = a * x + b
        loss = np.mean(np.logaddexp(0.0, s) - t * s)
        residual = expit(s) - t
        return float(loss), np.array([np.mean(residual * x), np.mean(residual)])

    result = minimize(loss_and_grad, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return float(result.x[0]), float(result.x[1])


def fit_calibration(logits: np.ndarray, targets: np.ndarray, method: Method, multi_label: bool) -> dict:
    """Fit `method` on validation logits (n, k) and targets (ids (n,) or 0/1 (n, k)); returns the
    JSON-able dict that `calibrated_probabilities` applies and calibration.json stores."""
    logits = np.asarray(logits, dtype=np.float64)
    if len(logits) == 0:
        raise DataError("calibration needs labelled validation data; got 0 rows")
    k = logits.shape[1]
    base = {"method": method, "multi_label": multi_label, "n_classes": k, "n_fitted": int(len(logits))}
    if method == "temperature":
        return {**base, "temperature": fit_temperature(logits, targets, multi_label)}
    columns = _calibrated_columns(k, multi_label)
    y = _indicators(targets, k, multi_label)
    if method == "platt":
        x = class_logits(logits, multi_label)
        fitted = [_fit_platt_column(x[:, j], y[:, j]) for j in columns]
        return {**base, "columns": columns, "a": [a for a, _ in fitted], "b": [b for _, b in fitted]}
    if method == "isotonic":
        p = probabilities(logits, multi_label)
        xs, ys = [], []
        for j in columns:
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p[:, j], y[:, j])
            xs.append(iso.X_thresholds_.tolist())
            ys.append(iso.y_thresholds_.tolist())
        return {**base, "columns": columns, "x": xs, "y": ys}
    raise DataError(f"unknown calibration method {method!r}: use one of {', '.join(METHODS)}")


# -- applying ------------------------------------------------------------------------------------
def _check(calibration: dict, k: int, multi_label: bool) -> str:
    method = calibration.get("method") if isinstance(calibration, dict) else None
    if method not in METHODS:
        raise ModelError(f"calibration: unknown method {method!r} (expected one of {', '.join(METHODS)})")
    if calibration.get("n_classes", k) != k or calibration.get("multi_label", multi_label) != multi_label:
        raise ModelError(f"calibration: fitted for {calibration.get('n_classes')} classes "
                         f"(multi_label={calibration.get('multi_label')}), the model has {k}")
    return method


def _assemble(probs: np.ndarray, calibrated: dict[int, np.ndarray], multi_label: bool) -> np.ndarray:
    """Put calibrated columns back; binary single-label fills p_0 = 1 - p_1; more than two
    single-label classes are renormalised (a row calibrated to all zeros keeps its old values)."""
    out = probs.copy()
    for j, column in calibrated.items():
        out[:, j] = column
    if multi_label:
        return out
    if out.shape[1] == 2:
        out[:, 0] = 1.0 - out[:, 1]
        return out
    totals = out.sum(axis=1, keepdims=True)
    return np.where(totals > 0, out / np.where(totals > 0, totals, 1.0), probs)


def calibrated_probabilities(logits: np.ndarray, calibration: dict, multi_label: bool) -> np.ndarray:
    """Probabilities (n, k) from logits (n, k) through a fitted calibration dict."""
    logits = np.asarray(logits, dtype=np.float64)
    method = _check(calibration, logits.shape[1], multi_label)
    if method == "temperature":
        return probabilities(logits / float(calibration["temperature"]), multi_label)
    probs = probabilities(logits, multi_label)
    if method == "platt":
        x = class_logits(logits, multi_label)
        calibrated = {j: expit(a * x[:, j] + b)
                      for j, a, b in zip(calibration["columns"], calibration["a"], calibration["b"])}
    else:
        calibrated = {j: np.interp(probs[:, j], xs, ys)
                      for j, xs, ys in zip(calibration["columns"], calibration["x"], calibration["y"])}
    return _assemble(probs, calibrated, multi_label)


# -- from logits and targets to a fitted calibration ----------------------------------------------
@dataclass
class CalibrationResult:
    calibration: dict
    ece_before: float  # on the data it was fitted on, uncalibrated probabilities
    ece_after: float


def calibrate(logits: np.ndarray, targets: np.ndarray, method: Method, multi_label: bool) -> CalibrationResult:
    """Fit `method` on validation logits and targets and measure its ECE before and after. The
    classifier stores the result in its decision policy (TextClassifier.calibrate)."""
    calibration = fit_calibration(logits, targets, method, multi_label)
    before = probabilities(np.asarray(logits, dtype=np.float64), multi_label)
    after = calibrated_probabilities(logits, calibration, multi_label)
    ece_before = expected_calibration_error(*confidence_and_outcome(targets, before, multi_label))
    ece_after = expected_calibration_error(*confidence_and_outcome(targets, after, multi_label))
    calibration["ece_before"], calibration["ece_after"] = round(ece_before, 6), round(ece_after, 6)
    return CalibrationResult(calibration, ece_before, ece_after)


_PARAMETERS = {"temperature": ("temperature",), "platt": ("columns", "a", "b"), "isotonic": ("columns", "x", "y")}


def check_calibration(calibration: Any, k: int, multi_label: bool, where: str) -> None:
    """Refuse a calibration dict that cannot apply to a k-output model, naming `where` it came from."""
    if not isinstance(calibration, dict):
        raise ModelError(f"{where}: calibration must be a JSON object")
    try:
        _check(calibration, k, multi_label)
    except ModelError as err:
        raise ModelError(f"{where}: {str(err).removeprefix('calibration: ')}") from None
    method = calibration["method"]
    missing = [key for key in _PARAMETERS[method] if key not in calibration]
    if missing:
        raise ModelError(f"{where}: {method} calibration lacks {', '.join(missing)}")
    if method == "temperature":
        t = calibration["temperature"]
        if not isinstance(t, (int, float)) or not np.isfinite(t) or t <= 0:
            raise ModelError(f"{where}: temperature must be a positive number, got {t!r}")
        return
    columns = calibration["columns"]
    lists = [calibration[key] for key in _PARAMETERS[method][1:]]
    if not isinstance(columns, list) or any(not isinstance(c, int) or not 0 <= c < k for c in columns) or any(
            not isinstance(v, list) or len(v) != len(columns) for v in lists):
        raise ModelError(f"{where}: {method} calibration parameters do not match the model's {k} outputs")


# -- the guard training applies ------------------------------------------------------------------
CROSS_FIT_FOLDS = 5


@dataclass
class CalibrationDecision:
    """What training did about calibration: `calibration` is None when it was skipped or not kept."""

    method: str
    calibration: dict | None
    reason: str  # one line for the log and the model card
    rows: int
    ece_before: float | None = None  # uncalibrated, on the whole validation split
    ece_cross_fitted: float | None = None  # calibrated out of fold
    ece_after: float | None = None  # the kept calibration on the validation split (in-sample)

    def to_json(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key != "calibration"} | {
            "kept": self.calibration is not None}


def too_little_data(targets: np.ndarray, k: int, multi_label: bool) -> str | None:
    """Why these validation targets are too few to calibrate on, or None."""
    n = len(targets)
    if n < MIN_POLICY_ROWS:
        return f"{n} validation rows (< {MIN_POLICY_ROWS})"
    if multi_label:
        positives = int(np.asarray(targets).sum())
        if min(positives, n * k - positives) < MIN_PER_CLASS:
            return f"{positives} positive label assignments of {n * k} (need {MIN_PER_CLASS} of each kind)"
        return None
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=k)
    if counts.min() < MIN_PER_CLASS:
        return f"a class has {int(counts.min())} validation rows (< {MIN_PER_CLASS} per class)"
    return None


def require_enough_rows(targets: np.ndarray, k: int, multi_label: bool, source: str) -> None:
    """A calibration asked for explicitly (textclf calibrate) is refused on too few rows, where
    training would skip it: dropping the model's calibration there would be a silent change."""
    short = too_little_data(targets, k, multi_label)
    if short is not None:
        raise DataError(f"{source}: too few rows to calibrate on ({short}); pass more validation data; "
                        "nothing changed")


def _folds(targets: np.ndarray, multi_label: bool, seed: int):
    from sklearn.model_selection import KFold, StratifiedKFold

    if multi_label:
        return KFold(CROSS_FIT_FOLDS, shuffle=True, random_state=seed).split(targets)
    return StratifiedKFold(CROSS_FIT_FOLDS, shuffle=True, random_state=seed).split(np.zeros(len(targets)), targets)


def _ece(targets: np.ndarray, probs: np.ndarray, multi_label: bool) -> float:
    return float(expected_calibration_error(*confidence_and_outcome(targets, probs, multi_label)))


def guarded_calibration(logits: np.ndarray, targets: np.ndarray, method: Method, multi_label: bool,
                        seed: int = 0) -> CalibrationDecision:
    """Fit `method` on validation logits and targets only if there are enough of them, and keep it
    only if cross-fitted ECE is below the uncalibrated ECE."""
    logits = np.asarray(logits, dtype=np.float64)
    k, n = logits.shape[1], len(logits)
    short = too_little_data(targets, k, multi_label)
    if short is not None:
        return CalibrationDecision(method, None, f"not calibrated: {short}", n)
    before = _ece(targets, probabilities(logits, multi_label), multi_label)
    out_of_fold = np.zeros_like(logits)
    for fit_rows, held_rows in _folds(targets, multi_label, seed):
        fold = fit_calibration(logits[fit_rows], np.asarray(targets)[fit_rows], method, multi_label)
        out_of_fold[held_rows] = calibrated_probabilities(logits[held_rows], fold, multi_label)
    crossed = _ece(targets, out_of_fold, multi_label)
    scores = {"ece_before": round(before, 6), "ece_cross_fitted": round(crossed, 6)}
    if crossed >= before:
        return CalibrationDecision(method, None, f"not calibrated: {method} did not lower cross-fitted validation "
                                   f"ECE ({before:.4f} -> {crossed:.4f})", n, **scores)
    result = calibrate(logits, targets, method, multi_label)
    return CalibrationDecision(method, result.calibration, f"{method}: validation ECE {before:.4f} -> "
                               f"{crossed:.4f} cross-fitted", n, ece_after=round(result.ece_after, 6), **scores)
