#!/usr/bin/env bash
# One-GPU check, under 5 minutes on one GPU: fine-tune samples/s, inference rows/s and peak GPU
# memory of textclf against the Hugging Face Trainer and pipeline (bench/gpu_check.py says how).
#
#   bash bench/gpu_check.sh              # on a CUDA machine: writes bench/results/gpu_check.json
#   bash bench/gpu_check.sh --dry-run    # on CPU with tiny sizes: runs every phase, prints the table
#
# Needs the project's environment (make install) with a CUDA build of torch 2.13.0; the HF Trainer
# row also needs the `bench` extra (accelerate): pip install -c constraints.txt -e ".[bench]".
# PYTHON overrides the interpreter (default: .venv/bin/python, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

if [ "${1:-}" = "--dry-run" ]; then
    echo "gpu_check: dry run on CPU (tiny sizes; the figures show what a GPU run compares, not speed)"
    exec timeout 240 "$PY" bench/gpu_check.py --dry-run "${@:2}"
fi
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
# 280 s leaves the whole check, model loads and torch.compile included, under 5 minutes.
exec timeout 280 "$PY" bench/gpu_check.py --compile "$@"
