"""One-GPU check: textclf against Hugging Face on the same model, data and shapes (bench/gpu_check.sh).

Figures, each with the peak GPU memory of its phase (torch.cuda.max_memory_allocated):
  fine-tune samples/s   textclf `fit` vs HF `Trainer` (one epoch, packaged MiniLM, CLS head)
  inference rows/s      textclf `logits` vs the HF text-classification `pipeline`
  + with --compile      textclf `fit` with training.compile: true (torch.compile, inductor)

Precision: textclf `precision: auto` (bf16 where the GPU has it, else fp16 + GradScaler); the HF
Trainer gets the same (bf16=True / fp16=True); the pipeline runs the model in that dtype. Wall
time counts from model loading to the end of the phase on both sides (textclf's fit loads and
tokenizes inside, so the HF side does both inside its timed block too). Rows are Rotten Tomatoes
texts, the same for every phase.

--dry-run: CPU, fp32, a few dozen rows, max_length 32: runs every phase the GPU run runs (HF
Trainer only where `accelerate`, from the `bench` extra, is installed) and prints the table, so the
script cannot rot before a GPU is available. Writes bench/results/gpu_check.json on real runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from textclf.classifier import TextClassifier  # noqa: E402
from textclf.data.bundled import load_bundled  # noqa: E402
from textclf.models.pretrained import resolve_name_or_path  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "gpu_check.json"
FULL = {"train_rows": 4096, "infer_rows": 16384, "max_length": 128, "batch_size": 32, "infer_batch": 256}
DRY = {"train_rows": 32, "infer_rows": 64, "max_length": 32, "batch_size": 16, "infer_batch": 32}


class Phase:
    """Times a block and records the peak GPU memory allocated inside it (None on CPU)."""

    def __init__(self, cuda: bool) -> None:
        self.cuda, self.seconds, self.peak_mib = cuda, 0.0, None

    def __enter__(self):
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.synchronize()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
            self.peak_mib = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        self.seconds = time.perf_counter() - self.started
        return False


def half_dtype(cuda: bool) -> torch.dtype | None:
    if not cuda:
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def textclf_classifier(size: dict, device: str, precision: str, compile_: bool = False) -> TextClassifier:
    return TextClassifier(
        model={"type": "pretrained", "name_or_path": "minilm", "pooling": "cls", "max_length": size["max_length"]},
        training={"epochs": 1, "batch_size": size["batch_size"], "eval_batch_size": size["infer_batch"],
                  "learning_rate": 5e-5, "warmup_ratio": 0.0, "early_stopping_patience": None,
                  "progress": False, "device": device, "precision": precision, "compile": compile_},
        seed=0)


def textclf_phases(train, texts, size, cuda: bool, compile_: bool) -> tuple[dict, dict]:
    device, precision = ("cuda", "auto") if cuda else ("cpu", "fp32")
    clf = textclf_classifier(size, device, precision, compile_)
    with Phase(cuda) as fit:
        clf.fit(train)
    with Phase(cuda) as infer:
        clf.logits(texts)
    del clf
    return ({"seconds": fit.seconds, "per_s": len(train) / fit.seconds, "peak_mib": fit.peak_mib},
            {"seconds": infer.seconds, "per_s": len(texts) / infer.seconds, "peak_mib": infer.peak_mib})


def hf_trainer_phase(train, labels, size, cuda: bool) -> dict:
    try:
        import accelerate  # noqa: F401  (HF Trainer needs it: the `bench` extra)
    except ImportError:
        return {"skipped": "HF Trainer needs accelerate: pip install -c constraints.txt -e '.[bench]'"}
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    dtype, path = half_dtype(cuda), resolve_name_or_path("minilm")
    index = {name: i for i, name in enumerate(labels)}
    with tempfile.TemporaryDirectory() as workdir, Phase(cuda) as phase:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))
        args = TrainingArguments(
            output_dir=workdir, num_train_epochs=1, per_device_train_batch_size=size["batch_size"],
            learning_rate=5e-5, warmup_steps=0, weight_decay=0.01, save_strategy="no", eval_strategy="no",
            report_to=[], logging_strategy="no", use_cpu=not cuda, seed=0, dataloader_num_workers=0,
            disable_tqdm=True, bf16=dtype == torch.bfloat16, fp16=dtype == torch.float16)
        encoded = tokenizer(train.texts, truncation=True, max_length=size["max_length"])
        rows = [{"input_ids": ids, "attention_mask": mask, "labels": index[label]}
                for ids, mask, label in zip(encoded["input_ids"], encoded["attention_mask"], train.labels)]
        Trainer(model=model, args=args, train_dataset=rows, data_collator=DataCollatorWithPadding(tokenizer)).train()
    return {"seconds": phase.seconds, "per_s": len(train) / phase.seconds, "peak_mib": phase.peak_mib}


def hf_pipeline_phase(texts, labels, size, cuda: bool) -> dict:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    path = resolve_name_or_path("minilm")
    with Phase(cuda) as phase:
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels),
                                                                   dtype=half_dtype(cuda) or torch.float32)
        classify = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(path),
                            device=0 if cuda else -1)
        classify(texts, batch_size=size["infer_batch"], truncation=True, max_length=size["max_length"])
    return {"seconds": phase.seconds, "per_s": len(texts) / phase.seconds, "peak_mib": phase.peak_mib}


def rounded(row: dict) -> dict:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}


def print_table(results: dict) -> None:
    print(f"{'phase':<34}{'seconds':>9}{'rate':>12}  {'peak GPU memory':>16}")
    for name, row in results["figures"].items():
        if "skipped" in row:
            print(f"{name:<34}{'-':>9}{'-':>12}  {'-':>16}   skipped: {row['skipped']}")
            continue
        unit = "samples/s" if "fine-tune" in name else "rows/s"
        memory = f"{row['peak_mib']:.0f} MiB" if row["peak_mib"] is not None else "n/a (CPU)"
        print(f"{name:<34}{row['seconds']:>9.2f}{row['per_s']:>8.1f} {unit:<4}  {memory:>16}")
    for label, ours, theirs in (("fine-tune", "textclf fine-tune", "HF Trainer fine-tune"),
                                ("inference", "textclf inference", "HF pipeline inference")):
        a, b = results["figures"].get(ours, {}), results["figures"].get(theirs, {})
        if "per_s" in a and "per_s" in b:
            print(f"ratio textclf / HF, {label}: {a['per_s'] / b['per_s']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: check that every phase runs")
    parser.add_argument("--compile", action="store_true", help="add a textclf fine-tune with training.compile")
    parser.add_argument("--output", type=Path, help=f"JSON results (default on a GPU run: {RESULTS})")
    args = parser.parse_args()
    cuda = not args.dry_run
    if cuda and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device visible to PyTorch (a CPU-only torch build?); "
                         "use --dry-run to check the script on CPU")
    torch.set_num_threads(1 if args.dry_run else torch.get_num_threads())
    size = DRY if args.dry_run else FULL
    examples = load_bundled("rotten-tomatoes")
    rng = np.random.default_rng(0)
    train = examples.subset(rng.choice(len(examples), size=size["train_rows"], replace=False))
    texts = [examples.texts[i] for i in rng.choice(len(examples), size=size["infer_rows"], replace=True)]
    labels = sorted(set(examples.labels))

    figures: dict[str, dict] = {}
    figures["textclf fine-tune"], figures["textclf inference"] = textclf_phases(train, texts, size, cuda, False)
    figures["HF Trainer fine-tune"] = hf_trainer_phase(train, labels, size, cuda)
    figures["HF pipeline inference"] = hf_pipeline_phase(texts, labels, size, cuda)
    if args.compile:
        figures["textclf fine-tune, compiled"], _ = textclf_phases(train, texts[:8], size, cuda, True)
    results = {
        "mode": "dry-run (CPU, tiny sizes: not a measurement)" if args.dry_run else "gpu",
        "device": torch.cuda.get_device_name(0) if cuda else platform.processor() or platform.machine(),
        "torch": torch.__version__, "precision": str(half_dtype(cuda)).replace("torch.", "") if cuda else "fp32",
        "sizes": size, "loadavg": list(os.getloadavg()),
        "figures": {name: rounded(row) for name, row in figures.items()},
    }
    print_table(results)
    output = args.output or (None if args.dry_run else RESULTS)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"written to {output}")


if __name__ == "__main__":
    main()
