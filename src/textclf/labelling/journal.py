"""The session journal: every answer appended to SQLite (WAL, synchronous=FULL) before the page
moves on, so a killed server resumes with every answer, and answers are idempotent.

An answer carries the item id, the browser tab's client id and that tab's sequence number; the
pair (client, seq) is unique, so a retried or twice-sent request is recorded once. Events are
`label`, `skip` and `undo` (which names the event it takes back); an item's state is its last
event that is not undone, so editing an answer in the history is simply a newer `label` event."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DataError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client TEXT NOT NULL, seq INTEGER NOT NULL, item TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('label', 'skip', 'undo', 'keep', 'relabel', 'drop')),
    labels TEXT, reason TEXT, target INTEGER, annotator TEXT NOT NULL, at REAL NOT NULL,
    UNIQUE (client, seq)
);
CREATE TABLE IF NOT EXISTS curve (labels INTEGER PRIMARY KEY, f1 REAL NOT NULL, low REAL, high REAL);
"""
ANSWER_KINDS = ("label", "skip", "keep", "relabel", "drop")


@dataclass(frozen=True)
class Event:
    id: int
    client: str
    seq: int
    item: str
    kind: str
    labels: tuple[str, ...] | None
    reason: str | None
    target: int | None
    annotator: str
    at: float


class Journal:
    """Append-only answers of one session in one SQLite file. Thread-safe (one connection, a lock)."""

    def __init__(self, path: str | Path, identity: dict) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # the WAL is fsynced at every commit
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as err:
            raise DataError(f"{self.path}: not a labelling journal ({err})") from None
        self._check_identity(identity)

    def _check_identity(self, identity: dict) -> None:
        """A journal belongs to one data set and label set: resuming with other data is refused."""
        wanted = json.dumps(identity, sort_keys=True)
        row = self._db.execute("SELECT value FROM meta WHERE key='identity'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('identity', ?)", (wanted,))
        elif row[0] != wanted:
            found = json.loads(row[0])
            differs = sorted(k for k in set(found) | set(identity) if found.get(k) != identity.get(k))
            raise ConfigError(f"{self.path}: this session journal was started with other "
                              f"{', '.join(differs)}; pass the same ones, or another -o/--output")

    def append(self, client: str, seq: int, item: str, kind: str, labels=None, annotator: str = "",
               reason: str | None = None, target: int | None = None) -> tuple[Event, bool]:
        """Record one event durably; returns (event, created). The same (client, seq) again returns
        the first event and `created=False`, whatever the second request said."""
        with self._lock:
            existing = self._by_client_seq(client, seq)
            if existing is not None:
                return existing, False
            stored = json.dumps(list(labels)) if labels is not None else None
            cursor = self._db.execute(
                "INSERT INTO events (client, seq, item, kind, labels, reason, target, annotator, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (client, int(seq), item, kind, stored, reason, target, annotator, time.time()))
            return self._event(cursor.lastrowid), True

    def _by_client_seq(self, client: str, seq: int) -> Event | None:
        row = self._db.execute("SELECT * FROM events WHERE client=? AND seq=?", (client, int(seq))).fetchone()
        return _to_event(row) if row else None

    def _event(self, event_id: int) -> Event:
        return _to_event(self._db.execute("SELECT * FROM events WHERE id=?", (event_id,)).fetchone())

    def events(self) -> list[Event]:
        with self._lock:
            rows = list(self._db.execute("SELECT * FROM events ORDER BY id"))
        try:
            return [_to_event(r) for r in rows]
        except (ValueError, TypeError) as err:  # a hand-edited or damaged row: one line, never a traceback
            raise DataError(f"{self.path}: a stored event cannot be read ({err}); resume with another -o") from None

    def record_curve(self, labels: int, f1: float, low: float | None, high: float | None) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO curve VALUES (?, ?, ?, ?)", (labels, f1, low, high))

    def curve(self) -> list[tuple[int, float, float | None, float | None]]:
        with self._lock:
            return [tuple(r) for r in self._db.execute("SELECT * FROM curve ORDER BY labels")]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _to_event(row) -> Event:
    event_id, client, seq, item, kind, labels, reason, target, annotator, at = row
    return Event(event_id, client, seq, item, kind, tuple(json.loads(labels)) if labels is not None else None,
                 reason, target, annotator, at)


def current_answers(events: list[Event]) -> dict[str, Event]:
    """item -> its standing answer: the last answer event that no `undo` took back."""
    undone = {e.target for e in events if e.kind == "undo"}
    standing: dict[str, Event] = {}
    for event in events:
        if event.kind in ANSWER_KINDS and event.id not in undone:
            standing[event.item] = event  # a later answer (an edit) replaces an earlier one
    return standing


def last_undoable(events: list[Event], client: str | None = None) -> Event | None:
    """The most recent answer (of `client`, if given) that still stands: what Z takes back."""
    standing = {e.id for e in current_answers(events).values()}
    for event in reversed(events):
        if event.id in standing and (client is None or event.client == client):
            return event
    return None
