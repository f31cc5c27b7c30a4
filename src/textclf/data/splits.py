"""Honest splits: stratified or random (seeded), by group (no group on two sides), by time
(train strictly before validation strictly before test)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import DataError, summarise
from .examples import Examples

SplitMethod = Literal["stratified", "random", "group", "time"]
OVERLAP_REFUSED = 0.1  # share of validation (or test) rows also in the other that is refused


@dataclass(frozen=True)
class Splits:
    """Train / validation / test. A validation set that shares more than a tenth of its rows with
    the test set (or of the test set's) is refused when either was given on its own (a file, a
    frame): the decision policy is fitted on validation, so test metrics would no longer be held
    out. Fewer shared rows are what official splits of real data often have (short texts repeat);
    the audit reports them. Two parts cut from one data set (the same source, disjoint rows of it)
    can share only that set's own duplicate texts, which the audit reports too."""

    train: Examples
    validation: Examples | None
    test: Examples | None

    def __post_init__(self) -> None:
        validation, test = self.validation, self.test
        if validation is None or test is None:
            return
        if validation.source == test.source and set(validation.rows).isdisjoint(test.rows):
            return  # cut from one data set by split_examples
        shared = shared_rows(validation, test)
        if shared > OVERLAP_REFUSED * min(len(validation), len(test)):
            raise DataError(f"validation {validation.source} and test {test.source} share {shared:,} of "
                            f"{len(validation):,} validation rows (same text and label): the decision policy is "
                            "fitted on validation, so test scores would not be held out; remove them from one")


def _keys(examples: Examples) -> Iterator[tuple]:
    """(text, label) per row; a multi-label row's labels in sorted order, None when unlabelled."""
    if examples.labels is None:
        return ((text, None) for text in examples.texts)
    return ((text, tuple(sorted(label)) if isinstance(label, tuple) else label)
            for text, label in zip(examples.texts, examples.labels))


def row_keys(examples: Examples) -> set[tuple]:
    """What makes two rows the same example: the same text and label (`shared_rows`)."""
    return set(_keys(examples))


def shared_rows(examples: Examples, other: Examples | set[tuple]) -> int:
    """How many rows of `examples` are also rows of `other` (same text and label)."""
    keys = other if isinstance(other, set) else row_keys(other)
    return sum(1 for key in _keys(examples) if key in keys)


def split_examples(
    examples: Examples,
    method: SplitMethod = "stratified",
    validation_size: float = 0.1,
    test_size: float = 0.2,
    seed: int = 0,
) -> Splits:
    """Split one data set into train / validation / test; sizes are fractions of all rows.

    The test part is cut first, so changing `validation_size` never changes the test set."""
    if validation_size + test_size >= 1.0:
        raise DataError("validation_size + test_size must be below 1")
    n = len(examples)
    if method == "group":
        parts = _by_group(examples, validation_size, test_size, seed)
    elif method == "time":
        parts = _by_time(examples, validation_size, test_size)
    else:
        stratify = method == "stratified" and not examples.multi_label and examples.labels is not None
        parts = _random(examples, validation_size, test_size, seed, stratify)
    train, validation, test = parts
    if len(train) == 0:
        raise DataError(f"{examples.source}: the {method} split left no training rows out of {n}")
    return Splits(
        examples.subset(train),
        examples.subset(validation) if len(validation) else None,
        examples.subset(test) if len(test) else None,
    )


def _random(examples: Examples, validation_size: float, test_size: float, seed: int, stratify: bool):
    indices = np.arange(len(examples))
    labels = np.array(examples.labels, dtype=object) if stratify else None

    def cut(idx: np.ndarray, size: float):
        from sklearn.model_selection import train_test_split

        if size <= 0:
            return idx, idx[:0]
        try:
            return train_test_split(
                idx, test_size=size, random_state=seed, stratify=labels[idx] if stratify else None
            )
        except ValueError as err:
            counts = Counter(labels[idx].tolist()) if stratify else Counter()
            rare = [name for name, count in counts.items() if count < 2]
            reason = (f"a single row for {summarise(rare, 'distinct label')}; use data.split.method=random "
                      "or drop rare labels") if rare else " ".join(str(err).split())[:200]
            raise DataError(f"{examples.source}: cannot make a stratified split ({reason})") from None

    rest, test = cut(indices, test_size)
    train, validation = cut(rest, validation_size / (1.0 - test_size))
    return train, validation, test


def _by_group(examples: Examples, validation_size: float, test_size: float, seed: int):
    if examples.groups is None:
        raise DataError(f"{examples.source}: a group split needs data.group_column")
    groups = np.array(examples.groups, dtype=object)
    unique = np.array(sorted(set(examples.groups)), dtype=object)
    if len(unique) < 2:
        raise DataError(f"{examples.source}: a group split needs at least 2 groups, found {len(unique)}")
    # Kept over GroupShuffleSplit / StratifiedGroupKFold: they assign other rows for the same seed,
    # which would change every recorded figure (README, docs/benchmarks.md) for no better split.
    order = np.random.default_rng(seed).permutation(len(unique))
    sizes = {g: 0 for g in unique}
    for g in examples.groups:
        sizes[g] += 1
    n = len(examples)
    assignment: dict[object, int] = {}  # 0 train, 1 validation, 2 test
    filled = [0, 0, 0]
    targets = {2: test_size * n, 1: validation_size * n}
    for g in unique[order]:
        part = next((p for p in (2, 1) if filled[p] < targets[p]), 0)
        assignment[g] = part
        filled[part] += sizes[g]
    part_of = np.array([assignment[g] for g in groups])
    return tuple(np.flatnonzero(part_of == p) for p in (0, 1, 2))


def _by_time(examples: Examples, validation_size: float, test_size: float):
    if examples.times is None:
        raise DataError(f"{examples.source}: a time split needs data.time_column")
    times = np.asarray(examples.times)
    order = np.argsort(times, kind="stable")
    ordered = times[order]
    n = len(order)

    def boundary(position: int) -> int:
        # Move the cut past equal timestamps so the earlier part ends strictly before the later one.
        position = min(max(position, 0), n)
        while 0 < position < n and ordered[position] == ordered[position - 1]:
            position += 1
        return position

    train_end = boundary(int(round(n * (1.0 - validation_size - test_size))))
    validation_end = max(train_end, boundary(int(round(n * (1.0 - test_size)))))
    return order[:train_end], order[train_end:validation_end], order[validation_end:]
