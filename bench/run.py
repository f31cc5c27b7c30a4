"""textclf against its peers, side by side in one run: same splits, same seeds, same machine.

    python bench/run.py --mode quick            # a few minutes: neural rows on reduced data
    python bench/run.py --mode full             # everything at full size, 3 seeds (long)
    python bench/run.py --limit 200             # development: a few rows per split, seconds
    python bench/run.py --only textclf:minilm hf_trainer --merge   # re-run two rows into the results

Rows: every configs/*.yaml for the bundled rotten-tomatoes data whose model type textclf has
registered (a type not registered yet is listed as skipped), scikit-learn TF-IDF + LR written
directly, fastText (tuned on validation), Hugging Face Trainer and SetFit on the packaged MiniLM.
Each (system, seed) runs in its own worker process, so peak RSS and imports are its own; peers
that are not installed (`pip install -e ".[bench]"`) are skipped with a note.

Writes bench/results/peers.json (every run, the plan, parity checks) and peers.md (the table).
With --merge, the runs of the systems that run now replace theirs in the existing peers.json and
every other row keeps its earlier run (each run records when it started and the load then).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from peers_report import build_rows, format_check, markdown_report, markdown_table, parity_checks  # noqa: E402
from peers_systems import Job, Reduction  # noqa: E402

ROOT = BENCH.parent
RESULTS = BENCH / "results"
DATASET = "rotten-tomatoes"
EXPECTED_TYPES = ("tfidf", "bag", "cnn", "rnn", "transformer", "pretrained")

PEERS = [  # system, label, module that must be importable
    ("sklearn", "scikit-learn TF-IDF + LR (direct)", "sklearn"),
    ("fasttext", "fastText 0.9.2 (tuned)", "fasttext"),
    ("hf_trainer", "HF Trainer · MiniLM", "accelerate"),
    ("setfit", "SetFit · MiniLM", "setfit"),
]


@dataclass(frozen=True)
class Plan:
    mode: str
    seeds: tuple[int, ...]
    neural: Reduction = field(default_factory=Reduction)
    pretrained: Reduction = field(default_factory=Reduction)  # textclf MiniLM and HF Trainer
    setfit: Reduction = field(default_factory=Reduction)
    timeout_s: int = 6 * 3600


PLANS = {
    # Quick: one seed; models trained from scratch see the full training split for at most 3 epochs
    # (2,000 rows x 2 epochs, 125 steps, left them near the majority rate); the two MiniLM
    # fine-tunes (textclf, HF Trainer) 2,000 rows for 2 epochs at batch 16 (250 steps: 50 steps left
    # both far from converged, so the parity check compared noise); SetFit 800 rows for 1 epoch. All
    # at 64 tokens. TF-IDF, scikit-learn and fastText always use the full split.
    "quick": Plan("quick", (0,), Reduction(None, 3, 64), Reduction(2000, 2, 64, 16), Reduction(800, 1, 64, 16),
                  timeout_s=1200),
    "full": Plan("full", (0, 1, 2)),
}


# -- which rows --------------------------------------------------------------------------------
def textclf_systems() -> tuple[list[dict], str | None, str | None]:
    """Rows for the textclf configs on the bundled data; also the TF-IDF and MiniLM configs that the
    parity checks compare. A config whose type is not registered yet becomes a skipped row."""
    from textclf.config import load_config
    from textclf.errors import TextclfError
    from textclf.models import MODEL_TYPES

    systems, seen_types, tfidf, pretrained = [], set(), None, None
    for path in sorted((ROOT / "configs").glob("*.yaml")):
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
    for kind in EXPECTED_TYPES:
        if kind not in seen_types:
            systems.append({"system": f"textclf:{kind}", "label": f"textclf {kind}", "model_type": kind,
                            "status": "skipped", "notes": [f"no configs/*.yaml with model type {kind!r} yet"]})
    return systems, tfidf, pretrained


# Comparable rows sit together: linear models, models trained from scratch, then MiniLM fine-tunes.
TABLE_ORDER = ("tfidf", "sklearn", "fasttext", "bag", "cnn", "rnn", "transformer", "pretrained", "hf_trainer",
               "setfit")


def table_position(system: dict) -> int:
    key = system.get("model_type", system["system"])
    return TABLE_ORDER.index(key) if key in TABLE_ORDER else len(TABLE_ORDER)


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


# -- running -----------------------------------------------------------------------------------
def run_worker(job: Job, timeout_s: int, workdir: Path) -> dict:
    """Run one job in a fresh process; its own peak RSS comes from wait4's rusage."""
    stem = f"{job.system.replace(':', '-')}-seed{job.seed}"
    job_file, result_file, log_file = (workdir / f"{stem}.{ext}" for ext in ("job.json", "result.json", "log"))
    job_file.write_text(json.dumps(job.to_dict()), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    started_at, load = datetime.now(timezone.utc).isoformat(timespec="seconds"), os.getloadavg()[0]
    started = time.perf_counter()
    with open(log_file, "wb") as log:
        process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", str(job_file),
                                    "--result", str(result_file)], stdout=log, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
        status, usage, timed_out = 0, None, False
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
        process.returncode = os.waitstatus_to_exitcode(status)
    outcome = {"system": job.system, "seed": job.seed, "started": started_at, "load_average_at_start": load,
               "wall_seconds": time.perf_counter() - started,
               "peak_rss_mb": usage.ru_maxrss / 1024.0, "log": str(log_file)}  # ru_maxrss is KiB on Linux
    if timed_out:
        return {**outcome, "status": "timed out", "error": f"over {timeout_s} s"}
    if process.returncode != 0 or not result_file.exists():
        lines = [l for l in log_file.read_text(encoding="utf-8", errors="replace").splitlines() if l.strip()]
        return {**outcome, "status": "failed", "error": lines[-1][:300] if lines else f"exit {process.returncode}"}
    result = json.loads(result_file.read_text(encoding="utf-8"))
    result["rows_per_second"] = result["n_test"] / max(result["predict_seconds"], 1e-9)
    return {**outcome, **result, "status": "ok"}


