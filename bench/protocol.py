"""The benchmark protocol: alternating pairs, medians, the machine's state, one atomic writer.

Two systems, A and B, run in alternating order (A B, B A, A B, ...) for at least 3 pairs, so
that neither always runs first (warm caches, thermal state, a neighbour's burst). Each pair gives
one ratio, `B seconds / A seconds` ("A is this many times as fast as B"); the figure reported is
the median of those per-pair ratios, beside the median seconds of each side. Never best-of.

Every results JSON carries the machine's state: the 1-minute load average at the start, at every
comparison and at the end, cores (logical and physical), CPU model and the CPU flags that change
kernels (avx2, avx512*, amx*), Python / torch / numpy versions, the git commit, the mode and the
time; `noisy: true` when the load per logical core exceeded `NOISY_LOAD_PER_CORE` at any point,
and `publishable: true` only for a quiet full run with at least `MIN_PAIRS` pairs. `--publish`
refuses to write the Markdown table (bench/results/NAME.md) of any other run.

The harness (bench/harness.py) makes one `Protocol` per run and hands it to the benchmark:

    result = proto.compare("onnx_fp32", run_onnx, "torch", run_torch)   # each: () -> seconds | dict
    proto.finish({"comparisons": [result]}, table_md)                     # JSON (+ .md with --publish)
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
MODES = ("smoke", "quick", "full")
PAIRS = {"smoke": 1, "quick": 2, "full": 3}  # default pairs per mode
NOISY_LOAD_PER_CORE = 1.5
MIN_PAIRS = 3
INTERESTING_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                     "avx_vnni", "amx_bf16", "amx_int8", "amx_tile", "f16c")

RunFn = Callable[[], "float | dict[str, Any]"]


class PublishRefused(RuntimeError):
    """A run that must not become a README figure (noisy, too few pairs, or not full)."""


class SittingOver(RuntimeError):
    """A resumable benchmark that stopped with runs left for a later sitting: no results written."""


# -- the machine ----------------------------------------------------------------------------------
def cpu_info(path: str = "/proc/cpuinfo") -> dict[str, Any]:
    """CPU model, logical and physical cores, and which of the kernel-relevant flags are present."""
    model, flags, cores = platform.processor() or platform.machine(), set(), set()
    physical_id = core_id = None
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name":
                    model = value
                elif key == "flags" and not flags:
                    flags = set(value.split())
                elif key == "physical id":
                    physical_id = value
                elif key == "core id":
                    core_id = value
                elif not key and physical_id is not None:  # blank line: end of one processor
                    cores.add((physical_id, core_id))
                    physical_id = core_id = None
        if physical_id is not None:
            cores.add((physical_id, core_id))
    except OSError:
        pass
    logical = os.cpu_count() or 1
    return {"model": model, "logical_cores": logical, "physical_cores": len(cores) or logical,
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical,
            "flags": sorted(f for f in INTERESTING_FLAGS if f in flags)}


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return [0.0, 0.0, 0.0]


def is_noisy(loads: Sequence[Sequence[float]], logical_cores: int, limit: float = NOISY_LOAD_PER_CORE) -> bool:
    """True when any recorded 1-minute load average exceeds `limit` per logical core."""
    return any(load[0] / max(1, logical_cores) > limit for load in loads)


def git_commit() -> str | None:
    """The checkout's commit, with "+dirty" when tracked files differ from it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=ROOT, timeout=30).returncode != 0
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def environment() -> dict[str, Any]:
    import numpy

    from importlib import metadata

    versions = {"python": platform.python_version(), "numpy": numpy.__version__}
    for name in ("torch", "onnxruntime", "transformers", "scikit-learn", "pyarrow", "pandas", "textclf"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {"platform": platform.platform(), "versions": versions, "git_commit": git_commit(),
            "threads_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}}


# -- pairs ----------------------------------------------------------------------------------------
def alternating_order(pairs: int) -> list[tuple[str, str]]:
    """("A", "B"), ("B", "A"), ("A", "B"), ...: who runs first alternates from pair to pair."""
    return [("A", "B") if i % 2 == 0 else ("B", "A") for i in range(pairs)]


def _as_measure(value: float | dict[str, Any]) -> dict[str, Any]:
    return {"seconds": float(value)} if isinstance(value, (int, float)) else dict(value)


@dataclass
class Comparison:
    """A against B over alternating pairs; `ratio` = B seconds / A seconds (> 1: A is faster)."""

    a: str
    b: str
    runs: list[dict[str, Any]] = field(default_factory=list)  # {"pair", "order", "a": measure, "b": measure}

    @property
    def pair_ratios(self) -> list[float]:
        return [run["b"]["seconds"] / run["a"]["seconds"] for run in self.runs]

    def median(self, side: str, key: str = "seconds") -> float | None:
        values = [run[side][key] for run in self.runs if run[side].get(key) is not None]
        return float(statistics.median(values)) if values else None

    def summary(self) -> dict[str, Any]:
        ratios = self.pair_ratios
        keys = sorted({k for run in self.runs for side in ("a", "b") for k, v in run[side].items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool)})
        return {
            "a": self.a, "b": self.b, "pairs": len(self.runs),
            "ratio_definition": f"{self.b} seconds / {self.a} seconds (> 1: {self.a} is faster)",
            "pair_ratios": [round(r, 4) for r in ratios],
            "median_ratio": round(float(statistics.median(ratios)), 4) if ratios else None,
            "median": {side_name: {k: self.median(side, k) for k in keys}
                       for side, side_name in (("a", self.a), ("b", self.b))},
            "runs": self.runs,
        }


def run_pairs(run_a: RunFn, run_b: RunFn, pairs: int = MIN_PAIRS, a: str = "A", b: str = "B",
              warmup: bool = False, clock: Callable[[], float] = time.perf_counter) -> Comparison:
    """Alternate `run_a` and `run_b` for `pairs` pairs. Each returns its own measure (seconds, or
    a dict with "seconds" and anything else: peak MiB, accuracy); when it returns None or a dict
    without "seconds", the wall-clock time of the call is its seconds. `warmup` runs each once first, unrecorded."""
    if warmup:
        run_a(), run_b()
    result = Comparison(a, b)
    for i, order in enumerate(alternating_order(pairs)):
        record: dict[str, Any] = {"pair": i + 1, "order": [a if x == "A" else b for x in order]}
        for side in order:
            fn = run_a if side == "A" else run_b
            started = clock()
            value = fn()
            elapsed = clock() - started
            record[side.lower()] = {"seconds": elapsed, **_as_measure(elapsed if value is None else value)}
        result.runs.append(record)
    return result


# -- subprocess measures ----------------------------------------------------------------------------
# A child's ru_maxrss (wait4, getrusage) starts at its parent's peak: Linux carries the old
# memory's high-water mark across exec. VmHWM belongs to the child's own memory only, so Python
# children run under this wrapper, which writes VmHWM (KiB) to a file at exit.
_HWM_WRAPPER = r"""
import atexit, runpy, sys
def _report(path=sys.argv[1]):
    with open("/proc/self/status") as status:
        hwm = next((line.split()[1] for line in status if line.startswith("VmHWM:")), "0")
    with open(path, "w") as out:
        out.write(hwm)
atexit.register(_report)
_, _, kind, target, *rest = sys.argv
if kind == "-m":
    sys.argv = [target, *rest]
    runpy.run_module(target, run_name="__main__", alter_sys=True)
elif kind == "-c":
    sys.argv = ["-c", *rest]
    exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
else:
    sys.argv = [target, *rest]
    runpy.run_path(target, run_name="__main__")
"""


def run_subprocess(cmd: Sequence[str], env: dict[str, str] | None = None, cwd: str | None = None,
                   timeout: float | None = None) -> dict[str, Any]:
    """Run `cmd` (a Python command: `python -m MODULE ...`, `python -c CODE ...` or `python
    SCRIPT ...`); its wall seconds and its own peak RSS in MiB. The tail of stdout is returned."""
    import tempfile

    cmd = [str(c) for c in cmd]
    if len(cmd) < 2:
        raise ValueError(f"not a Python command: {cmd}")
    kind, rest = (cmd[1], cmd[2:]) if cmd[1] in ("-m", "-c") else ("script", cmd[1:])
    with tempfile.TemporaryDirectory() as tmp:
        hwm, out, err = Path(tmp) / "hwm", Path(tmp) / "out", Path(tmp) / "err"
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            started = time.perf_counter()
            proc = subprocess.run([cmd[0], "-c", _HWM_WRAPPER, str(hwm), kind, *rest],
                                  env={**os.environ, **(env or {})}, cwd=cwd or ROOT, stdout=stdout, stderr=stderr, timeout=timeout, check=False)
            seconds = time.perf_counter() - started
        text, errors = out.read_text(errors="replace"), err.read_text(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}): {errors[-2000:]}")
        peak = int(hwm.read_text() or 0) / 1024 if hwm.is_file() else None
    return {"seconds": seconds, "peak_mib": peak, "stdout": text[-4000:]}


