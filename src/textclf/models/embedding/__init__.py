"""`model.type: embedding`: frozen sentence embeddings + logistic regression (see model.py).

model.py (the model type), cache.py (embeddings cached on disk), head.py (the regression and the
optional TF-IDF block), contrastive.py (the optional SetFit-style encoder step)."""

from .model import EmbeddingConfig, EmbeddingModel

__all__ = ["EmbeddingConfig", "EmbeddingModel"]
