"""The training pipeline (`textclf.train`, `textclf train`): data, audit, fit, decision policy,
evaluation, one saved run. The CLI parses and prints; every stage runs here or in
`TextClassifier.fit`, which this calls."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..artifacts.target import check_save_target
from ..classifier import TextClassifier
from ..card import refit_record
from ..config import Config, TrainingConfig, load_config
from ..data import Examples, LabelMap
from ..data.adapters import ColumnNames, as_examples
from ..data.sources import load_splits
from ..data.splits import Splits, split_examples
from ..errors import ConfigError, ModelError, TextclfError
from ..evaluation.scoring import evaluate
from ..fileio import DISK_ERRORS, check_run_directory, check_writable, os_error, output_lock, write_json

COLLAPSE_SHARE = 0.95  # one label predicted for this share of validation rows ...
COLLAPSE_GOLD_SHARE = 0.85  # ... while it is at most this share of the gold labels: a collapse
REFIT_FOLDS = 5  # refit_full: folds of the cross-fitted predictions the refitted model's policy is fitted on


@dataclass
class TrainResult:
    classifier: TextClassifier  # the saved model (refitted on every labelled row under refit_full)
    metrics: dict
    model_dir: Path | None  # None when nothing was saved (no output_dir)
    splits: Splits
    evaluated: TextClassifier | None = None  # the model the metrics are of (fitted on train only)


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


def train(source: Any, y: Any = None, *, validation: Any = None, test: Any = None,
          text_column: str | None = None, label_column: str | None = None, group_column: str | None = None,
          time_column: str | None = None, id_column: str | None = None, overrides: list[str] | None = None,
          output_dir: str | Path | None = None, overwrite: bool | None = None, log: TextIO | None = None,
          resume: str | Path | None = None) -> TrainResult:
    """The training pipeline, from Python as from `textclf train`: data, optional audit, the
    classifier's fit (training plan, resampling, model, decision policy on validation only),
    evaluation on validation and test, and the saved run.

    `source` is a config (a `Config`, a dict, or a YAML path, with `overrides` "key=value"), or
    data: anything `TextClassifier.fit` takes (lists with `y`, a DataFrame or Dataset with
    `text_column=` / `label_column=`, a file, Examples). Data is split as the config's
    `data.split` says (by group when `group_column` is given) unless `validation` / `test` are
    passed. The run is saved only where an output directory was named: `output_dir=`, or
    `output_dir` set in the config (file, dict or overrides). An existing non-empty output
    directory is refused unless `overwrite` is True. `overwrite=None` (the default here, not in
    `textclf.train`) is the CLI's: it has checked the run directory against --overwrite itself,
    and saves under the config's `output_dir`, default included. `resume`: a run directory whose
    checkpoint training continues from."""
    log = sys.stderr if log is None else log
    if isinstance(overrides, str):  # iterating it would give one-character "overrides"
        raise ConfigError(f"overrides: pass a list of key=value strings, e.g. [{overrides!r}], not one string")
    if isinstance(source, Config) or isinstance(source, dict) or _is_config_path(source):
        cfg = source if isinstance(source, Config) else (
            load_train_config(None, _flatten(source) + list(overrides or [])) if isinstance(source, dict)
            else load_train_config(str(source), overrides))
        named = output_dir is not None or "output_dir" in cfg.model_fields_set  # not the default runs/default
        if output_dir is not None:
            cfg = cfg.model_copy(update={"output_dir": str(output_dir)})
        return _run(cfg, None, log, resume, save=named or overwrite is None, overwrite=overwrite)
    columns = ColumnNames(text_column, label_column, group_column, time_column, id_column)
    values = ["data.train=<memory>"] + (["data.split.method=group"] if group_column else [])
    cfg = load_train_config(None, values + list(overrides or []))
    multi_label = cfg.task == "multi_label"
    examples = as_examples(source, y, columns=columns, multi_label=multi_label, need_labels=True, role="data")
    given = [as_examples(part, columns=columns, multi_label=multi_label, need_labels=True, role=name)
             if part is not None else None for name, part in (("validation", validation), ("test", test))]
    split = cfg.data.split
    splits = split_examples(examples, split.method, 0.0 if given[0] is not None else split.validation_size,
                            0.0 if given[1] is not None else split.test_size, seed=cfg.seed)
    splits = Splits(splits.train, given[0] or splits.validation, given[1] or splits.test)
    if output_dir is not None:
        cfg = cfg.model_copy(update={"output_dir": str(output_dir)})
    return _run(cfg, splits, log, resume, save=output_dir is not None, overwrite=overwrite)


def _is_config_path(source: Any) -> bool:
    return isinstance(source, (str, Path)) and str(source).lower().endswith((".yaml", ".yml"))


def _flatten(values: dict, prefix: str = "") -> list[str]:
    """A config dict as key=value overrides, so that it is validated exactly as a YAML file is."""
    import json

    out = []
    for key, value in values.items():
        if isinstance(value, dict) and value and key != "model":
            out += _flatten(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}={json.dumps(value)}")
    return out


def _run(cfg: Config, splits: Splits | None, log: TextIO, resume, save: bool, overwrite: bool | None) -> TrainResult:
    output = Path(resume) if resume is not None else Path(cfg.output_dir)
    if resume is not None and not (output / "checkpoints").is_dir():
        raise ConfigError(f"{output}: no checkpoints to resume from (expected {output / 'checkpoints'})")
    writes = save and os.environ.get("RANK", "0") == "0"  # under torchrun every rank trains; one writes
    if writes:
        if resume is None and overwrite is not None:  # None: the CLI checked against its --overwrite
            check_run_directory(output, overwrite, ("overwrite=True", "resume="))
        check_writable(output / "model", directory=True)
        check_save_target(output / "model", overwrite=True)  # model/ is replaced: before the training, not after
    clf = classifier_for(cfg)
    clf.model_config()  # a config mistake should surface before minutes of data loading
    created = writes and not output.exists()  # a run directory this run makes goes again if it fails
    try:
        with output_lock(output) if writes else contextlib.nullcontext():
            in_memory = splits is not None
            splits = splits if in_memory else load_splits(cfg)
            workdir = output if save or resume is not None else None  # an unsaved run writes no checkpoints
            return _train_locked(cfg, clf, splits, workdir, resume, log, writes, in_memory)
    except (TextclfError, OSError) as err:  # a user error or a full disk; an interrupt keeps checkpoints
        if created:
            shutil.rmtree(output, ignore_errors=True)
        if isinstance(err, OSError) and err.errno in DISK_ERRORS:
            raise os_error(output, err) from None  # one line, not a traceback from deep in a writer
        raise


def classifier_for(cfg: Config) -> TextClassifier:
    """The estimator a config describes (model, task, training, seed and decision policy)."""
    return TextClassifier(model=cfg.model, task=cfg.task, training=cfg.training, seed=cfg.seed,
                          calibration=cfg.calibration.method if cfg.calibration is not None else None,
                          thresholds=cfg.thresholds)


def _train_locked(cfg: Config, clf: TextClassifier, splits: Splits, output: Path | None, resume, log: TextIO,
                  writes: bool, in_memory: bool) -> TrainResult:
    """`output`: the run directory (checkpoints, model/, metrics.json); None for a run that saves nothing."""
    sizes = {name: len(part) for name, part in
             (("train", splits.train), ("validation", splits.validation), ("test", splits.test)) if part is not None}
    no_validation = splits.validation is None or len(splits.validation) == 0
    if no_validation and cfg.calibration is not None:
        if "calibration" in cfg.model_fields_set:
            raise ConfigError("calibration needs a validation split: set data.split.validation_size > 0 "
                              "or data.validation (or calibration: null)")
        print("textclf: warning: no validation split, so no calibration (set data.split.validation_size "
              "or calibration: null)", file=log)
    clf.check_policy_request(LabelMap.fit(splits.train, cfg.task == "multi_label"), splits.validation)
    audit = None
    if cfg.audit.enabled:  # leakage found here would make every metric below too optimistic
        from ..audit import train_audit

        audit = train_audit(splits, cfg.audit.near_duplicates, cfg.audit.near_threshold, log)
    print(f"textclf: data {sizes}", file=log)
    started = time.perf_counter()
    clf.fit(splits.train, validation=None if no_validation else splits.validation, workdir=output,
            resume=resume is not None, log=log)
    metrics: dict = {"train_seconds": round(time.perf_counter() - started, 3), "sizes": sizes}
    card = clf.card
    card.audit = audit
    if not in_memory:
        card.columns = cfg.data.model_dump(include={"text_column", "label_column", "id_column", "label_delimiter"})
        card.data = cfg.data.model_dump(mode="json")
    for key in ("imbalance", "audit", "calibration"):
        if getattr(card, key) is not None:
            metrics[key] = getattr(card, key)
    if clf.policy.thresholds is not None:
        metrics["thresholds"] = {"thresholds": clf.policy.thresholds.tolist(), **{
            k: v for k, v in clf.policy.provenance.get("thresholds", {}).items() if k not in ("validation_scores",
                                                                                           "fitted_on")}}
    for name, part in (("validation", splits.validation), ("test", splits.test)):
        if part is not None:
            metrics[name] = evaluate(clf, part)
    warn_on_collapse(clf, splits.validation, log)
    from ..models.auto.leaderboard import LEADERBOARD_FILE, leaderboard_json

    leaderboard = leaderboard_json(clf.card.training_summary)  # None but for `auto`
    evaluated = clf
    if refit_wanted(cfg):
        clf = refit_on_all_rows(clf, splits, metrics, log)
    model_dir = output / "model" if output is not None else None
    if writes:  # the run directory was checked (or --overwrite given) before training
        clf.save(model_dir, metrics=metrics, extra={LEADERBOARD_FILE: leaderboard} if leaderboard else None,
                 overwrite=True)
        write_json(output / "metrics.json", metrics)
        if leaderboard:
            write_json(output / LEADERBOARD_FILE, leaderboard)
    return TrainResult(clf, metrics, model_dir, splits, evaluated)


# -- refit_full: the saved model learns from every labelled row ---------------------------------------
def refit_wanted(cfg: Config) -> bool:
    """`refit_full` true, or `auto` (the default) with `model.type: auto`."""
    return cfg.refit_full is True or (cfg.refit_full == "auto" and cfg.model.get("type") == "auto")


def all_labelled_rows(splits: Splits) -> Examples:
    """Train, validation and test rows as one Examples (groups kept when every part has them)."""
    named = [(name, part) for name, part in (("train", splits.train), ("validation", splits.validation),
                                             ("test", splits.test)) if part is not None and len(part)]
    parts = [part for _, part in named]
    groups = [g for p in parts for g in p.groups] if all(p.groups is not None for p in parts) else None
    return Examples(texts=[t for p in parts for t in p.texts], labels=[y for p in parts for y in p.labels],
                    groups=groups, source="+".join(name for name, _ in named), columns=splits.train.columns,
                    label_kind=splits.train.label_kind)


def refit_on_all_rows(clf: TextClassifier, splits: Splits, metrics: dict, log: TextIO) -> TextClassifier:
    """`clf`'s resolved configuration (for `auto`: its choice, an ensemble's members and weights
    fixed) refitted on every labelled row; its decision policy fitted on cross-fitted out-of-fold
    predictions over those rows, since no held-out split is left. `metrics` (of `clf`) gains a
    `refit` record; the card of the returned classifier says the same. The refit writes no
    checkpoint: a resumed run resumes the first fit, then refits from the start."""
    rows = all_labelled_rows(splits)
    if len(rows) <= len(splits.train):
        print("textclf: refit_full: no validation or test rows to add; the evaluated model is saved", file=log)
        return clf
    training = refit_training(clf)
    stopped = isinstance(clf.card.training_summary.get("best_epoch"), int)
    print(f"textclf: refit_full: refitting {clf.model_params['type']} on all {len(rows)} labelled rows"
          + (f" for {training.epochs} epochs (where early stopping stopped)" if stopped else ""), file=log)
    refit = _unpoliced_fit(clf, rows, training, log)
    refit.set_params(calibration=clf.calibration, thresholds=clf.thresholds)
    source = _fit_policy_out_of_fold(refit, clf, rows, training, log)
    record = refit_record(len(rows), clf.card.train_size or len(splits.train), source, refit.card.training_summary)
    refit.card_ = replace(clf.card, train_size=refit.card.train_size, resample=refit.card.resample,
                          calibration=refit.card.calibration, refit=record)
    metrics["refit"] = {k: v for k, v in record.items() if k != "training_summary"}
    if refit.card.calibration is not None:
        metrics["refit"]["calibration"] = refit.card.calibration
    if refit.policy.thresholds is not None:
        metrics["refit"]["thresholds"] = refit.policy.thresholds.tolist()
    print(f"textclf: refit_full: {record['note']}", file=log)
    return refit


def refit_training(clf: TextClassifier) -> TrainingConfig:
    """The evaluated model's training settings with every key fixed, so that no size-aware default
    moves with the larger row count; a neural model trains for the epochs early stopping kept
    (there is no validation split left to stop on)."""
    values = clf.training_config().model_dump()
    best_epoch = clf.card.training_summary.get("best_epoch")
    if isinstance(best_epoch, int) and best_epoch >= 1:
        values["epochs"] = best_epoch
    return TrainingConfig.model_validate(values)


def _unpoliced_fit(clf: TextClassifier, rows: Examples, training: TrainingConfig, log: TextIO | None
                   ) -> TextClassifier:
    """A classifier of `clf`'s resolved model and task fitted on `rows`, with no calibration and no
    threshold tuning (min_labels kept); the caller fits the policy."""
    thresholds = clf.thresholds_config().model_copy(update={"tune": "none"})
    fresh = TextClassifier(model=clf.model_params, task=clf.task, training=training, seed=clf.seed,
                           calibration=None, thresholds=thresholds)
    return fresh.fit(rows, log=log)


def _fit_policy_out_of_fold(refit: TextClassifier, clf: TextClassifier, rows: Examples, training: TrainingConfig,
                            log: TextIO) -> str:
    """Fit `refit`'s decision policy on out-of-fold logits over `rows` (REFIT_FOLDS more fits of the
    same configuration); returns what it was fitted on. Skipped, with one warning, when a class has
    too few rows to appear in every fold."""
    method = refit.calibration_method()
    if method is None and refit.thresholds_config().tune == "none":
        return "nothing (no calibration or thresholds asked for)"
    targets = refit.label_map.encode(rows)
    logits = _out_of_fold_logits(refit, clf, rows, targets, training)
    if logits is None:
        source = f"nothing: a class has too few rows for {REFIT_FOLDS}-fold cross-fitting"
        print(f"textclf: warning: refit_full: the refitted model has no calibration or thresholds ({source})",
              file=log)
        refit.set_params(calibration=None, thresholds=refit.thresholds_config().model_copy(update={"tune": "none"}))
        refit.card.calibration = None if method is None else {"method": method, "kept": False, "reason": source}
        return source
    source = f"out-of-fold predictions ({REFIT_FOLDS}-fold) over all {len(rows)} labelled rows"
    refit.fit_policy_on_logits(logits, targets, source, log)
    return source


def _out_of_fold_logits(refit: TextClassifier, clf: TextClassifier, rows: Examples, targets: np.ndarray,
                        training: TrainingConfig) -> np.ndarray | None:
    """Logits (n, k) of every row from a fit on the other folds; None when a fold would lack a class."""
    folds = _refit_folds(rows, targets, refit.multi_label, refit.seed)
    if folds is None:
        return None
    logits = np.zeros((len(rows), len(refit.label_map)), dtype=np.float32)
    for fit_rows, held_rows in folds:
        fold = _unpoliced_fit(clf, rows.subset(fit_rows), training.model_copy(update={"progress": False}), None)
        if fold.label_map.labels != refit.label_map.labels:  # a label missing from this fold's rows
            return None
        logits[held_rows] = fold.logits(rows.subset(held_rows))
    return logits


def _refit_folds(rows: Examples, targets: np.ndarray, multi_label: bool, seed: int
                 ) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """REFIT_FOLDS folds as auto's cross-validation makes them (stratified, by group when rows have
    groups), or None when a class has fewer rows than folds (it could not be held out in each)."""
    from ..models.auto.protocol import make_folds

    if not multi_label and np.bincount(targets).min() < REFIT_FOLDS:
        return None
    try:
        return make_folds(rows, targets, multi_label, REFIT_FOLDS, seed)
    except ModelError:  # fewer than two groups
        return None


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
    label = collapsed_label(clf.infer(validation).labels, list(validation.labels))
    if label is not None:
        print(f"textclf: warning: the model predicts {label!r} for >= {COLLAPSE_SHARE:.0%} of validation rows "
              f"although it is at most {COLLAPSE_GOLD_SHARE:.0%} of their labels: it has collapsed to one class "
              "(try class_weight: balanced, more data, or model.type: auto)", file=log)

