"""The SetFit-style contrastive step (`embedding` with `contrastive_pairs`) against the frozen encoder.

    python bench/bench_contrastive.py                 # 600 RT rows at 10% rotten, 3 seeds
    python bench/bench_contrastive.py --pairs 2 --seeds 0

Same data as bench_auto.py's (b) and bench_small_finetune.py: 540 training + 60 validation rows with
~10% rotten, tested on 1,000 other rows with the same share, one sample per seed. Both rows use the
packaged MiniLM at max_length 64, mean pooling, L2 normalisation, logistic regression with C by
cross-validation on train and textclf's imbalance-aware class weights; the contrastive row first
fine-tunes the encoder on `--pairs` same-label and different-label pairs per training text.
Writes bench/results/contrastive.json with the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench_auto import print_rotten_means, rt_imbalanced_runs, seed_means  # noqa: E402
from protocol import write_results  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "results" / "contrastive.json"))
    args = parser.parse_args()
    load_before = os.getloadavg()
    systems = {"embedding (frozen)": {"type": "embedding", "max_length": 64},
               f"embedding + contrastive ({args.pairs} pairs)": {"type": "embedding", "max_length": 64,
                                                                 "contrastive_pairs": args.pairs}}
    with tempfile.TemporaryDirectory(prefix="bench-contrastive-") as tmp:
        rows = rt_imbalanced_runs({name: (dict(model, cache_dir=tmp), {}) for name, model in systems.items()},
                                  args.seeds, Path(tmp))
    means = {name: seed_means(rows, name, "rotten") for name in systems}
    write_results(Path(args.output), {
        "benchmark": "SetFit-style contrastive step vs frozen encoder, 600 RT rows at 10% rotten",
        "systems": systems, "seeds": args.seeds, "mean_over_seeds": means, "runs": rows,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()], "cpu_count": os.cpu_count()})
    print_rotten_means(means)
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
