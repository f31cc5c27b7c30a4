"""The contract every model type fulfils; the TextClassifier facade only talks to this.

A model type is a class with a pydantic `config_class` (its `type` key is the registry name)
that implements `fit`, `logits`, `save` and `load`. `ModelBase` supplies the introspection other
parts of textclf ask about (analysis, export, reports) with honest defaults, so a third-party
type only overrides what it knows better. Register one with `models.register_model_type`.

Models declare, callers ask: a model type declares what it can do in `capabilities()` (a
`Capabilities` record) and hands out typed views (`attribution_view`, `export_view`) for the
callers that need its insides. Code outside `models/` asks through these and never probes a
model with hasattr/getattr (tests/test_architecture.py checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
from pydantic import BaseModel

from ..config import TrainingConfig
from ..data import Examples, LabelMap


# -- what a model declares --------------------------------------------------------------------------
WHOLE_CHUNK = 1 << 20  # a preferred_batch_size larger than any streaming chunk


@dataclass(frozen=True)
class Capabilities:
    """What a fitted model of a type (and config) can do; the default is a model that only predicts."""

    explain: Literal["linear", "gradient"] | None = None  # kind of token attributions; None: explain refuses
    export_formats: frozenset[str] = frozenset()  # of "onnx", "hf"
    # Why a format is missing, in one line for the refusal (None: the generic "distil it" hint).
    export_note: str | None = None
    checkpointing: bool = False  # fit(workdir=..., resume=True) continues an interrupted run
    # How a text longer than the model reads is handled (models/long.py strategies: head, tail,
    # head_tail, sliding_window, hierarchical, retrieval); None: the model reads whole texts.
    long_text: str | None = None
    # Texts per `logits` call the model runs fastest at, when it knows better than the caller's
    # batch size (TF-IDF: a whole streaming chunk in one sparse product); None: the caller's.
    preferred_batch_size: int | None = None
    # fit takes single-label targets as probabilities (n, k) floats (distillation's soft targets).
    soft_targets: bool = False


@dataclass(frozen=True)
class LinearAttributionView:
    """A linear model over TF-IDF features, for exact attributions (analysis/attribution_linear.py):
    logits = hstack(v.transform(texts) for v in vectorizers) @ coef.T + intercept."""

    vectorizers: list  # fitted scikit-learn TfidfVectorizer, in feature order
    coef: np.ndarray  # (k, d), or (1, d) for two classes (class 1's row)
    intercept: np.ndarray  # (k,) or (1,)


@dataclass(frozen=True)
class GradientAttributionView:
    """What Integrated Gradients needs from a neural model (analysis/attribution_ig.py): the net,
    the embedding layer attributions are taken at, and how the ids it reads line up with the text."""

    net: Any  # torch module: input_ids (B, T) int64, attention_mask (B, T) -> logits (B, K)
    embedding_layer: Any  # the torch module that turns ids into token embeddings
    pad_id: int
    device: str  # training.device setting (resolved by the caller)
    encode: Callable[[Sequence[str]], list]  # the ids the model reads per text, specials included
    # (ids, (start, end) character offsets, word ids) of a text's content tokens, untruncated, no specials
    content_tokens: Callable[[str], tuple[list[int], list[tuple[int, int]], list]]
    content_budget: int | None  # content tokens read per text before truncating; None: all
    truncation: str  # long_text strategy for the content: head, tail or head_tail
    head_tokens: int  # head_tail: tokens kept from the head
    frame: Callable[[list[int]], list[int]]  # content ids with the special tokens around them
    sequence: Callable[[list[int]], list[int]]  # the full input for kept content ids (frame + extra ids)
    extra_cover: Callable[[list[int]], list[tuple[int, ...]]]  # per extra id appended: content tokens it joins


@dataclass(frozen=True)
class HuggingFaceParts:
    """A fine-tuned Hugging Face encoder with textclf's pooling and head (serving/hf_export.py)."""

    encoder: Any  # models.pretrained.PretrainedEncoder: .model (transformers), .hf_config
    hf_tokenizer: Any  # the transformers fast tokenizer
    pooling: str
    head: Any  # torch module: pooled (B, H) -> logits (B, K)
    max_length: int


@dataclass(frozen=True)
class ExportView:
    """What graph exports need from a neural model (serving/onnx_export.py, serving/hf_export.py)."""

    net: Any  # torch module: input_ids (B, T) int64, attention_mask (B, T) -> logits (B, K)
    tokenizer: Any  # has save(directory); its "module:Class" name is recorded in the export
    max_tokens: int | None
    hf_encoder: Any | None = None  # a PretrainedEncoder inside `net` (hf_config, eager_attention())
    hf_parts: HuggingFaceParts | None = None  # set when the model maps onto a Hugging Face classifier


@dataclass(frozen=True)
class LinearExportView:
    """TF-IDF blocks + a linear head, for graph export (serving/export/tfidf_onnx.py):
    logits = hstack(v.transform(texts) for v in vectorizers) @ coef.T + intercept, each block
    L2-normalised by its vectorizer; `binary_column`: coef has one row for two classes, whose
    logits are [0, s] (softmax([0, s]) == [1 - sigmoid(s), sigmoid(s)])."""

    vectorizers: list  # fitted scikit-learn TfidfVectorizer, in feature order
    coef: np.ndarray  # (k, d), or (1, d) with binary_column
    intercept: np.ndarray  # (k,) or (1,)
    binary_column: bool


