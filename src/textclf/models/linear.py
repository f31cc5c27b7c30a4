"""TF-IDF features + logistic regression: the fast, strong baseline every other model must beat.

Fitted state is stored without pickle: the vocabularies and idf weights as JSON, the
coefficients as safetensors, so a saved model does not depend on scikit-learn's private layout.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator
import scipy.sparse as sp
from safetensors.numpy import load_file, save_file
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from ..config import Section, TrainingConfig
from ..data import Examples, LabelMap
from ..errors import ConfigError, ModelError
from ..imbalance import binary_weights, class_weights, explicit_weights
from .base import WHOLE_CHUNK, Capabilities, LinearAttributionView, LinearExportView, ModelBase
from .tfidf_state import checked_entry, checked_params, checked_weights

# A label that is always (or never) present in training gets a constant score this far from 0:
# sigmoid(12) is 0.999994, a confident but finite probability.
_CONSTANT_LOGIT = 12.0


class TfidfConfig(Section):
    type: Literal["tfidf"] = "tfidf"
    word_ngrams: tuple[int, int] | None = (1, 2)
    char_ngrams: tuple[int, int] | None = None  # e.g. [2, 5]: char_wb n-grams, robust to typos
    sublinear_tf: bool = True
    lowercase: bool = True
    min_df: int | float = 1  # a document count >= 1, or a float fraction of the documents in (0, 1]
    max_features: int | None = Field(None, ge=1)
    C: float = Field(1.0, gt=0, allow_inf_nan=False)
    max_iter: int = Field(1000, ge=1)
    solver: Literal["lbfgs", "liblinear", "saga"] = "lbfgs"  # liblinear: often faster for one-vs-rest on sparse data

    @field_validator("word_ngrams", "char_ngrams")
    @classmethod
    def _ngram_range(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 1 <= value[0] <= value[1]:
            raise ValueError(f"expected [lo, hi] with 1 <= lo <= hi, got {list(value)}")
        return value

    @field_validator("min_df")
    @classmethod
    def _min_df(cls, value: int | float) -> int | float:
        if isinstance(value, int) and value < 1 or isinstance(value, float) and not 0 < value <= 1:
            raise ValueError(f"expected a document count >= 1 or a fraction in (0, 1], got {value}")
        return value

    @model_validator(mode="after")
    def _some_features(self) -> TfidfConfig:
        if self.word_ngrams is None and self.char_ngrams is None:
            raise ValueError("word_ngrams and char_ngrams are both null: give at least one n-gram range")
        return self


class TfidfLinearModel(ModelBase):
    config_class = TfidfConfig
    # Exact linear attributions; it reads whole texts. Vectorizing and one sparse product cost the
    # same per text at any batch size while each call has a fixed overhead, so streaming calls it
    # once per chunk. Exports to ONNX: n-gram counting in the runtime's tokenizer, TF-IDF weighting,
    # normalisation and the head in the graph (serving/export/tfidf_onnx.py).
    declared_capabilities = Capabilities(
        explain="linear", preferred_batch_size=WHOLE_CHUNK, export_formats=frozenset({"onnx"}),
        export_note="a TF-IDF model has no transformer encoder for a Hugging Face directory; use --format onnx")

    def __init__(self, config: TfidfConfig, label_map: LabelMap, training: TrainingConfig, seed: int) -> None:
        self.config = config
        self.label_map = label_map
        self.training = training
        self.seed = seed
        self.vectorizers: list[TfidfVectorizer] = []
        self.coef: np.ndarray | None = None  # (k or 1, d)
        self.intercept: np.ndarray | None = None
        self.train_size: int | None = None  # documents the vectorizers were fitted on

    def _new_vectorizers(self) -> list[TfidfVectorizer]:
        c = self.config
        common = dict(sublinear_tf=c.sublinear_tf, lowercase=c.lowercase, min_df=c.min_df,
                      max_features=c.max_features, dtype=np.float32)
        out = []
        if c.word_ngrams:
            out.append(TfidfVectorizer(analyzer="word", ngram_range=tuple(c.word_ngrams), **common))
        if c.char_ngrams:
            out.append(TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(c.char_ngrams), **common))
        return out

    def vocabulary(self) -> dict[str, int | None] | None:
        """Word unigrams with their training document frequency, recovered from the idf weights
        (idf = ln((1 + n) / (1 + df)) + 1 with smoothing, ln(n / df) + 1 without)."""
        n_docs = self.train_size
        for vec in self.vectorizers:
            if vec.get_params().get("analyzer") != "word":
                continue
            unigrams = {t: i for t, i in vec.vocabulary_.items() if " " not in t}
            if not n_docs:
                return {t: None for t in unigrams}
            idf = np.asarray(vec.idf_, dtype=float)
            smooth = vec.get_params().get("smooth_idf", True)
            scales = {t: math.exp(idf[i] - 1.0) for t, i in unigrams.items()}
            return {t: max(1, round((1 + n_docs) / scale - 1 if smooth else n_docs / scale))
                    for t, scale in scales.items()}
        return None

    def attribution_view(self) -> LinearAttributionView | None:
        if self.coef is None:
            return None
        return LinearAttributionView(list(self.vectorizers), self.coef, self.intercept)

    def export_view(self) -> LinearExportView | None:
        if self.coef is None:
            return None
        binary_column = not self.label_map.multi_label and len(self.label_map) == 2
        return LinearExportView(list(self.vectorizers), self.coef, self.intercept, binary_column)

    def _features(self, texts: Sequence[str]) -> sp.csr_matrix:
        return sp.hstack([v.transform(texts) for v in self.vectorizers], format="csr")

    def _class_weight(self, train_targets: np.ndarray) -> dict[int, float] | None:
        """scikit-learn's class_weight by class id (imbalance.class_weights: the one definition)."""
        weights = class_weights(train_targets, self.label_map, self.training.class_weight)
        return None if weights is None else dict(enumerate(weights.astype(float).tolist()))

    def fit(self, train: Examples, train_targets: np.ndarray, validation=None, validation_targets=None,
            workdir: Path | None = None, resume: bool = False) -> dict:
        if resume:
            raise ConfigError("model.type 'tfidf' cannot resume: only neural models checkpoint")
        if not (self.config.word_ngrams or self.config.char_ngrams):
            raise ConfigError("model: tfidf needs word_ngrams or char_ngrams")
        self.vectorizers = self._new_vectorizers()
        self.train_size = len(train)
        features = sp.hstack([v.fit_transform(train.texts) for v in self.vectorizers], format="csr")
        if self.label_map.multi_label:
            self.coef, self.intercept = self._fit_one_vs_rest(features, train_targets)
        else:
            lr = LogisticRegression(C=self.config.C, max_iter=self.config.max_iter, solver=self.config.solver,
                                    class_weight=self._class_weight(train_targets), random_state=self.seed)
            lr.fit(features, train_targets)
            self.coef = lr.coef_.astype(np.float32)
            self.intercept = lr.intercept_.astype(np.float32)
        return {"features": int(features.shape[1])}

    def _fit_one_vs_rest(self, features: sp.csr_matrix, targets: np.ndarray):
        coef = np.zeros((targets.shape[1], features.shape[1]), dtype=np.float32)
        intercept = np.zeros(targets.shape[1], dtype=np.float32)
        pos_weight = self.training.pos_weight or self.training.class_weight
        explicit = explicit_weights(pos_weight, self.label_map, "pos_weight") if isinstance(pos_weight, dict) else None
        for j in range(targets.shape[1]):
            column = targets[:, j].astype(int)
            if column.min() == column.max():
                intercept[j] = _CONSTANT_LOGIT if column[0] == 1 else -_CONSTANT_LOGIT
                continue
            weight = None
            if pos_weight is not None:
                weight = dict(enumerate(binary_weights(column, pos_weight, None if explicit is None
                                                       else explicit[j]).tolist()))
            lr = LogisticRegression(C=self.config.C, max_iter=self.config.max_iter, solver=self.config.solver,
                                    class_weight=weight, random_state=self.seed)
            lr.fit(features, column)
            coef[j] = lr.coef_[0]
            intercept[j] = lr.intercept_[0]
        return coef, intercept

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        scores = np.asarray(self._features(list(texts)) @ self.coef.T, dtype=np.float32) + self.intercept
        if not self.label_map.multi_label and len(self.label_map) == 2:
            # scikit-learn keeps one column for two classes; softmax([0, s]) == [1 - sigmoid(s), sigmoid(s)].
            scores = np.concatenate([np.zeros_like(scores), scores], axis=1)
        return scores

    def save(self, directory: Path) -> None:
        state = [
            {"params": {k: v for k, v in vec.get_params().items() if k in _SAVED_PARAMS},
             "vocabulary": {term: int(i) for term, i in vec.vocabulary_.items()},
             "idf": vec.idf_.tolist(), "n_documents": self.train_size}
            for vec in self.vectorizers
        ]
        (directory / "tfidf.json").write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
        # safetensors writes the raw buffer: a Fortran-ordered array would come back transposed.
        weights = {"coef": np.ascontiguousarray(self.coef), "intercept": np.ascontiguousarray(self.intercept)}
        save_file(weights, str(directory / "model.safetensors"))

    @classmethod
    def load(cls, directory: Path, config: TfidfConfig, label_map: LabelMap, training: TrainingConfig, seed: int):
        """The saved model, its files checked first (models/tfidf_state.py): the vectorizers are the
        ones config.json builds, given only the saved vocabulary and idf weights."""
        model = cls(config, label_map, training, seed)
        path = directory / "tfidf.json"
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
            raise ModelError(f"{path}: corrupt JSON ({err})") from None
        expected = model._new_vectorizers()
        if not isinstance(state, list) or len(state) != len(expected):
            raise ModelError(f"{path}: expected a list of {len(expected)} vectorizer(s), as config.json's "
                             "word_ngrams / char_ngrams give")
        for i, (entry, vec) in enumerate(zip(state, expected)):
            vocabulary, idf, n_documents = checked_entry(path, i, entry)
            checked_params(path, i, entry["params"], vec.get_params(), _SAVED_PARAMS)
            vec.vocabulary_ = vocabulary
            vec.idf_ = idf
            model.vectorizers.append(vec)
            model.train_size = n_documents
        rows = 1 if not label_map.multi_label and len(label_map) == 2 else len(label_map)
        features = sum(len(vec.vocabulary_) for vec in model.vectorizers)
        weights = load_file(str(directory / "model.safetensors"))
        model.coef, model.intercept = checked_weights(directory / "model.safetensors", weights, rows, features)
        return model


_SAVED_PARAMS = {"analyzer", "ngram_range", "sublinear_tf", "lowercase", "min_df", "max_features", "norm",
                 "use_idf", "smooth_idf", "strip_accents", "token_pattern"}
