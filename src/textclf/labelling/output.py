"""What a labelling session writes: a normal labelled CSV/JSONL that `textclf train` reads (id,
text, label, annotator, labelled_at), rewritten atomically from the journal, and a Label
Studio-compatible JSON export (a list of tasks with one `choices` annotation each)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..errors import ConfigError
from ..fileio import atomic_file
from .pool import MULTI_LABEL_DELIMITER, cell_label
from .session import POSITIVE_KINDS, LabelSession

__all__ = ["MULTI_LABEL_DELIMITER", "LabelledOutput", "label_studio_tasks", "write_label_studio", "write_labelled"]
FORMATS = {".csv": "csv", ".jsonl": "jsonl"}


@dataclass(frozen=True)
class LabelledOutput:
    path: Path
    format: str

    @classmethod
    def of(cls, path: str | Path) -> LabelledOutput:
        path = Path(path)
        if path.suffix.lower() not in FORMATS:
            raise ConfigError(f"-o/--output {path}: write .csv or .jsonl")
        return cls(path, FORMATS[path.suffix.lower()])

    @property
    def journal(self) -> Path:
        return self.path.with_name(self.path.name + ".journal.sqlite")

    @property
    def label_studio(self) -> Path:
        return self.path.with_name(self.path.stem + ".label-studio.json")


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


def labelled_records(session: LabelSession) -> list[dict]:
    """One record per labelled item, in pool order: seed rows, then answers (skips left out)."""
    standing = session.standing()
    records = []
    for i, item in enumerate(session.pool.ids):
        answer = standing.get(item)
        if answer is not None and answer.kind in POSITIVE_KINDS:
            labels, annotator, at = answer.labels, answer.annotator, _iso(answer.at)
        elif answer is None and not session.pool.asked[i] and session.pool.given[i] is not None:
            labels, annotator, at = session.pool.given[i], "seed", ""
        else:
            continue
        records.append({"id": item, "text": session.pool.texts[i], "labels": list(labels),
                        "annotator": annotator, "labelled_at": at})
    return records


def write_labelled(session: LabelSession, output: LabelledOutput) -> int:
    """Replace OUTPUT (atomically) with every labelled item; returns the row count."""
    records = labelled_records(session)
    rows = [{"id": r["id"], "text": r["text"], "label": cell_label(session.pool, r["labels"], output.format),
             "annotator": r["annotator"], "labelled_at": r["labelled_at"]} for r in records]
    frame = pd.DataFrame(rows, columns=["id", "text", "label", "annotator", "labelled_at"])
    with atomic_file(output.path, "w", newline="") as handle:
        if output.format == "csv":
            frame.to_csv(handle, index=False)
        else:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def label_studio_tasks(session: LabelSession) -> list[dict]:
    """Label Studio's import format: tasks with `data.text` and one completed annotation whose
    result is a `choices` value (from_name "label", to_name "text")."""
    tasks = []
    for n, record in enumerate(labelled_records(session), start=1):
        result = {"from_name": "label", "to_name": "text", "type": "choices",
                  "value": {"choices": record["labels"]}}
        tasks.append({"id": n, "data": {"text": record["text"], "item_id": record["id"]},
                      "annotations": [{"result": [result], "completed_by": record["annotator"],
                                       "created_at": record["labelled_at"] or None}]})
    return tasks


def write_label_studio(session: LabelSession, path: Path) -> None:
    with atomic_file(path, "w") as handle:
        json.dump(label_studio_tasks(session), handle, ensure_ascii=False, indent=1)
