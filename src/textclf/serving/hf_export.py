"""Export a fine-tuned `pretrained` classifier as a Hugging Face model directory.

    textclf export --format hf MODEL OUT_DIR
    AutoModelForSequenceClassification.from_pretrained(OUT_DIR)   # same logits, labels in config

What is exported, exactly:
- the fine-tuned encoder weights, unchanged;
- the tokenizer, with `model_max_length` set to the training `max_length`, so `truncation=True`
  cuts texts where textclf did;
- `id2label` / `label2id` from the saved LabelMap, and `problem_type` (single- or multi-label);
- the head. Hugging Face's BERT-style classifiers read `tanh(dense(h_cls))` (the "pooler", or
  RoBERTa's `classifier.dense`), while textclf's CLS head is linear on `h_cls`. A linear head
  `W h + b` is exported through that tanh layer as `dense = eps * I`, `classifier = W / eps`:
  `tanh(eps * x) / eps = x * (1 - (eps * x)^2 / 3 + ...)`, so with eps = 1e-4 the logits agree
  to about 1e-7 relative error, far below float32 training noise. A head with one hidden tanh
  layer maps exactly onto (dense, classifier).

Only CLS pooling has a Hugging Face counterpart; a model pooled by mean/max/attention raises
ModelError (retrain with `model.pooling: cls`, or use `textclf export --format onnx`). After
writing, the export is checked: a few probe texts must give the same logits as textclf.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ModelError
from ..fileio import atomic_directory
from ..models.base import ExportView
from .export.metadata import set_tokenizer_truncation
from .export.model_card import read_metrics, write_model_card

EPS = 1e-4  # scale of the near-identity tanh layer (see module docstring)
PROBE_TEXTS = ["a gripping, beautifully shot film", "dull.", "ok", "the plot: two brothers inherit a farm " * 8]
TOLERANCE = 1e-3  # max |logit difference| accepted by the post-export check


def _head_layers(head: nn.Module) -> list[nn.Module]:
    """The head's computing layers in order, dropout and identities left out."""
    layers = [m for m in head.modules() if not list(m.children())]
    return [m for m in layers if not isinstance(m, (nn.Dropout, nn.Identity))]


def _head_as_dense_tanh_linear(head: nn.Module, hidden: int) -> tuple[torch.Tensor, ...]:
    """(dense_w (H,H), dense_b (H,), out_w (k,H), out_b (k,)) such that
    head(x) == out(tanh(dense(x))), exactly or to ~1e-7 relative error."""
    layers = _head_layers(head)
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    if len(layers) == 1 and len(linears) == 1:
        (out,) = linears
        dense_w = torch.eye(hidden) * EPS
        return dense_w, torch.zeros(hidden), out.weight.detach() / EPS, out.bias.detach().clone()
    if (len(layers) == 3 and isinstance(layers[0], nn.Linear) and isinstance(layers[1], nn.Tanh)
            and isinstance(layers[2], nn.Linear) and layers[0].out_features == hidden):
        dense, _, out = layers
        return (dense.weight.detach().clone(), dense.bias.detach().clone(),
                out.weight.detach().clone(), out.bias.detach().clone())
    kinds = ", ".join(type(m).__name__ for m in layers)
    raise ModelError(f"export --format hf: head layers ({kinds}) have no Hugging Face counterpart; "
                     "a linear head, or Linear(H,H)-Tanh-Linear, can be exported")


def _set_head(hf_model: nn.Module, weights: tuple[torch.Tensor, ...]) -> None:
    dense_w, dense_b, out_w, out_b = weights
    children = dict(hf_model.named_children())
    classifier = children.get("classifier")
    pooler = dict(hf_model.base_model.named_children()).get("pooler")
    parts = dict(classifier.named_children()) if classifier is not None else {}
    if isinstance(classifier, nn.Linear) and pooler is not None:
        dense, out = pooler.dense, classifier  # BERT family: pooler.dense + tanh, then classifier
    elif "dense" in parts and "out_proj" in parts:
        dense, out = parts["dense"], parts["out_proj"]  # RoBERTa family: dense + tanh, out_proj
    else:
        raise ModelError(f"export --format hf: {type(hf_model).__name__} has no tanh pooler to carry the head; "
                         "BERT- and RoBERTa-style encoders can be exported")
    with torch.no_grad():
        dense.weight.copy_(dense_w)
        dense.bias.copy_(dense_b)
        out.weight.copy_(out_w)
        out.bias.copy_(out_b)


