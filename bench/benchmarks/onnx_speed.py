"""Inference speed of one fine-tuned MiniLM: textclf PyTorch, ONNX fp32, ONNX int8, HF pipeline.

The model is trained first, well enough for "identical argmax" to mean something: the packaged
MiniLM fine-tuned by textclf (CLS pooling, max_length 64) for two epochs on 6,000 Rotten Tomatoes
rows (accuracy ~0.82 held out; one epoch on 1,000 rows gave 0.65, which makes int8 agreement look
worse than it is). It is exported with `export_onnx(quantize=True)` (1,000 validation texts for
the parity and int8 checks; an int8 model below the 99% agreement floor is refused, and the
results say so) and as a Hugging Face directory for `transformers.pipeline`.

Each measurement is its own process (bench.worker: imports and peak memory its own): load the
model, warm up on 32 texts, predict the held-out texts; seconds are that steady-state predict,
peak RSS the whole process. The pipeline gets length-sorted texts at batch 1 and 32. Goals (issue
#21): ONNX fp32 >= 1.3x PyTorch at identical argmax and lower peak memory; int8 >= 99% argmax
agreement, <= 0.5 accuracy points lost, >= 1.5x ONNX fp32."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from bench import data
from bench.harness import Benchmark, register
from bench.protocol import markdown_table, run_subprocess

MAX_LENGTH = 64


def worker(kind: str, model_dir: str, texts_path: str) -> dict:
    """One measurement (run by bench.worker in its own process): predicted labels and seconds."""
    texts = json.loads(Path(texts_path).read_text(encoding="utf-8"))
    if kind == "torch":
        from textclf import TextClassifier

        predict = TextClassifier.load(model_dir).predict
    elif kind in ("onnx", "onnx-int8"):
        from textclf.serving.onnx_export import load_onnx_classifier

        predict = load_onnx_classifier(model_dir, int8=kind == "onnx-int8").predict
    else:
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
    predict(texts[:32])  # warm-up
    started = time.perf_counter()
    labels = predict(texts)
    return {"seconds": time.perf_counter() - started, "labels": [str(x) for x in labels]}


def prepare(workdir: Path, train_rows: int, validation_rows: int, predict_rows: int, epochs: int,
            max_length: int) -> dict:
    from textclf import TextClassifier
    from textclf.errors import ModelError
    from textclf.serving.hf_export import export_hf
    from textclf.serving.onnx_export import export_onnx

    rows = data.shuffled("rotten-tomatoes", seed=0)
    train = rows.subset(range(train_rows))
    validation = rows.subset(range(train_rows, train_rows + validation_rows))
    held_out = rows.subset(range(train_rows + validation_rows, train_rows + validation_rows + predict_rows))
    started = time.perf_counter()
    clf = TextClassifier(model={"type": "pretrained", "name_or_path": "minilm", "pooling": "cls",
                                "max_length": max_length},
                         training={"epochs": epochs, "batch_size": 16, "progress": False}, seed=0)
    clf.fit(train, validation=validation)
    fit_seconds = time.perf_counter() - started
    clf.save(workdir / "torch")
    clf = TextClassifier.load(workdir / "torch")
    int8_refused = int8_error = None
    try:
        parity = export_onnx(clf, workdir / "onnx", quantize=True, sample_texts=validation.texts)
    except ModelError as err:  # int8 below the floor: fp32 written, int8 refused
        int8_refused = str(err)
        parity = json.loads((workdir / "onnx" / "parity.json").read_text())
    except RuntimeError as err:  # the quantizer itself failed: say so, and still compare fp32
        int8_error = f"{type(err).__name__}: {str(err)[:300]}"
        if (workdir / "onnx").exists():  # a failed export is atomic and usually leaves nothing
            (workdir / "onnx").rename(workdir / "onnx-failed")
        parity = export_onnx(clf, workdir / "onnx", quantize=False, sample_texts=validation.texts)
    export_hf(clf, workdir / "hf")
    (workdir / "texts.json").write_text(json.dumps(held_out.texts), encoding="utf-8")
    return {"train_rows": len(train), "epochs": epochs, "validation_texts": len(validation),
            "predicted_texts": len(held_out), "fit_seconds": round(fit_seconds, 1), "labels": held_out.labels,
            "parity": parity, "int8_refused": int8_refused, "int8_error": int8_error}


@register
class OnnxSpeed(Benchmark):
    name = "onnx_speed"
    summary = "fine-tuned MiniLM inference: PyTorch vs ONNX fp32 vs ONNX int8 vs HF pipeline (own processes)"
    sizes = {"smoke": {"train_rows": 16, "validation_rows": 96, "texts": 16, "epochs": 1, "pipeline": False,
                       "max_length": 16},
             "quick": {"train_rows": 160, "validation_rows": 200, "texts": 200, "epochs": 1, "pipeline": True,
                       "max_length": MAX_LENGTH},
             "full": {"train_rows": 6000, "validation_rows": 1000, "texts": 1000, "epochs": 2, "pipeline": True,
                      "max_length": MAX_LENGTH}}

    def run(self) -> dict:
        n_texts = self.size.texts
        outputs: dict[str, list[str]] = {}
        with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
            workdir = Path(tmp)
            setup = prepare(workdir, self.size.train_rows, self.size.validation_rows, n_texts, self.size.epochs,
                            self.size.max_length)
            truth = setup.pop("labels")

            def runner(kind: str, model: str):
                def run():
                    out = workdir / f"{kind}.json"
                    arguments = {"kind": kind, "model_dir": str(workdir / model),
                                 "texts_path": str(workdir / "texts.json")}
                    measure = run_subprocess([sys.executable, "-m", "bench.worker", f"{__name__}:worker",
                                              json.dumps(arguments), str(out)])
                    result = json.loads(out.read_text())
                    outputs[kind] = result["labels"]
                    return {"seconds": result["seconds"], "process_seconds": measure["seconds"],
                            "peak_mib": measure["peak_mib"], "rows_per_s": n_texts / result["seconds"]}
                return run

            plan = [("onnx", "onnx", "torch", "torch")]
            if (workdir / "onnx" / "model.int8.onnx").is_file():
                plan.append(("onnx-int8", "onnx", "onnx", "onnx"))
            if self.size.pipeline:
                plan += [("onnx", "onnx", "pipeline-b1", "hf"), ("onnx", "onnx", "pipeline-b32", "hf")]
            comparisons = [self.proto.compare(a, runner(a, a_dir), b, runner(b, b_dir), warmup=False)
                           for a, a_dir, b, b_dir in plan]
        accuracy = {kind: round(sum(p == t for p, t in zip(labels, truth)) / len(truth), 4)
                    for kind, labels in outputs.items()}
        agreement = {kind: round(sum(p == q for p, q in zip(labels, outputs["torch"])) / len(truth), 4)
                     for kind, labels in outputs.items() if kind != "torch" and not kind.startswith("pipeline")}
        return {"setup": setup, "accuracy": accuracy, "argmax_agreement_with_torch": agreement,
                "goal": goal(comparisons, accuracy, agreement), "comparisons": comparisons,
                "table": table(comparisons, accuracy, agreement)}


def goal(comparisons: list[dict], accuracy: dict, agreement: dict) -> dict:
    by_pair = {(c["a"], c["b"]): c for c in comparisons}
    fp32, int8 = by_pair[("onnx", "torch")], by_pair.get(("onnx-int8", "onnx"))
    result = {"onnx_fp32_vs_torch_at_least": 1.3, "onnx_fp32_ratio": fp32["median_ratio"],
              "identical_argmax": agreement.get("onnx") == 1.0,
              "lower_peak_memory": fp32["median"]["onnx"]["peak_mib"] < fp32["median"]["torch"]["peak_mib"]}
    if int8 is not None:
        result.update({"int8_vs_fp32_at_least": 1.5, "int8_ratio": int8["median_ratio"],
                       "int8_agreement": agreement.get("onnx-int8"),
                       "int8_accuracy_points_lost": round(100 * (accuracy["onnx"] - accuracy["onnx-int8"]), 2)})
        result["int8_met"] = (result["int8_ratio"] >= 1.5 and result["int8_agreement"] >= 0.99
                              and result["int8_accuracy_points_lost"] <= 0.5)
    return result


def table(comparisons: list[dict], accuracy: dict, agreement: dict) -> str:
    rows = []
    for kind in ("torch", "onnx", "onnx-int8", "pipeline-b1", "pipeline-b32"):
        medians = [c["median"][kind] for c in comparisons if kind in c["median"]]
        if medians:
            rows.append([kind, f"{min(m['rows_per_s'] for m in medians):,.0f}-{max(m['rows_per_s'] for m in medians):,.0f}",
                         f"{medians[0]['peak_mib']:.0f}", f"{accuracy.get(kind, float('nan')):.3f}",
                         f"{agreement[kind]:.3f}" if kind in agreement else "-"])
    text = markdown_table(["system", "rows/s (median per comparison)", "peak MiB", "accuracy", "argmax = PyTorch"], rows)
    return text + "\n\n" + markdown_table(["A vs B", "median of per-pair ratios (B s / A s)"],
                                          [[f"{c['a']} vs {c['b']}", f"{c['median_ratio']:.2f}x"] for c in comparisons])
