"""TextClassifier is a scikit-learn estimator: clone, cross_val_score, GridSearchCV, Pipeline."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from textclf import ConfigError, DataError, TextClassifier


@pytest.fixture(scope="module")
def xy(rt_small):
    data = rt_small.subset(range(450))
    return np.asarray(data.texts, dtype=object), np.asarray(data.labels, dtype=object)


def test_params_round_trip_and_clone():
    clf = TextClassifier(model={"type": "tfidf", "C": 2.0}, training={"class_weight": None}, seed=3)
    assert clf.get_params(deep=False) == {"model": {"type": "tfidf", "C": 2.0}, "task": "single_label",
                                          "training": {"class_weight": None}, "seed": 3,
                                          "calibration": "temperature", "thresholds": None}
    assert clf.get_params()["model__C"] == 2.0
    twin = clone(clf)
    assert twin is not clf and twin.get_params(deep=False) == clf.get_params(deep=False)
    clf.set_params(model__C=8.0, seed=1, training__epochs=2)
    assert clf.model_config().C == 8.0 and clf.seed == 1 and clf.training_config().epochs == 2
    with pytest.raises(ConfigError, match="no parameter 'alpha'"):
        clf.set_params(alpha=1)


def test_fit_predict_score_and_classes(xy):
    x, y = xy
    clf = TextClassifier().fit(x[:300], y[:300])
    assert list(clf.classes_) == sorted(set(y[:300]))
    predicted = clf.predict(x[300:])
    assert clf.score(x[300:], y[300:]) == pytest.approx(np.mean(np.asarray(predicted) == y[300:]))
    assert clf.predict_proba(x[300:]).shape == (150, len(clf.classes_))


def test_cross_val_score_and_grid_search_over_c(xy):
    x, y = xy
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(TextClassifier(), x, y, cv=folds)
    assert scores.shape == (3,) and 0.4 < scores.mean() <= 1.0
    grid = GridSearchCV(TextClassifier(), {"model__C": [0.01, 10.0]}, cv=folds, scoring="f1_macro").fit(x, y)
    assert grid.best_params_["model__C"] in (0.01, 10.0)
    assert grid.cv_results_["mean_test_score"].shape == (2,)
    # C=0.01 is far too regularised to separate three classes: the search must see that.
    low, high = grid.cv_results_["mean_test_score"]
    assert high > low and grid.best_params_ == {"model__C": 10.0}
    assert grid.best_estimator_.model_config().C == 10.0


def test_inside_a_pipeline(xy):
    x, y = xy
    lower = FunctionTransformer(lambda texts: [str(t).lower() for t in texts])
    pipe = Pipeline([("lower", lower), ("clf", TextClassifier(model={"type": "tfidf", "lowercase": False}))])
    pipe.fit(x[:300], y[:300])
    direct = TextClassifier(model={"type": "tfidf", "lowercase": False}).fit([t.lower() for t in x[:300]], y[:300])
    assert list(pipe.predict(x[300:])) == direct.predict([t.lower() for t in x[300:]])
    assert 0.0 <= pipe.score(x[300:], y[300:]) <= 1.0


def test_sklearn_estimator_checks_that_apply_to_text():
    from sklearn.utils import estimator_checks

    clf = TextClassifier()
    checks = [estimator_checks.check_get_params_invariance, estimator_checks.check_set_params,
              estimator_checks.check_parameters_default_constructible,
              estimator_checks.check_no_attributes_set_in_init]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for check in checks:
            check(type(clf).__name__, clf)


def test_numeric_matrices_are_refused_not_stringified():
    """A 2-D float matrix (what scikit-learn's generic checks feed) is refused in one line instead
    of classifying the repr of each row."""
    with pytest.raises(DataError, match=r"numpy array of shape \(20, 3\); pass a 1-D array of texts"):
        TextClassifier().fit(np.zeros((20, 3)), np.arange(20) % 2)


def test_scikit_learn_sees_a_string_classifier_without_textclf_importing_it():
    from sklearn.base import is_classifier
    from sklearn.utils import get_tags

    tags = get_tags(TextClassifier())
    assert is_classifier(TextClassifier()) and tags.input_tags.string and not tags.input_tags.two_d_array
    assert get_tags(TextClassifier(task="multi_label")).classifier_tags.multi_label
    assert repr(TextClassifier(seed=3)) == "TextClassifier(seed=3)"
