"""One harness for every benchmark: a registry of small classes, one runner, one results writer.

    python -m bench --list                          # every benchmark, one line each
    python -m bench NAME --mode smoke|quick|full    # run one (smoke: seconds; quick: minutes)
    python -m bench all --mode smoke --results DIR  # every benchmark (CI does this)

A benchmark is a `Benchmark` subclass in bench/benchmarks/, registered by name with `@register`:
its sizes per mode (`sizes`, including the seeds), the optional packages its peers need
(`optional`: a peer whose package is missing is skipped and recorded, never an error), and `run`,
which prepares the data (bench/data.py), runs the systems (timing peers through
`proto.compare`: alternating pairs, medians) and returns the payload: its rows and, under
"table", the Markdown table that `--publish` writes. The runner adds the machine's state and
writes bench/results/NAME.json atomically (bench/protocol.py); quick and smoke runs write
NAME.MODE.json, smoke runs into a temporary folder unless `--results` (or TEXTCLF_BENCH_RESULTS)
names one, so they never replace a real result.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import pkgutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

from bench.protocol import MODES, PAIRS, RESULTS, Protocol, PublishRefused, SittingOver

RESULTS_ENV = "TEXTCLF_BENCH_RESULTS"


class Benchmark:
    """One benchmark. Subclasses set `name`, `summary`, `sizes` (mode -> sizes and seeds) and `run`."""

    name: ClassVar[str]
    summary: ClassVar[str]
    sizes: ClassVar[dict[str, dict[str, Any]]]
    optional: ClassVar[dict[str, str]] = {}  # peer system -> the module it needs

    def __init__(self, proto: Protocol):
        self.proto = proto
        self.size = SimpleNamespace(**self.sizes[proto.mode])

    def available(self, system: str) -> bool:
        """Whether `system`'s optional package is installed; if not, it is recorded as skipped."""
        module = self.optional.get(system)
        if module is None or importlib.util.find_spec(module) is not None:
            return True
        self.proto.skip(system, f"{module} is not installed (pip install -e \".[bench]\")")
        return False

    def run(self) -> dict[str, Any]:
        raise NotImplementedError


REGISTRY: dict[str, type[Benchmark]] = {}


def register(cls: type[Benchmark]) -> type[Benchmark]:
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"two benchmarks named {cls.name!r}")
    missing = [mode for mode in MODES if mode not in cls.sizes]
    if missing:
        raise ValueError(f"benchmark {cls.name!r} has no sizes for {', '.join(missing)}")
    REGISTRY[cls.name] = cls
    return cls


def load_all() -> dict[str, type[Benchmark]]:
    """Import every module of bench/benchmarks (each registers its class) and return the registry."""
    import bench.benchmarks as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return dict(sorted(REGISTRY.items()))


def results_dir(mode: str, given: Path | None) -> Path:
    if given is not None:
        return given
    if os.environ.get(RESULTS_ENV):
        return Path(os.environ[RESULTS_ENV])
    return Path(tempfile.gettempdir()) / "textclf-bench-smoke" if mode == "smoke" else RESULTS


def run_one(cls: type[Benchmark], mode: str, results: Path, pairs: int | None = None,
            publish: bool = False) -> Path:
    proto = Protocol(cls.name, mode=mode, pairs=pairs or PAIRS[mode], publish=publish, results=results)
    proto.check_publishable()
    payload = cls(proto).run()
    table = payload.pop("table", None)
    payload = {"description": cls.summary, "mode_sizes": cls.sizes[mode], **payload}
    path = proto.finish(payload, table)
    if table:
        print(table)
    print(f"bench {cls.name}: wrote {path}" + (" (NOISY: load above 1.5 per core)" if proto.noisy else ""),
          flush=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run, or `all`")
    parser.add_argument("--list", action="store_true", help="list every benchmark and exit")
    parser.add_argument("--mode", choices=MODES, default="quick")
    parser.add_argument("--pairs", type=int, default=None, help="alternating pairs (default: smoke 1, quick 2, full 3)")
    parser.add_argument("--publish", action="store_true",
                        help="also write bench/results/NAME.md; refused for a noisy, short or not-full run")
    parser.add_argument("--results", type=Path, default=None,
                        help=f"results folder (default bench/results; smoke: a temporary folder; env {RESULTS_ENV})")
    args = parser.parse_args(argv)
    registry = load_all()
    if args.list or not args.names:
        for name, cls in registry.items():
            print(f"{name:<20} {cls.summary}")
        return 0
    names = list(registry) if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in registry]
    if unknown:
        print(f"bench: unknown benchmark {', '.join(unknown)} (python -m bench --list)", file=sys.stderr)
        return 2
    results, failed = results_dir(args.mode, args.results), []
    for name in names:
        started = time.perf_counter()
        try:
            run_one(registry[name], args.mode, results, args.pairs, args.publish)
        except PublishRefused as err:
            print(f"bench: {err}", file=sys.stderr)
            return 3
        except SittingOver as err:
            print(f"bench {name}: {err}", file=sys.stderr)
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others' results
            traceback.print_exc()
            failed.append(name)
        print(f"bench {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
