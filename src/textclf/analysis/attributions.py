"""Token attributions: the result types `explain` returns, and what both methods share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

COMPLETENESS_TOLERANCE = 0.05  # IG: relative completeness gap accepted before doubling the steps
START_STEPS = 32
MAX_STEPS = 256
WORD = re.compile(r"\S+")


# -- results -----------------------------------------------------------------------------------------
@dataclass
class TokenAttribution:
    """A span of the original text, `text[start:end]`, and its share of the explained score."""

    text: str
    start: int
    end: int
    attribution: float

    def to_dict(self) -> dict:
        return {"text": self.text, "start": self.start, "end": self.end, "attribution": float(self.attribution)}


@dataclass
class Explanation:
    """Why one text got (or did not get) `label`. `tokens` are in text order and never overlap."""

    text: str
    predicted: Any  # the classifier's decision: a label, or a tuple of labels (multi-label)
    label: str  # the label explained
    probability: float  # of `label`, calibrated when the classifier is
    score: float  # the explained logit / log-odds (see the module docstring)
    base_value: float  # intercept (tfidf) or the baseline's score (IG)
    tokens: list[TokenAttribution]
    method: str  # "linear" or "integrated_gradients"
    top_k: int = 10
    completeness_gap: float | None = None  # IG only: relative, see the module docstring
    steps: int | None = None  # IG only
    truncated: bool = False  # the model saw only part of the text
    features: list[TokenAttribution] | None = None  # tfidf only: n-gram occurrences

    def top(self, k: int | None = None) -> list[TokenAttribution]:
        """Up to k tokens with positive attribution (toward `label`), strongest first."""
        ranked = sorted((t for t in self.tokens if t.attribution > 0), key=lambda t: -t.attribution)
        return ranked[: self.top_k if k is None else k]

    def against(self, k: int | None = None) -> list[TokenAttribution]:
        """Up to k tokens with negative attribution (away from `label`), strongest first."""
        ranked = sorted((t for t in self.tokens if t.attribution < 0), key=lambda t: t.attribution)
        return ranked[: self.top_k if k is None else k]

    def to_dict(self) -> dict:
        """JSON-able; `tokens` in full (for highlighting), `top`/`against` cut to `top_k`."""
        out = {
            "text": self.text,
            "predicted": list(self.predicted) if isinstance(self.predicted, tuple) else self.predicted,
            "label": self.label,
            "probability": float(self.probability),
            "score": float(self.score),
            "base_value": float(self.base_value),
            "method": self.method,
            "completeness_gap": None if self.completeness_gap is None else float(self.completeness_gap),
            "steps": self.steps,
            "truncated": self.truncated,
            "top": [t.to_dict() for t in self.top()],
            "against": [t.to_dict() for t in self.against()],
            "tokens": [t.to_dict() for t in self.tokens],
        }
        if self.features is not None:
            ranked = sorted(self.features, key=lambda t: -abs(t.attribution))[: self.top_k]
            out["features"] = [t.to_dict() for t in ranked]
        return out


def explained_scores(logits, binary: bool):
    """(n, K) torch scores whose column c is what explaining class c means."""
    if binary:
        return logits - logits.flip(-1)
    return logits


def typed_explanation(explanation: dict, label_map) -> dict:
    """An explanation's `predicted` and `label` as the model's label type (an integer model gives
    1, not "1"), as `predict` gives them: what JSON outputs of explanations carry."""
    explanation["predicted"] = label_map.user_label(explanation["predicted"])
    explanation["label"] = label_map.user_label(explanation["label"])
    return explanation
