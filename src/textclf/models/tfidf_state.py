"""The saved state of a TF-IDF model (tfidf.json, model.safetensors) checked before it is used.

A model directory is data: each vectorizer's parameters must be exactly the ones its config.json
builds (so nothing in the file reaches scikit-learn but the vocabulary and idf weights: no
`input=filename`, no tokenizer or regular expression of the file's choosing), every vocabulary
index must name a column of the idf vector and of the weights, and the weights must have the shape
the labels need and be finite. A text holding a term whose index is out of range would otherwise
fail with an IndexError on that text only, long after loading, and NaN weights would answer NaN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError, brief

STATE_KEYS = {"params", "vocabulary", "idf", "n_documents"}
WEIGHT_KEYS = ("coef", "intercept")


def _same(saved: Any, expected: Any) -> bool:
    """A saved parameter equals the expected one, type included (JSON has no tuple; 1 is not True)."""
    if isinstance(expected, tuple):
        return isinstance(saved, list) and len(saved) == len(expected) and all(
            _same(a, b) for a, b in zip(saved, expected))
    if isinstance(expected, bool) or isinstance(saved, bool):
        return saved is expected
    if isinstance(expected, (int, float)) and isinstance(saved, (int, float)):
        return type(saved) is type(expected) and saved == expected
    return saved == expected


def checked_params(path: Path, i: int, saved: Any, expected: dict[str, Any], saved_keys: set[str]) -> None:
    """Vectorizer `i`'s saved parameters: only `saved_keys`, each equal to what config.json builds."""
    if not isinstance(saved, dict):
        raise ModelError(f"{path}: vectorizer {i + 1}: 'params' must be a JSON object")
    unknown = sorted(set(saved) - saved_keys)
    if unknown:
        raise ModelError(f"{path}: vectorizer {i + 1}: unknown parameter {brief(unknown[0])} (a saved TF-IDF "
                         f"model has only {', '.join(sorted(saved_keys))})")
    for key, value in saved.items():
        if not _same(value, expected[key]):
            wanted = list(expected[key]) if isinstance(expected[key], tuple) else expected[key]
            raise ModelError(f"{path}: vectorizer {i + 1}: {key} is {brief(value)} but config.json's model "
                             f"gives {brief(wanted)}")


def checked_entry(path: Path, i: int, entry: Any) -> tuple[dict[str, int], np.ndarray, int | None]:
    """(vocabulary, idf, n_documents) of vectorizer `i`: the vocabulary maps terms to the indices
    0 .. n-1 exactly once each, n being the length of the idf vector, whose weights are finite and
    positive."""
    if not isinstance(entry, dict) or not {"params", "vocabulary", "idf"} <= set(entry):
        raise ModelError(f"{path}: vectorizer {i + 1} must be a JSON object with params, vocabulary and idf")
    unknown = sorted(set(entry) - STATE_KEYS)
    if unknown:
        raise ModelError(f"{path}: vectorizer {i + 1}: unknown key {brief(unknown[0])}")
    idf = _numbers(entry["idf"])
    if idf is None or idf.size == 0 or not np.all(np.isfinite(idf)) or idf.min() <= 0:
        raise ModelError(f"{path}: vectorizer {i + 1}: idf must be a non-empty list of finite positive numbers")
    vocabulary = entry["vocabulary"]
    if not isinstance(vocabulary, dict) or not all(type(v) is int for v in vocabulary.values()):
        raise ModelError(f"{path}: vectorizer {i + 1}: vocabulary must map terms to integer indices")
    indices = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))
    if len(vocabulary) != idf.size:
        raise ModelError(f"{path}: vectorizer {i + 1}: {len(vocabulary)} vocabulary terms but {idf.size} idf weights")
    bad = np.flatnonzero((indices < 0) | (indices >= idf.size))
    if bad.size:
        term = list(vocabulary)[int(bad[0])]
        raise ModelError(f"{path}: vectorizer {i + 1}: vocabulary index {int(indices[bad[0]])} of term {brief(term)} "
                         f"is out of range (0 .. {idf.size - 1})")
    if np.unique(indices).size != indices.size:
        raise ModelError(f"{path}: vectorizer {i + 1}: two vocabulary terms share one index")
    n_documents = entry.get("n_documents")
    if n_documents is not None and (type(n_documents) is not int or n_documents < 1):
        raise ModelError(f"{path}: vectorizer {i + 1}: n_documents must be a positive integer or null")
    return vocabulary, idf.astype(np.float32), n_documents


def checked_weights(path: Path, weights: dict[str, np.ndarray], rows: int,
                    features: int) -> tuple[np.ndarray, np.ndarray]:
    """(coef, intercept): exactly those two float32 tensors, (rows, features) and (rows,), finite."""
    if sorted(weights) != sorted(WEIGHT_KEYS):
        found = ", ".join(sorted(weights)) or "none"
        raise ModelError(f"{path}: expected the tensors coef and intercept, found {found}")
    coef, intercept = weights["coef"], weights["intercept"]
    for name, tensor, shape in (("coef", coef, (rows, features)), ("intercept", intercept, (rows,))):
        if tensor.dtype != np.float32:
            raise ModelError(f"{path}: {name} is {tensor.dtype}, a TF-IDF model saves float32")
        if tensor.shape != shape:
            raise ModelError(f"{path}: {name} has shape {tuple(tensor.shape)}, expected {shape} (labels x features "
                             "of tfidf.json)")
        if not np.all(np.isfinite(tensor)):
            raise ModelError(f"{path}: {name} holds NaN or infinite values")
    return coef, intercept


def _numbers(value: Any) -> np.ndarray | None:
    if not isinstance(value, list) or not all(type(x) in (int, float) for x in value):
        return None
    return np.asarray(value, dtype=np.float64)
