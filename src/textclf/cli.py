"""`textclf VERB ...`: a thin layer over the Python API. Each verb is a `cmd_*` function.

User mistakes (TextclfError) print one line on stderr and exit with code 2; nothing is left
half-written because every output goes through an atomic write."""

from __future__ import annotations

import argparse
import csv
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
    result = train(cfg)
    for name in ("validation", "test"):
        if name in result.metrics:
            print(f"\n== {name} ==")
            print(format_metrics(result.metrics[name], result.classifier.label_map))
    print(f"\nmodel saved to {result.model_dir}")
    return 0


# -- evaluate ------------------------------------------------------------------------------------
def _load_labelled(clf, args: argparse.Namespace):
    """The examples named by --data (a file or bundled name), else the model's own test split."""
    from .data.bundled import DATASETS, load_bundled
    from .data.io import Columns, read_examples
    from .workflow import saved_test_split

    if args.data is None:
        return saved_test_split(clf)
    if args.data in DATASETS and not Path(args.data).exists():
        return load_bundled(args.data)
    columns = clf.info.get("columns", {})
    return read_examples(
        args.data,
        Columns(
            text=args.text_column or columns.get("text_column", "text"),
            label=args.label_column or columns.get("label_column", "label"),
            multi_label=clf.multi_label,
            label_delimiter=columns.get("label_delimiter"),
        ),
    )


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


# -- predict -------------------------------------------------------------------------------------
def _prediction_rows(clf, chunk, probs, decisions):
    names = clf.label_map.labels
    labels = clf.labels_from_decisions(decisions)
    for i, label in enumerate(labels):
        row: dict = {}
        if chunk.ids is not None:
            row["id"] = chunk.ids[i]
        row["row"] = chunk.rows[i]
        row["label"] = list(label) if clf.multi_label else label
        row.update({f"prob_{name}": round(float(p), 6) for name, p in zip(names, probs[i])})
        yield row


def cmd_predict(args: argparse.Namespace) -> int:
    from .classifier import TextClassifier
    from .data.io import stream_texts
    from .fileio import atomic_file

    clf = TextClassifier.load(args.model)
    columns = clf.info.get("columns", {})
    chunks = stream_texts(
        args.input,
        text_column=args.text_column or columns.get("text_column", "text"),
        id_column=args.id_column,
        chunk_size=args.chunk_size,
    )
    output = args.output
    fmt = "csv" if output and Path(output).suffix.lower() in {".csv", ".tsv"} else "jsonl"

    def write(handle) -> int:
        count, writer = 0, None
        for chunk in chunks:
            probs = clf.predict_proba(chunk)
            for row in _prediction_rows(clf, chunk, probs, clf.decide(probs)):
                if fmt == "jsonl":
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                    continue
                if writer is None:
                    delimiter = "\t" if Path(output).suffix.lower() == ".tsv" else ","
                    writer = csv.DictWriter(handle, fieldnames=list(row), delimiter=delimiter)
                    writer.writeheader()
                if clf.multi_label:
                    row["label"] = json.dumps(row["label"], ensure_ascii=False)
                writer.writerow(row)
                count += 1
            count += len(chunk) if fmt == "jsonl" else 0
        return count

    if output is None:
        count = write(sys.stdout)
    else:
        with atomic_file(output, newline="") as handle:
            count = write(handle)
        print(f"{count} predictions written to {output}", file=sys.stderr)
    return 0


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

    p = verb("evaluate", cmd_evaluate, "evaluate a saved model on labelled data")
    p.add_argument("model", help="saved model directory")
    p.add_argument("--data", help="labelled file or bundled data set name (default: the model's test split)")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("-o", "--output", help="metrics JSON (default: MODEL/metrics.json)")

    p = verb("predict", cmd_predict, "predict labels and probabilities for a file or stdin")
    p.add_argument("model", help="saved model directory")
    p.add_argument("input", nargs="?", default="-", help="CSV/TSV/JSONL/Parquet file, or - for one text per line on stdin")
    p.add_argument("-o", "--output", help="CSV or JSONL output (default: JSONL on stdout)")
    p.add_argument("--text-column")
    p.add_argument("--id-column")
    p.add_argument("--chunk-size", type=int, default=4096, help="rows held in memory at once")

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
