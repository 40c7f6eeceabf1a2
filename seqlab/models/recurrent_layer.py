"""What every recurrent layer shares: stacking cells over time, layers and directions.

A recurrent *cell* computes one time step (see ``rnn.py``, ``lstm.py``, ``gru.py``). A recurrent
*layer* runs the cell over a whole sequence, for ``num_layers`` stacked layers, optionally in
both directions. :class:`RecurrentLayer` holds that loop once; each cell type supplies its step.

The parameters have the same names and shapes as in ``torch.nn.RNN`` / ``LSTM`` / ``GRU``
(``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, ``..._reverse``), so
``scratch.load_state_dict(fused.state_dict())`` copies a trained ``torch.nn`` model into ours.

:func:`seqlab.models.recurrent.make_recurrent` returns either our from-scratch layer or the fused
``torch.nn`` module (``batch_first=True``) behind one call signature.

Shapes: B batch, T time, C input features, H hidden, D directions (1 or 2), L layers,
G gates per hidden unit (RNN 1, GRU 3, LSTM 4), P the size of h: H, or ``proj_size`` for an LSTM
with a projection (then h (P) and c (H) differ in size, as in ``torch.nn.LSTM``).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.checks import (
    check_bool,
    check_dropout,
    check_positive_int,
    check_sequence,
)


class RecurrentLayer(nn.Module):
    """A stack of ``num_layers`` recurrent layers, each run forwards (and backwards if bidirectional).

    Subclasses set ``num_gates`` and ``state_names`` and implement :meth:`_cell`, one time step.

    Inputs: ``x`` (B, T, C) float; ``state`` h (L*D, B, P), or the LSTM's ``(h, c)`` with c
    (L*D, B, H); ``None`` means zeros.
    Outputs: ``out`` (B, T, D*P), the top layer's hidden state at every step (both directions
    concatenated), and the final state of every layer and direction, shaped like ``state``.
    Raises ``ValueError`` for sizes < 1, a non-bool flag, dropout outside [0, 1), and in
    ``forward`` for a wrong rank, width or dtype of x, T = 0, or a state of the wrong shape.
    """

    num_gates: int = 1  # G: rows of W_ih per hidden unit
    state_names: tuple[str, ...] = ("h",)  # what the state holds: ("h",) or ("h", "c")
    proj_size: int = 0  # P = proj_size if > 0 else H (only the LSTM sets it)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        input_size = check_positive_int(input_size, "input_size")
        hidden_size = check_positive_int(hidden_size, "hidden_size")
        num_layers = check_positive_int(num_layers, "num_layers")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = check_bool(bias, "bias")
        self.bidirectional = check_bool(bidirectional, "bidirectional")
        self.dropout = check_dropout(dropout)
        self.num_directions = 2 if bidirectional else 1

        G, H, D, P = self.num_gates, hidden_size, self.num_directions, self.out_size
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else D * P  # layer k > 0 reads (B, T, D*P)
            shapes = {"weight_ih": (G * H, layer_input), "weight_hh": (G * H, P)}
            if bias:
                shapes |= {"bias_ih": (G * H,), "bias_hh": (G * H,)}
            for suffix in ("", "_reverse")[:D]:
                for name, shape in shapes.items():
                    param = nn.Parameter(torch.empty(shape))
                    self.register_parameter(f"{name}_l{layer}{suffix}", param)
                self._extra_parameters(f"_l{layer}{suffix}")
        self.reset_parameters()

    @property
    def out_size(self) -> int:
        """P, the size of h: ``proj_size`` when set (LSTM), else ``hidden_size``."""
        return self.proj_size or self.hidden_size

    def _extra_parameters(self, name: str) -> None:
        """Hook for cell-specific parameters (the LSTM's peepholes and projection); ``name``
        is e.g. ``"_l0"``."""

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)), as ``torch.nn`` initialises them."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        return s

    # --- one time step: the part each cell type writes ---------------------------------------

    def _cell(self, x_proj: torch.Tensor, state: tuple[torch.Tensor, ...], w: dict) -> NamedTuple:
        """One step. ``x_proj`` (B, G*H) = W_ih x_t + b_ih; ``state`` tuple of (B, H).

        Returns a named tuple of everything the step computed (gates, ...) that contains the
        fields named in ``state_names``.
        """
        raise NotImplementedError

    # --- the loop over layers, directions and time -------------------------------------------

    def weights(self, layer: int, direction: int = 0) -> dict[str, torch.Tensor | None]:
        """The parameters of one layer and direction by short name (``weight_ih``, ``bias_hh``, ...)."""
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_ch", "weight_hr")
        return {n: getattr(self, n + suffix, None) for n in names}

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Run the stack over the sequence ``x`` (B, T, C); see the class docstring."""
        self._check_input(x)
        states = self._initial_state(x, state)  # tuple of (L*D, B, H)
        layer_input = x  # (B, T, C)
        finals = []  # one state tuple of (B, H) per layer and direction
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                start = tuple(s[k] for s in states)  # each (B, H)
                steps, final = self._run(
                    layer_input, start, self.weights(layer, direction), direction
                )
                outputs.append(torch.stack([step.h for step in steps], dim=1))  # (B, T, P)
                finals.append(final)
            layer_input = torch.cat(outputs, dim=-1)  # (B, T, D*P)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        final_state = tuple(torch.stack(s) for s in zip(*finals, strict=True))  # each (L*D, B, H)
        return layer_input, self._pack_state(final_state)

    def _run(
        self, x: torch.Tensor, state: tuple[torch.Tensor, ...], w: dict, direction: int
    ) -> tuple[list, tuple[torch.Tensor, ...]]:
        """One layer, one direction over x (B, T, C_in).

        Returns the cell's output (a named tuple) for every t in time order, and the final state.
        The backward direction (``direction=1``) visits t = T-1, ..., 0.
        """
        T = x.shape[1]
        # The input term W_ih x_t + b_ih does not depend on h, so compute it for all t at once
        # (one big matrix product instead of T small ones, as cuDNN does).
        x_proj = F.linear(x, w["weight_ih"], w["bias_ih"])  # (B, T, G*H)
        steps: list = [None] * T
        for t in reversed(range(T)) if direction == 1 else range(T):
            steps[t] = self._cell(x_proj[:, t], state, w)
            state = tuple(getattr(steps[t], name) for name in self.state_names)  # each (B, H)
        return steps, state

    @torch.no_grad()
    def trace(self, x: torch.Tensor, state: Any = None) -> dict[str, torch.Tensor]:
        """Record everything the cell computes at each step, for layer 0 in the forward direction.

        Inputs: ``x`` (B, T, C), ``state`` as in :meth:`forward`.
        Outputs: dict field name -> (B, T, H), detached (e.g. ``"i", "f", "g", "o", "c", "h"``
        for the LSTM). ``trace(x)["h"]`` equals ``forward(x)[0][..., :H]`` for a one-layer stack.
        """
        self._check_input(x)
        start = tuple(s[0] for s in self._initial_state(x, state))  # each (B, H)
        steps, _ = self._run(x, start, self.weights(0, 0), direction=0)
        return {f: torch.stack([getattr(s, f) for s in steps], dim=1) for f in steps[0]._fields}

    # --- inputs, states and their checks ----------------------------------------------------

    def _check_input(self, x: torch.Tensor) -> None:
        check_sequence(x, self.input_size)

    def _pack_state(self, states: tuple[torch.Tensor, ...]) -> Any:
        """Internal tuple -> the public form: ``h`` alone, or ``(h, c)`` for the LSTM."""
        return states[0] if len(self.state_names) == 1 else states

    def _initial_state(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, ...]:
        """Zeros when ``state`` is None; otherwise check it and return it as a tuple."""
        B, LD = x.shape[0], self.num_layers * self.num_directions
        shapes = {"h": (LD, B, self.out_size), "c": (LD, B, self.hidden_size)}  # (L*D, B, P|H)
        if state is None:
            return tuple(x.new_zeros(shapes[name]) for name in self.state_names)
        if len(self.state_names) == 1:
            states = (state,)
        elif isinstance(state, (tuple, list)) and len(state) == len(self.state_names):
            states = tuple(state)
        else:
            raise ValueError(
                f"expected state to be a tuple ({', '.join(self.state_names)}) "
                f"of tensors shaped (L*D, B, H), got {type(state).__name__}"
            )
        for name, s in zip(self.state_names, states, strict=True):
            if not isinstance(s, torch.Tensor) or tuple(s.shape) != shapes[name]:
                got = tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
                raise ValueError(
                    f"expected {name} of shape (L*D, B, {'P' if name == 'h' and self.proj_size else 'H'}) = "
                    f"{shapes[name]} for input batch B={B}, got {got}"
                )
        return states
