"""The SetFit-style contrastive step (`embedding` with `contrastive_pairs`) against the frozen encoder.

Data: data.rt_imbalanced (540 training + 60 validation rows with ~10% rotten, tested on 1,000
other rows with the same share, one sample per seed). Both rows: the packaged MiniLM at max_length
64, mean pooling, L2 normalisation, logistic regression with C by cross-validation and textclf's
imbalance-aware class weights; the contrastive row first fine-tunes the encoder on `pairs`
same-label and different-label pairs per training text."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.harness import Benchmark, register
from bench.runs import rt_imbalanced_runs, seed_means


@register
class Contrastive(Benchmark):
    name = "contrastive"
    summary = "SetFit-style contrastive step vs frozen MiniLM embeddings, 600 RT rows at 10% rotten"
    sizes = {"smoke": {"seeds": [0], "pairs": 1, "scale": 0.05, "max_length": 16},
             "quick": {"seeds": [0], "pairs": 4, "scale": 1.0, "max_length": 64},
             "full": {"seeds": [0, 1, 2], "pairs": 4, "scale": 1.0, "max_length": 64}}

    def run(self) -> dict:
        encoder = {"type": "embedding", "max_length": self.size.max_length}
        systems = {"embedding (frozen)": encoder,
                   f"embedding + contrastive ({self.size.pairs} pairs)": {**encoder, "contrastive_pairs": self.size.pairs}}
        with tempfile.TemporaryDirectory(prefix="bench-contrastive-") as tmp:
            rows = rt_imbalanced_runs({name: (dict(model, cache_dir=tmp), {}) for name, model in systems.items()},
                                      self.size.seeds, Path(tmp), self.size.scale)
        return {"systems": systems, "seeds": self.size.seeds,
                "mean_over_seeds": {name: seed_means(rows, name, "rotten") for name in systems}, "runs": rows}
