"""The on-disk cache of sentence embeddings: one immutable safetensors file per write, keyed by
what the encoder computes + max_length + how long texts are read + the SHA-1 of each text (see
models/embedding/model.py)."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...errors import TextclfError
from ...fileio import atomic_file


def default_cache_dir() -> Path:
    """$TEXTCLF_CACHE/embeddings, else ~/.cache/textclf/embeddings (beside the encoders/ cache)."""
    from ..encoder_registry import encoder_cache_dir

    return encoder_cache_dir().parent / "embeddings"


def text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    """Embeddings of one (encoder, max_length, variant) on disk:
    `directory/<identity>-len<max_length><variant>/`. `variant` names how texts longer than
    max_length are read ("" for truncation, as before it existed; "-windows16-windowauto-strideauto"
    and the like for window means), so vectors computed one way are never served for the other.

    Each write is one immutable safetensors shard (`keys`: (n, 20) uint8 text SHA-1s, `vectors`:
    (n, d) float32), named by the hash of its keys and moved into place atomically, so concurrent
    readers and writers only ever see whole shards; two processes writing the same texts write the
    same name. New shards written by other processes are picked up on the next lookup. `hits` and
    `misses` count the texts looked up (each distinct text once per `lookup`).
    Nothing is ever evicted: delete the directory to reclaim the space."""

    def __init__(self, directory: str | Path, identity: str, max_length: int, dim: int, variant: str = "") -> None:
        self.root = Path(directory).expanduser() / f"{identity[:32]}-len{max_length}{variant}"
        self.identity = identity
        self.variant = variant
        self.dim = int(dim)
        self.hits = 0
        self.misses = 0
        self._index: dict[bytes, tuple[str, int]] = {}  # text key -> (shard name, row)
        self._seen: set[str] = set()

    def _refresh(self) -> None:
        if not self.root.is_dir():
            return
        from safetensors import safe_open

        for name in sorted(os.listdir(self.root)):
            if name in self._seen or not name.endswith(".safetensors") or name.startswith("."):
                continue
            self._seen.add(name)
            try:
                with safe_open(str(self.root / name), framework="np") as handle:
                    meta = handle.metadata() or {}
                    if (meta.get("identity") != self.identity or int(meta.get("dim", -1)) != self.dim
                            or meta.get("variant", "") != self.variant):
                        continue
                    keys = handle.get_tensor("keys")
            except Exception:  # an unreadable shard (disk trouble, foreign file): its texts are misses
                continue
            for row, key in enumerate(keys):
                self._index.setdefault(key.tobytes(), (name, row))

    def lookup(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The cached vectors among `keys` (distinct), as key -> float32 (d,)."""
        from safetensors import safe_open

        self._refresh()
        by_shard: dict[str, list[tuple[bytes, int]]] = {}
        for key in keys:
            where = self._index.get(key)
            if where is not None:
                by_shard.setdefault(where[0], []).append((key, where[1]))
        found: dict[bytes, np.ndarray] = {}
        for name, wanted in by_shard.items():
            try:
                with safe_open(str(self.root / name), framework="np") as handle:
                    vectors = handle.get_tensor("vectors")
            except Exception:
                continue
            for key, row in wanted:
                found[key] = vectors[row]
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def store(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        if not len(keys):
            return
        from safetensors.numpy import save

        key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 20)
        name = hashlib.sha1(key_array.tobytes()).hexdigest()[:24] + ".safetensors"
        blob = save({"keys": key_array, "vectors": np.ascontiguousarray(vectors, dtype=np.float32)},
                    metadata={"identity": self.identity, "dim": str(self.dim), "variant": self.variant})
        try:
            with atomic_file(self.root / name, "wb") as handle:
                handle.write(blob)
        except (OSError, TextclfError) as err:  # a read-only or full cache slows later fits, nothing more
            warnings.warn(f"embedding cache {self.root}: not written ({err})", RuntimeWarning, stacklevel=3)
            return
        self._seen.add(name)
        for row, key in enumerate(keys):
            self._index.setdefault(key, (name, row))


# -- the encoder -----------------------------------------------------------------------------------
_VOLATILE_CONFIG_KEYS = {"_name_or_path", "name_or_path", "transformers_version", "architectures", "dtype",
                         "torch_dtype", "_attn_implementation_autoset", "_commit_hash"}


def encoder_identity(encoder, tokenizer) -> str:
    """A hex digest of what decides the embeddings: architecture, weights, tokenizer. A copy of the
    encoder saved elsewhere has the same identity, so it reads the same cache entries."""
    import torch

    digest = hashlib.sha256()
    config = {k: v for k, v in encoder.hf_config.to_dict().items()
              if k not in _VOLATILE_CONFIG_KEYS and not k.startswith("_")}
    digest.update(type(encoder.model).__name__.encode())
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    backend = json.loads(tokenizer.hf_tokenizer.backend_tokenizer.to_str())
    for key in ("truncation", "padding"):  # call-time settings, not what the tokenizer is
        backend.pop(key, None)
    digest.update(json.dumps(backend, sort_keys=True).encode())
    for name, tensor in sorted(encoder.model.state_dict().items()):
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}:{flat.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().data)
    return digest.hexdigest()
