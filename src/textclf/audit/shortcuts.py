"""Label artifacts: label names written into the text, and shortcut tokens whose presence nearly
determines the label. A model learns such tokens first; in production they are rarely there."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from ..data.examples import Examples
from .duplicates import row_ref
from .normalize import normalize_text
from .results import LabelArtifact, ShortcutToken

MAX_EXAMPLES = 3


def label_variants(label: str) -> list[str]:
    """Normalised spellings of a label name: case, separators (_ - . / space or none), plural."""
    base = normalize_text(label)
    if not base:
        return []
    forms = {base, base.replace(" ", "")}
    for form in list(forms):
        if form.endswith("s") and not form.endswith("ss") and len(form) > 3:
            forms.add(form[:-1])
        elif form.endswith(("s", "x", "z", "ch", "sh")):
            forms.add(form + "es")
        else:
            forms.add(form + "s")
    return sorted(forms)


def _has_label(label, name: str) -> bool:
    return name in label if isinstance(label, tuple) else label == name


def label_artifacts(
    splits: Mapping[str, Examples], min_count: int = 5, min_precision: float = 0.9
) -> list[LabelArtifact]:
    """Every (label, variant) found as whole words in some text, over all splits.

    Flagged when at least `min_count` rows contain it and at least `min_precision` of them carry
    that label: the label is then readable from the text itself."""
    rows = [(name, i, " " + normalize_text(t) + " ", part.labels[i])
            for name, part in splits.items() if part.labels is not None
            for i, t in enumerate(part.texts)]
    labels = sorted({x for *_, label in rows for x in (label if isinstance(label, tuple) else (label,))})
    found = []
    for name in labels:
        for variant in label_variants(name):
            needle = f" {variant} "
            hits = [(s, i, label) for s, i, text, label in rows if needle in text]
            if not hits:
                continue
            matching = [(s, i) for s, i, label in hits if _has_label(label, name)]
            precision = len(matching) / len(hits)
            found.append(LabelArtifact(
                label=name, variant=variant, rows=len(hits), with_label=len(matching),
                precision=round(precision, 4),
                flagged=len(hits) >= min_count and precision >= min_precision,
                examples=[row_ref(splits[s], s, i) for s, i in matching[:MAX_EXAMPLES]],
            ))
    found.sort(key=lambda a: (not a.flagged, -a.with_label))
    return found


def shortcut_tokens(
    train: Examples,
    min_count: int = 20,
    min_precision: float = 0.95,
    min_lift: float = 1.5,
    top: int = 25,
    split: str = "train",
) -> list[ShortcutToken]:
    """Tokens whose presence in a training text nearly determines one label, ranked by the 2x2
    chi-square of (token present, label).

    Kept when the token is in >= `min_count` texts, >= `min_precision` of them have the label,
    and that share is >= `min_lift` times the label's base rate (a token that is 95% 'fresh' in
    data that is 95% 'fresh' says nothing)."""
    if train.labels is None or len(train) == 0:
        return []
    vectorizer = CountVectorizer(binary=True, min_df=min_count, token_pattern=r"(?u)\b\w+\b",
                                 preprocessor=normalize_text)
    try:
        presence = vectorizer.fit_transform(train.texts).tocsc()  # (n, V) 0/1
    except ValueError:  # no token reaches min_count
        return []
    names = sorted({x for label in train.labels for x in (label if isinstance(label, tuple) else (label,))})
    onehot = np.array([[_has_label(label, name) for name in names] for label in train.labels], dtype=np.float64)
    n = float(len(train))
    both = np.asarray((presence.T @ onehot), dtype=np.float64)  # (V, k) token & label
    support = np.asarray(presence.sum(axis=0), dtype=np.float64).reshape(-1, 1)  # (V, 1)
    label_count = onehot.sum(axis=0, keepdims=True)  # (1, k)
    precision = both / support
    lift = precision / (label_count / n)
    a, b, c = both, support - both, label_count - both
    d = n - a - b - c
    # Not sklearn.feature_selection.chi2: it counts only the token-present cells, i.e. this 2x2
    # statistic times (n - support) / n, which ranks tokens differently (tests/test_audit.py).
    denominator = (a + b) * (c + d) * (a + c) * (b + d)
    chi2 = np.divide(n * (a * d - b * c) ** 2, denominator, out=np.zeros_like(a), where=denominator > 0)
    keep = np.argwhere((precision >= min_precision) & (lift >= min_lift))
    vocabulary = vectorizer.get_feature_names_out()
    ranked = sorted(keep.tolist(), key=lambda vk: -chi2[vk[0], vk[1]])[:top]
    found = []
    for v, k in ranked:
        rows = presence[:, v].nonzero()[0]
        with_label = [int(i) for i in rows if onehot[i, k]][:MAX_EXAMPLES]
        found.append(ShortcutToken(
            token=str(vocabulary[v]), label=names[k], support=int(support[v, 0]),
            precision=round(float(precision[v, k]), 4), chi2=round(float(chi2[v, k]), 2),
            examples=[row_ref(train, split, i) for i in with_label],
        ))
    return found
