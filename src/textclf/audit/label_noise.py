"""Label-noise suspects: examples whose given label a quick baseline, never trained on them,
finds implausible (out-of-fold probabilities + cleanlab's confident learning)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline

from ..data.examples import Examples
from .duplicates import row_ref
from .results import LabelNoise, LabelNoiseSuspect


def out_of_fold_probabilities(texts: list[str], targets: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """(n, k) probabilities of TF-IDF + logistic regression, each row predicted by a model
    fitted on the other folds."""
    pipeline = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=50_000),
        LogisticRegression(C=4.0, max_iter=1000),
    )
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(pipeline, texts, targets, cv=cv, method="predict_proba")


def label_noise_suspects(
    splits: Mapping[str, Examples], folds: int = 5, top: int = 50, seed: int = 0
) -> LabelNoise:
    """Ranked suspects (most likely mislabelled first) among all labelled rows of all splits:
    a wrong label in test misleads the score as much as one in train misleads the model."""
    method = "tfidf+logreg out-of-fold; cleanlab find_label_issues, ranked by self-confidence"
    parts = {name: part for name, part in splits.items() if part.labels is not None and len(part)}
    if not parts or any(part.multi_label for part in parts.values()):
        return LabelNoise(method, folds, [], skipped="needs single-label data")
    keys = [(name, i) for name, part in parts.items() for i in range(len(part))]
    texts = [parts[name].texts[i] for name, i in keys]
    labels = [parts[name].labels[i] for name, i in keys]
    names = sorted(set(labels))
    smallest = min(labels.count(name) for name in names)
    if len(names) < 2 or smallest < folds:
        return LabelNoise(method, folds, [], skipped=f"every class needs at least {folds} rows")
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    index = {name: i for i, name in enumerate(names)}
    targets = np.array([index[label] for label in labels])
    probs = out_of_fold_probabilities(texts, targets, folds, seed)
    # cleanlab flags the rows it is confident are wrong; the ranking (lowest label quality
    # first) also lists the borderline ones a person may want to look at next.
    flagged = find_label_issues(targets, probs)
    quality = get_label_quality_scores(targets, probs, method="self_confidence")
    ranked = np.argsort(quality, kind="stable")[:top]
    suspects = [
        LabelNoiseSuspect(
            rank=rank + 1,
            ref=row_ref(parts[keys[i][0]], *keys[i]),
            given=labels[i],
            predicted=names[int(np.argmax(probs[i]))],
            given_probability=round(float(probs[i, targets[i]]), 4),
            flagged=bool(flagged[i]),
        )
        for rank, i in enumerate(ranked)
    ]
    return LabelNoise(method, folds, suspects, flagged=int(flagged.sum()))
