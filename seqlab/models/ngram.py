"""A count-based n-gram language model over token ids: the baseline of the char-LM chapters.

A recurrent or attention LM earns credit only for the loss it reaches *below* this baseline on
the same split: an order-n model knows the previous n - 1 characters and nothing else.

Interpolated Kneser-Ney smoothing (Kneser & Ney 1995, ICASSP; in the interpolated form studied by
Chen & Goodman 1998, "An Empirical Study of Smoothing Techniques for Language Modeling", Harvard
TR-10-98, §2.7, with one discount D per model)::

    p_k(w | h) = ( max(c_k(h w) - D, 0) + D * N1+(h .) * p_{k-1}(w | h') ) / c_k(h .)

``h`` is the last k - 1 ids, ``h'`` is ``h`` without its oldest id, ``c_k(h .) = sum_w c_k(h w)``
and ``N1+(h .)`` is the number of distinct ``w`` with ``c_k(h w) > 0``. At the top order n,
``c_n`` is the raw count; at every lower order ``c_k(h w) = N1+(. h w)``, the number of distinct
ids seen *before* ``h w`` (the continuation count, Kneser-Ney's key idea). The recursion ends at
the uniform ``p_0(w) = 1 / V``, so with ``D > 0`` every id, also one never seen in training, gets
probability > 0. An unseen context (``c_k(h .) = 0``) passes ``p_{k-1}`` through unchanged. Since
``0 <= D <= 1 <= c``, each ``p_k(. | h)`` sums to 1 exactly (up to rounding).

Vectorised with NumPy: a k-gram is the int64 key ``sum_j ids[i-k+1+j] * V**(k-1-j)`` (exact, no
collisions while ``V**order < 2**62``); counts come from ``np.unique`` and look-ups from
``np.searchsorted``. No Python loop runs per character. Shape letters: N tokens, V vocabulary.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from seqlab.metrics import bpc, ppl

# The grid :func:`select_ngram` searches. On the Shakespeare split the val loss is lowest at
# order 7 and rises after it, so the default orders reach past the optimum instead of stopping at 5.
ORDERS = (1, 2, 3, 4, 5, 6, 7, 8)
DISCOUNTS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _check_discount(discount) -> float:
    if (
        isinstance(discount, bool)
        or not isinstance(discount, (int, float))
        or not 0 <= discount <= 1
    ):
        raise ValueError(f"discount must be a number in [0, 1], got {discount!r}")
    return float(discount)


def _as_ids(ids, vocab_size: int, name: str) -> np.ndarray:
    """Token ids (N,) as int64; ``ValueError`` for a wrong rank or dtype, no ids, bad ids."""
    if hasattr(ids, "detach"):  # torch.Tensor: no torch import needed
        ids = ids.detach().cpu().numpy()
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer token ids, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D token ids of shape (N,), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape (0,)): need at least one token id")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(
            f"{name} holds id {bad} at position {int(np.flatnonzero(arr == bad)[0])}; "
            f"valid ids are 0..{vocab_size - 1} (vocab_size={vocab_size})"
        )
    return arr.astype(np.int64, copy=False)


def _gram_keys(ids: np.ndarray, vocab_size: int, k: int) -> np.ndarray:
    """Keys of the k-grams ending at each position (N,); -1 where fewer than k ids precede."""
    keys = ids.copy()
    for j in range(1, k):  # add the id j steps back at digit V**j
        keys[j:] += ids[:-j] * vocab_size**j
    keys[: k - 1] = -1
    return keys


class _Table(NamedTuple):
    """One order's counts: sorted k-gram keys and their counts; per context its total and types."""

    keys: np.ndarray  # (G,) sorted k-gram keys
    counts: np.ndarray  # (G,) c_k(h w): raw at the top order, continuation below
    ctx: np.ndarray  # (H,) sorted context keys h = key // V
    ctx_total: np.ndarray  # (H,) c_k(h .)
    ctx_types: np.ndarray  # (H,) N1+(h .)


def _table(keys: np.ndarray, counts: np.ndarray, vocab_size: int) -> _Table:
    if keys.size == 0:  # an order longer than the training text: no k-grams at all
        empty = np.zeros(0, dtype=np.int64)
        return _Table(empty, empty, empty, empty, empty)
    ctx_all = keys // vocab_size  # sorted because keys are
    ctx, start, types = np.unique(ctx_all, return_index=True, return_counts=True)
    return _Table(keys, counts, ctx, np.add.reduceat(counts, start), types)


