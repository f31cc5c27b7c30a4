"""Distillation (`textclf distill`, `textclf.distill`): a fast student trained on a strong teacher.

The teacher's calibrated probabilities over an unlabelled pool, and over its own training split
(mixed with the gold labels there), become the student's targets; the student is selected and
gets its own decision policy on the teacher's validation split against gold labels, is evaluated
on the teacher's test split, and is saved as an ordinary model whose card names its teacher.

The pool is streamed through the teacher in chunks (serving.predict.predict_file), into a cache
file beside the output, `STUDENT.teacher.jsonl`, kept with a manifest of the teacher's
fingerprint and the input's identity: a second run with the same teacher and pool reads it
instead of predicting again, and an interrupted one resumes from its last complete chunk.

How targets reach the student (training/soft_targets.py): a student type whose capabilities
declare `soft_targets` (the neural types) trains on the probabilities with the soft
cross-entropy; any other (tfidf, embedding) on hard labels, each text repeated `copies` times
with labels in proportion to the teacher's probabilities, through `TextClassifier.fit`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..card import ModelCard
from ..classifier import FittedConfig, TextClassifier
from ..data import Examples
from ..data.io import stream_texts
from ..data.sources import ModelData
from ..data.splits import Splits
from ..errors import ConfigError, DataError, ModelError
from ..evaluation.scoring import evaluate
from ..fileio import check_output, output_lock, write_json
from ..models import model_class
from ..plan import model_and_training, resolve_plan
from ..policy import DecisionPolicy
from ..serving.predict import (PredictOptions, build_manifest, manifest_difference, manifest_path, partial_path,
                               predict_file)
from ..training.soft_targets import expand_rows, mix_hard, tempered

CACHE_SUFFIX = ".teacher.jsonl"


@dataclass(frozen=True)
class DistillOptions:
    """How the student learns from the teacher (every field has a sensible default)."""

    student: str | dict = "bag"  # a model type, or a model config dict (type plus its keys)
    training: dict | None = None  # the student's training keys; unset keys take its type's defaults
    temperature: float = 1.0  # > 1 softens the teacher's probabilities before the student sees them
    hard_weight: float = 0.5  # on the teacher's training rows: weight of the gold label against the teacher
    copies: int = 4  # hard-label students: copies per text (probabilities rounded to 1 / copies)
    calibration: str | None = "temperature"  # the student's own calibration, fitted on validation
    text_column: str | None = None  # of the pool; default: the teacher's text column
    chunk_size: int = 4096  # pool rows in memory while the teacher predicts
    batch_size: int = 64  # texts per teacher call
    cache: bool = True  # keep the teacher's pool predictions beside the output
    bootstrap: int = 1000  # resamples for the metric intervals (0: none)
    progress: bool = False

    def check(self) -> None:
        if not 0.01 <= self.temperature <= 100:
            raise ConfigError(f"temperature must be between 0.01 and 100, got {self.temperature}")
        if not 0.0 <= self.hard_weight <= 1.0:
            raise ConfigError(f"hard_weight must be between 0 and 1, got {self.hard_weight}")
        if not 1 <= self.copies <= 100:
            raise ConfigError(f"copies must be between 1 and 100, got {self.copies}")
        if self.bootstrap < 0:
            raise ConfigError(f"bootstrap must be 0 or more, got {self.bootstrap}")


@dataclass
class DistillResult:
    classifier: TextClassifier  # the student
    metrics: dict  # validation and test metrics of the student, the teacher's validation macro-F1
    output: Path | None
    pool_rows: int  # pool rows the student trained on (after dropping validation/test texts)
    cached: bool  # the teacher's pool predictions came from the cache
    info: dict = field(default_factory=dict)  # what the card's distilled_from records


def cache_path(output: str | Path) -> Path:
    """Where the teacher's pool predictions for `output` are kept."""
    output = Path(output)
    return output.with_name(output.name + CACHE_SUFFIX)


def _say(log: TextIO | None, message: str) -> None:
    if log is not None:
        print(f"textclf: {message}", file=log, flush=True)


# -- checks before any work -----------------------------------------------------------------------
def _student_params(student: str | dict) -> dict:
    params = {"type": student} if isinstance(student, str) else dict(student)
    if params.get("type") in ("auto", "ensemble"):
        raise ConfigError(f"student: {params['type']!r} is not a student; pick one fast type (bag, tfidf, cnn, ...)")
    return params


