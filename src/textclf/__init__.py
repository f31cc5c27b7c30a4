"""textclf: text classifiers you can measure, trust and ship.

`import textclf` is cheap: the public names below are imported on first use (PEP 562), so a
script or CLI call that never touches a model does not pay for torch, transformers, scikit-learn
or pandas (tests/test_import_time.py keeps it so)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__  # noqa: F401  (re-exported)

if TYPE_CHECKING:  # for type checkers and IDEs only; at run time __getattr__ imports on demand
    from .classifier import TextClassifier
    from .config import Config, TrainingConfig, load_config
    from .data import Examples, LabelMap, read_examples
    from .errors import ConfigError, DataError, ModelError, TextclfError

# public name -> the submodule that defines it
_LAZY = {
    "TextClassifier": ".classifier",
    "Config": ".config", "TrainingConfig": ".config", "load_config": ".config",
    "Examples": ".data", "LabelMap": ".data", "read_examples": ".data",
    "ConfigError": ".errors", "DataError": ".errors", "ModelError": ".errors", "TextclfError": ".errors",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'textclf' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def load(directory, *, device: str | None = None, policy: bool = True) -> TextClassifier:
    """Load a saved model directory (see textclf.artifacts for the format). `device` is where
    inference runs (default auto: this host's GPU if it has one); `policy=False` gives raw scores."""
    from .classifier import TextClassifier

    return TextClassifier.load(directory, device=device, policy=policy)


def train(source, y=None, *, overwrite: bool = False, **options):
    """The training pipeline `textclf train` runs, from Python: see textclf.jobs.train.train.

    The run is saved only when an output directory is named (`output_dir=`, or `output_dir` in the
    config); an existing non-empty one is replaced only with `overwrite=True` (the CLI's --overwrite).

    >>> result = textclf.train(frame, text_column="review", label_column="sentiment", output_dir="runs/x")
    >>> result.metrics["test"]["macro_f1"], result.classifier.predict(["a gripping film"])
    """
    from .errors import ConfigError
    from .jobs.train import train as run_pipeline

    if not isinstance(overwrite, bool):  # overwrite="false" must not replace a run
        raise ConfigError(f"overwrite: pass True or False, got {overwrite!r}")
    return run_pipeline(source, y, overwrite=overwrite, **options)


def distill(teacher, unlabelled, student="bag", output=None, **options):
    """Train a fast student on a saved teacher's probabilities over unlabelled text: see
    textclf.jobs.distill.distill.

    >>> result = textclf.distill("runs/minilm/model", "pool.csv", student="bag", output="runs/bag-student")
    >>> result.metrics["test"]["macro_f1"], result.info["validation_macro_f1"]
    """
    from .jobs.distill import distill as run_distillation

    return run_distillation(teacher, unlabelled, student, output, **options)


__all__ = [
    "Config", "ConfigError", "DataError", "Examples", "LabelMap", "ModelError", "TextClassifier",
    "TextclfError", "TrainingConfig", "distill", "load", "load_config", "read_examples", "train",
]
