"""`import textclf` stays cheap: no heavy library is imported until a name that needs it is used.

Measured with `python -X importtime` (which lists every module imported), not with a wall clock,
so the test means the same on a loaded machine."""

from __future__ import annotations

import subprocess
import sys

HEAVY = {"torch", "transformers", "sklearn", "pandas", "scipy", "pyarrow", "optuna", "onnxruntime"}


def imported_modules(code: str) -> set[str]:
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                            capture_output=True, text=True, check=True)
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def test_import_textclf_imports_no_heavy_library():
    modules = imported_modules("import textclf")
    assert "textclf" in modules  # the parser read the real output
    heavy = {name for name in modules if name.split(".")[0] in HEAVY}
    assert heavy == set(), sorted(heavy)[:20]
    assert len([name for name in modules if name.startswith("textclf")]) <= 3, sorted(modules)


def test_public_names_still_resolve_and_import_on_use():
    modules = imported_modules("import textclf; textclf.TextClassifier; textclf.DataError")
    assert "numpy" in modules and "pydantic" in modules  # the imports happen on first use
    assert "sklearn" not in modules  # the estimator speaks scikit-learn's protocol without importing it
    import textclf

    assert textclf.DataError.__name__ == "DataError"
    assert set(textclf.__all__) <= set(dir(textclf))
    try:
        textclf.no_such_name  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("an unknown name must raise AttributeError")
