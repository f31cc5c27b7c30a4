"""The argument parser: one shared vocabulary of flags for every verb, each with its help and default."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..serving.loading import BACKENDS
from . import distill as distill_verb
from . import label as label_verb
from . import verbs as v

SPLIT_METHODS = ["stratified", "random", "group", "time"]


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default (skipping None and flags)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, argparse.SUPPRESS) or action.help == argparse.SUPPRESS:
            return action.help or ""
        return super()._get_help_string(action)


def add_data_flags(p: argparse.ArgumentParser, data_help: str, labelled: bool = True) -> None:
    """--data and the column flags every verb shares (old spellings stay as hidden aliases)."""
    p.add_argument("--data", help=data_help)
    p.add_argument("--text-column", help="text column (default: the one the model was trained on, else 'text')")
    p.add_argument("--label-column", help="label column (default: the model's, else 'label')"
                   if labelled else argparse.SUPPRESS)
    p.add_argument("--group-column", help="group column (author, product, movie, ...)")
    p.add_argument("--time-column", help="time column (dates or numbers)")
    p.add_argument("--id-column", help="id column, copied into outputs")
    for old, dest in (("--group-col", "group_column"), ("--time-col", "time_column")):  # first-wave spellings
        p.add_argument(old, dest=dest, help=argparse.SUPPRESS)


def _model_verbs(verb: Callable) -> None:
    saved = "a file, a bundled data set, or the model's own split: train, validation or test"
    p = verb("evaluate", v.cmd_evaluate, "evaluate a saved model on labelled data")
    p.add_argument("model", help="saved model directory")
    add_data_flags(p, f"labelled data: {saved} (default: test)")
    p.add_argument("-o", "--output", help="metrics JSON to write (the model's training metrics.json is kept)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    p.add_argument("--no-policy", action="store_true",
                   help="ignore the saved decision policy (calibration, thresholds): raw scores, argmax / 0.5")

    p = verb("calibrate", v.cmd_calibrate, "fit a probability calibration on validation data, save it with the model")
    p.add_argument("model", help="saved model directory")
    p.add_argument("--method", choices=["temperature", "platt", "isotonic"], default="temperature",
                   help="calibration method")
    add_data_flags(p, f"labelled data: {saved} (default: validation)")

    p = verb("report", v.cmd_report, "write a self-contained HTML evaluation report with figures")
    p.add_argument("model", help="saved model directory")
    add_data_flags(p, f"labelled data: {saved} (default: test)")
    p.add_argument("-o", "--output", help="HTML file (default: report.html beside MODEL); PNGs go beside it")
    p.add_argument("--audit", action="store_true", help="add the data audit of the model's train/validation/test splits")
    p.add_argument("--sections", action=argparse.BooleanOptionalAction, default=True,
                   help="add sections from other features (error analysis, model choice)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for metric intervals")

    p = verb("tune-thresholds", v.cmd_tune_thresholds,
             "tune decision thresholds of a saved binary or multi-label model on validation data, save them")
    p.add_argument("model", help="saved model directory")
    add_data_flags(p, f"labelled VALIDATION data: {saved} (default: validation)")
    p.add_argument("--objective", choices=["f1", "fbeta", "precision", "recall"], default="f1",
                   help="maximise F1 / F-beta, or reach --target precision / recall")
    p.add_argument("--method", dest="objective", choices=["f1", "fbeta", "precision", "recall"],
                   help=argparse.SUPPRESS)
    p.add_argument("--scope", choices=["per_label", "global"], default="per_label", help="one cut per label, or one for all")
    p.add_argument("--beta", type=float, default=1.0, help="for --objective fbeta")
    p.add_argument("--target", type=float, help="for --objective precision / recall, e.g. 0.9")
    p.add_argument("--min-labels", type=int, choices=[0, 1], help="1: a row with no label above threshold gets its top label")


def _analysis_verbs(verb: Callable) -> None:
    saved = "a file, a bundled data set, or the model's own split: train, validation or test"
    p = verb("errors", v.cmd_errors, "group a model's mistakes by cause: confusion pairs, confident vs "
             "uncertain mistakes, worst slices")
    p.add_argument("model", help="saved model directory")
    add_data_flags(p, f"labelled data: {saved} (default: test)")
    p.add_argument("--slice-column", action="append", metavar="COLUMN",
                   help="slice by a column of the data file (repeatable)")
    p.add_argument("--slice-col", action="append", dest="slice_column", help=argparse.SUPPRESS)
    p.add_argument("--mistakes", help="CSV/JSONL/Parquet of every mistake with its slice tags")
    p.add_argument("--json", help="the whole report as JSON")
    p.add_argument("--html", help="an HTML page with the error-analysis section")
    p.add_argument("--reference", help=f"also check distribution shift against this data ({saved})")
    p.add_argument("--quantile", type=float, default=0.99, help=argparse.SUPPRESS)
    p.add_argument("--confident", type=float, default=0.8, help="a mistake with predicted probability >= this is confident")
    p.add_argument("--margin", type=float, default=0.1, help="a top-2 probability margin below this is uncertain")
    p.add_argument("--min-slice-size", type=int, default=20, help="smaller slices are not ranked")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for slice intervals")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--top", type=int, default=10, help="worst slices shown")

    p = verb("explain", v.cmd_explain, "which tokens drove a label: exact for TF-IDF, Integrated Gradients "
             "for neural models")
    p.add_argument("model", help="saved model directory")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to explain (else rows of --data)")
    add_data_flags(p, f"labelled data: {saved} (default: test); adds the tokens behind confident mistakes")
    p.add_argument("--label", help="explain this label instead of each prediction")
    p.add_argument("--top-k", type=int, default=10, help="tokens shown per text")
    p.add_argument("--steps", type=int, default=32, help="Integrated Gradients steps to start with (doubled "
                   "until the completeness gap is under 5%%)")
    p.add_argument("--limit", type=int, default=200, help="rows of --data explained")
    p.add_argument("-o", "--output", help="JSONL (one explanation per line) or .html with highlighted tokens")

    p = verb("shift", v.cmd_shift, "check whether new data has shifted away from the training distribution")
    p.add_argument("model", help="saved model directory")
    add_data_flags(p, f"new texts: {saved} (default: test)", labelled=False)
    p.add_argument("--reference", help=f"held-out data like the training data: {saved} (default: validation)")
    p.add_argument("--quantile", type=float, default=0.99, help="flag new examples beyond this reference quantile")
    p.add_argument("--json", help="the report as JSON")
    p.add_argument("--html", help="an HTML page with the shift section")
    p.add_argument("--fail-on-shift", action="store_true", help="exit with code 1 when the verdict is shifted")


def _serving_verbs(verb: Callable) -> None:
    p = verb("predict", v.cmd_predict, "predict labels and probabilities for a file or stdin")
    p.add_argument("model", help="saved model directory (an ONNX export with --backend onnx)")
    p.add_argument("input", nargs="?", default="-", help="CSV/TSV/JSONL/Parquet file, or - for one text per line on stdin")
    add_data_flags(p, argparse.SUPPRESS, labelled=False)
    p.add_argument("-o", "--output", help="CSV or JSONL output (default: JSONL on stdout)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    p.add_argument("--chunk-size", type=int, default=4096, help="rows held in memory at once")
    p.add_argument("--batch-size", type=int, default=64, help="texts per model call (length-sorted)")
    p.add_argument("--resume", action="store_true", help="continue OUTPUT.partial left by an interrupted run")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.add_argument("--backend", choices=BACKENDS, default="torch",
                   help="onnx, onnx-int8: MODEL is a directory written by `textclf export --format onnx`")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="ray: Ray Data batch prediction (pip install 'textclf[ray]'); INPUT may be a directory or glob")
    p.add_argument("--address", help="Ray cluster: auto or ray://HOST:10001 (default: a local Ray)")
    p.add_argument("--num-workers", type=int, help="Ray actors, one model each (default: autoscale to the CPUs)")
    p.add_argument("--output-format", choices=["parquet", "csv", "json"],
                   help="Ray output files (default: from the -o suffix, else parquet)")
    p.add_argument("--explain", type=int, default=0, metavar="K",
                   help="add the top K tokens behind each label (Integrated Gradients on neural models: slow)")
    p.add_argument("--no-policy", action="store_true",
                   help="ignore the saved decision policy (calibration, thresholds): raw scores, argmax / 0.5")

    p = verb("serve", v.cmd_serve, "serve a saved model over HTTP (POST /predict, /explain; GET /health, /ready, /labels, /docs)")
    p.add_argument("model", help="saved model directory (or an ONNX export with --backend onnx)")
    add_service_flags(p)

    p = verb("verify", v.cmd_verify, "check every file of a saved model against its manifest.json; print "
             "the manifest's sha256")
    p.add_argument("model", help="saved model directory")
    p.add_argument("--sha256", metavar="DIGEST_OR_FILE",
                   help="the manifest digest printed when the model was shipped, or a file holding it "
                        "(kept outside the model directory): exit 2 unless they match")

    p = verb("export", v.cmd_export, "export a saved model to ONNX (neural models) or a Hugging Face directory")
    p.add_argument("model", help="saved model directory")
    p.add_argument("output", help="directory to write")
    p.add_argument("--format", choices=["onnx", "hf"], default="onnx", help="export format")
    p.add_argument("--quantize", action="store_true", help="also write a dynamic int8 model (model.int8.onnx)")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset")
    p.add_argument("--int8-min-agreement", type=float, default=0.99,
                   help="refuse the int8 model below this argmax agreement with fp32 on held-out texts")
    p.add_argument("--fusions", choices=["auto", "on", "off"], default="auto",
                   help="onnxruntime transformer fusions for pretrained encoders (auto: keep the faster graph)")


def add_service_flags(p: argparse.ArgumentParser) -> None:
    """`textclf serve`'s flags, one per field of serving.http.ServiceConfig (its default and help
    text are the field's): `--name-like-this`, the `_s` of a seconds field dropped; dest is the
    field name, so `ServiceConfig(**{f.name: getattr(args, f.name)})` reads them back."""
    from dataclasses import MISSING, fields

    from ..serving.http import ServiceConfig

    for f in fields(ServiceConfig):
        flag = "--" + f.name.removesuffix("_s").replace("_", "-")
        extra = {key: f.metadata[key] for key in ("choices", "metavar") if key in f.metadata}
        default = f.default if f.default is not MISSING else None
        if "choices" not in extra and "metavar" not in extra:
            extra["metavar"] = ("SECONDS" if f.name.endswith("_s") else "MS" if f.name.endswith("_ms")
                                else "N" if isinstance(default, int) and not isinstance(default, bool)
                                else f.name.upper())
        if isinstance(default, bool):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                           help=f.metadata.get("help"))
        else:
            kind = type(default) if default is not None else str
            p.add_argument(flag, dest=f.name, type=kind, default=default, help=f.metadata.get("help"), **extra)


def _raw_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="?", metavar="DATA", help="labelled file, or a bundled data set name "
                   "(loaded with its duplicates)")
    add_data_flags(p, "the same as DATA")
    p.add_argument("--multi-label", action="store_true", help="labels are lists")
    p.add_argument("--label-delimiter", help="multi-label strings such as a|b")
    p.add_argument("--split", choices=SPLIT_METHODS, default="stratified", help="how DATA is split (seeded)")
    p.add_argument("--method", dest="split", choices=SPLIT_METHODS, help=argparse.SUPPRESS)
    p.add_argument("--validation-size", type=float, default=0.1, help="share of DATA for validation")
    p.add_argument("--test-size", type=float, default=0.2, help="share of DATA for test")
    p.add_argument("--seed", type=int, default=0, help="split seed")
    p.add_argument("--threshold", type=float, default=0.8, help="near-duplicate Jaccard threshold")


def _data_verbs(verb: Callable, verbs) -> None:
    p = verb("audit", v.cmd_audit, "audit data for duplicates, leakage, label artifacts and label noise")
    _raw_data_flags(p)
    p.add_argument("--validation", help="validation file (DATA is then the training data, not split)")
    p.add_argument("--test", help="test file (DATA is then the training data, not split)")
    p.add_argument("--shingle", choices=["word", "char"], default="word", help="near-duplicate shingles")
    p.add_argument("--shingle-size", type=int, default=3, help="words or characters per shingle")
    p.add_argument("--min-count", type=int, default=20, help="minimum support of a shortcut token")
    p.add_argument("--no-label-noise", action="store_true", help="skip the (slow) label-noise check")
    p.add_argument("--tokenizer", help="whitespace (default), minilm, or a local HF tokenizer path")
    p.add_argument("--max-length", type=int, default=256, help="for the truncation rate")
    p.add_argument("--json", help="write the full audit as JSON")
    p.add_argument("--html", help="write the audit as an HTML page")
    p.add_argument("--fail-on", help="comma-separated checks (or all) that make the exit code 1 when they "
                   "find something: duplicates, within_duplicates, conflicts, near_duplicates, group, time, "
                   "artifacts, shortcuts, label_noise")

    p = verb("split", v.cmd_split, "write honest train/validation/test files, cross-split duplicates removed")
    _raw_data_flags(p)
    p.add_argument("--out-dir", required=True, help="directory for train/validation/test files")
    p.add_argument("--format", choices=["csv", "tsv", "jsonl", "parquet"], default="csv", help="file format")
    p.add_argument("--keep-duplicates", action="store_true", help="only report cross-split duplicates")
    p.add_argument("--exact-only", action="store_true", help="remove exact duplicates only, not near ones")

    data = verbs.add_parser("data", help="bundled data sets").add_subparsers(dest="data_verb", required=True)
    p = data.add_parser("list", help="list bundled data sets")
    p.set_defaults(handler=v.cmd_data_list)
    p = data.add_parser("export", help="write a bundled data set to CSV/JSONL/Parquet", formatter_class=_Formatter)
    p.add_argument("name", help="bundled data set name")
    p.add_argument("output", help="file to write")
    p.add_argument("--raw", action="store_true", help="keep exact duplicates (as the audit sees them)")
    p.set_defaults(handler=v.cmd_data_export)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textclf", description="Text classifiers you can measure, trust and ship.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, handler: Callable, help: str) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help, description=help, formatter_class=_Formatter)
        sub.set_defaults(handler=handler)
        return sub

    p = verb("train", v.cmd_train, "train from a YAML config (+ key=value overrides), or from a data file "
             "with automatic model choice")
    p.add_argument("arguments", nargs="*", metavar="CONFIG|DATA|KEY=VALUE",
                   help="a YAML config (configs/default.yaml) or a labelled data file, then dotted overrides "
                        "such as model.type=cnn training.epochs=3")
    add_data_flags(p, "labelled data file (the same as a DATA argument): trains model.type auto")
    p.add_argument("--time-budget", type=_seconds, help="seconds (or 90s, 10m, 1h) for model.type auto")
    p.add_argument("--output-dir", help="where model/ and metrics.json go (default: the config's output_dir)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the interrupted run in RUN_DIR from its last checkpoint")
    _model_verbs(verb)
    _serving_verbs(verb)
    _analysis_verbs(verb)
    _data_verbs(verb, verbs)
    distill_verb.add_parser(verbs)
    label_verb.add_parser(verbs)
    return parser


def _seconds(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    scale = units.get(text[-1:].lower(), 1)
    try:
        return float(text[:-1] if text[-1:].lower() in units else text) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 600, 90s, 10m, 1h)") from None
