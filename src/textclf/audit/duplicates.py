"""Exact duplicates (after normalisation) within and across splits, conflicting labels, and
near duplicates across splits (near.py: MinHash + banded LSH, verified by exact Jaccard)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping

from ..data.examples import Examples
from .lsh import LSH_RECALL, candidate_probability, lsh_bands
from .near import near_duplicates
from .normalize import normalize_text
from .results import DuplicateGroup, ExactDuplicates, label_key, row_ref

__all__ = ["LSH_RECALL", "candidate_probability", "exact_duplicates", "lsh_bands", "near_duplicates", "row_ref"]


def exact_duplicates(splits: Mapping[str, Examples]) -> ExactDuplicates:
    """Group every example by its normalised text. `splits` is ordered (train first): a copy in a
    later split of a text seen in an earlier one is a leaked row."""
    order = {name: rank for rank, name in enumerate(splits)}
    # keyed by a 16-byte digest of the normalised text, not the text: a million long rows would
    # otherwise hold a second copy of the corpus
    by_text: dict[bytes, list[tuple[str, int]]] = defaultdict(list)
    for name, examples in splits.items():
        for i, text in enumerate(examples.texts):
            by_text[hashlib.blake2b(normalize_text(text).encode("utf-8"), digest_size=16).digest()].append((name, i))
    within = {name: 0 for name in splits}
    leaked = {name: 0 for name in list(splits)[1:]}
    cross, conflicts, groups, extra = [], [], 0, 0
    for members in by_text.values():
        if len(members) < 2:
            continue
        groups += 1
        extra += len(members) - 1
        per_split: dict[str, int] = defaultdict(int)
        for name, _ in members:
            per_split[name] += 1
        for name, count in per_split.items():
            within[name] += count - 1
        first = min(per_split, key=order.__getitem__)
        refs = [row_ref(splits[name], name, i) for name, i in members]
        group = DuplicateGroup(refs)
        if len(per_split) > 1:
            cross.append(group)
            for name, count in per_split.items():
                if name != first:
                    leaked[name] += count
        if len({label_key(r.label) for r in refs}) > 1:
            conflicts.append(group)
    return ExactDuplicates(within=within, cross_split=cross, conflicts=conflicts, leaked_rows=leaked, groups=groups,
                          extra_copies=extra)
