"""The benchmark protocol (bench/protocol.py): alternating pairs, per-pair ratios and medians,
noisy-run detection, and `--publish` refusing what must not become a README figure.
Fake timings only: no benchmark runs here."""

from __future__ import annotations

import json
import sys

import pytest

from bench import protocol
from bench.protocol import (
    Comparison, Protocol, PublishRefused, alternating_order, cpu_info, is_noisy, publish_table, run_pairs,
)


def fake_clock(durations: dict[str, list[float]], calls: list[str]):
    """A clock and two run functions whose elapsed times come from `durations`, in call order."""
    now = [0.0]
    queues = {k: list(v) for k, v in durations.items()}

    def make(name):
        def run():
            calls.append(name)
            now[0] += queues[name].pop(0)
        return run

    return (lambda: now[0]), make("A"), make("B")


def test_order_alternates_so_neither_side_always_goes_first():
    assert alternating_order(4) == [("A", "B"), ("B", "A"), ("A", "B"), ("B", "A")]


def test_per_pair_ratios_and_medians_not_best_of():
    calls: list[str] = []
    # A: 1, 2, 10 s (one slow outlier); B: 3, 3, 3 s. Best-of would say 3.0x; pairs say 3, 1.5, 0.3.
    clock, run_a, run_b = fake_clock({"A": [1.0, 2.0, 10.0], "B": [3.0, 3.0, 3.0]}, calls)
    result = run_pairs(run_a, run_b, pairs=3, a="fast", b="slow", clock=clock)
    assert calls == ["A", "B", "B", "A", "A", "B"]
    assert [r["order"] for r in result.runs] == [["fast", "slow"], ["slow", "fast"], ["fast", "slow"]]
    assert result.pair_ratios == pytest.approx([3.0, 1.5, 0.3])
    summary = result.summary()
    assert summary["median_ratio"] == pytest.approx(1.5)
    assert summary["median"]["fast"]["seconds"] == pytest.approx(2.0)
    assert summary["median"]["slow"]["seconds"] == pytest.approx(3.0)


def test_a_run_may_report_its_own_measure():
    measures = iter([{"seconds": 2.0, "peak_mib": 100.0}, {"seconds": 4.0, "peak_mib": 300.0},
                     {"seconds": 8.0, "peak_mib": 900.0}, {"seconds": 2.0, "peak_mib": 120.0}])
    result = run_pairs(lambda: next(measures), lambda: next(measures), pairs=2)
    # pair 1: A then B (2 s, 4 s); pair 2: B then A (8 s, 2 s)
    assert result.pair_ratios == pytest.approx([2.0, 4.0])
    assert result.summary()["median"]["A"]["peak_mib"] == pytest.approx(110.0)


def test_noisy_when_load_per_core_exceeds_the_limit():
    assert not is_noisy([[2.9, 1.0, 1.0], [3.0, 3.0, 3.0]], logical_cores=2)
    assert is_noisy([[1.0, 1.0, 1.0], [3.1, 1.0, 1.0]], logical_cores=2)  # the end counts as much as the start
    assert is_noisy([[12.0, 12.0, 12.0]], logical_cores=4)
    assert not is_noisy([[12.0, 12.0, 12.0]], logical_cores=16)


def test_cpu_info_reads_flags_and_physical_cores(tmp_path):
    text = ""
    for proc, core in ((0, 0), (1, 1), (2, 0), (3, 1)):  # 2 cores, hyper-threaded
        text += (f"processor\t: {proc}\nmodel name\t: Test CPU\nphysical id\t: 0\ncore id\t: {core}\n"
                 "flags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_tile amx_bf16\n\n")
    (tmp_path / "cpuinfo").write_text(text)
    info = cpu_info(str(tmp_path / "cpuinfo"))
    assert info["model"] == "Test CPU" and info["physical_cores"] == 2
    assert info["flags"] == ["amx_bf16", "amx_tile", "avx2", "avx512_bf16", "avx512f"]


