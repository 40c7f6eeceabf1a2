"""Figures of chapter 4: the bottleneck, why sqrt(d_k), alignment heatmaps, diagrams.

- :func:`bottleneck_figure`: exact match against source length, one line per attention kind,
  mean and standard error over seeds.
- :func:`scaling_interactive` (over d_k and the scale) and :func:`scaling_figure` (the sweep).
- :func:`attention_interactive`: attention heatmaps over any controls (chapter 4: example,
  attention kind, training checkpoint; chapter 5 adds layer and head) -- live widgets, or one
  static Plotly figure with a dropdown and a slider. :class:`AlignmentExplorer`: type your own
  input (live only).
- :func:`encoder_decoder_diagram`, :func:`multihead_diagram`: the architectures, drawn by code.
- Print twins for ``make figures``: ``attention_bottleneck``, ``attention_scaling``,
  ``attention_alignment``, ``attention_encoder_decoder``, ``attention_multihead``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from seqlab.device import in_book_build
from seqlab.experiments.attention import (
    KIND_NAMES,
    alignment_at,
    bottleneck,
    scaling_sweep,
    softmax_scaling,
)
from seqlab.viz.export import register_figure
from seqlab.viz.interactive import Interactive
from seqlab.viz.plots import char_labels, heatmap_figure
from seqlab.viz.style import PALETTE, SEQUENTIAL

KIND_COLORS = {"none": PALETTE[7], "additive": PALETTE[0], "general": PALETTE[1], "dot": PALETTE[2]}


# ----------------------------------------------------------------------------- the bottleneck


def length_summary(by_length: pd.DataFrame) -> pd.DataFrame:
    """Mean, s.e. and seeds of exact match per (attention, length bin)."""
    g = by_length.groupby(["attention", "lo", "hi", "length"], sort=False)["exact_match"]
    out = g.agg(mean="mean", std="std", n="count").reset_index()
    out["sem"] = out["std"].fillna(0) / np.sqrt(out["n"])
    return out.sort_values(["attention", "lo"], kind="stable")


def bottleneck_figure(by_length: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Exact match against the source length (bins), one line per attention kind, mean ±
    standard error over seeds (the error bars)."""
    s = length_summary(by_length)
    fig = go.Figure()
    for kind in dict.fromkeys(by_length["attention"]):
        sub = s[s["attention"] == kind]
        fig.add_scatter(
            x=(sub["lo"] + sub["hi"] - 1) / 2, y=sub["mean"], name=KIND_NAMES.get(kind, kind),
            mode="lines+markers", line={"color": KIND_COLORS.get(kind)},
            error_y={"type": "data", "array": sub["sem"].tolist(), "visible": True},
            customdata=sub[["length", "n"]].to_numpy(),
            hovertemplate="%{customdata[0]} characters (%{customdata[1]} examples): "
            "%{y:.2f}<extra></extra>",
        )  # fmt: skip
    fig.update_xaxes(title="source length (characters, bin centre)")
    fig.update_yaxes(range=[-0.03, 1.03], title="test exact match")
    fig.update_layout(title=title, legend={"orientation": "h", "y": -0.25})
    return fig


@register_figure(
    "attention_bottleneck",
    chapter="attention",
    caption="German number words to digits: test exact match against the source length of a "
    "GRU encoder-decoder without attention and with additive and multiplicative attention at "
    "an equal parameter count; mean and standard error over seeds.",
)
def attention_bottleneck(profile: str) -> Figure:
    """Exact match vs source length by attention kind."""
    from seqlab.viz.export import plotly_to_matplotlib

    return plotly_to_matplotlib(bottleneck_figure(bottleneck("attention.bottleneck").by_length))


# ----------------------------------------------------------------------------- why sqrt(d_k)


