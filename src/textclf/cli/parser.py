"""The argument parser: one vocabulary of flags for every verb, each with its help and default.

One flag name has one meaning on every verb (tests/test_cli_vocabulary.py walks the parser to check):
every verb that writes takes `-o/--output` and `--overwrite` (plus `--format` where OUTPUT can be
written in more than one format); `--split-seed` seeds a data split, `--bootstrap-seed` the
bootstrap; `--resume` continues an interrupted run into OUTPUT. Defaults are read from the typed
options they feed (jobs.defaults), never repeated here. Old spellings are `_Deprecated`: they work
for one more release and print one line naming the new one."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..jobs import defaults as d
from ..serving.options import BACKENDS
from . import distill as distill_verb
from .arguments import count_int, positive_int
from . import label as label_verb
from . import verbs as v

SPLIT_METHODS = ["stratified", "random", "group", "time"]
MODEL_SPLITS = "a file, a bundled data set, or the model's own split: train, validation or test"


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (no usage block) and exit code 2, like
    every other user mistake."""

    def error(self, message: str):
        # the top-level parser's prog is the "textclf" the prefix already says; a verb's names the verb
        line = " ".join((message if self.prog == "textclf" else f"{self.prog}: {message}").split())
        self.exit(2, f"textclf: error: {line[:280]}\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default (skipping None and flags)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS \
                or action.help == argparse.SUPPRESS:  # (`in` would hide a default of 0, which == False)
            return action.help or ""
        return super()._get_help_string(action)


class _Deprecated(argparse.Action):
    """An old spelling, kept for one release: it sets what its replacement sets (plus `also`, e.g.
    --json FILE = -o FILE --format json) and prints one line naming the replacement."""

    def __init__(self, option_strings, dest, replacement: str = "", also: dict | None = None,
                 append: bool = False, **kwargs) -> None:
        self.replacement, self.also, self.append = replacement, also or {}, append
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"textclf: warning: {option_string} is deprecated; use {self.replacement}", file=sys.stderr)
        if self.append:
            values = [*(vars(namespace).get(self.dest) or []), values]
        setattr(namespace, self.dest, values)
        for key, value in self.also.items():
            setattr(namespace, key, value)


def _old(p: argparse.ArgumentParser, flag: str, dest: str, replacement: str, **kwargs) -> None:
    p.add_argument(flag, dest=dest, action=_Deprecated, replacement=replacement, default=argparse.SUPPRESS,
                   **kwargs)


def add_output_flags(p: argparse.ArgumentParser, what: str, formats: list[str] | None = None,
                     format_help: str = "format of OUTPUT (default: from its suffix)", required: bool = False) -> None:
    """-o/--output, --overwrite and (with `formats`) --format: the same three flags on every writing verb."""
    p.add_argument("-o", "--output", required=required, help=what)
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT (otherwise: exit 2, "
                   "nothing written)")
    if formats:
        p.add_argument("--format", choices=formats, help=format_help)


def _old_report_flags(p: argparse.ArgumentParser) -> None:
    """--json FILE / --html FILE of the first releases: now -o FILE --format json|html."""
    for fmt in ("json", "html"):
        _old(p, f"--{fmt}", "output", f"-o FILE --format {fmt}", also={"format": fmt})


def add_data_flags(p: argparse.ArgumentParser, data_help: str | None, labelled: bool = True,
                   row_context: bool = True) -> None:
    """--data (unless `data_help` is None) and the column flags every verb shares; the group, time
    and id columns only where the verb uses them (`row_context`): a flag that is accepted and
    ignored reads as if it had done something."""
    if data_help is not None:
        p.add_argument("--data", help=data_help)
    p.add_argument("--text-column", help="text column (default: the one the model was trained on, else 'text')")
    if labelled:
        p.add_argument("--label-column", help="label column (default: the model's, else 'label')")
    if not row_context:
        return
    p.add_argument("--group-column", help="group column (author, product, movie, ...)")
    p.add_argument("--time-column", help="time column (dates or numbers)")
    p.add_argument("--id-column", help="id column, copied into outputs")
    _old(p, "--group-col", "group_column", "--group-column")
    _old(p, "--time-col", "time_column", "--time-column")


def _policy_output(p: argparse.ArgumentParser) -> None:
    add_output_flags(p, "write a copy of MODEL with the new policy to this directory instead of updating "
                        "MODEL/policy.json in place")


