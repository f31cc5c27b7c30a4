"""Production inference benchmark: streaming memory, and PyTorch vs ONNX vs ONNX int8 vs HF pipeline.

    nice -n 10 python bench/bench_inference.py            # writes bench/results/inference.json

Part 1, memory: `textclf predict` streams CSV files of 100k and 1M rows (bundled Rotten Tomatoes
texts, repeated) through a TF-IDF model in a subprocess; its peak RSS comes from os.wait4. The
TF-IDF model keeps 1M rows fast enough on a small machine; the streaming code path (chunked
reading, length-sorted batches, chunked writing) is the same for every model type.

Part 2, throughput: one MiniLM fine-tuned briefly by textclf (`pretrained`, CLS pooling), then
exported three ways: ONNX fp32, ONNX dynamic int8 (`textclf export --format onnx --quantize`) and
a Hugging Face directory (`textclf export --format hf`), which `transformers.pipeline(
"text-classification")` serves. All four predict the same unseen texts; rows/s and agreement with
PyTorch are reported. The fine-tuning is short: the model's accuracy is not the point here.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from textclf import TextClassifier  # noqa: E402
from textclf.data.bundled import load_bundled  # noqa: E402
from textclf.fileio import write_json  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "inference.json"


# -- part 1: streaming memory ----------------------------------------------------------------------
def write_input(path: Path, texts: list[str], rows: int) -> None:
    """A CSV of `rows` texts cycling through `texts`, written row by row (no big list in memory)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for i in range(rows):
            writer.writerow([f"r{i}", texts[i % len(texts)]])


def measure_predict(model: Path, input_path: Path, output: Path, chunk_size: int) -> dict:
    """Run `textclf predict` in a child process; its own peak RSS from os.wait4."""
    command = [sys.executable, "-m", "textclf", "predict", str(model), str(input_path), "-o", str(output),
               "--id-column", "id", "--chunk-size", str(chunk_size), "--no-progress"]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    stderr = child.stderr.read().decode()
    child.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"predict failed: {stderr}")
    with open(output, "rb") as handle:
        written = sum(1 for _ in handle)
    peak_kb = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss // 1024
    return {"rows_written": written, "seconds": round(seconds, 2), "rows_per_s": round(written / seconds, 1),
            "peak_rss_mb": round(peak_kb / 1024, 1), "input_mb": round(input_path.stat().st_size / 2**20, 1)}


def memory_part(workdir: Path, row_counts: list[int], chunk_size: int) -> dict:
    data = load_bundled("rotten-tomatoes")
    model = workdir / "tfidf"
    TextClassifier(model={"type": "tfidf"}).fit(data).save(model)
    results = {}
    for rows in row_counts:
        input_path = workdir / f"in-{rows}.csv"
        write_input(input_path, data.texts, rows)
        results[str(rows)] = measure_predict(model, input_path, workdir / f"out-{rows}.jsonl", chunk_size)
        input_path.unlink()
        (workdir / f"out-{rows}.jsonl").unlink()
        print(f"  {rows:>9,} rows: {results[str(rows)]}", flush=True)
    return {"model": "tfidf (word 1-2-grams + logistic regression, trained on bundled rotten-tomatoes)",
            "chunk_size": chunk_size, "runs": results}


# -- part 2: throughput ----------------------------------------------------------------------------
def timed(function, texts: list[str], warmup: list[str]) -> tuple[np.ndarray, float]:
    function(warmup)
    start = time.perf_counter()
    out = function(texts)
    return out, time.perf_counter() - start


def hf_pipeline_probs(directory: Path, labels: list[str], batch_size: int):
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(directory), tokenizer=str(directory), device=-1,
                        top_k=None, batch_size=batch_size)

    def probs(texts: list[str]) -> np.ndarray:
        out = classify(texts, truncation=True)
        return np.array([[{d["label"]: d["score"] for d in row}[name] for name in labels] for row in out])

    return probs