def scaling_state_figure(data: Mapping[str, Any]) -> go.Figure:
    """The softmax weights of one query over its keys, with the measured statistics."""
    a = np.asarray(data["example"])
    fig = go.Figure(go.Bar(x=np.arange(1, len(a) + 1), y=a, marker_color=PALETTE[0]))
    fig.add_hline(y=1 / len(a), line_dash="dash", line_color="black", line_width=1)
    fig.update_xaxes(title="key j", dtick=1)
    fig.update_yaxes(title="weight a_j of one query", range=[0, 1.02])
    fig.update_layout(
        title=(
            f"d_k = {data['d_k']}, scale {data['scale']}: Var(score) = {data['var_score']:.3g}, "
            f"entropy {data['entropy']:.2f} of {data['max_entropy']:.2f} nats, largest weight "
            f"{data['max_weight']:.2f}, ‖∂a/∂s‖ {data['grad_norm']:.3f}"
        ),
        title_font_size=13,
        showlegend=False,
    )
    return fig


def scaling_interactive(d_ks: Sequence[int] = (1, 4, 16, 64, 256, 1024)) -> Interactive:
    """:func:`softmax_scaling` over d_k (slider) and the scale (dropdown)."""
    return Interactive(
        softmax_scaling,
        scaling_state_figure,
        {"d_k": list(d_ks), "scale": ["1/sqrt(d_k)", "1"]},
        defaults={"d_k": 64, "scale": "1"} if 64 in d_ks else None,
        labels={"d_k": "d_k", "scale": "scale"},
        title="Softmax of q·k over 16 random keys",
    )


