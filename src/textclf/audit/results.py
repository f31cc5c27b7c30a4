"""The audit's findings as plain dataclasses (JSON via `dataclasses.asdict`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..data.examples import Examples

SNIPPET_CHARS = 160


@dataclass(frozen=True)
class RowRef:
    """One example: its split, its position in that split, its 1-based source row and a text snippet."""

    split: str
    index: int
    row: int
    label: Any
    text: str
    id: str | None = None


def row_ref(examples: Examples, split: str, index: int) -> RowRef:
    """The RowRef of row `index` of `examples` (a multi-label label becomes a list, for JSON)."""
    label = examples.labels[index] if examples.labels is not None else None
    return RowRef(
        split=split,
        index=index,
        row=examples.rows[index],
        label=list(label) if isinstance(label, tuple) else label,
        text=examples.texts[index][:SNIPPET_CHARS],
        id=examples.ids[index] if examples.ids is not None else None,
    )


def label_key(label: Any) -> Any:
    """A hashable form of a label: a multi-label list becomes a tuple."""
    return tuple(label) if isinstance(label, list) else label


@dataclass
class DuplicateGroup:
    """Examples whose normalised texts are equal."""

    members: list[RowRef]

    @property
    def splits(self) -> list[str]:
        return sorted({m.split for m in self.members})

    @property
    def labels(self) -> list[Any]:
        distinct = {label_key(m.label): m.label for m in self.members if m.label is not None}
        return [distinct[key] for key in sorted(distinct, key=str)]


@dataclass
class ExactDuplicates:
    within: dict[str, int]  # split -> extra copies (rows beyond the first of each text)
    cross_split: list[DuplicateGroup]  # groups spanning two or more splits
    conflicts: list[DuplicateGroup]  # the same text with different labels (any splits)
    leaked_rows: dict[str, int]  # split -> rows whose text already occurs in an earlier split
    groups: int = 0  # duplicate groups of any kind
    extra_copies: int = 0  # rows beyond the first of each text, over all splits


@dataclass(frozen=True)
class NearDuplicatePair:
    a: RowRef
    b: RowRef
    jaccard: float  # exact Jaccard of the shingle sets
    estimate: float  # the MinHash estimate that made it a candidate


@dataclass
class NearDuplicates:
    threshold: float
    shingle: str  # e.g. "word-3"
    candidates: int  # LSH candidate pairs checked
    pairs: list[NearDuplicatePair]


@dataclass
class GroupLeak:
    group: str
    counts: dict[str, int]


@dataclass
class GroupLeakage:
    leaked: list[GroupLeak]
    groups: int  # distinct groups
    rows: dict[str, int]  # split -> rows whose group is also in another split


@dataclass
class TimeLeakage:
    train_end: str
    early: dict[str, int]  # split -> rows dated at or before the end of training data
    examples: list[RowRef]
    suggestion: str


@dataclass
class LabelArtifact:
    label: str
    variant: str
    rows: int  # rows whose text contains the variant
    with_label: int  # ... of which carry `label`
    precision: float
    flagged: bool
    examples: list[RowRef]


@dataclass
class ShortcutToken:
    token: str
    label: str
    support: int  # training rows containing the token
    precision: float  # share of them with `label`
    chi2: float
    examples: list[RowRef]


@dataclass
class LabelNoiseSuspect:
    rank: int
    ref: RowRef
    given: Any
    predicted: Any
    given_probability: float
    flagged: bool = False  # cleanlab is confident the given label is wrong


@dataclass
class LabelNoise:
    method: str
    folds: int
    suspects: list[LabelNoiseSuspect]  # the `top` lowest label-quality rows, most suspect first
    flagged: int = 0  # rows cleanlab flags as label issues (all rows, not only the listed ones)
    skipped: str | None = None


@dataclass
class LengthStats:
    mean: float
    median: float
    p90: float
    p99: float
    max: int
    truncated: float  # share of texts longer than max_length tokens


@dataclass
class SplitStats:
    size: int
    class_counts: dict[str, int]
    length: LengthStats


@dataclass
class AuditResult:
    """Every check's findings. A check that was not run is None."""

    sizes: dict[str, int]
    duplicates: ExactDuplicates | None = None
    near_duplicates: NearDuplicates | None = None
    group: GroupLeakage | None = None
    time: TimeLeakage | None = None
    artifacts: list[LabelArtifact] | None = None
    shortcuts: list[ShortcutToken] | None = None
    label_noise: LabelNoise | None = None
    stats: dict[str, SplitStats] | None = None
    tokenizer: str = "whitespace"
    max_length: int | None = None
    notes: list[str] = field(default_factory=list)
    sample: dict | None = None  # {"rows", "audited", "seed"} when a seeded sample was audited
    unseen_labels: dict[str, list[str]] | None = None  # split -> labels never seen in training

    def problems(self) -> dict[str, int]:
        """Check name -> number of findings, for the checks that ran (0 means clean)."""
        found: dict[str, int] = {}
        if self.duplicates is not None:
            found["duplicates"] = sum(self.duplicates.leaked_rows.values())
            found["within_duplicates"] = sum(self.duplicates.within.values())
            found["conflicts"] = len(self.duplicates.conflicts)
        if self.near_duplicates is not None:
            found["near_duplicates"] = len(self.near_duplicates.pairs)
        if self.group is not None:
            found["group"] = len(self.group.leaked)
        if self.time is not None:
            found["time"] = sum(self.time.early.values())
        if self.artifacts is not None:
            found["artifacts"] = sum(a.flagged for a in self.artifacts)
        if self.shortcuts is not None:
            found["shortcuts"] = len(self.shortcuts)
        if self.label_noise is not None and self.label_noise.skipped is None:
            found["label_noise"] = self.label_noise.flagged
        return found
