"""Input checks that fail early with a message naming the problem.

Every public model and data function calls these on its arguments and inputs, so a wrong size,
shape, dtype or token id raises a ``ValueError`` (a ``TypeError`` when the input is not a tensor
at all) that names the argument and the value that arrived, instead of a deep stack trace from
inside a matrix product or an embedding look-up.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch

__all__ = [
    "check_bool",
    "check_choice",
    "check_dropout",
    "check_float_input",
    "check_nonempty_time",
    "check_pad_id",
    "check_positive",
    "check_positive_int",
    "check_rank",
    "check_sequence",
    "check_size",
    "check_targets",
    "check_token_ids",
]


def check_rank(x: torch.Tensor, rank: int | tuple[int, ...], name: str, shape_doc: str) -> None:
    """Raise ``ValueError`` unless ``x.dim()`` is ``rank`` (or one of them).

    ``shape_doc`` is the expected layout in words, e.g. ``"(B, T, C)"``. Raises ``TypeError``
    when ``x`` is not a tensor.
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


def check_float_input(x: torch.Tensor, name: str) -> None:
    """Raise ``ValueError`` unless ``x`` holds floating-point values (features, not token ids)."""
    if not x.is_floating_point():
        raise ValueError(
            f"expected {name} to hold floating-point features, got dtype {x.dtype} "
            "(token ids go through an embedding first)"
        )


def check_token_ids(ids: torch.Tensor, vocab_size: int, name: str = "idx") -> None:
    """Raise ``ValueError`` unless ``ids`` is (B, T) integer token ids in [0, vocab_size), T >= 1.

    The range is checked for CPU tensors only: on a GPU, reading min and max back would make
    the host wait for the device at every step (and every generated token). There an id out of
    range still fails, inside the embedding, with CUDA's device-side assertion
    ("index out of bounds"), which is the documented exception.
    """
    check_rank(ids, 2, name, "(B, T) token ids")
    check_nonempty_time(ids, name)
    if ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(
            f"expected {name} to hold integer token ids (torch.long), got dtype {ids.dtype}"
        )
    if ids.device.type == "cpu":
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= vocab_size:
            raise ValueError(
                f"{name} holds token ids in [{lo}, {hi}], outside the vocabulary "
                f"0..{vocab_size - 1} (vocab_size={vocab_size})"
            )


def check_positive(value: float, name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def check_positive_int(value: Any, name: str) -> int:
    """Return ``int(value)``; raise ``ValueError`` unless it is an integer > 0 (sizes, counts).

    Accepts Python and numpy integers; rejects bools, floats (even ``4.0``) and strings.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_dropout(p: Any, name: str = "dropout") -> float:
    """Return ``float(p)``; raise ``ValueError`` unless ``0 <= p < 1``."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {p!r}")
    return float(p)


def check_bool(value: Any, name: str) -> bool:
    """Return ``value``; raise ``ValueError`` unless it is a ``bool`` (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def check_choice(value: str, choices: tuple[str, ...] | list[str], name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``, listing the valid ones."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(map(repr, choices))}")


def check_targets(targets: object, idx: torch.Tensor, name: str = "targets") -> None:
    """Raise ``ValueError`` unless ``targets`` is a tensor shaped like the ids ``idx`` (B, T)."""
    if not isinstance(targets, torch.Tensor) or targets.shape != idx.shape:
        got = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__
        raise ValueError(
            f"expected {name} of shape (B, T) = {tuple(idx.shape)} like idx, got {got}"
        )


def check_pad_id(pad_id: object, vocab_size: int) -> None:
    """Raise ``ValueError`` unless ``pad_id`` is None or an int id in [0, vocab_size)."""
    if pad_id is not None and (
        isinstance(pad_id, bool) or not isinstance(pad_id, int) or not 0 <= pad_id < vocab_size
    ):
        raise ValueError(
            f"pad_id must be None or a token id in 0..{vocab_size - 1} (in every vocabulary), "
            f"got {pad_id!r}"
        )


def check_sequence(x: torch.Tensor, size: int, name: str = "x", letters: str = "B, T, C") -> None:
    """Raise unless ``x`` is a float (B, T, C) tensor with C = ``size`` and T >= 1.

    ``letters`` names the three dims in the message, e.g. ``"B, Tq, C"``.
    """
    doc = f"({letters}={size})"
    check_rank(x, 3, name, doc)
    check_size(x, 2, size, name, doc)
    check_float_input(x, name)
    check_nonempty_time(x, name)
