"""Training throughput: textclf's trainer vs Hugging Face `Trainer`, same model, data and shapes.

Both fine-tune the packaged MiniLM (CLS head) for one epoch on the same Rotten Tomatoes rows,
same max length, batch size, learning rate, fp32, on CPU, in this one process. Throughput =
training rows / wall seconds from loading the model to the end of training (textclf's `fit` loads
and tokenizes, so the HF side does both inside its timed block too). On a shared machine the load
changes from minute to minute, so the two trainers alternate `--repeats` times and the best run of
each counts.

    nice -n 10 python bench/bench_hf_trainer.py --rows 200 --max-length 64 --batch-size 16

Needs the `bench` extra (accelerate). Writes bench/results/hf_trainer.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from textclf.classifier import TextClassifier  # noqa: E402
from textclf.data.bundled import load_bundled  # noqa: E402
from textclf.models.pretrained import resolve_name_or_path  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "hf_trainer.json"


def textclf_run(train, args) -> float:
    clf = TextClassifier(
        model={"type": "pretrained", "name_or_path": args.model, "pooling": "cls"},
        training={"epochs": 1, "batch_size": args.batch_size, "learning_rate": args.lr, "max_length": args.max_length,
                  "warmup_ratio": 0.0, "early_stopping_patience": None, "progress": False, "device": "cpu"},
        seed=0,
    )
    start = time.perf_counter()
    clf.fit(train)
    return time.perf_counter() - start


def hf_trainer_run(train, labels: list[str], args, workdir: str) -> float:
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    path = resolve_name_or_path(args.model)
    start = time.perf_counter()  # loading counts on both sides: textclf's fit loads the encoder too
    tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))
    index = {name: i for i, name in enumerate(labels)}
    training_args = TrainingArguments(
        output_dir=workdir, num_train_epochs=1, per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr, warmup_steps=0, weight_decay=0.01, save_strategy="no", eval_strategy="no",
        report_to=[], logging_strategy="no", use_cpu=True, seed=0, dataloader_num_workers=0,
        disable_tqdm=True,
    )
    encoded = tokenizer(train.texts, truncation=True, max_length=args.max_length)
    rows = [{"input_ids": ids, "attention_mask": mask, "labels": index[label]}
            for ids, mask, label in zip(encoded["input_ids"], encoded["attention_mask"], train.labels)]
    trainer = Trainer(model=model, args=training_args, train_dataset=rows,
                      data_collator=DataCollatorWithPadding(tokenizer))
    trainer.train()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    examples = load_bundled("rotten-tomatoes")
    rows = np.random.default_rng(0).choice(len(examples), size=args.rows, replace=False)
    train = examples.subset(rows)
    labels = sorted(set(train.labels))

    ours_runs, theirs_runs = [], []
    for _ in range(args.repeats):
        torch.manual_seed(0)
        ours_runs.append(textclf_run(train, args))
        with tempfile.TemporaryDirectory() as workdir:
            torch.manual_seed(0)
            theirs_runs.append(hf_trainer_run(train, labels, args, workdir))
    ours, theirs = min(ours_runs), min(theirs_runs)

    result = {
        "model": args.model, "rows": args.rows, "max_length": args.max_length, "batch_size": args.batch_size,
        "epochs": 1, "precision": "fp32", "device": "cpu", "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "repeats": args.repeats, "textclf_runs_seconds": [round(t, 2) for t in ours_runs],
        "hf_trainer_runs_seconds": [round(t, 2) for t in theirs_runs],
        "textclf_seconds": round(ours, 2), "textclf_samples_per_s": round(args.rows / ours, 2),
        "hf_trainer_seconds": round(theirs, 2), "hf_trainer_samples_per_s": round(args.rows / theirs, 2),
        "ratio_textclf_over_hf": round(theirs / ours, 3),
        "note": "best of alternating runs, same process, on a 2-core machine shared with other jobs",
    }
    print(f"{'trainer':<14}{'seconds':>10}{'samples/s':>12}")
    print(f"{'textclf':<14}{ours:>10.1f}{args.rows / ours:>12.1f}")
    print(f"{'HF Trainer':<14}{theirs:>10.1f}{args.rows / theirs:>12.1f}")
    print(f"ratio (textclf / HF throughput): {theirs / ours:.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
