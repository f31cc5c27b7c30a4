"""Fine-tuning speed: textclf's trainer against Hugging Face Trainer at its best, equal settings.

    python bench/bench_trainer_speed.py                   # 800 x 128 and 200 x 64, fp32, 3 pairs each
    python bench/bench_trainer_speed.py --bf16            # also both sides in bf16 autocast (CPUs with avx512_bf16/AMX)
    python bench/bench_trainer_speed.py --quick           # 64 rows x 32 tokens, 2 pairs: checks the script
    python bench/bench_trainer_speed.py --publish         # also bench/results/trainer_speed.md (quiet, full runs)

Both sides fine-tune the packaged MiniLM with a linear head on the [CLS] position for one epoch on
the same Rotten Tomatoes rows, the same max length, batch size, learning rate (3e-5, no warmup),
weight decay, precision and threads, each in its own fresh process. HF Trainer runs with its
length-grouped sampler (`train_sampling_strategy="group_by_length"`; 4.x: `group_by_length=True`),
the fair peer for textclf's length-bucketed batches (HF's defaults pad much more and lose by
~2.4x, which says nothing about the trainer), and `DataCollatorWithPadding` (dynamic padding). Seconds run from loading the model to the end of
training on both sides (tokenization included, imports done before); accuracy on 500 held-out rows is reported for
each run, so that a faster precision that loses accuracy shows it.

Goal (issue #21): textclf >= 1.3x HF Trainer with length grouping, or the README states the
measured ratio. Writes bench/results/trainer_speed.json (quick: trainer_speed.quick.json).
Needs the `bench` extra (accelerate).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from protocol import Protocol, add_protocol_args, cpu_info, main_guard, markdown_table, run_subprocess  # noqa: E402

LEARNING_RATE = 3e-5
WEIGHT_DECAY = 0.01


def rows_of(rows: int, evaluate: int):
    import numpy as np

    from textclf.data.bundled import load_bundled

    data = load_bundled("rotten-tomatoes")
    order = np.random.default_rng(0).permutation(len(data))
    return data.subset(order[:rows]), data.subset(order[rows:rows + evaluate])


def accuracy(predicted, truth) -> float:
    return sum(p == t for p, t in zip(predicted, truth)) / len(truth)


def preload() -> None:
    """Import what both sides load lazily (torch, the BERT modelling code, textclf's model type)
    before the clock starts: import time is not training time."""
    import torch  # noqa: F401
    import transformers.models.bert.modeling_bert  # noqa: F401

    from textclf.models import model_class

    model_class("pretrained")


def textclf_worker(rows: int, max_length: int, batch: int, precision: str, evaluate: int) -> dict:
    from textclf import TextClassifier

    preload()
    train, held_out = rows_of(rows, evaluate)
    clf = TextClassifier(
        model={"type": "pretrained", "name_or_path": "minilm", "pooling": "cls", "max_length": max_length},
        training={"epochs": 1, "batch_size": batch, "learning_rate": LEARNING_RATE, "warmup_ratio": 0.0,
                  "weight_decay": WEIGHT_DECAY, "early_stopping_patience": None, "progress": False,
                  "device": "cpu", "precision": precision,
                  "class_weight": None},  # unweighted cross-entropy, as HF Trainer (no skew-aware default)
        seed=0)
    started = time.perf_counter()
    clf.fit(train)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "accuracy": accuracy(clf.predict(held_out.texts), held_out.labels)}


def hf_worker(rows: int, max_length: int, batch: int, precision: str, evaluate: int, workdir: str) -> dict:
    import numpy as np
    import torch
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    from textclf.models.pretrained import resolve_name_or_path

    preload()
    train, held_out = rows_of(rows, evaluate)
    labels = sorted(set(train.labels))
    index = {name: i for i, name in enumerate(labels)}
    path = resolve_name_or_path("minilm")
    started = time.perf_counter()  # loading and tokenizing count on both sides
    tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))
    # transformers 5 spells length grouping train_sampling_strategy="group_by_length"; 4.x group_by_length=True
    fields = getattr(TrainingArguments, "__dataclass_fields__", {})
    grouping = ({"train_sampling_strategy": "group_by_length"} if "train_sampling_strategy" in fields
                else {"group_by_length": True})
    args = TrainingArguments(
        output_dir=workdir, num_train_epochs=1, per_device_train_batch_size=batch, learning_rate=LEARNING_RATE,
        warmup_steps=0, weight_decay=WEIGHT_DECAY, save_strategy="no", eval_strategy="no", report_to=[],
        logging_strategy="no", use_cpu=True, seed=0, dataloader_num_workers=0, disable_tqdm=True,
        bf16=precision == "bf16", **grouping)
    encoded = tokenizer(train.texts, truncation=True, max_length=max_length)
    dataset = [{"input_ids": ids, "attention_mask": mask, "labels": index[label]}
               for ids, mask, label in zip(encoded["input_ids"], encoded["attention_mask"], train.labels)]
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=DataCollatorWithPadding(tokenizer))
    trainer.train()
    seconds = time.perf_counter() - started
    model.eval()
    predicted = []
    with torch.inference_mode():
        for i in range(0, len(held_out), 64):
            batch_inputs = tokenizer(held_out.texts[i:i + 64], truncation=True, max_length=max_length,
                                     padding=True, return_tensors="pt")
            predicted += [labels[j] for j in np.asarray(model(**batch_inputs).logits.argmax(-1))]
    return {"seconds": seconds, "accuracy": accuracy(predicted, held_out.labels)}


def main() -> int:
    parser = add_protocol_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # JSON: {"side", "rows", ...}
    parser.add_argument("--bf16", action="store_true", help="also compare both sides under bf16 autocast")
    parser.add_argument("--shapes", nargs="*", default=None, help="ROWSxTOKENS (default 800x128 200x64)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--evaluate", type=int, default=None, help="held-out rows for accuracy (default 500)")
    args = parser.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        side = spec.pop("side")
        out = spec.pop("out")
        with tempfile.TemporaryDirectory() as tmp:
            result = textclf_worker(**spec) if side == "textclf" else hf_worker(**spec, workdir=tmp)
        Path(out).write_text(json.dumps(result))
        return 0
    proto = Protocol.from_args("trainer_speed", args)
    proto.check_publishable()
    shapes = args.shapes or (["64x32"] if args.quick else ["800x128", "200x64"])
    evaluate = args.evaluate or (100 if args.quick else 500)
    precisions = ["fp32"] + (["bf16"] if args.bf16 else [])
    if "bf16" in precisions and "avx512_bf16" not in cpu_info()["flags"] and "amx_bf16" not in cpu_info()["flags"]:
        print("bench: this CPU has neither avx512_bf16 nor AMX: bf16 runs emulated and slow", file=sys.stderr)
    comparisons = []
    with tempfile.TemporaryDirectory(prefix="bench-trainer-") as tmp:
        for shape in shapes:
            rows, tokens = (int(x) for x in shape.lower().split("x"))
            for precision in precisions:
                def runner(side, rows=rows, tokens=tokens, precision=precision):
                    def run():
                        out = Path(tmp) / f"{side}.json"
                        spec = {"side": side, "out": str(out), "rows": rows, "max_length": tokens,
                                "batch": args.batch_size, "precision": precision, "evaluate": evaluate}
                        measure = run_subprocess([sys.executable, str(Path(__file__).resolve()), "--worker",
                                                  json.dumps(spec)])
                        result = json.loads(out.read_text())
                        return {**result, "rows_per_s": rows / result["seconds"], "peak_mib": measure["peak_mib"]}
                    return run

                comparison = proto.compare("textclf", runner("textclf"), "hf_trainer_grouped", runner("hf"),
                                           warmup=False)
                comparison.update({"rows": rows, "max_length": tokens, "precision": precision,
                                   "batch_size": args.batch_size})
                comparisons.append(comparison)
    table = markdown_table(
        ["rows x tokens", "precision", "textclf s", "HF Trainer (group_by_length) s", "textclf / HF (median of pairs)",
         "accuracy textclf / HF"],
        [[f"{c['rows']} x {c['max_length']}", c["precision"], f"{c['median']['textclf']['seconds']:.1f}",
          f"{c['median']['hf_trainer_grouped']['seconds']:.1f}", f"{c['median_ratio']:.2f}x",
          f"{c['median']['textclf']['accuracy']:.3f} / {c['median']['hf_trainer_grouped']['accuracy']:.3f}"]
         for c in comparisons])
    goal = {"ratio_at_least": 1.3,
            "met": all(c["median_ratio"] >= 1.3 for c in comparisons if c["precision"] == "fp32")}
    path = proto.finish({"goal": goal, "comparisons": comparisons}, table)
    print(table)
    print(f"written {path}" + (" (NOISY: load above 1.5 per core)" if proto.noisy else ""))
    return 0


if __name__ == "__main__":
    main_guard(main)
