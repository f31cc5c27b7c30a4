"""Why this label? Token attributions for single predictions, and the tokens behind mistakes.

>>> explanations = explain(clf, ["a gripping, beautifully shot film"], top_k=10)
>>> explanations[0].top()          # tokens pushing hardest toward the explained label
>>> drivers = mistake_drivers(clf, test_examples, explain(clf, test_examples), flagged=audit.shortcuts)
>>> html = explanations_html(explanations, drivers)   # a self-contained <section>

What is explained is the score the label's probability grows with, read from the model's logits z:

    single-label, 2 classes   log-odds z_c - z_other (logistic regression's one coefficient row,
                              with its sign flipped for the first class)
    single-label, K > 2       the logit z_c (as multinomial logistic regression has it)
    multi-label               the logit z_c (the sigmoid's log-odds)

`label=None` explains the predicted label (multi-label: the most probable predicted label, or
the most probable label when none is predicted).

Methods, and what `base_value` means (always: sum of token attributions + base_value ~ score):

    tfidf         exact. Every feature contributes value x coefficient; base_value is the
                  intercept, and the sum is the logit to float precision. A feature that occurs
                  several times in the text has its contribution split equally between its
                  occurrences; a word n-gram's share is split equally between the words it
                  spans (a char_wb n-gram lies inside one word). `tokens` are therefore words
                  that never overlap (word tokens for word n-grams; whitespace-separated words
                  once char_wb n-grams are used), and `features` keep the n-gram occurrences.
    bag, rnn, cnn, transformer, pretrained
                  Integrated Gradients (Captum LayerIntegratedGradients, Gauss-Legendre) on the
                  token embeddings. The baseline is the same sequence with every content token
                  replaced by [PAD]; special tokens ([CLS], [SEP]) stay in place, so they get no
                  attribution. base_value is the score of that baseline. Steps start at `steps`
                  (32) and double, up to `max_steps` (256), while the completeness gap
                  |sum(attr) - (score - base_value)| / max(|score - base_value|, 0.1) is above
                  `tolerance` (5%); each explanation reports its steps and gap. (The 0.1 floor:
                  when the score hardly moves from the baseline, a relative gap is noise; the
                  gap is then measured against 0.1 logit.) Subword pieces are summed into the
                  tokenizer's words, with character offsets into the text; the ids of the bag
                  model's hashed n-grams are split equally between the tokens they join.
                  Tokens the model never saw (cut by `max_length`) get no entry; `truncated`
                  says so. long_text head / tail / head_tail are followed exactly.

Not supported yet (one ModelError line): windowed long_text strategies (sliding_window,
hierarchical), retrieval, and the ensemble / embedding / onnx types. A fitted `auto` model is
explained through the model it selected.
"""

from __future__ import annotations

import numpy as np

from ..data.adapters import texts_of
from ..errors import DataError, ModelError
from ..models.base import GradientAttributionView, LinearAttributionView
from .attribution_ig import ig_explanations
from .attribution_linear import linear_explanations
from .attributions import COMPLETENESS_TOLERANCE, MAX_STEPS, START_STEPS, Explanation, TokenAttribution

__all__ = ["Explanation", "TokenAttribution", "explain"]

EXPLAINED_STRATEGIES = ("head", "tail", "head_tail")  # long-text strategies IG follows exactly


# -- entry point -------------------------------------------------------------------------------------
def explain(clf, texts, *, label: str | None = None, top_k: int = 10, steps: int = START_STEPS,
            max_steps: int = MAX_STEPS, tolerance: float = COMPLETENESS_TOLERANCE) -> list[Explanation]:
    """One Explanation per text (a list of strings or Examples) for a fitted TextClassifier.

    `label`: explain this label for every text instead of each text's prediction."""
    texts = texts_of(texts)
    if top_k < 1:
        raise DataError(f"top_k must be at least 1, got {top_k}")
    if steps < 1 or max_steps < steps:
        raise DataError(f"IG steps: need 1 <= steps ({steps}) <= max_steps ({max_steps})")
    view = _attribution_view(clf)
    label_map = clf.label_map
    if label is not None and label not in label_map.index:
        raise DataError(f"label {label!r} is not one of the model's labels: {', '.join(label_map.labels)}")
    if not texts:
        return []
    probs = clf.predict_proba(texts)
    decisions = clf.decide(probs)
    predicted = clf.labels_from_decisions(decisions)
    targets = _targets(label, label_map, probs, decisions)
    binary = not label_map.multi_label and len(label_map) == 2
    common = [dict(text=t, predicted=p, label=label_map.labels[c], probability=float(probs[i, c]), top_k=top_k)
              for i, (t, p, c) in enumerate(zip(texts, predicted, targets))]
    if isinstance(view, LinearAttributionView):
        parts = linear_explanations(view, texts, targets, binary)
    else:
        parts = ig_explanations(view, texts, targets, binary, steps, max_steps, tolerance)
    return [Explanation(**c, **p) for c, p in zip(common, parts)]


def _attribution_view(clf) -> LinearAttributionView | GradientAttributionView:
    """What the fitted model offers to explain (a fitted `auto` answers as the model it selected),
    or one ModelError line saying why it cannot be explained."""
    if clf.model_ is None or clf.label_map is None:
        raise ModelError("this TextClassifier is not fitted: call fit() or textclf.load()")
    model = clf.model_
    view = model.attribution_view() if model.capabilities().explain is not None else None
    if view is not None:
        return view
    strategy = model.capabilities().long_text
    if strategy not in (None, *EXPLAINED_STRATEGIES):
        raise ModelError(f"explain does not support model.long_text.strategy {strategy!r} yet "
                         "(only head, tail and head_tail)")
    raise ModelError(f"explain does not support model type {model.type_name()!r} yet")


def _targets(label, label_map, probs: np.ndarray, decisions: np.ndarray) -> np.ndarray:
    """Class id explained per row."""
    n = probs.shape[0]
    if label is not None:
        return np.full(n, label_map.index[label], dtype=np.int64)
    if not label_map.multi_label:
        return np.asarray(decisions, dtype=np.int64).reshape(n)
    # Multi-label: the most probable predicted label, else the most probable label.
    masked = np.where(np.asarray(decisions) > 0, probs, -1.0)
    return np.where(masked.max(axis=1) >= 0, masked.argmax(axis=1), probs.argmax(axis=1)).astype(np.int64)
