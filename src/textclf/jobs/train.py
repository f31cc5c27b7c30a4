"""The `train` job: data from a config, audit, fit, decision policy, evaluation, one saved model."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from ..classifier import TextClassifier
from ..config import Config, load_config
from ..data import Examples
from ..data.sources import load_splits
from ..data.splits import Splits
from ..errors import ConfigError
from ..evaluation.scoring import evaluate
from ..fileio import check_writable, output_lock, write_json

COLLAPSE_SHARE = 0.95  # one label predicted for this share of validation rows ...
COLLAPSE_GOLD_SHARE = 0.85  # ... while it is at most this share of the gold labels: a collapse


@dataclass
class TrainResult:
    classifier: TextClassifier
    metrics: dict
    model_dir: Path
    splits: Splits


def model_problems(model: dict) -> list[str]:
    """What is wrong with a config's model section (unknown type, bad keys), for load_config."""
    from ..config import problems
    from ..errors import ConfigError
    from ..models import model_class

    try:
        cls = model_class(str(model.get("type")))
    except ConfigError as err:
        return [str(err)]
    return problems(cls.config_class, model, prefix="model")


def load_train_config(path: str | None, overrides: list[str] | None = None) -> Config:
    """A training config with every problem of the file (model section included) named at once."""
    return load_config(path, overrides, check_model=model_problems)


def config_for_data(path: str, columns: dict[str, str | None], time_budget: float | None = None,
                    output_dir: str | None = None, overrides: list[str] | None = None) -> Config:
    """A config for `textclf train DATA.csv`: the file split as usual (by group when a group
    column is given), `model.type: auto`. `columns` maps data config keys (text_column, ...) to names."""
    values = [f"data.train={path}", f"output_dir={output_dir or 'runs/' + Path(path).stem}", "model.type=auto"]
    if time_budget is not None:
        values.append(f"model.time_budget={time_budget}")
    values += [f"data.{key}={name}" for key, name in columns.items() if name]
    if columns.get("group_column"):
        values.append("data.split.method=group")
    return load_config(None, values + list(overrides or []), check_model=model_problems)  # overrides win


def train(cfg: Config, log: TextIO | None = None, resume: str | Path | None = None) -> TrainResult:
    """Load data, fit on train, fit the decision policy on validation, evaluate on validation and
    test, save under cfg.output_dir (model/, metrics.json, leaderboard.json for `auto`).

    `resume`: a run directory (the output_dir of an interrupted run with the same config) whose
    checkpoint training continues from; results are written there."""
    log = sys.stderr if log is None else log
    output = Path(resume) if resume is not None else Path(cfg.output_dir)
    if resume is not None and not (output / "checkpoints").is_dir():
        raise ConfigError(f"{output}: no checkpoints to resume from (expected {output / 'checkpoints'})")
    main = os.environ.get("RANK", "0") == "0"  # under torchrun every rank trains; one writes
    if main:
        check_writable(output / "model", directory=True)
    clf = TextClassifier(model=cfg.model, task=cfg.task, training=cfg.training, seed=cfg.seed)
    clf.model_config()  # a config mistake should surface before minutes of data loading
    with output_lock(output) if main else contextlib.nullcontext():
        return _train_locked(cfg, clf, output, resume, log, main)


def _train_locked(cfg: Config, clf: TextClassifier, output: Path, resume, log: TextIO, main: bool) -> TrainResult:
    splits = load_splits(cfg)
    sizes = {name: len(part) for name, part in
             (("train", splits.train), ("validation", splits.validation), ("test", splits.test)) if part is not None}
    if cfg.thresholds.tune != "none" and cfg.task == "single_label" and len(set(splits.train.labels)) > 2:
        raise ConfigError("thresholds.tune needs a binary or multi-label task (more than 2 classes use argmax); "
                          "set thresholds.tune: none")
    no_validation = splits.validation is None or len(splits.validation) == 0
    if no_validation and cfg.calibration is not None and "calibration" in cfg.model_fields_set:
        raise ConfigError("calibration needs a validation split: set data.split.validation_size > 0 "
                          "or data.validation (or calibration: null)")
    if cfg.audit.enabled:  # leakage found here would make every metric below too optimistic
        from ..audit import train_audit

        clf.card.audit = train_audit(splits, cfg.audit.near_duplicates, cfg.audit.near_threshold, log)
    clf.card.columns = cfg.data.model_dump(include={"text_column", "label_column", "id_column", "label_delimiter"})
    clf.card.data = cfg.data.model_dump(mode="json")
    print(f"textclf: data {sizes}", file=log)
    started = time.perf_counter()
    clf.fit(resample_training(cfg, splits.train, log), validation=splits.validation, workdir=output,
            resume=resume is not None)
    metrics: dict = {"train_seconds": round(time.perf_counter() - started, 3), "sizes": sizes}
    if clf.card.imbalance is not None:
        print(f"textclf: class_weight balanced by default: {clf.card.imbalance['reason']}", file=log)
        metrics["imbalance"] = clf.card.imbalance
    if clf.card.audit is not None:
        metrics["audit"] = clf.card.audit
    fit_policy(clf, cfg, splits.validation, metrics, log)
    for name, part in (("validation", splits.validation), ("test", splits.test)):
        if part is not None:
            metrics[name] = evaluate(clf, part)
    warn_on_collapse(clf, splits.validation, log)
    leaderboard = clf.card.training_summary.get("leaderboard")
    model_dir = output / "model"
    if main:
        extra = {"leaderboard.json": leaderboard} if leaderboard else None
        clf.save(model_dir, metrics=metrics, extra=extra)
        write_json(output / "metrics.json", metrics)
        if leaderboard:
            write_json(output / "leaderboard.json", leaderboard)
    return TrainResult(clf, metrics, model_dir, splits)


