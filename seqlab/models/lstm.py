"""The LSTM from scratch, written like its equations (Hochreiter & Schmidhuber 1997; forget gate
Gers et al. 2000), in the gate order of ``torch.nn.LSTM`` (i, f, g, o):

    i_t = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi + w_ci * c_{t-1})    input gate
    f_t = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf + w_cf * c_{t-1})    forget gate
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)                        candidate
    c_t = f_t * c_{t-1} + i_t * g_t                                          cell state
    o_t = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho + w_co * c_t)        output gate
    h_t = o_t * tanh(c_t)                                                    hidden state

``*`` is the elementwise product. The ``w_c*`` terms are the optional diagonal *peephole*
connections of Gers & Schmidhuber (2000): the gates look at the cell state (the output gate at the
new one, c_t). Without peepholes they are zero and the cell is exactly ``torch.nn.LSTM``'s.
W_ii, W_if, W_ig, W_io are the four row blocks of ``weight_ih`` (4H, C); likewise for W_h*,
b_i*, b_h*; the peephole vectors w_ci, w_cf, w_co are the rows of ``weight_ch`` (3, H).

With ``proj_size=P > 0`` (the LSTMP of Sak et al. 2014, as ``torch.nn.LSTM(proj_size=P)``) the
hidden state is projected to P features, h_t = W_hr (o_t * tanh(c_t)) with ``weight_hr`` (P, H):
h has size P, c keeps size H, and W_h* read the projected h, so ``weight_hh`` is (4H, P).

Shapes: B batch, T time, C input features, H hidden, P = proj_size or H (the size of h),
D directions, L layers.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.checks import check_bool, check_float_input, check_positive_int, check_rank, check_size
from seqlab.models.recurrent_layer import RecurrentLayer


class LSTMStep(NamedTuple):
    """What one LSTM step computes, each (B, H): the gates i, f, g, o and the new c and h
    (h is (B, P) with a projection)."""

    i: torch.Tensor
    f: torch.Tensor
    g: torch.Tensor
    o: torch.Tensor
    c: torch.Tensor
    h: torch.Tensor


def lstm_step(
    x_proj: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_hh: torch.Tensor | None,
    weight_ch: torch.Tensor | None = None,
    weight_hr: torch.Tensor | None = None,
) -> LSTMStep:
    """One LSTM step, the equations of the module docstring.

    Inputs: ``x_proj`` (B, 4H) = W_ih x_t + b_ih; ``h`` (B, P) = h_{t-1}; ``c`` (B, H) = c_{t-1};
    ``weight_hh`` (4H, P); ``bias_hh`` (4H,) or None; ``weight_ch`` (3, H) peepholes or None;
    ``weight_hr`` (P, H) projection or None (then P = H).
    Outputs: :class:`LSTMStep` (i, f, g, o, c, h), each (B, H) but h (B, P).
    """
    x_i, x_f, x_g, x_o = x_proj.chunk(4, dim=-1)  # each (B, H): W_i* x_t + b_i*
    h_i, h_f, h_g, h_o = F.linear(h, weight_hh, bias_hh).chunk(4, dim=-1)  # each (B, H)
    w_ci, w_cf, w_co = weight_ch if weight_ch is not None else (0.0, 0.0, 0.0)  # each (H,)

    i = torch.sigmoid(x_i + h_i + w_ci * c)
    f = torch.sigmoid(x_f + h_f + w_cf * c)
    g = torch.tanh(x_g + h_g)
    c = f * c + i * g
    o = torch.sigmoid(x_o + h_o + w_co * c)
    h = o * torch.tanh(c)  # (B, H)
    if weight_hr is not None:
        h = F.linear(h, weight_hr)  # (B, P)
    return LSTMStep(i, f, g, o, c, h)


def check_proj_size(proj_size: object, hidden_size: int) -> int:
    """Return ``proj_size``; raise ``ValueError`` unless it is an int with 0 <= P < hidden_size
    (0 = no projection), the rule of ``torch.nn.LSTM``."""
    if proj_size == 0 and not isinstance(proj_size, bool) and isinstance(proj_size, int):
        return 0
    P = check_positive_int(proj_size, "proj_size")
    if P >= hidden_size:
        raise ValueError(f"proj_size={P} must be smaller than hidden_size={hidden_size}")
    return P


def init_forget_bias(module: nn.Module, value: float = 1.0) -> nn.Module:
    """Set every LSTM forget-gate bias of ``module`` so that b_if + b_hf = ``value``.

    Starting with f_t = sigmoid(1) ~ 0.73 instead of 0.5 lets the cell remember from the first
    step (Gers et al. 2000; Jozefowicz et al. 2015). Works for our LSTM / LSTMCell and for
    ``torch.nn.LSTM`` / ``LSTMCell`` alike, since the parameter names are the same. Returns ``module``.
    """
    with torch.no_grad():
        for name, p in module.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf.startswith(("bias_ih", "bias_hh")):
                H = p.shape[0] // 4
                p[H : 2 * H] = value if leaf.startswith("bias_ih") else 0.0  # the f block
    return module


class LSTMCell(nn.Module):
    """One LSTM step as a module; parameters named as in ``torch.nn.LSTMCell`` (+ ``weight_ch``).

    Inputs: ``x`` (B, C), ``state`` = (h, c) each (B, H), or None (zeros).
    Outputs: ``(h, c)``, each (B, H).
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, peephole: bool = False
    ) -> None:
        super().__init__()
        input_size = check_positive_int(input_size, "input_size")
        hidden_size = check_positive_int(hidden_size, "hidden_size")
        check_bool(bias, "bias")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.peephole = check_bool(peephole, "peephole")
        H = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * H, input_size))  # W_ii|W_if|W_ig|W_io
        self.weight_hh = nn.Parameter(torch.empty(4 * H, H))  # W_hi|W_hf|W_hg|W_ho
        self.bias_ih = nn.Parameter(torch.empty(4 * H)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(4 * H)) if bias else None
        self.weight_ch = nn.Parameter(torch.empty(3, H)) if peephole else None  # w_ci|w_cf|w_co
        bound = 1.0 / math.sqrt(H)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        check_rank(x, 2, "x", "(B, C)")
        check_size(x, 1, self.input_size, "x", f"(B, C={self.input_size})")
        check_float_input(x, "x")
        shape = (x.shape[0], self.hidden_size)  # (B, H)
        h, c = (x.new_zeros(shape), x.new_zeros(shape)) if state is None else state
        for name, s in (("h", h), ("c", c)):
            if not isinstance(s, torch.Tensor) or tuple(s.shape) != shape:
                raise ValueError(f"expected {name} of shape (B, H) = {shape}, got {tuple(s.shape)}")
        x_proj = F.linear(x, self.weight_ih, self.bias_ih)  # (B, 4H)
        step = lstm_step(x_proj, h, c, self.weight_hh, self.bias_hh, self.weight_ch)
        return step.h, step.c


