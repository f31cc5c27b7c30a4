"""The settings of `model.type: auto` (AutoConfig) and the durations its time budget accepts."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator

from ...config import Section
from ...errors import ConfigError


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as `90`, `90s`, `10m`, `1.5h` (ConfigError otherwise)."""
    if isinstance(value, bool):
        raise ConfigError(f"time budget {value!r}: expected seconds or a duration such as 10m")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().lower()
    scale = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(text[-1:], None)
    number = text[:-1] if scale is not None else text
    try:
        seconds = float(number) * (scale or 1.0)
    except ValueError:
        raise ConfigError(f"time budget {value!r}: expected seconds or a duration such as 90s, 10m, 1h") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"time budget {value!r} must be a positive duration")
    return seconds


class AutoConfig(Section):
    type: Literal["auto"] = "auto"
    time_budget: float = Field(600.0, gt=0)  # seconds for search + refit + ensemble; YAML may say 10m
    # Family names (models/auto/search.py: tfidf_word, tfidf_char, bag, embedding, embedding_mpnet, cnn, rnn,
    # pretrained) or fixed model configs ({type: ..., ...}); null: every family (embedding_mpnet where installed).
    candidates: list[str | dict[str, Any]] | None = None
    metric: Literal["macro_f1", "micro_f1", "accuracy"] | None = None  # null: macro_f1 / micro_f1 (multi-label)
    cv_folds: int = Field(5, ge=2, le=20)
    cv_max_rows: int = Field(5000, ge=0)  # fewer training rows: k-fold CV; else the validation split
    # k-fold CV repeated with a new shuffle each time (small data only; neural families run 1 repeat)
    cv_repeats: int = Field(3, ge=1, le=10)
    max_trials: int = Field(40, ge=1)
    ensemble_size: int = Field(5, ge=0)  # the top-N trials an ensemble may draw from; 0 or 1: never ensemble
    pretrained: str = "minilm"  # encoder for the embedding and fine-tune candidates
    bootstrap_resamples: int = Field(200, ge=0)  # for the leaderboard intervals

    @field_validator("candidates")
    @classmethod
    def _known_candidates(cls, value: list[str | dict[str, Any]] | None) -> list[str | dict[str, Any]] | None:
        """Family names exist and fixed candidates are valid configs of their type, before any data is read."""
        from ...config import problems
        from .. import model_class
        from .search import candidate_families

        try:
            candidate_families(value)  # every name a family, every dict typed, one usable candidate at least
            for i, entry in enumerate(value or []):
                try:
                    config_class = model_class(entry["type"]).config_class if isinstance(entry, dict) else None
                except ConfigError:  # a type not installed here: the search skips it
                    continue
                found = problems(config_class, entry, prefix=f"candidates[{i}]") if config_class else []
                if found:
                    raise ValueError("; ".join(found))
        except ConfigError as err:
            raise ValueError(str(err).removeprefix("model.candidates: ")) from None
        return value

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        try:
            return parse_duration(value)
        except ConfigError as err:
            raise ValueError(str(err)) from None