def _check_pool(pool: str | Path, text_column: str) -> None:
    """The pool exists and has the text column: read its first chunk (a DataError names what is wrong)."""
    if str(pool) == "-":
        raise DataError("the unlabelled pool must be a file (it is read twice), not stdin")
    if not Path(pool).is_file():
        raise DataError(f"{pool}: no such file (the unlabelled pool)")
    next(iter(stream_texts(pool, text_column=text_column, chunk_size=64)), None)


def _load_teacher(teacher: str | Path) -> TextClassifier:
    if not Path(teacher).is_dir():
        raise ModelError(f"{teacher}: no such model directory (the teacher)")
    return TextClassifier.load(teacher)


def _teacher_splits(teacher: TextClassifier, where: str | Path) -> Splits:
    try:
        splits = ModelData.of(teacher).splits()
    except DataError:
        raise DataError(f"{where}: the teacher does not record its training data (trained from memory); "
                        "distill needs its splits: train it from a config or a data file") from None
    if splits.validation is None or len(splits.validation) == 0:
        raise DataError(f"{where}: the teacher has no validation split; distill selects the student on it")
    return splits


# -- the teacher's probabilities -------------------------------------------------------------------
def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def teacher_pool_probabilities(teacher: TextClassifier, teacher_dir: str | Path, pool: str | Path,
                               text_column: str, cache: Path, options: DistillOptions,
                               log: TextIO | None = None) -> tuple[np.ndarray, bool]:
    """The teacher's probabilities (n, k) on every pool row, and whether they came from `cache`.
    A finished cache whose manifest matches the teacher and the pool is read as it is; otherwise
    predict_file writes it (resuming a matching `.partial` file, discarding one that differs)."""
    predict = PredictOptions(text_column=text_column, chunk_size=options.chunk_size,
                             batch_size=options.batch_size, resume=True, progress=options.progress,
                             overwrite=True)
    current = build_manifest(teacher, pool, predict, text_column, "jsonl", teacher_dir)
    saved = _read_json(cache.with_name(cache.name + ".manifest"))
    if cache.is_file() and saved is not None and manifest_difference(saved, current) is None:
        _say(log, f"teacher predictions from the cache {cache}")
        return _read_cache(cache, teacher.label_map.labels), True
    partial, partial_manifest = partial_path(cache), manifest_path(cache)
    old = _read_json(partial_manifest)
    if partial.exists() and (old is None or manifest_difference(old, current) is not None):
        partial.unlink()  # computed from another teacher or pool: useless
        partial_manifest.unlink(missing_ok=True)
    _say(log, f"teacher predicts the pool {pool} into {cache}")
    predict_file(teacher, pool, cache, predict, model_path=teacher_dir)
    write_json(cache.with_name(cache.name + ".manifest"), current)
    return _read_cache(cache, teacher.label_map.labels), False


def _read_cache(cache: Path, labels: tuple) -> np.ndarray:
    keys = [f"prob_{name}" for name in labels]
    rows = []
    with open(cache, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            rows.append([record[key] for key in keys])
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(keys))


def _pool_texts(pool: str | Path, text_column: str, chunk_size: int) -> list[str]:
    return [text for chunk in stream_texts(pool, text_column=text_column, chunk_size=chunk_size)
            for text in chunk.texts]


def _probabilities(teacher: TextClassifier, texts: list[str], chunk_size: int) -> np.ndarray:
    parts = [teacher.predict_proba(texts[i:i + chunk_size]) for i in range(0, len(texts), chunk_size)]
    return np.concatenate(parts) if parts else np.zeros((0, len(teacher.label_map)), dtype=np.float32)


def _stream_probabilities(teacher: TextClassifier, pool: str | Path, text_column: str,
                          options: DistillOptions) -> tuple[list[str], np.ndarray]:
    """No cache (no output to put it beside): the teacher predicts the pool chunk by chunk."""
    texts, parts = [], []
    for chunk in stream_texts(pool, text_column=text_column, chunk_size=options.chunk_size):
        texts.extend(chunk.texts)
        parts.append(teacher.predict_proba(chunk.texts))
    probs = np.concatenate(parts) if parts else np.zeros((0, len(teacher.label_map)), dtype=np.float32)
    return texts, probs


