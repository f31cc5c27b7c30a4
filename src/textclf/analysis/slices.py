"""Slices: named subsets of an evaluation set (length bucket, negation, rare words, group, ...)
and their metrics with seeded bootstrap intervals.

A *slice family* maps every example to one value (a tag), e.g. family "negation" with values
"negation" / "no negation". Per-slice metrics tell a person where the model is worse than overall.
Everything here works from texts, labels and the model's public interface, so it holds for every
model type.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import Examples
from ..errors import DataError
from ..evaluation.bootstrap import RESAMPLES, percentile_interval

_WORD = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern
NEGATION = re.compile(
    r"\b(?:not|no|never|nothing|nobody|none|neither|nor|nowhere|without|hardly|barely|scarcely|cannot)\b"
    r"|n't\b|\bn['’]t\b",
    re.IGNORECASE,
)


def words(text: str) -> list[str]:
    """Lower-cased word tokens (two or more word characters)."""
    return _WORD.findall(text.lower())


# -- training vocabulary ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Vocabulary:
    """Training-set word vocabulary. `doc_freq[w]` is the number of training documents containing
    `w` (None when the source keeps only the word list, e.g. a tokenizer vocabulary)."""

    doc_freq: dict[str, int | None]
    tokenize: Callable[[str], list[str]]
    source: str  # "TF-IDF vocabulary", "tokenizer vocabulary" or "training split"

    def oov_rate(self, text: str) -> float:
        tokens = self.tokenize(text)
        return sum(t not in self.doc_freq for t in tokens) / len(tokens) if tokens else 0.0


def vocabulary_from_examples(train: Examples) -> Vocabulary:
    doc_freq: dict[str, int | None] = {}
    for text in train.texts:
        for w in set(words(text)):
            doc_freq[w] = (doc_freq.get(w) or 0) + 1
    return Vocabulary(doc_freq, words, "training split")


def training_vocabulary(clf, train: Examples | None = None) -> Vocabulary | None:
    """The vocabulary the model was trained with (the model's own, e.g. TF-IDF's with document
    frequencies), else rebuilt from `train`; None when neither is available."""
    known = clf.model_.vocabulary()
    if known is not None:
        kind = "TF-IDF vocabulary" if any(v is not None for v in known.values()) else "tokenizer vocabulary"
        return Vocabulary(known, words, kind)
    return vocabulary_from_examples(train) if train is not None else None


# -- lengths and truncation ------------------------------------------------------------------------
def token_counts(clf, texts: Sequence[str]) -> tuple[np.ndarray, str]:
    """Per-text length in the model's own tokens, or in words for models that read whole texts."""
    unit = "words" if clf.model_.max_tokens() is None else "tokens"
    return np.asarray(clf.model_.token_lengths(list(texts))), unit


# -- tag functions: one value per example ----------------------------------------------------------
def length_tags(lengths: np.ndarray, edges: Sequence[int] | None = None, unit: str = "words") -> list[str]:
    """Bucket lengths by `edges` (upper bounds, inclusive); default: quartiles of `lengths`."""
    lengths = np.asarray(lengths)
    if edges is None:
        edges = sorted({int(q) for q in np.quantile(lengths, [0.25, 0.5, 0.75])}) if len(lengths) else []
    edges = list(edges)
    names, low = [], int(lengths.min()) if len(lengths) else 0
    for edge in edges:
        names.append(f"{low}-{edge} {unit}")
        low = edge + 1
    names.append(f">{edges[-1]} {unit}" if edges else f"any {unit}")
    return [names[int(np.searchsorted(edges, x, side="left"))] for x in lengths]


def truncation_tags(lengths: np.ndarray, max_length: int) -> list[str]:
    return ["truncated" if x > max_length else "not truncated" for x in lengths]


def negation_tags(texts: Sequence[str]) -> list[str]:
    return ["negation" if NEGATION.search(t) else "no negation" for t in texts]


