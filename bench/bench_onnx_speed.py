"""Inference speed of one fine-tuned MiniLM: textclf PyTorch, ONNX fp32, ONNX int8, HF pipeline.

    python bench/bench_onnx_speed.py              # 6,000 training rows x 2 epochs, 1,000 texts predicted, 3 pairs
    python bench/bench_onnx_speed.py --quick      # 160 training rows, 200 texts, 2 pairs: checks the script
    python bench/bench_onnx_speed.py --publish    # also bench/results/onnx_speed.md (quiet, full runs only)

The model is trained first, properly enough for "identical argmax" to mean something: the
packaged MiniLM fine-tuned by textclf (`pretrained`, CLS pooling, max_length 64) for two epochs on
6,000 Rotten Tomatoes rows (about 4 minutes on 2 cores; accuracy ~0.82 on the held-out texts,
stated in the results). One epoch on 1,000 rows gave 0.65: a model that unsure of its answers
makes int8 agreement look worse than it is. It is then exported with `export_onnx(quantize=True)`
(1,000 validation texts for the parity and int8 checks; an int8 model below the 99% agreement
floor is refused, and the report says so) and as a Hugging Face directory for
`transformers.pipeline`. Agreement is then measured again on the held-out texts, which the
export never saw.

Each measurement is its own process (so imports and peak memory are its own): load the model,
warm up on 32 texts, then predict the held-out texts; seconds are that steady-state predict,
peak RSS is the whole process (VmHWM). Threads: PyTorch's default (one per physical core) and
ONNX Runtime's (one per physical core). The pipeline gets length-sorted texts at batch 1 and 32.
Pairs alternate (protocol.py); ratios are medians of per-pair ratios.

Goals (issue #21): ONNX fp32 >= 1.3x PyTorch at identical argmax and lower peak memory; int8
>= 99% argmax agreement, <= 0.5 accuracy points lost, >= 1.5x ONNX fp32.
Writes bench/results/onnx_speed.json (quick: onnx_speed.quick.json).
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

from protocol import Protocol, add_protocol_args, main_guard, markdown_table, run_subprocess  # noqa: E402

MAX_LENGTH = 64


# -- one measurement, in its own process -------------------------------------------------------------
def worker(kind: str, model_dir: str, texts_path: str, out_path: str) -> None:
    texts = json.loads(Path(texts_path).read_text(encoding="utf-8"))
    if kind == "torch":
        from textclf import TextClassifier

        clf = TextClassifier.load(model_dir)
        predict = clf.predict
    elif kind in ("onnx", "onnx-int8"):
        from textclf.serving.onnx_export import load_onnx_classifier

        clf = load_onnx_classifier(model_dir, int8=kind == "onnx-int8")
        predict = clf.predict
    elif kind.startswith("pipeline-b"):
        from transformers import pipeline

        batch = int(kind.removeprefix("pipeline-b"))
        pipe = pipeline("text-classification", model=model_dir, tokenizer=model_dir, device="cpu")

        def predict(items):
            order = sorted(range(len(items)), key=lambda i: -len(items[i]))  # length-sorted, like textclf
            out = pipe([items[i] for i in order], batch_size=batch, truncation=True, max_length=MAX_LENGTH)
            labels = [None] * len(items)
            for i, result in zip(order, out):
                labels[i] = result["label"]
            return labels
    else:
        raise SystemExit(f"unknown worker kind {kind}")
    predict(texts[:32])  # warm-up
    started = time.perf_counter()
    labels = predict(texts)
    seconds = time.perf_counter() - started
    Path(out_path).write_text(json.dumps({"seconds": seconds, "labels": [str(x) for x in labels]}), encoding="utf-8")


# -- the benchmark -----------------------------------------------------------------------------------
def prepare(workdir: Path, train_rows: int, predict_rows: int, epochs: int) -> dict:
    import numpy as np

    from textclf import TextClassifier
    from textclf.data.bundled import load_bundled
    from textclf.errors import ModelError
    from textclf.serving.hf_export import export_hf
    from textclf.serving.onnx_export import export_onnx

    data = load_bundled("rotten-tomatoes")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data))
    train = data.subset(order[:train_rows])
    validation = data.subset(order[train_rows:train_rows + 1000])
    held_out = data.subset(order[train_rows + 1000:train_rows + 1000 + predict_rows])
    started = time.perf_counter()
    clf = TextClassifier(model={"type": "pretrained", "name_or_path": "minilm", "pooling": "cls",
                                "max_length": MAX_LENGTH},
                         training={"epochs": epochs, "batch_size": 16, "progress": False}, seed=0)
    clf.fit(train, validation=validation)
    fit_seconds = time.perf_counter() - started
    clf.save(workdir / "torch")
    clf = TextClassifier.load(workdir / "torch")
    int8_refused = None
    try:
        parity = export_onnx(clf, workdir / "onnx", quantize=True, sample_texts=validation.texts)
    except ModelError as err:  # int8 below the floor: fp32 written, int8 refused
        int8_refused = str(err)
        parity = json.loads((workdir / "onnx" / "parity.json").read_text())
    export_hf(clf, workdir / "hf")
    (workdir / "texts.json").write_text(json.dumps(held_out.texts), encoding="utf-8")
    return {"train_rows": len(train), "epochs": epochs, "validation_texts": len(validation), "predicted_texts": len(held_out), "fit_seconds": round(fit_seconds, 1),
            "labels": held_out.labels, "parity": parity, "int8_refused": int8_refused}


def main() -> int:
    parser = add_protocol_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--worker", nargs=4, metavar=("KIND", "MODEL", "TEXTS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--train-rows", type=int, default=None)
    parser.add_argument("--texts", type=int, default=None, help="held-out texts predicted per run")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the Hugging Face pipeline rows")
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    proto = Protocol.from_args("onnx_speed", args)
    proto.check_publishable()
    train_rows = args.train_rows or (160 if args.quick else 6000)
    n_texts = args.texts or (200 if args.quick else 1000)
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
        workdir = Path(tmp)
        setup = prepare(workdir, train_rows, n_texts, epochs=1 if args.quick else 2)
        truth = setup.pop("labels")
        outputs: dict[str, list[str]] = {}

        def runner(kind: str, model: str):
            def run():
                out = workdir / f"{kind}.json"
                measure = run_subprocess([sys.executable, str(Path(__file__).resolve()), "--worker", kind,
                                          str(workdir / model), str(workdir / "texts.json"), str(out)])
                result = json.loads(out.read_text())
                outputs[kind] = result["labels"]
                return {"seconds": result["seconds"], "process_seconds": measure["seconds"],
                        "peak_mib": measure["peak_mib"], "rows_per_s": n_texts / result["seconds"]}
            return run

        plan = [("onnx", "onnx", "torch", "torch")]
        if (workdir / "onnx" / "model.int8.onnx").is_file():
            plan.append(("onnx-int8", "onnx", "onnx", "onnx"))
        if not args.no_pipeline:
            plan += [("onnx", "onnx", "pipeline-b1", "hf"), ("onnx", "onnx", "pipeline-b32", "hf")]
        comparisons = [proto.compare(a, runner(a, a_dir), b, runner(b, b_dir), warmup=False)
                       for a, a_dir, b, b_dir in plan]
    accuracy = {kind: round(sum(p == t for p, t in zip(labels, truth)) / len(truth), 4)
                for kind, labels in outputs.items()}
    agreement = {kind: round(sum(p == q for p, q in zip(labels, outputs["torch"])) / len(truth), 4)
                 for kind, labels in outputs.items() if kind != "torch" and not kind.startswith("pipeline")}
    by_pair = {(c["a"], c["b"]): c for c in comparisons}
    fp32 = by_pair[("onnx", "torch")]
    int8 = by_pair.get(("onnx-int8", "onnx"))
    goal = {"onnx_fp32_vs_torch_at_least": 1.3, "onnx_fp32_ratio": fp32["median_ratio"],
            "identical_argmax": agreement.get("onnx") == 1.0,
            "lower_peak_memory": fp32["median"]["onnx"]["peak_mib"] < fp32["median"]["torch"]["peak_mib"]}
    if int8 is not None:
        goal.update({"int8_vs_fp32_at_least": 1.5, "int8_ratio": int8["median_ratio"],
                     "int8_agreement": agreement.get("onnx-int8"),
                     "int8_accuracy_points_lost": round(100 * (accuracy["onnx"] - accuracy["onnx-int8"]), 2)})
        goal["int8_met"] = (goal["int8_ratio"] >= 1.5 and goal["int8_agreement"] >= 0.99
                            and goal["int8_accuracy_points_lost"] <= 0.5)
    rows = []
    for kind in ("torch", "onnx", "onnx-int8", "pipeline-b1", "pipeline-b32"):
        medians = [c["median"][kind] for c in comparisons if kind in c["median"]]
        if not medians:
            continue
        rows.append([kind, f"{min(m['rows_per_s'] for m in medians):,.0f}-{max(m['rows_per_s'] for m in medians):,.0f}",
                     f"{medians[0]['peak_mib']:.0f}", f"{accuracy.get(kind, float('nan')):.3f}",
                     f"{agreement[kind]:.3f}" if kind in agreement else "-"])
    table = markdown_table(["system", "rows/s (median per comparison)", "peak MiB", "accuracy", "argmax = PyTorch"],
                           rows)
    table += "\n\n" + markdown_table(["A vs B", "median of per-pair ratios (B s / A s)"],
                                     [[f"{c['a']} vs {c['b']}", f"{c['median_ratio']:.2f}x"] for c in comparisons])
    path = proto.finish({"setup": setup, "accuracy": accuracy, "argmax_agreement_with_torch": agreement,
                         "goal": goal, "comparisons": comparisons}, table)
    print(table)
    print(f"written {path}" + (" (NOISY: load above 1.5 per core)" if proto.noisy else ""))
    return 0


if __name__ == "__main__":
    main_guard(main)
