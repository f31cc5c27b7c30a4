"""Neural classifiers: tokenizer -> encoder -> pooling -> head, trained by training.Trainer.

Composition (what a new model type overrides; `pretrained` does the same):

    class MyModel(NeuralModel):
        config_class = MyConfig                      # a NeuralConfig subclass (type, pooling, dropout, ...)
        def build_tokenizer(self, train_texts): ...  # -> TextTokenizer, fitted on TRAIN texts only
        # (or fit_tokenizer(train_texts) -> (tokenizer, content ids of train_texts or None))
        def load_tokenizer(self, directory): ...     # -> TextTokenizer saved by tokenizer.save(directory)
        def build_encoder(self, tokenizer): ...      # -> module: (ids, mask) -> (hidden, mask), .output_dim
        # optional: build_pooling(dim), build_head(dim, k), parameter_groups(net), save_extra/load_extra

`NeuralNet(encoder, pooling, head)` maps input_ids (B, T) int64 + attention_mask (B, T) bool to
logits (B, K), never softmaxed. `parameter_groups` puts the head in its own group
(training.head_learning_rate) and keeps biases / norm weights out of weight decay. Saved files:
tokenizer files, `model.safetensors` (the NeuralNet state dict); the architecture is rebuilt from
config.json, so nothing is pickled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from safetensors.torch import load_file, save_file
from torch import nn

from ..config import Section, TrainingConfig
from ..data import Examples, LabelMap
from ..errors import ConfigError
from ..evaluation.metrics import classification_metrics
from ..objectives import decide, probabilities
from ..text.long import LongTextConfig
from ..text.tokenizers import SubwordTokenizer, TextTokenizer, TokenizerConfig, cyclic_gc_paused
from ..training.checkpoint import CHECKPOINT_DIR
from ..training.distributed import context_from_env
from ..training.losses import build_loss
from ..training.trainer import EncodedData, Trainer, parameter_groups, predict_logits, resolve_device, resolve_precision
from .encoders import BagEncoder, CnnEncoder, RnnEncoder, TransformerEncoder
from .base import ModelBase
from .heads import LinearHead
from .long import encode_documents, long_text_net, pad_documents, training_rows, window_size
from .net import MeanBagNet, NeuralNet
from .neural_views import NeuralViews
from .pooling import PoolingName, build_pooling

WEIGHTS_FILE = "model.safetensors"


# -- configs -------------------------------------------------------------------------------------
class NeuralConfig(Section):
    """What every neural model type shares."""

    type: str
    pooling: PoolingName = "mean"
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    max_length: int = Field(256, ge=8)  # tokens per text (per window with long_text windows); sizes positions
    long_text: LongTextConfig = LongTextConfig()  # truncation / windows / retrieval (models/long.py)


class ScratchConfig(NeuralConfig):
    """Models trained from scratch: their own subword tokenizer and embeddings."""

    embedding_dim: int = Field(128, ge=2)
    tokenizer: TokenizerConfig = TokenizerConfig()


class BagConfig(ScratchConfig):
    """fastText-style: the mean of subword embeddings and of hashed token n-gram embeddings
    (text/ngrams.py), then a linear head. `word_ngrams: 1` is the plain bag of subwords."""

    type: Literal["bag"] = "bag"
    pooling: PoolingName = "mean"
    # None, as fastText: 0.1 scored the same validation macro-F1 on Rotten Tomatoes (0.837 / 0.828
    # against 0.837 / 0.830, 2 seeds) and cost a third of the training time (dropout on every token).
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    word_ngrams: int = Field(2, ge=1, le=5)  # longest n-gram of adjacent subword tokens
    buckets: int = Field(2_000_000, ge=1, le=1 << 40)  # n-gram hash space (fastText's default)
    ngram_min_count: int = Field(1, ge=1)  # buckets seen fewer times in TRAIN get no embedding row
    # None: the embedding table is trained by AdamW with the head (every row, every step). A rate:
    # row-sparse gradients and plain SGD on the batch's rows only, fastText's update, in fastText's
    # units (per example; ~0.1-1.0); the head keeps AdamW at training.learning_rate. Needs the
    # trainer's sparse-aware optimizer (parameter groups marked `sparse`).
    sgd_embedding_lr: float | None = Field(2.0, gt=0)
    # fastText's features: whole words (every word seen in training) and their n-grams. Against a
    # BPE vocabulary of 8,000 (the from-scratch default) it scored higher validation macro-F1 on
    # 5 data sets (bench/bench_bag_tokenizers.py) and fits in a third of the time. Text without
    # spaces between words (Chinese, Japanese) needs `algorithm: bpe`.
    tokenizer: TokenizerConfig = TokenizerConfig(algorithm="word", vocab_size=1_000_000, min_frequency=1)


class RnnConfig(ScratchConfig):
    type: Literal["rnn"] = "rnn"
    cell: Literal["lstm", "gru"] = "lstm"
    hidden_size: int = Field(128, ge=1)
    num_layers: int = Field(1, ge=1)
    bidirectional: bool = True
    pooling: PoolingName = "max"


class CnnConfig(ScratchConfig):
    type: Literal["cnn"] = "cnn"
    kernel_sizes: tuple[Annotated[int, Field(ge=1)], ...] = Field((3, 4, 5), min_length=1)  # widths in tokens
    num_filters: int = Field(100, ge=1)
    pooling: PoolingName = "max"


class TransformerConfig(ScratchConfig):
    type: Literal["transformer"] = "transformer"
    num_heads: int = Field(4, ge=1)
    num_layers: int = Field(2, ge=1)
    ff_dim: int = Field(256, ge=1)
    positions: Literal["learned", "sinusoidal"] = "learned"
    pooling: PoolingName = "mean"

    @model_validator(mode="after")
    def _heads_divide(self) -> TransformerConfig:
        if self.embedding_dim % self.num_heads:
            raise ValueError(f"embedding_dim ({self.embedding_dim}) must be divisible by num_heads ({self.num_heads})")
        if self.positions == "sinusoidal" and self.embedding_dim % 2:
            raise ValueError("sinusoidal positions need an even embedding_dim")
        return self


# -- the model -----------------------------------------------------------------------------------
# Few rows make few updates: at 5 epochs a 1,500-row set gets ~250 steps and a model trained from
# scratch underfits (BBC News: the bag's test macro-F1 0.87 at 5 epochs, 0.95 at 33). So default
# epochs give about this many examples seen, 5 to 50 epochs, as fastText users raise -epoch on
# small sets; 9,600 Rotten Tomatoes rows keep 5 (bench/bench_scratch_epochs.py).
EXAMPLES_SEEN = 48_000


def scratch_epochs(train_rows: int) -> int:
    """Default epochs of a model trained from scratch on `train_rows` rows."""
    return int(min(50, max(5, -(-EXAMPLES_SEEN // max(1, train_rows)))))


class NeuralModel(NeuralViews, ModelBase):  # NeuralViews: capabilities and views (models/neural_views.py)
    """A ClassifierModel (models/base.py) around a NeuralNet. Subclasses pick the encoder."""

    config_class: ClassVar[type[NeuralConfig]] = NeuralConfig

    @classmethod
    def training_defaults(cls, train_rows: int | None) -> dict:
        """`default_training`, with epochs (and early-stopping patience, a fifth of them) from the
        training-set size; a pretrained encoder (`pretrained`) has its own."""
        defaults = dict(cls.default_training)
        if train_rows is not None:
            epochs = scratch_epochs(train_rows)
            defaults.update(epochs=epochs, early_stopping_patience=max(2, epochs // 5))
        return defaults

    def __init__(self, config: NeuralConfig, label_map: LabelMap, training: TrainingConfig, seed: int) -> None:
        self.config = config
        self.label_map = label_map
        self.training = training
        self.seed = seed
        self.tokenizer: TextTokenizer | None = None
        self.net: NeuralNet | None = None

    # -- factories (override in subclasses) ----------------------------------------------------
    def build_tokenizer(self, train_texts: Sequence[str]) -> TextTokenizer:
        return SubwordTokenizer.fit(train_texts, self.config.tokenizer)

    def fit_tokenizer(self, train_texts: Sequence[str]) -> tuple[TextTokenizer, list | None]:
        """The tokenizer fitted on `train_texts`, and their content ids (`encode_content`) when
        fitting computed them anyway (training then does not encode them again), else None."""
        return self.build_tokenizer(train_texts), None

    def load_tokenizer(self, directory: Path) -> TextTokenizer:
        return SubwordTokenizer.load(directory)

    def build_encoder(self, tokenizer: TextTokenizer) -> nn.Module:
        raise NotImplementedError

    def build_pooling(self, dim: int) -> nn.Module:
        return build_pooling(self.config.pooling, dim)

    def build_head(self, dim: int, num_outputs: int) -> nn.Module:
        return LinearHead(dim, num_outputs, self.config.dropout)

    def net_class(self) -> type[NeuralNet]:
        return NeuralNet

    def build_net(self, tokenizer: TextTokenizer) -> NeuralNet:
        encoder = self.build_encoder(tokenizer)
        net = self.net_class()(encoder, self.build_pooling(encoder.output_dim),
                               self.build_head(encoder.output_dim, len(self.label_map)))
        return long_text_net(net, self.config.long_text, len(self.label_map))  # windowed: a DocumentNet

    def parameter_groups(self, net: NeuralNet) -> list[dict]:
        body = nn.ModuleList([net.encoder, net.pooling])
        return parameter_groups(body, net.head, self.training)

    # -- training ------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> list:
        """Ids per text, or windows of ids per text for windowed long_text strategies."""
        return self.encode_long(texts).sequences

    def encode_long(self, texts: Sequence[str], content: list | None = None):
        """models.long.LongEncoding: what the model sees of each text under `model.long_text`
        (`content`: the texts' `encode_content`, when the caller has it)."""
        return encode_documents(self.tokenizer, texts, self.config.long_text, self.config.max_length,
                                self.label_map.labels, content)

    def max_tokens(self) -> int | None:
        """Tokens read per text: max_length, or for covering windows as many as the window cap reaches."""
        long_text = self.config.long_text
        if not long_text.windowed:
            return self.config.max_length
        window, stride = window_size(self.tokenizer, long_text, self.config.max_length)
        return (long_text.max_windows - 1) * stride + window

    def vocabulary(self) -> dict[str, int | None] | None:
        # Word-piece continuations ("##ing") are not words; a word absent as a whole token is out of vocabulary.
        return {token.lower(): None for token in self.tokenizer.vocabulary() if not token.startswith("##")}

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([len(ids) + self.tokenizer.num_specials for ids in self.tokenizer.encode_content(texts)],
                        dtype=np.int64)

    def long_text_report(self, texts: Sequence[str]) -> dict:
        """How much of `texts` the model sees: share truncated, share of content tokens seen."""
        return self.encode_long(texts).report()

    def validation_metrics(self, logits: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        """Headline numbers (accuracy, macro_f1, ...) of logits against targets, for early stopping."""
        multi = self.label_map.multi_label
        decisions = decide(probabilities(logits, multi), multi)
        metrics = classification_metrics(targets, decisions, self.label_map)
        return {k: v for k, v in metrics.items() if isinstance(v, float)}

    def sample_weights(self, targets: np.ndarray) -> np.ndarray:
        """Per-row weights for training.sampler = weighted: inverse frequency of the row's rarest label."""
        if self.label_map.multi_label:
            counts = np.maximum(targets.sum(axis=0), 1.0)
            inverse = np.where(targets > 0, 1.0 / counts, 0.0).max(axis=1)
            empty = targets.sum(axis=1) == 0
            inverse[empty] = 1.0 / max(1, int(empty.sum()))
            return inverse
        counts = np.bincount(targets, minlength=len(self.label_map)).astype(np.float64)
        return 1.0 / np.maximum(counts[targets], 1.0)

    def fingerprint(self, train: Examples | None = None) -> dict[str, Any]:
        """Everything a resumed run must share with the interrupted one: model and training
        settings (all that change results), seed, labels and the training data's identity."""
        cosmetic = {"progress", "log_every_steps", "checkpoint_every_steps", "eval_batch_size", "device"}
        out = {"model": self.config.model_dump(mode="json"), "labels": list(self.label_map.labels),
               "seed": self.seed, "training": self.training.model_dump(mode="json", exclude=cosmetic)}
        if train is not None:
            digest = hashlib.sha256("\x00".join(train.texts).encode("utf-8", "surrogatepass")).hexdigest()[:16]
            out["data"] = {"rows": len(train), "texts_sha256": digest}
        return out

    def fit(self, train: Examples, train_targets: np.ndarray, validation: Examples | None = None,
            validation_targets: np.ndarray | None = None, workdir: Path | None = None, resume: bool = False,
            stop_after_step: int | None = None) -> dict:
        """Fit the tokenizer on `train` only, then the network. With `resume`, continue the run
        checkpointed in `workdir` (its tokenizer is reloaded, not refitted)."""
        context = context_from_env(self.training.device)  # DDP under torchrun, else one process
        tokenizer_dir = Path(workdir) / CHECKPOINT_DIR / "tokenizer" if workdir is not None else None
        if resume:
            if tokenizer_dir is None or not tokenizer_dir.is_dir():
                raise ConfigError(f"{workdir}: no checkpoint to resume from")
            self.tokenizer, train_content = self.load_tokenizer(tokenizer_dir), None
        else:
            with cyclic_gc_paused():
                self.tokenizer, train_content = self.fit_tokenizer(train.texts)
            if tokenizer_dir is not None and context.is_main:
                tokenizer_dir.mkdir(parents=True, exist_ok=True)
                self.tokenizer.save(tokenizer_dir)
        with torch.random.fork_rng(devices=[]):  # seeded work must not disturb the caller's RNG
            torch.manual_seed(self.seed)
            self.net = self.build_net(self.tokenizer)
            with cyclic_gc_paused():
                encoded = self.encode_long(train.texts, train_content)
                validation_data = None
                if validation is not None and validation_targets is not None and len(validation):
                    validation_data = EncodedData(self.encode(validation.texts), validation_targets)
            train_data = EncodedData(*training_rows(
                encoded.sequences, train_targets,
                self.sample_weights(train_targets) if self.training.sampler == "weighted" else None,
                self.config.long_text))
            trainer = Trainer(
                self.net, self.training, build_loss(self.label_map, train_targets, self.training),
                self.parameter_groups(self.net), pad_id=self.tokenizer.pad_id, seed=self.seed, workdir=workdir,
                metric_fn=self.validation_metrics, fingerprint=self.fingerprint(train),
                context=context, collate=pad_documents)
            summary = trainer.fit(train_data, validation_data, resume=resume, stop_after_step=stop_after_step)
        summary["vocab_size"] = self.tokenizer.vocab_size
        summary["long_text"] = encoded.report()
        summary["parameters"] = sum(p.numel() for p in self.net.parameters())
        return summary

    # -- inference ------------------------------------------------------------------------------
    def logits(self, texts: Sequence[str]) -> np.ndarray:
        device = resolve_device(self.training.device)
        dtype = resolve_precision(self.training.precision, device, training=False)
        self.net.to(device)
        logits = predict_logits(self.net, self.encode(texts), self.tokenizer.pad_id,
                                self.training.eval_batch_size, device, dtype, collate=pad_documents)
        if logits.size == 0:
            return np.zeros((0, len(self.label_map)), dtype=np.float32)
        return logits

    # -- persistence ----------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        self.tokenizer.save(directory)
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        save_file(state, str(Path(directory) / WEIGHTS_FILE))

    @classmethod
    def load(cls, directory: Path, config: NeuralConfig, label_map: LabelMap, training: TrainingConfig, seed: int):
        model = cls(config, label_map, training, seed)
        model.tokenizer = model.load_tokenizer(directory)
        model.net = model.build_net(model.tokenizer)
        model.net.load_state_dict(load_file(str(Path(directory) / WEIGHTS_FILE)))
        model.net.eval()
        return model


# -- the from-scratch types ------------------------------------------------------------------------
class BagModel(NeuralModel):
    """With `word_ngrams >= 2` its tokenizer is a text.ngrams.NgramTokenizer: subword ids plus the
    ids of the n-gram buckets seen in training, all rows of one embedding table."""

    config_class = BagConfig
    # Embeddings from scratch need a large step, and clipping at 1.0 starves them (the head's
    # gradient dominates the norm); row-sparse gradients cannot be clipped at all.
    default_training = {"learning_rate": 0.01, "max_grad_norm": None}

    def fit_tokenizer(self, train_texts: Sequence[str]) -> tuple[TextTokenizer, list | None]:
        subwords = self.build_tokenizer(train_texts)
        c = self.config
        if c.word_ngrams < 2:
            return subwords, None
        from ..text.ngrams import NgramTokenizer

        content = subwords.encode_content(train_texts)  # the n-grams' fit and training both read it
        return NgramTokenizer.fit_content(subwords, content, c.word_ngrams, c.buckets, c.ngram_min_count), content

    def load_tokenizer(self, directory: Path) -> TextTokenizer:
        if self.config.word_ngrams < 2:
            return super().load_tokenizer(directory)
        from ..errors import ModelError
        from ..text.ngrams import NgramTokenizer

        tokenizer = NgramTokenizer.load(directory)
        c = self.config
        saved = (tokenizer.word_ngrams, tokenizer.buckets, tokenizer.min_count)
        if saved != (c.word_ngrams, c.buckets, c.ngram_min_count):
            raise ModelError(f"{directory}: n-gram files were written with (word_ngrams, buckets, ngram_min_count) "
                             f"= {saved}, the config says {(c.word_ngrams, c.buckets, c.ngram_min_count)}")
        return tokenizer

    def net_class(self) -> type[NeuralNet]:
        plain_mean = self.config.pooling == "mean" and self.config.dropout == 0.0
        return MeanBagNet if plain_mean else NeuralNet

    def build_encoder(self, tokenizer: TextTokenizer) -> nn.Module:
        c = self.config
        return BagEncoder(tokenizer.vocab_size, c.embedding_dim, tokenizer.pad_id, c.dropout,
                          sparse=c.sgd_embedding_lr is not None)

    def parameter_groups(self, net: NeuralNet) -> list[dict]:
        """With `sgd_embedding_lr`, the table is its own group, marked `sparse` for the optimizer.
        The loss is a mean over the batch (and over labels when multi-label, where fastText's loss
        sums them), so the per-example rate is scaled by examples per step (and by labels)."""
        rate = self.config.sgd_embedding_lr
        if rate is None:
            return super().parameter_groups(net)
        if self.training.max_grad_norm is not None:
            raise ConfigError("model.sgd_embedding_lr: set training.max_grad_norm to null (row-sparse "
                              "gradients are not clipped)")
        table = net.encoder.embedding.weight
        per_step = self.training.batch_size * self.training.gradient_accumulation_steps
        if self.label_map.multi_label:
            per_step *= len(self.label_map)
        rest = nn.ModuleList([m for name, m in net.named_children() if name not in ("encoder", "head")])
        groups = parameter_groups(rest, net.head, self.training)  # the encoder holds only the table
        return [*groups, {"params": [table], "lr": rate * per_step, "weight_decay": 0.0, "sparse": True}]


class RnnModel(NeuralModel):
    config_class = RnnConfig

    def build_encoder(self, tokenizer: TextTokenizer) -> nn.Module:
        c = self.config
        return RnnEncoder(tokenizer.vocab_size, c.embedding_dim, c.hidden_size, c.cell, c.num_layers,
                          c.bidirectional, c.dropout, tokenizer.pad_id)


class CnnModel(NeuralModel):
    config_class = CnnConfig

    def build_encoder(self, tokenizer: TextTokenizer) -> nn.Module:
        c = self.config
        return CnnEncoder(tokenizer.vocab_size, c.embedding_dim, c.num_filters, tuple(c.kernel_sizes), c.dropout,
                          tokenizer.pad_id)


class TransformerModel(NeuralModel):
    config_class = TransformerConfig

    def build_encoder(self, tokenizer: TextTokenizer) -> nn.Module:
        c = self.config
        return TransformerEncoder(tokenizer.vocab_size, c.embedding_dim, c.num_heads, c.num_layers, c.ff_dim,
                                  max_positions=c.max_length, positions=c.positions,
                                  dropout=c.dropout, pad_id=tokenizer.pad_id)
