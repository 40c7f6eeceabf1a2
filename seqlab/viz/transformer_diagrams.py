"""The Transformer block drawn by code (chapter 5): post-LN (Vaswani et al. 2017) beside pre-LN
(GPT-2; Xiong et al. 2020), as :class:`seqlab.models.transformer.TransformerBlock` computes
them. Registered for ``make figures`` as ``transformer_block``.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Circle

from seqlab.viz.attention_diagrams import _arrow, _box
from seqlab.viz.diagrams import Diagram
from seqlab.viz.export import register_figure
from seqlab.viz.style import PALETTE

__all__ = ["block_diagram"]

# (label, colour) of each box, bottom to top; "+" is a residual sum fed from ``_FROM``
_POST = [("x", 7), ("MHA (mask)", 0), ("+", None), ("LayerNorm ln1", 3), ("FFN", 2), ("+", None),
         ("LayerNorm ln2", 3), ("out", 7)]  # fmt: skip
_PRE = [("x", 7), ("LayerNorm ln1", 3), ("MHA (mask)", 0), ("+", None), ("LayerNorm ln2", 3),
        ("FFN", 2), ("+", None), ("out", 7)]  # fmt: skip


def _column(ax, cx: float, items, title: str, post: bool) -> None:
    dy = 0.62
    last_branch = 0  # the row whose output the next residual adds back
    for i, (text, color) in enumerate(items):
        y = i * dy
        if text == "+":
            ax.add_patch(_circle(cx, y))
            ax.text(cx, y, "+", ha="center", va="center", fontsize=9)
            # the residual path: from the branch point up the side into the sum
            by = last_branch * dy + 0.15
            ax.plot([cx, cx - 1.05, cx - 1.05], [by, by, y], color="black", lw=0.8)
            _arrow(ax, cx - 1.05, y, cx - 0.14, y)
            last_branch = i + 1 if post else i  # post-LN: the sum is normalised first
        else:
            _box(ax, cx, y, 1.5, 0.36, text, PALETTE[color], fontsize=7)
        if i:
            _arrow(ax, cx, y - dy + (0.12 if items[i - 1][0] == "+" else 0.18),
                   cx, y - (0.12 if text == "+" else 0.18))  # fmt: skip
    ax.text(cx, len(items) * dy - 0.1, title, ha="center", fontsize=8, weight="bold")


def _circle(x: float, y: float) -> Circle:
    return Circle((x, y), 0.12, facecolor="white", edgecolor="black", lw=0.8)


def block_diagram(figsize: tuple[float, float] | None = (4.6, 3.6)) -> Figure:
    """Post-LN (left: x = LN(x + f(x))) and pre-LN (right: x = x + f(LN(x))) blocks; f is the
    masked multi-head self-attention, then the feed-forward network. ``figsize`` None: the
    current rc's size (the paper's column inside ``make figures``)."""
    fig = Diagram(figsize=figsize)
    ax = fig.add_subplot()
    _column(ax, 1.3, _POST, "post-LN\nx = LN(x + f(x))", post=True)
    _column(ax, 4.3, _PRE, "pre-LN\nx = x + f(LN(x))", post=False)
    ax.set_xlim(-0.2, 5.4)
    ax.set_ylim(-0.4, len(_POST) * 0.62 + 0.45)
    ax.axis("off")
    return fig


@register_figure(
    "transformer_block",
    chapter="transformer",
    width="column",
    height_ratio=0.8,
    caption="The Transformer block as seqlab's TransformerBlock computes it: post-LN (Vaswani "
    "et al.), LayerNorm after each residual sum, and pre-LN (GPT-2), LayerNorm at the start of "
    "each branch with an untouched residual path.",
)
def transformer_block(profile: str) -> Figure:
    """Block diagram."""
    return block_diagram(figsize=None)
