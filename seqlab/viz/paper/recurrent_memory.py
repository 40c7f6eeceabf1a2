"""Paper figures of the LSTM chapter: gradient flow by cell, LSTM vs RNN language models, gate
activations, memory against delay, forget-gate bias, bidirectional reversal.

Each builder runs the chapter's experiment at the profile's size (the same setup functions the
chapter calls: :func:`~seqlab.experiments.memory_tasks.sweep_setup`,
:func:`~seqlab.experiments.char_lm.comparison_setup`) and draws it; results are cached per
profile so that figures sharing a run train it once per process.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from seqlab.data.corpus import CharDataset, load_shakespeare
from seqlab.experiments.char_lm import compare_char_lms, comparison_setup
from seqlab.experiments.memory_tasks import (
    delay_sweep,
    forget_bias_setup,
    reversal_setup,
    run_memory_task,
    seed_study,
    sweep_setup,
)
from seqlab.experiments.param_budget import (
    equal_budget_sizes,
    lm_param_count,
    recurrent_param_count,
)
from seqlab.experiments.unit_probes import best_units, lstm_trace, text_features, unit_correlations
from seqlab.viz.cell_gradient_figures import CELL_CHOICES, cell_gradient_state
from seqlab.viz.export import plotly_to_matplotlib, register_figure
from seqlab.viz.gate_figures import FIELD_LABELS, text_heatmap_axes
from seqlab.viz.memory_figures import delay_figure, loss_curves_figure, position_figure
from seqlab.viz.style import PALETTE


@functools.lru_cache(maxsize=2)
def shakespeare() -> CharDataset:
    """The corpus as a dataset (cached: encoding 4.8 M characters takes a second or two)."""
    return CharDataset(load_shakespeare())


@functools.lru_cache(maxsize=3)
def lm_comparison(profile: str, cells: tuple[str, ...] = ("rnn", "lstm")):
    """``(models, history, summary)`` of the equal-parameter, equal-time LM comparison."""
    data = shakespeare()
    hidden, setup = comparison_setup()
    setup.progress = False
    count = lambda cell, H: lm_param_count(cell, data.tokenizer.vocab_size, setup.n_embd, H)  # noqa: E731
    return compare_char_lms(data, equal_budget_sizes(count, "lstm", hidden, cells), setup)


@functools.lru_cache(maxsize=4)
def memory_sweep(profile: str, task: str, cells: tuple[str, ...] = ("rnn", "lstm")) -> pd.DataFrame:
    """The chapter's delay sweep of ``task`` at equal parameters (cached per profile)."""
    base, delays = sweep_setup(task)
    base = replace(base, progress=False)
    C = base.vocab if task == "copy" else 2
    sizes = equal_budget_sizes(
        lambda cell, H: recurrent_param_count(cell, C, H), "lstm", base.hidden, cells
    )
    return delay_sweep(base, sizes, delays)


def _new_figure() -> tuple[Figure, object]:
    fig = Figure()
    return fig, fig.add_subplot()


def tidy_log_x(fig: Figure, ticks, ylabel: str | None = None) -> Figure:
    """Label a log x-axis at the measured values only (no 2x10^1-style minor labels)."""
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    ax = fig.axes[0]
    ax.xaxis.set_major_locator(FixedLocator(sorted(set(ticks))))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    if ylabel:
        ax.set_ylabel(ylabel)
    return fig


@register_figure(
    "lstm_gradient_flow",
    chapter="lstm",
    caption=r"Measured gradient norm $||\partial L/\partial h_{T-k}||$ $k$ steps back "
    r"through random cells ($\rho = 1$, $T = 100$, $H = 64$): the LSTM keeps its gradient only "
    r"when the forget-gate bias $b_f$ holds $f$ near 1.",
)
def lstm_gradient_flow(profile: str) -> Figure:
    """Gradient norm vs steps back for RNN, GRU and LSTM with three forget biases."""
    fig, ax = _new_figure()
    for i, cell in enumerate(CELL_CHOICES):
        s = cell_gradient_state(cell, rho=1.0, T=100)
        y = np.where(s["measured"] > 0, s["measured"], np.nan)
        ax.plot(s["k"], y, label=cell.replace("b_f", "$b_f$"), color=PALETTE[i])
    ax.set(yscale="log", xlabel="$k$, steps back", ylabel=r"$\Vert\partial L/\partial h\Vert$")
    ax.legend(fontsize="small")
    return fig


