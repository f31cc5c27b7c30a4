"""Hashed token n-grams for the bag model (`model.type: bag`, `word_ngrams >= 2`), fastText style.

A bag of subword embeddings cannot tell "not good" from "good not". Adding one embedding row per
n-gram of adjacent tokens fixes that; as in fastText, n-grams are not stored as strings but hashed
into a fixed number of buckets:

    n-gram of token ids (a, b)  ->  FNV-1a (64-bit) over the ids as 4-byte little-endian words
                                ->  bucket = hash % buckets

The hash is plain integer arithmetic (never Python's salted `hash()`), so a bucket is the same in
every process and on every platform. N-grams are taken over the subword tokens of one text (or one
window of it), so they never cross a text boundary; frequent words are single tokens of the
vocabulary, where these are word n-grams, while a rare word's pieces add n-grams inside the word.

Unlike fastText, the embedding table does not hold a row for every bucket (2,000,000 x 100 floats
is fastText's 1.1 GB): `NgramTokenizer.fit` keeps only the buckets that occur in the TRAINING
texts (at least `min_count` times) and numbers them; an n-gram whose bucket has no row is left out
of the bag, just as an untrained fastText bucket would only add noise.

`NgramTokenizer` wraps the subword tokenizer and satisfies the same `TextTokenizer` contract
(text/tokenizers.py), so truncation, long-document windows, batching and ONNX export need nothing
new: a sequence is `[CLS] + subword ids + n-gram ids`, where n-gram row r has id
`subword vocab_size + r`. `max_length` still counts subword tokens only ([CLS] included); the
n-gram ids of the kept tokens come on top (at most `word_ngrams - 1` per token).

Files beside `tokenizer.json`: `ngrams.safetensors` (the kept buckets, int64, and the settings).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from ..errors import ModelError
from .tokenizers import SubwordTokenizer

NGRAMS_FILE = "ngrams.safetensors"
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1
FORMAT = "1"
_OFFSET, _PRIME = np.uint64(FNV_OFFSET), np.uint64(FNV_PRIME)
HASH_NAME = "fnv1a64"  # token: FNV-1a over its id's 4 LE bytes; n-gram: FNV-1a over token hashes


# -- pure functions -----------------------------------------------------------------------------------
def fnv1a64(data: bytes) -> int:
    """The 64-bit FNV-1a hash of `data`."""
    h = FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & MASK64
    return h


def token_hash(token_id: int) -> int:
    """FNV-1a (64-bit) over the id's 4 little-endian bytes."""
    if not 0 <= token_id < 1 << 32:
        raise ValueError(f"token id {token_id} outside [0, 2**32)")
    return fnv1a64(token_id.to_bytes(4, "little"))


def ngram_hashes(token_hashes: Sequence[int], max_n: int) -> list[int]:
    """Hashes of the n-grams (n = 2..max_n) of one sequence, given its tokens' `token_hash`es:
    FNV-1a again, over the token hashes (one 64-bit step per token), so order matters and n-grams
    of different n differ. Order: all bigrams by position, then all trigrams, ...; an n-gram
    never reaches past the end of the sequence."""
    return ngram_hash_array(np.asarray(token_hashes, dtype=np.uint64), max_n).tolist()


def ngram_hash_array(token_hashes: np.ndarray, max_n: int) -> np.ndarray:
    """`ngram_hashes` over a uint64 array, vectorised: numpy's uint64 products wrap modulo 2**64,
    which is the arithmetic FNV-1a needs. Over a concatenation of sequences, entry i of the
    n-gram block is the n-gram starting at token i (callers drop those that cross a boundary)."""
    states = (token_hashes ^ _OFFSET) * _PRIME  # after each n-gram's first token
    blocks = []
    for n in range(2, max_n + 1):
        states = (states[: len(token_hashes) - n + 1] ^ token_hashes[n - 1:]) * _PRIME
        blocks.append(states)
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.uint64)


