"""Text processing before the model: tokenizers (fitted on the training split only)."""

from .tokenizers import SubwordTokenizer, TextTokenizer, TokenizerConfig

__all__ = ["SubwordTokenizer", "TextTokenizer", "TokenizerConfig"]
