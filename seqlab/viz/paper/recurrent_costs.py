"""Paper figures of the GRU chapter: parameter counts, equal-budget comparisons, timing.

Each builder runs the chapter's experiment at the profile's size through the same setup
functions the chapter calls (:func:`~seqlab.experiments.char_lm.equal_steps_setup`,
:func:`~seqlab.experiments.memory_tasks.equal_budget_copy_setup`,
:func:`~seqlab.viz.timing_figures.timing_setup`).
"""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
from matplotlib.figure import Figure

from seqlab.bench import bench_seqlen
from seqlab.experiments.char_lm import compare_char_lms, equal_steps_setup
from seqlab.experiments.cpu_threads import cpu_threads
from seqlab.experiments.memory_tasks import delay_sweep, equal_budget_copy_setup
from seqlab.experiments.param_budget import (
    equal_budget_sizes,
    lm_param_count,
    recurrent_param_count,
)
from seqlab.viz.export import plotly_to_matplotlib, register_figure
from seqlab.viz.memory_figures import delay_figure, loss_curves_figure
from seqlab.viz.paper.recurrent_memory import shakespeare, tidy_log_x
from seqlab.viz.style import PALETTE
from seqlab.viz.timing_figures import timing_figure, timing_setup

CELLS = ("rnn", "gru", "lstm")


@register_figure(
    "recurrent_param_counts",
    chapter="gru",
    caption=r"Parameters of one recurrent layer ($C = 32$ inputs) against the hidden size $H$: "
    r"$G(HC + H^2 + 2H)$ with $G$ = 1 (RNN), 3 (GRU), 4 (LSTM); lines: formula, circles: "
    r"\texttt{model.parameters()} of \texttt{torch.nn}.",
)
def recurrent_param_counts(profile: str) -> Figure:
    """Formula vs counted parameters over H."""
    import torch

    modules = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}
    H = np.array([16, 32, 64, 128, 256, 512])
    fig = Figure()
    ax = fig.add_subplot()
    for i, cell in enumerate(CELLS):
        formula = [recurrent_param_count(cell, 32, int(h)) for h in H]
        counted = [sum(p.numel() for p in modules[cell](32, int(h)).parameters()) for h in H]
        ax.plot(H, formula, color=PALETTE[i], label=cell.upper())
        ax.plot(H, counted, "o", mfc="none", color=PALETTE[i], markersize=4)
    ax.set(xscale="log", yscale="log", xlabel="hidden size $H$", ylabel="parameters")
    ax.legend()
    return tidy_log_x(fig, H)


@functools.lru_cache(maxsize=2)
def equal_budget_lms(profile: str):
    """``(models, history, summary)``: GRU, LSTM, RNN LMs at equal parameters and steps."""
    data = shakespeare()
    hidden, setup = equal_steps_setup()
    setup.progress = False
    count = lambda cell, H: lm_param_count(cell, data.tokenizer.vocab_size, setup.n_embd, H)  # noqa: E731
    return compare_char_lms(data, equal_budget_sizes(count, "lstm", hidden, CELLS), setup)


@register_figure(
    "gru_lstm_rnn_lm",
    chapter="gru",
    caption="Validation loss of char-level GRU, LSTM and RNN language models with equal "
    "parameter counts, trained for the same number of steps on the same batches.",
)
def gru_lstm_rnn_lm(profile: str) -> Figure:
    """Validation loss vs step, three cells at equal parameters."""
    _, history, _ = equal_budget_lms(profile)
    return plotly_to_matplotlib(loss_curves_figure(history, x="iter"))


@register_figure(
    "copy_equal_params",
    chapter="gru",
    caption="Copy memory (one symbol of 8) at equal parameter counts: test accuracy of GRU, LSTM "
    "and RNN against the delay $T$; dashed: chance.",
)
def copy_equal_params(profile: str) -> Figure:
    """Copy accuracy vs delay for the three cells."""
    base, delays = equal_budget_copy_setup()
    base = replace(base, progress=False)
    sizes = equal_budget_sizes(
        lambda cell, H: recurrent_param_count(cell, base.vocab, H), "lstm", base.hidden, CELLS
    )
    fig = plotly_to_matplotlib(delay_figure(delay_sweep(base, sizes, delays)))
    return tidy_log_x(fig, delays, "test accuracy")


@register_figure(
    "recurrent_timing",
    chapter="gru",
    width="page",
    height_ratio=0.4,
    caption="Forward + backward time of one recurrent layer against the sequence length, "
    "fused \\texttt{torch.nn} (solid) vs a from-scratch loop over steps (dashed), on the machine "
    "that made the figure.",
)
def recurrent_timing(profile: str) -> Figure:
    """Timing vs sequence length at the largest static batch size."""
    sizes = timing_setup()
    lengths = next(iter(sizes["lengths"].values()))
    batch = sizes["static_batches"][-1]
    with cpu_threads(1):  # as in the chapter: one CPU thread (no effect on a GPU)
        df = bench_seqlen(
            lengths, batch_size=batch, hidden_size=sizes["hidden"], include_transformer=False,
            repeats=sizes["repeats"], progress=False,
        )  # fmt: skip
    fig = tidy_log_x(plotly_to_matplotlib(timing_figure(df)), lengths, "forward + backward (ms)")
    fig.axes[0].legend(fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig
