"""Speed of `explain` (analysis/explain.py): rows explained per second for TF-IDF (exact linear
contributions) and for the packaged MiniLM (Integrated Gradients on its token embeddings), plus the
IG steps each row needed and its completeness gap. Writes bench/results/explain.json.

    nice -n 10 python bench/bench_explain.py [--tfidf-rows 300] [--minilm-rows 16] [--max-length 64]

TF-IDF: word 1-2 grams, trained on 2,000 bundled Rotten Tomatoes rows, explained on rows it did not
see. MiniLM: the pretrained encoder with a freshly initialised head (no fine-tuning: the cost of IG
does not depend on the weights' values), `max_length` tokens, CPU unless CUDA is present. IG starts
at 32 Gauss-Legendre steps and doubles (up to 256) for rows whose completeness gap is above 5%.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from textclf import TextClassifier  # noqa: E402
from textclf.analysis.explain import explain  # noqa: E402
from textclf.data import LabelMap  # noqa: E402
from textclf.data.bundled import load_bundled  # noqa: E402
from textclf.fileio import write_json  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "explain.json"


def timed(clf, texts: list[str]) -> dict:
    explain(clf, texts[:2])  # warm-up (imports, first-call allocation)
    started = time.perf_counter()
    explanations = explain(clf, texts)
    seconds = time.perf_counter() - started
    out = {"rows": len(texts), "seconds": round(seconds, 3), "rows_per_s": round(len(texts) / seconds, 2),
           "mean_tokens": round(float(np.mean([len(e.tokens) for e in explanations])), 1)}
    gaps = [e.completeness_gap for e in explanations if e.completeness_gap is not None]
    if gaps:
        steps = [e.steps for e in explanations]
        out.update({"steps": {str(s): steps.count(s) for s in sorted(set(steps))},
                    "gap_max": round(max(gaps), 5), "gap_median": round(float(np.median(gaps)), 5),
                    "share_gap_below_5pct": round(float(np.mean(np.array(gaps) < 0.05)), 4),
                    "truncated_rows": sum(e.truncated for e in explanations)})
    else:
        residual = max(abs(sum(t.attribution for t in e.tokens) + e.base_value - e.score) for e in explanations)
        out["max_residual"] = float(residual)
    return out


def minilm_with_fresh_head(train, max_length: int) -> TextClassifier:
    from textclf.config import TrainingConfig
    from textclf.models.pretrained import PretrainedConfig, PretrainedModel

    label_map = LabelMap.fit(train)
    config = PretrainedConfig(name_or_path="minilm", max_length=max_length)
    model = PretrainedModel(config, label_map, TrainingConfig(progress=False), seed=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model.tokenizer = model.build_tokenizer(train.texts)
        model.net = model.build_net(model.tokenizer).eval()
    clf = TextClassifier(model={"type": "pretrained", "name_or_path": "minilm", "max_length": max_length})
    clf.model_, clf.label_map = model, label_map
    return clf


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tfidf-rows", type=int, default=300)
    parser.add_argument("--minilm-rows", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_bundled("rotten-tomatoes")
    order = np.random.default_rng(0).permutation(len(data))
    train, held_out = data.subset(order[:2000]), data.subset(order[2000:])
    machine = {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
               "threads": args.threads, "device": "cuda" if torch.cuda.is_available() else "cpu",
               "load_average_start": os.getloadavg()}
    results = {}
    tfidf = TextClassifier(model={"type": "tfidf"}).fit(train)
    results["tfidf"] = timed(tfidf, held_out.texts[:args.tfidf_rows])
    print("tfidf", results["tfidf"], flush=True)
    minilm = minilm_with_fresh_head(train, args.max_length)
    results["minilm"] = {"max_length": args.max_length, "head": "fresh (untrained)", "ig_start_steps": 32,
                         "ig_max_steps": 256, "ig_method": "gausslegendre",
                         **timed(minilm, held_out.texts[:args.minilm_rows])}
    print("minilm", results["minilm"], flush=True)
    machine["load_average_end"] = os.getloadavg()
    write_json(args.output, {"machine": machine, "results": results})
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
