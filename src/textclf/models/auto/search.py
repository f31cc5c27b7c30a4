"""The candidate space `model.type: auto` searches: model families in increasing cost.

A family is one registered model type with a small search space. Its first trial always runs the
family's known-good settings (`defaults`, enqueued in the Optuna study); later trials are sampled
by Optuna's TPE sampler. `suggest(trial)` returns (model config dict, training overrides); the
overrides (learning rate, epochs, class weights) are applied to a copy of the run's training
settings, never to the user's own object.

Cost priors: a fit takes `prior_overhead` seconds (vectoriser, tokenizer training, loading an
encoder) plus `prior_seconds_per_unit` per unit, a unit being one training row seen once (rows x
epochs for neural types) or one row scored; measured on two quiet CPU cores (Rotten Tomatoes,
2,000 rows: tfidf word 1.0 s, word+char 2.6 s, bag 1.7 s and cnn 1.4 s per epoch, GRU 54 s per
epoch; MiniLM ~100 texts/s encoding; its fine-tune ~21 rows/s per epoch at 128 tokens on
five small-data sets' fold fits, 12-20 on slower cores: 17 in the prior; see budget.token_share).
They only size a family's first fit, scaled by how much slower than its prior the machine proved
on the families measured so far; after that the family's own measured slowness replaces them
(budget.CostModel).

    name          type         searched
    tfidf_word    tfidf        C (log 0.1..100), sublinear_tf, class_weight (single-label)
    tfidf_char    tfidf        word 1-2 + char_wb 2-5 grams; C, class_weight
    bag           bag          learning rate, epochs (x0.5..2 of the type's size-aware default)
    embedding     embedding    C (log 0.3..100), + TF-IDF block or not (frozen MiniLM vectors); on
                               long texts (long_texts) window-mean or first-window embeddings,
                               window-mean first
    embedding_mpnet embedding  the same over frozen all-mpnet-base-v2 vectors (~7x MiniLM's cost,
                               first-window first); a default candidate only where it is installed
    cnn           cnn          small (64-d, 64 filters): learning rate, epochs, dropout
    rnn           rnn          small GRU (64-d): learning rate, epochs, dropout
    pretrained    pretrained   MiniLM fine-tune with the type's defaults; one trial, when it fits

A candidate may also be a fixed model config dict (`{type: my_type, ...}`): one trial with exactly
those settings, so a registered third-party type takes part without a search space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...errors import ConfigError


@dataclass(frozen=True)
class Family:
    name: str
    type: str  # registry name (models.MODEL_TYPES)
    label: str  # how progress lines name it
    prior_overhead: float  # seconds per fit, whatever its size
    prior_seconds_per_unit: float
    suggest: Callable[[Any, dict], tuple[dict, dict]]  # (optuna trial, context) -> (model, training overrides)
    defaults: dict[str, Any] = field(default_factory=dict)  # the first trial's parameters
    max_trials: int | None = None  # None: as many as the budget allows
    gpu_speedup: float = 1.0  # divide the prior by this when a CUDA device is present
    fixed: dict[str, Any] | None = None  # a fixed model config (a user-given candidate)
    costly: bool = False  # shares the time left with the neural families, after the cheap ones
    encoder: str | None = None  # a registered encoder it needs (models/encoder_registry.py)
    # Its type's training defaults for the training set's size, as the type alone would get them
    # (no epochs searched): the fine-tune's small-data recipe (10 epochs, its head at 1e-3). With
    # the large-data one (3 epochs at 3e-5) it scored 0.457 in cv on 1,500 rt3 rows, where the
    # same candidate alone reached 0.858 on test.
    sized_training: bool = False


EMBEDDING_TOKENS = 128  # the frozen encoders' window in auto
WORD_PIECES = 1.3  # word pieces per English word, roughly
LONG_TEXT_WORDS = int((EMBEDDING_TOKENS - 2) / WORD_PIECES)  # 96: longer texts overrun one window
LONG_TEXT_SHARE = 0.2  # the share of such texts that makes the data "long" for the embedding families


def long_texts(texts) -> bool:
    """Whether enough training texts overrun one encoder window that whole-document (window-mean)
    embeddings are worth searching: they beat truncation on both long-text sets of the small-data
    bench (BBC news, drug reviews) and cost a pass per window."""
    texts = list(texts)
    if not texts:
        return False
    overrun = sum(1 for text in texts if len(text.split()) > LONG_TEXT_WORDS)
    return overrun >= LONG_TEXT_SHARE * len(texts)


def _class_weight(trial, context: dict) -> dict:
    """Search class_weight in {none, balanced} unless the user set explicit weights."""
    if isinstance(context.get("class_weight"), dict):
        return {}
    choice = trial.suggest_categorical("class_weight", ["none", "balanced"])
    key = "pos_weight" if context.get("multi_label") else "class_weight"
    return {key: None if choice == "none" else "balanced"}


def _tfidf_word(trial, context: dict) -> tuple[dict, dict]:
    model = {"type": "tfidf", "word_ngrams": [1, 2], "char_ngrams": None,
             "C": trial.suggest_float("C", 0.1, 100.0, log=True),
             "sublinear_tf": trial.suggest_categorical("sublinear_tf", [True, False])}
    return model, _class_weight(trial, context)


def _tfidf_char(trial, context: dict) -> tuple[dict, dict]:
    model = {"type": "tfidf", "word_ngrams": [1, 2], "char_ngrams": [2, 5], "sublinear_tf": True,
             "C": trial.suggest_float("C", 0.1, 100.0, log=True)}
    return model, _class_weight(trial, context)


def _bag(trial, context: dict) -> tuple[dict, dict]:
    from ..neural import scratch_epochs  # the type's own size-aware default, scaled by the search

    epochs = scratch_epochs(context["train_rows"]) if context.get("train_rows") else 5
    scale = trial.suggest_float("epoch_scale", 0.5, 2.0, log=True)
    return {"type": "bag"}, {"learning_rate": trial.suggest_float("learning_rate", 3e-4, 3e-2, log=True),
                             "epochs": max(2, round(epochs * scale))}


def _embedding(trial, context: dict) -> tuple[dict, dict]:
    model = {"type": "embedding", "name_or_path": context.get("pretrained", "minilm"), "max_length": EMBEDDING_TOKENS,
             "C": trial.suggest_float("C", 0.3, 100.0, log=True),
             "tfidf": trial.suggest_categorical("tfidf", [False, True])}
    if context.get("long_texts"):  # whole documents, or their first window only
        strategy = trial.suggest_categorical("long_text", ["sliding_window", "head"])
        model["long_text"] = {"strategy": strategy}
    return model, {}


def _mpnet_embedding(trial, context: dict) -> tuple[dict, dict]:
    model, overrides = _embedding(trial, context)
    return dict(model, name_or_path="mpnet-base"), overrides


def _small_neural(model: dict) -> Callable[[Any, dict], tuple[dict, dict]]:
    def suggest(trial, context: dict) -> tuple[dict, dict]:
        config = dict(model, dropout=trial.suggest_float("dropout", 0.0, 0.5))
        return config, {"learning_rate": trial.suggest_float("learning_rate", 3e-4, 1e-2, log=True),
                        "epochs": trial.suggest_int("epochs", 3, 8)}
    return suggest


def _pretrained(trial, context: dict) -> tuple[dict, dict]:
    return {"type": "pretrained", "name_or_path": context.get("pretrained", "minilm")}, {}


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("tfidf_word", "tfidf", "tfidf word", 0.05, 5e-4, _tfidf_word,
           {"C": 4.0, "sublinear_tf": True, "class_weight": "none"}),
    Family("tfidf_char", "tfidf", "tfidf word+char", 0.1, 1.3e-3, _tfidf_char, {"C": 4.0, "class_weight": "none"}),
    Family("bag", "bag", "bag", 1.0, 5e-4, _bag, {"learning_rate": 3e-3, "epoch_scale": 1.0}, gpu_speedup=3.0),
    Family("embedding", "embedding", "embedding+LR", 3.0, 1e-2, _embedding,
           {"C": 3.0, "tfidf": False, "long_text": "sliding_window"}, gpu_speedup=10.0),
    Family("embedding_mpnet", "embedding", "mpnet embedding+LR", 8.0, 7e-2, _mpnet_embedding,
           {"C": 3.0, "tfidf": False, "long_text": "head"}, gpu_speedup=10.0, costly=True, encoder="mpnet-base"),
    Family("cnn", "cnn", "cnn", 1.0, 4e-4, _small_neural({"type": "cnn", "embedding_dim": 64, "num_filters": 64}),
           {"dropout": 0.3, "learning_rate": 2e-3, "epochs": 5}, gpu_speedup=5.0),
    Family("rnn", "rnn", "rnn (gru)", 1.0, 2.7e-2,
           _small_neural({"type": "rnn", "cell": "gru", "embedding_dim": 64, "hidden_size": 64}),
           {"dropout": 0.2, "learning_rate": 2e-3, "epochs": 5}, gpu_speedup=20.0),
    Family("pretrained", "pretrained", "MiniLM fine-tune", 5.0, 6e-2, _pretrained, {}, max_trials=1, gpu_speedup=20.0,
           sized_training=True),
)}

DEFAULT_CANDIDATES = tuple(name for name, family in FAMILIES.items() if family.encoder is None)


def installed_encoders() -> list[str]:
    try:
        from ..encoder_registry import installed_encoders as installed
    except ImportError:  # a textclf without the encoder registry
        return []
    return installed()


def default_candidates() -> list[str]:
    """The families searched when `model.candidates` is null: DEFAULT_CANDIDATES, plus each family
    whose encoder is installed here (embedding_mpnet where all-mpnet-base-v2 is). Whether it runs
    is the budget's call: it shares the time left with the neural families (`costly`) and is
    skipped, with its reason on the leaderboard, when its estimate exceeds its share."""
    installed = set(installed_encoders())
    return [name for name, family in FAMILIES.items()
            if family.encoder is None or family.encoder in installed]


def fixed_family(index: int, config: dict[str, Any]) -> Family:
    """A user-given candidate: one trial with exactly `config` (a model config with a `type`)."""
    config = dict(config)
    name = str(config.get("type", "?"))

    def suggest(trial, context: dict) -> tuple[dict, dict]:
        return dict(config), {}

    return Family(f"{name}[{index}]", name, name, 1.0, 5e-3, suggest, {}, max_trials=1, fixed=config)


def candidate_families(wanted: list[str | dict[str, Any]] | None) -> tuple[list[Family], list[Family]]:
    """The families `model.candidates` names, in order (None: every family), and those among them
    whose model type is not registered (left out of the first list). ConfigError for a name that
    is no family, a fixed candidate without a `type`, or no usable candidate at all."""
    from .. import model_class

    families, unavailable = [], []
    installed = None
    for i, entry in enumerate(wanted if wanted is not None else default_candidates()):
        if isinstance(entry, dict):
            if not isinstance(entry.get("type"), str):
                raise ConfigError(f"model.candidates[{i}]: a fixed candidate needs a `type`")
            if entry["type"] in ("auto",):
                raise ConfigError("model.candidates: auto cannot search itself")
            family = fixed_family(i, entry)
        elif entry in FAMILIES:
            family = FAMILIES[entry]
        else:
            raise ConfigError(f"model.candidates: {entry!r} is not one of: {', '.join(FAMILIES)} "
                              "(or give a model config such as {type: tfidf, C: 2})")
        try:
            model_class(family.type)
        except ConfigError:
            unavailable.append(family)
            continue
        if family.encoder is not None:
            installed = installed if installed is not None else set(installed_encoders())
            if family.encoder not in installed:
                unavailable.append(family)
                continue
        families.append(family)
    if not families:
        raise ConfigError("model.type auto: no usable candidates")
    return families, unavailable


def describe(params: dict[str, Any]) -> str:
    """Searched settings as `C=4.0 epochs=5` for progress lines."""
    parts = []
    for key, value in params.items():
        if isinstance(value, float):
            value = f"{value:.3g}"
        parts.append(f"{key}={value}")
    return " ".join(parts)