class LSTM(RecurrentLayer):
    """A stack of LSTM layers over a sequence, equal to ``torch.nn.LSTM(batch_first=True)``.

    With ``peephole=True`` each layer and direction has an extra ``weight_ch_l{k}`` (3, H);
    load a ``torch.nn.LSTM`` state dict into it with ``strict=False``. With ``proj_size=P``
    each has ``weight_hr_l{k}`` (P, H), as ``torch.nn.LSTM(proj_size=P)``.

    Inputs: ``x`` (B, T, C); ``state`` = (h_0 (L*D, B, P), c_0 (L*D, B, H)), or None (zeros).
    Outputs: ``out`` (B, T, D*P); ``(h_n, c_n)`` shaped like the state. P = proj_size or H.
    """

    num_gates = 4
    state_names = ("h", "c")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        bidirectional: bool = False,
        dropout: float = 0.0,
        peephole: bool = False,
        proj_size: int = 0,
    ) -> None:
        # read by RecurrentLayer.__init__ and _extra_parameters while they build the weights
        self.peephole = check_bool(peephole, "peephole")
        self.proj_size = check_proj_size(proj_size, check_positive_int(hidden_size, "hidden_size"))
        super().__init__(input_size, hidden_size, num_layers, bias, bidirectional, dropout)

    def _extra_parameters(self, name: str) -> None:
        if self.peephole:
            self.register_parameter(
                "weight_ch" + name, nn.Parameter(torch.empty(3, self.hidden_size))
            )
        if self.proj_size:
            self.register_parameter(
                "weight_hr" + name, nn.Parameter(torch.empty(self.proj_size, self.hidden_size))
            )

    def extra_repr(self) -> str:
        s = super().extra_repr() + (", peephole=True" if self.peephole else "")
        return s + (f", proj_size={self.proj_size}" if self.proj_size else "")

    def _cell(self, x_proj: torch.Tensor, state: tuple[torch.Tensor, ...], w: dict) -> LSTMStep:
        h, c = state
        return lstm_step(x_proj, h, c, w["weight_hh"], w["bias_hh"], w["weight_ch"], w["weight_hr"])

    def gates(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """Gate activations of layer 0 (forward direction) at every step, for heatmaps.

        Inputs: ``x`` (B, T, C); ``state`` as in :meth:`forward`.
        Outputs: dict with ``"i", "f", "g", "o", "c", "h"``, each (B, T, H), detached.
        """
        return self.trace(x, state)
