"""The items of a session: texts to label with stable ids, and any rows already labelled (a seed
file, or in review the given labels)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..data.examples import Examples
from ..data.io import Columns, read_examples
from ..data.label_types import is_canonical, to_user
from ..errors import ConfigError, DataError

MULTI_LABEL_DELIMITER = "|"  # CSV cells of a multi-label session: `textclf train ... data.label_delimiter='|'`


@dataclass
class Pool:
    """`given[i]` is a label tuple for a pre-labelled item (seed row, or the label under review),
    else None. `reasons[i]` says why an item is queued (review mode)."""

    ids: list[str]
    texts: list[str]
    labels: tuple[str, ...]
    multi_label: bool = False
    given: list[tuple[str, ...] | None] = field(default_factory=list)
    asked: list[bool] = field(default_factory=list)  # False: a seed row, never asked
    reasons: list[str | None] = field(default_factory=list)
    source: str = ""
    label_kind: str = "str"  # the type JSONL outputs write labels in (data.label_types): int, bool or str

    def __post_init__(self) -> None:
        n = len(self.texts)
        self.given = self.given or [None] * n
        self.asked = self.asked or [True] * n
        self.reasons = self.reasons or [None] * n
        self.index = {item: i for i, item in enumerate(self.ids)}
        if len(self.index) != n:
            raise DataError(f"{self.source}: item ids are not unique")
        check_label_names(self.labels, self.multi_label)

    def typed(self, name: str):
        """A label name as the type of the data or model it came from ("1" -> 1): what JSONL holds."""
        return to_user(name, self.label_kind)  # type: ignore[arg-type]

    def identity(self) -> dict:
        digest = hashlib.sha256("\x1e".join(f"{i}\x1f{t}" for i, t in zip(self.ids, self.texts)).encode()).hexdigest()
        return {"items": digest, "labels": list(self.labels), "multi_label": self.multi_label}

    def check_labels(self, labels: Sequence[str], where: str) -> tuple[str, ...]:
        unknown = [x for x in labels if x not in self.labels]
        if unknown:
            raise DataError(f"{where}: unknown label {unknown[0]!r}; the labels are {', '.join(self.labels)}")
        if not self.multi_label and len(labels) != 1:
            raise DataError(f"{where}: a single-label session takes exactly one label, got {len(labels)}")
        return tuple(sorted(set(labels), key=self.labels.index))


def check_label_names(names: Sequence[str], multi_label: bool) -> None:
    """A multi-label CSV cell joins labels with `|`: a name holding it would read back as two labels."""
    if multi_label:
        for name in names:
            if MULTI_LABEL_DELIMITER in name:
                raise ConfigError(f"label {name!r} contains {MULTI_LABEL_DELIMITER!r}, the delimiter of multi-label "
                                  "CSV outputs (it would read back as two labels); rename it")


def cell_label(pool: Pool, labels, fmt: str):
    """A label as the output holds it: JSONL keeps the data's type (1, true) and lists for
    multi-label, as `textclf predict` writes them; CSV cells are text, multi-label joined by `|`."""
    if fmt == "jsonl":
        typed = [pool.typed(x) for x in labels]
        return typed if pool.multi_label else typed[0]
    if pool.multi_label:  # no labels: "[]", which reads back as an empty list whatever the delimiter
        return MULTI_LABEL_DELIMITER.join(labels) if labels else "[]"
    return labels[0]


def parse_label_names(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
    if len(names) < 2:
        raise ConfigError(f"--labels {text!r}: give at least two comma-separated labels, e.g. --labels pos,neg")
    return names


def _label_tuple(value) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, tuple) else (str(value),)


def load_pool(data: str | Path, columns: Columns, labels: Sequence[str], multi_label: bool,
              seed: str | Path | None = None, label_kind: str = "str") -> Pool:
    """DATA's texts (labels there, if any, are ignored) plus the rows of a labelled seed file.
    `label_kind`: the labels' type (a --labels-from model's); else the seed file's."""
    unlabelled = read_examples(data, Columns(**{**columns.__dict__, "label": None}), labelled=False)
    ids = _item_ids(unlabelled, "")
    texts, given, asked = list(unlabelled.texts), [None] * len(unlabelled), [True] * len(unlabelled)
    names = tuple(labels)
    if seed is not None:
        seeded = read_examples(seed, columns)
        seen_names = {x for label in seeded.labels for x in _label_tuple(label)}
        names = names or tuple(sorted(seen_names))
        multi_label = multi_label or seeded.multi_label
        label_kind = label_kind if label_kind != "str" else seeded.label_kind
        unknown = sorted(seen_names - set(names))
        if unknown:
            raise DataError(f"{seed}: label {unknown[0]!r} is not one of --labels ({', '.join(names)})")
        ids += _item_ids(seeded, "seed-")
        texts += seeded.texts
        given += [_label_tuple(x) for x in seeded.labels]
        asked += [False] * len(seeded)
    if len(names) < 2:
        raise ConfigError("label: name the labels with --labels a,b,c, --labels-from MODEL or a --seed file")
    kind = label_kind if all(is_canonical(x, label_kind) for x in names) else "str"  # type: ignore[arg-type]
    return Pool(ids, texts, names, multi_label, given, asked, source=str(data), label_kind=kind)


def _item_ids(examples: Examples, prefix: str) -> list[str]:
    if examples.ids is not None:
        return [prefix + str(x) for x in examples.ids]
    return [f"{prefix}row-{row}" for row in examples.rows]
