"""Input checks that fail early with a message naming the problem.

Every public model and data function calls these on its inputs, so a wrong shape or size
raises a ``ValueError`` that says what was expected and what arrived, instead of a deep
stack trace from inside a matrix product.
"""

from __future__ import annotations

import math

import torch


def check_rank(x: torch.Tensor, rank: int | tuple[int, ...], name: str, shape_doc: str) -> None:
    """Raise ``ValueError`` unless ``x.dim()`` is ``rank`` (or one of them).

    ``shape_doc`` is the expected layout in words, e.g. ``"(B, T, C)"``.
    """
    ranks = (rank,) if isinstance(rank, int) else rank
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"expected {name} to be a torch.Tensor of shape {shape_doc}, got {type(x).__name__}"
        )
    if x.dim() not in ranks:
        raise ValueError(
            f"expected {name} of shape {shape_doc} ({' or '.join(map(str, ranks))} dims), "
            f"got shape {tuple(x.shape)}"
        )


def check_size(x: torch.Tensor, dim: int, expected: int, name: str, shape_doc: str) -> None:
    """Raise ``ValueError`` unless ``x.shape[dim] == expected``."""
    if x.shape[dim] != expected:
        raise ValueError(
            f"expected {name} of shape {shape_doc} with size {expected} in dim {dim}, "
            f"got shape {tuple(x.shape)}"
        )


def check_nonempty_time(x: torch.Tensor, name: str, dim: int = 1) -> None:
    """Raise ``ValueError`` when the time dimension has length 0."""
    if x.shape[dim] == 0:
        raise ValueError(f"{name} has sequence length 0 (shape {tuple(x.shape)}); need T >= 1")


def check_positive(value: float, name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def check_choice(value: str, choices: tuple[str, ...] | list[str], name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``, listing the valid ones."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(map(repr, choices))}")
