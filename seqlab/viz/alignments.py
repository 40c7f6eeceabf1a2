"""Attention heatmaps (chapter 4; the Transformer chapter adds layer and head).

- :func:`alignment_figure`: one map of weights, output characters (rows) by source characters.
- :func:`attention_interactive`: heatmaps over any controls, in the three modes of
  :class:`~seqlab.viz.interactive.Interactive`; :func:`checkpoint_interactive` is chapter 4's
  (input, attention kind, training step), :func:`layer_head_interactive` chapter 5's (input,
  layer, head of a Transformer).
- :class:`AlignmentExplorer`: type your own input (live only).
- Print twin ``attention_alignment``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.device import in_book_build
from seqlab.experiments.alignments import alignment_at
from seqlab.experiments.attention import KIND_NAMES, bottleneck
from seqlab.viz.export import register_figure
from seqlab.viz.interactive import Interactive
from seqlab.viz.plots import char_labels, heatmap_figure
from seqlab.viz.style import SEQUENTIAL

__all__ = [
    "AlignmentExplorer",
    "alignment_figure",
    "attention_interactive",
    "checkpoint_interactive",
    "layer_head_interactive",
]


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
        data["weights"], x_labels=char_labels(src), y_labels=char_labels(out),
        xlabel=data.get("xlabel", "source character"),
        ylabel=data.get("ylabel", "output character"),
        colorscale=SEQUENTIAL, zmin=0, zmax=1, colorbar_title="weight", title=title,
    )  # fmt: skip
    fig.update_layout(height=data.get("height", 300), margin={"t": 60, "b": 50})
    return fig


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
        return alignment_figure(
            data, title=f"output: {head or '(no digits)'}" if head is not None else None
        )

    return Interactive(compute, figure, controls, slider=slider, labels=labels,
                               defaults=defaults, title=title)  # fmt: skip


def layer_head_interactive(
    maps_of: Callable[[str], Mapping[str, Any]],
    texts: Sequence[str],
    n_layer: int,
    n_head: int,
    *,
    labels: Mapping[str, str] | None = None,
    axis_titles: tuple[str, str] = ("source character", "output character"),
    height: int = 300,
) -> Interactive:
    """Heatmaps of a Transformer's attention, chosen by text (dropdown), layer and head.

    ``maps_of(text)`` returns ``{"ok", "source" (S keys), "output" (U queries), "maps" (L, nh,
    U, S)}`` (or ``{"ok": False, "message"}``), e.g.
    :func:`~seqlab.experiments.transformer_lm.gpt_heads` or
    :func:`~seqlab.experiments.transformer_seq2seq.cross_attention`. It runs once per text;
    moving the layer or head slider only picks a precomputed map. The static book gets the
    text x layer (dropdown) x head (slider) grid.
    """
    per_text: dict[str, Mapping[str, Any]] = {}

    def compute(text: str, layer: int, head: int) -> Mapping[str, Any]:
        if text not in per_text:
            per_text[text] = maps_of(text)
        data = per_text[text]
        if not data.get("ok"):
            return data
        return {**{k: v for k, v in data.items() if k != "maps"},
                "weights": data["maps"][layer - 1, head - 1], "xlabel": axis_titles[0],
                "ylabel": axis_titles[1], "height": height}  # fmt: skip

    names = {"text": "input", "layer": "layer", "head": "head", **(labels or {})}
    return attention_interactive(
        compute,
        {
            "text": list(texts),
            "layer": list(range(1, n_layer + 1)),
            "head": list(range(1, n_head + 1)),
        },  # fmt: skip
        slider="head",
        labels=names,
    )


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

        def redraw(_=None, first: bool = False):
            data = self.data(box.value, kind.value)
            message.value = (
                f"<b>{html.escape(data['translation'])}</b>"
                if data.get("ok")
                else f"<span style='color:#D55E00'>{html.escape(data['message'])}</span>"
            )
            fig = alignment_figure(data) if data.get("ok") else None
            if first:  # no `with out:` while the notebook executes: see Interactive._first_draw
                out.outputs = _display_outputs(fig)
                return
            out.clear_output(wait=True)
            if fig is not None:
                with out:  # a redraw after a reader's edit: errors show in the widget
                    display(fig)

        box.observe(redraw, names="value")
        kind.observe(redraw, names="value")
        redraw(first=True)
        return widgets.VBox([widgets.HBox([box, kind]), message, out])

    def _ipython_display_(self) -> None:
        from IPython.display import HTML, display

        if in_book_build():
            display(HTML("<p><i>Live in Jupyter or Colab: type a number in German words here "
                         "and see where each digit looks.</i></p>"))  # fmt: skip
        else:
            display(self.widget())


def _display_outputs(fig: go.Figure | None) -> tuple:
    """``fig`` as the ``outputs`` of an ``ipywidgets.Output``, set directly (no capture)."""
    from IPython import get_ipython

    shell = get_ipython()
    if fig is None or shell is None:
        return ()
    data, metadata = shell.display_formatter.format(fig)
    return ({"output_type": "display_data", "data": data, "metadata": metadata},)


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
