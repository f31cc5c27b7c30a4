"""One labelling (or review) session: the pool, the journal, the model in the loop and the queue.

The page's requests only read state and append to the journal under a short lock; refits run in
a background thread every `refit_every` answers and swap their results in when done, so the page
never waits for a model."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..errors import DataError
from . import learner, strategies
from .journal import Event, Journal, current_answers, last_undoable
from .pool import Pool

HISTORY = 20
Mode = Literal["label", "review"]
POSITIVE_KINDS = ("label", "keep", "relabel")
# the answers each mode can apply: a review decision in a label session (or the reverse) has no
# meaning there, and recording it would leave an item with no label to write
MODE_KINDS: dict[str, tuple[str, ...]] = {"label": ("label", "skip"), "review": ("keep", "relabel", "drop")}


@dataclass(frozen=True)
class SessionSettings:
    mode: Mode = "label"
    clusters: int = 20  # k-means clusters for the cold start and the diversity of each batch
    refit_every: int = 5  # answers between two background refits
    batch: int = 10  # items planned per refit
    keywords: tuple[str, ...] = ()  # seed keywords: texts containing them are asked first
    annotator: str = "annotator"
    lease_s: float = 300.0  # an item shown in one tab is not shown in another for this long
    seed: int = 0


@dataclass
class ModelState:
    probabilities: np.ndarray | None = None
    score: learner.Score | None = None
    fitted_on: int = 0
    curve: list[tuple[int, float, float | None, float | None]] = field(default_factory=list)


class LabelSession:
    def __init__(self, pool: Pool, journal: Journal, vectors: np.ndarray | None, settings: SessionSettings,
                 write_output: Callable[[LabelSession], None] | None = None, order: list[int] | None = None) -> None:
        """`order`: the rows to ask, in order (review); else the cold start plans them."""
        self.pool, self.journal, self.vectors, self.settings = pool, journal, vectors, settings
        self.write_output = write_output
        self.suggested: list[tuple[str, ...] | None] = [None] * len(pool.texts)  # review: the model's label
        self.confidence: list[float | None] = [None] * len(pool.texts)
        self._lock = threading.RLock()
        self._events: list[Event] = journal.events()
        check_replay(self._events, pool, settings.mode, journal.path)
        self._standing = current_answers(self._events)
        self._leases: dict[int, tuple[str, float]] = {}
        self._front: list[int] = []  # asked before the queue: undone items, "more like this"
        self.model = ModelState(curve=journal.curve())
        self._since_fit = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        if vectors is not None:
            self.assignments, self.centres = strategies.cluster_pool(vectors, settings.clusters, settings.seed)
        self._queue = list(order) if order is not None else self._cold_start()

    # -- background refits ----------------------------------------------------------------------
    def start(self) -> None:
        self._worker = threading.Thread(target=self._refit_loop, name="textclf-refit", daemon=True)
        self._worker.start()
        self._wake.set()  # a resumed session fits at once

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=30)
        self.flush()

    def flush(self) -> None:
        if self.write_output is not None:
            self.write_output(self)

    def _refit_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.refit()
                self.flush()
            except Exception as err:  # the page keeps working on the last model; say why once
                print(f"textclf label: refit failed: {err}", flush=True)

    def refit(self) -> None:
        """Fit on the labels so far, score them by cross-validation, plan the next batch."""
        if self.vectors is None or self.settings.mode != "label":
            return
        with self._lock:
            rows, targets = self.training_rows()
        probs = learner.fit_predict(self.vectors, rows, targets, len(self.pool.labels), self.pool.multi_label)
        score = learner.cross_validated_f1(self.vectors, rows, targets, len(self.pool.labels),
                                           self.pool.multi_label, seed=self.settings.seed)
        if score is not None:
            self.journal.record_curve(score.labels, score.f1, score.low, score.high)
        with self._lock:
            self.model.probabilities, self.model.fitted_on = probs, len(rows)
            if score is not None:
                self.model.score = score
                self.model.curve = self.journal.curve()
            if probs is not None:
                self._queue = strategies.next_batch(probs, self.assignments, self.pending(),
                                                    self.settings.batch, self.pool.multi_label)

    def training_rows(self) -> tuple[list[int], np.ndarray]:
        """Pool rows with a standing label (seed rows included) and their targets."""
        rows, labels = [], []
        for i, given in enumerate(self.pool.given):
            answer = self._standing.get(self.pool.ids[i])
            if answer is not None and answer.kind in POSITIVE_KINDS:
                rows.append(i)
                labels.append(answer.labels if answer.labels is not None else given)  # () is an answer
            elif answer is None and not self.pool.asked[i] and given is not None:
                rows.append(i)
                labels.append(given)
        names = {name: k for k, name in enumerate(self.pool.labels)}
        if self.pool.multi_label:
            targets = np.zeros((len(rows), len(names)), dtype=int)
            for r, label in enumerate(labels):
                targets[r, [names[x] for x in label]] = 1
            return rows, targets
        return rows, np.array([names[label[0]] for label in labels], dtype=int)

    # -- the queue ------------------------------------------------------------------------------
    def _cold_start(self) -> list[int]:
        asked = [i for i in range(len(self.pool.texts)) if self.pool.asked[i]]
        keyword = strategies.keyword_rows(self.pool.texts, self.settings.keywords, len(asked))
        keyword = [i for i in keyword if self.pool.asked[i]]
        if self.vectors is None:
            return keyword + [i for i in asked if i not in set(keyword)]
        excluded = set(keyword) | {i for i in range(len(self.pool.texts)) if not self.pool.asked[i]}
        diverse = strategies.diverse_start(self.vectors, self.assignments, self.centres,
                                           max(self.settings.clusters, self.settings.batch), excluded)
        return keyword + diverse

    def pending(self) -> list[int]:
        return [i for i, item in enumerate(self.pool.ids) if self.pool.asked[i] and item not in self._standing]

    def _free(self, row: int, client: str, now: float) -> bool:
        if self.pool.ids[row] in self._standing or not self.pool.asked[row]:
            return False
        lease = self._leases.get(row)
        return lease is None or lease[0] == client or lease[1] < now

    def next_row(self, client: str) -> int | None:
        """The item this tab should show: the one it holds, else the next free one."""
        with self._lock:
            now = time.time()
            held = [r for r, (owner, until) in self._leases.items()
                    if owner == client and until >= now and self._free(r, client, now)]
            if held:
                return held[0]
            for source in (self._front, self._queue):
                while source:
                    row = source.pop(0)
                    if self._free(row, client, now):
                        return self._lease(row, client, now)
            free = [r for r in self.pending() if self._free(r, client, now)]
            if not free:
                return None
            if self.model.probabilities is not None:
                free = strategies.next_batch(self.model.probabilities, self.assignments, free, 1,
                                             self.pool.multi_label) or free
            return self._lease(free[0], client, now)

    def _lease(self, row: int, client: str, now: float) -> int:
        self._leases = {r: v for r, v in self._leases.items() if v[0] != client}
        self._leases[row] = (client, now + self.settings.lease_s)
        return row

    def more_like(self, item: str, count: int = 10) -> list[str]:
        """Ask next the unlabelled texts nearest to `item` (to find more of a rare class)."""
        row = self._row(item)
        if self.vectors is None:
            return []
        with self._lock:
            rows = strategies.more_like(self.vectors, row, self.pending(), count)
            self._front = rows + [r for r in self._front if r not in rows]
            return [self.pool.ids[r] for r in rows]

    # -- answers --------------------------------------------------------------------------------
    def _row(self, item: str) -> int:
        if item not in self.pool.index:
            raise DataError(f"unknown item id {item!r}")
        return self.pool.index[item]

    def answer(self, client: str, seq: int, item: str, kind: str, labels=None, reason: str | None = None,
               annotator: str | None = None) -> tuple[Event, bool]:
        """Record an answer (idempotent on (client, seq)); it is durable when this returns."""
        row = self._row(item)
        check_kind(kind, self.settings.mode)
        if kind in ("label", "relabel"):
            if labels is None:  # an empty list is an answer in multi-label ("none of these"); None never
                raise DataError(f"item {item}: a {kind} answer needs labels")
            labels = self.pool.check_labels(list(labels), f"item {item}")
        else:
            labels = self.pool.given[row] if kind == "keep" else None
        with self._lock:
            event, created = self.journal.append(client, seq, item, kind, labels, annotator or self.settings.annotator,
                                                 reason=reason or self.pool.reasons[row])
            if created:
                self._applied(event)
                self._leases.pop(row, None)
        return event, created

    def undo(self, client: str, seq: int) -> Event | None:
        """Take back this tab's last standing answer; its item is shown again next."""
        with self._lock:
            target = last_undoable(self._events, client)
            if target is None:
                return None
            event, created = self.journal.append(client, seq, target.item, "undo", annotator=target.annotator,
                                                 target=target.id)
            if created:
                self._applied(event)
                row = self.pool.index[target.item]
                if target.item not in self._standing:
                    self._lease(row, client, time.time())
            return event

    def _applied(self, event: Event) -> None:
        self._events.append(event)
        self._standing = current_answers(self._events)
        self._since_fit += 1
        if self._since_fit >= self.settings.refit_every:
            self._since_fit = 0
            self._wake.set()

    # -- what the page shows --------------------------------------------------------------------
    def suggestion(self, row: int) -> tuple[tuple[str, ...] | None, float | None]:
        if self.settings.mode == "review":
            return self.suggested[row], self.confidence[row]
        probs = self.model.probabilities
        if probs is None:
            return None, None
        p = probs[row]
        if self.pool.multi_label:
            picked = tuple(self.pool.labels[k] for k in np.flatnonzero(p >= 0.5))
            return picked, float(np.abs(p - 0.5).min() * 2)
        return (self.pool.labels[int(np.argmax(p))],), float(p.max())

    def standing(self) -> dict[str, Event]:
        with self._lock:
            return dict(self._standing)

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows, targets = self.training_rows()
        if self.pool.multi_label:
            totals = targets.sum(axis=0) if len(rows) else np.zeros(len(self.pool.labels), dtype=int)
        else:
            totals = np.bincount(targets, minlength=len(self.pool.labels))
        return {name: int(c) for name, c in zip(self.pool.labels, totals)}

    def history(self) -> list[dict]:
        with self._lock:
            latest = sorted(self._standing.values(), key=lambda e: -e.id)[:HISTORY]
        return [{"item": e.item, "kind": e.kind, "labels": list(e.labels or ()), "annotator": e.annotator,
                 "text": self.pool.texts[self.pool.index[e.item]][:160]} for e in latest]

    def progress(self) -> dict:
        with self._lock:
            decided = Counter(e.kind for e in self._standing.values())
            curve = [(n, f) for n, f, _, _ in self.model.curve]
            score = self.model.score
        return {"answered": sum(decided.values()), "kinds": dict(decided),
                "remaining": len(self.pending()), "total": sum(self.pool.asked),
                "f1": None if score is None else {"value": score.f1, "low": score.low, "high": score.high,
                                                  "labels": score.labels},
                "curve": [[n, round(f, 4)] for n, f in curve],
                "gain_next_100": learner.power_law_gain(curve)}


