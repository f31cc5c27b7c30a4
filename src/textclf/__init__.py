"""textclf: text classifiers you can measure, trust and ship."""

from .version import __version__  # noqa: F401  (re-exported)

from .classifier import TextClassifier  # noqa: E402
from .config import Config, TrainingConfig, load_config  # noqa: E402
from .data import Examples, LabelMap, read_examples  # noqa: E402
from .errors import ConfigError, DataError, ModelError, TextclfError  # noqa: E402


def load(directory, *, device: str | None = None, policy: bool = True) -> TextClassifier:
    """Load a saved model directory (see textclf.artifacts for the format). `device` is where
    inference runs (default auto: this host's GPU if it has one); `policy=False` gives raw scores."""
    return TextClassifier.load(directory, device=device, policy=policy)


def train(source, y=None, **options):
    """The training pipeline `textclf train` runs, from Python: see textclf.jobs.train.train.

    >>> result = textclf.train(frame, text_column="review", label_column="sentiment", output_dir="runs/x")
    >>> result.metrics["test"]["macro_f1"], result.classifier.predict(["a gripping film"])
    """
    from .jobs.train import train as run_pipeline

    return run_pipeline(source, y, **options)


__all__ = [
    "Config", "ConfigError", "DataError", "Examples", "LabelMap", "ModelError", "TextClassifier",
    "TextclfError", "TrainingConfig", "load", "load_config", "read_examples", "train",
]
