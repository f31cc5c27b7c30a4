"""The HTTP service: `POST /predict`, `GET /health`, `GET /ready`, `GET /labels`, `GET /docs`.

Concurrent requests are micro-batched: an asyncio queue gathers them for up to `max_wait_ms` or
`max_batch` texts, one model call runs in a worker thread, and each request's future gets its
slice of the result. On shutdown the server stops accepting connections, answers what is queued,
then exits.

Every client-side problem gets a 4xx, before it reaches the model: a body over `max_body_bytes`
413 (declared or streamed), a body that does not arrive within `body_timeout_s` 408, too many or
overlong texts 413, malformed JSON or a request that breaks the schema 422 (lone surrogates
included). Error bodies quote at most `echo_chars` characters of what was sent. The queue is
bounded: when `max_queue_texts` texts or `max_queue_chars` characters are already waiting, a
request gets 503 with `Retry-After` instead of an unbounded wait. `/health` is liveness (the
process answers); `/ready` is readiness (model loaded, batcher running, queue not full).
`/docs` is a small self-contained page (no CDN assets, so it works offline) listing the endpoints
and linking the OpenAPI schema at `/openapi.json`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import html
import json
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import DataError
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
    body_timeout_s: float = 10.0  # the whole request body must arrive within this; else 408
    max_queue_texts: int = 1024  # texts waiting or being predicted; more get 503 + Retry-After
    max_queue_chars: int = 2_000_000  # characters waiting or being predicted; more get 503
    retry_after_s: int = 1  # the Retry-After header of a 503
    echo_chars: int = 80  # error bodies quote at most this many characters of the request


# -- schemas -------------------------------------------------------------------------------------
def _check_text(text: str, what: str) -> None:
    if not text.strip():
        raise ValueError(f"{what} must not be empty")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:  # "\ud800" in JSON decodes to a str that is not Unicode text
        raise ValueError(f"{what} holds a lone surrogate at character {err.start} (not valid Unicode)") from None


class PredictRequest(BaseModel):
    """Either `text` (one) or `texts` (many)."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, min_length=1, examples=["a gripping, beautifully shot film"])
    texts: list[str] | None = Field(None, min_length=1, examples=[["a gripping film", "a dull mess"]])

    @model_validator(mode="after")
    def _exactly_one(self) -> PredictRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError('give exactly one of "text" or "texts"')
        if self.text is not None:
            _check_text(self.text, "text")
        for i, text in enumerate(self.texts or []):
            _check_text(text, f"texts[{i}]")
        return self

    def as_list(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts)


class Prediction(BaseModel):
    label: str | list[str]
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[Prediction]


# -- error bodies --------------------------------------------------------------------------------
def short(value: Any, limit: int = 80) -> str:
    """At most `limit` characters of `value` (a string, or the JSON of anything else), safe to
    encode as UTF-8 (lone surrogates become escapes), with the full length noted when cut."""
    if not isinstance(value, str):
        try:
            value = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            value = repr(value)
    cut = value[:limit] + (f"... ({len(value)} characters)" if len(value) > limit else "")
    return cut.encode("utf-8", "backslashreplace").decode("utf-8")


def validation_errors(errors: Sequence[dict], limit: int = 80) -> list[dict]:
    """FastAPI/pydantic validation errors with every echoed value cut to `limit` characters."""
    out = []
    for error in list(errors)[:20]:
        item = {"loc": [short(part, limit) if isinstance(part, str) else part for part in error.get("loc", ())],
                "msg": short(error.get("msg", ""), 4 * limit), "type": short(error.get("type", ""), limit)}
        if "input" in error:
            item["input"] = short(error["input"], limit)
        out.append(item)
    return out


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
    _closing: bool = False

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._loop())

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
                for item in batch:
                    self.queued_texts -= len(item.texts)
                    self.queued_chars -= item.chars
                    self._queue.task_done()


# -- body guard ----------------------------------------------------------------------------------
class _BodyTimeout(Exception):
    pass


