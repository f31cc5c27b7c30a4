"""One handler per verb: build the job's typed options from argparse, call it, print the result."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..data.formats import KNOWN, detect_format, format_of
from ..errors import ConfigError, DataError
from .outputs import check_outputs, check_run_directory, done, held_log, page_format, required_output

CONFIG_SUFFIXES = (".yaml", ".yml")


def _data_choice(args: argparse.Namespace):
    from ..data.sources import ColumnOverrides
    from ..jobs.inspect import DataChoice

    return DataChoice(args.data, ColumnOverrides(
        text=args.text_column, label=vars(args).get("label_column"), group=vars(args).get("group_column"),
        time=vars(args).get("time_column"), id=vars(args).get("id_column")))


# -- train -----------------------------------------------------------------------------------------
def classify_train_arguments(items: list[str]) -> tuple[str | None, str | None, list[str]]:
    """(config, data file, overrides) from `textclf train` positionals, each recognised by its
    form: a YAML file, a data file, or key=value."""
    config = data = None
    overrides = []
    for item in items:
        if "=" in item and not Path(item).exists():
            overrides.append(item)
        elif item.lower().endswith(CONFIG_SUFFIXES) and config is None and data is None:
            config = item
        elif format_of(item) is not None and config is None and data is None:
            data = item
        elif Path(item).is_dir():
            raise ConfigError(f"train: {item!r} is a directory; to continue the run there use -o {item} --resume")
        else:
            raise ConfigError(f"train: {item!r} is not a YAML config (.yaml), a data file ({KNOWN}) "
                              "or a key=value override")
    return config, data, overrides


def cmd_train(args: argparse.Namespace) -> int:
    from ..evaluation.metrics import format_metrics
    from ..jobs.train import config_for_data, load_train_config, train

    config_path, data, overrides = classify_train_arguments(args.arguments)
    if data is not None or args.data is not None:
        columns = {"text_column": args.text_column, "label_column": args.label_column,
                   "group_column": args.group_column, "time_column": args.time_column, "id_column": args.id_column}
        cfg = config_for_data(data or args.data, columns, args.time_budget, args.output, overrides)
    else:
        if args.time_budget is not None:
            overrides.append(f"model.time_budget={args.time_budget}")
        if args.output is not None:
            overrides.append(f"output_dir={args.output}")
        cfg = load_train_config(config_path, overrides)
    run_dir = Path(cfg.output_dir)
    if not args.resume:
        check_run_directory(run_dir, args.overwrite)
    with held_log() as log:  # lines before a user error are dropped: the error stays one line
        result = train(cfg, resume=run_dir if args.resume else None, log=log)  # `auto` prints its leaderboard
    for name in ("validation", "test"):
        if name in result.metrics:
            print(f"\n== {name} ==")
            print(format_metrics(result.metrics[name], result.classifier.label_map))
    print(f"\nmodel saved to {result.model_dir}")
    return 0


# -- evaluate, report, errors, shift ----------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..artifacts import raw_scores
    from ..evaluation.metrics import format_metrics
    from ..jobs.inspect import evaluate

    with raw_scores(args.no_policy):  # --no-policy: the model without its saved decision policy
        result = evaluate(args.model, _data_choice(args), args.output, overwrite=args.overwrite)
    print(format_metrics(result.metrics, result.classifier.label_map))
    if result.output is not None:
        print(f"\nmetrics written to {result.output}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..jobs.inspect import ReportOptions, report

    written = report(args.model, ReportOptions(_data_choice(args), args.output, args.audit, args.sections,
                                               args.bootstrap, overwrite=args.overwrite))
    print(f"report written to {written[0]} (+ {len(written) - 1} PNG figures beside it)")
    return 0


def cmd_errors(args: argparse.Namespace) -> int:
    from ..analysis import errors_html, format_report, format_shift, mistakes_frame, shift_html
    from ..data.io import write_frame
    from ..fileio import write_json
    from ..jobs.inspect import ErrorsOptions, errors, write_html_page

    check_outputs(args, args.output, args.mistakes)
    fmt = page_format(args) if args.output else None
    if args.mistakes:
        detect_format(args.mistakes)  # an unknown suffix fails now, not after the analysis
    result = errors(args.model, ErrorsOptions(
        _data_choice(args), args.slice_column or [], args.reference, args.quantile, args.confident, args.margin,
        args.min_slice_size, args.bootstrap, args.bootstrap_seed, args.top))
    report, shift = result.report, result.shift
    print(format_report(report))
    if shift is not None:
        print("\n" + format_shift(shift))
    if args.mistakes:
        write_frame(mistakes_frame(report), args.mistakes)
        done(f"\n{len(report.mistakes)} mistakes written to {args.mistakes}")
    if fmt == "json":
        write_json(args.output, {**report.to_dict(), **({"shift": shift.to_dict()} if shift else {})},
                   overwrite=args.overwrite)
    elif args.output:
        write_html_page(args.output, "textclf errors", errors_html(report), *([shift_html(shift)] if shift else []),
                        overwrite=args.overwrite)
    if args.output:
        done(f"report written to {args.output}")
    return 0


def cmd_shift(args: argparse.Namespace) -> int:
    from ..analysis import format_shift, shift_html
    from ..fileio import write_json
    from ..jobs.inspect import shift, write_html_page

    check_outputs(args, args.output)
    fmt = page_format(args) if args.output else None
    report = shift(args.model, _data_choice(args), args.reference, args.quantile)
    print(format_shift(report))
    if fmt == "json":
        write_json(args.output, report.to_dict(), overwrite=args.overwrite)
    elif args.output:
        write_html_page(args.output, "textclf shift", shift_html(report), overwrite=args.overwrite)
    if args.output:
        done(f"report written to {args.output}")
    return 1 if args.fail_on_shift and report.shifted else 0


def cmd_explain(args: argparse.Namespace) -> int:
    from ..analysis.drivers import explanations_html
    from ..jobs.inspect import ExplainOptions, explain, write_html_page

    check_outputs(args, args.output)
    fmt = page_format(args, "jsonl") if args.output else None
    result = explain(args.model, ExplainOptions(list(args.texts), _data_choice(args), args.label, args.top_k,
                                                args.steps, args.limit))
    output = args.output or ""
    if fmt == "html":
        write_html_page(output, "textclf explain", explanations_html(result.explanations, result.drivers),
                        overwrite=args.overwrite)
        done(f"{len(result.explanations)} explanations written to {output}")
    elif output:
        from ..analysis.attributions import typed_explanation
        from ..fileio import atomic_file

        with atomic_file(output, overwrite=args.overwrite) as handle:
            for e in result.explanations:  # labels typed as `predict -o x.jsonl` writes them
                handle.write(json.dumps(typed_explanation(e.to_dict(), result.classifier.label_map),
                                        ensure_ascii=False) + "\n")
        done(f"{len(result.explanations)} explanations written to {output}")
    else:
        for e in result.explanations:
            tokens = "  ".join(f"{t.text} {t.attribution:+.3f}" for t in e.top())
            print(f"{e.label} (p={e.probability:.3f}): {tokens}   | {e.text[:80]!r}")
    if result.drivers is not None and result.drivers.rows:
        print("\ntokens most often behind confident mistakes:")
        for row in result.drivers.rows[:10]:
            flag = "  (audit shortcut)" if row.get("shortcut") else ""
            print(f"  {row['token']:<20} {row['mistakes']:>4} mistakes{flag}")
    return 0


# -- the decision policy ---------------------------------------------------------------------------
def cmd_calibrate(args: argparse.Namespace) -> int:
    from ..jobs.policy import calibrate

    result = calibrate(args.model, args.method, _data_choice(args), output=args.output, overwrite=args.overwrite)
    details = result.details
    print(f"calibration {args.method} on {result.examples_used} examples ({result.source}): {details.reason}")
    if details.calibration is not None and "temperature" in details.calibration:
        print(f"temperature     {details.calibration['temperature']:.4f}")
    if details.ece_before is not None:
        print(f"ECE before      {details.ece_before:.4f}")
        print(f"ECE cross-fit   {details.ece_cross_fitted:.4f}")
    print(f"saved to {result.saved_to}")
    for note in result.warnings:
        done(f"note: {note}")
    return 0


def cmd_tune_thresholds(args: argparse.Namespace) -> int:
    from ..jobs.policy import tune_thresholds

    spec = {"tune": args.scope, "objective": args.objective, "beta": args.beta, "target": args.target}
    result = tune_thresholds(args.model, spec, _data_choice(args), args.min_labels, output=args.output,
                             overwrite=args.overwrite)
    for warning in result.warnings:
        done(f"textclf: warning: {warning}")
    clf, tuned = result.classifier, result.details
    print(f"thresholds ({args.scope}, {args.objective}) tuned on {result.examples_used} examples ({result.source})")
    names = clf.label_map.labels if clf.multi_label else clf.label_map.labels[1:2]
    for name, cut, score in zip(names, tuned.thresholds, tuned.validation_scores):
        shown = "-" if score is None else f"{score:.4f}"
        print(f"{name:<24}{cut:>10.4f}   validation {args.objective} {shown}")
    print(f"saved to {result.saved_to}")
    return 0


# -- predict, serve, export --------------------------------------------------------------------------
def cmd_predict(args: argparse.Namespace) -> int:
    from ..artifacts import raw_scores
    from ..jobs.ship import predict
    from ..serving.predict import PredictOptions

    progress = args.progress if args.progress is not None else sys.stderr.isatty()
    if args.engine == "ray":
        return _predict_on_ray(args, progress)
    options = PredictOptions(
        text_column=args.text_column, id_column=args.id_column, chunk_size=args.chunk_size,
        batch_size=args.batch_size, resume=args.resume, overwrite=args.overwrite, backend=args.backend,
        explain=args.explain, progress=progress, output_format=_local_format(args.format, args.output),
    )
    with raw_scores(args.no_policy):  # --no-policy: the model without its saved decision policy
        summary = predict(args.model, args.input, args.output, options, backend=args.backend)
    if summary.output is not None:
        resumed = f" ({summary.resumed_rows} kept from an earlier run)" if summary.resumed_rows else ""
        done(f"{summary.rows} predictions written to {summary.output}{resumed}")
    return 0


def _local_format(fmt: str | None, output: str | None) -> str | None:
    from ..data.formats import format_of

    if fmt is None and output is not None and format_of(output) == "parquet":
        fmt = "parquet"  # never JSON lines inside a file named .parquet
    if fmt in ("parquet", "json"):
        raise DataError(f"--format {fmt}: the local engine writes jsonl, csv or tsv (parquet needs --engine ray)")
    return fmt


def _predict_on_ray(args: argparse.Namespace, progress: bool) -> int:
    from ..errors import DataError
    from ..jobs.ship import predict_ray

    if args.resume or args.explain or args.no_policy:
        raise DataError("--engine ray has no --resume, --explain or --no-policy; use the local engine for those")
    summary = predict_ray(args.model, args.input, args.output, address=args.address, num_workers=args.num_workers,
                          backend=args.backend, fmt={"jsonl": "json", "tsv": "csv"}.get(args.format, args.format), text_column=args.text_column,
                          id_column=args.id_column, batch_size=args.batch_size, chunk_size=args.chunk_size,
                          overwrite=args.overwrite, progress=progress)
    done(f"{summary.rows} predictions written to {summary.output} ({summary.files} files)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from ..jobs.ship import serve
    from ..serving.http import ServiceConfig

    config = ServiceConfig(**{f.name: getattr(args, f.name) for f in fields(ServiceConfig)})  # flags = fields
    serve(args.model, config.host, config.port, config, backend=config.backend)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """`sha256  MODEL/manifest.json` on stdout (the format of sha256sum, so the line can be kept and
    given back with --sha256); exit 2 with one line when a file or the digest does not match."""
    from ..artifacts import expected_digest, verify_model_directory

    expected = expected_digest(args.sha256) if args.sha256 else None
    result = verify_model_directory(Path(args.model), expected)
    print(f"{result.digest}  {result.manifest}")
    matched = " and matches --sha256" if expected else ""
    done(f"{result.files} files match {result.manifest.name}{matched}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..jobs.ship import export

    output = required_output(args, "the directory to write")
    result = export(args.model, output, args.format, args.quantize, args.opset,
                    int8_min_agreement=args.int8_min_agreement, fusions=args.fusions, overwrite=args.overwrite,
                    data=_data_choice(args))
    if result.parity is not None:
        done(json.dumps(result.parity, indent=2))
    kind = "ONNX" if args.format == "onnx" else "Hugging Face"
    done(f"{kind} model written to {result.output}")
    return 0


# -- audit, split, data ------------------------------------------------------------------------------
def _data_file(args: argparse.Namespace):
    from ..jobs.audit import DataFile

    source = args.data or args.source
    if source is None:
        raise ConfigError(f"{args.verb}: give DATA (a labelled file or a bundled data set name)")
    return DataFile(source, args.text_column or "text", args.label_column or "label", args.group_column,
                    args.time_column, args.id_column, args.multi_label, args.label_delimiter)


def _split_sizes(args: argparse.Namespace):
    from ..jobs.audit import SplitSizes

    return SplitSizes(args.split, args.validation_size, args.test_size, args.split_seed)


def cmd_audit(args: argparse.Namespace) -> int:
    from ..audit.core import AuditOptions
    from ..audit.report import audit_dict, audit_html, format_summary
    from ..fileio import write_json
    from ..jobs.audit import AuditJob, audit
    from ..jobs.inspect import write_html_page

    options = AuditOptions(
        near_threshold=args.threshold, shingle=args.shingle, shingle_size=args.shingle_size,
        label_noise=not args.no_label_noise, tokenizer=args.tokenizer, max_length=args.max_length,
        seed=args.split_seed, shortcut_min_count=args.min_count,
    )
    check_outputs(args, args.output)
    fmt = page_format(args) if args.output else None
    fail_on = [c.strip() for c in (args.fail_on or "").split(",") if c.strip()]
    job = AuditJob(_data_file(args), args.validation, args.test, _split_sizes(args), fail_on)
    result, failed = audit(job, options)
    print(format_summary(result))
    if fmt == "json":
        write_json(args.output, audit_dict(result), overwrite=args.overwrite)
    elif args.output:
        write_html_page(args.output, "textclf audit", audit_html(result), overwrite=args.overwrite)
    if args.output:
        done(f"\naudit written to {args.output}")
    if failed:
        done(f"textclf: audit failed: {', '.join(failed)}")
        return 1  # the audit ran and found a problem named in --fail-on (2 is a user error)
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from ..jobs.audit import SplitJob, split

    if args.output is None:
        raise ConfigError("split: give -o OUTPUT, the directory for the train/validation/test files")
    written, removed = split(SplitJob(_data_file(args), args.output, _split_sizes(args), args.format,
                                      args.keep_duplicates, args.exact_only, args.threshold, args.overwrite))
    for name, (rows, path) in written.items():
        done(f"{name:<11}{rows:>8} rows -> {path}")
    done(f"cross-split duplicates {'reported (kept)' if args.keep_duplicates else 'removed'}: {removed}")
    return 0


def cmd_data_list(args: argparse.Namespace) -> int:
    from ..data.bundled import DATASETS

    for dataset in DATASETS.values():
        print(f"{dataset.name:<18}{dataset.task:<14}{dataset.description}")
    return 0


def cmd_data_export(args: argparse.Namespace) -> int:
    from ..jobs.audit import export_dataset

    args.verb = "data export"
    output = required_output(args, "the file to write")
    done(f"{export_dataset(args.name, output, args.raw, overwrite=args.overwrite)} rows written to {output}")
    return 0
