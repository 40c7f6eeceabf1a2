"""Vocabularies, padded tensors, splits and metrics for the translation tasks of chapter 4.

The pairs come from :mod:`seqlab.data.translation` (``"dates"``: human date -> ISO 8601,
``"numbers"``: number words -> digits). Tensors are batch-first, shape letters: N examples,
S source positions, T target positions; ids are ``torch.long`` with ``<pad>`` = 0.

Typical use::

    splits = translation_splits("dates", sizes=(8000, 1000, 1000), seed=0)
    train = splits["train"]  # train.src (N, S), train.tgt_in (N, T), train.tgt_out (N, T)
    ...
    guesses = train.tgt_vocab.decode_batch(predicted_ids)  # (N, T) ids -> N strings
    exact_match(guesses, train.targets), char_accuracy(guesses, train.targets)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import torch

from seqlab.data.translation import (
    DATE_LANGUAGES,
    NUMBER_LANGUAGES,
    Pair,
    date_alphabet,
    date_pairs,
    number_alphabet,
    number_pairs,
    parse_integer,
    parse_iso_date,
)

TASKS: tuple[str, ...] = ("dates", "numbers")


def _check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task={task!r}; known: {TASKS}")
    return task


class CharVocab:
    """Characters -> ids: ``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2, then the sorted characters.

    Built from a task's whole alphabet (:func:`task_vocabs`), never from sampled examples, so
    every split and every seed share the same ids.
    """

    specials = ("<pad>", "<bos>", "<eos>")
    pad_id, bos_id, eos_id = 0, 1, 2

    def __init__(self, chars: Iterable[str]) -> None:
        chars = sorted(set(chars))
        if any(len(c) != 1 for c in chars):
            raise ValueError(f"a CharVocab holds single characters, got {chars!r}")
        self.itos: list[str] = list(self.specials) + chars
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}

    @property
    def vocab_size(self) -> int:
        """V: number of ids, specials included."""
        return len(self.itos)

    @property
    def chars(self) -> str:
        return "".join(self.itos[len(self.specials) :])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and self.itos == other.itos

    def __hash__(self) -> int:
        return hash(tuple(self.itos))

    def __repr__(self) -> str:
        return f"CharVocab(vocab_size={self.vocab_size}, chars={self.chars!r})"

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Ids of ``[<bos>] + chars(text) + [<eos>]`` (no padding).

        Raises ValueError naming the character (and the text) when a character is not in the
        vocabulary.
        """
        ids = [self.bos_id] if bos else []
        for c in text:
            if c not in self.stoi or self.stoi[c] < len(self.specials):
                raise ValueError(f"character {c!r} of {text!r} is not in the vocabulary")
            ids.append(self.stoi[c])
        return ids + [self.eos_id] if eos else ids

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """Ids (L,) -> text: skips ``<pad>``/``<bos>``, stops at the first ``<eos>``."""
        out = []
        for i in torch.as_tensor(ids).tolist():
            if i == self.eos_id:
                break
            if i >= len(self.specials):
                out.append(self.itos[i])
        return "".join(out)

    def decode_batch(self, ids: torch.Tensor | Sequence[Sequence[int]]) -> list[str]:
        """Ids (N, L) -> N strings, each as :meth:`decode`."""
        return [self.decode(row) for row in ids]


@cache
def task_vocabs(task: str) -> tuple[CharVocab, CharVocab]:
    """(source vocabulary, target vocabulary) of ``task`` ("dates" or "numbers").

    Sources: every character of every supported language (:data:`DATE_LANGUAGES` or
    :data:`NUMBER_LANGUAGES`), whatever subset a split uses. Targets: digits, and "-" for dates.
    """
    if _check_task(task) == "dates":
        return CharVocab(date_alphabet(DATE_LANGUAGES)), CharVocab("0123456789-")
    src = "".join(number_alphabet(lang) for lang in NUMBER_LANGUAGES)
    return CharVocab(src), CharVocab("0123456789")


