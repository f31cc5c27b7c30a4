"""End-to-end jobs the CLI runs: load data from a config, train, evaluate, save."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .classifier import TextClassifier
from .config import Config, DataConfig
from .data import Examples
from .data.bundled import DATASETS, load_bundled
from .data.io import Columns, read_examples
from .data.splits import Splits, split_examples
from .errors import ConfigError, DataError
from .evaluation.metrics import classification_metrics
from .fileio import write_json


def columns_for(data: DataConfig, multi_label: bool) -> Columns:
    return Columns(
        text=data.text_column, label=data.label_column, group=data.group_column, time=data.time_column,
        id=data.id_column, multi_label=multi_label, label_delimiter=data.label_delimiter,
    )


def load_splits(cfg: Config) -> Splits:
    """Train / validation / test as the config describes: a bundled set or files, split as asked.

    Files given for validation or test are used as they are; only what is missing is split off."""
    data, multi_label = cfg.data, cfg.task == "multi_label"
    if data.dataset is not None:
        bundled = DATASETS.get(data.dataset)
        if bundled is not None and (bundled.task == "multi_label") != multi_label:
            raise DataError(f"bundled data set {data.dataset!r} is {bundled.task}; set task: {bundled.task}")
        examples = load_bundled(data.dataset)
    else:
        examples = read_examples(data.train, columns_for(data, multi_label), data.bad_rows)
    columns = columns_for(data, multi_label)
    validation = read_examples(data.validation, columns, data.bad_rows) if data.validation else None
    test = read_examples(data.test, columns, data.bad_rows) if data.test else None
    split = data.split
    splits = split_examples(
        examples,
        split.method,
        validation_size=0.0 if validation is not None else split.validation_size,
        test_size=0.0 if test is not None else split.test_size,
        seed=cfg.seed,
    )
    return Splits(splits.train, validation or splits.validation, test or splits.test)


def evaluate(clf: TextClassifier, examples: Examples) -> dict:
    """Metrics of `clf` on labelled `examples`; unknown labels are an error, never remapped."""
    targets = clf.label_map.encode(examples)
    probs = clf.predict_proba(examples)
    return metrics_from_probabilities(clf, targets, probs)


def metrics_from_probabilities(clf: TextClassifier, targets, probs, n_resamples: int = 1000) -> dict:
    """Decision metrics, probability metrics (ROC/PR-AUC, log loss, Brier, ECE) and seeded
    bootstrap intervals for the headline numbers."""
    from .evaluation.bootstrap import headline_intervals
    from .evaluation.metrics import merge_metrics, probability_metrics

    decisions = clf.decide(probs)
    metrics = merge_metrics(classification_metrics(targets, decisions, clf.label_map),
                            probability_metrics(targets, probs, clf.label_map))
    metrics.update(headline_intervals(targets, probs, decisions, clf.multi_label, n_resamples, seed=clf.seed))
    return metrics


@dataclass
class TrainResult:
    classifier: TextClassifier
    metrics: dict
    model_dir: Path
    splits: Splits


def train(cfg: Config, log=sys.stderr, resume: str | Path | None = None) -> TrainResult:
    """Load data, fit on train, evaluate on validation and test, save under cfg.output_dir.

    `resume`: a run directory (the output_dir of an interrupted run with the same config) whose
    checkpoint training continues from; results are written there."""
    output = Path(resume) if resume is not None else Path(cfg.output_dir)
    if resume is not None and not (output / "checkpoints").is_dir():
        raise ConfigError(f"{output}: no checkpoints to resume from (expected {output / 'checkpoints'})")
    clf = TextClassifier(model=cfg.model, task=cfg.task, training=cfg.training, seed=cfg.seed)
    clf.model_config()  # a config mistake should surface before minutes of data loading
    splits = load_splits(cfg)
    sizes = {name: len(part) for name, part in
             (("train", splits.train), ("validation", splits.validation), ("test", splits.test)) if part is not None}
    print(f"textclf: data {sizes}", file=log)
    audit_summary = None
    if cfg.audit.enabled:  # leakage found here would make every metric below too optimistic
        from .audit import train_audit

        audit_summary = train_audit(splits, cfg.audit.near_duplicates, cfg.audit.near_threshold, log)
        clf.info["audit"] = audit_summary
    clf.info["columns"] = cfg.data.model_dump(include={"text_column", "label_column", "id_column",
                                                       "label_delimiter"})
    clf.info["data"] = cfg.data.model_dump(mode="json")
    if cfg.thresholds.tune != "none" and cfg.task == "single_label" and len(set(splits.train.labels)) > 2:
        raise ConfigError("thresholds.tune needs a binary or multi-label task (more than 2 classes use argmax); "
                          "set thresholds.tune: none")
    started = time.perf_counter()
    clf.fit(resample_training(cfg, splits.train, log), validation=splits.validation, workdir=output,
            resume=resume is not None)
    train_seconds = time.perf_counter() - started
    metrics: dict = {"train_seconds": round(train_seconds, 3), "sizes": sizes}
    if audit_summary is not None:
        metrics["audit"] = audit_summary
    if cfg.calibration is not None:
        metrics["calibration"] = calibrate_on_validation(clf, splits.validation, cfg.calibration.method, log)
    clf.min_labels = cfg.thresholds.min_labels
    if cfg.thresholds.tune != "none":
        metrics["thresholds"] = tune_on_validation(clf, splits.validation, cfg.thresholds, log)
    for name, part in (("validation", splits.validation), ("test", splits.test)):
        if part is not None:
            metrics[name] = evaluate(clf, part)
    model_dir = output / "model"
    if os.environ.get("RANK", "0") == "0":  # under torchrun every rank gets here with the same weights; one writes
        clf.save(model_dir, metrics=metrics)
        write_json(output / "metrics.json", metrics)
    return TrainResult(clf, metrics, model_dir, splits)


def calibrate_on_validation(clf: TextClassifier, validation: Examples | None, method: str, log=sys.stderr) -> dict:
    """Fit a calibration on the validation split only (never on test) and set it on `clf`."""
    from .evaluation.calibration import calibrate_classifier

    if validation is None or len(validation) == 0:
        raise ConfigError("calibration needs a validation split: set data.split.validation_size > 0 "
                          "or data.validation")
    result = calibrate_classifier(clf, validation, method)
    print(f"textclf: calibration {method}: validation ECE {result.ece_before:.4f} -> {result.ece_after:.4f}",
          file=log)
    return {"method": method, "validation_ece_before": result.ece_before, "validation_ece_after": result.ece_after}


def resample_training(cfg: Config, train: Examples, log=sys.stderr) -> Examples:
    """The training split rebalanced as `training.resample` asks (validation and test untouched)."""
    spec = cfg.training.resample
    if spec is None:
        return train
    from .imbalance import resample

    resampled = resample(train, spec.method, cfg.seed if spec.seed is None else spec.seed, spec.ratio)
    print(f"textclf: resample {spec.method}: {len(train)} -> {len(resampled)} training rows", file=log)
    return resampled


def tune_on_validation(clf: TextClassifier, validation: Examples | None, spec, log=sys.stderr) -> dict:
    """Tune decision thresholds on the validation split only (never on test) and set them on `clf`."""
    import warnings

    from .evaluation.thresholds import tune_classifier_thresholds

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = tune_classifier_thresholds(clf, validation, spec.tune, spec.objective, spec.beta, spec.target)
    for warning in caught:
        print(f"textclf: warning: {warning.message}", file=log)
    shown = ", ".join(f"{t:.3f}" for t in result.thresholds[:8]) + (" ..." if len(result.thresholds) > 8 else "")
    print(f"textclf: thresholds {spec.tune} ({spec.objective}) tuned on validation: {shown}", file=log)
    return {key: value for key, value in result.to_json().items() if key != "validation_scores"}


def saved_splits(clf: TextClassifier) -> Splits:
    """All splits a saved model was trained with, rebuilt from its recorded data config and seed."""
    data = clf.info.get("data")
    if not data:
        raise DataError("this model does not record its training data; pass --data")
    cfg = Config.model_validate({"seed": clf.seed, "task": clf.task, "data": data, "model": clf.model_params})
    return load_splits(cfg)


def saved_test_split(clf: TextClassifier, part: str = "test") -> Examples:
    """Rebuild the held-out split a saved model was trained with (same config, same seed)."""
    split = getattr(saved_splits(clf), part)
    if split is None:
        raise DataError(f"the model's data config has no {part} split; pass --data")
    return split


SAVED_SPLITS = ("train", "validation", "test")


def load_examples(clf: TextClassifier, data: str | None, *, labelled: bool = True, text_column: str | None = None,
                  label_column: str | None = None, group_column: str | None = None,
                  time_column: str | None = None, default_split: str = "test") -> Examples:
    """Examples for a saved model: a file (columns default to the ones it was trained with), a
    bundled data set name, one of its own splits ("train", "validation", "test"), or None for
    `default_split`."""
    if data is None or (data in SAVED_SPLITS and not Path(data).exists()):
        return saved_test_split(clf, data or default_split)
    if data in DATASETS and not Path(data).exists():
        return load_bundled(data)
    columns = clf.info.get("columns", {})
    return read_examples(data, Columns(
        text=text_column or columns.get("text_column", "text"),
        label=(label_column or columns.get("label_column", "label")) if labelled else None,
        group=group_column, time=time_column, multi_label=clf.multi_label,
        label_delimiter=columns.get("label_delimiter"),
    ), labelled=labelled)
