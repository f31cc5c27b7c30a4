"""The HTTP service: `POST /predict`, `POST /explain`, `GET /health`, `/ready`, `/labels`, `/docs`.

Concurrent requests are micro-batched: an asyncio queue gathers them for up to `max_wait_ms` or
`max_batch` texts, one model call runs in a worker thread, and each request's future gets its
slice of the result. At SIGTERM/SIGINT the server stops accepting connections, the batcher stops
waiting out batching windows (what is queued is predicted at once and answered 200), a request
that still reaches the app gets 503, and what is in flight has `shutdown_grace_s` to finish.

Connections are guarded below HTTP (`guards.guarded_protocol`): a request head must arrive within
`header_timeout_s` of its first byte (else 408 and close), a connection with nothing in flight is
closed after `idle_timeout_s` of silence (new connections included), heads over
`max_header_bytes` get 431, and past `max_connections` an idle connection is closed to make room
(else the new one gets 503).

Every client-side problem gets a 4xx, before it reaches the model (`guards.RequestGuard`, then
the schemas): no or a wrong `Authorization: Bearer <api_key>` 401 when a key is set (`/health`
and `/ready` stay open), a POST body not sent as JSON 415, a body over `max_body_bytes` 413
(declared or streamed), a body that does not arrive within `body_timeout_s` 408, too many or
overlong texts 413 (for `/explain` also more than `explain_max_texts` texts or
`explain_max_chars` characters), malformed JSON or a request that breaks the schema 422 (lone
surrogates included). Error bodies quote at most `echo_chars` characters of what was sent. The
queue is bounded: when `max_queue_texts` texts or `max_queue_chars` characters are already
waiting, a request gets 503 with `Retry-After` instead of an unbounded wait. `/health` is
liveness (the process answers); `/ready` is readiness (model loaded, batcher running, queue not
full). `/docs` is a small self-contained page (no CDN assets, so it works offline) listing the
endpoints and linking the OpenAPI schema at `/openapi.json`.
"""

from __future__ import annotations

import contextlib
import html
import ipaddress
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import TextclfError
from .batcher import Busy, MicroBatcher
from .guards import BodyGuard, RequestGuard, bind_socket, guarded_protocol, short, validation_errors
from .http_explain import add_explain
from .loading import load_for_inference
from .predict import applied_thresholds, chunk_logits
from .schemas import ExplainRequest, Prediction, PredictRequest, PredictResponse  # noqa: F401 - the API's schemas
from .service_config import ServiceConfig

BodyLimit = BodyGuard  # the earlier name
__all__ = ["Busy", "BodyGuard", "BodyLimit", "MicroBatcher", "RequestGuard", "ServiceConfig", "bind_socket",
           "create_app", "exposure_warning", "prediction_records", "serve", "short", "uvicorn_server",
           "validation_errors"]