def _teacher_validation_f1(teacher: TextClassifier, teacher_dir: Path, validation: Examples) -> float:
    """The teacher's validation macro-F1: from its saved metrics.json, else measured now."""
    saved = (_read_json(teacher_dir / "metrics.json") or {}).get("validation") or {}
    if isinstance(saved.get("macro_f1"), (int, float)):
        return float(saved["macro_f1"])
    from sklearn.metrics import f1_score

    decisions = teacher.infer(validation).decisions
    return float(f1_score(teacher.label_map.encode(validation), decisions, average="macro",
                          labels=list(range(len(teacher.label_map))), zero_division=0))


# -- the student ------------------------------------------------------------------------------------
def _hard_names(targets: np.ndarray, teacher: TextClassifier) -> list:
    """The label (set) each target row stands for: what the training plan counts classes on."""
    names = teacher.label_map.labels
    if teacher.multi_label:
        return [tuple(names[j] for j in np.flatnonzero(row >= 0.5)) for row in targets]
    return [names[int(i)] for i in targets.argmax(axis=1)]


def _policy_like_teacher(teacher: TextClassifier) -> dict:
    """The student's thresholds settings: tuned as the teacher's were (on validation), same min_labels."""
    record = teacher.policy.provenance.get("thresholds") or {}
    tuned = teacher.policy.thresholds is not None
    return {"tune": record.get("scope", "per_label") if tuned else "none", "objective": record.get("objective", "f1"),
            "beta": record.get("beta", 1.0), "target": record.get("target"), "min_labels": teacher.policy.min_labels}


def _fit_soft(student: TextClassifier, teacher: TextClassifier, texts: list[str], targets: np.ndarray,
              validation: Examples, log: TextIO | None) -> None:
    """A student type that takes soft targets: TextClassifier.fit's stages (training plan, the
    model's fit, decision policy on validation only) with the probabilities as training targets.
    (TextClassifier.fit encodes labels itself; a `targets=` hook there would make this one call.)"""
    label_map = teacher.label_map
    plan = resolve_plan(student.model_params, student.training, _hard_names(targets, teacher), label_map,
                        student.seed)
    if plan.rows is not None:  # training.resample
        texts, targets = [texts[i] for i in plan.rows], targets[plan.rows]
    model = model_class(plan.model.type)(plan.model, label_map, plan.training, student.seed)
    summary = model.fit(Examples(texts=texts), targets, validation, label_map.encode(validation))
    student.model_, student.label_map_, student.fitted_ = model, label_map, FittedConfig(plan.model, plan.training)
    student.policy_ = DecisionPolicy()
    student.card_ = ModelCard(training_summary=summary, train_size=len(texts), imbalance=plan.imbalance)
    # calibration, then thresholds, with training's guards (too few rows: none, and a warning)
    student.fit_policy_on_logits(student.logits(validation), label_map.encode(validation), validation.source, log)


def _fit_expanded(student: TextClassifier, teacher: TextClassifier, texts: list[str], targets: np.ndarray,
                  validation: Examples, copies: int, label_kind: str, log: TextIO | None) -> None:
    """A student type that takes only labels: `copies` hard-label rows per text (soft_targets.expand_rows)
    through the ordinary TextClassifier.fit."""
    source, labels = expand_rows(targets, copies, teacher.multi_label)
    names = teacher.label_map.labels
    if teacher.multi_label:
        values = [tuple(names[j] for j in np.flatnonzero(row)) for row in labels]
    else:
        values = [names[int(i)] for i in labels]
    rows = Examples(texts=[texts[i] for i in source], labels=values, label_kind=label_kind, source="<distill>")
    student.fit(rows, validation=validation, log=log)
    if tuple(student.label_map.labels) != tuple(names):
        raise ModelError(f"the student's labels {list(student.label_map.labels)} differ from the teacher's "
                         f"{list(names)}: raise copies so that every class gets rows")


