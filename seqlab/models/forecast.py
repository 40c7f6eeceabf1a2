"""Forecasting a scalar series: the seasonal-naive baseline and sequence-to-one networks.

A forecaster reads the last W values of a series and predicts the next one. The baselines need
no training: the naive forecast repeats the last value, ``y_hat_t = y_{t-1}``, and the seasonal
naive repeats the value one season earlier, ``y_hat_t = y_{t-m}`` (Hyndman & Athanasopoulos,
*Forecasting: Principles and Practice*, 3rd ed., section 5.2; m = 1 is the naive forecast).
:class:`Forecaster` wraps ``torch.nn.LSTM``, ``torch.nn.GRU`` or the book's Transformer
:class:`~seqlab.models.transformer.Encoder` (with sinusoidal positions) and reads the state at
the last position into one number.

Letters: B batch, W window (time steps read), H hidden size / d_model.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.checks import check_choice, check_positive_int, check_rank
from seqlab.models.transformer import Encoder, SinusoidalPositionalEncoding

__all__ = ["FORECASTERS", "Forecaster", "seasonal_naive"]

FORECASTERS = ("lstm", "gru", "transformer")


def seasonal_naive(series, season: int, start: int) -> np.ndarray:
    """One-step-ahead seasonal-naive forecasts ``y_hat_t = y_{t - season}`` for every t in
    [start, N) (rolling: each uses the true value ``season`` steps back).

    Inputs: ``series`` (N,) numbers; ``season`` m >= 1 (1: the naive forecast); ``start``
    with m <= start < N. Outputs: (N - start,) floats. Raises ``ValueError`` otherwise.
    """
    y = np.asarray(series, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"series must be 1-D (N,), got shape {y.shape}")
    season = check_positive_int(season, "season")
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
        raise ValueError(f"start must be an int, got {start!r}")
    if not season <= start < len(y):
        raise ValueError(f"start={start} must satisfy season={season} <= start < N={len(y)}")
    return y[start - season : len(y) - season].copy()


class Forecaster(nn.Module):
    """Sequence-to-one: a window (B, W) of scaled values -> the next value (B,).

    ``Forecaster(kind, hidden_size=32, num_layers=1, nhead=4, max_window=64)``: ``kind`` in
    :data:`FORECASTERS`; "lstm"/"gru" are ``torch.nn.LSTM``/``torch.nn.GRU`` (input size 1,
    batch-first); "transformer" is ``Linear(1, H)`` + sinusoidal positions + an
    :class:`~seqlab.models.transformer.Encoder` of ``num_layers`` pre-LN blocks with ``nhead``
    heads (d_model = H; every position sees the whole window, which is all in the past).
    ``forward(x, y=None) -> (prediction (B,), loss)``: the mean squared error against ``y``
    (B,) or None. Raises ``ValueError`` for a bad kind or size, or an input that is not (B, W).
    """

    def __init__(
        self,
        kind: str,
        hidden_size: int = 32,
        num_layers: int = 1,
        nhead: int = 4,
        max_window: int = 64,
    ):
        super().__init__()
        check_choice(kind, FORECASTERS, "kind")
        H = check_positive_int(hidden_size, "hidden_size")
        num_layers = check_positive_int(num_layers, "num_layers")
        self.kind, self.max_window = kind, check_positive_int(max_window, "max_window")
        if kind == "transformer":
            self.inp = nn.Linear(1, H)
            self.pos = SinusoidalPositionalEncoding(self.max_window, H)
            self.body = Encoder(H, nhead, num_layers)
        else:
            rnn = nn.LSTM if kind == "lstm" else nn.GRU
            self.body = rnn(1, H, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(H, 1)

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        check_rank(x, 2, "x", "(B, W) window of values")
        if x.shape[1] == 0 or x.shape[1] > self.max_window:
            raise ValueError(f"window W={x.shape[1]} must be in [1, max_window={self.max_window}]")
        u = x.unsqueeze(-1)  # (B, W, 1)
        if self.kind == "transformer":
            h = self.inp(u) + self.pos(x.shape[1])  # (B, W, H)
            h = self.body(h)  # (B, W, H)
        else:
            h, _ = self.body(u)  # (B, W, H)
        pred = self.head(h[:, -1]).squeeze(-1)  # (B,)
        loss = None if y is None else F.mse_loss(pred, y)
        return pred, loss