def corpus_ngrams(sequences: Sequence[Sequence[int]], hash_table: np.ndarray, max_n: int,
                  buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """(bucket, owner) of every n-gram (n = 2..max_n) of every sequence, hashed in one pass over
    their concatenation; `owner` is the sequence's index, `hash_table[id]` each id's `token_hash`.
    N-grams that would cross from one sequence into the next are dropped. Order: by sequence,
    then as `ngram_hashes` orders one sequence."""
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    ids = np.fromiter(chain.from_iterable(sequences), dtype=np.int64, count=int(lengths.sum()))
    owner = np.repeat(np.arange(len(sequences)), lengths)
    hashes = ngram_hash_array(hash_table[ids], max_n)
    kept, owners = [], []
    offset = 0
    for n in range(2, max_n + 1):
        count = max(0, len(ids) - n + 1)
        same = owner[:count] == owner[n - 1:n - 1 + count]  # first and last token in one sequence
        kept.append(hashes[offset:offset + count][same])
        owners.append(owner[:count][same])
        offset += count
    owner_all = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
    order = np.argsort(owner_all, kind="stable")
    found = np.concatenate(kept) if kept else np.zeros(0, dtype=np.uint64)
    return (found[order] % np.uint64(buckets)).astype(np.int64), owner_all[order]


def ngram_buckets(sequences: Sequence[Sequence[int]], max_n: int, buckets: int) -> list[list[int]]:
    """For each id sequence, the buckets (`hash % buckets`) of its n-grams, n = 2..max_n, in
    `ngram_hashes` order. Each sequence is hashed alone: no n-gram crosses into the next text."""
    vocab = 1 + max((max(seq) for seq in sequences if len(seq)), default=0)
    found, owner = corpus_ngrams(sequences, token_hash_table(vocab), max_n, buckets)
    return split_by_owner(found, owner, len(sequences))


def split_by_owner(values: np.ndarray, owner: np.ndarray, count: int) -> list[list[int]]:
    """`values` (sorted by `owner`) as one list per owner 0..count-1; owners without values get []."""
    if not count:
        return []
    return [part.tolist() for part in np.split(values, np.searchsorted(owner, np.arange(1, count)))]


def token_hash_table(vocab_size: int) -> np.ndarray:
    """`token_hash` of every id below `vocab_size`, as uint64 (FNV-1a vectorised over the ids)."""
    if vocab_size > 1 << 32:
        raise ValueError(f"vocabulary of {vocab_size} ids: token ids must fit in 4 bytes")
    ids = np.arange(vocab_size, dtype=np.uint64)
    hashes = np.full(vocab_size, _OFFSET, dtype=np.uint64)
    for shift in (0, 8, 16, 24):  # the id's little-endian bytes
        hashes = (hashes ^ ((ids >> np.uint64(shift)) & np.uint64(0xFF))) * _PRIME
    return hashes


def fit_rows(bucket_lists: Sequence[Sequence[int]], min_count: int = 1) -> list[int]:
    """The buckets seen at least `min_count` times in `bucket_lists` (the training texts), sorted:
    bucket `rows[r]` gets n-gram embedding row r."""
    flat = np.fromiter(chain.from_iterable(bucket_lists), dtype=np.int64)
    return kept_buckets(flat, min_count).tolist()


def kept_buckets(found: np.ndarray, min_count: int) -> np.ndarray:
    values, counts = np.unique(found, return_counts=True)
    return values[counts >= min_count]


# -- the tokenizer --------------------------------------------------------------------------------------
class NgramTokenizer:
    """Subword ids plus hashed n-gram ids (see the module docstring). Construct with `fit` or `load`."""

    num_specials = SubwordTokenizer.num_specials

    def __init__(self, subwords: SubwordTokenizer, word_ngrams: int, buckets: int, rows: Sequence[int],
                 min_count: int = 1) -> None:
        if word_ngrams < 2:
            raise ValueError("word_ngrams must be at least 2 (1 is the plain subword tokenizer)")
        self.subwords = subwords
        self.word_ngrams = word_ngrams
        self.buckets = buckets
        self.min_count = min_count
        self.rows = np.asarray(rows, dtype=np.int64)  # sorted buckets; bucket rows[r] has n-gram row r
        self.pad_id = subwords.pad_id
        self.cls_id = subwords.cls_id
        self._token_hashes = token_hash_table(subwords.vocab_size)

    @classmethod
    def fit(cls, subwords: SubwordTokenizer, train_texts: Sequence[str], word_ngrams: int, buckets: int,
            min_count: int = 1) -> NgramTokenizer:
        """Number the n-gram buckets that occur in `train_texts` (at least `min_count` times)."""
        return cls.fit_content(subwords, subwords.encode_content(train_texts), word_ngrams, buckets, min_count)

    @classmethod
    def fit_content(cls, subwords: SubwordTokenizer, train_content: Sequence[Sequence[int]], word_ngrams: int,
                    buckets: int, min_count: int = 1) -> NgramTokenizer:
        """`fit` from the training texts' subword content ids (`subwords.encode_content`)."""
        found, _ = corpus_ngrams(train_content, token_hash_table(subwords.vocab_size), word_ngrams, buckets)
        return cls(subwords, word_ngrams, buckets, kept_buckets(found, min_count), min_count)

    @property
    def subword_vocab_size(self) -> int:
        return self.subwords.vocab_size

    @property
    def vocab_size(self) -> int:
        """Embedding rows the model needs: subword vocabulary + kept n-gram buckets."""
        return self.subword_vocab_size + len(self.rows)

    def ngram_ids(self, ids: Sequence[int]) -> list[int]:
        """Ids of the n-grams of one content sequence whose bucket has a row (`ngram_hashes` order)."""
        return self._ngram_ids([ids])[0]

    def _ngram_ids(self, contents: Sequence[Sequence[int]]) -> list[list[int]]:
        """`ngram_ids` of many sequences, hashed in one vectorised pass over all of them."""
        found, owner = corpus_ngrams(contents, self._token_hashes, self.word_ngrams, self.buckets)
        if len(self.rows):
            rows = np.minimum(np.searchsorted(self.rows, found), len(self.rows) - 1)
            hit = self.rows[rows] == found
            rows, owner = rows[hit] + self.subword_vocab_size, owner[hit]
        else:
            rows, owner = found[:0], owner[:0]
        return split_by_owner(rows, owner, len(contents))

    # -- the TextTokenizer contract ------------------------------------------------------------------
    def encode(self, texts: Sequence[str], max_length: int) -> list[list[int]]:
        """[CLS] + at most `max_length - 1` subword ids + the n-gram ids of those subwords."""
        budget = max(0, max_length - self.num_specials)
        return self.add_specials_batch([ids[:budget] for ids in self.encode_content(texts)])

    def encode_content(self, texts: Sequence[str]) -> list[list[int]]:
        """Subword ids without [CLS], untruncated. N-grams are added by `add_specials`, after
        truncation or windowing, so they cover exactly the tokens the model sees."""
        return self.subwords.encode_content(texts)

    def add_specials(self, ids: Sequence[int]) -> list[int]:
        """The model's sequence for content ids: [CLS], the ids, their n-gram ids."""
        return [*self.subwords.add_specials(ids), *self.ngram_ids(ids)]

    def add_specials_batch(self, contents: Sequence[Sequence[int]]) -> list[list[int]]:
        """`add_specials` of many content sequences at once (n-grams hashed in one pass)."""
        return [[*self.subwords.add_specials(ids), *more] for ids, more in zip(contents, self._ngram_ids(contents))]

    def tokens(self, text: str) -> list[str]:
        return self.subwords.tokens(text)

    def vocabulary(self) -> list[str]:
        return self.subwords.vocabulary()

    # -- files ------------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        self.subwords.save(directory)
        metadata = {"format": FORMAT, "hash": HASH_NAME, "word_ngrams": str(self.word_ngrams),
                    "buckets": str(self.buckets), "min_count": str(self.min_count)}
        save_file({"rows": self.rows}, str(Path(directory) / NGRAMS_FILE),
                  metadata=metadata)

    @classmethod
    def load(cls, directory: Path) -> NgramTokenizer:
        path = Path(directory) / NGRAMS_FILE
        if not path.is_file():
            raise ModelError(f"{path}: n-gram file missing (the model was saved with word_ngrams >= 2)")
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            rows = handle.get_tensor("rows")
        if metadata.get("format") != FORMAT or metadata.get("hash") != HASH_NAME:
            raise ModelError(f"{path}: unknown n-gram file (format {metadata.get('format')!r}, "
                             f"hash {metadata.get('hash')!r})")
        return cls(SubwordTokenizer.load(directory), int(metadata["word_ngrams"]), int(metadata["buckets"]),
                   rows, int(metadata["min_count"]))
