"""GPU readiness without a GPU: the device, precision, loss-scaling, process-group and compile
branches that a CUDA machine takes, exercised on CPU where CPU allows (the CUDA queries are
monkeypatched where it does not), and `bench/gpu_check.sh --dry-run`, so the GPU check cannot rot."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from textclf.config import TrainingConfig
from textclf.errors import ConfigError
from textclf.training import distributed, setup
from textclf.training.trainer import EncodedData, Trainer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_gpus(monkeypatch):
    """A machine with two CUDA devices, as far as device selection can tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)


def test_device_auto_cuda_and_cuda_n_resolve_and_fail_clearly(fake_gpus, monkeypatch):
    assert setup.resolve_device("auto") == torch.device("cuda")
    assert setup.resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match="'cuda:2' requested but this machine has 2 CUDA devices"):
        setup.resolve_device("cuda:2")
    with pytest.raises(ConfigError, match="not a device"):
        setup.resolve_device("gpu0")
    monkeypatch.setenv("WORLD_SIZE", "4")  # under torchrun: one GPU per process, by local rank
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert setup.resolve_device("auto") == setup.resolve_device("cuda") == torch.device("cuda", 1)
    assert setup.resolve_device("cpu") == torch.device("cpu")


def test_cuda_without_a_gpu_is_a_config_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert setup.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="no CUDA device is available"):
        setup.resolve_device("cuda:0")


@pytest.mark.parametrize("bf16_supported,expected", [(True, torch.bfloat16), (False, torch.float16)])
def test_precision_auto_on_cuda_prefers_bf16_then_fp16(monkeypatch, bf16_supported, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_supported)
    assert setup.resolve_precision("auto", torch.device("cuda")) is expected
    assert setup.resolve_precision("fp16", torch.device("cuda")) is torch.float16
    monkeypatch.setattr(setup, "cpu_has_native_bf16", lambda: False)
    assert setup.resolve_precision("auto", torch.device("cpu")) is None
    monkeypatch.setattr(setup, "cpu_has_native_bf16", lambda: True)  # avx512_bf16 / AMX: bf16 to train only
    assert setup.resolve_precision("auto", torch.device("cpu")) is torch.bfloat16
    assert setup.resolve_precision("auto", torch.device("cpu"), training=False) is None
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        setup.resolve_precision("fp16", torch.device("cpu"))


def test_grad_scaler_only_for_fp16():
    assert setup.grad_scaler(torch.device("cpu"), torch.float16).is_enabled()
    assert not setup.grad_scaler(torch.device("cpu"), torch.bfloat16).is_enabled()
    assert not setup.grad_scaler(torch.device("cpu"), None).is_enabled()


def test_nccl_under_torchrun_when_cuda_is_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert [distributed.process_group_backend(d) for d in ("auto", "cuda", "cuda:1", "cpu")] == \
        ["nccl", "nccl", "nccl", "gloo"]
    assert distributed.gpu_index("cuda:1", local_rank=0) == 1 and distributed.gpu_index("auto", local_rank=3) == 3
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert distributed.process_group_backend("auto") == "gloo"


def test_host_tensors_stay_put_on_cpu():
    tensor = torch.arange(6)
    assert setup.to_device(tensor, torch.device("cpu")) is tensor


# -- the training loop on the half-precision and compiled paths ---------------------------------------
class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(40, 8, padding_idx=0)
        self.head = nn.Linear(8, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(self.embedding.weight.dtype)
        pooled = (self.embedding(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.head(pooled)


def tiny_data() -> EncodedData:
    rng = np.random.default_rng(0)
    sequences = [rng.integers(1, 40, size=rng.integers(3, 12)).tolist() for _ in range(48)]
    return EncodedData(sequences, np.array([s[0] % 2 for s in sequences], dtype=np.int64))


def train(net: nn.Module, dtype: torch.dtype | None = "config", **training) -> tuple[Trainer, dict]:
    config = TrainingConfig(epochs=2, batch_size=8, learning_rate=0.05, device="cpu", progress=False,
                            early_stopping_patience=None, **training)
    trainer = Trainer(net, config, nn.CrossEntropyLoss(), setup.parameter_groups(net, None, config), pad_id=0, seed=0)
    if dtype != "config":
        trainer.dtype = dtype  # fp16 autocast is refused on CPU by config; the loop itself runs it
    return trainer, trainer.fit(tiny_data())


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_training_steps_with_autocast_and_loss_scaling(dtype):
    net = TinyNet()
    before = net.head.weight.detach().clone()
    trainer, summary = train(net, dtype)
    assert summary["steps"] == 12 and summary["precision"] == str(dtype).replace("torch.", "")
    assert torch.isfinite(net.head.weight).all() and not torch.equal(net.head.weight, before)
    assert all(np.isfinite(h["train_loss"]) for h in summary["history"])


def test_training_compile_trains_the_same_weights(monkeypatch):
    if not torch._dynamo.is_dynamo_supported():
        pytest.skip("torch.compile is not supported on this platform")
    # aot_eager: TorchDynamo graph capture and AOTAutograd, without inductor's C++ build (about
    # 40 s for a tiny model on this shared CPU); inductor itself runs in bench/gpu_check.sh --compile.
    monkeypatch.setattr(setup, "COMPILE_BACKEND", "aot_eager")
    torch._dynamo.reset()
    counts = {"calls": 0}
    original = torch.compile

    def counting_compile(*args, **kwargs):
        counts["calls"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "compile", counting_compile)
    from torch._dynamo.utils import counters

    eager, compiled = TinyNet(), TinyNet()
    train(eager)
    counters.clear()
    train(compiled, compile=True)
    assert counts["calls"] == 1  # only the run with training.compile went through torch.compile
    assert counters["stats"]["unique_graphs"] >= 1  # and the loop called the compiled module
    for a, b in zip(eager.state_dict().values(), compiled.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    torch._dynamo.reset()


def test_gpu_check_dry_run_prints_every_figure_it_would_compare():
    done = subprocess.run(["bash", "bench/gpu_check.sh", "--dry-run"], cwd=ROOT, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for phase in ("textclf fine-tune", "textclf inference", "HF Trainer fine-tune", "HF pipeline inference"):
        line = next((row for row in out.splitlines() if row.startswith(phase)), None)
        assert line is not None, out
        assert "skipped: HF Trainer needs accelerate" in line or "n/a (CPU)" in line  # a figure or a reason
    assert "samples/s" in out and "rows/s" in out and "ratio textclf / HF, inference" in out
