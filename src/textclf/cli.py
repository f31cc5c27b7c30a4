"""`textclf VERB ...`: a thin layer over the Python API. Each verb is a `cmd_*` function.

User mistakes (TextclfError) print one line on stderr and exit with code 2; nothing is left
half-written because every output goes through an atomic write."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from .errors import DataError, TextclfError

EXIT_USER_ERROR = 2


# -- train ---------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .evaluation.metrics import format_metrics
    from .workflow import train

    config_path, overrides = None, list(args.overrides)
    if args.config is not None and "=" in args.config:
        overrides.insert(0, args.config)
    elif args.config is not None:
        config_path = args.config
    cfg = load_config(config_path, overrides)
    result = train(cfg, resume=args.resume)
    for name in ("validation", "test"):
        if name in result.metrics:
            print(f"\n== {name} ==")
            print(format_metrics(result.metrics[name], result.classifier.label_map))
    print(f"\nmodel saved to {result.model_dir}")
    return 0


# -- evaluate ------------------------------------------------------------------------------------
def _load_labelled(clf, args: argparse.Namespace, default_split: str = "test"):
    """The examples named by --data (a file, bundled name or saved split), else `default_split`."""
    from .workflow import load_examples

    return load_examples(clf, args.data, text_column=getattr(args, "text_column", None),
                         label_column=getattr(args, "label_column", None), default_split=default_split)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .classifier import TextClassifier
    from .evaluation.metrics import format_metrics
    from .fileio import write_json
    from .workflow import evaluate

    clf = TextClassifier.load(args.model)
    examples = _load_labelled(clf, args)
    metrics = evaluate(clf, examples)
    print(format_metrics(metrics, clf.label_map))
    output = Path(args.output) if args.output else Path(args.model) / "metrics.json"
    write_json(output, metrics)
    print(f"\nmetrics written to {output}")
    return 0


# -- calibrate and report ------------------------------------------------------------------------
def cmd_calibrate(args: argparse.Namespace) -> int:
    from .classifier import TextClassifier
    from .evaluation.calibration import calibrate_classifier
    from .fileio import write_json

    clf = TextClassifier.load(args.model)
    examples = _load_labelled(clf, args, default_split="validation")
    result = calibrate_classifier(clf, examples, args.method)
    # Only calibration.json changes: one atomic file write, the weights are not rewritten.
    write_json(Path(args.model) / "calibration.json", result.calibration)
    print(f"calibration {args.method} fitted on {len(examples)} examples ({examples.source})")
    if "temperature" in result.calibration:
        print(f"temperature     {result.calibration['temperature']:.4f}")
    print(f"ECE before      {result.ece_before:.4f}")
    print(f"ECE after       {result.ece_after:.4f}")
    print(f"saved to {Path(args.model) / 'calibration.json'}")
    if clf.thresholds is not None:
        print("note: this model's decision thresholds were tuned on its previous probabilities; "
              "tune them again (textclf tune-thresholds)", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .classifier import TextClassifier
    from .errors import DataError
    from .evaluation.report import build_report, optional_sections, write_report
    from .workflow import saved_splits

    clf = TextClassifier.load(args.model)
    splits = None
    try:  # the model's own splits: test by default, validation for the calibration preview, audit
        splits = saved_splits(clf)
    except DataError:
        if args.data is None:
            raise
    examples = splits.test if args.data is None else _load_labelled(clf, args)
    if examples is None:
        raise DataError("the model's data config has no test split; pass --data")
    extra = optional_sections(clf, examples, splits if args.audit else None) if args.sections else []
    report = build_report(clf, examples, validation=splits.validation if splits else None, extra_sections=extra,
                          n_resamples=args.bootstrap)
    output = Path(args.output) if args.output else Path(args.model).parent / "report.html"
    written = write_report(report, output)
    print(f"report written to {output} (+ {len(written) - 1} PNG figures beside it)")
    return 0


# -- tune-thresholds -----------------------------------------------------------------------------
def cmd_tune_thresholds(args: argparse.Namespace) -> int:
    import json as _json

    from .classifier import TextClassifier
    from .config import ThresholdsConfig, validate
    from .evaluation.thresholds import tune_classifier_thresholds
    from .fileio import write_json

    spec = validate(ThresholdsConfig, {"tune": args.scope, "objective": args.method, "beta": args.beta,
                                       "target": args.target}, "tune-thresholds")
    model = Path(args.model)
    clf = TextClassifier.load(model)
    examples = _load_labelled(clf, args, default_split="validation")
    result = tune_classifier_thresholds(clf, examples, spec.tune, spec.objective, spec.beta, spec.target)
    # Only thresholds.json and config.json change (each written atomically); the weights stay as they are.
    config = _json.loads((model / "config.json").read_text(encoding="utf-8"))
    config.setdefault("info", {})["thresholds"] = clf.info["thresholds"]
    if args.min_labels is not None:
        config["min_labels"] = args.min_labels
    write_json(model / "thresholds.json", {"thresholds": result.thresholds.tolist()})
    write_json(model / "config.json", config)
    print(f"thresholds ({spec.tune}, {spec.objective}) tuned on {len(examples)} examples ({examples.source})")
    names = clf.label_map.labels if clf.multi_label else clf.label_map.labels[1:2]
    for name, cut, score in zip(names, result.thresholds, result.validation_scores):
        shown = "-" if score is None else f"{score:.4f}"
        print(f"{name:<24}{cut:>10.4f}   validation {spec.objective} {shown}")
    print(f"saved to {model / 'thresholds.json'}")
    return 0


# -- predict -------------------------------------------------------------------------------------
def _load_for_inference(model: str, backend: str):
    """The saved classifier, and for `--backend onnx` the ONNX Runtime logits of its export."""
    from .classifier import TextClassifier

    if backend in ("onnx", "onnx-int8"):
        from .serving.onnx_export import load_onnx_classifier

        return load_onnx_classifier(model, int8=backend == "onnx-int8")
    return TextClassifier.load(model)


def cmd_predict(args: argparse.Namespace) -> int:
    from .serving.predict import PredictOptions, predict_file

    clf = _load_for_inference(args.model, args.backend)
    options = PredictOptions(
        text_column=args.text_column, id_column=args.id_column, chunk_size=args.chunk_size,
        batch_size=args.batch_size, resume=args.resume,
        progress=args.progress if args.progress is not None else sys.stderr.isatty(),
    )
    if args.resume and args.output is None:
        raise DataError("--resume needs -o OUTPUT (a partial output file to continue)")
    summary = predict_file(clf, args.input, args.output, options)
    if summary.output is not None:
        resumed = f" ({summary.resumed_rows} kept from an earlier run)" if summary.resumed_rows else ""
        print(f"{summary.rows} predictions written to {summary.output}{resumed}", file=sys.stderr)
    return 0


# -- serve / export ------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from .serving.http import ServiceConfig, serve

    config = ServiceConfig(max_body_bytes=args.max_body_bytes, max_texts=args.max_texts,
                           max_text_chars=args.max_text_chars, max_batch=args.max_batch,
                           max_wait_ms=args.max_wait_ms, batch_size=args.batch_size)
    serve(args.model, host=args.host, port=args.port, config=config, backend=args.backend)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .classifier import TextClassifier

    clf = TextClassifier.load(args.model)
    if args.format == "hf":
        from .serving.hf_export import export_hf

        export_hf(clf, args.output)
        print(f"Hugging Face model written to {args.output}", file=sys.stderr)
        return 0
    from .serving.onnx_export import export_onnx

    parity = export_onnx(clf, args.output, quantize=args.quantize, opset=args.opset)
    print(json.dumps(parity, indent=2), file=sys.stderr)
    print(f"ONNX model written to {args.output}", file=sys.stderr)
    return 0


# -- errors / shift ------------------------------------------------------------------------------
def _html_page(title: str, *sections: str) -> str:
    body = "\n".join(sections)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body>\n{body}\n</body></html>\n")


def _shift_report(clf, args: argparse.Namespace, new):
    from .analysis import ShiftSettings, analyze_shift, load_data

    reference = load_data(clf, args.reference, labelled=False, text_column=args.text_column,
                          default_split="validation")
    return analyze_shift(clf, reference, new, ShiftSettings(flag_quantile=args.quantile))


def cmd_errors(args: argparse.Namespace) -> int:
    from .analysis import ErrorSettings, analyze_errors, errors_html, format_report, load_data, mistakes_frame
    from .analysis import format_shift, shift_html, slice_columns
    from .classifier import TextClassifier
    from .data.io import write_frame
    from .fileio import atomic_file, write_json

    clf = TextClassifier.load(args.model)
    examples = load_data(clf, args.data, text_column=args.text_column, label_column=args.label_column,
                         group_column=args.group_column, time_column=args.time_column)
    settings = ErrorSettings(confident=args.confident, ambiguous_margin=args.margin, min_slice_size=args.min_slice_size,
                             n_resamples=args.bootstrap, seed=args.seed, top=args.top)
    report = analyze_errors(clf, examples, slice_columns(examples, args.slice_col or []), settings)
    shift = _shift_report(clf, args, examples) if args.reference else None
    print(format_report(report))
    if shift is not None:
        print("\n" + format_shift(shift))
    if args.mistakes:
        write_frame(mistakes_frame(report), args.mistakes)
        print(f"\n{len(report.mistakes)} mistakes written to {args.mistakes}", file=sys.stderr)
    if args.json:
        write_json(args.json, {**report.to_dict(), **({"shift": shift.to_dict()} if shift else {})})
        print(f"report written to {args.json}", file=sys.stderr)
    if args.html:
        sections = [errors_html(report)] + ([shift_html(shift)] if shift else [])
        with atomic_file(args.html) as handle:
            handle.write(_html_page("textclf errors", *sections))
        print(f"HTML written to {args.html}", file=sys.stderr)
    return 0


def cmd_shift(args: argparse.Namespace) -> int:
    from .analysis import format_shift, load_data, shift_html
    from .classifier import TextClassifier
    from .fileio import atomic_file, write_json

    clf = TextClassifier.load(args.model)
    new = load_data(clf, args.data, labelled=False, text_column=args.text_column)
    report = _shift_report(clf, args, new)
    print(format_shift(report))
    if args.json:
        write_json(args.json, report.to_dict())
        print(f"report written to {args.json}", file=sys.stderr)
    if args.html:
        with atomic_file(args.html) as handle:
            handle.write(_html_page("textclf shift", shift_html(report)))
        print(f"HTML written to {args.html}", file=sys.stderr)
    return 1 if args.fail_on_shift and report.shifted else 0


# -- data ----------------------------------------------------------------------------------------
def cmd_data_list(args: argparse.Namespace) -> int:
    from .data.bundled import DATASETS

    for dataset in DATASETS.values():
        print(f"{dataset.name:<18}{dataset.task:<14}{dataset.description}")
    return 0


def cmd_data_export(args: argparse.Namespace) -> int:
    from .data.bundled import load_bundled
    from .data.io import examples_frame, write_frame

    examples = load_bundled(args.name, clean=not args.raw)
    write_frame(examples_frame(examples), args.output)
    print(f"{len(examples)} rows written to {args.output}", file=sys.stderr)
    return 0


# -- parser --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textclf", description="Text classifiers you can measure, trust and ship.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, handler: Callable, help: str) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    p = verb("train", cmd_train, "train a model from a YAML config plus key=value overrides")
    p.add_argument("config", nargs="?", help="YAML config (configs/default.yaml)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. model.type=cnn training.epochs=3")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the interrupted run in RUN_DIR from its last checkpoint")

    p = verb("evaluate", cmd_evaluate, "evaluate a saved model on labelled data")
    p.add_argument("model", help="saved model directory")
    p.add_argument("--data", help="labelled file or bundled data set name (default: the model's test split)")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("-o", "--output", help="metrics JSON (default: MODEL/metrics.json)")

    p = verb("calibrate", cmd_calibrate, "fit a probability calibration on validation data, save it with the model")
    p.add_argument("model", help="saved model directory")
    p.add_argument("--method", choices=["temperature", "platt", "isotonic"], default="temperature")
    p.add_argument("--data", help="labelled file or bundled data set name (default: the model's validation split)")
    p.add_argument("--text-column")
    p.add_argument("--label-column")

    p = verb("report", cmd_report, "write a self-contained HTML evaluation report with figures")
    p.add_argument("model", help="saved model directory")
    p.add_argument("--data", help="labelled file or bundled data set name (default: the model's test split)")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("-o", "--output", help="HTML file (default: report.html beside MODEL); PNGs go beside it")
    p.add_argument("--audit", action="store_true", help="add the data audit of the model's train/validation/test splits")
    p.add_argument("--sections", action=argparse.BooleanOptionalAction, default=True,
                   help="add sections from other features (error analysis)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for metric intervals")

    p = verb("tune-thresholds", cmd_tune_thresholds,
             "tune decision thresholds of a saved binary or multi-label model on validation data, save them")
    p.add_argument("model", help="saved model directory")
    p.add_argument("--data", help="labelled VALIDATION file or bundled name (default: the model's validation split)")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--method", choices=["f1", "fbeta", "precision", "recall"], default="f1",
                   help="maximise F1 / F-beta, or reach --target precision / recall")
    p.add_argument("--scope", choices=["per_label", "global"], default="per_label")
    p.add_argument("--beta", type=float, default=1.0, help="for --method fbeta")
    p.add_argument("--target", type=float, help="for --method precision / recall, e.g. 0.9")
    p.add_argument("--min-labels", type=int, choices=[0, 1], help="1: a row with no label above threshold gets its top label")

    p = verb("predict", cmd_predict, "predict labels and probabilities for a file or stdin")
    p.add_argument("model", help="saved model directory")
    p.add_argument("input", nargs="?", default="-", help="CSV/TSV/JSONL/Parquet file, or - for one text per line on stdin")
    p.add_argument("-o", "--output", help="CSV or JSONL output (default: JSONL on stdout)")
    p.add_argument("--text-column")
    p.add_argument("--id-column")
    p.add_argument("--chunk-size", type=int, default=4096, help="rows held in memory at once")
    p.add_argument("--batch-size", type=int, default=64, help="texts per model call (length-sorted)")
    p.add_argument("--resume", action="store_true", help="continue OUTPUT.partial left by an interrupted run")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"], default="torch",
                   help="onnx, onnx-int8: MODEL is a directory written by `textclf export --format onnx`")

    p = verb("serve", cmd_serve, "serve a saved model over HTTP (POST /predict, GET /health, GET /labels, /docs)")
    p.add_argument("model", help="saved model directory (or an ONNX export with --backend onnx)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"], default="torch")
    p.add_argument("--max-body-bytes", type=int, default=1_000_000, help="larger bodies get 413")
    p.add_argument("--max-texts", type=int, default=256, help="texts per request; more get 413")
    p.add_argument("--max-text-chars", type=int, default=20_000, help="characters per text; more get 413")
    p.add_argument("--max-batch", type=int, default=64, help="texts per model call across concurrent requests")
    p.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a request waits to share a batch")
    p.add_argument("--batch-size", type=int, default=64, help="texts per forward pass (length-sorted)")

    p = verb("export", cmd_export, "export a saved model to ONNX (neural models) or a Hugging Face directory")
    p.add_argument("model", help="saved model directory")
    p.add_argument("output", help="directory to write")
    p.add_argument("--format", choices=["onnx", "hf"], default="onnx")
    p.add_argument("--quantize", action="store_true", help="also write a dynamic int8 model (model.int8.onnx)")
    p.add_argument("--opset", type=int, default=18)

    p = verb("errors", cmd_errors, "group a model's mistakes by cause: confusion pairs, confident vs "
             "uncertain mistakes, worst slices")
    p.add_argument("model", help="saved model directory")
    p.add_argument("--data", help="labelled file, bundled data set, or train/validation/test (default: the model's test split)")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--group-column", help="slice by this column's values")
    p.add_argument("--time-column", help="slice by time buckets of this column")
    p.add_argument("--slice-col", action="append", metavar="COLUMN", help="slice by a column of the data file (repeatable)")
    p.add_argument("--mistakes", help="CSV/JSONL/Parquet of every mistake with its slice tags")
    p.add_argument("--json", help="the whole report as JSON")
    p.add_argument("--html", help="an HTML page with the error-analysis section")
    p.add_argument("--reference", help="also check distribution shift against this data (file, bundled name or a saved split)")
    p.add_argument("--quantile", type=float, default=0.99, help=argparse.SUPPRESS)
    p.add_argument("--confident", type=float, default=0.8, help="a mistake with predicted probability >= this is confident")
    p.add_argument("--margin", type=float, default=0.1, help="a top-2 probability margin below this is uncertain")
    p.add_argument("--min-slice-size", type=int, default=20, help="smaller slices are not ranked")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for slice intervals")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top", type=int, default=10, help="worst slices shown")

    p = verb("shift", cmd_shift, "check whether new data has shifted away from the training distribution")
    p.add_argument("model", help="saved model directory")
    p.add_argument("--data", help="new texts: a file, bundled data set or saved split (default: the model's test split)")
    p.add_argument("--reference", help="held-out data like the training data (default: the model's validation split)")
    p.add_argument("--text-column")
    p.add_argument("--quantile", type=float, default=0.99, help="flag new examples beyond this reference quantile")
    p.add_argument("--json", help="the report as JSON")
    p.add_argument("--html", help="an HTML page with the shift section")
    p.add_argument("--fail-on-shift", action="store_true", help="exit with code 1 when the verdict is shifted")

    from .audit.commands import add_verbs as add_audit_verbs

    add_audit_verbs(verbs, verb)  # audit, split

    data = verbs.add_parser("data", help="bundled data sets").add_subparsers(dest="data_verb", required=True)
    p = data.add_parser("list", help="list bundled data sets")
    p.set_defaults(handler=cmd_data_list)
    p = data.add_parser("export", help="write a bundled data set to CSV/JSONL/Parquet")
    p.add_argument("name")
    p.add_argument("output")
    p.add_argument("--raw", action="store_true", help="keep exact duplicates (as the audit sees them)")
    p.set_defaults(handler=cmd_data_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except TextclfError as err:
        print(f"textclf: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("textclf: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `textclf predict ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
