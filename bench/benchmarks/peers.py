"""textclf against its peers, side by side in one run: same splits, same seeds, same machine.

Rows: every configs/*.yaml for the bundled rotten-tomatoes data whose model type textclf has
registered (a type not registered yet is a skipped row), scikit-learn TF-IDF + LR written
directly, fastText (tuned on validation), Hugging Face Trainer and SetFit on the packaged MiniLM
(bench/peers_systems.py). In quick and full runs each (system, seed) runs in its own worker
process, so peak RSS and imports are its own; a smoke run fits every system in this process on a
few rows for one epoch. Peers that are not installed (`pip install -e ".[bench]"`) are skipped
with a note. The payload holds every run, the plan, the rows and the parity checks; peers.md
(the table and its notes) is written beside the JSON in full and quick runs."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bench import data
from bench.harness import Benchmark, register
from bench.peers_report import build_rows, markdown_report, parity_checks
from bench.peers_systems import Job, Reduction, run_job

DATASET = "rotten-tomatoes"
EXPECTED_TYPES = ("tfidf", "bag", "cnn", "rnn", "transformer", "pretrained")
PEERS = [  # system, label, module that must be importable
    ("sklearn", "scikit-learn TF-IDF + LR (direct)", "sklearn"),
    ("fasttext", "fastText 0.9.2 (tuned)", "fasttext"),
    ("hf_trainer", "HF Trainer · MiniLM", "accelerate"),
    ("setfit", "SetFit · MiniLM", "setfit"),
]
# Comparable rows sit together: linear models, models trained from scratch, then MiniLM fine-tunes.
TABLE_ORDER = ("tfidf", "sklearn", "fasttext", "bag", "cnn", "rnn", "transformer", "pretrained", "hf_trainer",
               "setfit")


@dataclass(frozen=True)
class Plan:
    seeds: tuple[int, ...]
    neural: Reduction = field(default_factory=Reduction)
    pretrained: Reduction = field(default_factory=Reduction)  # textclf MiniLM and HF Trainer
    setfit: Reduction = field(default_factory=Reduction)
    timeout_s: int = 6 * 3600
    limit: int | None = None  # smoke: a few rows per split, one epoch, in this process


PLANS = {
    "smoke": Plan((0,), Reduction(None, 1, 32), Reduction(None, 1, 32, 8), Reduction(None, 1, 32, 8), limit=40),
    # Quick: one seed; models trained from scratch see the full training split for at most 3 epochs
    # (2,000 rows x 2 epochs left them near the majority rate); the two MiniLM fine-tunes 2,000 rows
    # for 2 epochs at batch 16 (50 steps left both far from converged, so the parity check compared
    # noise); SetFit 800 rows for 1 epoch. All at 64 tokens. TF-IDF, scikit-learn and fastText
    # always use the full split.
    "quick": Plan((0,), Reduction(None, 3, 64), Reduction(2000, 2, 64, 16), Reduction(800, 1, 64, 16), timeout_s=1200),
    "full": Plan((0, 1, 2)),
}


def textclf_systems() -> tuple[list[dict], str | None, str | None]:
    """Rows for the textclf configs on the bundled data; also the TF-IDF and MiniLM configs that the
    parity checks compare. A config whose type is not registered yet becomes a skipped row."""
    from textclf.config import load_config
    from textclf.errors import TextclfError
    from textclf.models import MODEL_TYPES

    systems, seen_types, tfidf, pretrained = [], set(), None, None
    for path in sorted(data.CONFIGS.glob("*.yaml")):
        try:
            cfg = load_config(path)
        except TextclfError as err:
            systems.append({"system": f"textclf:{path.stem}", "label": f"textclf ({path.name})", "status": "skipped",
                            "notes": [f"config does not load: {err}"]})
            continue
        if cfg.data.dataset != DATASET or cfg.task != "single_label":
            continue
        kind = str(cfg.model["type"])
        seen_types.add(kind)
        system = {"system": f"textclf:{path.stem}", "label": f"textclf {kind}", "model_type": kind,
                  "config": f"configs/{path.name}", "status": "ok", "notes": []}
        if kind not in MODEL_TYPES:
            system.update(status="skipped", notes=[f"model type {kind!r} is not registered in this checkout"])
        elif kind == "tfidf" and tfidf is None:
            tfidf = system["system"]
        elif kind == "pretrained" and pretrained is None:
            pretrained = system["system"]
        systems.append(system)
    systems += [{"system": f"textclf:{kind}", "label": f"textclf {kind}", "model_type": kind, "status": "skipped",
                 "notes": [f"no configs/*.yaml with model type {kind!r} yet"]}
                for kind in EXPECTED_TYPES if kind not in seen_types]
    return systems, tfidf, pretrained


def peer_systems(pretrained: str | None) -> list[dict]:
    systems = []
    for name, label, module in PEERS:
        system = {"system": name, "label": label, "status": "ok", "notes": []}
        if importlib.util.find_spec(module) is None:
            system.update(status="skipped", notes=[f"{module} is not installed: pip install -e \".[bench]\""])
        elif name in ("hf_trainer", "setfit") and pretrained is None:
            system.update(status="skipped", notes=["no textclf pretrained config to copy training settings from"])
        systems.append(system)
    return systems


def table_position(system: dict) -> int:
    key = system.get("model_type", system["system"])
    return TABLE_ORDER.index(key) if key in TABLE_ORDER else len(TABLE_ORDER)


def run_worker(job: Job, timeout_s: int, workdir: Path) -> dict:
    """Run one job in a fresh process (bench.worker); its own peak RSS comes from wait4's rusage."""
    stem = f"{job.system.replace(':', '-')}-seed{job.seed}"
    result_file, log_file = workdir / f"{stem}.result.json", workdir / f"{stem}.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    started_at, load = datetime.now(timezone.utc).isoformat(timespec="seconds"), os.getloadavg()[0]
    started = time.perf_counter()
    with open(log_file, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bench.worker", "bench.peers_systems:run_job_dict",
                                    json.dumps({"job": job.to_dict()}), str(result_file)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env, cwd=data.ROOT, start_new_session=True)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > timeout_s:
                os.killpg(process.pid, signal.SIGKILL)
                _, status, usage = os.wait4(process.pid, 0)
                timed_out = True
                break
            time.sleep(0.25)
    outcome = {"system": job.system, "seed": job.seed, "started": started_at, "load_average_at_start": load,
               "wall_seconds": time.perf_counter() - started, "peak_rss_mb": usage.ru_maxrss / 1024.0}  # KiB on Linux
    if timed_out:
        return {**outcome, "status": "timed out", "error": f"over {timeout_s} s"}
    if os.waitstatus_to_exitcode(status) != 0 or not result_file.exists():
        lines = [l for l in log_file.read_text(encoding="utf-8", errors="replace").splitlines() if l.strip()]
        return {**outcome, "status": "failed", "error": lines[-1][:300] if lines else "no result"}
    return {**outcome, **json.loads(result_file.read_text(encoding="utf-8")), "status": "ok"}