def scaling_figure(table: pd.DataFrame) -> go.Figure:
    """Entropy and softmax gradient norm against d_k, with and without the scale."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("entropy of the weights (nats)",
                                                         "‖∂a/∂s‖ (softmax Jacobian)"))  # fmt: skip
    for i, scale in enumerate(("1/sqrt(d_k)", "1")):
        sub = table[table["scale"] == scale]
        name = "scores / √d_k" if scale != "1" else "unscaled q·k"
        for col, value in ((1, "entropy"), (2, "grad_norm")):
            fig.add_scatter(
                x=sub["d_k"], y=sub[value], name=name, mode="lines+markers",
                line={"color": PALETTE[i]}, showlegend=col == 1, row=1, col=col,
            )  # fmt: skip
    fig.update_xaxes(type="log", title="d_k")
    fig.update_layout(legend={"orientation": "h", "y": -0.3})
    return fig


@register_figure(
    "attention_scaling",
    chapter="attention",
    width="page",
    ncols=2,
    caption="Random queries and keys with $d_k$ unit-variance components: entropy of the "
    "softmax weights over 16 keys and norm of the softmax Jacobian, with and without the "
    "$1/\\sqrt{d_k}$ scale.",
)
def attention_scaling(profile: str) -> Figure:
    """Entropy and gradient vs d_k."""
    table = scaling_sweep("attention.scaling").table
    fig = Figure()
    axes = fig.subplots(1, 2)
    for i, scale in enumerate(("1/sqrt(d_k)", "1")):
        sub = table[table["scale"] == scale]
        label = r"$q \cdot k / \sqrt{d_k}$" if scale != "1" else r"$q \cdot k$"
        axes[0].plot(sub["d_k"], sub["entropy"], "o-", color=PALETTE[i], label=label)
        axes[1].plot(sub["d_k"], sub["grad_norm"], "o-", color=PALETTE[i], label=label)
    axes[0].set(xscale="log", xlabel="$d_k$", ylabel="entropy (nats)")
    axes[1].set(xscale="log", xlabel="$d_k$", ylabel="softmax Jacobian norm")
    axes[0].legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------- heatmaps


def alignment_figure(data: Mapping[str, Any], title: str | None = None) -> go.Figure:
    """The weights (U, S) of :func:`~seqlab.experiments.attention.alignment` as a heatmap: one
    row per output character, one column per source character; or the one-line message."""
    if not data.get("ok"):
        fig = go.Figure()
        fig.add_annotation(text=html.escape(data.get("message", "")), showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper")  # fmt: skip
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        return fig
    out = ["end" if c == "<eos>" else c for c in data["output"]]
    src = ["end" if c == "<eos>" else c for c in data["source"]]
    fig = heatmap_figure(
        data["weights"], x_labels=char_labels(src), y_labels=out,
        xlabel="source character", ylabel="output character",
        colorscale=SEQUENTIAL, zmin=0, zmax=1, colorbar_title="weight", title=title,
    )  # fmt: skip
    fig.update_layout(height=300, margin={"t": 60, "b": 50})
    return fig


def one_slider(fig: go.Figure) -> go.Figure:
    """Rewrite a static interactive's figure from one slider per dropdown entry (what
    :func:`seqlab.viz.static.combine_states` makes) to ONE slider whose steps each dropdown
    entry swaps in.

    Why: with heatmap traces, plotly.js (the 4.x bundled by plotly 7) fails inside
    ``Plotly.update`` when a dropdown entry hides the other sliders ("Cannot read properties of
    undefined (reading 'length')", measured in headless Chromium): the dropdown did nothing.
    Replacing the steps of a single slider does not hit that path.
    """
    sliders, menus = list(fig.layout.sliders or ()), list(fig.layout.updatemenus or ())
    if len(sliders) <= 1 or not menus:
        return fig
    start = next((i for i, s in enumerate(sliders) if s.visible is not False), 0)
    steps = [[st.to_plotly_json() for st in s.steps] for s in sliders]
    buttons = []
    for j, button in enumerate(menus[0].buttons):
        restyle, relayout = button.args
        relayout = {k: v for k, v in relayout.items() if not k.startswith("sliders[")}
        relayout["sliders[0].steps"] = steps[j]
        relayout["sliders[0].active"] = button.args[1].get(f"sliders[{j}].active", 0)
        buttons.append({**button.to_plotly_json(), "args": [restyle, relayout]})
    slider = {**sliders[start].to_plotly_json(), "visible": True}
    fig.layout.sliders = [slider]
    fig.layout.updatemenus[0].buttons = buttons
    return fig


class _HeatmapInteractive(Interactive):
    def static_figure(self) -> go.Figure:
        return one_slider(super().static_figure())


def attention_interactive(
    compute: Callable[..., Mapping[str, Any]],
    controls: Mapping[str, Sequence[Any]],
    *,
    slider: str | None = None,
    labels: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> Interactive:
    """Attention heatmaps over any controls: ``compute(**params)`` returns the dict of
    :func:`~seqlab.experiments.attention.alignment` (``source``, ``output``, ``weights``).

    Chapter 4 passes ``{"example", "kind", "checkpoint"}``; the Transformer chapter adds
    ``"layer"`` and ``"head"``: the figure and the three modes stay the same.
    """

    def figure(data, **params):
        head = data.get("translation")
        return alignment_figure(data, title=f"output: {head}" if head is not None else None)

    return _HeatmapInteractive(compute, figure, controls, slider=slider, labels=labels,
                               defaults=defaults, title=title)  # fmt: skip


def checkpoint_interactive(result, examples: Sequence[str], kinds: Sequence[str]) -> Interactive:
    """Chapter 4's heatmap: example and attention kind (dropdown), training step (slider), from
    the seed-0 models and snapshots of a :func:`~seqlab.experiments.attention.bottleneck`."""
    steps = list(result["snapshots"][kinds[0]])

    def compute(example: str, kind: str, checkpoint: int):
        return alignment_at(result, kind, checkpoint, example)

    return attention_interactive(
        compute,
        {"example": list(examples), "kind": list(kinds), "checkpoint": steps},
        slider="checkpoint",
        defaults={"checkpoint": steps[0]},  # opens untrained: slide to watch it form
        labels={"example": "input", "kind": "attention", "checkpoint": "training step"},
    )


class AlignmentExplorer:
    """Live only: type a source text, choose the attention kind, see where each output looks.

    In the static book (no kernel) it shows one line saying so instead of a dead widget. Text
    the model cannot read gets a one-line message in the widget, never a traceback.
    """

    def __init__(self, result, kinds: Sequence[str], text: str = "dreihundertzwölf") -> None:
        self.result, self.kinds, self.text = result, list(kinds), text
        self.steps = list(result["snapshots"][self.kinds[0]])

    def data(self, text: str, kind: str) -> Mapping[str, Any]:
        return alignment_at(self.result, kind, self.steps[-1], text)

    def widget(self):
        import ipywidgets as widgets
        from IPython.display import display

        box = widgets.Text(value=self.text, description="input", continuous_update=False)
        kind = widgets.Dropdown(options=[(KIND_NAMES.get(k, k), k) for k in self.kinds],
                                description="attention")  # fmt: skip
        message = widgets.HTML()
        out = widgets.Output()

        def redraw(_=None):
            data = self.data(box.value, kind.value)
            message.value = (
                f"<b>{html.escape(data['translation'])}</b>"
                if data.get("ok")
                else f"<span style='color:#D55E00'>{html.escape(data['message'])}</span>"
            )
            out.clear_output(wait=True)
            if data.get("ok"):
                with out:
                    display(alignment_figure(data))

        box.observe(redraw, names="value")
        kind.observe(redraw, names="value")
        redraw()
        return widgets.VBox([widgets.HBox([box, kind]), message, out])

    def _ipython_display_(self) -> None:
        from IPython.display import HTML, display

        if in_book_build():
            display(HTML("<p><i>Live in Jupyter or Colab: type a number in German words here "
                         "and see where each digit looks.</i></p>"))  # fmt: skip
        else:
            display(self.widget())


@register_figure(
    "attention_alignment",
    chapter="attention",
    caption="Alignment of the additive-attention model translating a German number: weight of "
    "each source character (columns) for each output digit (rows).",
)
def attention_alignment(profile: str) -> Figure:
    """The alignment heatmap of one example, for print."""
    result = bottleneck("attention.bottleneck")
    step = list(result["snapshots"]["additive"])[-1]
    data = alignment_at(result, "additive", step, "dreiundzwanzigtausendvierhundertelf")
    fig = Figure()
    ax = fig.add_subplot()
    if data["ok"]:
        ax.imshow(data["weights"], cmap=SEQUENTIAL, vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(data["source"])), [c if c != "<eos>" else "end"
                                                  for c in data["source"]], fontsize=5)  # fmt: skip
        ax.set_yticks(range(len(data["output"])), data["output"])
        ax.set(xlabel="source character", ylabel="output")
    return fig


# ----------------------------------------------------------------------------- diagrams


def _box(ax, x, y, w, h, text, color, fontsize=8, alpha=0.18):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02",
                                facecolor=color, alpha=alpha, edgecolor=color))  # fmt: skip
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, x0, y0, x1, y1, color="black", lw=0.8, alpha=1.0):
    ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=7,
                                 color=color, lw=lw, alpha=alpha, shrinkA=2, shrinkB=2))  # fmt: skip


def encoder_decoder_diagram(source: str = "elf", target: str = "11") -> Figure:
    """An RNN encoder-decoder with attention, drawn for one example: encoder states e_j, the
    decoder state h_t, weights a_tj, the context c_t and the prediction, as in the chapter."""
    fig = Figure(figsize=(6.9, 3.2))
    ax = fig.add_subplot()
    src = list(source) + ["end"]
    tgt = ["<bos>"] + list(target)
    for j, ch in enumerate(src):
        x = j * 1.1
        _box(ax, x, 0, 0.8, 0.5, f"$e_{j + 1}$", PALETTE[0])
        ax.text(x, -0.65, ch, ha="center", va="center", fontsize=9)
        _arrow(ax, x, -0.5, x, -0.25)
        if j:
            _arrow(ax, x - 0.7, 0, x - 0.4, 0)
    x0 = len(src) * 1.1 + 0.8
    for t in range(len(tgt)):
        x = x0 + t * 1.3
        _box(ax, x, 0, 0.8, 0.5, f"$h_{t + 1}$", PALETTE[1])
        ax.text(x, -0.65, tgt[t], ha="center", va="center", fontsize=8)
        _arrow(ax, x, -0.5, x, -0.25)
        if t:
            _arrow(ax, x - 0.9, 0, x - 0.4, 0)
    _arrow(ax, (len(src) - 1) * 1.1 + 0.4, 0, x0 - 0.4, 0, color=PALETTE[7])
    # attention of decoder step t = 1 over the encoder states
    t_star = x0
    _box(ax, t_star, 1.4, 1.0, 0.45, "$c_1 = \\sum_j a_{1j} e_j$", PALETTE[2], fontsize=7)
    weights = np.array([0.1, 0.15, 0.6, 0.15][: len(src)])
    for j in range(len(src)):
        _arrow(ax, j * 1.1, 0.25, t_star - 0.3, 1.2, color=PALETTE[2],
               lw=0.4 + 3 * weights[j % len(weights)], alpha=0.8)  # fmt: skip
    _arrow(ax, t_star, 0.25, t_star, 1.17, color=PALETTE[1])
    _box(ax, t_star, 2.4, 1.2, 0.45, "$\\tilde h_1 = \\tanh(W_c[c_1; h_1])$", PALETTE[3], 7)
    _arrow(ax, t_star, 1.63, t_star, 2.17)
    ax.text(t_star, 2.95, f"predict '{target[0]}'", ha="center", fontsize=8)
    _arrow(ax, t_star, 2.63, t_star, 2.85)
    ax.text(0.0, 2.6, "encoder (GRU) reads the source", fontsize=8, color=PALETTE[0])
    ax.text(0.0, 2.25, "decoder (GRU) writes the target", fontsize=8, color=PALETTE[1])
    ax.text(0.0, 1.9, "line width: attention weight $a_{1j}$", fontsize=8, color=PALETTE[2])
    ax.set_xlim(-0.7, x0 + len(tgt) * 1.3)
    ax.set_ylim(-0.9, 3.2)
    ax.axis("off")
    return fig


def multihead_diagram(num_heads: int = 4) -> Figure:
    """Multi-head attention: project X to Q, K, V, split into heads, attend per head,
    concatenate, project (the layout of ``seqlab.models.MultiHeadAttention``)."""
    fig = Figure(figsize=(6.9, 2.6))
    ax = fig.add_subplot()
    _box(ax, 0, 0, 1.4, 0.5, "$X$ (B, T, C)", PALETTE[7], fontsize=8)
    _box(ax, 2.1, 0, 1.9, 0.5, "qkv: $[W_q; W_k; W_v]$", PALETTE[0], fontsize=7)
    _arrow(ax, 0.7, 0, 1.15, 0)
    for h in range(num_heads):
        y = (h - (num_heads - 1) / 2) * 0.7
        _box(ax, 4.75, y, 2.6, 0.5, f"head {h + 1}: softmax$(q k^T/\\sqrt{{hs}})\\,v$",
             PALETTE[2], fontsize=6.5)  # fmt: skip
        _arrow(ax, 3.05, 0, 3.45, y)
        _arrow(ax, 6.05, y, 6.4, 0)
    _box(ax, 6.9, 0, 1.0, 0.5, "concat", PALETTE[3], fontsize=8)
    _box(ax, 8.3, 0, 1.2, 0.5, "proj: $W_o$", PALETTE[1], fontsize=8)
    _arrow(ax, 7.4, 0, 7.7, 0)
    _arrow(ax, 8.9, 0, 9.3, 0)
    ax.text(9.35, 0, "(B, T, C)", va="center", fontsize=8)
    ax.text(4.75, (num_heads / 2) * 0.7 + 0.1, "hs = C / nh features per head, "
            "in parallel: (B, nh, T, hs)", ha="center", fontsize=7)  # fmt: skip
    ax.set_xlim(-0.8, 10.2)
    ax.set_ylim(-(num_heads / 2) * 0.7 - 0.2, (num_heads / 2) * 0.7 + 0.4)
    ax.axis("off")
    return fig


@register_figure(
    "attention_encoder_decoder",
    chapter="attention",
    width="page",
    caption="An RNN encoder-decoder with attention: at each output step the decoder state "
    "$h_t$ weighs every encoder state $e_j$ and predicts from the context $c_t$ and $h_t$.",
)
def attention_encoder_decoder(profile: str) -> Figure:
    """Encoder-decoder diagram."""
    return encoder_decoder_diagram()


@register_figure(
    "attention_multihead",
    chapter="attention",
    width="page",
    caption="Multi-head attention: one projection to queries, keys and values, $n_h$ heads of "
    "size $C/n_h$ in parallel, concatenation and an output projection.",
)
def attention_multihead(profile: str) -> Figure:
    """Multi-head attention diagram."""
    return multihead_diagram()


__all__ = [
    "AlignmentExplorer",
    "alignment_figure",
    "attention_interactive",
    "bottleneck_figure",
    "checkpoint_interactive",
    "encoder_decoder_diagram",
    "length_summary",
    "multihead_diagram",
    "one_slider",
    "scaling_figure",
    "scaling_interactive",
    "scaling_state_figure",
]
