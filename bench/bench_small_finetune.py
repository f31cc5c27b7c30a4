"""The small-data fine-tune recipe against the ~10k-row recipe, on a small imbalanced set.

    python bench/bench_small_finetune.py            # 600 RT rows (10% rotten), 3 seeds, ~10 min
    python bench/bench_small_finetune.py --smoke    # half the rows, one seed, 1 epoch: checks the script

`pretrained` picks its training defaults from the training-set size (models/pretrained.py): under
2,000 rows, 10 epochs, learning rate 5e-5 with 1e-3 for the new head, batch 16, and the epoch with
the best validation macro-F1 (patience 3); otherwise 3 epochs at 3e-5. This measures both recipes
on the same data as bench_auto.py's (b): 540 training + 60 validation rows with ~10% rotten,
tested on 1,000 other rows with the same share (900 / 100), one sample per seed. Both get the
imbalance-aware default (balanced class weights, since rotten is under a third of fresh) and the
packaged MiniLM at max_length 64, CLS pooling. Reported per recipe: test macro-F1 and rotten recall
(mean over seeds), fit seconds; embedding + LR from bench/results/auto.json is the row to beat.
Writes bench/results/small_finetune.json with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench_auto import print_rotten_means, rt_imbalanced_runs, seed_means  # noqa: E402
from protocol import write_results  # noqa: E402

MODEL = {"type": "pretrained", "name_or_path": "minilm", "pooling": "cls", "max_length": 64}
RECIPES = {
    # what textclf picks for 540 rows (PretrainedModel.training_defaults)
    "small-data defaults": {},
    # the ~10k-row recipe, which every size got before: 3 epochs, one rate, no early stopping
    "10k-row recipe": {"epochs": 3, "learning_rate": 3e-5, "head_learning_rate": None, "warmup_ratio": 0.1,
                       "weight_decay": 0.01, "batch_size": 16, "early_stopping_patience": None},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "results" / "small_finetune.json"))
    args = parser.parse_args()
    seeds = args.seeds[:1] if args.smoke else args.seeds
    load_before = os.getloadavg()
    recipes = {name: (MODEL, dict(training, epochs=1) if args.smoke else training)
               for name, training in RECIPES.items()}
    with tempfile.TemporaryDirectory(prefix="bench-small-ft-") as tmp:
        rows = rt_imbalanced_runs(recipes, seeds, Path(tmp), args.smoke)
    means = {name: seed_means(rows, name, "rotten") for name in RECIPES}
    reference = None
    auto_json = Path(__file__).resolve().parent / "results" / "auto.json"
    if auto_json.is_file():
        reference = json.loads(auto_json.read_text()).get("mean_over_seeds", {}).get("rt-imbalanced", {}).get(
            "embedding_lr")
    write_results(Path(args.output), {
        "benchmark": "small-data fine-tune recipe vs the 10k-row recipe, 600 RT rows at 10% rotten",
        "model": MODEL, "recipes": RECIPES, "seeds": seeds, "smoke": args.smoke,
        "mean_over_seeds": means, "embedding_lr_from_auto_json": reference, "runs": rows,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()], "cpu_count": os.cpu_count()})
    print_rotten_means(means)
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
