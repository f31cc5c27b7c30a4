"""Runs one measurement in a fresh process, so its imports and peak memory are its own:

    python -m bench.worker MODULE:FUNCTION '{"keyword": "arguments"}' OUT.json

calls FUNCTION(**arguments) and writes its JSON-able result to OUT.json. Run from the repository
root (bench.protocol.run_subprocess does, and reads the child's peak memory)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    target, arguments, out = argv
    module, _, function = target.partition(":")
    result = getattr(importlib.import_module(module), function)(**json.loads(arguments))
    tmp = Path(out + ".tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    tmp.replace(out)


if __name__ == "__main__":
    main(sys.argv[1:])
