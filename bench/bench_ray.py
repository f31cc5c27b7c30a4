"""Rows/s of batch prediction: local `predict` (one process) vs Ray Data with 2 workers, same input.

A TF-IDF model trained on the bundled Rotten Tomatoes train rows predicts 100,000 rows sampled
(with replacement, seeded) from all its texts, one Parquet file. Each side runs the whole job,
model loading and output writing included: local `predict_file` to JSONL, and Ray's
`predict_files` (2 actors, one CPU each) to a Parquet directory, on a Ray instance started once
beforehand (its start-up, a cluster's fixed cost, is reported on its own). The two alternate
(local, Ray, then Ray, local, ...) for 3 pairs; the medians are reported, with the 1-minute load
average before and after every run.

The projection for N workers is arithmetic on the measured per-worker rate (the 2-worker rate / 2),
not a measurement: it assumes the input is split into at least N files or blocks, and that
storage, the network and the driver keep up. Here the 2 workers share 2 cores with Ray's own
processes, the reader and the writer, so the per-worker rate measured here is a floor.

    python bench/bench_ray.py            # writes bench/results/ray.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from textclf import TextClassifier  # noqa: E402
from textclf.data.bundled import load_bundled  # noqa: E402
from textclf.serving.predict import PredictOptions, predict_file  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "ray.json"
PROJECTED_WORKERS = (8, 32, 128, 512)


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def timed(run) -> dict:
    before = load1()
    start = time.perf_counter()
    rows = run()
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 3), "rows": rows, "load_before": before, "load_after": load1()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_before = os.getloadavg()

    import ray

    from textclf.serving.ray_predict import predict_files

    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        data = load_bundled("rotten-tomatoes")
        rng = np.random.default_rng(0)
        train = data.subset(rng.permutation(len(data))[:8000].tolist())
        model_dir = TextClassifier(model={"type": "tfidf"}).fit(train).save(work / "model")
        texts = [data.texts[i] for i in rng.integers(0, len(data), size=args.rows)]
        source = work / "input.parquet"
        pd.DataFrame({"text": texts}).to_parquet(source, index=False)

        started = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="warning")
        ray.data.DataContext.get_current().enable_progress_bars = False
        ray_start = time.perf_counter() - started

        def run_local() -> int:
            out = work / "local.jsonl"
            out.unlink(missing_ok=True)
            clf = TextClassifier.load(model_dir)
            return predict_file(clf, source, out, PredictOptions(progress=False), model_path=model_dir).rows

        def run_ray() -> int:
            out = work / "ray.parquet"
            shutil.rmtree(out, ignore_errors=True)
            return predict_files(model_dir, source, out, num_workers=args.workers).rows

        runs: dict[str, list[dict]] = {"local": [], "ray": []}
        for pair in range(args.pairs):
            order = (("local", run_local), ("ray", run_ray)) if pair % 2 == 0 else (("ray", run_ray),
                                                                                     ("local", run_local))
            for name, run in order:
                runs[name].append(timed(run))
                assert runs[name][-1]["rows"] == args.rows, runs[name][-1]
                print(f"pair {pair + 1} {name:<5} {runs[name][-1]}", flush=True)
        ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    median = {name: statistics.median(r["seconds"] for r in rs) for name, rs in runs.items()}
    rate = {name: round(args.rows / seconds, 1) for name, seconds in median.items()}
    per_worker = rate["ray"] / args.workers
    load_after = os.getloadavg()
    result = {
        "load_average": {"before": load_before, "after": load_after,
                         "noisy": max(load_before[0], load_after[0]) / (os.cpu_count() or 1) > 1.5},
        "what": f"batch prediction, TF-IDF model, {args.rows} Rotten Tomatoes rows (one Parquet file): local "
                f"`predict` (1 process) vs Ray Data `predict_files` ({args.workers} actors)",
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "ray": ray.__version__, "shared": "other jobs run on the same cores (see load averages)"},
        "protocol": f"alternating order, {args.pairs} pairs, median seconds; whole job incl. model load and write",
        "ray_init_seconds": round(ray_start, 2),
        "runs": runs,
        "median_seconds": {k: round(v, 3) for k, v in median.items()},
        "rows_per_s": rate,
        "ray_over_local": round(rate["ray"] / rate["local"], 3),
        "per_worker_rows_per_s": round(per_worker, 1),
        "projection": {
            "label": "PROJECTION, not measured: N x the per-worker rate measured here (2-worker rate / 2); "
                     "assumes >= N input files or blocks, storage and network that keep up, one CPU per worker",
            "rows_per_s": {str(n): round(n * per_worker) for n in PROJECTED_WORKERS},
            "hours_for_100M_rows": {str(n): round(1e8 / (n * per_worker) / 3600, 2) for n in PROJECTED_WORKERS},
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("median_seconds", "rows_per_s", "ray_over_local",
                                             "per_worker_rows_per_s", "projection")}, indent=2))


if __name__ == "__main__":
    main()
