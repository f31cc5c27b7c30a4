"""Error analysis (mistakes grouped by cause, slices) and distribution-shift checks.

>>> report = analyze_errors(clf, test_examples)        # textclf errors MODEL
>>> print(format_report(report)); html = errors_html(report)
>>> shift = analyze_shift(clf, reference, new)          # textclf shift MODEL --data new.csv
>>> shift.verdict, shift_html(shift)
"""

from __future__ import annotations

from pathlib import Path

from ..data import Examples
from ..errors import DataError
from .errors import ErrorReport, ErrorSettings, analyze_errors, errors_html, format_report, mistakes_frame
from .shift import ShiftReport, ShiftSettings, analyze_shift, format_shift, shift_html

SAVED_SPLITS = ("train", "validation", "test")


def load_data(clf, data: str | None, *, labelled: bool = True, text_column: str | None = None,
              label_column: str | None = None, group_column: str | None = None,
              time_column: str | None = None, default_split: str = "test") -> Examples:
    """Examples named by `data`: a file, a bundled data set name, one of the model's own saved
    splits ("train", "validation", "test"), or None for `default_split`."""
    from ..data.bundled import DATASETS, load_bundled
    from ..data.io import Columns, read_examples
    from ..workflow import saved_test_split

    if data is None or (data in SAVED_SPLITS and not Path(data).exists()):
        part = data or default_split
        try:
            return saved_test_split(clf, part)
        except DataError:
            if data is None and part == "validation":  # a model trained without a validation split
                return saved_test_split(clf, "test")
            raise
    if data in DATASETS and not Path(data).exists():
        return load_bundled(data)
    columns = clf.info.get("columns", {})
    return read_examples(data, Columns(
        text=text_column or columns.get("text_column", "text"),
        label=(label_column or columns.get("label_column", "label")) if labelled else None,
        group=group_column, time=time_column, multi_label=clf.multi_label,
        label_delimiter=columns.get("label_delimiter"),
    ), labelled=labelled)


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
    "ErrorReport", "ErrorSettings", "ShiftReport", "ShiftSettings", "analyze_errors", "analyze_shift",
    "errors_html", "format_report", "format_shift", "load_data", "mistakes_frame", "shift_html", "slice_columns",
]
