"""Input checks shared by the scaling fits: 1-D finite (positive) arrays of equal length."""

from __future__ import annotations

import numpy as np

__all__ = ["as_array", "same_length"]


def as_array(x, name: str, positive: bool = True) -> np.ndarray:
    """``x`` as a finite 1-D float array (positive unless ``positive=False``), else ValueError."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numbers, got {x!r}") from err
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty: nothing to fit")
    bad = ~np.isfinite(a)
    if bad.any():
        raise ValueError(f"{name} has NaN or infinite values at {np.flatnonzero(bad)[:5].tolist()}")
    if positive and (a <= 0).any():
        i = int(np.flatnonzero(a <= 0)[0])
        raise ValueError(f"{name} must be > 0, got {name}[{i}] = {float(a[i])!r}")
    return a


def same_length(**arrays: np.ndarray) -> None:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"lengths differ: {lengths}")
