"""Frozen sentence embeddings + logistic regression: a pretrained encoder's strength at TF-IDF cost.

    model: {type: embedding, name_or_path: minilm, max_length: 256, C: null, tfidf: false}

A frozen Hugging Face encoder (the packaged all-MiniLM-L6-v2 by default, or any local encoder
directory) turns each text into the mask-aware mean of its last hidden states, L2-normalised
(`normalize`). A scikit-learn logistic regression reads those vectors (one-vs-rest for
multi-label), honouring `training.class_weight` / `training.pos_weight`; `C: null` picks C from a
small grid by stratified cross-validation on the training split only. `tfidf: true` appends word
1-2-gram TF-IDF features; both blocks have unit L2 norm per text, so neither drowns the other.

`long_text: {strategy: sliding_window}` reads whole documents, in the vocabulary the neural models
use (text/long.LongTextConfig): a text longer than `max_length` tokens is cut into windows of
`long_text.window` content tokens (default: max_length less the special tokens) every
`long_text.stride` tokens (default: half a window; text/long.window_spans: the last window ends at
the last token; beyond `long_text.max_windows` windows they are thinned evenly, first and last
kept), and its embedding is the mean of the windows' pooled embeddings weighted by their token
counts. A text that fits one window gets exactly its `head` (truncated) embedding.

Embeddings are computed in length-sorted batches and cached on disk (see `EmbeddingCache`), keyed
by what the encoder computes (a hash of its weights, tokenizer and architecture) + `max_length` +
the long-text settings + the SHA-1 of each text, so a refit, a model search or evaluating a saved
copy never re-encodes.

A saved model is self-contained and pickle-free: `encoder/` is a Hugging Face directory (config,
safetensors weights, tokenizer files; `AutoModel.from_pretrained` reads it), `model.safetensors`
holds the regression's coefficients and `tfidf.json` the TF-IDF vocabulary and idf weights.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field, field_validator

from ...config import Section, TrainingConfig
from ...data import Examples, LabelMap
from ...errors import ConfigError, ModelError
from ...imbalance import binary_weights, class_weights, explicit_weights
from ...text.long import LongTextConfig
from ..base import Capabilities, EmbeddingExportView, ModelBase
from .cache import EmbeddingCache, default_cache_dir, encoder_identity, text_key
from .encoding import WindowSettings, encode_texts, window_and_stride
from .head import fit_logistic, new_vectorizer, vectorizer_from_state, vectorizer_state

HEAD_FILE = "model.safetensors"
TFIDF_FILE = "tfidf.json"
ENCODER_DIR = "encoder"  # a Hugging Face model directory inside the saved model

# A label that is always (or never) present in training gets a constant score this far from 0,
# as in the TF-IDF model: sigmoid(12) is 0.999994.
_CONSTANT_LOGIT = 12.0
# Scoring calls with fewer texts (a predict request, an HTTP server) bypass the cache: a server
# must not grow it, and reading its index for one text costs more than encoding the text.
CACHE_MIN_TEXTS = 32


class EmbeddingConfig(Section):
    type: Literal["embedding"] = "embedding"
    # a registered encoder (`minilm`/null: the packaged all-MiniLM-L6-v2, `mpnet-base`; see
    # models/encoder_registry.py) or a local Hugging Face directory
    name_or_path: str | None = "minilm"
    max_length: int = Field(256, ge=8)  # tokens per text (per window), special tokens included
    # beyond max_length: `head` cuts; `sliding_window` averages the windows' embeddings (mean only)
    long_text: LongTextConfig = Field(default_factory=LongTextConfig)
    batch_size: int = Field(64, ge=1)  # texts per encoder forward pass
    C: float | None = Field(None, gt=0)  # null: cross-validated over C_GRID on the training split
    tfidf: bool = False  # append word 1-2-gram TF-IDF features to the embeddings
    cache_dir: str | None = None  # default: $TEXTCLF_CACHE/embeddings, else ~/.cache/textclf/embeddings
    cache: bool = True  # false: never read or write the embedding cache
    normalize: bool = True  # L2-normalise each embedding
    max_iter: int = Field(2000, ge=1)  # lbfgs iterations per logistic regression
    # SetFit-style step: fine-tune the encoder on this many same-label and different-label pairs
    # per training text before the regression (models/embedding/contrastive.py); 0: frozen encoder
    contrastive_pairs: int = Field(0, ge=0)
    contrastive_learning_rate: float = Field(2e-5, gt=0)  # SetFit's default for the encoder

    @field_validator("long_text")
    @classmethod
    def _embedding_reads_head_or_window_mean(cls, value: LongTextConfig) -> LongTextConfig:
        if value.strategy not in ("head", "sliding_window") or value.aggregation not in (None, "mean"):
            raise ValueError(f"strategy {value.strategy!r} (aggregation {value.aggregation!r}): an embedding model "
                             "reads the head of a text or the mean of its sliding windows (strategy: sliding_window)")
        return value

    @property
    def whole_documents(self) -> bool:
        return self.long_text.strategy == "sliding_window"


# -- the model type -----------------------------------------------------------------------------------
class EmbeddingModel(ModelBase):
    """Frozen encoder -> mean-pooled (normalised) embedding [+ TF-IDF] -> logistic regression.

    Public after `fit`/`load`: `encoder` (PretrainedEncoder: ids (B,T), mask (B,T) -> hidden
    (B,T,H), mask), `tokenizer` (PretrainedTokenizer), `max_length`, `embed(texts)` -> (n, H)."""

    config_class = EmbeddingConfig
    # Reads a text's first max_length tokens. Not explained yet (the regression reads pooled
    # embeddings, not tokens). Exports to ONNX as one graph (encoder, mean pooling, head) unless
    # TF-IDF features join the embeddings (`capabilities()`).
    declared_capabilities = Capabilities(
        long_text="head", export_formats=frozenset({"onnx"}),
        export_note="mean-pooled embeddings have no Hugging Face classifier counterpart; use --format onnx")

    def __init__(self, config: EmbeddingConfig, label_map: LabelMap, training: TrainingConfig, seed: int) -> None:
        self.config = config
        self.label_map = label_map
        self.training = training
        self.seed = seed
        self.encoder = None
        self.tokenizer = None
        self.vectorizer = None
        self.coef: np.ndarray | None = None  # (k or 1, d)
        self.intercept: np.ndarray | None = None
        self.cache: EmbeddingCache | None = None
        self._identity: str | None = None

    @property
    def max_length(self) -> int:
        return self.config.max_length

    # -- encoder --------------------------------------------------------------------------------
    def _set_encoder(self, source: str) -> None:
        from ..encoder_registry import usable_positions
        from ..pretrained import PretrainedEncoder, PretrainedTokenizer, quiet_transformers

        with quiet_transformers():
            self.tokenizer = PretrainedTokenizer.from_pretrained(source)
            self.encoder = PretrainedEncoder.from_pretrained(source).eval()
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        limit = usable_positions(self.encoder.hf_config)
        if limit is not None and self.config.max_length > limit:
            raise ConfigError(f"model.max_length: {self.config.max_length} > this encoder's {limit} positions")
        self._identity = None
        self.cache = None

    def identity(self) -> str:
        if self._identity is None:
            self._identity = encoder_identity(self.encoder, self.tokenizer)
        return self._identity

    def _cache(self) -> EmbeddingCache:
        if self.cache is None:
            directory = self.config.cache_dir or default_cache_dir()
            spec = self.config.long_text
            variant = "" if not self.config.whole_documents else (
                f"-windows{spec.max_windows}-window{spec.window or 'auto'}-stride{spec.stride or 'auto'}")
            self.cache = EmbeddingCache(directory, self.identity(), self.config.max_length,
                                        self.encoder.output_dim, variant=variant)
        return self.cache

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Mean-pooled hidden states of `texts`, float32 (n, H) (models/embedding/encoding.py)."""
        windows = None
        if self.config.whole_documents:
            windows = WindowSettings(self.config.max_length, self.config.long_text)
        return encode_texts(self.encoder, self.tokenizer, texts, self.config.max_length, windows,
                            self.config.batch_size, self.training.device, self.training.progress)

    def embed(self, texts: Sequence[str], use_cache: bool = True) -> np.ndarray:
        """Sentence embeddings, float32 (n, H): mean-pooled, L2-normalised when `normalize`.
        Goes through the disk cache when `use_cache` and the config allow it."""
        if self.encoder is None:
            raise ModelError("this embedding model is not fitted: call fit() or load()")
        texts = list(texts)
        if not (use_cache and self.config.cache):
            vectors = self._encode(texts)
        else:
            keys = [text_key(t) for t in texts]
            unique: dict[bytes, str] = dict(zip(keys, texts))
            cache = self._cache()
            found = cache.lookup(list(unique))
            missing = [k for k in unique if k not in found]
            if missing:
                fresh = self._encode([unique[k] for k in missing])
                cache.store(missing, fresh)
                found.update(zip(missing, fresh))
            vectors = np.stack([found[k] for k in keys]) if keys else self._encode([])
        if self.config.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.maximum(norms, 1e-12)
        return vectors.astype(np.float32, copy=False)

    def _features(self, texts: Sequence[str], use_cache: bool):
        dense = self.embed(texts, use_cache=use_cache)
        if self.vectorizer is None:
            return dense
        return sp.hstack([sp.csr_matrix(dense), self.vectorizer.transform(list(texts))], format="csr")

    # -- fitting ----------------------------------------------------------------------------------
    def _class_weights(self, y: np.ndarray) -> np.ndarray:
        weights = class_weights(y, self.label_map, self.training.class_weight)  # unknown names: ConfigError
        return np.ones(len(self.label_map)) if weights is None else weights.astype(np.float64)

    def fit(self, train: Examples, train_targets: np.ndarray, validation=None, validation_targets=None,
            workdir: Path | None = None, resume: bool = False) -> dict:
        """Fit on `train` only; `validation` is not used (C comes from cross-validation on train)."""
        from ..pretrained import resolve_name_or_path

        if resume:
            raise ConfigError("model.type 'embedding' cannot resume: only neural models checkpoint")
        if len(train) == 0:
            raise ConfigError("model: embedding needs at least one training text")
        self._set_encoder(resolve_name_or_path(self.config.name_or_path))
        contrastive = self._contrastive_step(train.texts, train_targets) if self.config.contrastive_pairs else None
        started = time.perf_counter()
        features = self._features_for_fit(train.texts)
        encode_seconds = time.perf_counter() - started
        started = time.perf_counter()
        if self.label_map.multi_label:
            chosen = self._fit_one_vs_rest(features, np.asarray(train_targets))
        else:
            y = np.asarray(train_targets, dtype=np.int64)
            if len(np.unique(y)) < 2:
                raise ConfigError("model: embedding needs at least two classes in the training data")
            coef, intercept, C, scores = fit_logistic(features, y, self._class_weights(y), self.config.C,
                                                       self.config.max_iter, self.seed)
            self.coef, self.intercept = self._full_width(coef, intercept, y)
            chosen = {"C": C, "cv_log_loss": scores}
        summary = {
            "features": int(features.shape[1]),
            "embedding_dim": int(self.encoder.output_dim),
            "encode_seconds": round(encode_seconds, 3),
            "fit_seconds": round(time.perf_counter() - started, 3),
            **chosen,
        }
        if contrastive is not None:
            summary["contrastive"] = contrastive
        if self.cache is not None:
            summary["cache"] = {"hits": self.cache.hits, "misses": self.cache.misses, "dir": str(self.cache.root)}
        return summary

    def _contrastive_step(self, texts: list[str], targets: np.ndarray) -> dict:
        from .contrastive import contrastive_tune

        if self.label_map.multi_label:
            raise ConfigError("model.contrastive_pairs: the contrastive step pairs texts by their one label; "
                              "it is for single-label tasks")
        report = contrastive_tune(self.encoder, self.tokenizer, list(texts), np.asarray(targets),
                                  self.config.contrastive_pairs, self.config.max_length, self.seed,
                                  self.config.contrastive_learning_rate, self.training.device)
        self._identity, self.cache = None, None  # new weights: their own cache entries
        return report

    def _features_for_fit(self, texts: list[str]):
        if self.config.tfidf:
            self.vectorizer = new_vectorizer().fit(texts)
        else:
            self.vectorizer = None
        return self._features(texts, use_cache=True)

    def _full_width(self, coef: np.ndarray, intercept: np.ndarray, y: np.ndarray):
        """Coefficients for every class of the label map: scikit-learn only knows the classes
        present in `y`; an absent class gets a score far below the others."""
        k = len(self.label_map)
        present = np.unique(y)
        if k == 2 or len(present) == k:
            return np.ascontiguousarray(coef), np.ascontiguousarray(intercept)
        if len(present) == 2:  # one column for two classes: scores [-s/2, s/2] give the same softmax
            coef = np.concatenate([-coef / 2, coef / 2])
            intercept = np.concatenate([-intercept / 2, intercept / 2])
        full_coef = np.zeros((k, coef.shape[1]), dtype=np.float32)
        full_intercept = np.full(k, -_CONSTANT_LOGIT + float(intercept.min()), dtype=np.float32)
        full_coef[present], full_intercept[present] = coef, intercept
        return full_coef, full_intercept

    def _fit_one_vs_rest(self, features, targets: np.ndarray) -> dict:
        k, d = targets.shape[1], features.shape[1]
        self.coef = np.zeros((k, d), dtype=np.float32)
        self.intercept = np.zeros(k, dtype=np.float32)
        spec = self.training.pos_weight or self.training.class_weight
        explicit = explicit_weights(spec, self.label_map, "pos_weight") if isinstance(spec, dict) else None
        chosen: list[float | None] = []
        for j in range(k):
            column = targets[:, j].astype(np.int64)
            if column.min() == column.max():  # always or never present: a constant score
                self.intercept[j] = _CONSTANT_LOGIT if column[0] == 1 else -_CONSTANT_LOGIT
                chosen.append(None)
                continue
            weights = binary_weights(column, spec, None if explicit is None else explicit[j])
            coef, intercept, C, _ = fit_logistic(features, column, weights, self.config.C, self.config.max_iter,
                                                  self.seed)
            self.coef[j], self.intercept[j] = coef[0], intercept[0]
            chosen.append(C)
        return {"C": chosen}

    # -- inference ------------------------------------------------------------------------------
    def logits(self, texts: Sequence[str]) -> np.ndarray:
        if self.coef is None:
            raise ModelError("this embedding model is not fitted: call fit() or load()")
        texts = list(texts)
        features = self._features(texts, use_cache=len(texts) >= CACHE_MIN_TEXTS)
        scores = np.asarray(features @ self.coef.T, dtype=np.float32) + self.intercept
        if not self.label_map.multi_label and len(self.label_map) == 2:
            # one column for two classes; softmax([0, s]) == [1 - sigmoid(s), sigmoid(s)].
            scores = np.concatenate([np.zeros_like(scores), scores], axis=1)
        return scores.astype(np.float32, copy=False)

    # -- introspection ----------------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        if self.config.whole_documents:
            return Capabilities(long_text="sliding_window", export_note=(
                "embedding with long_text.strategy sliding_window averages several windows per text, which one "
                "exported graph does not do; retrain with the head strategy, or distil it: textclf distill ..."))
        if not self.config.tfidf:
            return self.declared_capabilities
        return Capabilities(long_text="head", export_note=(
            "embedding with tfidf: true joins TF-IDF features to the encoder's, which no exported graph "
            "carries yet; retrain with model.tfidf: false, or distil it: textclf distill ..."))

    def export_view(self) -> EmbeddingExportView | None:
        if self.coef is None or self.config.tfidf or self.config.whole_documents:
            return None
        binary_column = not self.label_map.multi_label and len(self.label_map) == 2
        return EmbeddingExportView(self.encoder, self.tokenizer, self.config.max_length, self.config.normalize,
                                   self.coef, self.intercept, binary_column)

    def max_tokens(self) -> int | None:
        """Tokens read per text, specials included (sliding windows: what max_windows windows cover)."""
        if not self.config.whole_documents or self.tokenizer is None:
            return self.config.max_length
        settings = WindowSettings(self.config.max_length, self.config.long_text)
        window, stride = window_and_stride(self.tokenizer, settings)
        return self.tokenizer.num_specials + window + (self.config.long_text.max_windows - 1) * stride

    def vocabulary(self) -> dict[str, int | None] | None:
        if self.tokenizer is None:
            return None
        return {token.lower(): None for token in self.tokenizer.vocabulary() if not token.startswith("##")}

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Encoder tokens per text before truncation, the model's special tokens included."""
        if self.tokenizer is None:
            return super().token_lengths(texts)
        extra = self.tokenizer.num_specials
        ids = self.tokenizer.encode_content(list(texts))
        return np.fromiter((len(seq) + extra for seq in ids), dtype=np.int64, count=len(ids))

    # -- persistence ------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        from ..pretrained import quiet_transformers

        if self.coef is None:
            raise ModelError("this embedding model is not fitted: nothing to save")
        directory = Path(directory)
        encoder_dir = directory / ENCODER_DIR
        with quiet_transformers():
            self.encoder.model.save_pretrained(str(encoder_dir), safe_serialization=True)
            self.tokenizer.hf_tokenizer.save_pretrained(str(encoder_dir))
        if self.vectorizer is not None:
            (directory / TFIDF_FILE).write_text(json.dumps(vectorizer_state(self.vectorizer), ensure_ascii=False),
                                                encoding="utf-8")
        # safetensors writes the raw buffer: a Fortran-ordered array would come back transposed.
        save_file({"coef": np.ascontiguousarray(self.coef, dtype=np.float32),
                   "intercept": np.ascontiguousarray(self.intercept, dtype=np.float32)},
                  str(directory / HEAD_FILE))

    @classmethod
    def load(cls, directory: Path, config: EmbeddingConfig, label_map: LabelMap, training: TrainingConfig,
             seed: int) -> EmbeddingModel:
        from safetensors.numpy import load_file

        directory = Path(directory)
        encoder_dir = directory / ENCODER_DIR
        for needed in (encoder_dir / "config.json", encoder_dir / "tokenizer.json", directory / HEAD_FILE):
            if not needed.is_file():
                raise ModelError(f"{needed}: missing; is {directory} an embedding model directory?")
        if config.tfidf and not (directory / TFIDF_FILE).is_file():
            raise ModelError(f"{directory / TFIDF_FILE}: missing (the config says tfidf: true)")
        model = cls(config, label_map, training, seed)
        try:
            model._set_encoder(str(encoder_dir))
        except ConfigError as err:
            raise ModelError(f"{encoder_dir}: cannot load the encoder ({err})") from None
        if config.tfidf:
            model.vectorizer = vectorizer_from_state(json.loads((directory / TFIDF_FILE).read_text(encoding="utf-8")))
        weights = load_file(str(directory / HEAD_FILE))
        model.coef, model.intercept = weights["coef"], weights["intercept"]
        expected = model.encoder.output_dim + (len(model.vectorizer.vocabulary_) if model.vectorizer else 0)
        if model.coef.ndim != 2 or model.coef.shape[1] != expected:
            raise ModelError(f"{directory / HEAD_FILE}: coefficients have shape {model.coef.shape}, "
                             f"expected (*, {expected})")
        return model
