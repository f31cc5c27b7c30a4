"""Group leakage (one group on two sides of a split) and time leakage (evaluation data dated
before the end of the training data)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np

from ..data.examples import Examples
from .duplicates import row_ref
from .results import GroupLeak, GroupLeakage, TimeLeakage

MAX_EXAMPLES = 10


def group_leakage(splits: Mapping[str, Examples]) -> GroupLeakage | None:
    """Groups present in more than one split; None when the data has no group column."""
    if any(part.groups is None for part in splits.values()):
        return None
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for name, part in splits.items():
        for group in part.groups:
            counts[group][name] += 1
    leaked = [GroupLeak(group, dict(per_split)) for group, per_split in counts.items() if len(per_split) > 1]
    leaked.sort(key=lambda leak: (-sum(leak.counts.values()), leak.group))
    rows = {name: 0 for name in splits}
    for leak in leaked:
        for name, count in leak.counts.items():
            rows[name] += count
    return GroupLeakage(leaked=leaked, groups=len(counts), rows=rows)


def time_leakage(splits: Mapping[str, Examples], train: str = "train") -> TimeLeakage | None:
    """Evaluation rows dated at or before the latest training date; None without a time column.

    A model evaluated on such rows has seen their future, so the score overstates how it will
    do on next month's data."""
    if train not in splits or any(part.times is None for part in splits.values()):
        return None
    train_times = np.asarray(splits[train].times)
    if len(train_times) == 0:
        return None
    train_end = train_times.max()
    early: dict[str, int] = {}
    examples = []
    for name, part in splits.items():
        if name == train:
            continue
        times = np.asarray(part.times)
        idx = np.flatnonzero(times <= train_end)
        early[name] = int(len(idx))
        # the earliest offenders first: the most clearly leaked
        for i in idx[np.argsort(times[idx], kind="stable")][:MAX_EXAMPLES]:
            examples.append(row_ref(part, name, int(i)))
    suggestion = (
        "split by time (textclf split DATA --method time, or data.split.method: time) so that "
        "validation and test come strictly after training"
        if any(early.values()) else ""
    )
    return TimeLeakage(train_end=str(train_end), early=early, examples=examples, suggestion=suggestion)