def throughput_part(workdir: Path, texts_count: int, train_count: int, batch_size: int) -> dict:
    from textclf.serving.hf_export import export_hf
    from textclf.serving.onnx_export import export_onnx, load_onnx_classifier

    data = load_bundled("rotten-tomatoes")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data))
    train, test = data.subset(order[:train_count]), data.subset(order[train_count:train_count + texts_count])
    training = {"epochs": 1, "batch_size": 16, "eval_batch_size": batch_size, "max_length": 128}
    start = time.perf_counter()
    clf = TextClassifier(model={"type": "pretrained", "pooling": "cls"}, training=training, seed=0).fit(train)
    fine_tune_s = time.perf_counter() - start
    clf.save(workdir / "minilm")
    clf = TextClassifier.load(workdir / "minilm")
    labels = list(clf.label_map.labels)
    probes = test.texts[:64]
    start = time.perf_counter()
    parity = export_onnx(clf, workdir / "onnx", quantize=True, sample_texts=probes)
    onnx_export_s = time.perf_counter() - start
    export_hf(clf, workdir / "hf")

    texts, warmup = test.texts, test.texts[:32]
    onnx_clf = load_onnx_classifier(workdir / "onnx")
    int8_clf = load_onnx_classifier(workdir / "onnx", int8=True)
    backends = {
        "pytorch": clf.predict_proba,
        "onnx": onnx_clf.predict_proba,
        "onnx_int8": int8_clf.predict_proba,
        "hf_pipeline": hf_pipeline_probs(workdir / "hf", labels, batch_size),
    }
    probs, rows = {}, {}
    for name, function in backends.items():
        probs[name], seconds = timed(function, texts, warmup)
        rows[name] = {"seconds": round(seconds, 2), "rows_per_s": round(len(texts) / seconds, 1)}
        print(f"  {name:<12} {rows[name]}", flush=True)
    reference = probs["pytorch"]
    gold = np.array([labels.index(label) for label in test.labels])
    for name, p in probs.items():
        rows[name]["max_abs_prob_diff_vs_pytorch"] = float(np.abs(p - reference).max())
        rows[name]["argmax_agreement_vs_pytorch"] = float((p.argmax(1) == reference.argmax(1)).mean())
        rows[name]["accuracy"] = float((p.argmax(1) == gold).mean())
        rows[name]["speedup_vs_hf_pipeline"] = round(rows[name]["rows_per_s"] / rows["hf_pipeline"]["rows_per_s"], 2)
    return {"model": f"all-MiniLM-L6-v2 + CLS linear head, fine-tuned 1 epoch on {train_count} texts",
            "texts": len(texts), "max_length": 128, "batch_size": batch_size,
            "mean_chars_per_text": round(float(np.mean([len(t) for t in texts])), 1),
            "fine_tune_seconds": round(fine_tune_s, 1), "onnx_export_seconds": round(onnx_export_s, 1),
            "export_parity": parity, "backends": rows}


# -- report ----------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--chunk-size", type=int, default=4096)
    parser.add_argument("--texts", type=int, default=1000, help="texts for the throughput comparison")
    parser.add_argument("--train", type=int, default=160, help="fine-tuning texts (speed only, not accuracy)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "load_average_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as tmp:
        print("streaming predict, peak RSS:", flush=True)
        memory = memory_part(Path(tmp), args.rows, args.chunk_size)
        print("throughput:", flush=True)
        throughput = throughput_part(Path(tmp), args.texts, args.train, args.batch_size)
    machine["load_average_end"] = os.getloadavg()

    runs = memory["runs"]
    peaks = [r["peak_rss_mb"] for r in runs.values()]
    memory["peak_rss_ratio_largest_to_smallest"] = round(max(peaks[-1], 1) / max(peaks[0], 1), 3)
    print("\n| rows | input MB | peak RSS MB | rows/s |\n|---:|---:|---:|---:|")
    for rows, r in runs.items():
        print(f"| {int(rows):,} | {r['input_mb']} | {r['peak_rss_mb']} | {r['rows_per_s']:,.0f} |")
    print("\n| backend | rows/s | x HF pipeline | argmax = PyTorch | max |dp| | accuracy |\n|---|---:|---:|---:|---:|---:|")
    for name, r in throughput["backends"].items():
        print(f"| {name} | {r['rows_per_s']} | {r['speedup_vs_hf_pipeline']} | {r['argmax_agreement_vs_pytorch']:.3f} "
              f"| {r['max_abs_prob_diff_vs_pytorch']:.1e} | {r['accuracy']:.3f} |")
    write_json(args.output, {"machine": machine, "streaming_memory": memory, "throughput": throughput})
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
