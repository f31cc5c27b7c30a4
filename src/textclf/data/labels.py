"""LabelMap: the stable label <-> id mapping saved with every model and checked against data."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import DataError, ModelError, brief, where
from .examples import Examples, Label
from .label_types import KINDS, LabelKind, is_canonical, matched_name, sort_key, to_user


@dataclass(frozen=True)
class LabelMap:
    """Class names in id order. Ids are positions in `labels`, sorted at fit time so they never
    depend on the order rows happen to appear in. `kind` is the Python type the labels were given
    in (data.label_types): `user_labels` hands that type back."""

    labels: tuple[str, ...]
    multi_label: bool = False
    kind: LabelKind = "str"

    def __post_init__(self) -> None:
        if len(set(self.labels)) != len(self.labels):
            raise ModelError(f"label map has {len(self.labels) - len(set(self.labels))} duplicate labels")

    @property
    def user_labels(self) -> tuple:
        """The class names as the type the user gave them (int, bool or str), in id order."""
        return tuple(to_user(name, self.kind) for name in self.labels)

    @cached_property
    def _user_by_name(self) -> dict[str, Any]:
        return dict(zip(self.labels, self.user_labels))

    def user_label(self, label: str | tuple[str, ...] | list[str]) -> Any:
        """A decided label (a class name, or a tuple/list of them for multi-label) in the type the
        user gave (an integer model answers 1, not "1"); multi-label as a list: what `predict`,
        HTTP and every JSON output carry."""
        typed = self._user_by_name
        return [typed[name] for name in label] if isinstance(label, (tuple, list)) else typed[label]

    @classmethod
    def fit(cls, examples: Examples, multi_label: bool = False) -> LabelMap:
        if examples.labels is None:
            raise DataError(f"{examples.source}: training data has no labels")
        if multi_label:
            names = sorted({name for label in examples.labels for name in _as_tuple(label)},
                           key=sort_key(examples.label_kind))
            if not names:
                raise DataError(f"{examples.source}: multi-label training data has no labels at all")
        else:
            if examples.labels and isinstance(examples.labels[0], tuple):
                raise DataError(f"{examples.source}: list-valued labels need task: multi_label")
            names = sorted(set(examples.labels), key=sort_key(examples.label_kind))
            if len(names) < 2:
                raise DataError(
                    f"{examples.source}: training data needs at least 2 classes, found {len(names)}: {names}"
                )
        return cls(tuple(names), multi_label, examples.label_kind)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.labels)}

    def encode(self, examples: Examples) -> np.ndarray:
        """Class ids, shape (n,), for single-label; multi-hot float32, shape (n, k), for multi-label.

        A label this map does not know is a DataError naming it and its row: silently mapping it
        would shift every id after it."""
        if examples.labels is None:
            raise DataError(f"{examples.source}: data has no labels")
        index = self.index
        coerce = self.kind != "str" and examples.label_kind != self.kind
        if self.multi_label:
            targets = np.zeros((len(examples), len(self)), dtype=np.float32)
        else:
            targets = np.zeros(len(examples), dtype=np.int64)
        for i, label in enumerate(examples.labels):
            names = _as_tuple(label) if self.multi_label else (label,)
            if not self.multi_label and isinstance(label, tuple):
                raise DataError(f"{where(examples.source, examples.rows[i])}: list label for a single-label model")
            for name in names:
                if coerce:
                    name = matched_name(name, self.kind)
                if name not in index:
                    raise DataError(
                        f"{where(examples.source, examples.rows[i])}: unknown label {brief(name)}; "
                        f"the model knows {self.describe()}"
                    )
                if self.multi_label:
                    targets[i, index[name]] = 1.0
                else:
                    targets[i] = index[name]
        return targets

    def describe(self, limit: int = 3) -> str:
        """The class names for a one-line message, at most `limit` of them named, each cut short."""
        shown = ", ".join(brief(x, 30) for x in self.labels[:limit])
        more = f", ... ({len(self.labels)} in all)" if len(self.labels) > limit else ""
        return f"[{shown}{more}]"

    def to_json(self) -> dict:
        return {"labels": list(self.labels), "multi_label": self.multi_label, "label_type": self.kind}

    @classmethod
    def from_json(cls, obj: dict, source: str = "labels.json") -> LabelMap:
        try:
            labels = obj["labels"]
            kind = obj.get("label_type", "str")  # absent: written before labels kept their type
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels) or kind not in KINDS:
                raise TypeError
            label_map = cls(tuple(labels), bool(obj.get("multi_label", False)), kind)
        except (KeyError, TypeError, AttributeError):
            raise ModelError(f"{source}: not a label map (expected {{'labels': [names], 'label_type': "
                             f"one of {', '.join(KINDS)}}})") from None
        if not all(is_canonical(name, kind) for name in labels):
            raise ModelError(f"{source}: a label is not a canonical {kind} name")
        if list(labels) != sorted(labels, key=sort_key(kind)):  # ids are sorted positions
            raise ModelError(f"{source}: labels are not in sorted order, so ids would not match the model's outputs")
        return label_map


def _as_tuple(label: Label) -> tuple[str, ...]:
    return label if isinstance(label, tuple) else (label,)
