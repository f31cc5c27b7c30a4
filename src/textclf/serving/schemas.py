"""The HTTP service's request and response schemas (pydantic): what /predict and /explain take
and give. Types are strict where a lax coercion would change the meaning: `top_k` is a JSON
integer, an /explain `label` a JSON value of the model's own label type."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator


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
    """`text` or `texts`, plus how many tokens to list and, optionally, the label to explain. Both
    are strict JSON types: `top_k` an integer ("3", true and 3.0 are refused), `label` a label of
    the model's own type, as /predict answers it (an integer model's 0, not "0")."""

    top_k: StrictInt = Field(10, ge=1, le=100)
    label: StrictBool | StrictInt | Annotated[StrictStr, Field(max_length=200)] | None = None


class Prediction(BaseModel):
    label: bool | int | str | list[bool | int | str]  # the type the model's labels were given in
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[Prediction]