class BodyGuard:
    """ASGI middleware: 413 for a request body over `max_bytes` (declared or streamed), 408 for a
    body that has not fully arrived `timeout_s` after the request started."""

    def __init__(self, app, max_bytes: int, timeout_s: float = 10.0) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s

        async def timed_receive(until: float):
            remaining = until - loop.time()
            if remaining <= 0:
                raise _BodyTimeout
            try:
                return await asyncio.wait_for(receive(), remaining)
            except asyncio.TimeoutError:
                raise _BodyTimeout from None

        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(timed_receive, send, deadline)
        chunks, total = [], 0
        try:
            while True:  # read (at most max_bytes of) the body, then replay it to the app
                message = await timed_receive(deadline)
                if message["type"] != "http.request":
                    break
                total += len(message.get("body", b""))
                if total > self.max_bytes:
                    return await self._refuse(timed_receive, send, deadline, message.get("more_body", False))
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except _BodyTimeout:
            return await _send_json(send, 408, {"detail": f"the request body did not arrive within "
                                                          f"{self.timeout_s:g} s"}, close=True)
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, timed_receive, send, deadline: float, more_body: bool = True) -> None:
        # Closing with an unread body in the socket makes the kernel send a reset, and the client
        # sees "connection reset" instead of the 413: read and discard a bounded amount first,
        # for a bounded time (a client that declares a huge body and sends nothing is not waited for).
        drained = 0
        until = min(deadline, asyncio.get_running_loop().time() + 2.0)
        with contextlib.suppress(_BodyTimeout):
            while more_body and drained <= 16 * self.max_bytes:
                message = await timed_receive(until)
                if message["type"] != "http.request":
                    break
                drained += len(message.get("body", b""))
                more_body = message.get("more_body", False)
        await _send_json(send, 413, {"detail": f"request body over {self.max_bytes} bytes"}, close=True)


BodyLimit = BodyGuard  # the earlier name


async def _send_json(send, status: int, body: dict, close: bool = False, headers: Sequence = ()) -> None:
    payload = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()), *headers]
    if close:
        head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": payload})


# -- the docs page -------------------------------------------------------------------------------
def docs_page(app, model_name: str) -> str:
    """A self-contained HTML page: the endpoints with their summaries and a link to the schema."""
    rows = []
    for path, methods in app.openapi().get("paths", {}).items():
        for method, operation in methods.items():
            summary = operation.get("summary") or ""
            description = (operation.get("description") or "").strip().split("\n\n")[0]
            rows.append(f"<tr><td><code>{html.escape(method.upper())}</code></td><td><code>{html.escape(path)}"
                        f"</code></td><td>{html.escape(summary)}<br><small>{html.escape(description)}</small></td></tr>")
    example = html.escape("curl -s -X POST http://HOST:PORT/predict -H 'content-type: application/json' "
                          "-d '{\"texts\": [\"a gripping film\", \"a dull mess\"]}'")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>textclf: {html.escape(model_name)}</title>