@register_figure(
    "lstm_vs_rnn_lm",
    chapter="lstm",
    caption="Validation loss of char-level LSTM and RNN language models on Shakespeare at equal "
    "parameter counts, against training time on the same machine.",
)
def lstm_vs_rnn_lm(profile: str) -> Figure:
    """Validation loss vs wall-clock time, LSTM and RNN at equal parameters."""
    _, history, _ = lm_comparison(profile)
    return plotly_to_matplotlib(loss_curves_figure(history, x="time_s"))


@register_figure(
    "lstm_gate_unit",
    chapter="lstm",
    width="page",
    height_ratio=0.3,
    caption="Cell state of the unit of the trained char-LSTM that correlates most strongly with "
    "a property of the text, over a held-out passage (blue low, red high).",
)
def lstm_gate_unit(profile: str) -> Figure:
    """Text heatmap of the probe's best unit."""
    models, _, _ = lm_comparison(profile)
    data = shakespeare()
    text = data.tokenizer.decode(data.split("val")[:3000])
    trace = lstm_trace(models["lstm"], data.tokenizer, text)
    best = best_units(unit_correlations(trace, text_features(text))).iloc[0]
    start = text.index("\n\n", 1000) + 2
    passage = text[start : start + 400]
    values = trace[best.field][start : start + len(passage), int(best.unit)]
    fig, ax = _new_figure()
    im = text_heatmap_axes(ax, passage, values, field=best.field, width=80)
    fig.colorbar(im, ax=ax, label=FIELD_LABELS[best.field], fraction=0.03)
    ax.set_title(f"unit {int(best.unit)}: {best.feature}, r = {best.r:+.2f}", fontsize="small")
    return fig


@register_figure(
    "copy_vs_delay",
    chapter="lstm",
    caption="Copy memory (one symbol of 8): test accuracy of RNN and LSTM at equal parameters "
    "against the delay $T$; dashed: chance (no memory).",
)
def copy_vs_delay(profile: str) -> Figure:
    """Copy-task accuracy vs delay."""
    copy = memory_sweep(profile, "copy")
    return tidy_log_x(plotly_to_matplotlib(delay_figure(copy)), copy["T"], "test accuracy")


@register_figure(
    "adding_vs_delay",
    chapter="lstm",
    caption="Adding problem: test MSE of RNN and LSTM at equal parameters against the sequence "
    "length $T$; dashed: always answering 1 (MSE 1/6).",
)
def adding_vs_delay(profile: str) -> Figure:
    """Adding-problem MSE vs length."""
    adding = memory_sweep(profile, "adding")
    fig = delay_figure(adding, metric="MSE", baseline_name="always 1")
    return tidy_log_x(plotly_to_matplotlib(fig), adding["T"], "test MSE")


@register_figure(
    "forget_bias_copy",
    chapter="lstm",
    caption="Copy memory at a fixed delay: LSTM test accuracy with forget-gate bias 0 and 1, "
    "one point per seed.",
)
def forget_bias_copy(profile: str) -> Figure:
    """Accuracy per seed for b_f = 0 and 1."""
    copy = memory_sweep(profile, "copy")
    config, seeds = forget_bias_setup(int(copy[copy.cell == "lstm"].hidden.iloc[0]))
    config = replace(config, progress=False)
    study = seed_study(config, "forget_bias", [0.0, 1.0], seeds, reuse=copy)
    fig, ax = _new_figure()
    for i, (bias, g) in enumerate(study.groupby("forget_bias")):
        ax.scatter(np.full(len(g), i), g["score"], color=PALETTE[i], label=f"$b_f = {bias:g}$")
        ax.hlines(g["score"].mean(), i - 0.2, i + 0.2, color=PALETTE[i])
    ax.axhline(1 / config.n_symbols, color="black", linestyle="--", linewidth=0.8, label="chance")
    ax.set(xticks=[0, 1], xticklabels=["$b_f = 0$", "$b_f = 1$"], ylabel="test accuracy",
           ylim=(0, 1.05), xlim=(-0.6, 1.6))  # fmt: skip
    ax.legend(fontsize="small")
    return fig


@register_figure(
    "bidirectional_reversal",
    chapter="lstm",
    caption="Sequence reversal: accuracy at each output position of a left-to-right and a "
    "bidirectional LSTM; dashed: chance.",
)
def bidirectional_reversal(profile: str) -> Figure:
    """Per-position accuracy, uni- vs bidirectional."""
    rev = replace(reversal_setup(), progress=False)
    uni = run_memory_task(rev)
    bi = run_memory_task(replace(rev, cell_options={"bidirectional": True}))
    curves = {"left-to-right": uni["per_position"], "bidirectional": bi["per_position"]}
    return plotly_to_matplotlib(position_figure(curves, chance=1 / rev.n_symbols))