def peak_rss_mib() -> float:
    """This process's peak RSS so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the run as a whole ----------------------------------------------------------------------------
@dataclass
class Protocol:
    """One run of one benchmark: its mode, pairs, where it writes, and the machine's state."""

    name: str
    mode: str = "full"
    pairs: int = MIN_PAIRS
    publish: bool = False
    results: Path = RESULTS
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    cpu: dict[str, Any] = field(default_factory=cpu_info)
    loads: list[list[float]] = field(default_factory=lambda: [load_average()])
    comparisons: list[Comparison] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # system -> why it did not run

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r}: expected one of {', '.join(MODES)}")

    @property
    def quick(self) -> bool:
        """Any mode but full: small sizes, never published."""
        return self.mode != "full"

    def check_publishable(self) -> None:
        """Fail before minutes of work when --publish cannot succeed anyway."""
        if self.publish and (self.quick or self.pairs < MIN_PAIRS):
            raise PublishRefused(f"--publish needs a full run with at least {MIN_PAIRS} pairs "
                                 f"(mode={self.mode}, pairs={self.pairs})")

    def skip(self, system: str, reason: str) -> None:
        """Record a system that did not run (an optional package missing, say)."""
        self.skipped[system] = reason

    def compare(self, a: str, run_a: RunFn, b: str, run_b: RunFn, warmup: bool = True) -> dict[str, Any]:
        self.loads.append(load_average())
        comparison = run_pairs(run_a, run_b, self.pairs, a, b, warmup=warmup)
        self.loads.append(load_average())
        self.comparisons.append(comparison)
        return comparison.summary()

    def repeat(self, name: str, run: RunFn, runs: int | None = None) -> dict[str, Any]:
        """One system against a budget rather than a peer: `runs` (default: pairs) timed runs, medians."""
        self.loads.append(load_average())
        measures = []
        for _ in range(runs or self.pairs):
            started = time.perf_counter()
            value = run()
            elapsed = time.perf_counter() - started
            measures.append({"seconds": elapsed, **_as_measure(elapsed if value is None else value)})
        self.loads.append(load_average())
        keys = sorted({k for m in measures for k, v in m.items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool)})
        return {"system": name, "runs": measures,
                "median": {k: float(statistics.median([m[k] for m in measures if k in m])) for k in keys}}

    @property
    def noisy(self) -> bool:
        return is_noisy(self.loads, self.cpu["logical_cores"])

    def header(self) -> dict[str, Any]:
        return {"benchmark": self.name, "mode": self.mode,
                "protocol": {"order": "alternating pairs (A B, B A, ...)", "pairs": self.pairs,
                             "statistic": "median of per-pair ratios",
                             "noisy_above_load_per_core": NOISY_LOAD_PER_CORE},
                "started": self.started, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "load_average": {"before": self.loads[0], "after": self.loads[-1], "all": self.loads},
                "noisy": self.noisy,
                "publishable": not self.noisy and not self.quick and self.pairs >= MIN_PAIRS,
                "cpu": self.cpu, "environment": environment(), "skipped": self.skipped}

    def results_path(self) -> Path:
        """bench/results/NAME.json for a full run; NAME.MODE.json otherwise, never over the real one."""
        return self.results / (f"{self.name}.json" if self.mode == "full" else f"{self.name}.{self.mode}.json")

    def finish(self, payload: dict[str, Any], table: str | None = None) -> Path:
        """Write the results JSON atomically; with `publish`, the Markdown table too, unless the run
        is noisy (then PublishRefused, after the JSON is written so that the numbers are not lost)."""
        self.loads.append(load_average())
        path = self.results_path()
        document = {**self.header(), **payload}
        write_results(path, document)
        if self.publish:
            publish_table(document, table or "", self.results / f"{self.name}.md")
        return path


