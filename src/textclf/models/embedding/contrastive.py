"""A SetFit-style contrastive step for the `embedding` model (`contrastive_pairs > 0`).

Before the logistic regression, the encoder is fine-tuned so that texts of one label embed close
together and texts of different labels far apart, as SetFit does (Tunstall et al., 2022,
"Efficient Few-Shot Learning Without Prompts"). For each training text, each of `pairs` rounds
draws one other text of the same label (target cosine 1) and one text of another label (target
0); the loss is the squared error between the pair's cosine similarity (mask-aware mean pooling,
as the embeddings themselves) and its target. One pass over the shuffled pairs, AdamW with linear
decay, gradient clipping at 1, bf16 autocast where the CPU or GPU computes it natively.

Single-label only: a multi-label text has no one label to pair by.
"""

from __future__ import annotations

import math
import time

import numpy as np

BATCH_PAIRS = 16


def make_pairs(targets: np.ndarray, pairs: int, seed: int) -> np.ndarray:
    """Rows (i, j, same): `pairs` positives and `pairs` negatives per text i, shuffled. A positive
    j is another text of i's label (none when i's label has one text); a negative has another label."""
    targets = np.asarray(targets)
    rng = np.random.default_rng(seed)
    members = {label: np.flatnonzero(targets == label) for label in np.unique(targets)}
    others = {label: np.flatnonzero(targets != label) for label in members}
    rows = []
    for _ in range(pairs):
        for i, label in enumerate(targets):
            same = members[label]
            if len(same) > 1:  # uniform over `same` without i: draw from n-1 slots, i's slot maps to the last
                j = same[rng.integers(len(same) - 1)]
                rows.append((i, same[-1] if j == i else j, 1))
            if len(others[label]):
                rows.append((i, others[label][rng.integers(len(others[label]))], 0))
    out = np.array(rows, dtype=np.int64).reshape(-1, 3)
    return out[rng.permutation(len(out))]


def contrastive_tune(encoder, tokenizer, texts: list[str], targets: np.ndarray, pairs: int, max_length: int,
                     seed: int, learning_rate: float = 2e-5, device_name: str = "auto") -> dict:
    """Fine-tune `encoder` (a PretrainedEncoder) in place on contrastive pairs of `texts`; returns
    what was done. The encoder ends in eval mode with gradients off, as the embedding model keeps it."""
    import torch
    from torch.nn import functional as F

    from ...data.batching import pad_batch
    from ...training.optim import build_optimizer
    from ...training.setup import autocast, resolve_device, resolve_precision
    from ..pooling import MeanPooling

    started = time.perf_counter()
    rows = make_pairs(targets, pairs, seed)
    if not len(rows):
        return {"pairs": 0, "steps": 0}
    device = resolve_device(device_name)
    dtype = resolve_precision("auto", device)
    ids = tokenizer.encode(texts, max_length)
    pooling = MeanPooling()
    encoder.to(device).train()
    params = list(encoder.parameters())
    for p in params:
        p.requires_grad_(True)
    steps = math.ceil(len(rows) / BATCH_PAIRS)
    optimizer = build_optimizer([{"params": params, "weight_decay": 0.01}], learning_rate, 0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / steps))
    losses = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout inside the encoder
        for start in range(0, len(rows), BATCH_PAIRS):
            batch = rows[start:start + BATCH_PAIRS]
            input_ids, mask = pad_batch([ids[i] for i in batch[:, 0]] + [ids[j] for j in batch[:, 1]],
                                        tokenizer.pad_id)
            with autocast(device, dtype):
                hidden, mask = encoder(input_ids.to(device), mask.to(device))
            pooled = pooling(hidden.float(), mask)
            left, right = pooled[: len(batch)], pooled[len(batch):]
            target = torch.as_tensor(batch[:, 2], dtype=torch.float32, device=device)
            loss = F.mse_loss(F.cosine_similarity(left, right), target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            schedule.step()
            losses.append(float(loss.detach()))
    encoder.eval()
    for p in params:
        p.requires_grad_(False)
    tenth = max(1, len(losses) // 10)  # loss means over the first and the last tenth of the steps
    return {"pairs": int(len(rows)), "steps": len(losses), "first_loss": round(float(np.mean(losses[:tenth])), 4),
            "last_loss": round(float(np.mean(losses[-tenth:])), 4), "seconds": round(time.perf_counter() - started, 2)}
