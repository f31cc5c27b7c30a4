"""Shared fixtures: small real data sets cut from the bundled corpora (deterministic samples)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from textclf.data import Examples  # noqa: E402
from textclf.data.bundled import load_bundled  # noqa: E402


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests (`pytestmark = pytest.mark.usefixtures(...)`): the test
    machine is shared, and small models gain nothing from a second thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def stratified_sample(examples: Examples, per_class: int, seed: int = 0) -> Examples:
    rng = np.random.default_rng(seed)
    labels = np.array(examples.labels, dtype=object)
    picked = []
    for name in sorted(set(examples.labels)):
        idx = np.flatnonzero(labels == name)
        picked.extend(rng.choice(idx, size=min(per_class, len(idx)), replace=False).tolist())
    return examples.subset(sorted(picked))


@pytest.fixture(scope="session")
def rotten_tomatoes() -> Examples:
    """The full cleaned bundled Rotten Tomatoes set (13,835 rows, 3 classes, movie groups)."""
    return load_bundled("rotten-tomatoes")


@pytest.fixture(scope="session")
def rt_small(rotten_tomatoes) -> Examples:
    """600 Rotten Tomatoes rows, 200 per class: big enough to learn, small enough to be fast."""
    return stratified_sample(rotten_tomatoes, 200)


@pytest.fixture(scope="session")
def rt_binary(rotten_tomatoes) -> Examples:
    """Fresh vs rotten only, 300 rows each."""
    keep = [i for i, label in enumerate(rotten_tomatoes.labels) if label != "plot"]
    return stratified_sample(rotten_tomatoes.subset(keep), 300)
