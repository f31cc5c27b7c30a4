"""The in-memory form of a labelled data set: parallel columns, one entry per example."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import DataError

Label = str | tuple[str, ...]  # one class name (single-label) or a tuple of names (multi-label)


@dataclass(frozen=True)
class Examples:
    """Texts with optional labels, groups, times and ids; `rows` are 1-based rows in `source`."""

    texts: list[str]
    labels: list[Label] | None = None
    groups: list[str] | None = None
    times: np.ndarray | None = None  # datetime64 or float, one per text
    ids: list[str] | None = None
    rows: list[int] = field(default_factory=list)
    source: str = "<memory>"
    skipped: int = 0  # rows dropped by the `skip` bad-row policy
    columns: dict | None = None  # the file's column names (text_column, label_column, ...) when read from one
    label_kind: str = "str"  # the Python type the labels were given in (data.label_types)

    def __post_init__(self) -> None:
        if not self.rows:
            object.__setattr__(self, "rows", list(range(1, len(self.texts) + 1)))
        for name in ("labels", "groups", "times", "ids", "rows"):
            column = getattr(self, name)
            if column is not None and len(column) != len(self.texts):
                raise ValueError(f"Examples.{name} has {len(column)} entries for {len(self.texts)} texts")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def multi_label(self) -> bool:
        return bool(self.labels) and isinstance(self.labels[0], tuple)

    def subset(self, indices: Sequence[int] | np.ndarray) -> Examples:
        indices = [int(i) for i in indices]

        def pick(column):
            if column is None:
                return None
            if isinstance(column, np.ndarray):
                return column[indices]
            return [column[i] for i in indices]

        return replace(
            self,
            texts=pick(self.texts),
            labels=pick(self.labels),
            groups=pick(self.groups),
            times=pick(self.times),
            ids=pick(self.ids),
            rows=pick(self.rows),
        )

    @classmethod
    def from_lists(cls, texts: Sequence[str], labels: Sequence | None = None, **columns) -> Examples:
        """Build from Python lists of strings; list-valued labels make a multi-label data set.
        Labels are typed as every entrance types them (data.label_types)."""
        from .label_types import typed_labels

        if isinstance(texts, str) or any(not isinstance(t, str) for t in texts):
            raise DataError("Examples.from_lists: texts must be a list of strings")
        if labels is None:
            return cls(texts=list(texts), **columns)
        labels = labels.tolist() if isinstance(labels, np.ndarray) else list(labels)
        multi = any(isinstance(x, (list, tuple, set, np.ndarray)) for x in labels)
        names, kind = typed_labels(labels, multi, columns.get("source", "<memory>"))
        return cls(texts=list(texts), labels=names, label_kind=kind, **columns)
