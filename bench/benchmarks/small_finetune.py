"""The small-data fine-tune recipe against the ~10k-row recipe, on a small imbalanced set.

`pretrained` picks its training defaults from the training-set size: under 2,000 rows, 10 epochs,
learning rate 5e-5 with 1e-3 for the new head, batch 16, the epoch with the best validation
macro-F1 (patience 3); otherwise 3 epochs at 3e-5. Both recipes on data.rt_imbalanced (540 + 60
rows, ~10% rotten; 1,000 test rows), the packaged MiniLM at max_length 64, CLS pooling, with the
imbalance-aware default weights. Embedding + LR from the auto benchmark is the row to beat."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bench.harness import Benchmark, register
from bench.protocol import RESULTS
from bench.runs import rt_imbalanced_runs, seed_means

MODEL = {"type": "pretrained", "name_or_path": "minilm", "pooling": "cls", "max_length": 64}
RECIPES = {
    "small-data defaults": {},  # what textclf picks for 540 rows (PretrainedModel.training_defaults)
    # the ~10k-row recipe, which every size got before: 3 epochs, one rate, no early stopping
    "10k-row recipe": {"epochs": 3, "learning_rate": 3e-5, "head_learning_rate": None, "warmup_ratio": 0.1,
                       "weight_decay": 0.01, "batch_size": 16, "early_stopping_patience": None},
}


@register
class SmallFinetune(Benchmark):
    name = "small_finetune"
    summary = "MiniLM fine-tune: small-data recipe vs the 10k-row recipe, 600 RT rows at 10% rotten"
    sizes = {"smoke": {"seeds": [0], "scale": 0.05, "epochs": 1, "max_length": 16},
             "quick": {"seeds": [0], "scale": 0.5, "epochs": 1, "max_length": 64},
             "full": {"seeds": [0, 1, 2], "scale": 1.0, "epochs": None, "max_length": 64}}

    def run(self) -> dict:
        epochs = {} if self.size.epochs is None else {"epochs": self.size.epochs}
        model = {**MODEL, "max_length": self.size.max_length}
        recipes = {name: (model, {**training, **epochs}) for name, training in RECIPES.items()}
        with tempfile.TemporaryDirectory(prefix="bench-small-ft-") as tmp:
            rows = rt_imbalanced_runs(recipes, self.size.seeds, Path(tmp), self.size.scale)
        auto_json = RESULTS / "auto.json"
        reference = (json.loads(auto_json.read_text()).get("mean_over_seeds", {}).get("rt-imbalanced", {})
                     .get("embedding_lr") if auto_json.is_file() else None)
        return {"model": MODEL, "recipes": RECIPES, "seeds": self.size.seeds,
                "mean_over_seeds": {name: seed_means(rows, name, "rotten") for name in RECIPES},
                "embedding_lr_from_auto_json": reference, "runs": rows}