def _protocol(tmp_path, loads, publish=True, mode="full", pairs=3) -> Protocol:
    proto = Protocol("demo", mode=mode, pairs=pairs, publish=publish, results=tmp_path,
                     cpu={"model": "Test", "logical_cores": 2, "physical_cores": 2, "usable_cores": 2, "flags": []})
    proto.loads = [list(load) for load in loads]
    return proto


def test_publish_refuses_a_noisy_run_but_keeps_its_json(tmp_path, monkeypatch):
    monkeypatch.setattr(protocol, "load_average", lambda: [5.0, 5.0, 5.0])  # 2.5 per core
    proto = _protocol(tmp_path, [[0.5, 0.5, 0.5]])
    with pytest.raises(PublishRefused, match="noisy run"):
        proto.finish({"comparisons": []}, "| a |\n|---|\n| 1 |")
    saved = json.loads((tmp_path / "demo.json").read_text())
    assert saved["noisy"] is True and saved["publishable"] is False
    assert saved["load_average"]["after"] == [5.0, 5.0, 5.0]
    assert saved["cpu"]["logical_cores"] == 2 and "flags" in saved["cpu"]
    assert not (tmp_path / "demo.md").exists()


def test_publish_writes_the_table_of_a_quiet_run(tmp_path, monkeypatch):
    monkeypatch.setattr(protocol, "load_average", lambda: [0.4, 0.5, 0.5])
    proto = _protocol(tmp_path, [[0.3, 0.3, 0.3]])
    proto.comparisons.append(Comparison("a", "b", runs=[{"pair": 1, "order": ["a", "b"], "a": {"seconds": 1.0},
                                                         "b": {"seconds": 2.0}}]))
    path = proto.finish({"x": 1}, "| system | rows/s |\n|---|---|\n| a | 10 |")
    saved = json.loads(path.read_text())
    assert saved["noisy"] is False and saved["publishable"] is True and saved["mode"] == "full" and saved["x"] == 1
    table = (tmp_path / "demo.md").read_text()
    assert table.startswith("| system | rows/s |") and "load 0.3 before, 0.4 after" in table


def test_publish_refuses_quick_and_short_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(protocol, "load_average", lambda: [0.1, 0.1, 0.1])
    with pytest.raises(PublishRefused, match="mode=quick"):
        _protocol(tmp_path, [[0.1] * 3], mode="quick", pairs=3).check_publishable()
    with pytest.raises(PublishRefused, match="at least 3 pairs"):
        _protocol(tmp_path, [[0.1] * 3], pairs=2).check_publishable()
    document = {"benchmark": "demo", "noisy": False, "mode": "full", "protocol": {"pairs": 2}}
    with pytest.raises(PublishRefused, match="2 pairs"):
        publish_table(document, "| t |", tmp_path / "t.md")
    # A quick run writes its own file, never over the full results.
    quick = _protocol(tmp_path, [[0.1] * 3], publish=False, mode="quick")
    assert quick.finish({}).name == "demo.quick.json"
    assert json.loads((tmp_path / "demo.quick.json").read_text())["publishable"] is False
    with pytest.raises(ValueError, match="mode"):
        Protocol("demo", mode="fast")


def test_a_measure_without_seconds_gets_the_wall_time():
    result = run_pairs(lambda: {"rows": 3}, lambda: {"rows": 3}, pairs=1)
    assert result.runs[0]["a"]["rows"] == 3 and result.runs[0]["a"]["seconds"] >= 0


def test_a_child_reports_its_own_peak_memory_not_its_parents():
    import numpy as np

    ballast = np.ones(40_000_000)  # 305 MiB in this process, which a naive ru_maxrss would report
    small = protocol.run_subprocess([sys.executable, "-c", "print('ok')"])
    big = protocol.run_subprocess([sys.executable, "-c", "import sys, numpy as np; a = np.ones(20_000_000); "
                                   "print(a.sum()); sys.exit(0)"])
    assert ballast.sum() > 0 and small["stdout"].strip() == "ok"
    assert small["peak_mib"] < 150 and big["peak_mib"] > small["peak_mib"] + 120  # 153 MiB array
    with pytest.raises(RuntimeError, match="failed"):
        protocol.run_subprocess([sys.executable, "-c", "raise SystemExit(3)"])
