"""Training neural models: the loop (trainer.py), objectives (losses.py), checkpoints (checkpoint.py)."""

from .trainer import DistributedContext, EncodedData, Trainer, parameter_groups, predict_logits

__all__ = ["DistributedContext", "EncodedData", "Trainer", "parameter_groups", "predict_logits"]