def worker_main(job_file: str, result_file: str) -> None:
    from peers_systems import run_job

    job = Job.from_dict(json.loads(Path(job_file).read_text(encoding="utf-8")))
    result = run_job(job)
    Path(result_file).write_text(json.dumps(result), encoding="utf-8")


def machine_summary() -> dict:
    import numpy
    import torch

    cores = len(os.sched_getaffinity(0))
    return {"summary": f"{cores} CPU cores, {platform.machine()}, Python {platform.python_version()}, "
                       f"torch {torch.__version__}, torch threads {torch.get_num_threads()}",
            "cores": cores, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "platform": platform.platform(), "cuda": torch.cuda.is_available()}


def split_summary(limit: int | None) -> dict:
    from peers_data import bench_splits

    splits = bench_splits(limit)
    return {"dataset": DATASET, "config": "configs/default.yaml", "train": len(splits.train),
            "validation": len(splits.validation), "test": len(splits.test), "classes": len(set(splits.train.labels))}


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def load_earlier(out: Path, plan: Plan, limit: int | None) -> dict:
    """The existing peers.json in `out`, which --merge extends; refused if it was another mode."""
    path = out / "peers.json"
    if not path.is_file():
        raise SystemExit(f"--merge: no {path} to merge into")
    earlier = json.loads(path.read_text(encoding="utf-8"))
    if earlier.get("mode") != plan.mode or earlier.get("limit") != limit:
        raise SystemExit(f"--merge: {path} is a {earlier.get('mode')} run (limit {earlier.get('limit')}), "
                         f"not {plan.mode} (limit {limit})")
    return earlier


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="textclf against its peers, side by side in one run")
    parser.add_argument("--mode", choices=sorted(PLANS), default="quick")
    parser.add_argument("--limit", type=int, default=None, help="development: at most N train rows, 1 epoch")
    parser.add_argument("--only", nargs="*", default=None, help="run only these systems (e.g. sklearn textclf:default)")
    parser.add_argument("--merge", action="store_true", help="keep the other systems' runs from the existing "
                                                                  "peers.json in --out; replace only those run now")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default bench/results; "
                                                                 "a temporary folder with --limit)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker, args.result)
        return 0

    plan = PLANS[args.mode]
    out = args.out or (Path(tempfile.gettempdir()) / "textclf-bench-dev" if args.limit else RESULTS)
    textclf_rows, tfidf, pretrained = textclf_systems()
    all_systems = sorted(textclf_rows + peer_systems(pretrained), key=table_position)
    systems = [s for s in all_systems if s["system"] in args.only] if args.only else all_systems
    earlier = load_earlier(out, plan, args.limit) if args.merge else None
    pretrained_stem = pretrained.split(":", 1)[1] if pretrained else "minilm"
    load_at_start = os.getloadavg()[0]
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory(prefix="textclf-bench-") as tmp:
        for system in systems:
            if system["status"] != "ok":
                print(f"skip  {system['system']:<24} {'; '.join(system['notes'])}", flush=True)
                continue
            for seed in plan.seeds:
                reduction = plan.setfit if system["system"] == "setfit" else plan.pretrained
                job = Job(system["system"], seed, args.limit, plan.neural, reduction, pretrained_stem)
                run = run_worker(job, plan.timeout_s, Path(tmp))
                if run["status"] == "ok":
                    print(f"done  {job.system:<24} seed {seed}  acc {run['accuracy']:.4f}  macro-F1 "
                          f"{run['macro_f1']:.4f}  ECE {run['ece']:.4f}  train {run['train_seconds']:.1f}s  "
                          f"{run['rows_per_second']:.0f} rows/s  RSS {run['peak_rss_mb']:.0f} MB", flush=True)
                else:
                    log = Path(run["log"])
                    print(f"{run['status']:<5} {job.system:<24} seed {seed}: {run['error']}\n"
                          + log.read_text(encoding="utf-8", errors="replace")[-3000:], flush=True)
                run.pop("log")
                runs.append(run)
    machine = {**machine_summary(), "load_average": {"start": load_at_start, "end": os.getloadavg()[0]}}
    wall_seconds = time.perf_counter() - started
    merges = []
    if earlier is not None:
        rerun = {s["system"] for s in systems}
        runs = [r for r in earlier["runs"] if r["system"] not in rerun] + runs
        merges = earlier.get("merges", []) + [{"created": started_at, "systems": sorted(rerun),
                                               "wall_seconds": wall_seconds, "load_average": machine["load_average"]}]
        machine["load_average"] = earlier["machine"]["load_average"]  # of the run that made the other rows
        started_at, wall_seconds = earlier["created"], earlier["wall_seconds"]
        systems = [s for s in all_systems if any(r["system"] == s["system"] for r in runs) or s["status"] != "ok"]
    rows = build_rows(systems, runs)
    checks = parity_checks(rows, tfidf, pretrained)
    result = {
        "benchmark": "peers", "mode": plan.mode, "limit": args.limit, "seeds": list(plan.seeds),
        "created": started_at, "wall_seconds": wall_seconds, "merges": merges,
        "machine": machine, "split": split_summary(args.limit),
        "plan": {"neural": plan.neural.__dict__, "pretrained": plan.pretrained.__dict__, "setfit": plan.setfit.__dict__,
                 "neural_applies_to": "textclf bag / cnn / rnn / transformer",
                 "pretrained_applies_to": "textclf pretrained (MiniLM), HF Trainer",
                 "setfit_applies_to": "SetFit"},
        "rows": rows, "parity": checks, "runs": runs,
    }
    write_atomic(out / "peers.json", json.dumps(result, indent=2) + "\n")
    write_atomic(out / "peers.md", markdown_report(result))
    print()
    print(markdown_table(rows))
    print()
    for check in checks:
        print(format_check(check))
    print(f"\nwrote {out / 'peers.json'} and {out / 'peers.md'} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
