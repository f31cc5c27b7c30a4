"""Jobs that change a saved model's decision policy: calibrate, tune-thresholds."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from ..classifier import TextClassifier
from ..config import ThresholdsConfig, validate
from ..data import Examples
from ..data.sources import SPLIT_NAMES, ModelData
from ..data.splits import OVERLAP_REFUSED, shared_rows
from ..errors import DataError
from ..fileio import atomic_directory, check_output
from . import defaults
from .inspect import DataChoice, examples_for


@dataclass
class PolicyResult:
    classifier: TextClassifier
    examples_used: int
    source: str
    details: object  # CalibrationDecision or ThresholdResult
    warnings: list[str]
    saved_to: Path  # MODEL/policy.json, or the new model directory given as `output`


def policy_examples(clf: TextClassifier, data: DataChoice, notes: list[str] | None = None) -> Examples:
    """The labelled data a decision policy may be fitted on: the model's validation split or a
    file; never its training or test split, by name or by content (`check_unseen_rows`)."""
    if data.source in ("train", "test") and not Path(data.source).exists():
        raise DataError(f"--data {data.source}: the decision policy is fitted on validation data only (on the "
                        f"{data.source} split its metrics would be optimistic); pass --data validation or a file")
    examples = examples_for(clf, data, default_split="validation")
    if data.source is not None and not (data.source in SPLIT_NAMES and not Path(data.source).exists()):
        (notes if notes is not None else []).extend(check_unseen_rows(clf, examples))
    return examples


def check_unseen_rows(clf: TextClassifier, examples: Examples) -> list[str]:
    """Refuse policy data holding more than a tenth of the model's test split (same text and label;
    or more than a tenth of its own rows): the model's own training file or data set given by path
    holds them, and every later test score would be optimistic. Fewer shared rows, and training
    rows, get a note (a few repeated texts are common in real data). The splits are rebuilt from
    the data config the model recorded; when that data is gone, a note says the check was not made."""
    model_data = ModelData.of(clf)
    if not model_data.data:  # trained in memory: nothing recorded to compare with
        return []
    try:
        splits = model_data.splits()
    except DataError as err:
        return [f"{examples.source} was not checked against the model's test split, which cannot be rebuilt "
                f"({str(err)[:120]})"]
    notes = []
    if splits.test is not None:
        shared = shared_rows(examples, splits.test)
        if shared > OVERLAP_REFUSED * min(len(examples), len(splits.test)):
            raise DataError(f"{examples.source}: holds {shared:,} of the model's {len(splits.test):,} test rows "
                            "(same text and label); a decision policy fitted there makes test scores optimistic: "
                            "pass rows the model never saw (or --data validation)")
        if shared:
            notes.append(f"{examples.source}: {shared:,} of its {len(examples):,} rows are also test rows of the model "
                         "(repeated texts); its test scores are that much less held out")
    trained = shared_rows(examples, splits.train)
    if trained:
        notes.append(f"{examples.source}: {trained:,} of its {len(examples):,} rows are training rows of the model, "
                     "on which its probabilities are overconfident")
    return notes


def save_policy(clf: TextClassifier, model: str | Path, output: str | Path | None, overwrite: bool) -> Path:
    """The new policy into MODEL/policy.json (in place; the file keeps its mode), or with `output`
    into a copy of MODEL at `output`, written atomically (refused if it exists, unless `overwrite`)."""
    if output is None:
        clf.save_policy(model)
        return Path(model) / "policy.json"
    import shutil

    with atomic_directory(output, overwrite=overwrite, lock=True) as staging:
        shutil.copytree(model, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*.lock"))
        clf.save_policy(staging)
    return Path(output)


def calibrate(model: str | Path, method: str = defaults.CALIBRATION_METHOD, data: DataChoice = DataChoice(),
              output: str | Path | None = None, overwrite: bool = False) -> PolicyResult:
    """Fit a calibration on validation data (default: the model's validation split) and save it
    with the model's policy if it lowers cross-fitted ECE (else the model is saved uncalibrated,
    with a note); the weights are not rewritten. Nothing is written when the data cannot be found
    or has too few rows (DataError). `output`: write a copy of the model with the new policy
    there instead (see `save_policy`)."""
    if output is not None:
        check_output(output, overwrite=overwrite, directory=True)
    clf = TextClassifier.load(model)
    notes: list[str] = []
    examples = policy_examples(clf, data, notes)
    result = clf.calibrate(examples, method)
    if result.calibration is None:
        notes.append(f"{result.reason}; the model is saved uncalibrated")
    if clf.policy.thresholds is not None:
        notes.append("this model's decision thresholds were tuned on its previous probabilities; "
                     "tune them again (textclf tune-thresholds)")
    saved = save_policy(clf, model, output, overwrite)
    return PolicyResult(clf, len(examples), examples.source, result, notes, saved)


def tune_thresholds(model: str | Path, spec: ThresholdsConfig | dict, data: DataChoice = DataChoice(),
                    min_labels: int | None = None, output: str | Path | None = None,
                    overwrite: bool = False) -> PolicyResult:
    """Tune decision thresholds on validation data and save them with the model's policy (or, with
    `output`, in a copy of the model there: see `save_policy`)."""
    if isinstance(spec, dict):
        spec = validate(ThresholdsConfig, spec, "tune-thresholds")
    if output is not None:
        check_output(output, overwrite=overwrite, directory=True)
    clf = TextClassifier.load(model)
    notes: list[str] = []
    examples = policy_examples(clf, data, notes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = clf.tune_thresholds(examples, spec.tune, spec.objective, spec.beta, spec.target)
    if min_labels is not None:
        clf.set_min_labels(min_labels)
    saved = save_policy(clf, model, output, overwrite)
    notes += [str(w.message) for w in caught]
    return PolicyResult(clf, len(examples), examples.source, result, notes, saved)