<style>body{{font-family:sans-serif;max-width:56em;margin:2em auto;padding:0 1em}}
td{{padding:.3em .8em;vertical-align:top;border-bottom:1px solid #ddd}}code{{background:#f4f4f4}}</style>
</head><body>
<h1>textclf service: {html.escape(model_name)}</h1>
<p>The machine-readable schema is at <a href="/openapi.json">/openapi.json</a> (load it into any
OpenAPI viewer). This page needs no network access.</p>
<table>{''.join(rows)}</table>
<h2>Example</h2><pre>{example}</pre>
<p>Errors: 413 body or texts too large, 408 body too slow, 422 malformed request,
503 busy (see <code>Retry-After</code>) or not ready.</p>
</body></html>
"""


# -- the app -------------------------------------------------------------------------------------
def create_app(clf, config: ServiceConfig = ServiceConfig(), model_name: str = "model",
               logits_fn: Callable | None = None):
    """A FastAPI app serving `clf` (a loaded TextClassifier); `logits_fn` swaps the backend."""
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse

    batcher = MicroBatcher(
        predict=lambda texts: prediction_records(clf, texts, config.batch_size, logits_fn),
        max_batch=config.max_batch, max_wait_s=config.max_wait_ms / 1000.0,
        max_queue_texts=config.max_queue_texts, max_queue_chars=config.max_queue_chars,
    )
    retry = {"Retry-After": str(max(1, int(config.retry_after_s)))}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="textclf", summary=f"text classifier {model_name}", lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.add_middleware(BodyGuard, max_bytes=config.max_body_bytes, timeout_s=config.body_timeout_s)
    app.state.batcher = batcher

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": validation_errors(exc.errors(), config.echo_chars)}, status_code=422)

    def check_limits(texts: list[str]) -> None:
        if len(texts) > config.max_texts:
            raise HTTPException(413, f"{len(texts)} texts in one request; the limit is {config.max_texts}")
        longest = max(len(t) for t in texts)
        if longest > config.max_text_chars:
            raise HTTPException(413, f"a text of {longest} characters; the limit is {config.max_text_chars}")

    @app.get("/health", summary="liveness: the process answers")
    async def health() -> dict:
        return {"status": "ok", "model": model_name, "model_type": clf.model_params.get("type"),
                "requests": batcher.requests, "batches": batcher.batches, "rejected": batcher.rejected,
                "queued_texts": batcher.queued_texts}

    @app.get("/ready", summary="readiness: model loaded, batcher running, queue not full (else 503)")
    async def ready():
        if not batcher.running:
            return JSONResponse({"status": "not ready", "reason": "the batcher is not running"}, status_code=503)
        if batcher.full:
            return JSONResponse({"status": "busy", "queued_texts": batcher.queued_texts}, status_code=503,
                                headers=retry)
        return JSONResponse({"status": "ready", "model": model_name})

    @app.get("/labels", summary="the classes, the task and the decision thresholds")
    async def labels() -> dict:
        return {"labels": list(clf.label_map.labels), "task": clf.task, "thresholds": applied_thresholds(clf)}

    @app.post("/predict", response_model=PredictResponse, summary="labels and probabilities for texts",
              responses={408: {}, 413: {}, 503: {}})
    async def predict(request: PredictRequest):
        texts = request.as_list()
        check_limits(texts)
        try:
            return {"predictions": await batcher.submit(texts)}
        except Busy as err:
            return JSONResponse({"detail": str(err)}, status_code=503, headers=retry)

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    async def docs():
        return HTMLResponse(docs_page(app, model_name))

    return app


# -- serving -------------------------------------------------------------------------------------
def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or a one-line DataError saying why not (busy, not allowed)."""
    where = f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError, OverflowError) as err:
        raise DataError(f"{where}: cannot use this address ({err})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # what uvicorn does; a listener still blocks it
        sock.bind(address)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise DataError(f"{where} is already in use") from None
        if err.errno == errno.EACCES:
            raise DataError(f"{where}: permission denied (ports below 1024 need privileges)") from None
        raise DataError(f"{where}: cannot listen here ({err.strerror or err})") from None
    return sock


def serve(model: str | Path, host: str = "127.0.0.1", port: int = 8000, config: ServiceConfig = ServiceConfig(),
          backend: str = "torch", graceful_timeout_s: float = 10.0) -> None:
    """Load a saved model and serve it until SIGINT/SIGTERM (then finish queued requests).
    The port is taken before the model is loaded: a busy port is one line, at once."""
    import uvicorn

    from ..classifier import TextClassifier

    sock = bind_socket(host, port)
    try:
        if backend in ("onnx", "onnx-int8"):
            from .onnx_export import load_onnx_classifier

            clf = load_onnx_classifier(model, int8=backend == "onnx-int8")
        else:
            clf = TextClassifier.load(model)
        app = create_app(clf, config, model_name=Path(model).name)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info",
                                               timeout_graceful_shutdown=graceful_timeout_s))
        server.run(sockets=[sock])
    finally:
        sock.close()
