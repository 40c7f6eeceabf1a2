"""A byte-pair-encoding (BPE) tokenizer trained on the book's corpus with Hugging Face's
``tokenizers`` library, behind the char tokenizer's interface (``encode``, ``decode``,
``vocab_size``).

BPE (Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword Units", ACL)
starts from single symbols and repeatedly merges the most frequent adjacent pair into a new
symbol until the vocabulary has ``vocab_size`` entries. Here the symbols are bytes shown as
printable characters and text is first split into words with their leading space (GPT-2's
byte-level pre-tokenizer), so merges never cross a word boundary and ``decode(encode(text))``
gives back ``text`` exactly. The trained tokenizer is saved as JSON under
:func:`seqlab.device.cache_dir` ``("tokenizers")``, keyed by the training text and the size:
trained once, loaded afterwards.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence

import torch

from seqlab.device import cache_dir

__all__ = ["BPETokenizer", "train_bpe"]


def _tokenizers():
    if importlib.util.find_spec("tokenizers") is None:
        raise ModuleNotFoundError(
            "the BPE tokenizer needs Hugging Face's tokenizers library: pip install tokenizers"
        )
    import tokenizers  # noqa: PLC0415  (optional dependency, checked above)

    return tokenizers


def _chunks(text: str, size: int = 1 << 16) -> list[str]:
    """``text`` cut after newlines into pieces of about ``size`` characters (joined: ``text``)."""
    out, start = [], 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end + 1
        out.append(text[start:end])
        start = end
    return out


class BPETokenizer:
    """A trained byte-level BPE tokenizer (see the module docstring); make one with
    :func:`train_bpe`.

    ``encode(text) -> LongTensor (N,)``, ``decode(ids) -> str``, ``pieces(text) -> list[str]``
    (the text of each token), ``vocab_size`` (V), ``path`` (the JSON file).
    """

    def __init__(self, tokenizer, path=None):
        self._tok = tokenizer
        self.path = path
        self._known: set[str] = set()  # characters checked to be encodable

    def _check_known(self, text: str) -> None:
        """``ValueError`` for a character none of whose tokens exist: BPE without an unknown
        token would silently drop it."""
        vocab = self._tok.get_vocab()
        new = set(text) - self._known
        bad = [ch for ch in new if not all(b in vocab for b in _byte_symbols(ch))]
        if bad:
            first = min(bad, key=text.index)  # the first one in the text
            raise ValueError(
                f"text contains {first!r}, which the tokenizer never saw in training; "
                "pass it in train_bpe's alphabet"
            )
        self._known |= new

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size()

    def encode(self, text: str) -> torch.Tensor:
        """Token ids (N,) of ``text``; long texts are encoded in newline-aligned chunks."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        self._check_known(text)
        ids: list[int] = []
        for enc in self._tok.encode_batch(_chunks(text)):
            ids.extend(enc.ids)
        return torch.tensor(ids, dtype=torch.long)

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """The text of ``ids`` (any 1-D sequence of ints)."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return self._tok.decode(ids)

    def pieces(self, text: str) -> list[str]:
        """The text each token of ``text`` stands for, in order (``"".join`` gives ``text``
        for ASCII text; a token may hold part of a multi-byte character)."""
        return [self.decode([i]) for i in self.encode(text).tolist()]

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size})"


def _byte_symbols(chars: str) -> list[str]:
    """The byte-level symbols (GPT-2's printable stand-ins for bytes) of ``chars``."""
    level = _tokenizers().pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    return [c for piece, _ in level.pre_tokenize_str(chars) for c in piece]


def train_bpe(text: str, vocab_size: int, alphabet: str = "", cache: bool = True) -> BPETokenizer:
    """Train byte-level BPE on ``text`` until it has ``vocab_size`` tokens (or no pair is left
    to merge), or load the one trained before on the same text and size.

    Inputs: ``text`` a non-empty str (the training split only: the tokenizer must not see the
    validation text); ``vocab_size`` >= the number of distinct bytes in ``text`` and
    ``alphabet``; ``alphabet``: characters to give a token even if ``text`` lacks them (e.g. the
    corpus' character set, which the char model knows too); ``cache`` False: train without
    reading or writing the file. ``encode`` raises ``ValueError`` for a character outside both.
    Raises ``ValueError`` for an empty text or a ``vocab_size`` below the byte alphabet, and
    ``ModuleNotFoundError`` without the ``tokenizers`` library.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("text must be a non-empty str to train a tokenizer on")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise ValueError(f"vocab_size must be an int, got {vocab_size!r}")
    n_bytes = len(set(text.encode("utf-8")) | set(alphabet.encode("utf-8")))
    if vocab_size < n_bytes:
        raise ValueError(
            f"vocab_size={vocab_size} is smaller than the {n_bytes} distinct bytes of the text "
            "and alphabet"
        )
    tk = _tokenizers()
    key = "".join(sorted(set(alphabet))) + "\0" + text
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]
    path = cache_dir("tokenizers") / f"bpe-{vocab_size}-{digest}.json" if cache else None
    if path is not None and path.is_file():
        return BPETokenizer(tk.Tokenizer.from_file(str(path)), path)
    tok = tk.Tokenizer(tk.models.BPE())
    tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tk.decoders.ByteLevel()
    initial = sorted(set(_byte_symbols("".join(sorted(set(alphabet))))))
    trainer = tk.trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=initial, show_progress=False
    )
    tok.train_from_iterator(_chunks(text), trainer=trainer)
    if path is not None:
        tmp = path.with_suffix(".tmp")
        tok.save(str(tmp))
        tmp.replace(path)
    return BPETokenizer(tok, path)
