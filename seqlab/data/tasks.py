"""Synthetic sequence tasks, each with the score of a model that has no memory.

Every task is generated from a ``torch.Generator`` (same seed -> same data) and returns
batch-first tensors. The "no-memory baseline" is what the best model that cannot carry
information across time achieves; a model has learned to remember only when it beats it.

- :func:`copy_task` — recall 10 symbols after a delay (Arjovsky et al. 2016).
- :func:`adding_task` — add the two marked numbers of a long sequence (Hochreiter & Schmidhuber 1997).
- :func:`reversal_task` — output the input backwards (Sutskever et al. 2014 reverse the source).
- :func:`date_task` — human-written dates -> ISO 8601 ``YYYY-MM-DD``, for encoder-decoders.

Shape letters: B batch (``n``), T time, S source length, U target length, V vocabulary.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import torch

# ---------------------------------------------------------------- helpers


def _check_count(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _generator(generator: torch.Generator | None, seed: int | None) -> torch.Generator | None:
    if seed is not None and generator is not None:
        raise ValueError("pass either seed or generator, not both")
    return torch.Generator().manual_seed(seed) if seed is not None else generator


def _predictions(logits_or_ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Accept logits (..., V) or ids shaped like ``targets``; return ids."""
    if logits_or_ids.shape == targets.shape:
        return logits_or_ids
    if logits_or_ids.shape[:-1] != targets.shape:
        raise ValueError(
            f"expected logits of shape {(*targets.shape, 'V')} or ids of shape "
            f"{tuple(targets.shape)}, got {tuple(logits_or_ids.shape)}"
        )
    return logits_or_ids.argmax(-1)


