"""Where a fine-tune step's time goes: textclf's trainer against a bare PyTorch loop over the same batches.

    python bench/bench_finetune_breakdown.py            # 200 rows x 64 tokens, batch 16, 3 pairs
    python bench/bench_finetune_breakdown.py --quick    # 48 rows x 32 tokens, 2 pairs: checks the script

Issue #21 asks for textclf's fine-tune to be >= 1.3x HF Trainer with length grouping, or for the
README to state the measured ratio (bench_trainer_speed.py: about 1.0-1.1x) and why the rest is the
model's own compute. This benchmark gives the why. Both sides train the packaged MiniLM (CLS
pooling, fp32, AdamW) for one epoch over identical length-bucketed batches from identical initial
weights:

* textclf: `Trainer.fit` as `textclf train` runs it, with each phase timed (collate, forward + loss,
  backward and bookkeeping, optimizer step);
* bare: the fewest lines that train the same network on the same batches (pad, forward, loss,
  backward, fused AdamW step), nothing else: no clipping, schedule, logging or early stopping.

If the bare loop is barely faster, the trainer adds little and the time is the model's own
forward, backward and optimizer arithmetic, which no trainer (textclf's or HF's) can skip at equal
precision. Writes bench/results/finetune_breakdown.json.
"""

from __future__ import annotations

import argparse
import copy
import functools
import os
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from protocol import Protocol, add_protocol_args, main_guard, markdown_table  # noqa: E402


def setup(rows: int, max_length: int, batch: int):
    """A textclf MiniLM classifier fitted once (its network and tokenizer are reused), the encoded
    training rows, their targets, and the network's initial weights."""
    import numpy as np

    from textclf import TextClassifier
    from textclf.data.bundled import load_bundled

    data = load_bundled("rotten-tomatoes")
    train = data.subset(np.random.default_rng(0).permutation(len(data))[:rows])
    training = {"epochs": 1, "batch_size": batch, "learning_rate": 3e-5, "warmup_ratio": 0.0,
                "early_stopping_patience": None, "progress": False, "device": "cpu", "class_weight": None}
    model = {"type": "pretrained", "name_or_path": "minilm", "pooling": "cls", "max_length": max_length}
    return TextClassifier(model=model, training=training, seed=0), train


def timed_textclf(clf, train) -> dict:
    """One `fit`, with the trainer's phases timed by wrapping its methods for this call only."""
    from textclf.training import trainer as trainer_module

    phases = {"collate": 0.0, "forward_loss": 0.0, "optimizer": 0.0, "epoch": 0.0}
    originals = {}

    def wrap(name, key):
        original = getattr(trainer_module.Trainer, name)
        originals[name] = original

        @functools.wraps(original)
        def timed(self, *args, **kwargs):
            started = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                phases[key] += time.perf_counter() - started
        setattr(trainer_module.Trainer, name, timed)

    def timed_collate(collate):
        @functools.wraps(collate)
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return collate(*args, **kwargs)
            finally:
                phases["collate"] += time.perf_counter() - started
        return run

    original_init = trainer_module.Trainer.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.collate = timed_collate(self.collate)

    wrap("batch_loss", "forward_loss")
    wrap("_optimizer_step", "optimizer")
    wrap("_run_epoch", "epoch")
    trainer_module.Trainer.__init__ = init
    try:
        clf.fit(train)
    finally:
        trainer_module.Trainer.__init__ = original_init
        for name, original in originals.items():
            setattr(trainer_module.Trainer, name, original)
    phases["forward_loss"] -= phases["collate"]  # batch_loss includes the collate call
    phases["backward_and_rest"] = phases["epoch"] - phases["forward_loss"] - phases["collate"] - phases["optimizer"]
    return {"seconds": phases["epoch"], **{k: round(v, 4) for k, v in phases.items()}}


def bare_loop(net, initial, sequences, targets, batches, pad_id) -> dict:
    import torch
    from torch.nn import functional as F

    from textclf.data.padding import pad_ids

    net.load_state_dict(initial)
    net.train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-5, weight_decay=0.01, fused=True)
    started = time.perf_counter()
    for indices in batches:
        ids, mask = pad_ids([sequences[i] for i in indices], pad_id)
        loss = F.cross_entropy(net(torch.from_numpy(ids), torch.from_numpy(mask)), torch.from_numpy(targets[indices]))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return {"seconds": time.perf_counter() - started}


def main() -> int:
    parser = add_protocol_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--max-length", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    proto = Protocol.from_args("finetune_breakdown", args)
    proto.check_publishable()
    rows, max_length = (args.rows or (48 if args.quick else 200)), (args.max_length or (32 if args.quick else 64))

    import numpy as np

    from textclf.data.batching import EpochPlan

    clf, train = setup(rows, max_length, args.batch_size)
    timed_textclf(clf, train)  # warm-up fit: lazy imports and first-call allocations
    model = clf.model_
    net, pad_id = model.net, model.tokenizer.pad_id
    sequences = model.encode(train.texts)
    targets = np.asarray(clf.label_map.encode(train), dtype=np.int64)
    batches = EpochPlan(np.array([len(s) for s in sequences]), args.batch_size, seed=0).batches(0)
    initial = copy.deepcopy(net.state_dict())

    comparison = proto.compare("bare", lambda: bare_loop(net, initial, sequences, targets, batches, pad_id),
                               "textclf", lambda: timed_textclf(clf, train), warmup=False)
    textclf = comparison["median"]["textclf"]
    step_parts = {k: textclf[k] for k in ("collate", "forward_loss", "backward_and_rest", "optimizer")}
    shares = {k: round(v / textclf["epoch"], 3) for k, v in step_parts.items()}
    summary = {"rows": rows, "max_length": max_length, "batch_size": args.batch_size, "steps": len(batches),
               "textclf_seconds_per_step": round(textclf["epoch"] / len(batches), 4),
               "bare_seconds_per_step": round(comparison["median"]["bare"]["seconds"] / len(batches), 4),
               "textclf_over_bare": comparison["median_ratio"], "textclf_step_shares": shares}
    table = markdown_table(["", "seconds per step", "share of textclf's step"], [
        ["bare PyTorch loop (same batches)", f"{summary['bare_seconds_per_step']:.4f}", "-"],
        ["textclf trainer", f"{summary['textclf_seconds_per_step']:.4f}", "1.000"],
        *[[f"  {k}", f"{step_parts[k] / len(batches):.4f}", f"{shares[k]:.3f}"] for k in step_parts]])
    path = proto.finish({"summary": summary, "comparisons": [comparison]}, table)
    print(table)
    print(f"textclf trainer / bare loop: {comparison['median_ratio']:.3f}x the time; written {path}"
          + (" (NOISY)" if proto.noisy else ""))
    return 0


if __name__ == "__main__":
    main_guard(main)
