"""The audit's progress bar on stderr: redrawn in place on a terminal, one line per update (with
rate and ETA) when stderr is a pipe or a log. (serving.progress does the same for predict, but
importing the serving package costs ~200 MB of torch that the audit never needs.)"""

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


def progress_bar(enabled: bool, total: int, desc: str):
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(total=total, unit=" rows", unit_scale=True, disable=not enabled, desc=desc,
                file=sys.stderr if tty else _Lines(sys.stderr), dynamic_ncols=tty, ascii=not tty,
                mininterval=0.5 if tty else 10.0)
