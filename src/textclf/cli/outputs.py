"""What the writing verbs share: checks of OUTPUT before any work (the one overwrite rule), the
format a page is written in, the OUTPUT positional of old releases, and train's held log."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from ..errors import ConfigError, DataError, TextclfError


def done(message: str) -> None:
    print(message, file=sys.stderr)


def check_outputs(args: argparse.Namespace, *paths: str | Path | None) -> None:
    """Before any work: every output can be written and, without --overwrite, does not exist yet."""
    from ..fileio import check_output

    for path in paths:
        if path:
            check_output(path, overwrite=args.overwrite)


PAGE_SUFFIXES = {"json": (".json",), "jsonl": (".jsonl", ".json", ".ndjson"), "html": (".html", ".htm")}


def page_format(args: argparse.Namespace, other: str = "json") -> str:
    """--format, else OUTPUT's suffix: html for .html/.htm, `other` for its own suffixes or none.
    Any other suffix is refused before any work: JSON written under `out.csv` would be read as CSV."""
    if args.format:
        return args.format
    suffix = Path(str(args.output or "")).suffix.lower()
    for fmt in ("html", other):
        if suffix in PAGE_SUFFIXES[fmt]:
            return fmt
    if not suffix:
        return other
    accepted = ", ".join(PAGE_SUFFIXES[other] + PAGE_SUFFIXES["html"])
    raise DataError(f"{args.output}: cannot write {suffix!r} here; use {accepted}, or --format")


# What names a saved model, and what names an output, on any verb (argparse destinations).
MODEL_ARGUMENTS = ("model", "teacher", "labels_from")
OUTPUT_ARGUMENTS = ("output", "legacy_output", "mistakes", "train_dir")


# Verbs that print to stdout without -o: there `-o -` means stdout, as `-` conventionally does.
STDOUT_VERBS = frozenset({"predict"})


def _dash_outputs(args: argparse.Namespace) -> None:
    """`-o -` is stdout where the verb can stream there, and refused elsewhere: a file named `-` is
    never what was meant."""
    for key in OUTPUT_ARGUMENTS:
        if vars(args).get(key) != "-":
            continue
        if key == "output" and getattr(args, "verb", None) in STDOUT_VERBS:
            args.output = None
        else:
            raise DataError(f"-o -: {getattr(args, 'verb', 'this verb')} cannot write to stdout; give a file name")


def check_outside_model(args: argparse.Namespace) -> None:
    """Before any work: `-o -` means stdout or is refused (`_dash_outputs`), and no output of any
    verb lies inside a MODEL it reads (a file there is not in the model's manifest, so the model
    would no longer load, and --overwrite could replace its own files), nor contains it (replacing
    that directory would delete the model)."""
    _dash_outputs(args)
    for model_key in MODEL_ARGUMENTS:
        model = vars(args).get(model_key)
        if not isinstance(model, str) or not Path(model).is_dir():
            continue
        root = Path(model).resolve()
        for key in OUTPUT_ARGUMENTS:
            output = vars(args).get(key)
            if not isinstance(output, str) or not output:
                continue
            path = Path(output).resolve()
            if path == root or root in path.parents:
                place = "is" if path == root else "is inside"
                raise DataError(f"{output}: {place} the model directory {model}; write outputs elsewhere "
                                "(a file there would break the model)")
            if path in root.parents:
                raise DataError(f"{output}: contains the model directory {model}; choose another output")


def check_run_directory(run_dir: Path, overwrite: bool) -> None:
    """A run directory holding anything is an existing output. Under torchrun only rank 0 checks
    (it alone writes; another rank could otherwise see what rank 0 has just begun to write)."""
    import os

    from ..fileio import check_run_directory as check

    if os.environ.get("RANK", "0") == "0":
        check(run_dir, overwrite, ("--overwrite", "--resume"))


HOLD_SECONDS = 5.0  # a run's log lines wait this long after the first: a user error found then prints alone


class _HeldLog:
    """stderr for `train`'s log: its lines are held until HOLD_SECONDS after the first one (then
    everything flows), so that a mistake found just after the data is read (a label problem, a
    model that cannot load) is one line, not a data summary and then the line."""

    def __init__(self) -> None:
        self._first: float | None = None
        self._held: list[str] | None = []

    def write(self, text: str) -> int:
        now = time.monotonic()
        self._first = now if self._first is None else self._first
        if self._held is not None and now - self._first < HOLD_SECONDS:
            self._held.append(text)
            return len(text)
        self.release()
        return sys.stderr.write(text)

    def flush(self) -> None:
        if self._held is None:
            sys.stderr.flush()

    def release(self) -> None:
        held, self._held = self._held, None
        if held:
            sys.stderr.write("".join(held))

    def drop(self) -> None:
        self._held = None

    def isatty(self) -> bool:
        return sys.stderr.isatty()


@contextlib.contextmanager
def held_log():
    log = _HeldLog()
    try:
        yield log
    except TextclfError:
        log.drop()  # the error line says what matters
        raise
    finally:
        log.release()  # success, or an interrupt: every line that was held


def required_output(args: argparse.Namespace, what: str) -> str:
    """-o OUTPUT, or the positional OUTPUT of old releases (one deprecation line)."""
    if args.legacy_output is not None:
        done(f"textclf: warning: a positional OUTPUT is deprecated; use -o {args.legacy_output}")
        if args.output is not None:
            raise ConfigError(f"{args.verb}: give OUTPUT once (-o {args.output} or {args.legacy_output})")
        return args.legacy_output
    if args.output is None:
        raise ConfigError(f"{args.verb}: give -o OUTPUT, {what}")
    return args.output


def upgrade_train_resume(argv: list[str]) -> list[str]:
    """`train ... --resume RUN_DIR` of old releases is `train ... -o RUN_DIR --resume` now (one
    deprecation line); `--resume` before a config, a data file, an override or a flag is left alone."""
    if argv[:1] != ["train"] or "--resume" not in argv:
        return argv
    at = argv.index("--resume")
    value = argv[at + 1] if at + 1 < len(argv) else "-"
    from ..data.formats import format_of

    if value.startswith("-") or "=" in value or value.lower().endswith((".yaml", ".yml")) or format_of(value):
        return argv
    done(f"textclf: warning: --resume RUN_DIR is deprecated; use -o {value} --resume")
    return [*argv[:at], "-o", value, "--resume", *argv[at + 2:]]
