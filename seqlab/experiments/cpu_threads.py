"""Run small models on one CPU thread: faster, and robust when the machine is busy.

The recurrent models of the LSTM and GRU chapters multiply matrices of a few dozen to a few
hundred rows at every time step. Split over several threads, such a product spends more time
synchronising the threads than computing, and when other processes compete for the cores each
step waits for the slowest thread to be scheduled. Measured on the book's 2-core build machine
with other work running (torch 2.13): a copy-task training step (T = 50, H = 32, B = 64) took
9 ms on one thread and 252 ms on two; a char-LSTM step (H = 128, B = 32, T = 64) 37 ms and 227 ms.

:func:`cpu_threads` sets ``torch.set_num_threads`` for the duration of a block and restores the
previous value afterwards, so nothing outside the block changes. On a GPU it does nothing.
:func:`show_progress` is the experiments' default for drawing progress bars.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from seqlab.device import in_book_build


@contextmanager
def cpu_threads(n: int | None = 1, device: torch.device | str | None = None) -> Iterator[None]:
    """Use ``n`` intra-op CPU threads inside the block (``None``: leave torch's setting).

    Does nothing when ``device`` is not a CPU. Restores the previous number on exit.
    """
    on_cpu = device is None or torch.device(device).type == "cpu"
    if n is None or not on_cpu:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int or None, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def show_progress() -> bool:
    """Whether training should draw a progress bar: yes, except while Jupyter Book executes the
    notebook for the static HTML book (there the bar would be saved at its first state, 0 %)
    and where ``TQDM_DISABLE`` is set (``make figures``)."""
    quiet = os.environ.get("TQDM_DISABLE", "") not in ("", "0", "false", "False")
    return not (in_book_build() or quiet)
