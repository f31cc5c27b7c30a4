"""The HTTP service: `POST /predict`, `GET /health`, `GET /labels`, OpenAPI docs at `/docs`.

Concurrent requests are micro-batched: an asyncio queue gathers them for up to `max_wait_ms` or
`max_batch` texts, one model call runs in a worker thread, and each request's future gets its
slice of the result. Oversized bodies, too many texts and overlong texts are refused with 413
before they reach the model; malformed JSON gets 422 from the request schema. On shutdown the
server stops accepting connections, answers what is queued, then exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .predict import applied_thresholds, chunk_logits


@dataclass(frozen=True)
class ServiceConfig:
    """Request limits and batching; every field is a `textclf serve` option."""

    max_body_bytes: int = 1_000_000
    max_texts: int = 256  # texts per request
    max_text_chars: int = 20_000
    max_batch: int = 64  # texts per model call, across requests
    max_wait_ms: float = 5.0  # how long the first queued request waits for company
    batch_size: int = 64  # texts per forward pass inside one model call (length-sorted)


# -- schemas -------------------------------------------------------------------------------------
class PredictRequest(BaseModel):
    """Either `text` (one) or `texts` (many)."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, min_length=1, examples=["a gripping, beautifully shot film"])
    texts: list[str] | None = Field(None, min_length=1, examples=[["a gripping film", "a dull mess"]])

    @model_validator(mode="after")
    def _exactly_one(self) -> PredictRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError('give exactly one of "text" or "texts"')
        if self.texts is not None and any(not t.strip() for t in self.texts):
            raise ValueError("texts must not be empty")
        if self.text is not None and not self.text.strip():
            raise ValueError("text must not be empty")
        return self

    def as_list(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts)


class Prediction(BaseModel):
    label: str | list[str]
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[Prediction]


# -- model call ----------------------------------------------------------------------------------
def prediction_records(clf, texts: Sequence[str], batch_size: int = 64,
                       logits_fn: Callable | None = None) -> list[dict]:
    """[{label, probabilities}] for `texts`, in order: exactly what `clf.predict` decides."""
    logits = chunk_logits(logits_fn or clf.logits, list(texts), batch_size)
    probs = clf.probabilities_from_logits(logits)
    labels = clf.labels_from_decisions(clf.decide(probs))
    names = clf.label_map.labels
    return [
        {"label": list(label) if clf.multi_label else label,
         "probabilities": {name: float(p) for name, p in zip(names, row)}}
        for label, row in zip(labels, np.asarray(probs))
    ]


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future


@dataclass
class MicroBatcher:
    """Gathers concurrent requests into one model call; `predict` maps texts to one result each."""

    predict: Callable[[list[str]], list[Any]]
    max_batch: int = 64
    max_wait_s: float = 0.005
    requests: int = 0  # counters, for /health
    batches: int = 0
    _queue: asyncio.Queue | None = field(default=None, repr=False)
    _task: asyncio.Task | None = field(default=None, repr=False)
    _closing: bool = False

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._loop())

    async def submit(self, texts: list[str]) -> list[Any]:
        if self._queue is None or self._closing:
            raise RuntimeError("the service is shutting down")
        future = asyncio.get_running_loop().create_future()
        self.requests += 1
        await self._queue.put(_Pending(texts, future))
        return await future

    async def stop(self) -> None:
        """Answer everything already queued, then end the loop."""
        self._closing = True
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
                # Poll rather than wait_for(queue.get()): cancelling a get can drop an item on 3.11.
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closing:  # shutting down: answer now, wait for no one
                    break
                await asyncio.sleep(min(0.001, remaining))
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
                for _ in batch:
                    self._queue.task_done()


# -- body size guard -----------------------------------------------------------------------------
class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`, declared or streamed."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(receive, send)
        chunks, total = [], 0
        while True:  # read (at most max_bytes of) the body, then replay it to the app
            message = await receive()
            if message["type"] != "http.request":
                break
            total += len(message.get("body", b""))
            if total > self.max_bytes:
                return await self._refuse(receive, send, more_body=message.get("more_body", False))
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, receive, send, more_body: bool = True) -> None:
        # Closing with an unread body in the socket makes the kernel send a reset, and the client
        # sees "connection reset" instead of the 413: read and discard a bounded amount first.
        drained = 0
        while more_body and drained <= 16 * self.max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                break
            drained += len(message.get("body", b""))
            more_body = message.get("more_body", False)
        detail = f'{{"detail":"request body over {self.max_bytes} bytes"}}'.encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": detail})


# -- the app -------------------------------------------------------------------------------------
def create_app(clf, config: ServiceConfig = ServiceConfig(), model_name: str = "model",
               logits_fn: Callable | None = None):
    """A FastAPI app serving `clf` (a loaded TextClassifier); `logits_fn` swaps the backend."""
    from fastapi import FastAPI, HTTPException

    batcher = MicroBatcher(
        predict=lambda texts: prediction_records(clf, texts, config.batch_size, logits_fn),
        max_batch=config.max_batch, max_wait_s=config.max_wait_ms / 1000.0,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="textclf", summary=f"text classifier {model_name}", lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.state.batcher = batcher

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "model": model_name, "model_type": clf.model_params.get("type"),
                "requests": batcher.requests, "batches": batcher.batches}

    @app.get("/labels")
    async def labels() -> dict:
        return {"labels": list(clf.label_map.labels), "task": clf.task, "thresholds": applied_thresholds(clf)}

    @app.post("/predict", response_model=PredictResponse)
    async def predict(request: PredictRequest) -> dict:
        texts = request.as_list()
        if len(texts) > config.max_texts:
            raise HTTPException(413, f"{len(texts)} texts in one request; the limit is {config.max_texts}")
        longest = max(len(t) for t in texts)
        if longest > config.max_text_chars:
            raise HTTPException(413, f"a text of {longest} characters; the limit is {config.max_text_chars}")
        return {"predictions": await batcher.submit(texts)}

    return app


def serve(model: str | Path, host: str = "127.0.0.1", port: int = 8000, config: ServiceConfig = ServiceConfig(),
          backend: str = "torch", graceful_timeout_s: float = 10.0) -> None:
    """Load a saved model and serve it until SIGINT/SIGTERM (then finish queued requests)."""
    import uvicorn

    from ..classifier import TextClassifier

    if backend in ("onnx", "onnx-int8"):
        from .onnx_export import load_onnx_classifier

        clf = load_onnx_classifier(model, int8=backend == "onnx-int8")
    else:
        clf = TextClassifier.load(model)
    app = create_app(clf, config, model_name=Path(model).name)
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=graceful_timeout_s, log_level="info")
