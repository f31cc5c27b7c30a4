"""Run the audit checks over named splits (train first) and collect an AuditResult."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TextIO

import numpy as np

from ..data.examples import Examples
from ..data.splits import Splits
from ..errors import ConfigError
from .duplicates import exact_duplicates, near_duplicates
from .label_noise import label_noise_suspects
from .leakage import group_leakage, time_leakage
from .results import AuditResult
from .shortcuts import label_artifacts, shortcut_tokens
from .stats import all_split_stats, resolve_tokenizer

# names accepted by --fail-on (and keys of AuditResult.problems())
CHECKS = ("duplicates", "within_duplicates", "conflicts", "near_duplicates", "group", "time",
          "artifacts", "shortcuts", "label_noise")


@dataclass(frozen=True)
class AuditOptions:
    near_duplicates: bool = True
    near_threshold: float = 0.8
    shingle: str = "word"  # or "char"
    shingle_size: int = 3
    num_perm: int = 128
    artifacts: bool = True
    artifact_min_count: int = 5
    artifact_min_precision: float = 0.9
    shortcuts: bool = True
    shortcut_min_count: int = 20
    shortcut_min_precision: float = 0.95
    label_noise: bool = True
    noise_folds: int = 5
    noise_top: int = 50
    stats: bool = True
    tokenizer: str | None = None  # whitespace, minilm, or a local tokenizer path
    max_length: int | None = 256
    seed: int = 0
    max_rows: int | None = None  # above this many rows (all splits), audit a seeded random sample

    def __post_init__(self) -> None:
        if not 0.0 < self.near_threshold <= 1.0:
            raise ConfigError(f"near-duplicate threshold must be in (0, 1], got {self.near_threshold}")
        if self.shingle not in ("word", "char"):
            raise ConfigError(f"shingle must be 'word' or 'char', got {self.shingle!r}")
        if self.shingle_size < 1:
            raise ConfigError(f"shingle size must be at least 1, got {self.shingle_size}")


# The check `train` runs by default: seconds, not minutes, on tens of thousands of rows. Above
# TRAIN_AUDIT_ROWS rows it audits a seeded sample of that many (about half a minute on 2 cores).
TRAIN_AUDIT_ROWS = 200_000
FAST = AuditOptions(shortcuts=False, label_noise=False, stats=False, max_rows=TRAIN_AUDIT_ROWS)


def sample_splits(parts: dict[str, Examples], max_rows: int, seed: int = 0) -> tuple[dict[str, Examples], dict | None]:
    """(parts, None) when they hold at most `max_rows` rows; else a seeded random sample of each
    split in proportion to its size (rows keep their order) and what was sampled."""
    total = sum(len(part) for part in parts.values())
    if total <= max_rows:
        return parts, None
    rng = np.random.default_rng(seed)
    sampled = {}
    for name, part in parts.items():
        keep = max(1, round(len(part) * max_rows / total)) if len(part) else 0
        sampled[name] = part.subset(np.sort(rng.choice(len(part), size=keep, replace=False)))
    audited = sum(len(part) for part in sampled.values())
    return sampled, {"rows": total, "audited": audited, "seed": seed}


def unseen_labels(parts: dict[str, Examples], train_name: str) -> dict[str, list[str]]:
    """Split -> labels (class names, multi-label included) that occur there but never in training."""
    def names(part: Examples) -> set:
        return {x for label in part.labels or [] for x in (label if isinstance(label, tuple) else (label,))}

    seen = names(parts[train_name])
    found = {name: sorted(names(part) - seen, key=str) for name, part in parts.items() if name != train_name}
    return {name: labels for name, labels in found.items() if labels}


def as_mapping(splits: Splits | Mapping[str, Examples | None]) -> dict[str, Examples]:
    """{'train': ..., 'validation': ..., 'test': ...} without the missing parts, train first."""
    if isinstance(splits, Splits):
        splits = {"train": splits.train, "validation": splits.validation, "test": splits.test}
    return {name: part for name, part in splits.items() if part is not None}


def audit(splits: Splits | Mapping[str, Examples | None], options: AuditOptions = AuditOptions()) -> AuditResult:
    """Audit train/validation/test (any named parts; the first is the training data).

    Returns an AuditResult whose `problems()` counts the findings of each check that ran."""
    parts = as_mapping(splits)
    if not parts:
        raise ConfigError("nothing to audit: no split has any rows")
    train_name = next(iter(parts))
    if options.max_rows is not None:
        parts, sample = sample_splits(parts, options.max_rows, options.seed)
    else:
        sample = None
    result = AuditResult(sizes={name: len(part) for name, part in parts.items()}, sample=sample)
    if sample is not None:
        result.notes.append(f"audited a seeded random sample (seed {sample['seed']}) of {sample['audited']:,} of "
                            f"{sample['rows']:,} rows; counts are of the sample")
    result.duplicates = exact_duplicates(parts)
    if options.near_duplicates and len(parts) > 1:
        result.near_duplicates = near_duplicates(
            parts, options.near_threshold, options.shingle, options.shingle_size, options.num_perm
        )
    result.group = group_leakage(parts) if len(parts) > 1 else None
    result.time = time_leakage(parts, train_name) if len(parts) > 1 else None
    if result.group is None:
        result.notes.append("group leakage not checked: no group column")
    if result.time is None:
        result.notes.append("time leakage not checked: no time column")
    labelled = any(part.labels is not None for part in parts.values())
    result.unseen_labels = unseen_labels(parts, train_name) if labelled and len(parts) > 1 else None
    if options.artifacts and labelled:
        result.artifacts = label_artifacts(parts, options.artifact_min_count, options.artifact_min_precision)
    if options.shortcuts and labelled:
        result.shortcuts = shortcut_tokens(
            parts[train_name], options.shortcut_min_count, options.shortcut_min_precision, split=train_name
        )
    if options.label_noise and labelled:
        result.label_noise = label_noise_suspects(parts, options.noise_folds, options.noise_top, options.seed)
    if options.stats:
        result.tokenizer, counter = resolve_tokenizer(options.tokenizer)
        result.max_length = options.max_length
        result.stats = all_split_stats(parts, counter, options.max_length)
    return result


def failed_checks(result: AuditResult, fail_on: list[str]) -> list[str]:
    """The checks in `fail_on` that found something ('all' means every check)."""
    wanted = list(CHECKS) if "all" in fail_on else fail_on
    unknown = sorted(set(wanted) - set(CHECKS))
    if unknown:
        raise ConfigError(f"unknown audit check(s) {', '.join(unknown)}; choose from {', '.join(CHECKS)}, all")
    problems = result.problems()
    return [name for name in wanted if problems.get(name, 0) > 0]


def train_audit(splits: Splits, near_duplicates: bool = True, near_threshold: float = 0.8,
                log: TextIO | None = None) -> dict:
    """The fast audit `train` runs: warns on `log` (one line per problem) and returns the compact
    summary stored in the saved model's info and metrics. Above TRAIN_AUDIT_ROWS rows it audits a
    seeded sample (summary["sample"], and a line on `log`); `textclf audit` checks every row."""
    from .report import compact_summary, warnings

    started = time.perf_counter()
    options = replace(FAST, near_duplicates=near_duplicates, near_threshold=near_threshold, max_rows=TRAIN_AUDIT_ROWS)
    result = audit(splits, options)
    summary = compact_summary(result)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    if log is not None:
        if result.sample is not None:
            print(f"textclf: audit: {result.sample['rows']:,} rows is over {TRAIN_AUDIT_ROWS:,}: audited a seeded "
                  f"random sample of {result.sample['audited']:,} (run `textclf audit` for every row)", file=log)
        for line in warnings(result):
            print(f"textclf: audit warning: {line}", file=log)
    return summary
