"""Exact duplicates (after normalisation) within and across splits, conflicting labels, and
near duplicates across splits with MinHash + LSH (datasketch), verified by exact Jaccard."""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Mapping

from datasketch import MinHash, MinHashLSH

from ..data.examples import Examples
from .normalize import normalize_text, shingles
from .results import SNIPPET_CHARS, DuplicateGroup, ExactDuplicates, NearDuplicatePair, NearDuplicates, RowRef


def row_ref(examples: Examples, split: str, index: int) -> RowRef:
    label = examples.labels[index] if examples.labels is not None else None
    return RowRef(
        split=split,
        index=index,
        row=examples.rows[index],
        label=list(label) if isinstance(label, tuple) else label,
        text=examples.texts[index][:SNIPPET_CHARS],
        id=examples.ids[index] if examples.ids is not None else None,
    )


def exact_duplicates(splits: Mapping[str, Examples]) -> ExactDuplicates:
    """Group every example by its normalised text. `splits` is ordered (train first): a copy in a
    later split of a text seen in an earlier one is a leaked row."""
    order = {name: rank for rank, name in enumerate(splits)}
    by_text: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for name, examples in splits.items():
        for i, text in enumerate(examples.texts):
            by_text[normalize_text(text)].append((name, i))
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
        if len({_label_key(r.label) for r in refs}) > 1:
            conflicts.append(group)
    return ExactDuplicates(within=within, cross_split=cross, conflicts=conflicts, leaked_rows=leaked, groups=groups,
                          extra_copies=extra)


def _label_key(label) -> object:
    return tuple(label) if isinstance(label, list) else label


# Chance that a pair whose Jaccard equals the threshold becomes an LSH candidate. An LSH "tuned to
# the threshold" (datasketch's default optimum) catches only ~40-50% of the pairs sitting right at
# it; higher similarities are caught more often still.
LSH_RECALL = 0.99


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """P(two sets of Jaccard `jaccard` share at least one of `bands` bands of `rows` MinHash rows)."""
    return 1.0 - (1.0 - jaccard ** rows) ** bands


def lsh_bands(threshold: float, num_perm: int, recall: float = LSH_RECALL) -> tuple[int, int]:
    """(bands, rows): the most rows per band (fewest false candidates) whose candidate probability
    at `threshold` is still >= `recall`, with as many bands as `num_perm` allows."""
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) >= recall:
            best = (bands, rows)
    return best


def _hash32(data: bytes) -> int:
    # crc32 is deterministic across processes (unlike hash()) and much faster than sha1.
    return zlib.crc32(data)


def near_duplicates(
    splits: Mapping[str, Examples],
    threshold: float = 0.8,
    shingle: str = "word",
    size: int = 3,
    num_perm: int = 128,
    seed: int = 1,
    include_exact: bool = False,
) -> NearDuplicates:
    """Pairs of examples in different splits whose shingle sets have Jaccard >= `threshold`.

    MinHash signatures are indexed in an LSH banded to catch a pair at `threshold` with
    probability >= LSH_RECALL (more above it); every candidate pair is then checked with the exact
    Jaccard, so the list has no false positives. Pairs whose normalised texts are equal are exact duplicates and
    are left out unless `include_exact`."""
    names = list(splits)
    keys: list[tuple[str, int]] = []
    sets: list[set[str]] = []
    for name in names:
        for i, text in enumerate(splits[name].texts):
            keys.append((name, i))
            sets.append(shingles(text, shingle, size))
    signatures = MinHash.bulk(
        ([s.encode("utf-8") for s in shingle_set] for shingle_set in sets),
        num_perm=num_perm, seed=seed, hashfunc=_hash32,
    )
    # Banded so that a pair right at the threshold is a candidate with probability >= LSH_RECALL;
    # the extra candidates this brings below the threshold are removed by the exact Jaccard.
    lsh = MinHashLSH(num_perm=num_perm, params=lsh_bands(threshold, num_perm))
    with lsh.insertion_session() as session:
        for position, signature in enumerate(signatures):
            if sets[position]:
                session.insert(position, signature, check_duplication=False)
    pairs, candidates = [], 0
    for position, signature in enumerate(signatures):
        if not sets[position]:
            continue
        for other in lsh.query(signature):
            # each unordered pair once, and only across splits
            if other <= position or keys[other][0] == keys[position][0]:
                continue
            candidates += 1
            a, b = sets[position], sets[other]
            jaccard = len(a & b) / len(a | b)
            if jaccard < threshold or (not include_exact and a == b and _same_text(splits, keys, position, other)):
                continue
            pairs.append(NearDuplicatePair(
                a=row_ref(splits[keys[position][0]], *keys[position]),
                b=row_ref(splits[keys[other][0]], *keys[other]),
                jaccard=round(jaccard, 4),
                estimate=round(float(signature.jaccard(signatures[other])), 4),
            ))
    pairs.sort(key=lambda p: -p.jaccard)
    return NearDuplicates(threshold=threshold, shingle=f"{shingle}-{size}", candidates=candidates, pairs=pairs)


def _same_text(splits: Mapping[str, Examples], keys: list[tuple[str, int]], i: int, j: int) -> bool:
    (sa, ia), (sb, ib) = keys[i], keys[j]
    return normalize_text(splits[sa].texts[ia]) == normalize_text(splits[sb].texts[ib])
