"""Rows/s of batch prediction: local `predict` (one process) vs Ray Data with 2 workers, same input.

A TF-IDF model trained on 8,000 bundled Rotten Tomatoes rows predicts 100,000 rows sampled (with
replacement, seeded) from all its texts, one Parquet file. Each side runs the whole job, model
loading and output writing included: local `predict_file` to JSONL, and Ray's `predict_files` (2
actors, one CPU each) to a Parquet directory, on a Ray instance started once beforehand (its
start-up, a cluster's fixed cost, is reported on its own). Alternating pairs, medians. The
projection for N workers is arithmetic on the measured per-worker rate, not a measurement: it
assumes >= N input files or blocks and storage and network that keep up."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import data
from bench.harness import Benchmark, register

PROJECTED_WORKERS = (8, 32, 128, 512)


@register
class Ray(Benchmark):
    name = "ray"
    summary = "batch predict: local predict_file vs Ray Data predict_files (2 actors), rows/s, projection"
    optional = {"ray": "ray"}
    sizes = {"smoke": {"rows": 300, "train_rows": 300, "workers": 1}, "quick": {"rows": 10_000, "train_rows": 8000,
                                                                             "workers": 2},
             "full": {"rows": 100_000, "train_rows": 8000, "workers": 2}}

    def run(self) -> dict:
        if not self.available("ray"):
            return {}
        import pandas as pd
        import ray

        from textclf import TextClassifier
        from textclf.serving.predict import PredictOptions, predict_file
        from textclf.serving.ray_predict import predict_files

        rows, workers = self.size.rows, self.size.workers
        with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
            work = Path(tmp)
            shuffled = data.shuffled("rotten-tomatoes", seed=0)
            model_dir = TextClassifier(model={"type": "tfidf"}).fit(shuffled.subset(range(self.size.train_rows))).save(
                work / "model")
            texts = [shuffled.texts[i] for i in np.random.default_rng(0).integers(0, len(shuffled), size=rows)]
            source = work / "input.parquet"
            pd.DataFrame({"text": texts}).to_parquet(source, index=False)
            started = time.perf_counter()
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="warning")
            ray.data.DataContext.get_current().enable_progress_bars = False
            ray_start = time.perf_counter() - started

            def run_local() -> dict:
                out = work / "local.jsonl"
                out.unlink(missing_ok=True)
                clf = TextClassifier.load(model_dir)
                return {"rows": predict_file(clf, source, out, PredictOptions(progress=False), model_path=model_dir).rows}

            def run_ray() -> dict:
                out = work / "ray.parquet"
                shutil.rmtree(out, ignore_errors=True)
                return {"rows": predict_files(model_dir, source, out, num_workers=workers).rows}

            try:
                comparison = self.proto.compare("local", run_local, "ray", run_ray, warmup=False)
            finally:
                ray.shutdown()
        # rows are only in the measures; seconds are the wall time of each call
        rate = {side: round(rows / comparison["median"][side]["seconds"], 1) for side in ("local", "ray")}
        per_worker = rate["ray"] / workers
        return {"what": f"batch prediction, TF-IDF model, {rows} Rotten Tomatoes rows (one Parquet file): local "
                        f"`predict` (1 process) vs Ray Data `predict_files` ({workers} actors)",
                "ray_version": ray.__version__, "ray_init_seconds": round(ray_start, 2), "comparisons": [comparison],
                "rows_per_s": rate, "ray_over_local": round(rate["ray"] / rate["local"], 3),
                "all_rows_written": all(run[side]["rows"] == rows for run in comparison["runs"] for side in ("a", "b")),
                "per_worker_rows_per_s": round(per_worker, 1),
                "projection": {
                    "label": "PROJECTION, not measured: N x the per-worker rate measured here; assumes >= N input "
                             "files or blocks, storage and network that keep up, one CPU per worker",
                    "rows_per_s": {str(n): round(n * per_worker) for n in PROJECTED_WORKERS},
                    "hours_for_100M_rows": {str(n): round(1e8 / (n * per_worker) / 3600, 2) for n in PROJECTED_WORKERS}}}
