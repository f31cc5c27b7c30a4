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


def page_format(args: argparse.Namespace, other: str = "json") -> str:
    """--format, else html for an OUTPUT ending in .html/.htm, else `other`."""
    if args.format:
        return args.format
    return "html" if str(args.output or "").lower().endswith((".html", ".htm")) else other


def check_run_directory(run_dir: Path, overwrite: bool) -> None:
    from ..fileio import check_writable

    check_writable(run_dir, directory=True)
    if run_dir.is_dir() and any(run_dir.iterdir()) and not overwrite:
        raise DataError(f"{run_dir} exists; pass --overwrite to replace its model, or --resume to continue its run")


HOLD_SECONDS = 2.0  # log lines of a run's first seconds wait: a user error found then prints alone


class _HeldLog:
    """stderr for `train`'s log: writes are held until HOLD_SECONDS have passed (then everything
    flows), so that a mistake found early (a bad column, a model that cannot load) is one line."""

    def __init__(self) -> None:
        self._started, self._held = time.monotonic(), []

    def write(self, text: str) -> int:
        if self._held is not None and time.monotonic() - self._started < HOLD_SECONDS:
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
    log.release()


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