def fit_policy(clf: TextClassifier, cfg: Config, validation: Examples | None, metrics: dict, log: TextIO) -> None:
    """Calibration, then thresholds (they are tuned on calibrated probabilities), validation only."""
    if cfg.calibration is not None:
        if validation is None or len(validation) == 0:
            print("textclf: warning: no validation split, so no calibration (set data.split.validation_size "
                  "or calibration: null)", file=log)
        else:
            result = clf.calibrate(validation, cfg.calibration.method)
            print(f"textclf: calibration {cfg.calibration.method}: validation ECE {result.ece_before:.4f} -> "
                  f"{result.ece_after:.4f}", file=log)
            metrics["calibration"] = {"method": cfg.calibration.method, "validation_ece_before": result.ece_before,
                                      "validation_ece_after": result.ece_after}
    clf.set_min_labels(cfg.thresholds.min_labels)
    if cfg.thresholds.tune != "none":
        metrics["thresholds"] = tune_on_validation(clf, validation, cfg.thresholds, log)


def tune_on_validation(clf: TextClassifier, validation: Examples | None, spec, log: TextIO | None = None) -> dict:
    """Tune decision thresholds on the validation split only (never on test) and adopt them."""
    import warnings

    log = sys.stderr if log is None else log
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = clf.tune_thresholds(validation, spec.tune, spec.objective, spec.beta, spec.target)
    for warning in caught:
        print(f"textclf: warning: {warning.message}", file=log)
    shown = ", ".join(f"{t:.3f}" for t in result.thresholds[:8]) + (" ..." if len(result.thresholds) > 8 else "")
    print(f"textclf: thresholds {spec.tune} ({spec.objective}) tuned on validation: {shown}", file=log)
    return {key: value for key, value in result.to_json().items() if key != "validation_scores"}


def resample_training(cfg: Config, train: Examples, log: TextIO | None = None) -> Examples:
    """The training split rebalanced as `training.resample` asks (validation and test untouched)."""
    log = sys.stderr if log is None else log
    spec = cfg.training.resample
    if spec is None:
        return train
    from ..imbalance import resample

    resampled = resample(train, spec.method, cfg.seed if spec.seed is None else spec.seed, spec.ratio)
    print(f"textclf: resample {spec.method}: {len(train)} -> {len(resampled)} training rows", file=log)
    return resampled


def collapsed_label(predicted: list, gold: list) -> str | None:
    """The label a single-label model predicts for nearly every row while the gold labels are
    not that skewed (a model that learned the class prior, not the task); else None."""
    if not predicted:
        return None
    names, counts = np.unique(np.asarray(predicted, dtype=object).astype(str), return_counts=True)
    top = int(counts.argmax())
    gold_share = sum(1 for g in gold if g == names[top]) / len(gold)
    if counts[top] / len(predicted) >= COLLAPSE_SHARE and gold_share <= COLLAPSE_GOLD_SHARE:
        return str(names[top])
    return None


def warn_on_collapse(clf: TextClassifier, validation: Examples | None, log: TextIO) -> None:
    if clf.multi_label or validation is None or len(validation) == 0:
        return
    label = collapsed_label(clf.predict(validation), list(validation.labels))
    if label is not None:
        print(f"textclf: warning: the model predicts {label!r} for >= {COLLAPSE_SHARE:.0%} of validation rows "
              f"although it is at most {COLLAPSE_GOLD_SHARE:.0%} of their labels: it has collapsed to one class "
              "(try class_weight: balanced, more data, or model.type: auto)", file=log)

