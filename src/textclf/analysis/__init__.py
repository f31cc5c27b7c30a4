"""Error analysis (mistakes grouped by cause, slices) and distribution-shift checks.

>>> report = analyze_errors(clf, test_examples)        # textclf errors MODEL
>>> print(format_report(report)); html = errors_html(report)
>>> shift = analyze_shift(clf, reference, new)          # textclf shift MODEL --data new.csv
>>> shift.verdict, shift_html(shift)
>>> explain(clf, ["a text"])[0].top()                  # textclf explain MODEL "a text" (analysis.explain)
>>> drivers_html(mistake_drivers(clf, test_examples))   # tokens behind confident mistakes

Names are imported on first use, so that the CLI's parser (which shows the settings' defaults)
does not pay for scipy.
"""

from importlib import import_module

_EXPORTS = {
    "Explanation": "attributions", "TokenAttribution": "attributions",
    "MistakeDrivers": "drivers", "drivers_html": "drivers", "explanations_html": "drivers",
    "mistake_drivers": "drivers",
    "ErrorReport": "errors", "analyze_errors": "errors", "errors_html": "errors", "format_report": "errors",
    "mistakes_frame": "errors",
    "ErrorSettings": "settings", "ShiftSettings": "settings",
    "ShiftReport": "shift", "analyze_shift": "shift", "format_shift": "shift", "shift_html": "shift",
    "slice_columns": "slices",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'textclf.analysis' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
