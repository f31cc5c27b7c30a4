"""Data audit before training: duplicates, near duplicates, group and time leakage, label
artifacts and shortcut tokens, label-noise suspects, class balance and length.

    from textclf.audit import audit, AuditOptions, format_summary, audit_html
    result = audit({"train": train, "test": test}, AuditOptions(near_threshold=0.7))
    result.problems()        # {'duplicates': 3, 'near_duplicates': 5, 'group': 0, ...}
    print(format_summary(result)); fragment = audit_html(result)

Names are imported lazily so that `textclf --help` does not pay for numpy and scikit-learn.
"""

from importlib import import_module

_EXPORTS = {
    "CHECKS": "core", "FAST": "core", "AuditOptions": "core", "as_mapping": "core", "audit": "core",
    "failed_checks": "core", "train_audit": "core",
    "audit_dict": "report", "audit_html": "report", "compact_summary": "report", "format_summary": "report",
    "warnings": "report",
    "AuditResult": "results",
    "HonestSplit": "splitting", "honest_split": "splitting",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'textclf.audit' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
