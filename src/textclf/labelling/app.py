"""The web app: one self-contained page (labelling/page.py) and a small JSON API over a
LabelSession. Every answer is in the journal before its request returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from ..errors import DataError
from .page import PAGE
from .session import LabelSession

OPEN_PATHS = ("/", "/health")  # the page itself asks for the key; its API calls carry it
JSON_PATHS = ("/api/answer", "/api/undo", "/api/more-like")


class Answer(BaseModel):
    client: str = Field(min_length=1, max_length=100)
    seq: int = Field(ge=0)
    item: str = Field(min_length=1, max_length=1000)
    kind: Literal["label", "skip", "keep", "relabel", "drop"]
    labels: list[str] | None = None
    reason: str | None = Field(None, max_length=2000)


class Undo(BaseModel):
    client: str = Field(min_length=1, max_length=100)
    seq: int = Field(ge=0)


class MoreLike(BaseModel):
    item: str = Field(min_length=1, max_length=1000)
    count: int = Field(10, ge=1, le=100)


def item_view(session: LabelSession, row: int | None) -> dict | None:
    if row is None:
        return None
    suggested, confidence = session.suggestion(row)
    pool = session.pool
    return {"id": pool.ids[row], "text": pool.texts[row], "suggestion": list(suggested) if suggested else None,
            "confidence": confidence, "given": list(pool.given[row]) if pool.given[row] else None,
            "reason": pool.reasons[row]}


def build_app(session: LabelSession, export_label_studio: Callable[[], list[dict]], title: str = "textclf label") -> FastAPI:
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(DataError)
    async def user_mistake(request, err: DataError):
        return JSONResponse({"detail": str(err)}, status_code=422)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/api/state")
    def state(client: str) -> dict:
        return {"mode": session.settings.mode, "labels": list(session.pool.labels),
                "multi_label": session.pool.multi_label, "item": item_view(session, session.next_row(client)),
                "counts": session.counts(), "history": session.history(), "progress": session.progress()}

    @app.post("/api/answer")
    def answer(body: Answer) -> dict:
        # multi-label: [] is an answer ("none of these labels"); a missing list never is
        if body.kind in ("label", "relabel") and (body.labels is None or not (body.labels or session.pool.multi_label)):
            raise HTTPException(422, f"a {body.kind} answer needs labels")
        event, created = session.answer(body.client, body.seq, body.item, body.kind, body.labels, body.reason)
        return {"event": event.id, "recorded": created}

    @app.post("/api/undo")
    def undo(body: Undo) -> dict:
        event = session.undo(body.client, body.seq)
        return {"undone": None if event is None else event.item}

    @app.post("/api/more-like")
    def more_like(body: MoreLike) -> dict:
        return {"queued": session.more_like(body.item, body.count)}

    @app.post("/api/save")
    def save() -> dict:
        session.flush()
        return {"saved": True}

    @app.get("/api/export/label-studio")
    def label_studio() -> list[dict]:
        return export_label_studio()

    return app
