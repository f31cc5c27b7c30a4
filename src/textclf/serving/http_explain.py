"""POST /explain: token attributions for texts (analysis.explain), with the limits of /predict
and its own bounds. Labels go in and come out as the model's label type, exactly as /predict
gives them: an integer model explains `"label": 0` and answers `"predicted": 1`, never "1"."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable

from ..analysis.attributions import typed_explanation
from ..errors import DataError, ModelError, TextclfError
from ..policy import NonFiniteProbabilities
from .batcher import MicroBatcher
from .guards import short
from .schemas import ExplainRequest
from .service_config import ServiceConfig


def label_name(label_map, value: bool | int | str) -> str | None:
    """The model's class name for `value`, a label of the type /predict answers with (an integer
    model's 0, a bool model's true; 1 is not true), or None when it is not one of the labels."""
    for name, user in zip(label_map.labels, label_map.user_labels):
        if type(user) is type(value) and user == value:
            return name
    return None


_JSON_TYPES = {bool: "a JSON boolean", int: "a JSON integer", str: "a JSON string"}


def unknown_label(label_map, value: bool | int | str, echo: int) -> str:
    """Why `value` is not a label of the model; a value that names one in another type ("0" for an
    integer model's 0) is told the form to send."""
    near = [user for name, user in zip(label_map.labels, label_map.user_labels)
            if name == json.dumps(value).strip('"').lower() or str(user) == str(value)]
    hint = f"; send {json.dumps(near[0])} ({_JSON_TYPES[type(near[0])]}), as /predict answers" if near else ""
    users = label_map.user_labels
    shown = ", ".join(short(json.dumps(user, ensure_ascii=False), 30) for user in users[:3])
    shown += f", ... ({len(users)} in all)" if len(users) > 3 else ""
    return f"label {short(json.dumps(value, ensure_ascii=False), echo)} is not one of the model's labels " \
           f"[{shown}]{hint}"


def bounded_explanation(explanation: dict, max_tokens: int) -> dict:
    """An explanation's dict with `tokens` cut to the `max_tokens` of largest |attribution|, kept
    in text order; `tokens_total` is how many there were. `top`/`against` are at most top_k each."""
    tokens = explanation.get("tokens") or []
    explanation["tokens_total"] = len(tokens)
    if len(tokens) > max_tokens:
        keep = sorted(sorted(range(len(tokens)), key=lambda i: -abs(tokens[i]["attribution"]))[:max_tokens])
        explanation["tokens"] = [tokens[i] for i in keep]
    return explanation


def add_explain(app, clf, config: ServiceConfig, batcher: MicroBatcher, model_lock: threading.Lock,
                check_limits: Callable) -> None:
    """POST /explain (analysis.explain) with the limits of /predict and its own bounds; model calls
    hold `model_lock`, as explanations hook the network that predictions run through."""
    from fastapi.responses import JSONResponse

    retry = {"Retry-After": str(max(1, int(config.retry_after_s)))}
    try:
        from ..analysis.explain import explain
    except ImportError:  # pragma: no cover - the analysis module is optional
        return
    explaining = {"now": 0}

    @app.post("/explain", summary="token attributions: why each text gets its label",
              responses={401: {}, 408: {}, 413: {}, 415: {}, 501: {}, 503: {}})
    async def explain_texts(request: ExplainRequest):
        """The limits of /predict, and at most `explain_max_texts` texts and `explain_max_chars`
        characters in all (else 413); each answer lists at most `explain_max_tokens` token
        attributions (`tokens_total` says how many there were) and `top_k` (<= 100) in `top` and
        `against`. One explanation runs at a time (with at most `max_explain_waiting` waiting);
        more get 503 + Retry-After."""
        texts = request.as_list()
        check_limits(texts, min(config.max_texts, config.explain_max_texts))
        total = sum(len(t) for t in texts)
        if total > config.explain_max_chars:
            return JSONResponse({"detail": f"{total} characters of text to explain; the limit is "
                                           f"{config.explain_max_chars}"}, status_code=413)
        label = None if request.label is None else label_name(clf.label_map, request.label)
        if request.label is not None and label is None:
            return JSONResponse({"detail": unknown_label(clf.label_map, request.label, config.echo_chars)},
                                status_code=422)
        if not batcher.running:
            return JSONResponse({"detail": "the service is not ready"}, status_code=503, headers=retry)
        if explaining["now"] > config.max_explain_waiting:
            return JSONResponse({"detail": "the service is busy explaining; retry later"}, status_code=503,
                                headers=retry)

        def run() -> list[dict]:
            with model_lock:
                found = explain(clf, texts, label=label, top_k=request.top_k)
            return [typed_explanation(bounded_explanation(e.to_dict(), config.explain_max_tokens), clf.label_map)
                    for e in found]

        explaining["now"] += 1
        try:
            return {"explanations": await asyncio.to_thread(run)}
        except DataError as err:
            return JSONResponse({"detail": short(str(err), 4 * config.echo_chars)}, status_code=422)
        except NonFiniteProbabilities as err:  # the model failed on these texts: no answer
            return JSONResponse({"detail": short(str(err), 4 * config.echo_chars)}, status_code=500)
        except (ModelError, TextclfError) as err:
            return JSONResponse({"detail": short(str(err), 4 * config.echo_chars)}, status_code=501)
        finally:
            explaining["now"] -= 1