def _model_verbs(verb: Callable) -> None:
    p = verb("evaluate", v.cmd_evaluate, "evaluate a saved model on labelled data")
    p.add_argument("model", help="saved model directory")
    add_data_flags(p, f"labelled data: {MODEL_SPLITS} (default: test)")
    add_output_flags(p, "metrics JSON to write (the model's training metrics.json is kept)")
    p.add_argument("--no-policy", action="store_true",
                   help="ignore the saved decision policy (calibration, thresholds): raw scores, argmax / 0.5")

    p = verb("calibrate", v.cmd_calibrate, "fit a probability calibration on validation data, save it with the model")
    p.add_argument("model", help="saved model directory")
    p.add_argument("--method", choices=["temperature", "platt", "isotonic"], default=d.CALIBRATION_METHOD,
                   help="calibration method")
    add_data_flags(p, f"labelled data: {MODEL_SPLITS} (default: validation)")
    _policy_output(p)

    p = verb("report", v.cmd_report, "write a self-contained HTML evaluation report with figures")
    p.add_argument("model", help="saved model directory")
    add_data_flags(p, f"labelled data: {MODEL_SPLITS} (default: test)")
    add_output_flags(p, "HTML file (default: report.html beside MODEL); PNGs go beside it")
    p.add_argument("--audit", action="store_true", help="add the data audit of the model's train/validation/test splits")
    p.add_argument("--sections", action=argparse.BooleanOptionalAction, default=True,
                   help="add sections from other features (error analysis, model choice)")
    p.add_argument("--bootstrap", type=count_int, default=d.BOOTSTRAP_RESAMPLES, help="bootstrap resamples for intervals")

    p = verb("tune-thresholds", v.cmd_tune_thresholds,
             "tune decision thresholds of a saved binary or multi-label model on validation data, save them")
    p.add_argument("model", help="saved model directory")
    add_data_flags(p, f"labelled VALIDATION data: {MODEL_SPLITS} (default: validation)")
    objectives = ["f1", "fbeta", "precision", "recall"]
    p.add_argument("--objective", choices=objectives, default=d.THRESHOLD_OBJECTIVE,
                   help="maximise F1 / F-beta, or reach --target precision / recall")
    _old(p, "--method", "objective", "--objective", choices=objectives)
    p.add_argument("--scope", choices=["per_label", "global"], default="per_label", help="one cut per label, or one for all")
    p.add_argument("--beta", type=float, default=d.THRESHOLD_BETA, help="for --objective fbeta")
    p.add_argument("--target", type=float, help="for --objective precision / recall, e.g. 0.9")
    p.add_argument("--min-labels", type=int, choices=[0, 1], help="1: a row with no label above threshold gets its top label")
    _policy_output(p)


