"""Data audit before training: duplicates, near duplicates, group and time leakage, label
artifacts and shortcut tokens, label-noise suspects, class balance and length.

    from textclf.audit import audit, AuditOptions
    result = audit({"train": train, "test": test}, AuditOptions(near_threshold=0.7))
    result.problems()        # {'duplicates': 3, 'near_duplicates': 5, 'group': 0, ...}
"""

from .core import CHECKS, FAST, AuditOptions, as_mapping, audit, failed_checks
from .report import audit_dict, audit_html, compact_summary, format_summary, warnings
from .results import AuditResult
from .splitting import honest_split

__all__ = [
    "CHECKS", "FAST", "AuditOptions", "AuditResult", "as_mapping", "audit", "audit_dict", "audit_html",
    "compact_summary", "failed_checks", "format_summary", "honest_split", "warnings",
]
