"""Honest splits: split as asked, then take out of validation/test every row that repeats (or
nearly repeats) a text of an earlier split, so evaluation never scores memorised text."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..data.examples import Examples
from ..data.splits import SplitMethod, Splits, split_examples
from .core import as_mapping
from .duplicates import exact_duplicates, near_duplicates
from .results import RowRef


@dataclass
class HonestSplit:
    splits: Splits
    removed: dict[str, int]  # split -> rows dropped as (near) duplicates of an earlier split
    removed_rows: list[RowRef] = field(default_factory=list)


def honest_split(
    examples: Examples,
    method: SplitMethod = "stratified",
    validation_size: float = 0.1,
    test_size: float = 0.2,
    seed: int = 0,
    remove_duplicates: bool = True,
    near_threshold: float | None = 0.8,
) -> HonestSplit:
    """Split, then (if `remove_duplicates`) drop validation/test rows duplicating an earlier split,
    exactly after normalisation or with shingle Jaccard >= `near_threshold` (None: exact only)."""
    splits = split_examples(examples, method, validation_size, test_size, seed)
    parts = as_mapping(splits)
    order = list(parts)
    drop: dict[str, set[int]] = {name: set() for name in parts}
    for group in exact_duplicates(parts).cross_split:
        first = min(group.splits, key=order.index)
        for member in group.members:
            if member.split != first:
                drop[member.split].add(member.index)
    if near_threshold is not None and len(parts) > 1:
        for pair in near_duplicates(parts, threshold=near_threshold).pairs:
            later = max((pair.a, pair.b), key=lambda ref: order.index(ref.split))
            drop[later.split].add(later.index)
    removed = {name: len(drop[name]) for name in order[1:]}
    removed_rows = [
        ref for name in order[1:] for ref in
        (RowRef(name, i, parts[name].rows[i], parts[name].labels[i] if parts[name].labels else None,
                parts[name].texts[i][:160]) for i in sorted(drop[name]))
    ]
    if remove_duplicates:
        kept = {name: part.subset([i for i in range(len(part)) if i not in drop[name]])
                for name, part in parts.items()}
        splits = Splits(kept["train"], kept.get("validation"), kept.get("test"))
    return HonestSplit(splits, removed, removed_rows)
