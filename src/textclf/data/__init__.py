"""Reading, validating, labelling and splitting labelled text."""

from .examples import Examples
from .io import read_examples, stream_texts
from .labels import LabelMap

__all__ = ["Examples", "LabelMap", "read_examples", "stream_texts"]
