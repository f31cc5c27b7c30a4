"""Micro-batching for the HTTP service: concurrent requests share one model call, and the load
the queue holds is bounded (beyond it, `Busy`: the service answers 503 + Retry-After).

Shutdown is two steps: `close()` (at SIGTERM, before the server waits for in-flight requests)
stops waiting out batching windows, so everything queued is predicted at once, and refuses new
work with `Busy`; `stop()` (at the end) answers what is still queued and ends the loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Busy(Exception):
    """The queue is full (or the service is shutting down): answer 503 with Retry-After."""


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future
    chars: int = 0


@dataclass
class MicroBatcher:
    """Gathers concurrent requests into one model call; `predict` maps texts to one result each.

    The load it holds (texts and characters waiting or being predicted) is bounded by
    `max_queue_texts` / `max_queue_chars`: `submit` raises `Busy` beyond them, except when nothing
    is queued (a request within the per-request limits is always accepted by an idle service)."""

    predict: Callable[[list[str]], list[Any]]
    max_batch: int = 64
    max_wait_s: float = 0.005
    max_queue_texts: int | None = None
    max_queue_chars: int | None = None
    requests: int = 0  # counters, for /health
    batches: int = 0
    rejected: int = 0
    queued_texts: int = 0  # texts waiting or being predicted now
    queued_chars: int = 0
    _queue: asyncio.Queue | None = field(default=None, repr=False)
    _task: asyncio.Task | None = field(default=None, repr=False)
    _wake: asyncio.Event | None = field(default=None, repr=False)  # set when an item arrives or on close
    _closing: bool = False

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.create_task(self._loop())

    @property
    def closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Begin shutting down: queued work is predicted now (no batching window is waited out)
        and `submit` raises `Busy`. Idempotent; call from the event loop's thread."""
        self._closing = True
        if self._wake is not None:
            self._wake.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self._closing

    @property
    def full(self) -> bool:
        return ((self.max_queue_texts is not None and self.queued_texts >= self.max_queue_texts)
                or (self.max_queue_chars is not None and self.queued_chars >= self.max_queue_chars))

    def _admit(self, texts: list[str], chars: int) -> None:
        if not self.queued_texts:
            return
        if ((self.max_queue_texts is not None and self.queued_texts + len(texts) > self.max_queue_texts)
                or (self.max_queue_chars is not None and self.queued_chars + chars > self.max_queue_chars)):
            self.rejected += 1
            raise Busy(f"the service is busy ({self.queued_texts} texts queued); retry later")

    async def submit(self, texts: list[str]) -> list[Any]:
        if self._queue is None or self._closing:
            raise Busy("the service is shutting down")
        chars = sum(len(t) for t in texts)
        self._admit(texts, chars)
        future = asyncio.get_running_loop().create_future()
        self.requests += 1
        self.queued_texts += len(texts)
        self.queued_chars += chars
        self._queue.put_nowait(_Pending(texts, future, chars))
        self._wake.set()
        return await future

    async def stop(self) -> None:
        """Answer everything already queued, then end the loop."""
        self.close()
        if self._queue is not None:
            await self._queue.join()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _gather(self) -> list[_Pending]:
        first = await self._queue.get()
        batch, size = [first], len(first.texts)
        deadline = time.monotonic() + self.max_wait_s
        while size < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                # Wait on an event rather than wait_for(queue.get()): cancelling a get can drop an
                # item on 3.11; a timed-out event wait drops nothing.
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closing:  # shutting down: answer now, wait for no one
                    break
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), remaining)
                continue
            batch.append(item)
            size += len(item.texts)
        return batch

    async def _loop(self) -> None:
        while True:
            batch = await self._gather()
            texts = [t for item in batch for t in item.texts]
            try:
                results = await asyncio.to_thread(self.predict, texts)
                self.batches += 1
                start = 0
                for item in batch:
                    if not item.future.done():
                        item.future.set_result(results[start:start + len(item.texts)])
                    start += len(item.texts)
            except Exception as err:  # the model failed: every waiting request hears about it
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(err)
            finally:
                for item in batch:
                    self.queued_texts -= len(item.texts)
                    self.queued_chars -= item.chars
                    self._queue.task_done()
