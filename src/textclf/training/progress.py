"""Progress bars on stderr for long jobs (training, prediction): redrawn in place on a terminal,
one whole line per update (with rate and ETA) when stderr is a pipe or a log file, where tqdm's
carriage-return redraws would pile up into one unreadable line."""

from __future__ import annotations

import sys

LOG_INTERVAL_SECONDS = 5.0  # between lines in a log; a terminal redraws every 0.1 s


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


def progress_bar(enabled: bool, total: int | None = None, initial: int = 0, desc: str = "predict",
                 unit: str = " rows", unit_scale: bool = True, leave: bool = True):
    """A tqdm bar on stderr; disabled (a no-op with the same methods) when not `enabled`."""
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, unit=unit, unit_scale=unit_scale, disable=not enabled, desc=desc,
                file=sys.stderr if tty else _Lines(sys.stderr), dynamic_ncols=tty, ascii=not tty,
                mininterval=0.1 if tty else LOG_INTERVAL_SECONDS, leave=leave)


def write_above(bar, message: str) -> None:
    """A line (an epoch's summary) on stderr that a terminal bar is redrawn under."""
    if bar.disable:
        return
    if isinstance(bar.fp, _Lines):
        bar.fp.write(message)
    else:
        bar.write(message, file=sys.stderr)