def check_kind(kind: str, mode: str) -> None:
    if kind not in MODE_KINDS[mode]:
        raise DataError(f"answer kind {kind!r} is not one of {mode}'s: {', '.join(MODE_KINDS[mode])}")


def check_replay(events: list[Event], pool: Pool, mode: str, path) -> None:
    """Refuse, in one line naming the stored event, a journal this session cannot apply (an answer
    of the other mode, an unknown item or label, an undo of nothing): replaying it would crash the
    page and the outputs later, or silently drop the answer."""
    ids = {e.id for e in events}
    for event in events:
        try:
            _check_event(event, pool, mode, ids)
        except DataError as err:
            raise DataError(f"{path}, event {event.id} (table events): cannot replay it: {err}; resume with "
                            f"another -o, or remove it: sqlite3 {path} 'DELETE FROM events WHERE id={event.id}'") from None


def _check_event(event: Event, pool: Pool, mode: str, ids: set[int]) -> None:
    if event.kind == "undo":
        if event.target not in ids:
            raise DataError(f"an undo of event {event.target}, which is not in the journal")
        return
    check_kind(event.kind, mode)
    if event.item not in pool.index:
        raise DataError(f"unknown item id {event.item!r}")
    if event.kind in ("label", "relabel"):
        if event.labels is None:
            raise DataError(f"a {event.kind} answer without labels")
        pool.check_labels(list(event.labels), f"item {event.item}")
