"""Tokenizers for neural models: texts -> lists of token ids.

Seam for other tokenizers (e.g. a Hugging Face fast tokenizer for `pretrained` models): anything
that satisfies `TextTokenizer` works with the batching code and `NeuralModel`:

    tokenizer.encode(texts, max_length) -> list[list[int]]   # ids, truncated, first id may be [CLS]
    tokenizer.pad_id: int                                    # id used for padding (masked anyway)
    tokenizer.vocab_size: int
    tokenizer.save(directory)  /  Cls.load(directory)         # files live in the saved-model dir

Optional, for long documents (text/long.py, models/long.py); both built-in tokenizers have them:

    tokenizer.encode_content(texts) -> list[list[int]]       # untruncated ids, no special tokens
    tokenizer.add_specials(ids) -> list[int]                 # e.g. [CLS] + ids (+ [SEP])
    tokenizer.add_specials_batch(contents) -> list[list[int]] # optional: add_specials of many at once
    tokenizer.num_specials: int                              # how many add_specials adds

`SubwordTokenizer` is the from-scratch one: a WordPiece or BPE vocabulary learned with the
`tokenizers` library from the TRAINING texts only (the API takes only those texts), stored as
`tokenizer.json` beside the weights. Every sequence starts with [CLS], so CLS pooling has a
position to read and an empty text still has one real token.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from pydantic import Field
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from ..config import Section
from ..errors import ModelError

PAD, UNK, CLS = "[PAD]", "[UNK]", "[CLS]"
TOKENIZER_FILE = "tokenizer.json"


@runtime_checkable
class TextTokenizer(Protocol):
    pad_id: int

    @property
    def vocab_size(self) -> int: ...

    def encode(self, texts: Sequence[str], max_length: int) -> list[list[int]]: ...

    def encode_content(self, texts: Sequence[str]) -> list[list[int]]: ...

    def vocabulary(self) -> list[str]: ...

    def save(self, directory: Path) -> None: ...


class TokenizerConfig(Section):
    """`model.tokenizer` for models trained from scratch."""

    # bpe fits are bit-reproducible (see fit); "word" keeps whole words (the vocab_size most
    # frequent, the rest [UNK]), as fastText does
    algorithm: Literal["bpe", "wordpiece", "word"] = "bpe"
    vocab_size: int = Field(8000, ge=1)
    min_frequency: int = Field(2, ge=1)  # a token seen fewer times in training gets no id
    lowercase: bool = True
    strip_accents: bool = False
    unicode_normalization: Literal["nfkc", "nfc", "none"] = "nfkc"


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a corpus becomes lists of token ids: those
    lists hold no cycles, yet allocating tens of thousands of them triggers full collections over
    every object in the process (measured: 0.2 s of a 1.5 s n-gram bag fit on 9,600 texts)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _normalizer(config: TokenizerConfig):
    steps = []
    if config.unicode_normalization == "nfkc":
        steps.append(normalizers.NFKC())
    elif config.unicode_normalization == "nfc":
        steps.append(normalizers.NFC())
    if config.strip_accents:
        steps += [normalizers.NFD(), normalizers.StripAccents()]
    if config.lowercase:
        steps.append(normalizers.Lowercase())
    return normalizers.Sequence(steps)


class SubwordTokenizer:
    """A subword vocabulary fitted on training texts. Construct with `fit` or `load`."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self.pad_id = _special_id(tokenizer, PAD)
        self.cls_id = _special_id(tokenizer, CLS)

    @classmethod
    def fit(cls, train_texts: Sequence[str], config: TokenizerConfig) -> SubwordTokenizer:
        specials = [PAD, UNK, CLS]  # PAD first: id 0
        # WordPiece vocabularies are learned with the BPE trainer ("##" marks word-inner pieces),
        # as WordPieceTrainer does internally. Caveat (tokenizers 0.23): with the "##" prefix the
        # trainer breaks count ties in hash-map order, so two WordPiece fits can differ by a few
        # tokens; plain BPE is reproducible, which is why it is the default.
        prefix = {"continuing_subword_prefix": "##"} if config.algorithm == "wordpiece" else {}
        if config.algorithm == "word":
            tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
            trainer = trainers.WordLevelTrainer(vocab_size=config.vocab_size, min_frequency=config.min_frequency,
                                                special_tokens=specials, show_progress=False)
        else:
            tokenizer = Tokenizer(models.BPE(unk_token=UNK, **prefix))
            trainer = trainers.BpeTrainer(vocab_size=config.vocab_size, min_frequency=config.min_frequency,
                                          special_tokens=specials, show_progress=False, **prefix)
        tokenizer.normalizer = _normalizer(config)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()  # words and punctuation
        tokenizer.train_from_iterator(list(train_texts), trainer=trainer)
        if config.algorithm == "wordpiece":
            tokenizer.model = _canonical_wordpiece(tokenizer.get_vocab(), specials)
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{CLS} $A", special_tokens=[(CLS, tokenizer.token_to_id(CLS))])
        return cls(tokenizer)

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size()

    def encode(self, texts: Sequence[str], max_length: int) -> list[list[int]]:
        """Ids per text, [CLS] first, at most `max_length` long (the tail is cut)."""
        encodings = self._tokenizer.encode_batch_fast(list(texts))  # _fast: no character offsets
        return [e.ids[:max_length] for e in encodings]

    def tokens(self, text: str) -> list[str]:
        return self._tokenizer.encode(text).tokens

    def vocabulary(self) -> list[str]:
        return list(self._tokenizer.get_vocab())

    # -- long documents: content first, then truncate or window, then specials ------------------
    num_specials = 1

    def encode_content(self, texts: Sequence[str]) -> list[list[int]]:
        """Ids per text without [CLS] and untruncated; `add_specials(content[:max_length - 1])`
        equals `encode(texts, max_length)`."""
        return [e.ids for e in self._tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)]

    def add_specials(self, ids: Sequence[int]) -> list[int]:
        return [self.cls_id, *ids]

    def save(self, directory: Path) -> None:
        self._tokenizer.save(str(Path(directory) / TOKENIZER_FILE))

    @classmethod
    def load(cls, directory: Path) -> SubwordTokenizer:
        path = Path(directory) / TOKENIZER_FILE
        if not path.is_file():
            raise ModelError(f"{path}: tokenizer file missing")
        return cls(Tokenizer.from_file(str(path)))


def _canonical_wordpiece(vocab: dict[str, int], specials: list[str]) -> models.WordPiece:
    """WordPiece over the learned vocabulary, numbered canonically (specials, then sorted);
    WordPiece matching is greedy longest-match, so ids do not change the splits."""
    ordered = specials + sorted(token for token in vocab if token not in specials)
    return models.WordPiece({token: i for i, token in enumerate(ordered)}, unk_token=UNK)


def _special_id(tokenizer: Tokenizer, token: str) -> int:
    token_id = tokenizer.token_to_id(token)
    if token_id is None:
        raise ModelError(f"tokenizer has no {token} token")
    return token_id
