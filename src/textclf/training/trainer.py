"""The training loop. Model-agnostic: it sees an `nn.Module` mapping (input_ids, attention_mask)
to logits, a loss on logits, parameter groups, and encoded data; the model knows nothing of it.

    trainer = Trainer(net, training, loss_fn, parameter_groups, pad_id=0, seed=0,
                      workdir=Path("runs/x"), metric_fn=lambda logits, targets: {"macro_f1": ...})
    summary = trainer.fit(EncodedData(train_ids, train_targets), EncodedData(val_ids, val_targets))

What it does: AdamW over the given groups, linear/cosine/constant schedule with warmup, gradient
accumulation and clipping, autocast (bf16 on CPU or CUDA, fp16 + GradScaler on CUDA), early
stopping on a validation metric with patience, best-weights selection, one progress bar over all epochs (training/progress.py), one JSON line
per logged step / epoch in `workdir/train_log.jsonl`, checkpoints every N optimizer steps and at
each epoch end (training/checkpoint.py), and exact resumption from them.

Seams for distributed data-parallel (training/distributed.py provides the multi-process one):
`DistributedContext` decides which batches this process trains on (`shard`), joins per-process
validation logits (`gather`), wraps the module for gradient sync (`wrap`), and says who writes
files (`is_main`). The default is a single process, where all of these are the identity.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import TrainingConfig
from ..data.batching import EpochPlan, inference_batches, pad_batch
from ..errors import ConfigError
from .setup import autocast, parameter_groups, resolve_device, resolve_precision, schedule_factor  # noqa: F401
from .setup import compile_module, grad_scaler, to_device
from .optim import build_optimizer
from .checkpoint import checkpoint_path, load_checkpoint, restore_rng, rng_state, save_checkpoint
from .progress import progress_bar, write_above
from .tensorboard import TensorBoardLog

MetricFn = Callable[[np.ndarray, np.ndarray], dict[str, float]]
# Rows of a batch -> the module's inputs (input_ids, attention_mask). pad_batch for token id lists;
# a model may bring its own (models/long.py pads documents of windows to (B, C, T)).
Collate = Callable[[list, int], tuple[torch.Tensor, torch.Tensor]]
LOG_FILE = "train_log.jsonl"
# Metrics where smaller is better; every other metric is maximised.
LOWER_IS_BETTER = {"loss", "hamming_loss", "log_loss", "ece", "brier"}


# -- data ------------------------------------------------------------------------------------------
@dataclass
class EncodedData:
    """Token ids per row and, for training/validation, targets: ids (n,) or multi-hot (n, k)."""

    sequences: list[list[int]]
    targets: np.ndarray | None = None
    sample_weights: np.ndarray | None = None  # only for training.sampler = weighted

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(s) for s in self.sequences), dtype=np.int64, count=len(self.sequences))


# -- distributed seam -------------------------------------------------------------------------------
@dataclass
class DistributedContext:
    """Single-process defaults; a multi-process subclass overrides these five members."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes logs, checkpoints and shows a progress bar."""
        return self.rank == 0

    def shard(self, batches: list) -> list:
        """The training batches this process runs; every process must get the same count."""
        return batches

    def gather(self, array: np.ndarray) -> np.ndarray:
        """Concatenate an array from every process along axis 0 (rank order)."""
        return array

    def wrap(self, module: nn.Module) -> nn.Module:
        """The module to call for forward/backward (e.g. DistributedDataParallel(module))."""
        return module


SINGLE_PROCESS = DistributedContext()


# -- inference --------------------------------------------------------------------------------------
@torch.no_grad()
def predict_logits(module: nn.Module, sequences: Sequence[Sequence[int]], pad_id: int, batch_size: int,
                   device: torch.device, dtype: torch.dtype | None = None,
                   context: DistributedContext = SINGLE_PROCESS, collate: Collate = pad_batch) -> np.ndarray:
    """Logits (n, k) float32 in input order; rows are batched by length to cut padding."""
    was_training = module.training
    module.eval()
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    batches = inference_batches(lengths, batch_size)
    mine = batches[context.rank::context.world_size]
    outputs, order = [], []
    for indices in mine:
        input_ids, mask = collate([sequences[i] for i in indices], pad_id)
        with autocast(device, dtype):
            logits = module(to_device(input_ids, device), to_device(mask, device))
        outputs.append(logits.float().cpu().numpy())
        order.append(indices)
    module.train(was_training)
    # A rank with no batch still joins the gather (else the others wait for it forever).
    logits = context.gather(np.concatenate(outputs) if outputs else np.zeros((0, 0), dtype=np.float32))
    order = context.gather(np.concatenate(order) if order else np.zeros(0, dtype=np.int64))
    if len(logits) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    result = np.empty_like(logits)
    result[order] = logits
    return result


