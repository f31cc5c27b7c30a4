"""Vectors for the texts being labelled: sentence embeddings of the packaged MiniLM (through the
`embedding` model type, with its disk cache), or TF-IDF reduced by truncated SVD (fast, no
encoder: tests, or `--features tfidf`). Fitted on the unlabelled pool only: it never sees a label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

FeatureKind = Literal["minilm", "tfidf"]


def tfidf_svd(texts: Sequence[str], dims: int = 200, seed: int = 0) -> np.ndarray:
    """(n, <= dims) L2-normalised LSA vectors of word 1-2-gram TF-IDF."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    matrix = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2 if len(texts) > 50 else 1,
                             max_features=100_000).fit_transform(list(texts))
    width = max(2, min(dims, matrix.shape[1] - 1, len(texts) - 1))
    reduced = TruncatedSVD(n_components=width, random_state=seed).fit_transform(matrix)
    return normalize(reduced).astype(np.float32)


def minilm_embeddings(texts: Sequence[str], progress: bool = False) -> np.ndarray:
    """(n, 384) normalised mean-pooled embeddings of the packaged all-MiniLM-L6-v2."""
    from ..config import TrainingConfig
    from ..data import LabelMap
    from ..models.embedding.model import EmbeddingConfig, EmbeddingModel
    from ..models.pretrained import resolve_name_or_path

    model = EmbeddingModel(EmbeddingConfig(max_length=128), LabelMap(("_",)), TrainingConfig(progress=progress), 0)
    # The embedding type loads its encoder in fit(); only the encoder is wanted here.
    model._set_encoder(resolve_name_or_path(model.config.name_or_path))
    return model.embed(list(texts))


def text_features(texts: Sequence[str], kind: FeatureKind = "minilm", progress: bool = False) -> np.ndarray:
    if kind == "tfidf":
        return tfidf_svd(texts)
    return minilm_embeddings(texts, progress=progress)
