"""Error analysis (mistakes grouped by cause, slices) and distribution-shift checks.

>>> report = analyze_errors(clf, test_examples)        # textclf errors MODEL
>>> print(format_report(report)); html = errors_html(report)
>>> shift = analyze_shift(clf, reference, new)          # textclf shift MODEL --data new.csv
>>> shift.verdict, shift_html(shift)
>>> explain(clf, ["a text"])[0].top()                  # textclf explain MODEL "a text" (analysis.explain)
>>> drivers_html(mistake_drivers(clf, test_examples))   # tokens behind confident mistakes
"""

from __future__ import annotations

from pathlib import Path

from ..data import Examples
from ..errors import DataError
from .attributions import Explanation, TokenAttribution
from .drivers import MistakeDrivers, drivers_html, explanations_html, mistake_drivers
from .errors import ErrorReport, ErrorSettings, analyze_errors, errors_html, format_report, mistakes_frame
from .shift import ShiftReport, ShiftSettings, analyze_shift, format_shift, shift_html

def slice_columns(examples: Examples, names: list[str]) -> dict[str, list[str]]:
    """User slice columns read from the file the examples came from (aligned by data row)."""
    from .slices import read_columns

    if not names:
        return {}
    if not Path(examples.source).is_file():
        raise DataError(f"--slice-col reads columns from a data file, but these examples come from "
                        f"{examples.source!r}; pass --data FILE")
    return read_columns(examples.source, names, examples.rows)


__all__ = [
    "Explanation", "MistakeDrivers", "TokenAttribution", "drivers_html", "explanations_html", "mistake_drivers",
    "ErrorReport", "ErrorSettings", "ShiftReport", "ShiftSettings", "analyze_errors", "analyze_shift",
    "errors_html", "format_report", "format_shift", "mistakes_frame", "shift_html", "slice_columns",
]
