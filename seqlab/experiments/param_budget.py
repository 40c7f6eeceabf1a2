"""Parameter counts of recurrent layers from the formula, and sizes for an equal budget.

A layer with G gates per hidden unit (RNN 1, GRU 3, LSTM 4) has, per direction,

    G * (H*C + H*H + 2*H)        W_ih (G*H, C), W_hh (G*H, H), b_ih and b_hh (G*H,)

parameters, where C is the layer's input size (the model input for layer 0, D*H above it).
``torch.nn`` keeps two bias vectors, b_ih and b_hh, where one would do: cuDNN's convention.
The LSTM's optional peepholes add 3*H per layer and direction.

To compare cells "at equal parameters", :func:`hidden_for_budget` finds the hidden size whose
count comes closest to a target. A GRU then gets about sqrt(4/3) and an RNN about 2 times the
hidden size of an LSTM of the same budget (when H*H dominates). :func:`param_counts` checks the
formula against ``torch.nn`` over a range of hidden sizes.

Letters: C input features, H hidden, G gates, L layers, D directions, V vocabulary, E embedding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import torch

from seqlab.checks import check_choice

GATES: dict[str, int] = {"rnn": 1, "gru": 3, "lstm": 4}


def _check_int(value: int, name: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def recurrent_param_count(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bias: bool = True,
    bidirectional: bool = False,
    peephole: bool = False,
) -> int:
    """Parameters of a recurrent layer stack, from the formula in the module docstring.

    Equals ``sum(p.numel() for p in torch.nn.LSTM(C, H, L, ...).parameters())`` (and for RNN,
    GRU, and our from-scratch layers, peepholes included).
    """
    check_choice(cell, tuple(GATES), "cell")
    for value, name in ((input_size, "input_size"), (hidden_size, "hidden_size")):
        _check_int(value, name)
    _check_int(num_layers, "num_layers")
    if peephole and cell != "lstm":
        raise ValueError(f"peepholes exist for cell='lstm' only, got cell={cell!r}")
    G, H, D = GATES[cell], hidden_size, 2 if bidirectional else 1
    total = 0
    for layer in range(num_layers):
        C = input_size if layer == 0 else D * H
        per_direction = G * (H * C + H * H + (2 * H if bias else 0))
        per_direction += 3 * H if peephole else 0
        total += D * per_direction
    return total


def lm_param_count(cell: str, vocab_size: int, n_embd: int, hidden: int, layers: int = 1) -> int:
    """Parameters of a ``RecurrentLM``: embedding V*E + recurrent stack + head H*V + V."""
    _check_int(vocab_size, "vocab_size")
    return (
        vocab_size * n_embd
        + recurrent_param_count(cell, n_embd, hidden, layers)
        + hidden * vocab_size
        + vocab_size
    )


def hidden_for_budget(count: Callable[[int], int], budget: int, max_hidden: int = 1 << 14) -> int:
    """The hidden size H >= 1 whose ``count(H)`` is closest to ``budget``.

    Inputs: ``count``: H -> number of parameters, increasing in H (e.g.
    ``lambda H: lm_param_count("gru", V, E, H)``); ``budget`` > 0.
    Outputs: the best H (ties go to the smaller one). Binary search, so ~14 calls of ``count``.
    """
    _check_int(budget, "budget")
    lo, hi = 1, max_hidden
    while lo < hi:  # smallest H with count(H) >= budget
        mid = (lo + hi) // 2
        if count(mid) >= budget:
            hi = mid
        else:
            lo = mid + 1
    if lo > 1 and abs(count(lo - 1) - budget) <= abs(count(lo) - budget):
        return lo - 1
    return lo


def equal_budget_sizes(
    count: Callable[[str, int], int], reference: str, reference_hidden: int, cells: tuple[str, ...]
) -> dict[str, int]:
    """Hidden size per cell so every cell has about the parameters of ``reference`` at
    ``reference_hidden``. ``count(cell, H)`` gives the parameter count of a model.
    """
    budget = count(reference, reference_hidden)
    return {
        cell: reference_hidden
        if cell == reference
        else hidden_for_budget(lambda H, c=cell: count(c, H), budget)
        for cell in cells
    }


def param_counts(
    input_size: int = 32,
    hidden_sizes: Sequence[int] = (16, 32, 64, 128, 256, 512),
    cells: Sequence[str] = ("rnn", "gru", "lstm"),
) -> pd.DataFrame:
    """The formula beside ``model.parameters()`` of ``torch.nn.RNN/GRU/LSTM(input_size, H)``.

    Outputs: one row per cell and H: cell, hidden_size, G, formula, counted.
    """
    modules = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}
    rows = []
    for cell in cells:
        for H in hidden_sizes:
            counted = sum(p.numel() for p in modules[cell](input_size, H).parameters())
            formula = recurrent_param_count(cell, input_size, H)
            rows.append({"cell": cell, "hidden_size": H, "G": GATES[cell],
                         "formula": formula, "counted": counted})  # fmt: skip
    return pd.DataFrame(rows)
