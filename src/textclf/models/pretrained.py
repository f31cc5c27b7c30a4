"""Fine-tuning pretrained Hugging Face encoders (BERT, MiniLM, RoBERTa, ...) offline.

    model: {type: pretrained, name_or_path: minilm, pooling: cls|mean|max|attention}

`name_or_path` is a registered encoder (`minilm` or null: the packaged all-MiniLM-L6-v2;
`mpnet-base`; models/encoder_registry.py, resolved lazily), any local Hugging Face model
directory, or a hub name where a hub is reachable. The encoder is
`transformers.AutoModel`, the tokenizer `AutoTokenizer` (fast); pooling, head, loss and the
training loop are the project's own (`NeuralModel`), so every trainer feature applies unchanged.

A saved model is self-contained: the encoder's `config.json` and tokenizer files sit in
`encoder/` inside the model directory and all weights in `model.safetensors`, so loading needs
neither the network nor the package the weights first came from.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ..errors import ConfigError, ModelError
from ..text.long import LongTextConfig
from .base import Capabilities, ExportView, HuggingFaceParts
from .net import NeuralNet
from .neural import WEIGHTS_FILE, NeuralConfig, NeuralModel
from .neural_views import export_view, neural_capabilities
from .pooling import PoolingName

PACKAGED_MODEL = "minilm"
ENCODER_DIR = "encoder"  # encoder config + tokenizer files inside a saved model directory


def resolve_name_or_path(name_or_path: str | None) -> str:
    """A registered encoder name (`minilm`/None: the packaged MiniLM; `mpnet-base`; see
    models/encoder_registry.py) -> its local directory; a local directory or hub name as given."""
    from .encoder_registry import encoder_path, encoder_spec

    if encoder_spec(name_or_path) is not None:
        return str(encoder_path(name_or_path))
    path = Path(name_or_path).expanduser()
    if path.exists() and not (path / "config.json").is_file():
        raise ConfigError(f"model.name_or_path: {path} has no config.json; is it a Hugging Face model directory?")
    return str(path) if path.exists() else name_or_path


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and progress bars (e.g. 'pooler: UNEXPECTED', which is
    expected: we pool ourselves) for the duration of a load or save."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _from_pretrained(loader, source: str, **kwargs):
    """Call an Auto*.from_pretrained, turning 'not found / offline' into one ConfigError line."""
    try:
        with quiet_transformers():
            return loader.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as err:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = " (HF_HUB_OFFLINE=1: only local directories work)" if offline else ""
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"model.name_or_path {source!r}: cannot load{hint}: {first_line}") from None


# -- tokenizer -----------------------------------------------------------------------------------
class PretrainedTokenizer:
    """A Hugging Face fast tokenizer behind the project's `TextTokenizer` seam.

    `encode` adds the model's own special tokens ([CLS] ... [SEP] for BERT), so CLS pooling reads
    the position the encoder was pretrained to summarise the text in."""

    def __init__(self, tokenizer) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise ConfigError("model.name_or_path: no fast tokenizer (tokenizer.json) for this model")
        self._tokenizer = tokenizer
        pad_id = tokenizer.pad_token_id
        self.pad_id = int(pad_id) if pad_id is not None else 0

    @classmethod
    def from_pretrained(cls, source: str) -> PretrainedTokenizer:
        from transformers import AutoTokenizer

        return cls(_from_pretrained(AutoTokenizer, source, use_fast=True))

    @property
    def hf_tokenizer(self):
        return self._tokenizer

    @property
    def vocab_size(self) -> int:
        return len(self._tokenizer)

    def vocabulary(self) -> list[str]:
        return list(self._tokenizer.get_vocab())

    def encode(self, texts: Sequence[str], max_length: int) -> list[list[int]]:
        """Ids per text, special tokens included, at most `max_length` long."""
        encoded = self._tokenizer(list(texts), truncation=True, max_length=max_length, padding=False,
                                  return_attention_mask=False, return_token_type_ids=False)
        return [list(ids) for ids in encoded["input_ids"]]

    # -- long documents: content first, then truncate or window, then specials ------------------
    def encode_content(self, texts: Sequence[str]) -> list[list[int]]:
        """Ids per text without special tokens and untruncated (longer than the encoder's limit
        is expected here: windows or truncation follow)."""
        with quiet_transformers():  # no 'sequence longer than the maximum' warning
            encoded = self._tokenizer(list(texts), add_special_tokens=False, truncation=False, padding=False,
                                      return_attention_mask=False, return_token_type_ids=False)
        return [list(ids) for ids in encoded["input_ids"]]

    @property
    def num_specials(self) -> int:
        return int(self._tokenizer.num_special_tokens_to_add(pair=False))

    def add_specials(self, ids: Sequence[int]) -> list[int]:
        """The model's own specials around `ids` ([CLS] ids [SEP] for BERT)."""
        prefix, suffix = self._special_frame()
        return [*prefix, *ids, *suffix]

    def _special_frame(self) -> tuple[list[int], list[int]]:
        # Where the specials go, read off one single-token text encoded with and without them.
        if not hasattr(self, "_frame"):
            bare = self._tokenizer("a", add_special_tokens=False)["input_ids"]
            full = self._tokenizer("a", add_special_tokens=True)["input_ids"]
            at = next(i for i in range(len(full)) if full[i:i + len(bare)] == bare)
            self._frame = (list(full[:at]), list(full[at + len(bare):]))
        return self._frame

    def save(self, directory: Path) -> None:
        self._tokenizer.save_pretrained(str(Path(directory) / ENCODER_DIR))

    @classmethod
    def load(cls, directory: Path) -> PretrainedTokenizer:
        path = Path(directory) / ENCODER_DIR
        if not (path / "tokenizer.json").is_file():
            raise ModelError(f"{path / 'tokenizer.json'}: tokenizer file missing")
        from transformers import AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(str(path), use_fast=True))


