"""Labelling: active learning and label review in a local web app (`textclf label`, `textclf review`).

A room above the pipeline: it reads data, calls the audit, the error analysis and the classifier,
and never the other way round. journal.py (durable, idempotent answers), strategies.py (what to
ask next), learner.py (the model in the loop and its live scores), session.py, app.py + page.py
(the web app), review.py (the second-look queue and the corrected data set)."""

from .journal import Journal, current_answers
from .pool import Pool, load_pool
from .session import LabelSession, SessionSettings

__all__ = ["Journal", "LabelSession", "Pool", "SessionSettings", "current_answers", "load_pool"]