def _count_tables(ids: np.ndarray, vocab_size: int, max_order: int):
    """Raw tables for orders 1..max_order and continuation tables for orders 1..max_order-1."""
    raw, cont = {}, {}
    for k in range(1, max_order + 1):
        g = _gram_keys(ids, vocab_size, k)[k - 1 :]
        keys, counts = np.unique(g, return_counts=True)
        raw[k] = _table(keys, counts, vocab_size)
        if k > 1:  # N1+(. h w) for the (k-1)-gram h w: distinct k-gram types with that suffix
            suffix, n_before = np.unique(keys % vocab_size ** (k - 1), return_counts=True)
            cont[k - 1] = _table(suffix, n_before, vocab_size)
    return raw, cont


def _lookup(table: _Table, grams: np.ndarray, vocab_size: int):
    """(c(h w), c(h .), N1+(h .)) for each gram key; zeros where absent or where the key is -1."""
    out = []
    for sorted_keys, query, values in (
        (table.keys, grams, [table.counts]),
        (table.ctx, grams // vocab_size, [table.ctx_total, table.ctx_types]),
    ):
        if sorted_keys.size == 0:
            out += [np.zeros(grams.shape, dtype=np.int64) for _ in values]
            continue
        i = np.searchsorted(sorted_keys, query).clip(max=len(sorted_keys) - 1)
        hit = (sorted_keys[i] == query) & (grams >= 0)
        out += [np.where(hit, v[i], 0) for v in values]
    return out  # [c_hw, c_h, types_h], each shaped like grams


def _probs(terms, discount: float, vocab_size: int, shape) -> np.ndarray:
    """Run the interpolated Kneser-Ney recursion bottom-up over precomputed look-ups."""
    p = np.full(shape, 1.0 / vocab_size)
    for c_hw, c_h, types_h in terms:  # orders 1, 2, ..., n
        seen = c_h > 0
        mixed = (np.maximum(c_hw - discount, 0) + discount * types_h * p) / np.where(seen, c_h, 1)
        p = np.where(seen, mixed, p)
    return p


@dataclass(eq=False)
class NGramLM:
    """Order-``order`` character (token) LM with interpolated Kneser-Ney smoothing.

    Inputs: ``vocab_size`` V >= 1; ``order`` n >= 1 (context of n - 1 ids; 1 = unigram);
    ``discount`` D in [0, 1] (D = 0 is unsmoothed maximum likelihood: unseen ids get p = 0).
    Use: ``NGramLM(V, 5, 0.8).fit(train_ids).loss(val_ids)`` -> nats per token.
    Raises ``ValueError`` for a bad argument or bad ids; ``RuntimeError`` before :meth:`fit`.
    """

    vocab_size: int
    order: int = 3
    discount: float = 0.75
    tables: list = field(default=None, repr=False)  # _Table for orders 1..n, set by fit

    def __post_init__(self):
        self.vocab_size = _check_int(self.vocab_size, "vocab_size", 1)
        self.order = _check_int(self.order, "order", 1)
        self.discount = _check_discount(self.discount)
        if self.vocab_size**self.order >= 2**62:
            raise ValueError(
                f"order={self.order} is too high for vocab_size={self.vocab_size}: "
                "k-gram keys need vocab_size**order < 2**62"
            )

    def fit(self, train_ids) -> NGramLM:
        """Count the n-grams of ``train_ids`` (N,) (ints in 0..V-1; LongTensor or array)."""
        ids = _as_ids(train_ids, self.vocab_size, "train_ids")
        raw, cont = _count_tables(ids, self.vocab_size, self.order)
        self.tables = [cont[k] for k in range(1, self.order)] + [raw[self.order]]
        return self

    def _terms(self, grams_by_order):
        if self.tables is None:
            raise RuntimeError("NGramLM is not fitted: call fit(train_ids) first")
        return [
            _lookup(t, g, self.vocab_size) for t, g in zip(self.tables, grams_by_order, strict=True)
        ]

    def log_probs(self, ids) -> np.ndarray:
        """ln p(ids[i] | ids[max(0, i-n+1):i]) for every position i: (N,) float64, nats.

        Position i < n - 1 uses its shorter context (order i + 1 of the recursion); position 0
        uses order 1 (for n > 1 the continuation unigram). One position in N, so a loss over the
        val split matches the char LMs', which predict positions 1..N-1, to within ~1e-5 nats.
        """
        ids = _as_ids(ids, self.vocab_size, "ids")
        grams = [_gram_keys(ids, self.vocab_size, k) for k in range(1, self.order + 1)]
        with np.errstate(divide="ignore"):
            return np.log(_probs(self._terms(grams), self.discount, self.vocab_size, ids.shape))

    def loss(self, ids) -> float:
        """Mean cross-entropy over all N positions of ``ids`` (N,), in nats per token."""
        return float(-self.log_probs(ids).mean())

    def next_probs(self, context) -> np.ndarray:
        """p(w | context) for every w: (V,) float64, summing to 1.

        ``context`` holds the preceding ids (any length, may be empty: only the last n - 1 are
        used). Raises ``ValueError`` for a context of wrong rank, dtype or range.
        """
        ctx = np.asarray(context.detach().cpu() if hasattr(context, "detach") else context)
        if ctx.size == 0:
            ctx = np.zeros(0, dtype=np.int64)
        else:
            ctx = _as_ids(ctx, self.vocab_size, "context")
        ctx = ctx[len(ctx) - min(len(ctx), self.order - 1) :]  # the last n - 1 ids
        w, V = np.arange(self.vocab_size), self.vocab_size
        grams = []
        for k in range(1, self.order + 1):
            if k - 1 > len(ctx):
                grams.append(np.full(V, -1))
                continue
            h = ctx[len(ctx) - (k - 1) :]
            h_key = int(sum(int(x) * V ** (k - 2 - j) for j, x in enumerate(h)))
            grams.append(h_key * V + w)
        return _probs(self._terms(grams), self.discount, V, (V,))


@dataclass(frozen=True)
class NGramSelection:
    """What :func:`select_ngram` found: the search table and the chosen model.

    ``table``: one row per (order, discount) with ``val_loss`` (nats/char), ``bpc``, ``ppl`` and
    ``selected`` (the lowest ``val_loss``). ``n_train``/``n_val``: tokens in each split;
    ``fit_time_s``: seconds to count every order once; ``search_time_s``: seconds to score the grid.
    """

    table: pd.DataFrame
    model: NGramLM
    n_train: int
    n_val: int
    fit_time_s: float
    search_time_s: float

    @property
    def best(self) -> pd.Series:
        """The selected row: order, discount, val_loss, bpc, ppl."""
        return self.table[self.table["selected"]].iloc[0]


def select_ngram(
    train_ids, val_ids, vocab_size: int, orders=ORDERS, discounts=DISCOUNTS
) -> NGramSelection:
    """Choose the order and the Kneser-Ney discount on the validation split.

    Inputs: ``train_ids`` (N_train,) and ``val_ids`` (N_val,) token ids in 0..V-1; ``orders``
    (ints >= 1) and ``discounts`` (in [0, 1]) to try. Counting is done once, for the highest
    order (the lower orders' tables are shared), so the grid costs one fit plus cheap scoring.
    Outputs: :class:`NGramSelection`. The selected row is the lowest val loss; since it was
    chosen on val its val loss is slightly optimistic (two hyper-parameters, so by little).
    Warns (``UserWarning``) when the selected order is the largest tried: the optimum may lie
    beyond the grid. Raises ``ValueError`` for empty grids or bad values.
    """
    orders = sorted({_check_int(n, "orders", 1) for n in orders})
    discounts = sorted({_check_discount(d) for d in discounts})
    if not orders or not discounts:
        raise ValueError(f"orders and discounts must be non-empty, got {orders}, {discounts}")
    NGramLM(vocab_size, max(orders))  # validates vocab_size and the key range
    train = _as_ids(train_ids, vocab_size, "train_ids")
    val = _as_ids(val_ids, vocab_size, "val_ids")
    t0 = time.perf_counter()
    raw, cont = _count_tables(train, vocab_size, max(orders))
    t1 = time.perf_counter()
    grams = {k: _gram_keys(val, vocab_size, k) for k in range(1, max(orders) + 1)}
    cont_terms = {k: _lookup(cont[k], grams[k], vocab_size) for k in cont}
    rows = []
    for n in orders:
        terms = [cont_terms[k] for k in range(1, n)] + [_lookup(raw[n], grams[n], vocab_size)]
        for d in discounts:
            with np.errstate(divide="ignore"):
                loss = float(-np.log(_probs(terms, d, vocab_size, val.shape)).mean())
            rows.append({"order": n, "discount": d, "val_loss": loss})
    t2 = time.perf_counter()
    table = pd.DataFrame(rows)
    table["bpc"], table["ppl"] = bpc(table["val_loss"]), ppl(table["val_loss"])
    best = int(table["val_loss"].idxmin())
    table["selected"] = table.index == best
    n, d = int(table.at[best, "order"]), float(table.at[best, "discount"])
    if len(orders) > 1 and n == orders[-1]:
        warnings.warn(
            f"select_ngram chose order {n}, the largest tried: try higher orders", stacklevel=2
        )
    model = NGramLM(vocab_size, n, d)
    model.tables = [cont[k] for k in range(1, n)] + [raw[n]]
    return NGramSelection(table, model, len(train), len(val), t1 - t0, t2 - t1)
