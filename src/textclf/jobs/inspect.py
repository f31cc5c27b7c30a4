"""Jobs that look at a saved model: evaluate, report, errors, shift."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ..classifier import TextClassifier
from ..data import Examples
from ..data.sources import ColumnOverrides, ModelData, load_examples
from ..errors import DataError
from ..fileio import atomic_file, check_output, write_json
from . import defaults


@dataclass(frozen=True)
class DataChoice:
    """--data (a file, a bundled set, or train/validation/test of the model) and the column flags."""

    source: str | None = None
    columns: ColumnOverrides = ColumnOverrides()


def examples_for(clf: TextClassifier, choice: DataChoice, default_split: str = "test",
                 labelled: bool = True) -> Examples:
    return load_examples(ModelData.of(clf), choice.source, choice.columns, labelled=labelled,
                         default_split=default_split)


def _train_split(clf: TextClassifier) -> Examples | None:
    """The model's training split, for analyses of models that keep no vocabulary of their own."""
    if clf.model_.vocabulary() is not None or not clf.card.data:
        return None
    try:
        return ModelData.of(clf).split("train")
    except DataError:
        return None


# -- evaluate --------------------------------------------------------------------------------------
@dataclass
class EvaluateResult:
    classifier: TextClassifier
    metrics: dict
    examples: Examples
    output: Path | None


def evaluate(model: str | Path, data: DataChoice = DataChoice(), output: str | Path | None = None,
             overwrite: bool = False) -> EvaluateResult:
    """Metrics of a saved model on labelled data (default: its own test split), written to
    `output` when given. The model's training metrics.json is never touched unless `output` names it."""
    from ..evaluation.scoring import evaluate as score

    if output is not None:
        check_output(output, overwrite=overwrite)
    clf = TextClassifier.load(model)
    examples = examples_for(clf, data)
    metrics = score(clf, examples)
    if output is not None:
        write_json(output, metrics, overwrite=overwrite)
    return EvaluateResult(clf, metrics, examples, Path(output) if output else None)


# -- report ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportOptions:
    data: DataChoice = DataChoice()
    output: str | Path | None = None  # default: report.html beside the model directory
    audit: bool = False
    sections: bool = True
    bootstrap: int = defaults.BOOTSTRAP_RESAMPLES
    overwrite: bool = True  # a report is derived output: regenerating it is the normal case


def report(model: str | Path, options: ReportOptions = ReportOptions(), log: TextIO | None = None) -> list[Path]:
    """Write the HTML report (+ PNG figures beside it); returns the written paths."""
    from ..evaluation.report import build_report, write_report

    log = sys.stderr if log is None else log
    output = Path(options.output) if options.output else Path(model).parent / "report.html"
    check_output(output, overwrite=options.overwrite)
    clf = TextClassifier.load(model)
    model_data, splits = ModelData.of(clf), None
    if options.data.source is None:
        model_data.check_unseen("test")
    try:  # the model's own splits: test by default, validation for the calibration preview, audit
        splits = model_data.splits()
    except DataError:
        if options.data.source is None:
            raise
    examples = splits.test if options.data.source is None else examples_for(clf, options.data)
    if examples is None:
        raise DataError("the model's data config has no test split; pass --data")
    clf.label_map.encode(examples)  # an unknown label: one line now, not a failed section and then this line
    extra = report_sections(clf, examples, splits, Path(model), log, options.audit) if options.sections else []
    validation = splits.validation if splits and not model_data.refitted else None  # a refit model saw it
    built = build_report(clf, examples, validation=validation, extra_sections=extra, n_resamples=options.bootstrap)
    return write_report(built, output)


def report_sections(clf: TextClassifier, examples: Examples, splits, model_dir: Path, log: TextIO,
                    with_audit: bool = False) -> list:
    """Fragments other features add to the report: error analysis, tokens behind mistakes, the
    leaderboard of `auto`, and (`with_audit`) the data audit of the model's splits."""
    from ..evaluation.report import try_section

    def errors() -> str:
        from ..analysis.errors import analyze_errors, errors_html

        return errors_html(analyze_errors(clf, examples, train=_train_split(clf)), confident_table=False)

    def mistake_tokens() -> str:
        from ..analysis.drivers import explanations_html, mistake_drivers
        from ..analysis.explain import explain as attribute
        from ..errors import ModelError

        # Integrated Gradients costs a backward pass per step: neural models explain a sample.
        sample = examples if clf.model_.max_tokens() is None else examples.subset(range(min(len(examples), 300)))
        try:
            drivers = mistake_drivers(clf, sample, flagged=shortcuts())
        except ModelError as err:
            return f"<p class='note'>{err}</p>"
        rows = {r for d in drivers.rows[:5] for r in d["example_rows"][:1]}
        shown = [i for i, row in enumerate(sample.rows) if row in rows]
        return explanations_html(attribute(clf, [sample.texts[i] for i in shown]), drivers)

    def shortcuts():
        """The audit's shortcut tokens of the model's training split, to mark them in the table."""
        from ..audit.shortcuts import shortcut_tokens

        train = splits.train if splits is not None else None
        return shortcut_tokens(train) if train is not None and train.labels is not None else None

    def leaderboard() -> str:
        from ..evaluation.leaderboard import leaderboard_html, read_leaderboard

        return leaderboard_html(read_leaderboard(model_dir))

    def data_audit() -> str:
        from ..audit import FAST, audit, audit_html

        return audit_html(audit(splits, FAST))

    makers = [("Error analysis", errors), ("Tokens behind mistakes", mistake_tokens)]
    if (model_dir / "leaderboard.json").is_file():
        makers.append(("Model choice", leaderboard))
    if with_audit and splits is not None:
        makers.append(("Data audit", data_audit))
    return [s for s in (try_section(title, make, log) for title, make in makers) if s is not None]


