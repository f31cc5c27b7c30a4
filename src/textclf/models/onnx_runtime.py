"""The `onnx` model type: a neural classifier exported by `textclf export --format onnx`, run by
ONNX Runtime for inference only (see serving/onnx_export.py for the export and its parity check).

Nothing here imports torch or transformers: the session runs with every graph optimisation on, texts
go through small length-sorted batches run side by side by one single-threaded worker per physical
core, and a pretrained encoder's tokenizer is read straight from its `tokenizer.json` by the
`tokenizers` library.

The tokenizer an export names in its config.json is looked up in `TOKENIZERS`, textclf's own
tokenizer classes by name: a saved file never makes this module import anything (issue #28). Older
exports wrote "module:Class"; such a name is accepted when the class is one of ours, and the
module part is never imported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from ..config import Section, TrainingConfig
from ..data import LabelMap
from ..data.lengths import length_sorted_batches
from ..data.padding import pad_ids
from ..errors import ModelError
from ..text.ngrams import NgramTokenizer
from ..text.tokenizers import SubwordTokenizer
from .base import WHOLE_CHUNK, Capabilities, ModelBase

FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
# The classifier's own files (artifacts.py): never copied with the model files.
CLASSIFIER_FILES = {"config.json", "labels.json", "calibration.json", "thresholds.json", "metrics.json",
                    "leaderboard.json", "policy.json", "manifest.json"}


class OnnxConfig(Section):
    type: Literal["onnx"] = "onnx"
    source: dict[str, Any]  # the exported model's own config (type, pooling, ...)
    tokenizer: str  # a TOKENIZERS name ("json", "subword", "ngram", "tfidf"); older exports: "textclf...:Class"
    file: str = FP32_FILE
    # The exported model's tokens per text (tokenization must match); None: it reads whole texts (TF-IDF).
    max_length: int | None = Field(256, ge=1)

    @field_validator("tokenizer")
    @classmethod
    def _known_tokenizer(cls, name: str) -> str:
        tokenizer_kind(name)  # refuses a name that is not one of textclf's tokenizers
        return name


# Exports before issue #21 name the transformers-backed tokenizer; the same files load without it.
PRETRAINED_TOKENIZER = "textclf.models.pretrained:PretrainedTokenizer"
JSON_TOKENIZER = "textclf.models.onnx_runtime:JsonTokenizer"
ENCODER_DIR = "encoder"  # where a pretrained model keeps tokenizer.json (models/pretrained.py)
THREADS_ENV = "TEXTCLF_ONNX_THREADS"  # overrides the number of workers (one thread each)
# Texts per session.run. On CPU, batches of 8 short texts run side by side by single-threaded
# workers beat batches of 64 that spread each operator over all cores (2,000 short texts through a
# MiniLM on 2 AVX2 cores: 9.6 s against 12.3 s; batches of 16: 10.0 s; 24: 10.3 s): the small
# products stay in cache and no core waits for the other between operators.
RUN_BATCH = 8


def physical_cores(cpuinfo: str = "/proc/cpuinfo") -> int:
    """Physical cores this process may run on: hyper-threads share one core's arithmetic units,
    so more intra-op threads than cores only add contention."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cores, physical = set(), None
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "physical id":
                    physical = value.strip()
                elif key.strip() == "core id":
                    cores.add((physical, value.strip()))
    except OSError:
        pass
    return max(1, min(usable, len(cores) or usable))


