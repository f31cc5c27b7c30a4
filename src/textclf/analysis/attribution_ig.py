"""Integrated Gradients on the input embeddings of neural models (Captum), with subword
attributions merged back into words of the original text (see analysis/explain.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelError
from ..models.base import GradientAttributionView
from .attributions import TokenAttribution, explained_scores

_GAP_FLOOR = 0.1  # logit units: a score that moved less than this is judged on an absolute gap
_TOKEN_BUDGET = 32768  # IG: (texts x steps x tokens) per forward pass, bounds memory


# -- neural models: Integrated Gradients ---------------------------------------------------------
@dataclass
class _Aligned:
    ids: list[int]  # what the model reads, specials included
    cover: list[tuple[int, ...]]  # per position of `ids`: the content tokens it stands for (specials: none)
    words: list[tuple[int, int]]  # per content token the model sees: (start, end) of its word in the text
    truncated: bool


def _align(view: GradientAttributionView, text: str) -> _Aligned:
    """The ids the model reads for `text` and which content tokens each position stands for."""
    from ..text.long import truncate

    sequence = list(view.encode([text])[0])
    ids, offsets, word_ids = view.content_tokens(text)
    budget = len(ids) if view.content_budget is None else view.content_budget
    kept = truncate(list(range(len(ids))), budget, view.truncation, view.head_tokens)
    kept_ids = [ids[k] for k in kept]
    frame = view.frame([-1])
    prefix = frame.index(-1)
    cover = [()] * prefix + [(j,) for j in range(len(kept))] + [()] * (len(frame) - 1 - prefix)
    cover += view.extra_cover(kept_ids)
    if view.sequence(kept_ids) != sequence or len(cover) != len(sequence):
        raise ModelError("explain: cannot align the model's tokens with the text")
    extent: dict[Any, list[int]] = {}
    for k in range(len(ids)):  # a word's extent from all its pieces, seen or not
        key = ("w", word_ids[k]) if word_ids[k] is not None else ("t", k)
        span = extent.setdefault(key, [offsets[k][0], offsets[k][1]])
        span[0], span[1] = min(span[0], offsets[k][0]), max(span[1], offsets[k][1])
    words = [tuple(extent[("w", word_ids[k]) if word_ids[k] is not None else ("t", k)]) for k in kept]
    return _Aligned(sequence, cover, words, len(kept) < len(ids))


def ig_explanations(view: GradientAttributionView, texts: list[str], targets: np.ndarray, binary: bool, steps: int,
                    max_steps: int, tolerance: float) -> list[dict]:
    import torch
    from captum.attr import LayerIntegratedGradients

    from ..training.trainer import resolve_device

    net = view.net
    device = resolve_device(view.device)
    pad_id = view.pad_id
    aligned = [_align(view, t) for t in texts]
    was_training = net.training
    net.to(device).eval()

    def forward(input_ids, attention_mask):
        return explained_scores(net(input_ids, attention_mask).float(), binary)

    ig = LayerIntegratedGradients(forward, view.embedding_layer)
    results: list[dict | None] = [None] * len(texts)
    pending = list(range(len(texts)))
    current = steps
    try:
        while pending:
            redo = []
            for batch in _ig_batches(pending, aligned, current):
                width = max(1, max(len(aligned[i].ids) for i in batch))
                ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.bool)
                for b, i in enumerate(batch):
                    seq = aligned[i].ids
                    ids[b, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
                    mask[b, : len(seq)] = True
                baseline = ids.clone()
                for b, i in enumerate(batch):
                    content = [p for p, c in enumerate(aligned[i].cover) if c]
                    baseline[b, content] = pad_id
                ids, mask, baseline = ids.to(device), mask.to(device), baseline.to(device)
                target = torch.as_tensor(targets[batch], dtype=torch.long, device=device)
                rows = max(1, _TOKEN_BUDGET // width)
                with _no_cudnn(device):
                    attributions = ig.attribute(ids, baselines=baseline, additional_forward_args=(mask,),
                                                target=target, n_steps=current, method="gausslegendre",
                                                internal_batch_size=max(rows, len(batch)))
                    with torch.no_grad():
                        score = forward(ids, mask).gather(1, target[:, None])[:, 0]
                        base = forward(baseline, mask).gather(1, target[:, None])[:, 0]
                per_token = attributions.float().sum(dim=-1).detach().cpu().numpy().astype(np.float64)
                score, base = score.cpu().numpy().astype(np.float64), base.cpu().numpy().astype(np.float64)
                for b, i in enumerate(batch):
                    total = float(per_token[b, : len(aligned[i].ids)].sum())
                    moved = float(score[b] - base[b])
                    gap = abs(total - moved) / max(abs(moved), _GAP_FLOOR)
                    results[i] = {"score": float(score[b]), "base_value": float(base[b]),
                                  "tokens": _merge(texts[i], aligned[i], per_token[b]),
                                  "method": "integrated_gradients", "completeness_gap": gap, "steps": current,
                                  "truncated": aligned[i].truncated}
                    if gap > tolerance and current * 2 <= max_steps:
                        redo.append(i)
            pending, current = redo, current * 2
    finally:
        net.train(was_training)
    return results


def _ig_batches(indices: list[int], aligned: list[_Aligned], steps: int) -> Iterable[list[int]]:
    """Texts of similar length together, at most _TOKEN_BUDGET tokens x steps per batch."""
    ordered = sorted(indices, key=lambda i: len(aligned[i].ids))
    batch: list[int] = []
    for i in ordered:
        width = max(1, len(aligned[i].ids))
        if batch and (len(batch) + 1) * steps * width > _TOKEN_BUDGET:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def _no_cudnn(device):
    """cuDNN RNNs refuse backward in eval mode; IG needs gradients through them."""
    import contextlib

    import torch

    if device.type == "cuda":
        return torch.backends.cudnn.flags(enabled=False)
    return contextlib.nullcontext()


def _merge(text: str, aligned: _Aligned, per_token: np.ndarray) -> list[TokenAttribution]:
    """Position attributions summed per word (a position standing for several tokens, e.g. an
    n-gram id, is split equally between them), in text order."""
    totals: dict[tuple[int, int], float] = {span: 0.0 for span in aligned.words}
    for position, tokens in enumerate(aligned.cover):
        for k in tokens:
            totals[aligned.words[k]] += float(per_token[position]) / len(tokens)
    return [TokenAttribution(text[s:e], s, e, a) for (s, e), a in sorted(totals.items())]
