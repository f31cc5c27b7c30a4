"""`textclf review`: a second look at the rows most likely to be wrong. The queue interleaves the
audit's label-noise suspects (out-of-fold confident learning, audit/label_noise.py) with the
model's confident mistakes (analysis/errors.py); each decision (keep / relabel / drop) is
journalled with its reason, and the corrected data set plus a change log are written atomically."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..data.examples import Examples
from ..errors import ConfigError, DataError
from ..fileio import atomic_file
from .pool import MULTI_LABEL_DELIMITER, Pool, cell_label

DECISIONS = ("keep", "relabel", "drop")


@dataclass(frozen=True)
class QueueEntry:
    index: int  # position in the reviewed Examples
    reason: str
    suggested: tuple[str, ...] | None
    confidence: float | None


def _labels(value) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (str(value),)


def review_queue(examples: Examples, suspects: list, mistakes: list[dict], limit: int | None = None) -> list[QueueEntry]:
    """Suspects (LabelNoiseSuspect, most suspect first) and mistakes (dicts with `row`, `predicted`,
    `confidence`, most confident first) taken in turn, each row once; a row found by both says so."""
    by_row = {row: i for i, row in enumerate(examples.rows)}
    first = [(s.ref.index, f"label-noise suspect #{s.rank}: given {s.given!r} has p={s.given_probability:.2f}",
              _labels(s.predicted), None) for s in suspects]
    second = [(by_row[m["row"]], f"confident mistake: model says {m['predicted']!r} with p={m['confidence']:.2f}",
               _labels(m["predicted"]), float(m["confidence"])) for m in mistakes if m["row"] in by_row]
    reasons: dict[int, list[str]] = {}
    entries: dict[int, QueueEntry] = {}
    order: list[int] = []
    for depth in range(max(len(first), len(second))):
        for source in (first, second):
            if depth < len(source):
                index, reason, suggested, confidence = source[depth]
                reasons.setdefault(index, []).append(reason)
                if index not in entries:
                    entries[index] = QueueEntry(index, reason, suggested, confidence)
                    order.append(index)
    picked = order if limit is None else order[:limit]
    return [QueueEntry(i, "; ".join(reasons[i]), entries[i].suggested, entries[i].confidence) for i in picked]


def review_pool(examples: Examples, queue: list[QueueEntry], label_names: tuple[str, ...],
                label_kind: str = "str") -> Pool:
    """Every row of the data (the corrected set keeps them all); only queued rows are asked.
    `label_kind`: the model's label type, which the corrected JSONL keeps (1, not "1")."""
    if examples.labels is None:
        raise DataError(f"{examples.source}: review needs labelled data")
    ids = [str(x) for x in examples.ids] if examples.ids is not None else [f"row-{r}" for r in examples.rows]
    queued = {entry.index: entry for entry in queue}
    return Pool(ids, list(examples.texts), label_names, examples.multi_label,
                [_labels(x) for x in examples.labels], [i in queued for i in range(len(examples))],
                [queued[i].reason if i in queued else None for i in range(len(examples))], source=examples.source,
                label_kind=label_kind)


@dataclass(frozen=True)
class ReviewOutput:
    path: Path  # the corrected data set (.csv or .jsonl)

    @classmethod
    def of(cls, path: str | Path) -> ReviewOutput:
        path = Path(path)
        if path.suffix.lower() not in (".csv", ".jsonl"):
            raise ConfigError(f"-o/--output {path}: write .csv or .jsonl")
        return cls(path)

    @property
    def changes(self) -> Path:
        return self.path.with_name(self.path.stem + ".changes.csv")

    @property
    def journal(self) -> Path:
        return self.path.with_name(self.path.name + ".journal.sqlite")


