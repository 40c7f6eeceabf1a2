"""Forward + backward time of recurrent layers, drawn and made interactive.

:func:`timing_figure` draws a :func:`seqlab.bench.bench_seqlen` table: milliseconds against
sequence length, one line per cell (colour) and implementation (solid: fused ``torch.nn``,
dashed: our Python loop), on log-log axes where "time proportional to T" is a line of slope 1.
:func:`timing_interactive` is the book's live timing comparison: the static book steps over the
batch sizes of the chapter's :func:`~seqlab.experiments.timing.recurrent_timing` result; live,
another batch size, set of lengths or device re-measures on the reader's machine
(:func:`~seqlab.experiments.timing.measure_timing`). ``recurrent_timing`` is the print twin.

Letters: B batch, T sequence length, H hidden.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.experiments.results import Result
from seqlab.experiments.timing import measure_timing, recurrent_timing
from seqlab.viz.export import plotly_to_matplotlib, register_figure
from seqlab.viz.interactive import Interactive
from seqlab.viz.style import CELL_ORDER, cell_color, cell_name, log_ticks, tidy_log_x

IMPL_DASH = {"fused": "solid", "scratch": "dash"}
IMPL_NAMES = {"fused": "torch.nn (fused)", "scratch": "from scratch (loop)"}


def timing_figure(df: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Median forward+backward ms vs sequence length from a :func:`bench_seqlen` table.

    Inputs: ``df`` with columns model, impl, seq_len, status, median_ms, iqr_ms (rows with a
    status other than "ok" are left out). Outputs: a Plotly figure, log-log, one trace per
    (model, impl), error bars = inter-quartile range.
    """
    fig = go.Figure()
    ok = df[df["status"] == "ok"]
    models = [m for m in CELL_ORDER if m in set(ok["model"])]
    models += sorted(set(ok["model"]) - set(models))
    for model in models:
        for impl in ("fused", "scratch"):
            sub = ok[(ok["model"] == model) & (ok["impl"] == impl)].sort_values("seq_len")
            if sub.empty:
                continue
            fig.add_scatter(
                x=sub["seq_len"], y=sub["median_ms"],
                error_y={"type": "data", "array": sub["iqr_ms"], "thickness": 1},
                name=f"{cell_name(model)}, {IMPL_NAMES[impl]}", mode="lines+markers",
                line={"color": cell_color(model), "dash": IMPL_DASH[impl]},
            )  # fmt: skip
    lengths = sorted(set(ok["seq_len"]))  # ticks at the measured lengths only
    fig.update_xaxes(
        type="log", title="sequence length T (steps)", tickvals=lengths,
        ticktext=[f"{t:g}" for t in lengths], minor={"showgrid": False},
    )  # fmt: skip
    ys = [y for tr in fig.data for y in (tr.y if tr.y is not None else ())]
    fig.update_yaxes(
        type="log", title="forward + backward time (ms)", minor={"showgrid": True},
        **log_ticks(ys),
    )  # fmt: skip
    fig.update_layout(title=title, legend={"font": {"size": 11}})
    return fig


def timing_interactive(
    result: Result, devices: Sequence[str], notes: Mapping[str, str] | None = None
) -> Interactive:
    """The live timing comparison (three modes), around a
    :func:`~seqlab.experiments.timing.recurrent_timing` result.

    Inputs: ``devices`` offered live, e.g. ``["cuda", "cpu"]``; ``notes`` ``{device: note}``
    added to the title (e.g. ``{"cpu": "1 thread"}``).
    Outputs: an :class:`~seqlab.viz.Interactive` with controls batch_size, lengths_name, device. The
    states the result measured are drawn from it; any other re-measures.
    """
    config, timings = result.config, result["timings"]
    measured = (result["lengths_name"], result.provenance["device_type"])
    devices = list(dict.fromkeys([measured[1], *devices]))

    def compute(batch_size: int, lengths_name: str, device: str) -> pd.DataFrame:
        if (lengths_name, device) == measured and batch_size in config.static_batches:
            return timings[timings["batch_size"] == batch_size]
        return measure_timing(
            config.lengths[lengths_name], batch_size, device, config.hidden_size, config.repeats,
            config.cpu_threads, config.timeout_s,
        )  # fmt: skip

    def figure(df: pd.DataFrame, batch_size: int, device: str) -> go.Figure:
        note = f" ({notes[device]})" if notes and device in notes else ""
        title = f"B = {batch_size}, H = {config.hidden_size}, on {device}{note}"
        return timing_figure(df, title=title)

    return Interactive(
        compute,
        figure,
        {
            "batch_size": list(config.batches),
            "lengths_name": list(config.lengths),
            "device": devices,
        },
        defaults={"lengths_name": measured[0]},
        static_controls={
            "batch_size": list(config.static_batches),
            "lengths_name": [measured[0]],
            "device": [measured[1]],
        },
        slider="batch_size",
        labels={"batch_size": "batch size B", "lengths_name": "lengths T", "device": "device"},
    )


@register_figure(
    "recurrent_timing",
    chapter="gru",
    width="page",
    height_ratio=0.4,
    caption="Forward + backward time of one recurrent layer against the sequence length, "
    "fused \\texttt{torch.nn} (solid) vs a from-scratch loop over steps (dashed), on the machine "
    "that made the figure.",
)
def recurrent_timing_figure(profile: str) -> Figure:
    """Timing vs sequence length at the largest static batch size."""
    result = recurrent_timing("gru.timing")
    timings = result["timings"]
    df = timings[timings["batch_size"] == max(result.config.static_batches)]
    fig = tidy_log_x(
        plotly_to_matplotlib(timing_figure(df)), df["seq_len"], "forward + backward (ms)"
    )
    fig.axes[0].legend(fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig
