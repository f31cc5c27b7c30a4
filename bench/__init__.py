"""textclf's benchmarks: one harness (`python -m bench --list`, `python -m bench NAME --mode
smoke|quick|full`), run from the repository root. Never imported by textclf itself."""