def pair_generator(task: str) -> Callable[..., list[Pair]]:
    """:func:`date_pairs` for "dates", :func:`number_pairs` for "numbers"."""
    return date_pairs if _check_task(task) == "dates" else number_pairs


def parse_target(text: str, task: str) -> dt.date | int:
    """The value a target names: a date (ISO ``YYYY-MM-DD``) or an int; ValueError if invalid."""
    return parse_iso_date(text) if _check_task(task) == "dates" else parse_integer(text)


def check_targets(targets: Iterable[str], task: str) -> None:
    """Raise ValueError at the first target that :func:`parse_target` rejects."""
    for text in targets:
        parse_target(text, task)


# ---------------------------------------------------------------- tensors and splits


@dataclass(frozen=True, eq=False)
class Seq2SeqData:
    """Padded, batch-first tensors of N pairs for teacher-forced seq2seq training.

    ``src`` (N, S): source chars + ``<eos>``, right-padded with ``<pad>`` (0).
    ``src_lengths`` (N,): tokens before the padding (len(source) + 1), for packing or masks.
    ``tgt_in`` (N, T): ``<bos>`` + target chars (the decoder's input), padded.
    ``tgt_out`` (N, T): target chars + ``<eos>`` (what it must predict), padded; give
    ``ignore_index=0`` to the cross-entropy. ``tgt_lengths`` (N,): len(target) + 1.
    """

    src: torch.Tensor
    src_lengths: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    tgt_lengths: torch.Tensor
    pairs: tuple[Pair, ...]
    src_vocab: CharVocab
    tgt_vocab: CharVocab

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def sources(self) -> list[str]:
        return [p.src for p in self.pairs]

    @property
    def targets(self) -> list[str]:
        return [p.tgt for p in self.pairs]

    @property
    def kinds(self) -> list[str]:
        return [p.kind for p in self.pairs]

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """(src, tgt_in, tgt_out, src_lengths, tgt_lengths): for ``TensorDataset(*data.tensors())``."""
        return self.src, self.tgt_in, self.tgt_out, self.src_lengths, self.tgt_lengths


def _pad(rows: list[list[int]], width: int, name: str) -> torch.Tensor:
    longest = max(map(len, rows), default=0)
    if longest > width:
        raise ValueError(f"{name}={width} is too short for a sequence of {longest} tokens")
    padded = [row + [CharVocab.pad_id] * (width - len(row)) for row in rows]
    return torch.tensor(padded, dtype=torch.long).reshape(len(rows), width)  # (N, width)


def encode_pairs(
    pairs: Sequence[Pair],
    src_vocab: CharVocab,
    tgt_vocab: CharVocab,
    S: int | None = None,
    T: int | None = None,
) -> Seq2SeqData:
    """Encode and pad ``pairs`` (see :class:`Seq2SeqData`).

    ``S``/``T``: padded widths; None = the longest source + 1 / target + 1. Raises ValueError
    when a character is not in a vocabulary or a sequence is longer than ``S``/``T``.
    """
    pairs = tuple(Pair(*p) for p in pairs)
    src = [src_vocab.encode(p.src, eos=True) for p in pairs]
    tgt = [tgt_vocab.encode(p.tgt) for p in pairs]
    S = max(map(len, src), default=1) if S is None else S
    T = max(map(len, tgt), default=0) + 1 if T is None else T
    return Seq2SeqData(
        src=_pad(src, S, "S"),  # (N, S)
        src_lengths=torch.tensor([len(s) for s in src], dtype=torch.long),  # (N,)
        tgt_in=_pad([[tgt_vocab.bos_id, *t] for t in tgt], T, "T"),  # (N, T)
        tgt_out=_pad([[*t, tgt_vocab.eos_id] for t in tgt], T, "T"),  # (N, T)
        tgt_lengths=torch.tensor([len(t) + 1 for t in tgt], dtype=torch.long),  # (N,)
        pairs=pairs,
        src_vocab=src_vocab,
        tgt_vocab=tgt_vocab,
    )