# -- the job ---------------------------------------------------------------------------------------
def distill(teacher: str | Path, unlabelled: str | Path, student: str | dict = "bag",
            output: str | Path | None = None, *, overwrite: bool = False, log: TextIO | None = sys.stderr,
            **options: Any) -> DistillResult:
    """Train `student` (a model type or config dict) on the saved `teacher`'s probabilities over
    the `unlabelled` file and over the teacher's own training split, select it on the teacher's
    validation split, evaluate it on its test split, and save it to `output` (a model directory).
    `options`: the fields of DistillOptions (temperature, hard_weight, copies, training, ...)."""
    opts = DistillOptions(student=student, **options)
    opts.check()
    params = _student_params(opts.student)
    _, training = model_and_training(params, opts.training)  # a config mistake surfaces before any work
    if training.sampler == "weighted":
        raise ConfigError("training.sampler: weighted samples by class label; a student on the teacher's "
                          "probabilities takes length_bucketed or random")
    out = check_output(output, overwrite, directory=True) if output is not None else None
    teacher_clf = _load_teacher(teacher)
    text_column = opts.text_column or teacher_clf.card.text_column
    _check_pool(unlabelled, text_column)
    splits = _teacher_splits(teacher_clf, teacher)
    if out is None:
        return _run(teacher_clf, Path(teacher), unlabelled, text_column, splits, params, opts, None, log)
    with output_lock(out):
        check_output(out, overwrite, directory=True)  # again, now that no other writer can race us
        return _run(teacher_clf, Path(teacher), unlabelled, text_column, splits, params, opts, out, log)


def _run(teacher: TextClassifier, teacher_dir: Path, pool: str | Path, text_column: str, splits: Splits,
         params: dict, opts: DistillOptions, out: Path | None, log: TextIO | None) -> DistillResult:
    import time

    started = time.perf_counter()
    if out is not None and opts.cache:
        cache = cache_path(out)
        pool_probs, cached = teacher_pool_probabilities(teacher, teacher_dir, pool, text_column, cache, opts, log)
        pool_texts = _pool_texts(pool, text_column, opts.chunk_size)
        if len(pool_texts) != len(pool_probs):
            raise DataError(f"{cache}: {len(pool_probs)} rows for {len(pool_texts)} pool texts; delete it")
    else:
        (pool_texts, pool_probs), cached = _stream_probabilities(teacher, pool, text_column, opts), False
    held_out = set(splits.validation.texts) | set(splits.test.texts if splits.test is not None else [])
    keep = [i for i, text in enumerate(pool_texts) if text not in held_out]  # selection and test stay unseen
    if len(keep) < len(pool_texts):
        _say(log, f"dropped {len(pool_texts) - len(keep)} pool rows that are validation or test texts")
    train, multi = splits.train, teacher.multi_label
    train_targets = mix_hard(tempered(_probabilities(teacher, train.texts, opts.chunk_size), opts.temperature, multi),
                             teacher.label_map.encode(train), opts.hard_weight)
    texts = list(train.texts) + [pool_texts[i] for i in keep]
    targets = np.concatenate([train_targets, tempered(pool_probs[keep], opts.temperature, multi)])
    clf = TextClassifier(model=params, task=teacher.task, training=opts.training, seed=teacher.seed,
                         calibration=opts.calibration, thresholds=_policy_like_teacher(teacher))
    config, training = model_and_training(params, opts.training)
    soft = model_class(config.type)(config, teacher.label_map, training, teacher.seed).capabilities().soft_targets
    clf.check_policy_request(teacher.label_map, splits.validation)
    _say(log, f"student {config.type} on {len(texts)} texts ({len(train)} labelled, {len(keep)} pool), "
              f"{'soft targets' if soft else f'{opts.copies} hard-label copies per text'}")
    if soft:
        _fit_soft(clf, teacher, texts, targets, splits.validation, log)
    else:
        _fit_expanded(clf, teacher, texts, targets, splits.validation, opts.copies, train.label_kind, log)
    info = {"teacher": str(teacher_dir.resolve()), "type": teacher.model_params.get("type"),
            "validation_macro_f1": _teacher_validation_f1(teacher, teacher_dir, splits.validation),
            "pool": str(Path(pool).resolve()), "pool_rows": len(keep), "train_rows": len(train),
            "temperature": opts.temperature, "hard_weight": opts.hard_weight,
            "targets": "soft" if soft else f"hard labels, {opts.copies} copies per text"}
    metrics = {"train_seconds": round(time.perf_counter() - started, 3), "teacher": info,
               "sizes": {"train": len(train), "pool": len(keep), "validation": len(splits.validation)}}
    for name, part in (("validation", splits.validation), ("test", splits.test)):
        if part is not None and len(part):
            metrics[name] = evaluate(clf, part, opts.bootstrap)
    clf.card.distilled_from, clf.card.data = info, teacher.card.data
    clf.card.columns = dict(teacher.card.columns)
    if out is not None:  # `out` was checked against `overwrite` before any work, under the lock
        clf.save(out, metrics=metrics, overwrite=True)
    return DistillResult(clf, metrics, out, len(keep), cached, info)
