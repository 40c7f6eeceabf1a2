"""The Elman RNN from scratch, written like its equation.

One step reads the input x_t and the previous hidden state h_{t-1}:

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    h_t = tanh(a_t)        (or relu(a_t))

:func:`rnn_step` is that equation; :class:`RNNCell` wraps it as a module for one step and
:class:`RNN` runs it over a sequence, for stacked and bidirectional layers, with the same
parameter names and shapes as ``torch.nn.RNN`` so that
``RNN(...).load_state_dict(torch.nn.RNN(...).state_dict())`` works.

Shapes: B batch, T time, C input features, H hidden, D directions, L layers.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.checks import (
    check_bool,
    check_choice,
    check_float_input,
    check_positive_int,
    check_rank,
    check_size,
)
from seqlab.models.recurrent_layer import RecurrentLayer

NONLINEARITIES: tuple[str, ...] = ("tanh", "relu")


class RNNStep(NamedTuple):
    """What one RNN step computes: the pre-activation ``a`` and the new hidden state ``h``, each (B, H)."""

    a: torch.Tensor
    h: torch.Tensor


def rnn_step(
    x_proj: torch.Tensor,
    h: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_hh: torch.Tensor | None,
    nonlinearity: str = "tanh",
) -> RNNStep:
    """One Elman step: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

    Inputs: ``x_proj`` (B, H) = W_ih x_t + b_ih (the input term, computed outside so a layer can
    do it for all t at once); ``h`` (B, H) = h_{t-1}; ``weight_hh`` (H, H); ``bias_hh`` (H,) or None.
    Outputs: :class:`RNNStep` with ``a`` (B, H), the pre-activation, and ``h`` (B, H) = h_t.
    """
    a = x_proj + F.linear(h, weight_hh, bias_hh)  # (B, H)
    h = torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a)
    return RNNStep(a, h)


class RNNCell(nn.Module):
    """One Elman RNN step as a module; parameters named as in ``torch.nn.RNNCell``.

    Inputs: ``x`` (B, C), ``h`` (B, H) or None (zeros).
    Outputs: ``h`` (B, H), the next hidden state.
    """

    def __init__(
        self, input_size: int, hidden_size: int, nonlinearity: str = "tanh", bias: bool = True
    ) -> None:
        super().__init__()
        input_size = check_positive_int(input_size, "input_size")
        hidden_size = check_positive_int(hidden_size, "hidden_size")
        check_bool(bias, "bias")
        check_choice(nonlinearity, NONLINEARITIES, "nonlinearity")
        self.input_size, self.hidden_size, self.nonlinearity = input_size, hidden_size, nonlinearity
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))  # W_ih (H, C)
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))  # W_hh (H, H)
        self.bias_ih = nn.Parameter(torch.empty(hidden_size)) if bias else None  # b_ih (H,)
        self.bias_hh = nn.Parameter(torch.empty(hidden_size)) if bias else None  # b_hh (H,)
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        check_rank(x, 2, "x", "(B, C)")
        check_size(x, 1, self.input_size, "x", f"(B, C={self.input_size})")
        check_float_input(x, "x")
        if h is None:
            h = x.new_zeros(x.shape[0], self.hidden_size)  # (B, H)
        check_rank(h, 2, "h", "(B, H)")
        if tuple(h.shape) != (x.shape[0], self.hidden_size):
            raise ValueError(
                f"expected h of shape (B, H) = {(x.shape[0], self.hidden_size)}, got {tuple(h.shape)}"
            )
        x_proj = F.linear(x, self.weight_ih, self.bias_ih)  # (B, H)
        return rnn_step(x_proj, h, self.weight_hh, self.bias_hh, self.nonlinearity).h


class RNN(RecurrentLayer):
    """A stack of Elman RNN layers over a sequence, equal to ``torch.nn.RNN(batch_first=True)``.

    Inputs: ``x`` (B, T, C); ``state`` h_0 (L*D, B, H) or None (zeros).
    Outputs: ``out`` (B, T, D*H), the top layer's h_t for every t; ``h_n`` (L*D, B, H).
    ``trace(x)`` records ``"a"`` (pre-activation) and ``"h"`` of layer 0 at every step.
    """

    num_gates = 1
    state_names = ("h",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        check_choice(nonlinearity, NONLINEARITIES, "nonlinearity")
        super().__init__(input_size, hidden_size, num_layers, bias, bidirectional, dropout)
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"

    def _cell(self, x_proj: torch.Tensor, state: tuple[torch.Tensor, ...], w: dict) -> RNNStep:
        (h,) = state
        return rnn_step(x_proj, h, w["weight_hh"], w["bias_hh"], self.nonlinearity)