# -- encoder -------------------------------------------------------------------------------------
def _auto_model(source_or_config, from_config: bool) -> nn.Module:
    """AutoModel without its pooler where the architecture allows: we pool ourselves, and unused
    parameters would make DistributedDataParallel fail."""
    from transformers import AutoModel

    for kwargs in ({"add_pooling_layer": False}, {}):
        try:
            if from_config:
                return AutoModel.from_config(source_or_config, **kwargs)
            return _from_pretrained(AutoModel, source_or_config, **kwargs)
        except TypeError:
            continue
    raise ModelError(f"cannot build an encoder from {source_or_config!r}")


def _layer_list(model: nn.Module) -> nn.ModuleList | None:
    """The stack of transformer blocks (encoder.layer for BERT, transformer.layer for DistilBERT)."""
    n_layers = getattr(model.config, "num_hidden_layers", None)
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == n_layers:
            return module
    return None


class PretrainedEncoder(nn.Module):
    """`forward(input_ids (B,T), attention_mask (B,T)) -> (hidden (B,T,H), mask (B,T) bool)`."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.output_dim = int(model.config.hidden_size)

    @classmethod
    def from_pretrained(cls, source: str) -> PretrainedEncoder:
        return cls(_auto_model(source, from_config=False))

    @classmethod
    def from_saved_config(cls, directory: Path) -> PretrainedEncoder:
        """The architecture only (weights come from the model's own safetensors file)."""
        from transformers import AutoConfig

        path = Path(directory) / ENCODER_DIR
        if not (path / "config.json").is_file():
            raise ModelError(f"{path / 'config.json'}: encoder config missing")
        return cls(_auto_model(AutoConfig.from_pretrained(str(path)), from_config=True))

    @property
    def hf_config(self):
        return self.model.config

    @contextlib.contextmanager
    def eager_attention(self) -> Iterator[None]:
        """Eager attention for the duration (restored afterwards): a traced graph of plain
        MatMul/Softmax, which ONNX Runtime fuses and runs faster than the decomposed
        scaled-dot-product attention."""
        previous = getattr(self.model.config, "_attn_implementation", None)
        switch = previous not in (None, "eager") and hasattr(self.model, "set_attn_implementation")
        if switch:
            self.model.set_attn_implementation("eager")
        try:
            yield
        finally:
            if switch:
                self.model.set_attn_implementation(previous)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask.long())
        return out.last_hidden_state, attention_mask.bool()

    def freeze(self, encoder: bool = False, layers: int = 0) -> int:
        """Stop gradients to the whole encoder, or to its embeddings and lowest `layers` blocks.
        Returns how many parameters stay trainable."""
        if encoder:
            for p in self.model.parameters():
                p.requires_grad_(False)
        elif layers > 0:
            blocks = _layer_list(self.model)
            if blocks is None:
                raise ConfigError("model.freeze_layers: cannot find this encoder's layer stack")
            if layers > len(blocks):
                raise ConfigError(f"model.freeze_layers: {layers} > the encoder's {len(blocks)} layers")
            embeddings = self.model.get_input_embeddings()
            frozen = [self.model.embeddings if hasattr(self.model, "embeddings") else embeddings, *blocks[:layers]]
            for module in frozen:
                for p in module.parameters():
                    p.requires_grad_(False)
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def save_config(self, directory: Path) -> None:
        path = Path(directory) / ENCODER_DIR
        path.mkdir(parents=True, exist_ok=True)
        self.model.config.save_pretrained(str(path))


