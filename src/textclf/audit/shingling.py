"""Shingle sets as sorted arrays of 32-bit hashes, computed a chunk of texts at a time with numpy.

A text is normalised (normalize.normalize_text), cut into units (words, or characters for char
shingles), and every `size` consecutive units become one shingle hash. Hashing in numpy instead of
building one Python string per shingle is what lets a million rows shingle in about a minute;
Jaccard on 32-bit hashes equals Jaccard on the shingle strings except for a hash collision inside
one pair of texts (about 1 in 10^5 pairs of 400-shingle documents, and it only adds 1 to the
intersection).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from .normalize import normalize_text

# Odd 64-bit constants (splitmix64 and golden-ratio multiples): multiplication by an odd number is a
# bijection mod 2^64, so the mixing steps lose nothing.
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit flips about half the output bits. uint64 -> uint64."""
    x = (x + _GOLDEN).astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _position_weights(size: int) -> np.ndarray:
    """One odd multiplier per position in a shingle, so 'a b c' and 'c b a' hash differently."""
    return mix64(np.arange(1, size + 1, dtype=np.uint64)) | np.uint64(1)


@dataclass
class ShingleChunk:
    """Shingle sets of a chunk of texts: text k's sorted distinct hashes are
    values[starts[k] : starts[k] + counts[k]]; text_keys tell equal normalised texts apart."""

    values: np.ndarray  # uint32
    counts: np.ndarray  # int64, one per text (0 for a text with no word / character)
    text_keys: np.ndarray  # int64 hash of the normalised text (equal only within this process)

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate(([0], np.cumsum(self.counts)[:-1])).astype(np.int64)


def _word_units(norms: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(unit hashes of all texts concatenated, units per text) for word shingles.

    Each distinct word of the chunk is hashed once (crc32 is stable across processes); the
    lookups run in C (dict.fromkeys, map), which is most of the speed of shingling."""
    tokens = " ".join(norms).split()  # normalised texts are words joined by single spaces
    lengths = np.fromiter((norm.count(" ") + 1 if norm else 0 for norm in norms), dtype=np.int64, count=len(norms))
    vocabulary = {word: i for i, word in enumerate(dict.fromkeys(tokens))}
    ids = np.fromiter(map(vocabulary.__getitem__, tokens), dtype=np.int64, count=len(tokens))
    word_hash = np.fromiter((zlib.crc32(w.encode("utf-8")) | (len(w) << 32) for w in vocabulary),
                            dtype=np.uint64, count=len(vocabulary))
    return mix64(word_hash)[ids], lengths


def _char_units(norms: list[str]) -> tuple[np.ndarray, np.ndarray]:
    codes = np.frombuffer("".join(norms).encode("utf-32-le"), dtype=np.uint32)
    return mix64(codes.astype(np.uint64)), np.fromiter(map(len, norms), dtype=np.int64, count=len(norms))


def _shingle_hashes(units: np.ndarray, lengths: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(one hash per shingle, shingles per text). A text shorter than `size` units is one shingle
    of all its units (padding with zeros), so short texts still match each other."""
    n = len(lengths)
    gap = size - 1
    unit_starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    padded_starts = unit_starts + np.arange(n, dtype=np.int64) * gap
    padded = np.zeros(int(lengths.sum()) + n * gap + gap, dtype=np.uint64)
    owner = np.repeat(np.arange(n, dtype=np.int64), lengths)
    padded[np.arange(len(units), dtype=np.int64) + owner * gap] = units
    weights = _position_weights(size)
    total = len(padded) - gap
    combined = padded[:total] * weights[0]
    for j in range(1, size):
        combined += padded[j : j + total] * weights[j]
    per_text = np.where(lengths > 0, np.maximum(lengths - gap, 1), 0)
    first = np.repeat(padded_starts, per_text)
    offsets = np.arange(len(first), dtype=np.int64) - np.repeat(np.cumsum(per_text) - per_text, per_text)
    return mix64(combined[first + offsets]), per_text


def shingle_chunk(texts: list[str], kind: str = "word", size: int = 3) -> ShingleChunk:
    """The shingle sets of `texts` (see module docstring); `kind` is 'word' or 'char'."""
    norms = [normalize_text(t) for t in texts]
    units, lengths = (_char_units if kind == "char" else _word_units)(norms)
    hashes, per_text = _shingle_hashes(units, lengths, size)
    values = (hashes >> np.uint64(32)).astype(np.uint32)
    owner = np.repeat(np.arange(len(texts), dtype=np.uint64), per_text)
    combined = (owner << np.uint64(32)) | values  # one sort orders by text, then by hash
    combined.sort()
    keep = np.ones(len(combined), dtype=bool)
    keep[1:] = combined[1:] != combined[:-1]
    combined = combined[keep]
    counts = np.bincount((combined >> np.uint64(32)).astype(np.int64), minlength=len(texts)).astype(np.int64)
    values = (combined & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    keys = np.fromiter((hash(norm) for norm in norms), dtype=np.int64, count=len(norms))
    return ShingleChunk(values=values, counts=counts, text_keys=keys)


def set_fingerprints(chunk: ShingleChunk) -> np.ndarray:
    """One 64-bit fingerprint per shingle set (0 for an empty set): equal sets, equal fingerprints."""
    fingerprints = np.zeros(len(chunk.counts), dtype=np.uint64)
    present = chunk.counts > 0
    if present.any():
        sums = np.add.reduceat(mix64(chunk.values.astype(np.uint64)), chunk.starts[present])
        fingerprints[present] = mix64(sums ^ chunk.counts[present].astype(np.uint64))
    return fingerprints
