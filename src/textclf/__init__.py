"""textclf: text classifiers you can measure, trust and ship."""

from .version import __version__  # noqa: F401  (re-exported)

from .classifier import TextClassifier  # noqa: E402
from .config import Config, TrainingConfig, load_config  # noqa: E402
from .data import Examples, LabelMap, read_examples  # noqa: E402
from .errors import ConfigError, DataError, ModelError, TextclfError  # noqa: E402


def load(directory) -> TextClassifier:
    """Load a saved model directory (see textclf.artifacts for the format)."""
    return TextClassifier.load(directory)


__all__ = [
    "Config", "ConfigError", "DataError", "Examples", "LabelMap", "ModelError", "TextClassifier",
    "TextclfError", "TrainingConfig", "load", "load_config", "read_examples",
]