def _analysis_verbs(verb: Callable) -> None:
    p = verb("errors", v.cmd_errors, "group a model's mistakes by cause: confusion pairs, confident vs "
             "uncertain mistakes, worst slices")
    p.add_argument("model", help="saved model directory")
    add_data_flags(p, f"labelled data: {MODEL_SPLITS} (default: test)")
    p.add_argument("--slice-column", action="append", metavar="COLUMN",
                   help="slice by a column of the data file (repeatable)")
    _old(p, "--slice-col", "slice_column", "--slice-column", append=True)
    add_output_flags(p, "the whole report as JSON, or an HTML page (.html)", ["json", "html"])
    _old_report_flags(p)
    p.add_argument("--mistakes", help="also write every mistake with its slice tags (CSV/JSONL/Parquet); "
                   "--overwrite applies to it too")
    p.add_argument("--reference", help=f"also check distribution shift against this data ({MODEL_SPLITS})")
    p.add_argument("--quantile", type=float, default=d.SHIFT_QUANTILE,
                   help="with --reference: flag new examples beyond this reference quantile")
    p.add_argument("--confident", type=float, default=d.ERRORS.confident,
                   help="a mistake with predicted probability >= this is confident")
    p.add_argument("--margin", type=float, default=d.ERRORS.ambiguous_margin, help="a top-2 probability margin below this is uncertain")
    p.add_argument("--min-slice-size", type=positive_int, default=d.ERRORS.min_slice_size, help="smaller slices are not ranked")
    p.add_argument("--bootstrap", type=count_int, default=d.BOOTSTRAP_RESAMPLES, help="bootstrap resamples for intervals")
    p.add_argument("--bootstrap-seed", type=int, default=d.BOOTSTRAP_SEED, help="seed of the bootstrap resamples")
    _old(p, "--seed", "bootstrap_seed", "--bootstrap-seed", type=int)
    p.add_argument("--top", type=positive_int, default=d.ERRORS.top, help="worst slices shown")

    p = verb("explain", v.cmd_explain, "which tokens drove a label: exact for TF-IDF, Integrated Gradients "
             "for neural models")
    p.add_argument("model", help="saved model directory")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to explain (else rows of --data)")
    add_data_flags(p, f"labelled data: {MODEL_SPLITS} (default: test); adds the tokens behind confident mistakes")
    p.add_argument("--label", help="explain this label instead of each prediction")
    p.add_argument("--top-k", type=positive_int, default=10, help="tokens shown per text")
    p.add_argument("--steps", type=positive_int, default=32, help="Integrated Gradients steps to start with (doubled "
                   "until the completeness gap is under 5%%)")
    p.add_argument("--limit", type=positive_int, default=200, help="rows of --data explained")
    add_output_flags(p, "JSONL (one explanation per line) or HTML with highlighted tokens (.html)", ["jsonl", "html"])

    p = verb("shift", v.cmd_shift, "check whether new data has shifted away from the training distribution")
    p.add_argument("model", help="saved model directory")
    add_data_flags(p, f"new texts: {MODEL_SPLITS} (default: test)", labelled=False)
    p.add_argument("--reference", help=f"held-out data like the training data: {MODEL_SPLITS} (default: validation)")
    p.add_argument("--quantile", type=float, default=d.SHIFT_QUANTILE,
                   help="flag new examples beyond this reference quantile")
    add_output_flags(p, "the report as JSON, or an HTML page (.html)", ["json", "html"])
    _old_report_flags(p)
    p.add_argument("--fail-on-shift", action="store_true", help="exit with code 1 when the verdict is shifted")


def _serving_verbs(verb: Callable) -> None:
    p = verb("predict", v.cmd_predict, "predict labels and probabilities for a file or stdin")
    p.add_argument("model", help="saved model directory (an ONNX export with --backend onnx)")
    p.add_argument("input", nargs="?", default="-", help="CSV/TSV/JSONL/Parquet file, or - for one text per line on stdin")
    add_data_flags(p, None, labelled=False)
    add_output_flags(p, "output file (default: JSONL on stdout; a directory with --engine ray)",
                     ["jsonl", "csv", "tsv", "parquet"],
                     "format of OUTPUT (default: from its suffix, else jsonl; ray: else parquet)")
    _old(p, "--output-format", "format", "--format", choices=["parquet", "csv", "json", "jsonl"])
    p.add_argument("--chunk-size", type=positive_int, default=d.PREDICT.chunk_size,
                   help="rows held in memory at once; on stdout a chunk is printed only once all of it is valid")
    p.add_argument("--batch-size", type=positive_int, default=d.PREDICT.batch_size, help="texts per model call (length-sorted)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run that was writing OUTPUT")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.add_argument("--backend", choices=BACKENDS, default="torch",
                   help="onnx, onnx-int8: MODEL is a directory written by `textclf export --format onnx`")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="ray: Ray Data batch prediction (pip install 'textclf-toolkit[ray]' (make install EXTRAS=ray)); INPUT may be a directory or glob")
    p.add_argument("--address", help="Ray cluster: auto or ray://HOST:10001 (default: a local Ray)")
    p.add_argument("--num-workers", type=positive_int, help="Ray actors, one model each (default: autoscale to the CPUs)")
    p.add_argument("--explain", type=count_int, default=0, metavar="K",
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
    p.add_argument("legacy_output", nargs="?", help=argparse.SUPPRESS)  # the positional OUTPUT of old releases
    add_output_flags(p, "directory to write (required)", ["onnx", "hf"], "export format")
    p.set_defaults(format="onnx")
    p.add_argument("--quantize", action="store_true", help="also write a dynamic int8 model (model.int8.onnx)")
    p.add_argument("--opset", type=positive_int, default=18, help="ONNX opset")
    p.add_argument("--int8-min-agreement", type=float, default=d.INT8_MIN_AGREEMENT,
                   help="refuse the int8 model below this argmax agreement with fp32 on held-out texts")
    p.add_argument("--fusions", choices=["auto", "on", "off"], default="auto",
                   help="onnxruntime transformer fusions for pretrained encoders (auto: keep the faster graph)")
    add_data_flags(p, "texts the export's parity and int8 agreement are checked on (the first 256): a file, a "
                      "bundled data set, or train/validation/test of the model (default: test)", labelled=False,
                   row_context=False)


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
            if kind is int and f.name != "port":  # counts and sizes: the same type as every other verb's
                kind = positive_int
            p.add_argument(flag, dest=f.name, type=kind, default=default, help=f.metadata.get("help"), **extra)


def _raw_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="?", metavar="DATA", help="labelled file, or a bundled data set name "
                   "(loaded with its duplicates)")
    add_data_flags(p, "the same as DATA")
    p.add_argument("--multi-label", action="store_true", help="labels are lists")
    p.add_argument("--label-delimiter", help="multi-label strings such as a|b")
    p.add_argument("--split", choices=SPLIT_METHODS, default=d.SPLIT_METHOD, help="how DATA is split (seeded)")
    _old(p, "--method", "split", "--split", choices=SPLIT_METHODS)
    p.add_argument("--validation-size", type=float, default=d.VALIDATION_SIZE, help="share of DATA for validation")
    p.add_argument("--test-size", type=float, default=d.TEST_SIZE, help="share of DATA for test")
    p.add_argument("--split-seed", type=int, default=d.SPLIT_SEED, help="seed of the split")
    _old(p, "--seed", "split_seed", "--split-seed", type=int)
    p.add_argument("--threshold", type=float, default=d.NEAR_DUPLICATE_THRESHOLD, help="near-duplicate Jaccard threshold")