def corrected(pool: Pool, standing: dict) -> tuple[list[dict], list[dict]]:
    """(rows of the corrected data set, change log rows) from the standing decisions."""
    rows, changes, order = [], [], []
    for i, item in enumerate(pool.ids):
        decision = standing.get(item)
        given = pool.given[i]
        label = decision.labels if decision is not None and decision.kind == "relabel" else given
        if decision is None or decision.kind != "drop":
            rows.append({"id": item, "text": pool.texts[i], "labels": list(label)})
        if decision is not None:
            changes.append({"id": item, "decision": decision.kind, "given": MULTI_LABEL_DELIMITER.join(given),
                            "new_label": cell_label(pool, decision.labels, "csv") if decision.kind == "relabel" else "",
                            "reason": decision.reason or "", "annotator": decision.annotator,
                            "decided_at": datetime.fromtimestamp(decision.at, timezone.utc).isoformat(timespec="seconds"),
                            "text": pool.texts[i]})
            order.append(decision.id)
    return rows, [changes[k] for k in sorted(range(len(changes)), key=order.__getitem__)]  # decision order


@dataclass(frozen=True)
class SourceTable:
    """The reviewed file as read (every column, in order) and the file row of each pool item: the
    corrected data set is this table with the label column corrected and dropped rows removed, so
    a group or time column, and the row order, survive the review."""

    frame: pd.DataFrame
    rows: list[int]  # pool item i is the frame's row labelled rows[i]
    label_column: str

    @classmethod
    def of(cls, examples: Examples) -> SourceTable | None:
        """None when the examples are not one local file (a bundled set, a model's split)."""
        from ..data.io import iter_frames

        label_column = (examples.columns or {}).get("label_column")
        if not examples.source or not Path(examples.source).is_file() or not label_column:
            return None
        parts = [part.set_axis(range(first, first + len(part))) for first, part in iter_frames(examples.source)]
        frame = pd.concat(parts)  # indexed by the file's row numbers, as `examples.rows` counts them
        if label_column not in frame.columns or not set(examples.rows) <= set(frame.index):
            return None
        return cls(frame, list(examples.rows), label_column)


def _corrected_table(pool: Pool, rows: list[dict], source: SourceTable, fmt: str) -> pd.DataFrame:
    position = {item: i for i, item in enumerate(pool.ids)}
    kept = [source.rows[position[r["id"]]] for r in rows]
    table = source.frame.loc[kept].reset_index(drop=True)
    table[source.label_column] = pd.Series([cell_label(pool, r["labels"], fmt) for r in rows], dtype=object)
    return table


def write_review(pool: Pool, standing: dict, output: ReviewOutput, source: SourceTable | None = None) -> tuple[int, int]:
    """Write the corrected data set and its change log, each replaced whole or not at all. With
    `source`, the corrected set is the reviewed file's own table; else id, text and label."""
    rows, changes = corrected(pool, standing)
    fmt = "jsonl" if output.path.suffix.lower() == ".jsonl" else "csv"
    if source is not None:
        from ..data.formats import write_frame

        write_frame(_corrected_table(pool, rows, source, fmt), output.path)
    else:
        _write_plain(pool, rows, output.path, fmt)
    columns = ["id", "decision", "given", "new_label", "reason", "annotator", "decided_at", "text"]
    with atomic_file(output.changes, "w", newline="") as handle:
        pd.DataFrame(changes, columns=columns).to_csv(handle, index=False)
    return len(rows), len(changes)


def _write_plain(pool: Pool, rows: list[dict], path: Path, fmt: str) -> None:
    with atomic_file(path, "w", newline="") as handle:
        if fmt == "jsonl":
            for row in rows:
                label = cell_label(pool, row["labels"], "jsonl")
                handle.write(json.dumps({"id": row["id"], "text": row["text"], "label": label}, ensure_ascii=False) + "\n")
        else:
            pd.DataFrame([{"id": r["id"], "text": r["text"], "label": cell_label(pool, r["labels"], "csv")} for r in rows],
                         columns=["id", "text", "label"]).to_csv(handle, index=False)