def worker_count() -> int:
    """Batches run at once: $TEXTCLF_ONNX_THREADS when set to a positive integer, else one per
    physical core."""
    env = os.environ.get(THREADS_ENV, "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else physical_cores()


def session_options(threads: int = 1):
    """ONNX Runtime options for CPU inference: all graph optimisations, `threads` intra-op threads
    (one: the parallelism is across batches, see OnnxModel.logits), operators one after another."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return options


class JsonTokenizer:
    """A Hugging Face fast tokenizer's `tokenizer.json`, run by the `tokenizers` library alone
    (no transformers, no torch): ids with the model's special tokens, truncated to `max_length`,
    the same ids `PretrainedTokenizer.encode` gives (the export's parity check holds them to it)."""

    def __init__(self, tokenizer, pad_id: int) -> None:
        self._tokenizer = tokenizer
        self.pad_id = pad_id
        self._truncation: int | None = None

    @classmethod
    def load(cls, directory: Path) -> JsonTokenizer:
        from tokenizers import Tokenizer

        path = Path(directory) / ENCODER_DIR
        if not (path / "tokenizer.json").is_file():
            raise ModelError(f"{path / 'tokenizer.json'}: tokenizer file missing")
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        tokenizer.no_padding()
        return cls(tokenizer, _pad_id(tokenizer, path))

    @property
    def vocab_size(self) -> int:
        return int(self._tokenizer.get_vocab_size(with_added_tokens=True))

    def vocabulary(self) -> list[str]:
        return list(self._tokenizer.get_vocab(with_added_tokens=True))

    def encode(self, texts: Sequence[str], max_length: int) -> list[list[int]]:
        if self._truncation != max_length:
            self._tokenizer.enable_truncation(max_length=max_length)
            self._truncation = max_length
        return [encoding.ids for encoding in self._tokenizer.encode_batch_fast(list(texts), add_special_tokens=True)]

    def save(self, directory: Path) -> None:
        raise ModelError("an ONNX export's tokenizer is copied with its directory, not re-saved")


def _pad_id(tokenizer, path: Path) -> int:
    """The pad token's id as transformers would give it: tokenizer_config.json's pad_token, else
    the padding set in tokenizer.json, else 0."""
    token = None
    config = path / "tokenizer_config.json"
    if config.is_file():
        value = json.loads(config.read_text(encoding="utf-8")).get("pad_token")
        token = value.get("content") if isinstance(value, dict) else value
    if token is not None and tokenizer.token_to_id(token) is not None:
        return int(tokenizer.token_to_id(token))
    padding = tokenizer.padding
    return int(padding["pad_id"]) if padding else 0


class TfidfFeatures:
    """The counting half of scikit-learn's TfidfVectorizer for an exported TF-IDF model
    (serving/export/tfidf_onnx.py): per block, the ids of a text's n-grams in the vocabulary and
    their counts, exactly as its word / char_wb / char analyzers find them (the graph weighs them)."""

    FILE = "tfidf_features.json"
    _WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's whitespace normalisation for char n-grams

    def __init__(self, blocks: list[dict]) -> None:
        self.blocks = blocks
        self.patterns = [re.compile(b["token_pattern"]) if b["analyzer"] == "word" else None for b in blocks]
        self.pad_id = 0

    @classmethod
    def load(cls, directory: Path) -> TfidfFeatures:
        path = Path(directory) / cls.FILE
        try:
            blocks = json.loads(path.read_text(encoding="utf-8"))["blocks"]
            for b in blocks:
                if b["analyzer"] not in ("word", "char_wb", "char") or len(b["ngram_range"]) != 2:
                    raise ValueError(f"analyzer {b['analyzer']!r}")
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ModelError(f"{path}: not a TF-IDF feature file ({type(err).__name__}: {str(err)[:80]})") from None
        return cls(blocks)

    def ngrams(self, block: int, text: str) -> list[str]:
        spec = self.blocks[block]
        low, high = spec["ngram_range"]
        if spec["lowercase"]:
            text = text.lower()
        if spec["analyzer"] == "word":
            tokens = self.patterns[block].findall(text)
            return [" ".join(tokens[i:i + n]) for n in range(low, min(high, len(tokens)) + 1)
                    for i in range(len(tokens) - n + 1)]
        text = self._WHITE_SPACES.sub(" ", text)
        if spec["analyzer"] == "char":
            return [text[i:i + n] for n in range(low, min(high, len(text)) + 1) for i in range(len(text) - n + 1)]
        grams = []
        for word in text.split():  # char_wb: n-grams inside space-padded words; a short word counts once
            word = f" {word} "
            for n in range(low, high + 1):
                grams += [word[i:i + n] for i in range(max(len(word) - n + 1, 1))]
                if len(word) <= n:
                    break
        return grams

    def features(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The graph's inputs for `texts`: feature_ids_b int64 and feature_counts_b float32, [n, width]."""
        feeds = {}
        for b, spec in enumerate(self.blocks):
            find = spec["vocabulary"].get
            rows = []
            for text in texts:
                counted = Counter(self.ngrams(b, text))
                rows.append({j: c for g, c in counted.items() if (j := find(g)) is not None})
            width = max([len(r) for r in rows] + [1])
            ids = np.zeros((len(texts), width), dtype=np.int64)
            values = np.zeros((len(texts), width), dtype=np.float32)
            for i, counts in enumerate(rows):
                ids[i, :len(counts)] = list(counts)
                values[i, :len(counts)] = list(counts.values())
            feeds[f"feature_ids_{b}"], feeds[f"feature_counts_{b}"] = ids, values
        return feeds

    def save(self, directory: Path) -> None:
        raise ModelError("an ONNX export's tokenizer is copied with its directory, not re-saved")


# The tokenizers an ONNX export may name (config.json "tokenizer"): textclf's own classes, by name.
TOKENIZERS: dict[str, type] = {"json": JsonTokenizer, "subword": SubwordTokenizer, "ngram": NgramTokenizer,
                               "tfidf": TfidfFeatures}
_KIND_OF_CLASS = {"JsonTokenizer": "json", "PretrainedTokenizer": "json", "SubwordTokenizer": "subword",
                  "NgramTokenizer": "ngram"}  # the class part of names older exports wrote


def tokenizer_kind(name: str) -> str:
    """The TOKENIZERS key for a tokenizer name in an export's config: a key itself, or an older
    export's "textclf.<module>:<Class>" whose Class is one of textclf's (the module is not imported)."""
    if not isinstance(name, str):
        raise ValueError(f"tokenizer must be a string naming one of {', '.join(TOKENIZERS)}")
    if name in TOKENIZERS:
        return name
    module, _, class_name = name.partition(":")
    kind = _KIND_OF_CLASS.get(class_name)
    if kind is None or not (module == "textclf" or module.startswith("textclf.")):
        raise ValueError(f"unknown tokenizer {name[:60]!r} (textclf's own: {', '.join(TOKENIZERS)}; "
                         "a saved file never names code to import)")
    return kind


def tokenizer_name(tokenizer) -> str:
    """The name an export writes for `tokenizer` (a TOKENIZERS key), refusing a foreign class."""
    for kind, cls in TOKENIZERS.items():
        if type(tokenizer) is cls:
            return kind
    if type(tokenizer).__name__ == "PretrainedTokenizer":  # same tokenizer.json, without transformers
        return "json"
    raise ModelError(f"{type(tokenizer).__name__}: not a tokenizer an ONNX export can name ({', '.join(TOKENIZERS)})")


def load_tokenizer(name: str, directory: Path):
    """The textclf tokenizer named in an export's config, loaded from `directory`; the
    transformers-backed pretrained tokenizer is replaced by its torch-free twin. Unknown names
    are refused before anything is loaded or imported."""
    try:
        kind = tokenizer_kind(name)
    except ValueError as err:
        raise ModelError(str(err)) from None
    return TOKENIZERS[kind].load(directory)


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """input_ids and attention_mask, both int64 (B, T), T the longest sequence (at least 1)."""
    ids, mask = pad_ids(sequences, pad_id)
    return ids, mask.astype(np.int64)


class OnnxModel(ModelBase):
    """ClassifierModel (models/base.py) backed by an ONNX Runtime session; inference only."""

    config_class = OnnxConfig
    # The whole streaming chunk per call: `logits` sorts it by length and batches it itself.
    declared_capabilities = Capabilities(preferred_batch_size=WHOLE_CHUNK)

    def __init__(self, config: OnnxConfig, label_map: LabelMap, training: TrainingConfig, seed: int) -> None:
        self.config = config
        self.label_map = label_map
        self.training = training
        self.seed = seed
        self.directory: Path | None = None
        self.tokenizer = None
        self.session = None
        self.file: str | None = None
        self.workers = 1

    def fit(self, *args, **kwargs) -> dict:
        raise ModelError("an ONNX model is exported from a trained model (textclf export), not trained")

    def _feeds(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        if isinstance(self.tokenizer, TfidfFeatures):
            return self.tokenizer.features(texts)
        ids, mask = pad_batch(self.tokenizer.encode(list(texts), self.config.max_length), self.tokenizer.pad_id)
        return {"input_ids": ids, "attention_mask": mask}

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(["logits"], feeds)[0]

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Float32 logits (n, k), in input order: length-sorted batches of RUN_BATCH texts (fewer
        when that leaves a worker idle), tokenized here and run by `self.workers` threads; one
        worker runs batches of training.eval_batch_size. Tokenizers stay on this thread: their
        settings are not shared across threads."""
        texts = list(texts)
        out = np.zeros((len(texts), len(self.label_map)), dtype=np.float32)
        if not texts:
            return out
        size = self.training.eval_batch_size if self.workers == 1 else min(RUN_BATCH, -(-len(texts) // self.workers))
        batches = length_sorted_batches(texts, max(1, size))
        feeds = (self._feeds([texts[i] for i in idx]) for idx in batches)
        if self.workers == 1 or len(batches) == 1:
            return self._scatter(out, batches, map(self._run, feeds))
        with ThreadPoolExecutor(self.workers, thread_name_prefix="textclf-onnx") as pool:
            return self._scatter(out, batches, pool.map(self._run, feeds))

    @staticmethod
    def _scatter(out: np.ndarray, batches: list[np.ndarray], parts) -> np.ndarray:
        for idx, part in zip(batches, parts):
            out[idx] = part
        return out

    def use(self, file: str, threads: int = 1) -> OnnxModel:
        """Switch to another graph in the same directory (e.g. the int8 one); `threads` per worker."""
        import onnxruntime as ort

        path = self.directory / file
        if not path.is_file():
            hint = "export with --quantize to get the int8 model" if file == INT8_FILE else "export again"
            parity = self.directory / "parity.json"
            if file == INT8_FILE and parity.is_file():  # an int8 model refused at export says why
                hint = json.loads(parity.read_text(encoding="utf-8")).get("int8", {}).get("refused") or hint
            raise ModelError(f"{path}: missing ({hint})")
        self.session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
        self.file = file
        # TF-IDF features are counted in Python and its graph is one sparse product: side-by-side
        # workers only add overhead there (6,000 texts: 0.40 s against 0.26 s on one thread).
        self.workers = 1 if isinstance(self.tokenizer, TfidfFeatures) else worker_count()
        return self

    def save(self, directory: Path) -> None:
        for path in self.directory.iterdir():  # tokenizers may keep their files in a subfolder
            if path.is_dir():
                shutil.copytree(path, Path(directory) / path.name)
            elif path.name not in CLASSIFIER_FILES:
                shutil.copy2(path, Path(directory) / path.name)

    @classmethod
    def load(cls, directory: Path, config: OnnxConfig, label_map: LabelMap, training: TrainingConfig, seed: int):
        model = cls(config, label_map, training, seed)
        model.directory = Path(directory)
        model.tokenizer = load_tokenizer(config.tokenizer, model.directory)
        return model.use(config.file)

    def max_tokens(self) -> int | None:
        return self.config.max_length

    def vocabulary(self) -> dict[str, int | None] | None:
        if not hasattr(self.tokenizer, "vocabulary"):
            return None
        return {token.lower(): None for token in self.tokenizer.vocabulary() if not token.startswith("##")}