def translation_splits(
    task: str,
    sizes: tuple[int, int, int] = (8000, 1000, 1000),
    seed: int = 0,
    **kwargs,
) -> dict[str, Seq2SeqData]:
    """Train/val/test splits of ``task`` with no source text in two splits.

    Draws ``sum(sizes)`` unique pairs with :func:`date_pairs` / :func:`number_pairs` (``kwargs``
    go to it: ``languages``, ``formats``, ``lang``, ``max_value``, ``min_len``, ``max_len``,
    ``exclude``...) and cuts them in order. All three are padded to the same S and T and share
    :func:`task_vocabs`. Returns ``{"train": ..., "val": ..., "test": ...}``.

    Raises ValueError for an unknown task, sizes that are not three ints >= 0 with a positive
    sum, and whatever the generator raises for its arguments.
    """
    if (
        not isinstance(sizes, Sequence)
        or len(sizes) != 3
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in sizes)
        or sum(sizes) == 0
    ):
        raise ValueError(f"sizes must be three ints >= 0 (train, val, test), got sizes={sizes!r}")
    pairs = pair_generator(task)(sum(sizes), seed, unique=True, **kwargs)
    src_vocab, tgt_vocab = task_vocabs(task)
    S = max(len(p.src) for p in pairs) + 1
    T = max(len(p.tgt) for p in pairs) + 1
    out, start = {}, 0
    for name, size in zip(("train", "val", "test"), sizes, strict=True):
        out[name] = encode_pairs(pairs[start : start + size], src_vocab, tgt_vocab, S, T)
        start += size
    return out


# ---------------------------------------------------------------- metrics


def _check_same_length(predictions: Sequence[str], targets: Sequence[str]) -> None:
    if len(predictions) != len(targets) or not targets:
        raise ValueError(
            f"need as many predictions as targets, at least one: got {len(predictions)} "
            f"predictions and {len(targets)} targets"
        )


def exact_match(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """Fraction of predictions (decoded strings) equal to their target, in [0, 1]."""
    _check_same_length(predictions, targets)
    return sum(p == t for p, t in zip(predictions, targets, strict=True)) / len(targets)


def char_accuracy(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """Per-character accuracy in [0, 1]: characters equal at the same position, divided by the
    longer of prediction and target (summed over examples), so missing and extra characters
    both count as errors."""
    _check_same_length(predictions, targets)
    pairs = zip(predictions, targets, strict=True)
    right = sum(sum(a == b for a, b in zip(p, t, strict=False)) for p, t in pairs)
    total = sum(max(len(p), len(t)) for p, t in zip(predictions, targets, strict=True))
    return right / total if total else 1.0


def well_formed(predictions: Sequence[str], task: str) -> float:
    """Fraction of predictions that :func:`parse_target` accepts (a real date / an integer)."""
    _check_task(task)
    if not predictions:
        raise ValueError("need at least one prediction")
    ok = 0
    for text in predictions:
        try:
            parse_target(text, task)
            ok += 1
        except ValueError:
            pass
    return ok / len(predictions)


def bleu(*, predictions: Sequence[str], targets: Sequence[str]) -> float:
    """Corpus BLEU (Papineni et al. 2002) of ``predictions`` against one reference each, in
    [0, 100], computed by sacrebleu (Post 2018) on characters (``tokenize="char"``).

    Keyword-only on purpose: ``sacrebleu.corpus_bleu(hypotheses, [references])`` takes the
    system output first and a *list of reference streams* second; swapping the two, or passing
    the references as a flat list, gives a different number without an error.
    """
    from sacrebleu.metrics import BLEU

    _check_same_length(predictions, targets)
    return float(BLEU(tokenize="char").corpus_score(list(predictions), [list(targets)]).score)