# -- the model type ------------------------------------------------------------------------------
# Fine-tuning defaults, used for every training key the user's config leaves unset: the
# from-scratch defaults (lr 1e-3, 5 epochs) would wreck a pretrained encoder.
# precision auto: bf16 autocast for training on GPUs and on CPUs with native bf16 (training/setup.py)
FINE_TUNING_DEFAULTS = {"learning_rate": 3e-5, "epochs": 3, "warmup_ratio": 0.1, "weight_decay": 0.01,
                        "precision": "auto"}
# Few rows make few steps: a few hundred rows at 3 epochs is ~30 optimizer steps, too few for the
# freshly initialised head. Small sets train longer, give the head its own faster rate and keep the
# epoch with the best validation macro-F1 (early stopping).
SMALL_DATA_ROWS = 2000
SMALL_DATA_DEFAULTS = {"learning_rate": 5e-5, "head_learning_rate": 1e-3, "epochs": 10, "warmup_ratio": 0.1,
                       "weight_decay": 0.01, "batch_size": 16, "early_stopping_metric": "macro_f1",
                       "early_stopping_patience": 3, "precision": "auto"}


class PretrainedConfig(NeuralConfig):
    type: Literal["pretrained"] = "pretrained"
    name_or_path: str | None = PACKAGED_MODEL  # `minilm`/null: the packaged all-MiniLM-L6-v2
    pooling: PoolingName = "cls"  # only cls exports to a Hugging Face directory
    freeze_encoder: bool = False  # train the head (and attention pooling) only
    freeze_layers: int = Field(0, ge=0)  # freeze the embeddings and the lowest N transformer layers
    max_length: int = Field(128, ge=8)


class PretrainedModel(NeuralModel):
    """A Hugging Face encoder + the project's pooling and head, fine-tuned by the project's trainer."""

    config_class = PretrainedConfig
    default_training = FINE_TUNING_DEFAULTS
    declared_capabilities = neural_capabilities(LongTextConfig(), hf_export=True)  # default config: cls, head

    @classmethod
    def training_defaults(cls, train_rows: int | None) -> dict:
        if train_rows is not None and train_rows < SMALL_DATA_ROWS:
            return dict(SMALL_DATA_DEFAULTS)
        return dict(FINE_TUNING_DEFAULTS)

    def __init__(self, config: PretrainedConfig, label_map, training, seed: int) -> None:
        super().__init__(config, label_map, training, seed)
        self._architecture_dir: Path | None = None  # set by `load`: no pretrained weights needed

    def source(self) -> str:
        return resolve_name_or_path(self.config.name_or_path)

    # -- factories ----------------------------------------------------------------------------
    def build_tokenizer(self, train_texts: Sequence[str]) -> PretrainedTokenizer:
        return PretrainedTokenizer.from_pretrained(self.source())  # the pretrained vocabulary, as is

    def load_tokenizer(self, directory: Path) -> PretrainedTokenizer:
        return PretrainedTokenizer.load(directory)

    def build_encoder(self, tokenizer: PretrainedTokenizer) -> PretrainedEncoder:
        if self._architecture_dir is not None:
            encoder = PretrainedEncoder.from_saved_config(self._architecture_dir)
        else:
            encoder = PretrainedEncoder.from_pretrained(self.source())
        encoder.freeze(self.config.freeze_encoder, self.config.freeze_layers)
        return encoder

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        with quiet_transformers():
            super().save(directory)  # tokenizer files in encoder/, all weights in model.safetensors
            self.net.encoder.save_config(directory)

    @classmethod
    def load(cls, directory: Path, config: PretrainedConfig, label_map, training, seed: int) -> PretrainedModel:
        from safetensors.torch import load_file

        model = cls(config, label_map, training, seed)
        model._architecture_dir = Path(directory)
        model.tokenizer = model.load_tokenizer(directory)
        with quiet_transformers():
            model.net = model.build_net(model.tokenizer)
        model.net.load_state_dict(load_file(str(Path(directory) / WEIGHTS_FILE)))
        model.net.eval()
        return model

    # -- what the model declares (models/neural_views.py), with the Hugging Face export ---------
    def capabilities(self) -> Capabilities:
        # Only CLS pooling reads what a Hugging Face classifier reads (serving/hf_export.py).
        return neural_capabilities(self.config.long_text, hf_export=self.config.pooling == "cls")

    def export_view(self) -> ExportView | None:
        if self.net is None:
            return None
        net: NeuralNet = self.net
        parts = HuggingFaceParts(net.encoder, self.tokenizer.hf_tokenizer, self.config.pooling, net.head,
                                 self.config.max_length)
        return export_view(self, hf_encoder=net.encoder, hf_parts=parts)
