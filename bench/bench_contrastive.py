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
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench_auto import rt_imbalanced, run, seed_means  # noqa: E402


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
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-contrastive-") as tmp:
        for seed in args.seeds:
            train, validation, test = rt_imbalanced(seed, smoke=False)
            for name, model in systems.items():
                row = run(name, dict(model, cache_dir=tmp), {}, train, validation, test, seed, Path(tmp) / f"{seed}")
                row.update(seed=seed, loadavg_1min=round(os.getloadavg()[0], 2))
                print(f"seed {seed}  {name:<34} macro-F1 {row['macro_f1']:.4f}  rotten recall "
                      f"{row['recall']['rotten']:.3f}  {row['fit_seconds']} s", flush=True)
                rows.append(row)
    means = {name: seed_means(rows, name, "rotten") for name in systems}
    result = {"benchmark": "SetFit-style contrastive step vs frozen encoder, 600 RT rows at 10% rotten",
              "systems": systems, "seeds": args.seeds, "mean_over_seeds": means, "runs": rows,
              "loadavg_before": [round(x, 2) for x in load_before],
              "loadavg_after": [round(x, 2) for x in os.getloadavg()], "cpu_count": os.cpu_count()}
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for name, cell in means.items():
        print(f"{name:<34} macro-F1 {cell['macro_f1']:.4f}  rotten recall {cell['rotten_recall']:.3f}  "
              f"{cell['fit_seconds']} s")
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
