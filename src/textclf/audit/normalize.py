"""Text normalisation for duplicate detection: two texts that differ only in case, whitespace,
punctuation or HTML entities count as the same text."""

from __future__ import annotations

import html
import re
import unicodedata

_WORD = re.compile(r"[^\W_]+")  # letters and digits; "_" separates like "-"


def normalize_text(text: str) -> str:
    """'Great  film!&nbsp;' -> 'great film'. Punctuation becomes a space so 'a-b' == 'a b'."""
    text = unicodedata.normalize("NFKC", html.unescape(text)).casefold()
    return " ".join(_WORD.findall(text))


def words(text: str) -> list[str]:
    """Lower-cased word tokens of the normalised text."""
    return normalize_text(text).split()


def shingles(text: str, kind: str = "word", size: int = 3) -> set[str]:
    """Word or character `size`-grams of the normalised text; a text shorter than one shingle is
    its own single shingle, so very short texts can still match each other."""
    norm = normalize_text(text)
    if kind == "char":
        if len(norm) <= size:
            return {norm} if norm else set()
        return {norm[i : i + size] for i in range(len(norm) - size + 1)}
    tokens = norm.split()
    if len(tokens) <= size:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}
