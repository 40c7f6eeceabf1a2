"""The GRU from scratch (Cho et al. 2014), written like its equations, in the gate order of
``torch.nn.GRU`` (r, z, n):

    r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)          reset gate
    z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)          update gate
    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))     candidate, reset="after"
    n_t = tanh(W_in x_t + b_in + W_hn (r_t * h_{t-1}) + b_hn)     candidate, reset="before"
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}

The two candidate lines differ in *where* the reset gate acts. Cho et al. (2014) reset the old
state before the matrix product ("before"). ``torch.nn.GRU`` and cuDNN apply it after ("after"):
then W_hn h_{t-1} can be computed together with W_hr h_{t-1} and W_hz h_{t-1} in one matrix
product, which is faster. Same parameters, different functions: a trained model does not carry
over from one form to the other.

W_ir, W_iz, W_in are the three row blocks of ``weight_ih`` (3H, C); likewise W_h*, b_i*, b_h*.

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

RESETS: tuple[str, ...] = ("after", "before")


class GRUStep(NamedTuple):
    """What one GRU step computes, each (B, H): gates r, z, the candidate n and the new h."""

    r: torch.Tensor
    z: torch.Tensor
    n: torch.Tensor
    h: torch.Tensor


def gru_step(
    x_proj: torch.Tensor,
    h: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_hh: torch.Tensor | None,
    reset: str = "after",
) -> GRUStep:
    """One GRU step, the equations of the module docstring.

    Inputs: ``x_proj`` (B, 3H) = W_ih x_t + b_ih; ``h`` (B, H) = h_{t-1}; ``weight_hh`` (3H, H);
    ``bias_hh`` (3H,) or None; ``reset`` "after" (torch.nn.GRU) or "before" (Cho et al. 2014).
    Outputs: :class:`GRUStep` (r, z, n, h), each (B, H).
    """
    x_r, x_z, x_n = x_proj.chunk(3, dim=-1)  # each (B, H): W_i* x_t + b_i*
    if reset == "after":
        h_r, h_z, h_n = F.linear(h, weight_hh, bias_hh).chunk(3, dim=-1)  # each (B, H)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
    else:
        W_hr, W_hz, W_hn = weight_hh.chunk(3, dim=0)  # each (H, H)
        b_hr, b_hz, b_hn = bias_hh.chunk(3) if bias_hh is not None else (None, None, None)
        r = torch.sigmoid(x_r + F.linear(h, W_hr, b_hr))
        z = torch.sigmoid(x_z + F.linear(h, W_hz, b_hz))
        n = torch.tanh(x_n + F.linear(r * h, W_hn, b_hn))
    h = (1 - z) * n + z * h
    return GRUStep(r, z, n, h)


class GRUCell(nn.Module):
    """One GRU step as a module; parameters named as in ``torch.nn.GRUCell``.

    Inputs: ``x`` (B, C), ``h`` (B, H) or None (zeros).
    Outputs: ``h`` (B, H), the next hidden state.
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, reset: str = "after"
    ) -> None:
        super().__init__()
        input_size = check_positive_int(input_size, "input_size")
        hidden_size = check_positive_int(hidden_size, "hidden_size")
        check_bool(bias, "bias")
        check_choice(reset, RESETS, "reset")
        self.input_size, self.hidden_size, self.reset = input_size, hidden_size, reset
        H = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(3 * H, input_size))  # W_ir|W_iz|W_in
        self.weight_hh = nn.Parameter(torch.empty(3 * H, H))  # W_hr|W_hz|W_hn
        self.bias_ih = nn.Parameter(torch.empty(3 * H)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(3 * H)) if bias else None
        bound = 1.0 / math.sqrt(H)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        check_rank(x, 2, "x", "(B, C)")
        check_size(x, 1, self.input_size, "x", f"(B, C={self.input_size})")
        check_float_input(x, "x")
        shape = (x.shape[0], self.hidden_size)  # (B, H)
        if h is None:
            h = x.new_zeros(shape)
        check_rank(h, 2, "h", "(B, H)")
        if tuple(h.shape) != shape:
            raise ValueError(f"expected h of shape (B, H) = {shape}, got {tuple(h.shape)}")
        x_proj = F.linear(x, self.weight_ih, self.bias_ih)  # (B, 3H)
        return gru_step(x_proj, h, self.weight_hh, self.bias_hh, self.reset).h


class GRU(RecurrentLayer):
    """A stack of GRU layers over a sequence; with ``reset="after"`` equal to
    ``torch.nn.GRU(batch_first=True)``, with ``reset="before"`` the GRU of Cho et al. (2014).

    Inputs: ``x`` (B, T, C); ``state`` h_0 (L*D, B, H) or None (zeros).
    Outputs: ``out`` (B, T, D*H); ``h_n`` (L*D, B, H).
    """

    num_gates = 3
    state_names = ("h",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        bidirectional: bool = False,
        dropout: float = 0.0,
        reset: str = "after",
    ) -> None:
        check_choice(reset, RESETS, "reset")
        super().__init__(input_size, hidden_size, num_layers, bias, bidirectional, dropout)
        self.reset = reset

    def extra_repr(self) -> str:
        return super().extra_repr() + f", reset={self.reset!r}"

    def _cell(self, x_proj: torch.Tensor, state: tuple[torch.Tensor, ...], w: dict) -> GRUStep:
        (h,) = state
        return gru_step(x_proj, h, w["weight_hh"], w["bias_hh"], self.reset)

    def gates(self, x: torch.Tensor, state: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Gate activations of layer 0 (forward direction) at every step, for heatmaps.

        Inputs: ``x`` (B, T, C); ``state`` h_0 as in :meth:`forward`.
        Outputs: dict with ``"r", "z", "n", "h"``, each (B, T, H), detached.
        """
        return self.trace(x, state)
