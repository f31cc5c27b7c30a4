"""Texts -> mean-pooled encoder states, whole documents included (see models/embedding/model.py).

Without windows each text's first `max_length` tokens are read. With `WindowSettings`
(long_text.strategy: sliding_window) a text longer than one window is cut into windows of `window`
content tokens (default: max_length less the special tokens) every `stride` tokens (default: half a
window), each with the special tokens around it (text/long.window_spans: the last window ends at
the last token; beyond `max_windows` the windows are thinned evenly, first and last kept); its
vector is the mean of its windows' vectors weighted by their token counts. A text within one
window is one window whose vector is taken as is, so it equals its truncated embedding exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...text.long import LongTextConfig, split_windows


@dataclass(frozen=True)
class WindowSettings:
    max_length: int  # the encoder's tokens per sequence, special tokens included
    long_text: LongTextConfig  # window and stride in content tokens (defaults: max_length less specials, half)


def window_and_stride(tokenizer, settings: WindowSettings) -> tuple[int, int]:
    """(window, stride) in content tokens, defaults filled in, checked against max_length: the
    neural long-text models' rule (models/long.window_size)."""
    from ..long import window_size  # models/long imports torch: only when windows are asked for

    return window_size(tokenizer, settings.long_text, settings.max_length)


def window_sequences(tokenizer, texts: Sequence[str], settings: WindowSettings
                     ) -> tuple[list[list[int]], list[list[int]]]:
    """The id sequences (specials included) of every window, and per text the indices of its own."""
    window, stride = window_and_stride(tokenizer, settings)
    sequences: list[list[int]] = []
    owners: list[list[int]] = []
    for content in tokenizer.encode_content(list(texts)):
        windows = split_windows(content, window, stride, settings.long_text.max_windows)
        owners.append(list(range(len(sequences), len(sequences) + len(windows))))
        sequences.extend(tokenizer.add_specials(ids) for ids in windows)
    return sequences, owners


def pool_sequences(encoder, pad_id: int, ids: list[list[int]], batch_size: int, device_setting: str,
                   progress: bool, unit: str = "text") -> np.ndarray:
    """Mean-pooled last hidden states of the id sequences `ids`, float32 (n, H), computed in
    length-sorted batches (little padding)."""
    import torch

    from ...data.batching import pad_batch
    from ...training.trainer import resolve_device
    from ..pooling import MeanPooling

    out = np.zeros((len(ids), encoder.output_dim), dtype=np.float32)
    if not ids:
        return out
    order = np.argsort([-len(seq) for seq in ids], kind="stable")
    device = resolve_device(device_setting)
    encoder.to(device)
    pooling = MeanPooling()
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    bar = None
    if progress and len(batches) > 1:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(ids), desc="embedding", unit=unit, leave=False)
    with torch.inference_mode():
        for batch in batches:
            input_ids, mask = pad_batch([ids[i] for i in batch], pad_id)
            hidden, mask = encoder(input_ids.to(device), mask.to(device))
            out[batch] = pooling(hidden.float(), mask).cpu().numpy()
            if bar is not None:
                bar.update(len(batch))
    if bar is not None:
        bar.close()
    return out


def encode_texts(encoder, tokenizer, texts: Sequence[str], max_length: int, windows: WindowSettings | None,
                 batch_size: int, device_setting: str, progress: bool) -> np.ndarray:
    """Mean-pooled (not normalised) embeddings of `texts`, float32 (n, H); `windows` None: truncate."""
    texts = list(texts)
    if windows is None:
        return pool_sequences(encoder, tokenizer.pad_id, tokenizer.encode(texts, max_length), batch_size,
                              device_setting, progress)
    sequences, owners = window_sequences(tokenizer, texts, windows)
    pooled = pool_sequences(encoder, tokenizer.pad_id, sequences, batch_size, device_setting, progress, "window")
    out = np.zeros((len(texts), encoder.output_dim), dtype=np.float32)
    for i, rows in enumerate(owners):
        if len(rows) == 1:  # as is: exactly the truncate embedding
            out[i] = pooled[rows[0]]
        else:
            weights = np.array([len(sequences[r]) for r in rows], dtype=np.float64)
            out[i] = (weights @ pooled[rows].astype(np.float64)) / weights.sum()
    return out