# -- model call ----------------------------------------------------------------------------------
def prediction_records(clf, texts: Sequence[str], batch_size: int = 64,
                       logits_fn: Callable | None = None) -> list[dict]:
    """[{label, probabilities}] for `texts`, in order: exactly what `clf.predict` decides, labels of
    the type the model was trained on (an integer model answers 1, not "1")."""
    predictions = clf.from_logits(chunk_logits(logits_fn or clf.logits, list(texts), batch_size))
    probs, labels = predictions.probabilities, predictions.labels
    names = clf.label_map.labels
    return [
        {"label": clf.label_map.user_label(label),
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
<p>Errors: 401 missing or wrong API key, 408 request head or body too slow, 413 body, texts or
explanation too large, 415 body not sent as <code>application/json</code>, 422 malformed JSON or a
request that breaks the schema, 431 request head too large, 503 busy (see <code>Retry-After</code>),
not ready or shutting down.</p>
</body></html>
"""


# -- the app -------------------------------------------------------------------------------------
JSON_PATHS = ("/predict", "/explain")  # POST bodies that must be JSON (else 415)
OPEN_PATHS = ("/health", "/ready")  # probes: no API key needed


def create_app(clf, config: ServiceConfig = ServiceConfig(), model_name: str = "model",
               logits_fn: Callable | None = None):
    """A FastAPI app serving `clf` (a loaded TextClassifier); `logits_fn` swaps the backend.
    `config.api_key` is used as given (the TEXTCLF_API_KEY variable is read by `serve`)."""
    from fastapi import FastAPI, HTTPException
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
    app.add_middleware(RequestGuard, max_bytes=config.max_body_bytes, timeout_s=config.body_timeout_s,
                       api_key=config.api_key, open_paths=OPEN_PATHS, json_paths=JSON_PATHS)
    app.state.batcher = batcher
    _add_error_handlers(app, config)

    def check_limits(texts: list[str], max_texts: int = config.max_texts) -> None:
        if len(texts) > max_texts:
            raise HTTPException(413, f"{len(texts)} texts in one request; the limit is {max_texts}")
        longest = max(len(t) for t in texts)
        if longest > config.max_text_chars:
            raise HTTPException(413, f"a text of {longest} characters; the limit is {config.max_text_chars}")

    @app.get("/health", summary="liveness: the process answers (no API key needed)")
    async def health() -> dict:
        return {"status": "ok", "model": model_name, "model_type": clf.model_params.get("type"),
                "requests": batcher.requests, "batches": batcher.batches, "rejected": batcher.rejected,
                "queued_texts": batcher.queued_texts}

    @app.get("/ready", summary="readiness: model loaded, batcher running, queue not full (else 503; "
                               "no API key needed)")
    async def ready():
        if not batcher.running:
            reason = "shutting down" if batcher.closing else "the batcher is not running"
            return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
        if batcher.full:
            return JSONResponse({"status": "busy", "queued_texts": batcher.queued_texts}, status_code=503,
                                headers=retry)
        return JSONResponse({"status": "ready", "model": model_name})

    @app.get("/labels", summary="the classes, the task and the decision thresholds")
    async def labels() -> dict:
        return {"labels": list(clf.label_map.labels), "task": clf.task, "thresholds": applied_thresholds(clf)}

    @app.post("/predict", response_model=PredictResponse, summary="labels and probabilities for texts",
              responses={401: {}, 408: {}, 413: {}, 415: {}, 503: {}})
    async def predict(request: PredictRequest):
        texts = request.as_list()
        check_limits(texts)
        try:
            return {"predictions": await batcher.submit(texts)}
        except Busy as err:
            return JSONResponse({"detail": str(err)}, status_code=503, headers=retry)
        except TextclfError as err:  # the model answered NaN (policy.finite_probabilities): no answer, one line
            return JSONResponse({"detail": short(str(err), 4 * config.echo_chars)}, status_code=500)

    async def docs(request):  # a plain Starlette route: FastAPI would document and validate it
        return HTMLResponse(docs_page(app, model_name, str(request.base_url)))

    app.add_route("/docs", docs, methods=["GET"], include_in_schema=False)

    add_explain(app, clf, config, batcher, model_lock, check_limits)
    return app


def _add_error_handlers(app, config: ServiceConfig) -> None:
    """422 for a request that breaks the schema or is not JSON at all, quoting little of it."""
    from fastapi import Request
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": validation_errors(exc.errors(), config.echo_chars)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400:  # FastAPI could not parse the body (not UTF-8, nested too deep): 422
            return JSONResponse({"detail": [{"loc": ["body"], "msg": "the body is not valid JSON (UTF-8)",
                                             "type": "json_invalid"}]}, status_code=422)
        return await http_exception_handler(request, exc)


# -- serving -------------------------------------------------------------------------------------
def uvicorn_server(app, config: ServiceConfig = ServiceConfig(), log_level: str = "info"):
    """A uvicorn.Server for `app` with the connection guards of `config` (header and idle timeouts,
    the connection cap, the head size limit, the shutdown grace); at SIGTERM/SIGINT it first tells
    the app's batcher to stop waiting out batching windows, then shuts down as uvicorn does
    (stop accepting, finish in-flight requests within `shutdown_grace_s`, lifespan end)."""
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets=None) -> None:
            batcher = getattr(getattr(app, "state", None), "batcher", None)
            if batcher is not None:
                batcher.close()  # queued work is predicted now; new requests get 503
            await super().shutdown(sockets)

    protocol = guarded_protocol(config.header_timeout_s, config.max_connections, config.retry_after_s,
                                config.max_header_bytes)
    return Server(uvicorn.Config(app, host=config.host, port=config.port, log_level=log_level, http=protocol,
                                 timeout_keep_alive=config.idle_timeout_s,
                                 h11_max_incomplete_event_size=config.max_header_bytes,
                                 timeout_graceful_shutdown=config.shutdown_grace_s))


def exposure_warning(address: str, api_key: str | None, port: int | None = None) -> str | None:
    """The one-line warning for serving a non-loopback address without an API key (else None)."""
    if api_key:
        return None
    try:
        if ipaddress.ip_address(address.split("%")[0]).is_loopback:
            return None
    except ValueError:  # not an IP address: a host name, warn (it resolved to something else)
        pass
    where = address if port is None else f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    return (f"textclf: warning: serving {where} without an API key: anyone who can reach it can use the "
            f"model (set TEXTCLF_API_KEY or --api-key)")


def load_model(model: str | Path, backend: str = "torch", device: str = "auto"):
    """The classifier to serve, its inference device chosen now (torch backend; the ONNX backends
    run on ONNX Runtime's CPU provider)."""
    if backend == "torch":
        from ..classifier import TextClassifier

        return TextClassifier.load(model, device=device)
    return load_for_inference(model, backend)


def serve(model: str | Path, host: str | None = None, port: int | None = None,
          config: ServiceConfig = ServiceConfig(), backend: str | None = None,
          graceful_timeout_s: float | None = None) -> None:
    """Load a saved model and serve it until SIGINT/SIGTERM (then answer what is queued, at once,
    within `config.shutdown_grace_s`). `host`, `port`, `backend` and `graceful_timeout_s`, when
    given, override `config`'s; the API key is `config.api_key`, else $TEXTCLF_API_KEY.
    The port is taken before the model is loaded: a busy port is one line, at once."""
    overrides = {name: value for name, value in (("host", host), ("port", port), ("backend", backend),
                                                 ("shutdown_grace_s", graceful_timeout_s)) if value is not None}
    if config.api_key is None and os.environ.get("TEXTCLF_API_KEY"):
        overrides["api_key"] = os.environ["TEXTCLF_API_KEY"]
    config = replace(config, **overrides)
    sock = bind_socket(config.host, config.port)
    try:
        warning = exposure_warning(sock.getsockname()[0], config.api_key, sock.getsockname()[1])
        if warning:
            print(warning, file=sys.stderr, flush=True)
        clf = load_model(model, config.backend, config.device)
        app = create_app(clf, config, model_name=Path(model).name)
        uvicorn_server(app, config).run(sockets=[sock])
    finally:
        sock.close()