def build_hf_model(clf) -> tuple[nn.Module, object]:
    """(AutoModelForSequenceClassification in eval mode, HF tokenizer) equivalent to `clf`."""
    from transformers import AutoModelForSequenceClassification

    from ..models.long import refuse_export  # long-text hook (models/long.py)

    from .onnx_export import refusal

    view = clf.model_.export_view()
    parts = view.hf_parts if isinstance(view, ExportView) else None
    if parts is not None and parts.pooling != "cls":
        raise ModelError(f"export --format hf: pooling {parts.pooling!r} has no Hugging Face counterpart (its classifiers "
                         "read the first token); export --format onnx, or retrain with model.pooling: cls")
    line = refusal(clf.model_, "hf")
    if line is not None or parts is None:
        raise ModelError(line or f"export --format hf: this {clf.model_.type_name()!r} model is not fitted")
    refuse_export(clf.model_, "hf")
    encoder = parts.encoder
    config = encoder.hf_config.__class__.from_dict(encoder.hf_config.to_dict())
    names = clf.label_map.labels
    config.num_labels = len(names)
    config.id2label = {i: str(name) for i, name in enumerate(names)}
    config.label2id = {str(name): i for i, name in enumerate(names)}
    config.problem_type = "multi_label_classification" if clf.multi_label else "single_label_classification"
    config.architectures = None
    hf_model = AutoModelForSequenceClassification.from_config(config)
    state = {k: v.detach().cpu() for k, v in encoder.model.state_dict().items()}
    missing, unexpected = hf_model.base_model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("pooler.")]
    if missing or unexpected:
        raise ModelError(f"export --format hf: encoder weights do not fit {type(hf_model).__name__} "
                         f"(missing {missing[:3]}, unexpected {list(unexpected)[:3]})")
    _set_head(hf_model, _head_as_dense_tanh_linear(parts.head, int(config.hidden_size)))
    hf_tokenizer = parts.hf_tokenizer
    hf_tokenizer.model_max_length = int(parts.max_length)
    return hf_model.eval(), hf_tokenizer


def hf_logits(hf_model: nn.Module, hf_tokenizer, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """Logits (n, k) of an exported model, tokenized the way textclf tokenizes (truncation on)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = hf_tokenizer(texts[start:start + batch_size], truncation=True, padding=True,
                                 return_tensors="pt")
            out.append(hf_model(**batch).logits.float().numpy())
    return np.concatenate(out) if out else np.zeros((0, hf_model.config.num_labels), np.float32)


def export_hf(clf, out_dir: str | Path, model_dir: str | Path | None = None) -> Path:
    """Write `clf` as a Hugging Face model directory at `out_dir` (atomically) and return it, with
    a model card (README.md) made from the card, policy and `model_dir`'s metrics.json when given."""
    out_dir = Path(out_dir)
    hf_model, hf_tokenizer = build_hf_model(clf)
    expected = clf.logits(PROBE_TEXTS)
    got = hf_logits(hf_model, hf_tokenizer, PROBE_TEXTS)
    gap = float(np.max(np.abs(expected - got)))
    if not gap <= TOLERANCE:
        raise ModelError(f"export --format hf: exported logits differ from textclf's by {gap:.2g}; not written")
    with atomic_directory(out_dir) as tmp:
        hf_model.save_pretrained(str(tmp))
        hf_tokenizer.save_pretrained(str(tmp))
        set_tokenizer_truncation(tmp, int(hf_tokenizer.model_max_length))
        write_model_card(tmp, clf, read_metrics(model_dir), int(hf_tokenizer.model_max_length))
    return out_dir
