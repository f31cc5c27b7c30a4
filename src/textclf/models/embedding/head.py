"""The trainable part of the `embedding` model: optional TF-IDF features and a logistic regression
whose C is chosen by cross-validation on the training split (see models/embedding/model.py)."""

from __future__ import annotations

import numpy as np

# `C: null` searches this grid (L2-normalised 384-d vectors need a weak penalty: C of 1-30 is usual).
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
CV_FOLDS = 5
# lbfgs stopping tolerance. scikit-learn's 1e-4 stops early enough that 1e-7 noise in the
# embeddings (another batch order, another device) flipped 0.8% of test predictions on Rotten
# Tomatoes; at 1e-6 it is 0.04%, for about three times the (small) fitting time.
LBFGS_TOL = 1e-6


# -- TF-IDF features ---------------------------------------------------------------------------------
def new_vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, lowercase=True,
                           min_df=1, dtype=np.float32)


def vectorizer_state(vec) -> dict:
    return {"vocabulary": {term: int(i) for term, i in vec.vocabulary_.items()}, "idf": vec.idf_.tolist()}


def vectorizer_from_state(state: dict):
    vec = new_vectorizer()
    vec.vocabulary_ = state["vocabulary"]
    vec.idf_ = np.asarray(state["idf"], dtype=np.float32)
    return vec


# -- cross-validated logistic regression ------------------------------------------------------------
def fit_logistic(features, y: np.ndarray, weights: np.ndarray, C: float | None, max_iter: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray, float, dict | None]:
    """`_fit_logistic_threads` with single-threaded BLAS: the regression's matrices are small
    (n x 384), and BLAS threads spinning on a busy machine made one fit 20 times slower
    (0.9 s vs 19 s on 9.6k rows)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return fit_logistic_threads(features, y, weights, C, max_iter, seed)


def fit_logistic_threads(features, y: np.ndarray, weights: np.ndarray, C: float | None, max_iter: int,
                          seed: int) -> tuple[np.ndarray, np.ndarray, float, dict | None]:
    """Fit one logistic regression on integer targets `y` with per-class `weights` (k,); C=None
    picks C from C_GRID by stratified K-fold log loss (weighted like the fit). Returns coef,
    intercept, C and the mean fold loss per C (None when C was given or classes are too small)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    class_weight = {c: float(weights[c]) for c in np.unique(y)}

    def model(c: float) -> LogisticRegression:
        return LogisticRegression(C=c, max_iter=max_iter, tol=LBFGS_TOL, class_weight=class_weight,
                                  random_state=seed)

    scores = None
    if C is None:
        folds = min(CV_FOLDS, int(np.bincount(y)[np.unique(y)].min()))
        if folds >= 2:
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            labels = np.unique(y)
            scores = {}
            for c in C_GRID:
                losses = []
                for train_idx, val_idx in splitter.split(np.zeros(len(y)), y):
                    lr = model(c).fit(features[train_idx], y[train_idx])
                    probs = lr.predict_proba(features[val_idx])
                    losses.append(log_loss(y[val_idx], probs, labels=labels,
                                           sample_weight=weights[y[val_idx]]))
                scores[repr(c)] = float(np.mean(losses))
            C = min(C_GRID, key=lambda c: (scores[repr(c)], c))
        else:
            C = 1.0
    lr = model(C).fit(features, y)
    return lr.coef_.astype(np.float32), lr.intercept_.astype(np.float32), float(C), scores
