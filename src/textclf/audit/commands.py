"""The `textclf audit` and `textclf split` verbs (wired into textclf.cli by `add_verbs`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data.examples import Examples
from ..errors import DataError

EXIT_AUDIT_FAILED = 1  # the audit ran and found a problem named in --fail-on (2 is a user error)


def _columns(args: argparse.Namespace):
    from ..data.io import Columns

    return Columns(text=args.text_column, label=args.label_column, group=args.group_col, time=args.time_col,
                   id=args.id_column, multi_label=args.multi_label, label_delimiter=args.label_delimiter)


def load_data(source: str, args: argparse.Namespace) -> Examples:
    """A file, or a bundled data set name loaded raw (clean=False) so its duplicates show."""
    from ..data.bundled import DATASETS, load_bundled
    from ..data.io import read_examples

    if source in DATASETS and not Path(source).exists():
        examples = load_bundled(source, clean=False)
        if args.group_col and examples.groups is None:
            raise DataError(f"bundled data set {source!r} has no group column")
        if args.time_col:
            raise DataError(f"bundled data set {source!r} has no time column")
        return examples
    return read_examples(source, _columns(args))


def audit_splits(args: argparse.Namespace) -> dict[str, Examples]:
    """DATA as train with --validation/--test files, or DATA split as --split says."""
    from ..data.io import read_examples
    from ..data.splits import split_examples

    data = load_data(args.data, args)
    if args.test or args.validation:
        parts = {"train": data}
        for name in ("validation", "test"):
            path = getattr(args, name)
            if path:
                parts[name] = read_examples(path, _columns(args))
        return parts
    splits = split_examples(data, args.split, args.validation_size, args.test_size, args.seed)
    return {name: part for name, part in
            (("train", splits.train), ("validation", splits.validation), ("test", splits.test)) if part is not None}


def cmd_audit(args: argparse.Namespace) -> int:
    from ..fileio import atomic_file, write_json
    from .core import AuditOptions, audit, failed_checks
    from .report import audit_dict, audit_html, format_summary

    fail_on = [c.strip() for c in (args.fail_on or "").split(",") if c.strip()]
    options = AuditOptions(
        near_threshold=args.threshold, shingle=args.shingle, shingle_size=args.shingle_size,
        label_noise=not args.no_label_noise, tokenizer=args.tokenizer, max_length=args.max_length,
        seed=args.seed, shortcut_min_count=args.min_count,
    )
    failed_checks(_empty_result(), fail_on)  # a misspelled check fails before the slow work
    result = audit(audit_splits(args), options)
    print(format_summary(result))
    if args.json:
        write_json(args.json, audit_dict(result))
        print(f"\naudit written to {args.json}", file=sys.stderr)
    if args.html:
        with atomic_file(args.html) as handle:
            handle.write(f"<!doctype html><meta charset='utf-8'><title>textclf audit</title>\n{audit_html(result)}\n")
    failed = failed_checks(result, fail_on)
    if failed:
        print(f"textclf: audit failed: {', '.join(failed)}", file=sys.stderr)
        return EXIT_AUDIT_FAILED
    return 0


def _empty_result():
    from .results import AuditResult

    return AuditResult(sizes={})


def cmd_split(args: argparse.Namespace) -> int:
    from ..data.io import Columns, examples_frame, write_frame
    from .splitting import honest_split

    data = load_data(args.data, args)
    result = honest_split(
        data, args.method, args.validation_size, args.test_size, args.seed,
        remove_duplicates=not args.keep_duplicates, near_threshold=None if args.exact_only else args.threshold,
    )
    columns = Columns(text=args.text_column, label=args.label_column, group=args.group_col or "group",
                      time=args.time_col or "time", id=args.id_column or "id")
    out = Path(args.out_dir)
    for name in ("train", "validation", "test"):
        part = getattr(result.splits, name)
        if part is not None:
            path = out / f"{name}.{args.format}"
            write_frame(examples_frame(part, columns), path)
            print(f"{name:<11}{len(part):>8} rows -> {path}", file=sys.stderr)
    verb = "reported (kept)" if args.keep_duplicates else "removed"
    print(f"cross-split duplicates {verb}: {result.removed}", file=sys.stderr)
    return 0


def _data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="labelled file, or a bundled data set name (loaded with its duplicates)")
    p.add_argument("--text-column", default="text")
    p.add_argument("--label-column", default="label")
    p.add_argument("--group-col", help="group column (author, product, movie...)")
    p.add_argument("--time-col", help="time column (dates or numbers)")
    p.add_argument("--id-column")
    p.add_argument("--multi-label", action="store_true")
    p.add_argument("--label-delimiter")
    p.add_argument("--validation-size", type=float, default=0.1)
    p.add_argument("--test-size", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threshold", type=float, default=0.8, help="near-duplicate Jaccard threshold")


def add_verbs(verbs, verb) -> None:
    """Register `audit` and `split`; `verb(name, handler, help)` is cli.build_parser's helper."""
    p = verb("audit", cmd_audit, "audit data for duplicates, leakage, label artifacts and label noise")
    _data_arguments(p)
    p.add_argument("--validation", help="validation file (DATA is then the training data, not split)")
    p.add_argument("--test", help="test file (DATA is then the training data, not split)")
    p.add_argument("--split", choices=["stratified", "random", "group", "time"], default="stratified",
                   help="how to split DATA when no --test/--validation is given (seeded)")
    p.add_argument("--shingle", choices=["word", "char"], default="word")
    p.add_argument("--shingle-size", type=int, default=3)
    p.add_argument("--min-count", type=int, default=20, help="minimum support of a shortcut token")
    p.add_argument("--no-label-noise", action="store_true", help="skip the (slow) label-noise check")
    p.add_argument("--tokenizer", help="whitespace (default), minilm, or a local HF tokenizer path")
    p.add_argument("--max-length", type=int, default=256, help="for the truncation rate")
    p.add_argument("--json", help="write the full audit as JSON")
    p.add_argument("--html", help="write the audit as an HTML page")
    p.add_argument("--fail-on", help="comma-separated checks (or all) that make the exit code 1 when they "
                   "find something: duplicates, within_duplicates, conflicts, near_duplicates, group, time, "
                   "artifacts, shortcuts, label_noise")

    p = verb("split", cmd_split, "write honest train/validation/test files, cross-split duplicates removed")
    _data_arguments(p)
    p.add_argument("--method", choices=["stratified", "random", "group", "time"], default="stratified")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--format", choices=["csv", "tsv", "jsonl", "parquet"], default="csv")
    p.add_argument("--keep-duplicates", action="store_true", help="only report cross-split duplicates")
    p.add_argument("--exact-only", action="store_true", help="remove exact duplicates only, not near ones")
