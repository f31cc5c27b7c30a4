"""`textclf distill TEACHER --data UNLABELLED [--student TYPE] -o STUDENT`: a thin layer over
textclf.jobs.distill.distill."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .arguments import count_int, positive_int
from ..errors import ConfigError

HELP = "train a fast student model on a saved teacher's probabilities over unlabelled text"


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the verb on the `textclf` subparsers. Options left out keep the defaults of
    jobs.distill.DistillOptions (not imported here: building the parser must not load torch)."""
    p = subparsers.add_parser("distill", help=HELP, description=HELP)
    p.set_defaults(handler=run)
    p.add_argument("teacher", help="saved teacher model directory (trained from a config or data file, so that "
                                   "its train / validation / test splits can be rebuilt)")
    p.add_argument("--data", required=True, help="unlabelled pool: a CSV/TSV/JSONL/Parquet file with a text column")
    p.add_argument("--text-column", help="text column of the pool (default: the teacher's)")
    p.add_argument("--student", default="bag",
                   help="student model type (bag, tfidf, cnn, ...) or a YAML file with `model:` (and `training:`); "
                        "default: bag")
    p.add_argument("--temperature", type=float,
                   help="soften (> 1) the teacher's probabilities before the student sees them (default: 1)")
    p.add_argument("--hard-weight", type=float,
                   help="on the teacher's training rows: weight of the gold label against the teacher's "
                        "probabilities (default: 0.5)")
    p.add_argument("--copies", type=positive_int,
                   help="students that take only labels (tfidf): copies per text, labelled in proportion to the "
                        "teacher's probabilities (default: 4)")
    p.add_argument("--bootstrap", type=count_int, help="bootstrap resamples for metric intervals (default: 1000)")
    p.add_argument("-o", "--output", required=True, help="student model directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT (otherwise: exit 2, "
                                                            "nothing written)")
    return p


def _student(spec: str) -> tuple[str | dict, dict | None]:
    """(model type or config, training keys) from --student: a type name or a YAML file."""
    if not spec.lower().endswith((".yaml", ".yml")):
        return spec, None
    from ..config import read_yaml

    try:
        text = Path(spec).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{spec}: cannot read the student config ({type(err).__name__})") from None
    values = read_yaml(spec, text) or {}  # a duplicate key or bad YAML: one line naming the line
    if not isinstance(values, dict) or not isinstance(values.get("model"), dict):
        raise ConfigError(f"{spec}: the student config needs a `model:` section (type plus its keys)")
    training = values.get("training")
    if training is not None and not isinstance(training, dict):
        raise ConfigError(f"{spec}: `training:` must be a mapping")
    return values["model"], training


def run(args: argparse.Namespace) -> int:
    from ..evaluation.metrics import format_metrics
    from ..jobs.distill import distill

    student, training = _student(args.student)
    given = {key: value for key, value in (("temperature", args.temperature), ("hard_weight", args.hard_weight),
                                           ("copies", args.copies), ("bootstrap", args.bootstrap)) if value is not None}
    result = distill(args.teacher, args.data, student, args.output, overwrite=args.overwrite, log=sys.stderr,
                     training=training, text_column=args.text_column, progress=sys.stderr.isatty(), **given)
    teacher_f1 = result.info["validation_macro_f1"]
    student_f1 = result.metrics["validation"]["macro_f1"]
    share = f" ({student_f1 / teacher_f1:.1%} of the teacher's)" if teacher_f1 else ""
    print(f"textclf: validation macro-F1: teacher {teacher_f1:.4f}, student {student_f1:.4f}{share}", file=sys.stderr)
    if "test" in result.metrics:
        print(format_metrics(result.metrics["test"], result.classifier.label_map), file=sys.stderr)
    print(f"textclf: wrote {result.output}", file=sys.stderr)
    return 0
