"""One call for every recurrent layer: ours from scratch or the fused ``torch.nn`` one.

:func:`make_recurrent` builds an RNN, LSTM or GRU stack either from ``rnn.py`` / ``lstm.py`` /
``gru.py`` (``impl="scratch"``, written like the equations) or as ``torch.nn.RNN`` / ``LSTM`` /
``GRU`` with ``batch_first=True`` (``impl="fused"``, cuDNN on a GPU). Both are called as
``out, state = layer(x, state=None)`` with x (B, T, C) and have the same parameter names, so a
state dict moves between them. The options each cell takes are checked here, once, for both.

Shapes: B batch, T time, C input features.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from seqlab.checks import check_bool, check_choice, check_dropout, check_positive_int
from seqlab.models.gru import GRU, RESETS
from seqlab.models.lstm import LSTM, check_proj_size
from seqlab.models.rnn import NONLINEARITIES, RNN

__all__ = ["CELLS", "IMPLS", "OPTIONS", "make_recurrent"]

CELLS: tuple[str, ...] = ("rnn", "lstm", "gru")
IMPLS: tuple[str, ...] = ("scratch", "fused")
_COMMON = ("bias", "bidirectional", "dropout")
OPTIONS: dict[str, tuple[str, ...]] = {  # the keyword options of each cell's layer
    "rnn": (*_COMMON, "nonlinearity"),
    "lstm": (*_COMMON, "peephole", "proj_size"),
    "gru": (*_COMMON, "reset"),
}


def make_recurrent(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    impl: str = "scratch",
    **kw: Any,
) -> nn.Module:
    """A recurrent layer stack: our from-scratch one or the fused ``torch.nn`` one.

    Inputs: ``cell`` "rnn" | "lstm" | "gru"; ``impl`` "scratch" (``seqlab.models.RNN`` ...) or
    "fused" (``torch.nn.RNN`` ... with ``batch_first=True``). ``kw`` are the layer's options
    (:data:`OPTIONS`): ``bias``, ``bidirectional``, ``dropout``, and ``nonlinearity`` (rnn),
    ``peephole`` and ``proj_size`` (lstm), ``reset`` (gru).
    Outputs: a module called as ``out, state = layer(x, state=None)`` with x (B, T, C).
    Raises ``ValueError`` for an unknown cell, impl or option (naming it), a bad size or option
    value, and for what the fused kernels cannot do: ``peephole=True``, ``reset="before"``.
    """
    check_choice(cell, CELLS, "cell")
    check_choice(impl, IMPLS, "impl")
    unknown = sorted(set(kw) - set(OPTIONS[cell]))
    if unknown:
        raise ValueError(
            f"unknown option {', '.join(map(repr, unknown))} for cell {cell!r}; "
            f"valid: {', '.join(OPTIONS[cell])}"
        )
    if impl == "scratch":
        scratch = {"rnn": RNN, "lstm": LSTM, "gru": GRU}[cell]
        return scratch(input_size, hidden_size, num_layers, **kw)

    if check_bool(kw.pop("peephole", False), "peephole"):
        raise ValueError(
            "impl='fused' (torch.nn.LSTM) has no peephole connections; use impl='scratch'"
        )
    reset = kw.pop("reset", "after")
    check_choice(reset, RESETS, "reset")
    if reset != "after":
        raise ValueError(
            "impl='fused' (torch.nn.GRU) applies the reset gate after the matrix product "
            "(reset='after'); use impl='scratch' for reset='before'"
        )
    input_size = check_positive_int(input_size, "input_size")
    hidden_size = check_positive_int(hidden_size, "hidden_size")
    num_layers = check_positive_int(num_layers, "num_layers")
    kw["dropout"] = check_dropout(kw.get("dropout", 0.0))
    for flag in ("bias", "bidirectional"):
        check_bool(kw.get(flag, flag == "bias"), flag)
    if "nonlinearity" in kw:
        check_choice(kw["nonlinearity"], NONLINEARITIES, "nonlinearity")
    if "proj_size" in kw:
        kw["proj_size"] = check_proj_size(kw["proj_size"], hidden_size)
    fused = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
    return fused(input_size, hidden_size, num_layers, batch_first=True, **kw)
