"""Forward + backward time of recurrent layers, drawn and made interactive.

The numbers come from :func:`seqlab.bench.bench_seqlen` (warm-up, device synchronisation,
median of repeats). :func:`timing_figure` draws milliseconds against sequence length, one line
per cell (colour) and implementation (solid: fused ``torch.nn``, dashed: our Python loop), on
log-log axes where "time proportional to T" is a line of slope 1. :func:`timing_interactive`
is the book's live timing comparison: live, choosing the batch size, the lengths or the device
re-measures on the reader's machine (a progress bar shows while it runs); in the static book a
slider steps over the batch sizes measured when the book was built.

Letters: B batch, T sequence length, H hidden.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from seqlab.viz.interactive import Interactive
from seqlab.viz.style import PALETTE

CELL_ORDER: tuple[str, ...] = ("rnn", "gru", "lstm")
CELL_NAMES = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM", "transformer": "Transformer"}
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
    for i, model in enumerate(models):
        for impl in ("fused", "scratch"):
            sub = ok[(ok["model"] == model) & (ok["impl"] == impl)].sort_values("seq_len")
            if sub.empty:
                continue
            fig.add_trace(
                go.Scatter(
                    x=sub["seq_len"],
                    y=sub["median_ms"],
                    error_y={"type": "data", "array": sub["iqr_ms"], "thickness": 1},
                    name=f"{CELL_NAMES.get(model, model)}, {IMPL_NAMES[impl]}",
                    mode="lines+markers",
                    line={"color": PALETTE[i % len(PALETTE)], "dash": IMPL_DASH[impl]},
                )
            )
    fig.update_xaxes(type="log", title="sequence length T")
    fig.update_yaxes(type="log", title="forward + backward time (ms)")
    fig.update_layout(title=title, legend={"font": {"size": 11}})
    return fig


def timing_interactive(
    measure,
    lengths: dict[str, Sequence[int]],
    batches: Sequence[int],
    devices: Sequence[str],
    static_batches: Sequence[int] | None = None,
    hidden: int = 64,
    notes: dict[str, str] | None = None,
) -> Interactive:
    """The live timing comparison (three modes).

    Inputs: ``measure(lengths, batch, device) -> DataFrame`` (a :func:`bench_seqlen` table);
    ``lengths``: named sets of sequence lengths, e.g. ``{"16-256": (16, 64, 256)}``;
    ``batches``: batch sizes offered live; ``devices``: e.g. ``["cpu", "cuda"]``;
    ``static_batches``: the batch sizes the static book measures (default: all ``batches``),
    on the first device with the first set of lengths; ``notes``: ``{device: "note"}`` added to
    the title (e.g. ``{"cpu": "1 thread"}``).
    Outputs: an :class:`~seqlab.viz.Interactive` with controls batch, lengths, device.
    """

    def compute(batch: int, lengths_name: str, device: str) -> pd.DataFrame:
        return measure(tuple(lengths[lengths_name]), batch, device)

    def figure(df: pd.DataFrame, batch: int, device: str) -> go.Figure:
        note = f" ({notes[device]})" if notes and device in notes else ""
        return timing_figure(df, title=f"B = {batch}, H = {hidden}, on {device}{note}")

    return Interactive(
        compute,
        figure,
        {"batch": list(batches), "lengths_name": list(lengths), "device": list(devices)},
        static_controls={
            "batch": list(static_batches or batches),
            "lengths_name": [next(iter(lengths))],
            "device": [devices[0]],
        },
        slider="batch",
        labels={"batch": "batch size B", "lengths_name": "lengths T", "device": "device"},
    )


def timing_setup() -> dict:
    """Sizes of the book's timing comparison for the current profile: ``hidden``, named
    ``lengths``, live ``batches``, ``static_batches`` and timed ``repeats``."""
    from seqlab.device import by_profile

    return {
        "hidden": by_profile(smoke=32, standard=64),
        "lengths": by_profile(
            smoke={"8, 32": (8, 32)},
            standard={"16, 64, 256": (16, 64, 256), "16 ... 1024": (16, 64, 256, 1024)},
        ),
        "batches": by_profile(smoke=[1, 8], standard=[1, 4, 16, 64, 256]),
        "static_batches": by_profile(smoke=[1, 8], standard=[1, 16, 64]),
        "repeats": by_profile(smoke=2, standard=3),
    }