def vocabulary_tags(texts: Sequence[str], vocab: Vocabulary, rare_max_df: int = 2) -> list[str]:
    """"oov term" if a word is absent from training, else "rare term" if a word occurs in at most
    `rare_max_df` training documents, else "common terms only"."""
    out = []
    for text in texts:
        tag = "common terms only"
        for token in vocab.tokenize(text):
            df = vocab.doc_freq.get(token, 0)
            if token not in vocab.doc_freq:
                tag = "oov term"
                break
            if df is not None and df <= rare_max_df:
                tag = "rare term"
        out.append(tag)
    return out


def label_name_tags(texts: Sequence[str], gold: Sequence[str], label_names: Sequence[str]) -> list[str]:
    """Does the text spell out a class name? A shortcut the model may learn instead of meaning."""
    patterns = {name: re.compile(r"\b" + re.escape(name).replace(r"_", r"[ _-]?").replace(r"\-", r"[ _-]?") + r"\b",
                                 re.IGNORECASE) for name in label_names}
    out = []
    for text, label in zip(texts, gold):
        named = [name for name, p in patterns.items() if p.search(text)]
        golds = set(label) if isinstance(label, tuple) else {label}
        if any(n in golds for n in named):
            out.append("names its gold label")
        elif named:
            out.append("names another label")
        else:
            out.append("no label name")
    return out


def time_tags(times: np.ndarray, n_buckets: int = 4) -> list[str]:
    """Equal-count time buckets named by their range."""
    times = np.asarray(times)
    is_date = np.issubdtype(times.dtype, np.datetime64)
    numeric = times.astype("datetime64[ns]").astype(np.int64) if is_date else times.astype(float)
    edges = np.unique(np.quantile(numeric, np.linspace(0, 1, n_buckets + 1)[1:-1], method="lower"))
    bucket = np.searchsorted(edges, numeric, side="left")

    def show(v) -> str:
        return str(np.datetime64(int(v), "ns").astype("datetime64[D]")) if is_date else f"{v:g}"

    names = {}
    for b in np.unique(bucket):
        members = numeric[bucket == b]
        names[b] = f"{show(members.min())} .. {show(members.max())}"
    return [names[b] for b in bucket]


def slice_columns(examples: Examples, names: list[str]) -> dict[str, list[str]]:
    """User slice columns read from the file the examples came from (aligned by data row)."""
    if not names:
        return {}
    if not Path(examples.source).is_file():
        raise DataError(f"--slice-col reads columns from a data file, but these examples come from "
                        f"{examples.source!r}; pass --data FILE")
    return read_columns(examples.source, names, examples.rows)


def read_columns(path: str | Path, names: Sequence[str], rows: Sequence[int]) -> dict[str, list[str]]:
    """Raw values of columns `names` for the 1-based data rows `rows` of a data file."""
    from ..data.io import iter_frames

    wanted = {int(r): i for i, r in enumerate(rows)}
    out = {name: [""] * len(rows) for name in names}
    for first, frame in iter_frames(path):
        for name in names:
            if name not in frame.columns:
                available = ", ".join(map(str, frame.columns))
                raise DataError(f'{path}: slice column "{name}" not found (columns: {available})')
            for offset, value in enumerate(frame[name].tolist()):
                i = wanted.get(first + offset)
                if i is not None:
                    out[name][i] = "(missing)" if value is None or (isinstance(value, float) and math.isnan(value)) \
                        else str(value)
    return out


