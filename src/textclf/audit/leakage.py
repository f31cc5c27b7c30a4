"""Group leakage (one group on two sides of a split) and time leakage (evaluation data dated
before the end of the training data)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np
import pandas as pd

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
    supplied: dict[str, tuple[str, object]] = {}  # leaky split read from its own file -> (file, its first date)
    for name, part in splits.items():
        if name == train:
            continue
        times = np.asarray(part.times)
        idx = np.flatnonzero(times <= train_end)
        early[name] = int(len(idx))
        if len(idx) and part.source != splits[train].source:
            supplied[name] = (part.source, times.min())
        # the earliest offenders first: the most clearly leaked
        for i in idx[np.argsort(times[idx], kind="stable")][:MAX_EXAMPLES]:
            examples.append(row_ref(part, name, int(i)))
    return TimeLeakage(train_end=format_time(train_end), early=early, examples=examples,
                       suggestion=_time_suggestion(early, supplied))


def _time_suggestion(early: dict[str, int], supplied: dict[str, tuple[str, object]]) -> str:
    """What fixes the leak. Splitting by time only moves rows cut from the training data; a split
    read from its own file (its source differs from train's) stays as it is under any split
    method, so for it the advice is about the training data's dates instead."""
    advice = []
    if any(count and name not in supplied for name, count in early.items()):
        advice.append("split by time (textclf split DATA --method time, or data.split.method: time) so that "
                      "validation and test come strictly after training")
    for name, (source, start) in supplied.items():
        advice.append(f"{name} is read from its own file ({source}), which no split method changes: train only on "
                      f"rows dated before {format_time(start)} (its first date), or drop its rows dated at or before "
                      "the end of the training data")
    return "; ".join(advice)


def format_time(value) -> str:
    """A timestamp as a person writes it: 2017-12-11 for a midnight date, 2017-12-11 08:30:00 with
    a time of day; numbers (e.g. epoch seconds, years) as they are."""
    if isinstance(value, (np.datetime64, pd.Timestamp)) or hasattr(value, "isoformat"):
        stamp = pd.Timestamp(value)
        if stamp is pd.NaT:
            return "NaT"
        if stamp == stamp.normalize():
            return stamp.strftime("%Y-%m-%d")
        return stamp.strftime("%Y-%m-%d %H:%M:%S") if stamp.microsecond == 0 and stamp.nanosecond == 0 \
            else stamp.isoformat(sep=" ")
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)
