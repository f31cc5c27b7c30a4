"""The progress bar of `textclf predict` (training/progress.py's bar, counting rows) and its total:
the rows of the input, counted as a CSV reader counts them, so that a text spanning several lines
does not end the bar short of 100%."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.formats import compression_of, detect_format
from ..data.io import estimate_rows
from ..training.progress import progress_bar

__all__ = ["count_rows", "progress_bar"]

BLOCK_BYTES = 1 << 22


def _csv_records(path: Path) -> int:
    """Record ends: newlines outside double quotes ("" inside a quoted field toggles twice)."""
    records, quoted, last = 0, False, b"\n"
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK_BYTES):
            data = np.frombuffer(block, dtype=np.uint8)
            newlines = np.flatnonzero(data == 10)
            quotes_before = np.cumsum(data == 34)[newlines] if len(newlines) else newlines
            records += int(np.count_nonzero((quotes_before % 2 == 1) == quoted))
            quoted ^= bool(np.count_nonzero(data == 34) % 2)
            last = block[-1:]
    return records + (last != b"\n")


def count_rows(path: str | Path, max_bytes: int = 2 << 30) -> int | None:
    """Data rows of a prediction input (header excluded): Parquet metadata, JSON lines, or CSV/TSV
    records; None for stdin, compressed or huge files (the bar then shows a count, no ETA)."""
    try:
        path = Path(path)
        if detect_format(path) not in ("csv", "tsv") or compression_of(path) or path.stat().st_size > max_bytes:
            return estimate_rows(path, max_bytes)
        return max(_csv_records(path) - 1, 0)
    except Exception:  # noqa: BLE001 - an estimate only: reading the file reports what is wrong with it
        return None