@dataclass(frozen=True)
class EmbeddingExportView:
    """A frozen encoder, mean pooling, optional L2 normalisation and a linear head, for graph export
    (serving/export/embedding_onnx.py turns it into an `ExportView`)."""

    encoder: Any  # models.pretrained.PretrainedEncoder: ids (B,T), mask (B,T) -> hidden (B,T,H), mask
    tokenizer: Any  # models.pretrained.PretrainedTokenizer
    max_tokens: int
    normalize: bool
    coef: np.ndarray  # (k, H), or (1, H) with binary_column
    intercept: np.ndarray
    binary_column: bool


AnyExportView = ExportView | LinearExportView | EmbeddingExportView


# -- the protocol ----------------------------------------------------------------------------------
class ClassifierModel(Protocol):
    """Texts in, logits out. Probabilities, thresholds and calibration live outside the model."""

    config_class: ClassVar[type[BaseModel]]
    # Training keys this type uses when the user's config leaves them unset (pretrained: lr 3e-5, ...).
    default_training: ClassVar[dict[str, Any]]

    @classmethod
    def training_defaults(cls, train_rows: int | None) -> dict[str, Any]:
        """`default_training`, adapted to the training-set size when it is known (None before fit)."""

    def __init__(self, config: BaseModel, label_map: LabelMap, training: TrainingConfig, seed: int) -> None:
        """Store parameters only; nothing is fitted or allocated until `fit` or `load`."""

    def fit(
        self,
        train: Examples,
        train_targets: np.ndarray,
        validation: Examples | None,
        validation_targets: np.ndarray | None,
        workdir: Path | None = None,
        resume: bool = False,
    ) -> dict:
        """Fit on `train` only (vocabularies included); `validation` may drive early stopping.

        Targets are class ids, shape (n,), or multi-hot float32, shape (n, k). `workdir` receives
        logs and checkpoints when given; `resume` continues from its checkpoint (a model type
        that does not checkpoint raises ConfigError). Returns a small JSON-able training summary."""

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw scores, float32, shape (n, k): softmax (single-label) or sigmoid (multi-label)
        turns them into probabilities."""

    def save(self, directory: Path) -> None:
        """Write weights and any fitted state (tokenizer, vocabulary) into `directory`."""

    @classmethod
    def load(cls, directory: Path, config: BaseModel, label_map: LabelMap, training: TrainingConfig, seed: int):
        """Rebuild a fitted model from what `save` wrote."""

    def max_tokens(self) -> int | None:
        """Tokens per text the model reads before truncating; None when it reads everything."""

    def vocabulary(self) -> dict[str, int | None] | None:
        """Lower-cased words the model knows, each mapped to the number of training documents that
        contain it (None where the model keeps no count, e.g. a subword vocabulary); None when the
        model has no word vocabulary."""

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Length of each text in the model's own tokens (before truncation), int64, shape (n,)."""

    def selected(self) -> tuple[BaseModel, ClassifierModel] | None:
        """For types that choose another model while fitting (`auto`): (config, fitted model) of
        the choice, which the classifier saves in its place. None for every other type."""

    def capabilities(self) -> Capabilities:
        """What this model (its type under its config) can do."""

    def attribution_view(self) -> LinearAttributionView | GradientAttributionView | None:
        """The view `explain` reads (kind given by `capabilities().explain`); None: not explainable."""

    def export_view(self) -> AnyExportView | None:
        """The view graph exports read (its kind follows the model type); None: nothing to export."""

    def training_settings(self) -> TrainingConfig | None:
        """The training settings the model was built with (None for a type that keeps none)."""

    def type_name(self) -> str:
        """The model's registry name (`config.type`), for messages."""


class ModelBase:
    """Defaults for the introspection half of `ClassifierModel`."""

    default_training: ClassVar[dict[str, Any]] = {}
    # What the type can do; a type whose abilities depend on its config overrides `capabilities()`.
    declared_capabilities: ClassVar[Capabilities] = Capabilities()

    @classmethod
    def training_defaults(cls, train_rows: int | None) -> dict[str, Any]:
        return dict(cls.default_training)

    def max_tokens(self) -> int | None:
        return None

    def vocabulary(self) -> dict[str, int | None] | None:
        return None

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        return np.fromiter((len(t.split()) for t in texts), dtype=np.int64, count=len(texts))

    def selected(self):
        return None

    def capabilities(self) -> Capabilities:
        return self.declared_capabilities

    def preferred_batch_size(self) -> int | None:
        return self.capabilities().preferred_batch_size

    def attribution_view(self) -> LinearAttributionView | GradientAttributionView | None:
        return None

    def export_view(self) -> AnyExportView | None:
        return None

    def training_settings(self) -> TrainingConfig | None:
        training = getattr(self, "training", None)  # a type may keep no training settings at all
        return training if isinstance(training, TrainingConfig) else None

    def type_name(self) -> str:
        return str(getattr(getattr(self, "config", None), "type", type(self).__name__))
