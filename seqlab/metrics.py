"""Unit conversions of a language model's loss: nats -> bits per character, perplexity.

The glossary (``seqlab/__init__.py``) fixes the names: ``loss`` is the mean cross-entropy in
nats per token, ``bpc = loss / ln 2`` (bits per character; per token for char-level models),
``ppl = exp(loss)`` (perplexity). Both accept a float, a NumPy array or a pandas Series and
return the same kind. This module sits at the bottom layer beside ``device`` and ``checks``
and imports only NumPy.
"""

from __future__ import annotations

import math

import numpy as np


def _checked(loss, name: str = "loss"):
    """Return ``loss`` as a float or float array; ``ValueError`` if negative or NaN."""
    if isinstance(loss, bool) or loss is None:
        raise ValueError(f"{name} must be a number of nats >= 0, got {loss!r}")
    arr = np.asarray(loss, dtype=np.float64)
    if np.isnan(arr).any() or (arr < 0).any():
        raise ValueError(f"{name} must be a cross-entropy in nats (>= 0, not NaN), got {loss!r}")
    return arr


def bpc(loss):
    """Bits per character from a loss in nats per character: ``loss / ln 2``.

    Inputs: ``loss`` >= 0 (float, array or Series; ``inf`` allowed and kept).
    Outputs: the same kind, in bits. Raises ``ValueError`` for a negative or NaN loss.
    """
    arr = _checked(loss)
    out = arr / math.log(2.0)
    return _like(loss, out)


def ppl(loss):
    """Perplexity from a loss in nats per token: ``exp(loss)``, the effective branching factor.

    Inputs: ``loss`` >= 0 (float, array or Series). Outputs: the same kind, >= 1.
    Raises ``ValueError`` for a negative or NaN loss.
    """
    arr = _checked(loss)
    with np.errstate(over="ignore"):
        out = np.exp(arr)
    return _like(loss, out)


def _like(template, values: np.ndarray):
    """Return ``values`` as a float for scalar input, a Series for a Series, else an array."""
    if np.ndim(template) == 0:
        return float(values)
    if hasattr(template, "index") and hasattr(template, "name"):  # pandas Series
        return type(template)(values, index=template.index, name=template.name)
    return values


def bits_per_char(total_nats, n_chars):
    """Bits per character of a text from a model's total loss on it, whatever its tokens:
    ``total_nats / n_chars / ln 2``.

    Inputs: ``total_nats`` >= 0, the summed cross-entropy (nats) of every predicted token;
    ``n_chars`` > 0, the characters those tokens spell. A per-token loss divides by the number
    of tokens instead, so it cannot compare tokenizers; per character it can.
    Raises ``ValueError`` for a negative or NaN total or a non-positive ``n_chars``.
    """
    total = _checked(total_nats, "total_nats")
    n = np.asarray(n_chars, dtype=np.float64)
    if np.isnan(n).any() or (n <= 0).any():
        raise ValueError(f"n_chars must be > 0, got {n_chars!r}")
    return _like(total_nats, total / n / math.log(2.0))
