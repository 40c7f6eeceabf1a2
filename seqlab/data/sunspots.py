"""The yearly sunspot numbers that statsmodels ships (1700-2008, 309 values): a real time series
read from an installed package, nothing downloaded.

Source: statsmodels' ``datasets.sunspots`` (public domain; NOAA National Geophysical Data
Center, yearly Wolf/Zurich sunspot numbers). The series rises and falls with the solar cycle of
about 11 years.

Letters: N values, W window length (years read by a forecaster), M windows.
"""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np
import pandas as pd

from seqlab.checks import check_positive_int

__all__ = ["SUNSPOTS_SOURCE", "load_sunspots", "windows"]

SUNSPOTS_SOURCE = "statsmodels.api.datasets.sunspots (NOAA NGDC yearly sunspot numbers)"


def load_sunspots() -> pd.Series:
    """Yearly mean sunspot number, indexed by year (int, 1700 ... 2008), name ``"sunspots"``.

    Raises ``ModuleNotFoundError`` with the command that fixes it when statsmodels is missing.
    """
    if importlib.util.find_spec("statsmodels") is None:
        raise ModuleNotFoundError(
            "the sunspot series ships with statsmodels, which is not installed: "
            "pip install statsmodels"
        )
    datasets = importlib.import_module("statsmodels.datasets.sunspots")
    data = datasets.load_pandas().data
    series = pd.Series(
        data["SUNACTIVITY"].to_numpy(dtype=float),
        index=pd.Index(data["YEAR"].astype(int), name="year"),
        name="sunspots",
    )
    return series


def windows(values: np.ndarray, window: int, targets: range | None = None):
    """Sliding windows for one-step-ahead forecasting.

    Inputs: ``values`` (N,) floats; ``window`` W >= 1; ``targets`` the indices t to predict
    (default every t in [W, N)); each needs W values before it.
    Outputs: ``x`` (M, W) with ``x[i] = values[t - W : t]`` and ``y`` (M,) with ``y[i] =
    values[t]``. Raises ``ValueError`` for a bad ``window``, a target with fewer than W values
    before it, or a target outside the series.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D (N,), got shape {values.shape}")
    window = check_positive_int(window, "window")
    targets = range(window, len(values)) if targets is None else targets
    t = np.asarray(list(targets), dtype=np.int64)
    if len(t) == 0:
        raise ValueError(f"no targets: a series of {len(values)} values and window={window}")
    if t.min() < window or t.max() >= len(values):
        raise ValueError(
            f"targets must lie in [window={window}, N={len(values)}); got {t.min()} ... {t.max()}"
        )
    x = values[t[:, None] - window + np.arange(window)]  # (M, W)
    return x, values[t]