# -- per-slice metrics ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcomes:
    """What slice metrics need: per-row correctness and the counts an F1 is made of.

    Single-label: `targets`/`decisions` are class ids (n,) and F1 is macro over the classes
    present in the rows. Multi-label: 0/1 matrices (n, k); accuracy is exact match, F1 is micro."""

    targets: np.ndarray
    decisions: np.ndarray
    n_classes: int
    multi_label: bool

    @property
    def correct(self) -> np.ndarray:
        if self.multi_label:
            return (self.targets.astype(bool) == self.decisions.astype(bool)).all(axis=1)
        return self.targets == self.decisions

    def f1(self, idx: np.ndarray) -> np.ndarray:
        """F1 for each row of resample indices `idx`, shape (b, m) -> (b,)."""
        idx = np.atleast_2d(idx)
        if self.multi_label:
            y, d = self.targets.astype(bool), self.decisions.astype(bool)
            tp = (y & d).sum(axis=1)[idx].sum(axis=1)
            fp = (~y & d).sum(axis=1)[idx].sum(axis=1)
            fn = (y & ~d).sum(axis=1)[idx].sum(axis=1)
            denominator = 2 * tp + fp + fn
            return np.divide(2 * tp, denominator, out=np.zeros(len(tp)), where=denominator > 0)
        k = self.n_classes
        codes = self.targets.astype(int) * k + self.decisions.astype(int)
        b = idx.shape[0]
        flat = (codes[idx] + (np.arange(b) * k * k)[:, None]).ravel()
        cm = np.bincount(flat, minlength=b * k * k).reshape(b, k, k).astype(float)
        tp = np.diagonal(cm, axis1=1, axis2=2)
        predicted, actual = cm.sum(axis=1), cm.sum(axis=2)
        denominator = predicted + actual
        f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
        present = denominator > 0
        return (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


@dataclass(frozen=True)
class SliceMetrics:
    family: str
    value: str
    n: int
    errors: int
    accuracy: float
    accuracy_interval: tuple[float, float]
    f1: float
    f1_interval: tuple[float, float]
    accuracy_gap: float  # this slice's accuracy minus overall accuracy: < 0 means the slice is worse
    rows: tuple[int, ...]  # positions of the slice's examples in the evaluated set

    def to_dict(self) -> dict:
        return {"family": self.family, "value": self.value, "n": self.n, "errors": self.errors,
                "accuracy": round(self.accuracy, 4), "accuracy_ci": [round(x, 4) for x in self.accuracy_interval],
                "f1": round(self.f1, 4), "f1_ci": [round(x, 4) for x in self.f1_interval],
                "accuracy_gap": round(self.accuracy_gap, 4)}


def bootstrap(outcomes: Outcomes, idx: np.ndarray, n_resamples: int, rng: np.random.Generator,
              level: float = 0.95) -> tuple[tuple[float, float], tuple[float, float]]:
    """Percentile intervals of accuracy and F1 over resamples of the rows `idx`."""
    draws = idx[rng.integers(0, len(idx), size=(n_resamples, len(idx)))]
    return (percentile_interval(outcomes.correct[draws].mean(axis=1), level),
            percentile_interval(outcomes.f1(draws), level))


def slice_metrics(outcomes: Outcomes, tags: dict[str, list[str]], min_size: int = 1, n_resamples: int = RESAMPLES,
                  seed: int = 0) -> list[SliceMetrics]:
    """Metrics of every slice (family, value) with at least `min_size` rows, in family order then
    by value. The bootstrap is seeded once, so the same inputs always give the same intervals."""
    rng = np.random.default_rng(seed)
    correct = outcomes.correct
    overall = float(correct.mean()) if len(correct) else 0.0
    out = []
    for family, values in tags.items():
        values_array = np.asarray(values, dtype=object)
        for value in sorted(set(values), key=str):
            idx = np.flatnonzero(values_array == value)
            if len(idx) < min_size:
                continue
            accuracy = float(correct[idx].mean())
            acc_ci, f1_ci = bootstrap(outcomes, idx, n_resamples, rng)
            out.append(SliceMetrics(
                family, str(value), len(idx), int((~correct[idx]).sum()), accuracy, acc_ci,
                float(outcomes.f1(idx[None, :])[0]), f1_ci, accuracy - overall, tuple(int(i) for i in idx)))
    return out


def worst_slices(slices: list[SliceMetrics], top: int = 10) -> list[SliceMetrics]:
    """Slices below overall accuracy, most negative gap first (then the larger slice)."""
    worse = [s for s in slices if s.accuracy_gap < 0]
    return sorted(worse, key=lambda s: (s.accuracy_gap, -s.n))[:top]
