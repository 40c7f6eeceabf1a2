"""The cost of attention, drawn and made interactive (chapter 6).

- :func:`attention_figure`: time or peak memory of attention alone against T, one line per
  implementation, named with the backend that ran; log-log, so ``y ~ T^a`` is a line of slope
  a. Settings that ran out of memory or time are named in the legend.
- :func:`model_cost_interactive`: the LSTM against the Transformer (forward + backward vs T),
  the second half of chapter 3's live timing comparison; the static book steps over the batch
  sizes the chapter's :func:`~seqlab.experiments.attention_cost.attention_cost` measured, live
  another batch size, set of lengths or device re-measures (with a progress bar).
- :func:`attention_cost_interactive`: :func:`attention_figure` for time and memory; live, other
  lengths or another device re-measure.
- Print twins: ``cost_models``, ``cost_attention_time``, ``cost_attention_memory``,
  ``copy_long_range``.

Letters: B batch, T sequence length, H width.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.experiments.attention_cost import (
    IMPL_NAMES,
    attention_cost,
    measure_attention,
    measure_models,
)
from seqlab.experiments.long_range import long_range
from seqlab.experiments.results import Result
from seqlab.viz.export import plotly_to_matplotlib, register_figure
from seqlab.viz.interactive import Interactive
from seqlab.viz.memory_tasks import delay_figure
from seqlab.viz.style import PALETTE, log_ticks, tidy_log_x
from seqlab.viz.timing import timing_figure

QUANTITIES = {"time": ("median_ms", "forward + backward time (ms)"),
              "memory": ("peak_mem_mb", "peak memory of tensors (MiB)")}  # fmt: skip
_COLORS = {"naive": PALETTE[0], "sdpa_math": PALETTE[1], "sdpa": PALETTE[2]}


def _failures(rows: pd.DataFrame) -> str:
    """' (oom from T = 4096)' for the first failed length of one impl, or ''."""
    bad = rows[rows["status"] != "ok"]
    if bad.empty:
        return ""
    first = bad.sort_values("seq_len").iloc[0]
    return f" ({first['status']} from T = {first['seq_len']})"


def attention_figure(
    df: pd.DataFrame, quantity: str = "time", title: str | None = None
) -> go.Figure:
    """Time or peak memory against T from a
    :func:`~seqlab.experiments.attention_cost.measure_attention` table (``quantity`` "time" |
    "memory"); each trace named with its implementation and backend."""
    column, label = QUANTITIES[quantity]
    fig = go.Figure()
    for impl in dict.fromkeys(df["impl"]):
        rows = df[df["impl"] == impl].sort_values("seq_len")
        ok = rows[(rows["status"] == "ok") & (rows[column].astype(float) > 0)]
        backend = rows["backend"].iloc[0]
        name = IMPL_NAMES.get(impl, impl)
        name += f" [{backend}]" if impl != "naive" else ""
        fig.add_scatter(
            x=ok["seq_len"], y=ok[column].astype(float), mode="lines+markers",
            name=name + _failures(rows), line={"color": _COLORS.get(impl, PALETTE[4])},
        )  # fmt: skip
    lengths = sorted(set(df["seq_len"]))
    fig.update_xaxes(
        type="log", title="sequence length T (steps)", tickvals=lengths,
        ticktext=[f"{t:g}" for t in lengths], minor={"showgrid": False},
    )  # fmt: skip
    ys = [y for tr in fig.data for y in (tr.y if tr.y is not None else ())]
    fig.update_yaxes(type="log", title=label, minor={"showgrid": True}, **log_ticks(ys))
    fig.update_layout(title=title, legend={"font": {"size": 11}})
    return fig


def model_cost_interactive(result: Result, devices: Sequence[str]) -> Interactive:
    """LSTM vs Transformer, forward + backward time against T (three modes), around an
    :func:`~seqlab.experiments.attention_cost.attention_cost` result. Controls: batch_size,
    lengths_name, device (``devices`` offered live; the measured one comes first)."""
    config, models = result.config, result["models"]
    measured = (result["lengths_name"], result.provenance["device_type"])
    devices = list(dict.fromkeys([measured[1], *devices]))

    def compute(batch_size: int, lengths_name: str, device: str) -> pd.DataFrame:
        if (lengths_name, device) == measured and batch_size in config.static_batches:
            return models[models["batch_size"] == batch_size]
        return measure_models(
            config.lengths[lengths_name], batch_size, device, config.hidden_size,
            config.num_layers, config.nhead, config.repeats, config.cpu_threads,
            config.timeout_s, progress=True,
        )  # fmt: skip

    def figure(df: pd.DataFrame, batch_size: int, device: str) -> go.Figure:
        threads = f", {config.cpu_threads} thread(s)" if device == "cpu" else ""
        title = f"B = {batch_size}, H = {config.hidden_size}, on {device}{threads}"
        return timing_figure(df, title=title)

    return Interactive(
        compute, figure,
        {"batch_size": list(config.batches), "lengths_name": list(config.lengths),
         "device": devices},
        defaults={"lengths_name": measured[0]},
        static_controls={"batch_size": list(config.static_batches),
                         "lengths_name": [measured[0]], "device": [measured[1]]},
        slider="batch_size",
        labels={"batch_size": "batch size B", "lengths_name": "lengths T", "device": "device"},
    )  # fmt: skip


def attention_cost_interactive(result: Result, devices: Sequence[str]) -> Interactive:
    """Attention alone: time or memory against T (three modes). Controls: quantity,
    lengths_name (the result's ``attn_lengths``), device."""
    config, table = result.config, result["attention"]
    measured = (result["attn_lengths_name"], result.provenance["device_type"])
    devices = list(dict.fromkeys([measured[1], *devices]))

    tables = {measured: table}  # one measurement serves both quantities

    def compute(quantity: str, lengths_name: str, device: str) -> pd.DataFrame:
        if (lengths_name, device) not in tables:
            tables[lengths_name, device] = measure_attention(
                config.attn_lengths[lengths_name], device, config.attn_batch,
                config.attn_nhead, config.attn_head_dim, config.attn_impls, config.repeats,
                config.cpu_threads, config.timeout_s, progress=True,
            )  # fmt: skip
        return tables[lengths_name, device]

    def figure(df: pd.DataFrame, quantity: str, device: str) -> go.Figure:
        shape = f"B = {config.attn_batch}, nh = {config.attn_nhead}, hs = {config.attn_head_dim}"
        return attention_figure(df, quantity, title=f"Causal attention, {shape}, on {device}")

    return Interactive(
        compute, figure,
        {"quantity": list(QUANTITIES), "lengths_name": list(config.attn_lengths),
         "device": devices},
        defaults={"lengths_name": measured[0]},
        static_controls={"quantity": list(QUANTITIES), "lengths_name": [measured[0]],
                         "device": [measured[1]]},
        labels={"quantity": "measure", "lengths_name": "lengths T", "device": "device"},
    )  # fmt: skip


@register_figure(
    "cost_models",
    chapter="cost",
    caption="Forward + backward time of one fused LSTM layer and one Transformer block against "
    "the sequence length $T$, on the machine that made the figure.",
)
def cost_models_figure(profile: str) -> Figure:
    """LSTM vs Transformer time vs T at the largest static batch size."""
    result = attention_cost("cost.sweep")
    models = result["models"]
    df = models[models["batch_size"] == max(result.config.static_batches)]
    return tidy_log_x(plotly_to_matplotlib(timing_figure(df)), df["seq_len"], "time (ms)")


def _attention_print(quantity: str) -> Figure:
    df = attention_cost("cost.sweep")["attention"]
    label = {"time": "time (ms)", "memory": "peak memory (MiB)"}[quantity]
    return tidy_log_x(plotly_to_matplotlib(attention_figure(df, quantity)), df["seq_len"], label)


@register_figure(
    "cost_attention_time",
    chapter="cost",
    caption="Forward + backward time of causal attention against $T$: written out, "
    "\\texttt{F.scaled\\_dot\\_product\\_attention} forced to its math backend, and its own "
    "choice of kernel.",
)
def cost_attention_time(profile: str) -> Figure:
    """Attention time vs T."""
    return _attention_print("time")


@register_figure(
    "cost_attention_memory",
    chapter="cost",
    caption="Peak memory held by tensors during forward + backward of causal attention against "
    "$T$ (measured): the $T \\times T$ matrix makes it grow as $T^2$ unless a fused kernel "
    "avoids it.",
)
def cost_attention_memory(profile: str) -> Figure:
    """Attention peak memory vs T."""
    return _attention_print("memory")


@register_figure(
    "copy_long_range",
    chapter="cost",
    caption="Copy memory (one symbol of 8): test accuracy of the LSTM and of a causal "
    "Transformer against the delay $T$, mean and seeds; dashed: chance (no memory).",
)
def copy_long_range(profile: str) -> Figure:
    """Copy-task accuracy vs delay, LSTM vs Transformer."""
    runs = long_range("cost.long_range")["runs"]
    fig = plotly_to_matplotlib(delay_figure(runs))
    return tidy_log_x(fig, runs["T"], "test accuracy")
