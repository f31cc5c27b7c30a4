"""`textclf VERB ...`: parse the arguments, call one job (textclf.jobs), print its result.

User mistakes (TextclfError) print one line on stderr and exit with code 2; nothing is printed
before that line, and nothing is left half-written because every output is written atomically.
An existing output is replaced only with --overwrite (see cli/outputs.py)."""

from __future__ import annotations

import sys

from ..errors import TextclfError
from ..fileio import DISK_ERRORS, os_error
from .outputs import check_outside_model, upgrade_train_resume
from .parser import build_parser

EXIT_USER_ERROR = 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:  # a usage mistake (or --help) ends here with argparse's exit code: 2 (one line) or 0
        args, extra = parser.parse_known_args(upgrade_train_resume(list(sys.argv[1:] if argv is None else argv)))
        if extra and getattr(args, "verb", None) == "train" and not any(x.startswith("-") for x in extra):
            args.arguments = [*args.arguments, *extra]  # overrides after options: train DATA --flag x key=value
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else EXIT_USER_ERROR
    try:
        check_outside_model(args)  # every verb that reads a MODEL and writes an output
        return args.handler(args)
    except TextclfError as err:
        message = " ".join(str(err).split("\n"))  # always one line
        print(f"textclf: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("textclf: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `textclf predict ... | head`
        return 0
    except OSError as err:  # a full disk met where no writer turned it into a DataError: still one line
        if err.errno not in DISK_ERRORS:
            raise
        print(f"textclf: error: {os_error(err.filename or '<output>', err)}", file=sys.stderr)
        return EXIT_USER_ERROR


__all__ = ["EXIT_USER_ERROR", "build_parser", "main"]
