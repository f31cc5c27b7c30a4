"""The HTTP service: `POST /predict`, `POST /explain`, `GET /health`, `/ready`, `/labels`, `/docs`.

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
import html
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import DataError, ModelError, TextclfError
from .batcher import Busy, MicroBatcher
from .guards import BodyGuard, bind_socket, short, validation_errors
from .predict import applied_thresholds, chunk_logits

BodyLimit = BodyGuard  # the earlier name
__all__ = ["Busy", "BodyGuard", "BodyLimit", "MicroBatcher", "ServiceConfig", "bind_socket", "create_app",
           "prediction_records", "serve", "short", "validation_errors"]


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
    max_explain_waiting: int = 2  # /explain requests waiting behind the running one; more get 503


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


class ExplainRequest(PredictRequest):
    """`text` or `texts`, plus how many tokens to list and, optionally, the label to explain."""

    top_k: int = Field(10, ge=1, le=100)
    label: str | None = Field(None, max_length=200)


class Prediction(BaseModel):
    label: str | list[str]
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[Prediction]


# -- model call ----------------------------------------------------------------------------------
def prediction_records(clf, texts: Sequence[str], batch_size: int = 64,
                       logits_fn: Callable | None = None) -> list[dict]:
    """[{label, probabilities}] for `texts`, in order: exactly what `clf.predict` decides."""
    predictions = clf.from_logits(chunk_logits(logits_fn or clf.logits, list(texts), batch_size))
    probs, labels = predictions.probabilities, predictions.labels
    names = clf.label_map.labels
    return [
        {"label": list(label) if clf.multi_label else label,
         "probabilities": {name: float(p) for name, p in zip(names, row)}}
        for label, row in zip(labels, np.asarray(probs))
    ]


# -- the docs page -------------------------------------------------------------------------------
def docs_page(app, model_name: str, base_url: str = "http://127.0.0.1:8000/") -> str:
    """A self-contained HTML page: the endpoints with their summaries and a link to the schema."""
    rows = []
    for path, methods in app.openapi().get("paths", {}).items():
        for method, operation in methods.items():
            summary = operation.get("summary") or ""
            description = (operation.get("description") or "").strip().split("\n\n")[0]
            rows.append(f"<tr><td><code>{html.escape(method.upper())}</code></td><td><code>{html.escape(path)}"
                        f"</code></td><td>{html.escape(summary)}<br><small>{html.escape(description)}</small></td></tr>")
    example = html.escape(f"curl -s -X POST {base_url.rstrip('/')}/predict -H 'content-type: application/json' "
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

    model_lock = threading.Lock()  # one model call at a time: explanations hook the network

    def predict_locked(texts: list[str]) -> list[dict]:
        with model_lock:
            return prediction_records(clf, texts, config.batch_size, logits_fn)

    batcher = MicroBatcher(
        predict=predict_locked,
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

    async def docs(request):  # a plain Starlette route: FastAPI would document and validate it
        return HTMLResponse(docs_page(app, model_name, str(request.base_url)))

    app.add_route("/docs", docs, methods=["GET"], include_in_schema=False)

    _add_explain(app, clf, config, batcher, model_lock, check_limits)
    return app


def _add_explain(app, clf, config: ServiceConfig, batcher: MicroBatcher, model_lock: threading.Lock,
                 check_limits: Callable) -> None:
    """POST /explain (analysis.explain) with the limits of /predict; model calls hold `model_lock`,
    as explanations hook the network that predictions run through."""
    from fastapi.responses import JSONResponse

    retry = {"Retry-After": str(max(1, int(config.retry_after_s)))}
    try:
        from ..analysis.explain import explain
    except ImportError:  # pragma: no cover - the analysis module is optional
        return
    explaining = {"now": 0}

    @app.post("/explain", summary="token attributions: why each text gets its label",
              responses={408: {}, 413: {}, 501: {}, 503: {}})
    async def explain_texts(request: ExplainRequest):
        """Same limits as /predict. One explanation runs at a time (with at most
        `max_explain_waiting` waiting); more get 503 + Retry-After."""
        texts = request.as_list()
        check_limits(texts)
        if request.label is not None and request.label not in clf.label_map.labels:
            return JSONResponse({"detail": f"label {short(request.label, config.echo_chars)!r} is not one of the "
                                           f"model's labels"}, status_code=422)
        if not batcher.running:
            return JSONResponse({"detail": "the service is not ready"}, status_code=503, headers=retry)
        if explaining["now"] > config.max_explain_waiting:
            return JSONResponse({"detail": "the service is busy explaining; retry later"}, status_code=503,
                                headers=retry)

        def run() -> list[dict]:
            with model_lock:
                return [e.to_dict() for e in explain(clf, texts, label=request.label, top_k=request.top_k)]

        explaining["now"] += 1
        try:
            return {"explanations": await asyncio.to_thread(run)}
        except DataError as err:
            return JSONResponse({"detail": short(str(err), 4 * config.echo_chars)}, status_code=422)
        except (ModelError, TextclfError) as err:
            return JSONResponse({"detail": short(str(err), 4 * config.echo_chars)}, status_code=501)
        finally:
            explaining["now"] -= 1


# -- serving -------------------------------------------------------------------------------------
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
