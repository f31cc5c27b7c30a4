"""The benchmark harness (bench/harness.py): `python -m bench --list` names every benchmark, and
every benchmark runs in smoke mode (a handful of rows, seconds each) and writes a results file of
the one shape, into the folder it is given, never over bench/results. CI runs this, so an API
change that breaks a benchmark fails here, not at the next full run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness import load_all

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in (ROOT / "bench" / "benchmarks").glob("*.py") if p.stem != "__init__")


def bench(*args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def test_list_names_every_benchmark_module():
    done = bench("--list")
    assert done.returncode == 0, done.stderr
    listed = sorted(line.split()[0] for line in done.stdout.splitlines() if line.strip())
    assert listed == sorted(load_all()) and len(listed) >= len(MODULES)
    assert set(MODULES) <= set(listed)  # each module registers the benchmark of its own name


def test_an_unknown_benchmark_is_one_line_and_exit_2(tmp_path):
    done = bench("no_such_bench", "--mode", "smoke", "--results", str(tmp_path))
    assert done.returncode == 2 and "unknown benchmark no_such_bench" in done.stderr
    assert "Traceback" not in done.stderr and not list(tmp_path.iterdir())


def test_every_benchmark_runs_in_smoke_mode(smoke_results):
    done, tmp_path = smoke_results
    assert done.returncode == 0, done.stderr[-4000:]
    names = load_all()
    assert sorted(p.name for p in tmp_path.glob("*.smoke.json")) == sorted(f"{n}.smoke.json" for n in names)
    for name, cls in names.items():
        result = json.loads((tmp_path / f"{name}.smoke.json").read_text())
        assert result["benchmark"] == name and result["mode"] == "smoke"
        assert result["publishable"] is False and isinstance(result["noisy"], bool)
        assert len(result["load_average"]["before"]) == 3 and len(result["load_average"]["after"]) == 3
        assert result["cpu"]["logical_cores"] >= 1 and result["started"] <= result["finished"]
        assert {"python", "torch", "numpy"} <= set(result["environment"]["versions"])
        assert "git_commit" in result["environment"] and result["mode_sizes"] == cls.sizes["smoke"]
        for system, module in cls.optional.items():  # a missing optional peer is recorded, not an error
            if module not in sys.modules and __import__("importlib.util").util.find_spec(module) is None:
                assert module in result["skipped"].get(system, ""), (name, system)
    assert not list((ROOT / "bench" / "results").glob("*.smoke.json"))  # never beside the real results


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    """Every benchmark's smoke results: two `python -m bench NAMES --mode smoke` processes side by
    side, one thread each (about 4.5 CPU minutes in all, so two cores finish in about half that)."""
    folder = tmp_path_factory.mktemp("bench-smoke")
    names = sorted(load_all())
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TEXTCLF_BENCH_RESULTS": str(folder), "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    processes = [subprocess.Popen([sys.executable, "-m", "bench", *half, "--mode", "smoke"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for half in (names[0::2], names[1::2])]
    outputs = [process.communicate(timeout=900) for process in processes]
    done = subprocess.CompletedProcess("python -m bench", max(p.returncode for p in processes),
                                       "".join(o for o, _ in outputs), "".join(e for _, e in outputs))
    return done, folder


def test_onnx_int8_export_of_minilm(smoke_results):
    done, folder = smoke_results
    result = json.loads((folder / "onnx_speed.smoke.json").read_text())
    assert result["setup"]["int8_error"] is None, result["setup"]["int8_error"]


@pytest.mark.parametrize("mode", ["smoke", "quick", "full"])
def test_every_benchmark_has_sizes_for_every_mode(mode):
    for name, cls in load_all().items():
        assert mode in cls.sizes, name