def write_results(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def publish_refusal(document: dict[str, Any]) -> str | None:
    """Why `document` must not be published, or None."""
    if document.get("noisy"):
        load = document.get("load_average", {})
        return (f"noisy run (load average {load.get('before')} -> {load.get('after')} on "
                f"{document.get('cpu', {}).get('logical_cores')} cores, above {NOISY_LOAD_PER_CORE} per core)")
    if document.get("mode") != "full":
        return f"{document.get('mode')} run"
    pairs = document.get("protocol", {}).get("pairs", 0)
    if pairs < MIN_PAIRS:
        return f"{pairs} pairs (at least {MIN_PAIRS})"
    return None


def publish_table(document: dict[str, Any], table: str, path: Path) -> Path:
    """Write the Markdown `table` (with the run's conditions under it) to `path`, or refuse."""
    reason = publish_refusal(document)
    if reason is not None:
        raise PublishRefused(f"not publishing {document.get('benchmark')}: {reason}; rerun on a quiet machine")
    load = document["load_average"]
    cpu = document["cpu"]
    footer = (f"\n\n<sub>{document['benchmark']}, {document['finished']}: {cpu['model']}, "
              f"{cpu['logical_cores']} logical / {cpu['physical_cores']} physical cores, flags "
              f"{' '.join(cpu['flags']) or 'none'}; load {load['before'][0]} before, {load['after'][0]} after; "
              f"median of {document['protocol']['pairs']} alternating pairs.</sub>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(table.rstrip() + footer, encoding="utf-8")
    return path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