# -- the loop ---------------------------------------------------------------------------------------
@dataclass
class TrainState:
    """Everything about progress that a checkpoint must carry besides module/optimizer states."""

    epoch: int = 0
    batch_in_epoch: int = 0  # batches of `epoch` already consumed
    step: int = 0  # optimizer steps taken
    best_metric: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    finished: bool = False
    epoch_loss_sum: float = 0.0
    epoch_loss_count: int = 0
    history: list[dict] = field(default_factory=list)


@dataclass
class _Run:
    """What one `Trainer.fit` call carries from step to step."""

    wrapped: nn.Module  # the module to call forward/backward on (DDP-wrapped under torchrun)
    plan: EpochPlan
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    state: TrainState = field(default_factory=lambda: TrainState())
    best_weights: dict | None = None
    started: float = 0.0
    batches_per_epoch: int = 0
    bar: Any = None  # one bar over every epoch's batches, so its ETA is the whole run's


class Trainer:
    def __init__(self, module: nn.Module, training: TrainingConfig, loss_fn: nn.Module, groups: list[dict],
                 pad_id: int, seed: int, workdir: Path | None = None, metric_fn: MetricFn | None = None,
                 context: DistributedContext = SINGLE_PROCESS, fingerprint: dict | None = None,
                 collate: Collate = pad_batch) -> None:
        self.module = module
        self.training = training
        self.loss_fn = loss_fn
        self.groups = groups
        self.pad_id = pad_id
        self.seed = seed
        self.workdir = Path(workdir) if workdir is not None else None
        self.metric_fn = metric_fn
        self.context = context
        self.fingerprint = fingerprint or {}
        self.collate = collate
        self.tensorboard = TensorBoardLog(self.workdir) if self.workdir is not None else None
        self.device = resolve_device(training.device)
        self.dtype = resolve_precision(training.precision, self.device)

    # -- pieces ---------------------------------------------------------------------------------
    def batch_loss(self, module: nn.Module, sequences: list, targets: np.ndarray) -> torch.Tensor:
        """The loss of one batch, computed by `loss_fn` on the module's raw logits."""
        input_ids, mask = self.collate(sequences, self.pad_id)
        with autocast(self.device, self.dtype):
            logits = module(to_device(input_ids, self.device), to_device(mask, self.device))
        return self.loss_fn(logits.float(), to_device(torch.as_tensor(targets), self.device))

    def evaluate(self, data: EncodedData) -> dict[str, float]:
        logits = predict_logits(self.module, data.sequences, self.pad_id, self.training.eval_batch_size,
                                self.device, self.dtype, self.context, self.collate)
        with torch.no_grad():
            loss = self.loss_fn(torch.from_numpy(logits).to(self.device), torch.as_tensor(data.targets).to(self.device))
        metrics = {"loss": float(loss)}
        if self.metric_fn is not None:
            metrics.update(self.metric_fn(logits, data.targets))
        return metrics

    def _log(self, record: dict) -> None:
        if self.workdir is None or not self.context.is_main:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / LOG_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        self.tensorboard.write(record)  # a no-op unless the `tensorboard` extra is installed

    def _improved(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        lower = self.training.early_stopping_metric in LOWER_IS_BETTER
        return value < best if lower else value > best

    def _checkpoint(self, state: TrainState, optimizer, scheduler, scaler, best_weights) -> None:
        if self.workdir is None or not self.context.is_main:
            return
        save_checkpoint(checkpoint_path(self.workdir), {
            "fingerprint": self.fingerprint,
            "module": self.module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": rng_state(),
            "state": {k: v for k, v in vars(state).items()},
            "best_weights": best_weights,
        })

    # -- the loop -------------------------------------------------------------------------------
    def fit(self, train: EncodedData, validation: EncodedData | None = None, resume: bool = False,
            stop_after_step: int | None = None) -> dict[str, Any]:
        """Train; returns a JSON-able summary. `resume` continues from workdir's checkpoint.
        `stop_after_step` checkpoints and returns after that optimizer step (an interruption hook)."""
        cfg = self.training
        run = self._start(train, resume)
        if validation is not None and validation.targets is None:
            validation = None
        run.started = time.perf_counter()
        self.module.train()
        interrupted = False
        run.bar = self._progress(run)
        try:
            while not run.state.finished and run.state.epoch < cfg.epochs:
                interrupted = self._run_epoch(run, train, stop_after_step)
                if interrupted:
                    break
                self._end_epoch(run, validation)
                if stop_after_step is not None and run.state.step >= stop_after_step and not run.state.finished:
                    interrupted = True
                    break
        finally:
            run.bar.close()
        if not interrupted and run.best_weights is not None:
            self.module.load_state_dict(run.best_weights)
        self.module.eval()
        state = run.state
        return {
            "steps": state.step,
            "epochs": state.epoch,
            "interrupted": interrupted,
            "best_epoch": state.best_epoch,
            f"best_validation_{cfg.early_stopping_metric}": state.best_metric,
            "history": state.history,
            "device": str(self.device),
            "precision": str(self.dtype).replace("torch.", "") if self.dtype else "fp32",
        }

    def _start(self, train: EncodedData, resume: bool) -> _Run:
        """Optimizer, schedule, scaler and progress state: fresh, or restored from the checkpoint."""
        cfg = self.training
        self.module.to(self.device)
        plan = EpochPlan(train.lengths, cfg.batch_size, self.seed, cfg.sampler, weights=train.sample_weights)
        batches_per_epoch = len(self.context.shard(plan.batches(0)))
        steps_per_epoch = -(-batches_per_epoch // cfg.gradient_accumulation_steps)
        total_steps = steps_per_epoch * cfg.epochs
        if cfg.max_steps is not None:
            total_steps = min(total_steps, cfg.max_steps)
        warmup_steps = int(cfg.warmup_ratio * total_steps)
        optimizer = build_optimizer(self.groups, cfg.learning_rate, cfg.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: schedule_factor(step, total_steps, warmup_steps, cfg.schedule))
        scaler = grad_scaler(self.device, self.dtype)
        run = _Run(compile_module(self.context.wrap(self.module), cfg.compile), plan, optimizer, scheduler, scaler,
                   batches_per_epoch=batches_per_epoch)
        if resume:
            if self.workdir is None:
                raise ConfigError("resume needs a run directory (workdir)")
            payload = load_checkpoint(checkpoint_path(self.workdir), self.fingerprint)
            self.module.load_state_dict(payload["module"])
            optimizer.load_state_dict(payload["optimizer"])
            scheduler.load_state_dict(payload["scheduler"])
            scaler.load_state_dict(payload["scaler"])
            run.state = TrainState(**payload["state"])
            run.best_weights = payload["best_weights"]
            restore_rng(payload["rng"])
        else:
            torch.manual_seed(self.seed)  # dropout draws; the model's init was seeded by its builder
        return run

    def _checkpoint_run(self, run: _Run) -> None:
        self._checkpoint(run.state, run.optimizer, run.scheduler, run.scaler, run.best_weights)

    def _run_epoch(self, run: _Run, train: EncodedData, stop_after_step: int | None) -> bool:
        """The rest of the current epoch's batches; True when stopped by `stop_after_step`."""
        cfg, state = self.training, run.state
        accumulate = cfg.gradient_accumulation_steps
        epoch = state.epoch
        batches = self.context.shard(run.plan.batches(epoch))
        bar = run.bar
        bar.set_description(f"epoch {epoch + 1}/{cfg.epochs}", refresh=False)
        position = state.batch_in_epoch
        while position < len(batches):
            group_start = position - position % accumulate
            group_size = min(accumulate, len(batches) - group_start)
            indices = batches[position]
            loss = self.batch_loss(run.wrapped, [train.sequences[i] for i in indices], train.targets[indices])
            (run.scaler.scale(loss / group_size) if run.scaler.is_enabled() else loss / group_size).backward()
            state.epoch_loss_sum += float(loss.detach())
            state.epoch_loss_count += 1
            position += 1
            bar.update(1)
            if position - group_start < group_size:
                continue
            self._optimizer_step(run)
            state.batch_in_epoch = position
            if not bar.disable:
                bar.set_postfix(loss=f"{state.epoch_loss_sum / state.epoch_loss_count:.4f}")
            if state.step % cfg.log_every_steps == 0:
                self._log({"event": "step", "epoch": epoch + 1, "step": state.step, "loss": float(loss.detach()),
                           "lr": run.scheduler.get_last_lr()[0]})
            reached_max = cfg.max_steps is not None and state.step >= cfg.max_steps
            more = position < len(batches)
            if cfg.checkpoint_every_steps and state.step % cfg.checkpoint_every_steps == 0 and more \
                    and not reached_max:
                self._checkpoint_run(run)
            if stop_after_step is not None and state.step >= stop_after_step and more:
                self._checkpoint_run(run)
                return True
            if reached_max:
                break
        return False

    def _progress(self, run: _Run):
        """One bar over the run's batches (epochs x batches, capped by max_steps): its ETA is the
        whole training's, not the current epoch's. Validation between epochs is not counted."""
        cfg, state = self.training, run.state
        total = run.batches_per_epoch * cfg.epochs
        if cfg.max_steps is not None:
            total = min(total, cfg.max_steps * cfg.gradient_accumulation_steps)
        done = state.epoch * run.batches_per_epoch + state.batch_in_epoch  # resumed runs start there
        return progress_bar(self._show_progress, total, min(done, total), desc=f"epoch {state.epoch + 1}/{cfg.epochs}",
                            unit=" batches", unit_scale=False, leave=False)

    @property
    def _show_progress(self) -> bool:
        return self.training.progress and self.context.is_main

    def _optimizer_step(self, run: _Run) -> None:
        if self.training.max_grad_norm is not None:
            run.scaler.unscale_(run.optimizer)
            nn.utils.clip_grad_norm_(self.module.parameters(), self.training.max_grad_norm)
        if run.scaler.is_enabled():  # fp16 only; the scaler's bookkeeping is skipped otherwise
            run.scaler.step(run.optimizer)
            run.scaler.update()
        else:
            run.optimizer.step()
        run.optimizer.zero_grad(set_to_none=True)
        run.scheduler.step()
        run.state.step += 1

    def _end_epoch(self, run: _Run, validation: EncodedData | None) -> None:
        """Evaluate, early-stopping bookkeeping, log and checkpoint at the end of an epoch (or max_steps)."""
        cfg, state = self.training, run.state
        metric_name, epoch = cfg.early_stopping_metric, state.epoch
        record: dict[str, Any] = {"event": "epoch", "epoch": epoch + 1, "step": state.step,
                                  "train_loss": state.epoch_loss_sum / max(1, state.epoch_loss_count)}
        if validation is not None:
            metrics = self.evaluate(validation)
            if metric_name not in metrics:
                raise ConfigError(f"training.early_stopping_metric: {metric_name!r} is not one of "
                                  f"{', '.join(sorted(metrics))}")
            record.update({f"validation_{k}": v for k, v in metrics.items()})
            if self._improved(metrics[metric_name], state.best_metric):
                state.best_metric, state.best_epoch, state.bad_epochs = metrics[metric_name], epoch + 1, 0
                run.best_weights = {k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()}
            else:
                state.bad_epochs += 1
            patience = cfg.early_stopping_patience
            if patience is not None and state.bad_epochs >= patience:
                state.finished = True
            write_above(run.bar, f"epoch {epoch + 1}: train_loss {record['train_loss']:.4f}  "
                                 f"validation {metric_name} {metrics[metric_name]:.4f}")
        record["seconds"] = round(time.perf_counter() - run.started, 3)
        self._log(record)
        state.history.append({k: v for k, v in record.items() if k != "seconds"})
        state.epoch, state.batch_in_epoch = epoch + 1, 0
        state.epoch_loss_sum, state.epoch_loss_count = 0.0, 0
        if (cfg.max_steps is not None and state.step >= cfg.max_steps) or state.epoch >= cfg.epochs:
            state.finished = True
        self._checkpoint_run(run)
