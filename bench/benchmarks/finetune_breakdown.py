"""Where a fine-tune step's time goes: textclf's trainer against a bare PyTorch loop, same batches.

Both sides train the packaged MiniLM (CLS pooling, fp32, AdamW) for one epoch over identical
length-bucketed batches from identical initial weights: textclf's `Trainer.fit` as `textclf train`
runs it, with each phase timed (collate, forward + loss, backward and bookkeeping, optimizer
step), and the fewest lines that train the same network on the same batches (pad, forward, loss,
backward, fused AdamW step). If the bare loop is barely faster, the time is the model's own
arithmetic, which no trainer can skip at equal precision (issue #21)."""

from __future__ import annotations

import copy
import functools
import time

from bench import data
from bench.harness import Benchmark, register
from bench.protocol import markdown_table


def timed_textclf(clf, train) -> dict:
    """One `fit`, with the trainer's phases timed by wrapping its methods for this call only."""
    from textclf.training import trainer as trainer_module

    Trainer = trainer_module.Trainer
    phases = {"collate": 0.0, "forward_loss": 0.0, "optimizer": 0.0, "epoch": 0.0}

    def timing(function, key):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases[key] += time.perf_counter() - started
        return timed

    originals = {name: getattr(Trainer, name) for name in ("batch_loss", "_optimizer_step", "_run_epoch", "__init__")}

    def init(self, *args, **kwargs):
        originals["__init__"](self, *args, **kwargs)
        self.collate = timing(self.collate, "collate")

    for name, key in (("batch_loss", "forward_loss"), ("_optimizer_step", "optimizer"), ("_run_epoch", "epoch")):
        setattr(Trainer, name, timing(originals[name], key))
    Trainer.__init__ = init
    try:
        clf.fit(train)
    finally:
        for name, original in originals.items():
            setattr(Trainer, name, original)
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


@register
class FinetuneBreakdown(Benchmark):
    name = "finetune_breakdown"
    summary = "MiniLM fine-tune step: textclf trainer phases vs a bare PyTorch loop over the same batches"
    sizes = {"smoke": {"rows": 16, "max_length": 16, "batch_size": 8}, "quick": {"rows": 48, "max_length": 32,
                                                                                 "batch_size": 16},
             "full": {"rows": 200, "max_length": 64, "batch_size": 16}}

    def run(self) -> dict:
        import numpy as np

        from textclf import TextClassifier
        from textclf.data.batching import EpochPlan

        rows, max_length, batch = self.size.rows, self.size.max_length, self.size.batch_size
        train = data.shuffled("rotten-tomatoes", seed=0).subset(range(rows))
        clf = TextClassifier(model={"type": "pretrained", "name_or_path": "minilm", "pooling": "cls",
                                    "max_length": max_length},
                             training={"epochs": 1, "batch_size": batch, "learning_rate": 3e-5, "warmup_ratio": 0.0,
                                       "early_stopping_patience": None, "progress": False, "device": "cpu",
                                       "class_weight": None}, calibration=None, seed=0)
        timed_textclf(clf, train)  # warm-up fit: lazy imports and first-call allocations
        model = clf.model_
        net, pad_id = model.net, model.tokenizer.pad_id
        sequences = model.encode(train.texts)
        targets = np.asarray(clf.label_map_.encode(train), dtype=np.int64)
        batches = EpochPlan(np.array([len(s) for s in sequences]), batch, seed=0).batches(0)
        initial = copy.deepcopy(net.state_dict())
        comparison = self.proto.compare("bare", lambda: bare_loop(net, initial, sequences, targets, batches, pad_id),
                                        "textclf", lambda: timed_textclf(clf, train), warmup=False)
        textclf = comparison["median"]["textclf"]
        steps = len(batches)
        parts = {k: textclf[k] for k in ("collate", "forward_loss", "backward_and_rest", "optimizer")}
        shares = {k: round(v / textclf["epoch"], 3) for k, v in parts.items()}
        summary = {"rows": rows, "max_length": max_length, "batch_size": batch, "steps": steps,
                   "textclf_seconds_per_step": round(textclf["epoch"] / steps, 4),
                   "bare_seconds_per_step": round(comparison["median"]["bare"]["seconds"] / steps, 4),
                   "textclf_over_bare": comparison["median_ratio"], "textclf_step_shares": shares}
        table = markdown_table(["", "seconds per step", "share of textclf's step"], [
            ["bare PyTorch loop (same batches)", f"{summary['bare_seconds_per_step']:.4f}", "-"],
            ["textclf trainer", f"{summary['textclf_seconds_per_step']:.4f}", "1.000"],
            *[[f"  {k}", f"{parts[k] / steps:.4f}", f"{shares[k]:.3f}"] for k in parts]])
        return {"result": summary, "comparisons": [comparison], "table": table}
