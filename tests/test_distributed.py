"""Distributed data-parallel: `torchrun --nproc_per_node 2` (gloo, CPU) reproduces one process.

training.batch_size is the global batch, so the same config run by 1 or 2 processes takes the same
optimizer steps on the same rows; with no dropout the results must agree to float noise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from textclf.data.io import examples_frame, write_frame
from textclf.training.distributed import TorchDistributedContext, context_from_env
from textclf.training.trainer import SINGLE_PROCESS

from test_pretrained import make_tiny_bert


def test_shard_gives_each_rank_its_rows_of_every_global_batch():
    batches = [np.arange(0, 8), np.arange(8, 16), np.arange(16, 17)]
    rank0 = TorchDistributedContext(rank=0, world_size=2).shard(batches)
    rank1 = TorchDistributedContext(rank=1, world_size=2).shard(batches)
    assert [b.tolist() for b in rank0] == [[0, 2, 4, 6], [8, 10, 12, 14]]
    assert [b.tolist() for b in rank1] == [[1, 3, 5, 7], [9, 11, 13, 15]]  # the 1-row batch is skipped by all


def test_without_torchrun_the_context_is_single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert context_from_env() is SINGLE_PROCESS


def _run(command: list[str], cwd: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def _epochs(run_dir: Path) -> list[dict]:
    lines = (run_dir / "train_log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == "epoch"]


# The guarantee the docs state: with dropout 0 two processes reproduce one (up to float reduction
# order: 0.011 here); with dropout each rank draws its own masks, so the run differs as a change
# of seed would. On this 192-row toy set that is up to 0.15 macro-F1 (measured 0.12); on the
# MiniLM config, 0.363 vs 0.373.
TOLERANCE = {0.0: 0.011, 0.1: 0.15}


@pytest.mark.slow
@pytest.mark.parametrize("dropout", sorted(TOLERANCE))
def test_two_process_torchrun_matches_one_process(tmp_path, rt_small, dropout):
    bert = make_tiny_bert(tmp_path / "bert", rt_small.texts)
    files = {}
    # 192 training rows = 12 full global batches of 16 (8 per rank); separate validation and test files.
    order = np.random.default_rng(0).permutation(len(rt_small))  # rt_small is sorted by class
    for name, rows in (("train", order[:192]), ("validation", order[400:500]), ("test", order[500:600])):
        files[name] = tmp_path / f"{name}.csv"
        write_frame(examples_frame(rt_small.subset(rows.tolist())), files[name])
    config = {
        "seed": 0,
        "data": {"train": str(files["train"]), "validation": str(files["validation"]), "test": str(files["test"])},
        "model": {"type": "pretrained", "name_or_path": str(bert), "pooling": "mean", "dropout": dropout},
        "training": {"epochs": 2, "batch_size": 16, "eval_batch_size": 32, "learning_rate": 3e-3, "max_length": 32,
                     "progress": False, "device": "cpu", "early_stopping_patience": None},
        "audit": {"enabled": False},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    one, two = tmp_path / "one", tmp_path / "two"
    _run([sys.executable, "-m", "textclf", "train", "config.yaml", f"output_dir={one}"], tmp_path)
    port = "29517" if dropout == 0.0 else "29518"
    _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
          "-m", "textclf", "train", "config.yaml", f"output_dir={two}"], tmp_path)

    # Validation is sharded over ranks and gathered: per-epoch metrics match the 1-process run.
    tolerance = TOLERANCE[dropout]
    for a, b in zip(_epochs(one), _epochs(two), strict=True):
        assert a["step"] == b["step"] == 12 * a["epoch"]
        if dropout == 0.0:
            assert b["validation_loss"] == pytest.approx(a["validation_loss"], rel=1e-3)
        assert b["validation_macro_f1"] == pytest.approx(a["validation_macro_f1"], abs=tolerance)
    m1 = json.loads((one / "metrics.json").read_text())
    m2 = json.loads((two / "metrics.json").read_text())
    assert m2["test"]["accuracy"] == pytest.approx(m1["test"]["accuracy"], abs=tolerance)
    assert m2["test"]["macro_f1"] == pytest.approx(m1["test"]["macro_f1"], abs=tolerance)
    assert (two / "model" / "model.safetensors").is_file()