def run_here(job: Job) -> dict:
    """Smoke runs: the job in this process (seconds, not a clean peak RSS)."""
    from bench.protocol import peak_rss_mib

    started = time.perf_counter()
    result = run_job(job)
    return {"system": job.system, "seed": job.seed, "wall_seconds": time.perf_counter() - started,
            "peak_rss_mb": peak_rss_mib(), **result, "status": "ok"}


@register
class Peers(Benchmark):
    name = "peers"
    summary = "textclf configs vs scikit-learn, fastText, HF Trainer and SetFit: accuracy, macro-F1, ECE, speed"
    sizes = {mode: {"seeds": list(plan.seeds), "limit": plan.limit, "neural": plan.neural.__dict__,
                    "pretrained": plan.pretrained.__dict__, "setfit": plan.setfit.__dict__}
             for mode, plan in PLANS.items()}
    optional = {name: module for name, _, module in PEERS}

    def run(self) -> dict:
        plan = PLANS[self.proto.mode]
        textclf_rows, tfidf, pretrained = textclf_systems()
        systems = sorted(textclf_rows + peer_systems(pretrained), key=table_position)
        pretrained_stem = pretrained.split(":", 1)[1] if pretrained else "minilm"
        runs = []
        with tempfile.TemporaryDirectory(prefix="textclf-bench-") as tmp:
            for system in systems:
                if system["status"] != "ok":
                    self.proto.skip(system["system"], "; ".join(system["notes"]))
                    continue
                for seed in plan.seeds:
                    reduction = plan.setfit if system["system"] == "setfit" else plan.pretrained
                    job = Job(system["system"], seed, plan.limit, plan.neural, reduction, pretrained_stem)
                    run = run_here(job) if plan.limit else run_worker(job, plan.timeout_s, Path(tmp))
                    if run["status"] == "ok":
                        run["rows_per_second"] = run["n_test"] / max(run["predict_seconds"], 1e-9)
                    runs.append(run)
        rows = build_rows(systems, runs)
        splits = data.default_splits(plan.limit)
        result = {"seeds": list(plan.seeds), "limit": plan.limit,
                  "split": {"dataset": DATASET, "config": "configs/default.yaml", "train": len(splits.train),
                            "validation": len(splits.validation), "test": len(splits.test),
                            "classes": len(set(splits.train.labels))},
                  "plan": {"neural": plan.neural.__dict__, "pretrained": plan.pretrained.__dict__,
                           "setfit": plan.setfit.__dict__, "neural_applies_to": "textclf bag / cnn / rnn / transformer",
                           "pretrained_applies_to": "textclf pretrained (MiniLM), HF Trainer",
                           "setfit_applies_to": "SetFit"},
                  "rows": rows, "parity": parity_checks(rows, tfidf, pretrained), "runs": runs}
        result["table"] = markdown_report({**result, "mode": self.proto.mode, "created": self.proto.started,
                                            "load_average": self.proto.loads})
        return result
