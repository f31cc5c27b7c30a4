"""A progress bar for long jobs on stderr: redrawn in place on a terminal, one line per update
(with rate and ETA) when stderr is a pipe or a log file."""

from __future__ import annotations

import sys


class _Lines:
    """tqdm redraws with carriage returns; a pipe or a log gets whole lines instead."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").strip()
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(enabled: bool, total: int | None = None, initial: int = 0, desc: str = "predict"):
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, unit=" rows", unit_scale=True, disable=not enabled, desc=desc,
                file=sys.stderr if tty else _Lines(sys.stderr), dynamic_ncols=tty, ascii=not tty,
                mininterval=0.1 if tty else 5.0)
