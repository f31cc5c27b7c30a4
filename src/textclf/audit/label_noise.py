"""Label-noise suspects: examples whose given label a quick baseline, never trained on them,
finds implausible (out-of-fold probabilities + cleanlab's confident learning)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from ..data.examples import Examples
from .duplicates import row_ref
from .results import LabelNoise, LabelNoiseSuspect


# Above LARGE rows the out-of-fold models stop at a looser tolerance (their rankings barely move,
# the time falls ~3x); above MAX_ROWS a seeded random sample of MAX_ROWS rows is checked instead of
# every row, so the check stays inside its budget (100k rows: well under 60 s on one core).
LARGE = 20_000
MAX_ROWS = 200_000


def out_of_fold_probabilities(texts: list[str], targets: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """(n, k) probabilities of TF-IDF + logistic regression, each row predicted by a model
    fitted on the other folds.

    The TF-IDF vocabulary and idf are fitted once on all texts: they never see a label, so sharing
    them across folds leaks nothing the fold's model could exploit, and it saves (folds - 1) fits."""
    features = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=50_000, dtype=np.float32).fit_transform(texts)
    tolerance = 1e-3 if len(texts) > LARGE else 1e-4
    model = LogisticRegression(C=4.0, max_iter=1000, tol=tolerance)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    probs = np.zeros((len(texts), int(targets.max()) + 1))
    # L-BFGS works on small dense vectors, where BLAS threads only add synchronisation (10x slower
    # on a busy 2-core machine); the sparse products it needs are single-threaded anyway.
    with threadpool_limits(1, user_api="blas"):
        for train_index, held_out in cv.split(features, targets):
            fitted = model.fit(features[train_index], targets[train_index])
            probs[np.ix_(held_out, fitted.classes_)] = fitted.predict_proba(features[held_out])
    return probs


def label_noise_suspects(
    splits: Mapping[str, Examples], folds: int = 5, top: int = 50, seed: int = 0, max_rows: int = MAX_ROWS
) -> LabelNoise:
    """Ranked suspects (most likely mislabelled first) among all labelled rows of all splits:
    a wrong label in test misleads the score as much as one in train misleads the model.
    Above `max_rows` rows, a seeded random sample of `max_rows` is checked (the method says so)."""
    method = "tfidf+logreg out-of-fold; cleanlab find_label_issues, ranked by self-confidence"
    parts = {name: part for name, part in splits.items() if part.labels is not None and len(part)}
    if not parts or any(part.multi_label for part in parts.values()):
        return LabelNoise(method, folds, [], skipped="needs single-label data")
    keys = [(name, i) for name, part in parts.items() for i in range(len(part))]
    if len(keys) > max_rows:
        total = len(keys)
        picked = np.sort(np.random.default_rng(seed).choice(total, size=max_rows, replace=False))
        keys = [keys[i] for i in picked]
        method += f"; on a random sample of {max_rows:,} of {total:,} rows"
    texts = [parts[name].texts[i] for name, i in keys]
    labels = [parts[name].labels[i] for name, i in keys]
    names = sorted(set(labels))
    smallest = min(Counter(labels).values())
    if len(names) < 2 or smallest < folds:
        return LabelNoise(method, folds, [], skipped=f"every class needs at least {folds} rows")
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    index = {name: i for i, name in enumerate(names)}
    targets = np.array([index[label] for label in labels])
    probs = out_of_fold_probabilities(texts, targets, folds, seed)
    # cleanlab flags the rows it is confident are wrong; the ranking (lowest label quality
    # first) also lists the borderline ones a person may want to look at next.
    flagged = find_label_issues(targets, probs, n_jobs=1)  # worker processes cost more than they save here
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