# -- errors and shift ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ErrorsOptions:
    data: DataChoice = DataChoice()
    slice_columns: list[str] = field(default_factory=list)
    reference: str | None = None  # also check shift against this data
    quantile: float = defaults.SHIFT_QUANTILE
    confident: float = defaults.ERRORS.confident
    margin: float = defaults.ERRORS.ambiguous_margin
    min_slice_size: int = defaults.ERRORS.min_slice_size
    bootstrap: int = defaults.BOOTSTRAP_RESAMPLES
    bootstrap_seed: int = defaults.BOOTSTRAP_SEED
    top: int = defaults.ERRORS.top


@dataclass
class ErrorsResult:
    report: object  # analysis.errors.ErrorReport
    shift: object | None  # analysis.shift.ShiftReport


def errors(model: str | Path, options: ErrorsOptions = ErrorsOptions()) -> ErrorsResult:
    from ..analysis import ErrorSettings, analyze_errors, slice_columns

    clf = TextClassifier.load(model)
    examples = examples_for(clf, options.data)
    settings = ErrorSettings(confident=options.confident, ambiguous_margin=options.margin,
                             min_slice_size=options.min_slice_size, n_resamples=options.bootstrap,
                             seed=options.bootstrap_seed, top=options.top)
    train = _train_split(clf)
    report_ = analyze_errors(clf, examples, slice_columns(examples, options.slice_columns), settings, train=train)
    shift_ = None
    if options.reference:
        shift_ = _shift(clf, options.reference, examples, options.quantile, options.data.columns, train)
    return ErrorsResult(report_, shift_)


def _shift(clf: TextClassifier, reference: str | None, new: Examples, quantile: float,
           columns: ColumnOverrides, train: Examples | None):
    from ..analysis import ShiftSettings, analyze_shift

    ref = examples_for(clf, DataChoice(reference, columns), default_split="validation", labelled=False)
    return analyze_shift(clf, ref, new, ShiftSettings(flag_quantile=quantile), train=train)


def shift(model: str | Path, data: DataChoice = DataChoice(), reference: str | None = None,
          quantile: float = defaults.SHIFT_QUANTILE):
    """analysis.shift.ShiftReport of new data (default: the model's test split) against reference
    data (default: its validation split)."""
    clf = TextClassifier.load(model)
    new = examples_for(clf, data, labelled=False)
    return _shift(clf, reference, new, quantile, data.columns, _train_split(clf))


def write_html_page(path: str | Path, title: str, *sections: str, overwrite: bool = True) -> None:
    body = "\n".join(sections)
    with atomic_file(path, overwrite=overwrite) as handle:
        handle.write(f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
                     f"<body>\n{body}\n</body></html>\n")


# -- explain ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExplainOptions:
    texts: list[str] = field(default_factory=list)  # explain these; else --data (default: test split)
    data: DataChoice = DataChoice()
    label: str | None = None
    top_k: int = 10
    steps: int = 32
    limit: int | None = 200  # rows of --data explained (IG on neural models is slow)


@dataclass
class ExplainResult:
    classifier: TextClassifier
    explanations: list  # analysis.attributions.Explanation
    drivers: object | None  # analysis.drivers.MistakeDrivers, for labelled data


def explain(model: str | Path, options: ExplainOptions = ExplainOptions()) -> ExplainResult:
    """Token attributions for the given texts, or for rows of labelled data with the table of
    tokens that drive the model's confident mistakes there."""
    from ..analysis.drivers import mistake_drivers
    from ..analysis.explain import explain as attribute

    clf = TextClassifier.load(model)
    if options.texts:
        return ExplainResult(clf, attribute(clf, options.texts, label=options.label, top_k=options.top_k,
                                            steps=options.steps), None)
    examples = examples_for(clf, options.data)
    if options.limit is not None and len(examples) > options.limit:
        examples = examples.subset(range(options.limit))
    explanations = attribute(clf, examples, label=options.label, top_k=options.top_k, steps=options.steps)
    drivers = mistake_drivers(clf, examples, explanations, top_k=min(options.top_k, 5)) \
        if examples.labels is not None and options.label is None else None
    return ExplainResult(clf, explanations, drivers)