def _data_verbs(verb: Callable, verbs) -> None:
    p = verb("audit", v.cmd_audit, "audit data for duplicates, leakage, label artifacts and label noise")
    _raw_data_flags(p)
    p.add_argument("--validation", help="validation file (DATA is then the training data, not split)")
    p.add_argument("--test", help="test file (DATA is then the training data, not split)")
    p.add_argument("--shingle", choices=["word", "char"], default="word", help="near-duplicate shingles")
    p.add_argument("--shingle-size", type=positive_int, default=3, help="words or characters per shingle")
    p.add_argument("--min-count", type=positive_int, default=20, help="minimum support of a shortcut token")
    p.add_argument("--no-label-noise", action="store_true", help="skip the (slow) label-noise check")
    p.add_argument("--tokenizer", help="whitespace (default), minilm, or a local HF tokenizer path")
    p.add_argument("--max-length", type=positive_int, default=256, help="for the truncation rate")
    add_output_flags(p, "the full audit as JSON, or an HTML page (.html)", ["json", "html"])
    _old_report_flags(p)
    p.add_argument("--fail-on", help="comma-separated checks (or all) that make the exit code 1 when they "
                   "find something: duplicates, within_duplicates, conflicts, near_duplicates, group, time, "
                   "artifacts, shortcuts, label_noise")

    p = verb("split", v.cmd_split, "write honest train/validation/test files, cross-split duplicates removed")
    _raw_data_flags(p)
    add_output_flags(p, "directory for the train/validation/test files (written as a set: all or none)",
                     ["csv", "tsv", "jsonl", "parquet"], "format of the files")
    p.set_defaults(format="csv")
    _old(p, "--out-dir", "output", "-o/--output")
    p.add_argument("--keep-duplicates", action="store_true", help="only report cross-split duplicates")
    p.add_argument("--exact-only", action="store_true", help="remove exact duplicates only, not near ones")

    data = verbs.add_parser("data", help="bundled data sets").add_subparsers(dest="data_verb", required=True)
    p = data.add_parser("list", help="list bundled data sets")
    p.set_defaults(handler=v.cmd_data_list)
    p = data.add_parser("export", help="write a bundled data set to CSV/JSONL/Parquet", formatter_class=_Formatter)
    p.add_argument("name", help="bundled data set name")
    p.add_argument("legacy_output", nargs="?", help=argparse.SUPPRESS)  # the positional OUTPUT of old releases
    add_output_flags(p, "file to write (CSV/TSV/JSONL/Parquet by its suffix; required)")
    p.add_argument("--raw", action="store_true", help="keep exact duplicates (as the audit sees them)")
    p.set_defaults(handler=v.cmd_data_export)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="textclf", description="Text classifiers you can measure, trust and ship.")
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
    add_output_flags(p, "run directory: model/ and metrics.json go there (default: the config's output_dir)")
    _old(p, "--output-dir", "output", "-o/--output")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run that was writing OUTPUT from its last checkpoint")
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