def token_accuracy(logits_or_ids: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of positions where the prediction (argmax of logits, or ids) equals the target."""
    pred = _predictions(logits_or_ids, targets)
    return (pred == targets).float().mean().item()


def sequence_accuracy(logits_or_ids: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows (B, ...) whose every position is right (exact match)."""
    pred = _predictions(logits_or_ids, targets)
    return (pred == targets).flatten(1).all(1).float().mean().item()


# ---------------------------------------------------------------- copy memory

COPY_BLANK = 0  # symbols are 1..n_symbols, the delimiter is n_symbols + 1


def copy_task(
    n: int,
    T: int,
    n_symbols: int = 8,
    n_copy: int = 10,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The copy-memory task of Arjovsky, Shah & Bengio (2016), "Unitary Evolution RNNs", §4.1.

    Input (length T + 2·n_copy): ``n_copy`` symbols drawn uniformly from ``1..n_symbols``,
    then T - 1 blanks (0), the delimiter (``n_symbols + 1``), then ``n_copy`` blanks.
    Target: T + n_copy blanks, then the ``n_copy`` symbols. V = n_symbols + 2.

    Outputs: ``x`` (B, T + 2·n_copy) long, ``y`` (B, T + 2·n_copy) long. Use an embedding or
    ``F.one_hot(x, n_symbols + 2)``. Baseline: :func:`copy_baseline`.
    """
    _check_count(n, "n")
    _check_count(T, "T")
    _check_count(n_symbols, "n_symbols")
    _check_count(n_copy, "n_copy")
    g = _generator(generator, seed)
    symbols = torch.randint(1, n_symbols + 1, (n, n_copy), generator=g)  # (B, n_copy)
    x = torch.zeros(n, T + 2 * n_copy, dtype=torch.long)  # (B, T + 2 n_copy)
    y = torch.zeros_like(x)
    x[:, :n_copy] = symbols
    x[:, n_copy + T - 1] = n_symbols + 1
    y[:, -n_copy:] = symbols
    return x, y


def copy_baseline(T: int, n_symbols: int = 8, n_copy: int = 10) -> float:
    """Cross-entropy (nats per step) of the memoryless strategy: blanks, then uniform guesses.

    ``n_copy · log(n_symbols) / (T + 2·n_copy)``; with the paper's 10 symbols from 8 letters that
    is ``10 log 8 / (T + 20)`` (Arjovsky et al. 2016, §4.1).
    """
    _check_count(T, "T")
    return n_copy * math.log(n_symbols) / (T + 2 * n_copy)


def copy_accuracy(logits_or_ids: torch.Tensor, y: torch.Tensor, n_copy: int = 10) -> float:
    """Accuracy on the ``n_copy`` recalled symbols only (chance: 1 / n_symbols)."""
    return token_accuracy(logits_or_ids[:, -n_copy:], y[:, -n_copy:])


# ---------------------------------------------------------------- adding problem

#: MSE of always predicting 1.0: Var(U1 + U2) = 2/12 for two independent U(0, 1).
ADDING_BASELINE_MSE = 1.0 / 6.0


def adding_task(
    n: int,
    T: int,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The adding problem (Hochreiter & Schmidhuber 1997, "Long Short-Term Memory", exp. 4).

    In the common form of Le et al. (2015) and Arjovsky et al. (2016): channel 0 holds T numbers
    from U(0, 1); channel 1 is 0 except for two 1-markers, one in the first half and one in the
    second half. The target is the sum of the two marked numbers.

    Outputs: ``x`` (B, T, 2) float, ``y`` (B, 1) float (shaped like a ``Linear(H, 1)`` readout,
    so an MSE cannot silently broadcast). Baseline: predicting 1.0 gives
    :data:`ADDING_BASELINE_MSE` = 1/6 ≈ 0.167. T >= 2.
    """
    _check_count(n, "n")
    _check_count(T, "T")
    if T < 2:
        raise ValueError(f"the adding problem needs T >= 2 (two markers), got T={T}")
    g = _generator(generator, seed)
    values = torch.rand(n, T, generator=g)  # (B, T)
    first = torch.randint(0, T // 2, (n,), generator=g)  # (B,)
    second = torch.randint(T // 2, T, (n,), generator=g)  # (B,)
    markers = torch.zeros(n, T)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = torch.stack([values, markers], dim=-1)  # (B, T, 2)
    y = (values[rows, first] + values[rows, second]).unsqueeze(1)  # (B, 1)
    return x, y


def adding_mse(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Mean squared error with a shape check (pred and y both (B, 1))."""
    if pred.shape != y.shape:
        raise ValueError(f"expected pred of shape {tuple(y.shape)}, got {tuple(pred.shape)}")
    return torch.mean((pred.float() - y.float()) ** 2).item()


# ---------------------------------------------------------------- sequence reversal


def reversal_task(
    n: int,
    T: int,
    n_symbols: int = 10,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Output the input sequence backwards: ``y[:, t] = x[:, T-1-t]``.

    Sutskever, Vinyals & Le (2014) found that reversing the source helps an LSTM
    encoder-decoder; here reversal is the task itself (as in the UvA DL tutorials). The first
    output needs the last input and the last output the first, so a causal model must remember
    the whole sequence. Outputs: ``x``, ``y`` (B, T) long in ``0..n_symbols-1``. Memoryless
    baseline: accuracy 1 / n_symbols, cross-entropy log(n_symbols) (except the middle step).
    """
    _check_count(n, "n")
    _check_count(T, "T")
    _check_count(n_symbols, "n_symbols")
    g = _generator(generator, seed)
    x = torch.randint(0, n_symbols, (n, T), generator=g)  # (B, T)
    return x, x.flip(1)


# ---------------------------------------------------------------- date translation

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

#: Human date formats (English names, no locale involved). Numeric ones are unambiguous:
#: slashes are always US month/day, dots always European day.month.
DATE_FORMATS: tuple[str, ...] = (
    "{d} {Month} {Y}",  # 7 March 2021
    "{dd} {Mon} {Y}",  # 07 Mar 2021
    "{Month} {d}, {Y}",  # March 7, 2021
    "{Mon} {d}, {Y}",  # Mar 7, 2021
    "{Weekday}, {Month} {d}, {Y}",  # Sunday, March 7, 2021
    "{Wkd} {d} {Mon} {Y}",  # Sun 7 Mar 2021
    "{month} {d} {Y}",  # march 7 2021
    "{MONTH} {d}, {Y}",  # MARCH 7, 2021
    "{mm}/{dd}/{Y}",  # 03/07/2021
    "{d}.{m}.{Y}",  # 7.3.2021
)
DATE_START, DATE_END = dt.date(1950, 1, 1), dt.date(2049, 12, 31)


def format_date(date: dt.date, fmt: str) -> str:
    """Write ``date`` in one of :data:`DATE_FORMATS` (English names, independent of locale)."""
    month, weekday = MONTHS[date.month - 1], WEEKDAYS[date.weekday()]
    return fmt.format(
        d=date.day, dd=f"{date.day:02d}", m=date.month, mm=f"{date.month:02d}", Y=date.year,
        Month=month, Mon=month[:3], month=month.lower(), MONTH=month.upper(),
        Weekday=weekday, Wkd=weekday[:3],
    )  # fmt: skip


def date_examples(
    n: int,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    start: dt.date = DATE_START,
    end: dt.date = DATE_END,
) -> list[tuple[str, str]]:
    """``n`` pairs (human text, ISO 8601 ``YYYY-MM-DD``) of dates uniform in [start, end]."""
    _check_count(n, "n")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    g = _generator(generator, seed)
    days = torch.randint(0, (end - start).days + 1, (n,), generator=g).tolist()
    fmts = torch.randint(0, len(DATE_FORMATS), (n,), generator=g).tolist()
    out = []
    for day, f in zip(days, fmts, strict=True):
        date = start + dt.timedelta(days=day)
        out.append((format_date(date, DATE_FORMATS[f]), date.isoformat()))
    return out


class DateVocab:
    """Characters of every date format plus ``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2.

    One vocabulary for source and target (V = 3 + number of characters).
    """

    specials = ("<pad>", "<bos>", "<eos>")
    pad_id, bos_id, eos_id = 0, 1, 2

    def __init__(self) -> None:
        names = "".join(MONTHS + WEEKDAYS)
        chars = set(names) | set(names.lower()) | set(names.upper()) | set("0123456789 ,./-")
        self.itos: list[str] = list(self.specials) + sorted(chars)
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(self.itos)}

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str, length: int | None = None, bos: bool = False) -> list[int]:
        """``[<bos>] + chars + [<eos>]``, right-padded with ``<pad>`` to ``length``."""
        try:
            ids = [self.stoi[c] for c in text]
        except KeyError as err:
            raise KeyError(f"unknown character {err.args[0]!r} in date text {text!r}") from None
        ids = ([self.bos_id] if bos else []) + ids + [self.eos_id]
        if length is not None:
            if len(ids) > length:
                raise ValueError(f"{text!r} needs {len(ids)} tokens, more than length={length}")
            ids += [self.pad_id] * (length - len(ids))
        return ids

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """Ids (U,) -> text, skipping ``<bos>``/``<pad>`` and stopping at the first ``<eos>``."""
        out = []
        for i in torch.as_tensor(ids).tolist():
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                out.append(self.itos[i])
        return "".join(out)


DATE_VOCAB = DateVocab()
DATE_SRC_LEN = 32  # the longest format, "Wednesday, September 30, 2049", is 29 chars + <eos>
DATE_TGT_LEN = 12  # <bos> + YYYY-MM-DD + <eos>


def date_task(
    n: int,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Date translation for encoder-decoders: human date -> ISO 8601 (as in Neural Machine
    Translation tutorials after Bahdanau et al. 2015; dates from :func:`date_examples`).

    Outputs: ``src`` (B, S=32) = chars + ``<eos>``, right-padded with ``<pad>`` (0);
    ``tgt`` (B, U=12) = ``<bos>`` YYYY-MM-DD ``<eos>``. Teacher forcing feeds ``tgt[:, :-1]``
    and predicts ``tgt[:, 1:]``; score with :func:`sequence_accuracy`. Decode with
    ``DATE_VOCAB.decode``. A model that ignores its input cannot beat guessing the date
    (exact-match ≈ 1 / 36525 on the 100-year range).
    """
    pairs = date_examples(n, generator, seed)
    src = torch.tensor([DATE_VOCAB.encode(s, DATE_SRC_LEN) for s, _ in pairs])  # (B, S)
    tgt = torch.tensor([DATE_VOCAB.encode(t, DATE_TGT_LEN, bos=True) for _, t in pairs])  # (B, U)
    return src, tgt
