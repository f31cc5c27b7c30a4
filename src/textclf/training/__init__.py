"""Training neural models: the loop (trainer.py), objectives (losses.py), checkpoints (checkpoint.py).

Names are imported on first use: `training.progress` is used by predict and must not load torch."""

from importlib import import_module

_EXPORTS = {name: "trainer" for name in
            ("DistributedContext", "EncodedData", "Trainer", "parameter_groups", "predict_logits")}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'textclf.training' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
