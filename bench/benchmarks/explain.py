"""Speed of `explain`: rows explained per second for TF-IDF (exact linear contributions) and for
the packaged MiniLM (Integrated Gradients on its token embeddings), with the IG steps each row
needed and its completeness gap.

TF-IDF: word 1-2 grams trained on 2,000 bundled Rotten Tomatoes rows, explained on rows it did not
see. MiniLM: fine-tuned for one epoch on 32 rows only (the cost of IG does not depend on the
weights' values), `max_length` tokens. IG starts at 32 Gauss-Legendre steps and doubles (up to
256) for rows whose completeness gap is above 5%."""

from __future__ import annotations

import time

import numpy as np

from bench import data
from bench.harness import Benchmark, register


def timed(clf, texts: list[str], warmup: int) -> dict:
    from textclf.analysis.explain import explain

    if warmup:
        explain(clf, texts[:warmup])  # warm-up (imports, first-call allocation)
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
        out["max_residual"] = float(max(abs(sum(t.attribution for t in e.tokens) + e.base_value - e.score)
                                        for e in explanations))
    return out


@register
class Explain(Benchmark):
    name = "explain"
    summary = "explain rows/s: TF-IDF exact contributions, MiniLM Integrated Gradients (steps, completeness gap)"
    sizes = {"smoke": {"tfidf_rows": 20, "minilm_rows": 1, "max_length": 16, "warmup": 0},
             "quick": {"tfidf_rows": 100, "minilm_rows": 4, "max_length": 64, "warmup": 2},
             "full": {"tfidf_rows": 300, "minilm_rows": 16, "max_length": 64, "warmup": 2}}

    def run(self) -> dict:
        import torch

        from textclf import TextClassifier

        rows = data.shuffled("rotten-tomatoes", seed=0)
        train, held_out = rows.subset(range(2000)), rows.subset(range(2000, len(rows)))
        tfidf = TextClassifier(model={"type": "tfidf"}).fit(train)
        results = {"tfidf": timed(tfidf, held_out.texts[:self.size.tfidf_rows], self.size.warmup)}
        minilm = TextClassifier(model={"type": "pretrained", "name_or_path": "minilm",
                                       "max_length": self.size.max_length},
                                training={"epochs": 1, "batch_size": 16, "progress": False}, calibration=None, seed=0)
        minilm.fit(train.subset(range(32)))
        results["minilm"] = {"max_length": self.size.max_length, "head": "1 epoch on 32 rows", "ig_start_steps": 32,
                             "ig_max_steps": 256, "ig_method": "gausslegendre",
                             **timed(minilm, held_out.texts[:self.size.minilm_rows], self.size.warmup)}
        return {"device": "cuda" if torch.cuda.is_available() else "cpu", "torch_threads": torch.get_num_threads(),
                "results": results}
