"""Architecture diagrams drawn by code: an unrolled RNN, an LSTM cell and a GRU cell.

Each diagram uses the symbols of the chapter's equations (``x_t``, ``h_{t-1}``, ``W_hh``;
``i, f, g, o, c_t`` for the LSTM; ``r, z, n`` for the GRU, ``n_t`` being the candidate that
other texts call :math:`\\tilde h_t`). They are matplotlib figures, vector all the way:

- in a notebook a diagram shows as SVG (:class:`Diagram` offers ``image/svg+xml`` only);
- ``make figures`` exports them as PDF/SVG/PNG (``rnn_unrolled``, ``lstm_cell``, ``gru_cell``).

Colours work on a light and a dark page: the background is transparent, every text sits on a
light fill (boxes, circles, label chips), and lines are a mid grey visible on both.

Usage in a chapter::

    from seqlab.viz.diagrams import lstm_cell_diagram
    lstm_cell_diagram()          # the last expression of a cell: shown as SVG
"""

from __future__ import annotations

import io

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from seqlab.viz.export import register_figure
from seqlab.viz.style import WIDTHS_IN

__all__ = [
    "Diagram",
    "gru_cell_diagram",
    "lstm_cell_diagram",
    "unrolled_rnn_diagram",
]

LINE = "#808080"  # lines and arrows: mid grey, visible on white and on a dark page
TEXT = "#1a1a1a"  # text, always on a light fill
SIGMOID_FILL = "#cfe3f3"  # light blue: sigmoid gates
TANH_FILL = "#fbe0c8"  # light orange: tanh layers
OP_FILL = "#eeeeee"  # pointwise operations
STATE_FILL = "#d5efe4"  # light green: the states h and c
CHIP_FILL = "#fafafa"  # label chips on lines
FONT = 11  # points at a diagram's natural width; scaled with the width it is drawn at
_font = [FONT]  # the size of the diagram being drawn (set by _canvas)


class Diagram(Figure):
    """A matplotlib figure that a notebook shows as SVG (vector, sharp at any zoom)."""

    def svg(self) -> str:
        """The figure as an SVG document."""
        buf = io.StringIO()
        self.savefig(buf, format="svg", transparent=True, bbox_inches="tight")
        return buf.getvalue()

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_mimebundle_(self, include=None, exclude=None):  # noqa: ANN001
        return {"image/svg+xml": self.svg(), "text/plain": repr(self)}

    def __repr__(self) -> str:
        return f"<Diagram {self.get_label() or ''}>"


def _canvas(
    width: float, height: float, xlim: float, ylim: float, label: str, width_in: float | None
) -> tuple[Diagram, Axes]:
    """A transparent canvas ``xlim`` x ``ylim`` data units, ``width`` inches wide at natural
    size or ``width_in`` inches (fonts scale with it)."""
    scale = 1.0 if width_in is None else width_in / width
    _font[0] = FONT * scale
    fig = Diagram(figsize=(width * scale, height * scale))
    fig.set_label(label)
    fig.patch.set_alpha(0)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, xlim)
    ax.set_ylim(0, ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.patch.set_alpha(0)
    return fig, ax


def _box(ax: Axes, x: float, y: float, text: str, fill: str, w: float = 0.8, h: float = 0.55):
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=fill, edgecolor=LINE, linewidth=1.2, zorder=3,
        )
    )  # fmt: skip
    ax.text(x, y, text, ha="center", va="center", fontsize=_font[0], color=TEXT, zorder=4)


def _op(ax: Axes, x: float, y: float, text: str, r: float = 0.22):
    ax.add_patch(Circle((x, y), r, facecolor=OP_FILL, edgecolor=LINE, linewidth=1.2, zorder=3))
    ax.text(x, y, text, ha="center", va="center", fontsize=_font[0], color=TEXT, zorder=4)


def _chip(ax: Axes, x: float, y: float, text: str, size: float = 0, ha: str = "center"):
    """Text on a light chip; ``size`` in points relative to the diagram's font (0 = same)."""
    ax.text(
        x, y, text, ha=ha, va="center", fontsize=_font[0] + size * _font[0] / FONT, color=TEXT, zorder=5,
        bbox={"boxstyle": "round,pad=0.15", "facecolor": CHIP_FILL, "edgecolor": "none"},
    )  # fmt: skip


def _line(ax: Axes, points: list[tuple[float, float]], arrow: bool = True, dashed: bool = False):
    """A polyline through ``points``; an arrow head at the last point when ``arrow``."""
    style = "--" if dashed else "-"
    for (x0, y0), (x1, y1) in zip(points[:-2], points[1:-1], strict=True):
        ax.plot([x0, x1], [y0, y1], color=LINE, linewidth=1.4, linestyle=style, zorder=1)
    (x0, y0), (x1, y1) = points[-2], points[-1]
    ax.add_patch(
        FancyArrowPatch(
            (x0, y0), (x1, y1), arrowstyle="-|>" if arrow else "-", mutation_scale=12,
            color=LINE, linewidth=1.4, linestyle=style, shrinkA=0, shrinkB=0, zorder=2,
        )
    )  # fmt: skip


def unrolled_rnn_diagram(
    steps: int = 3, show_gradient: bool = True, width_in: float | None = None
) -> Diagram:
    """An Elman RNN unrolled over ``steps`` steps: h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h),
    y_t = W_hy h_t + b_y, the same three matrices at every step.

    With ``show_gradient`` a dashed arrow runs backwards under the chain: each step back
    multiplies the gradient by diag(1 - h_t^2) W_hh (transposed).
    """
    names = [("t-1" if k == -1 else "t" if k == 0 else f"t+{k}" if k > 0 else f"t{k}")
             for k in range(-(steps // 2), steps - steps // 2)]  # fmt: skip
    dx, x0 = 2.6, 1.9
    width = x0 + dx * (steps - 1) + 1.9
    fig, ax = _canvas(width * 0.95, 4.6 * 0.95, width, 4.6, "unrolled RNN", width_in)
    yb, yh, yt = 0.75, 2.3, 3.9
    prev = names[0].replace("t", "t-1", 1) if names[0] == "t" else None
    first_in = f"$h_{{{prev}}}$" if prev else "$h_{t-2}$" if names[0] == "t-1" else "$h_0$"
    _chip(ax, 0.25, yh + 0.35, first_in, ha="left")
    _line(ax, [(0.1, yh), (x0 - 0.45, yh)])
    for j, name in enumerate(names):
        x = x0 + dx * j
        _box(ax, x, yb - 0.35, f"$x_{{{name}}}$", CHIP_FILL, w=0.75, h=0.45)
        _line(ax, [(x, yb - 0.1), (x, yh - 0.33)])
        _chip(ax, x + 0.1, (yb + yh) / 2 - 0.05, "$W_{xh}$", size=-1, ha="left")
        _box(ax, x, yh, r"$\tanh$", TANH_FILL, w=0.85, h=0.62)
        _chip(ax, x - 0.1, yh - 0.52, f"$h_{{{name}}}$", size=-1, ha="right")
        _line(ax, [(x, yh + 0.33), (x, yt - 0.25)])
        _chip(ax, x + 0.1, (yh + yt) / 2 + 0.05, "$W_{hy}$", size=-1, ha="left")
        _box(ax, x, yt, f"$y_{{{name}}}$", CHIP_FILL, w=0.75, h=0.45)
        x_next = x0 + dx * (j + 1) - 0.45 if j < steps - 1 else width - 0.1
        _line(ax, [(x + 0.45, yh), (x_next, yh)])
        _chip(ax, x + dx / 2, yh + 0.3, "$W_{hh}$", size=-1)
    if show_gradient:
        y = yh - 1.05
        _line(ax, [(x0 + dx * (steps - 1) + 0.3, y), (x0 - 0.3, y)], dashed=True)
        _chip(
            ax, x0 + dx * (steps - 1) / 2, y - 0.02,
            r"gradient, each step back: $\times\, W_{hh}^\top \mathrm{diag}(1-h_t^2)$",
            size=-2,
        )  # fmt: skip
    return fig


def lstm_cell_diagram(width_in: float | None = None) -> Diagram:
    """One LSTM step: gates i, f, o (sigmoid) and candidate g (tanh) read x_t and h_{t-1};
    c_t = f_t * c_{t-1} + i_t * g_t runs along the top, h_t = o_t * tanh(c_t) leaves right."""
    fig, ax = _canvas(6.6, 4.1, 10.0, 6.2, "LSTM cell", width_in)
    ax.add_patch(
        FancyBboxPatch(
            (1.0, 0.55), 7.6, 4.55, boxstyle="round,pad=0.02,rounding_size=0.25",
            facecolor=STATE_FILL, alpha=0.25, edgecolor=LINE, linewidth=1.0, zorder=0,
        )
    )  # fmt: skip
    yc, yg, ybus = 4.6, 1.95, 0.95
    xf, xi, xg, xo, xt = 2.6, 3.7, 4.8, 5.9, 7.2
    # the cell state along the top
    _chip(ax, 0.1, yc + 0.35, "$c_{t-1}$", ha="left")
    _line(ax, [(0.1, yc), (xf - 0.22, yc)], arrow=True)
    _op(ax, xf, yc, r"$\odot$")
    _line(ax, [(xf + 0.22, yc), (xg - 0.22, yc)])
    _op(ax, xg, yc, "$+$")
    _line(ax, [(xg + 0.22, yc), (9.9, yc)])
    _chip(ax, 9.85, yc + 0.35, "$c_t$", ha="right")
    # the inputs: h_{t-1} from the left, x_t from below, one bus to the four layers
    _chip(ax, 0.1, ybus + 0.35, "$h_{t-1}$", ha="left")
    _line(ax, [(0.1, ybus), (xo, ybus)], arrow=False)
    _line(ax, [(1.7, 0.0), (1.7, ybus)], arrow=False)
    _chip(ax, 1.85, 0.2, "$x_t$", ha="left")
    for x, name, fill, fn in [
        (xf, "f", SIGMOID_FILL, r"\sigma"),
        (xi, "i", SIGMOID_FILL, r"\sigma"),
        (xg, "g", TANH_FILL, r"\tanh"),
        (xo, "o", SIGMOID_FILL, r"\sigma"),
    ]:
        _line(ax, [(x, ybus), (x, yg - 0.28)])
        _box(ax, x, yg, f"${fn}$", fill, w=0.8)
        _chip(ax, x + 0.12, yg + 0.55, f"${name}_t$", size=-1, ha="left")
    # f gates the old cell state; i gates the candidate g
    _line(ax, [(xf, yg + 0.28), (xf, yc - 0.22)])
    ymul = 3.3
    _line(ax, [(xi, yg + 0.28), (xi, ymul), (xg - 0.22, ymul)])
    _line(ax, [(xg, yg + 0.28), (xg, ymul - 0.22)])
    _op(ax, xg, ymul, r"$\odot$")
    _line(ax, [(xg, ymul + 0.22), (xg, yc - 0.22)])
    # h_t = o_t * tanh(c_t)
    _line(ax, [(xt, yc), (xt, 3.55 + 0.25)])
    _box(ax, xt, 3.55, r"$\tanh$", TANH_FILL, w=0.8, h=0.5)
    _line(ax, [(xt, 3.55 - 0.25), (xt, yg + 0.22)])
    _line(ax, [(xo + 0.4, yg), (xt - 0.22, yg)])
    _op(ax, xt, yg, r"$\odot$")
    _line(ax, [(xt + 0.22, yg), (8.4, yg), (8.4, ybus), (9.9, ybus)])
    _chip(ax, 9.85, ybus + 0.35, "$h_t$", ha="right")
    _line(ax, [(8.4, yg), (8.4, 6.1)])
    _chip(ax, 8.55, 5.85, "$h_t$", ha="left")
    _chip(
        ax, 5.0, 5.75,
        r"each box: $W_{i\cdot}\,x_t + W_{h\cdot}\,h_{t-1} + b$, then $\sigma$ or $\tanh$",
        size=-2,
    )  # fmt: skip
    return fig


def gru_cell_diagram(width_in: float | None = None) -> Diagram:
    """One GRU step: gates r, z (sigmoid) read x_t and h_{t-1}; the candidate n_t (tanh) sees
    h_{t-1} through r_t; h_t = (1 - z_t) * n_t + z_t * h_{t-1} runs along the top."""
    fig, ax = _canvas(6.6, 4.1, 10.0, 6.2, "GRU cell", width_in)
    ax.add_patch(
        FancyBboxPatch(
            (1.0, 0.55), 7.6, 4.55, boxstyle="round,pad=0.02,rounding_size=0.25",
            facecolor=STATE_FILL, alpha=0.25, edgecolor=LINE, linewidth=1.0, zorder=0,
        )
    )  # fmt: skip
    yh, yg, ybus = 4.6, 1.95, 0.95
    xz, xr, xn = 3.2, 4.7, 6.4
    # the state along the top
    _chip(ax, 0.1, yh + 0.35, "$h_{t-1}$", ha="left")
    _line(ax, [(0.1, yh), (xz - 0.22, yh)])
    _op(ax, xz, yh, r"$\odot$")
    _line(ax, [(xz + 0.22, yh), (xn - 0.22, yh)])
    _op(ax, xn, yh, "$+$")
    _line(ax, [(xn + 0.22, yh), (9.9, yh)])
    _chip(ax, 9.85, yh + 0.35, "$h_t$", ha="right")
    _line(ax, [(8.4, yh), (8.4, 6.1)])
    _chip(ax, 8.55, 5.85, "$h_t$", ha="left")
    # h_{t-1} down to the bus, x_t from below
    _line(ax, [(1.5, yh), (1.5, ybus), (xn, ybus)], arrow=False)
    _line(ax, [(2.2, 0.0), (2.2, ybus)], arrow=False)
    _chip(ax, 2.35, 0.2, "$x_t$", ha="left")
    for x, name, fill, fn in [
        (xz, "z", SIGMOID_FILL, r"\sigma"),
        (xr, "r", SIGMOID_FILL, r"\sigma"),
        (xn, "n", TANH_FILL, r"\tanh"),
    ]:
        _line(ax, [(x, ybus), (x, yg - 0.28)])
        _box(ax, x, yg, f"${fn}$", fill, w=0.8)
        lx = x - 0.12 if name == "n" else x + 0.12
        _chip(ax, lx, yg + 0.55, f"${name}_t$", size=-1, ha="right" if name == "n" else "left")
    # r_t scales the recurrent term inside n_t
    _line(ax, [(xr + 0.4, yg), (xn - 0.4, yg)])
    # z_t keeps the old state; 1 - z_t takes the candidate
    _line(ax, [(xz, yg + 0.28), (xz, yh - 0.22)])
    ymix = 3.3
    _line(ax, [(xz, ymix), (xr - 0.3, ymix)])
    _op(ax, xr, ymix, "$1-$", r=0.3)
    _line(ax, [(xr + 0.3, ymix), (xn - 0.22, ymix)])
    _line(ax, [(xn, yg + 0.28), (xn, ymix - 0.22)])
    _op(ax, xn, ymix, r"$\odot$")
    _line(ax, [(xn, ymix + 0.22), (xn, yh - 0.22)])
    _chip(
        ax, 5.0, 5.75,
        r"$r_t$ scales $W_{hn} h_{t-1} + b_{hn}$ inside $n_t$ (the $\tilde h_t$ of other texts)",
        size=-2,
    )  # fmt: skip
    return fig


_CAPTION_RNN = (
    r"An RNN unrolled in time: the same $W_{xh}$, $W_{hh}$, $W_{hy}$ at every step. "
    r"The dashed arrow is backpropagation through time: each step back multiplies the "
    r"gradient by $W_{hh}^\top \mathrm{diag}(1-h_t^2)$."
)


@register_figure("rnn_unrolled", chapter="rnn", width="page", caption=_CAPTION_RNN)
def rnn_unrolled(profile: str) -> Figure:
    """An Elman RNN unrolled over three steps."""
    return unrolled_rnn_diagram(width_in=WIDTHS_IN["page"])


@register_figure(
    "lstm_cell",
    chapter="lstm",
    width="column",
    caption=r"One LSTM step. Gates $i_t, f_t, o_t$ ($\sigma$) and the candidate $g_t$ "
    r"($\tanh$) read $x_t$ and $h_{t-1}$; $c_t = f_t \odot c_{t-1} + i_t \odot g_t$ and "
    r"$h_t = o_t \odot \tanh(c_t)$.",
)
def lstm_cell(profile: str) -> Figure:
    """One LSTM step."""
    return lstm_cell_diagram(width_in=WIDTHS_IN["column"])


@register_figure(
    "gru_cell",
    chapter="gru",
    width="column",
    caption=r"One GRU step. Gates $r_t, z_t$ ($\sigma$) and the candidate $n_t$ ($\tanh$, "
    r"which sees $h_{t-1}$ through $r_t$); $h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}$.",
)
def gru_cell(profile: str) -> Figure:
    """One GRU step."""
    return gru_cell_diagram(width_in=WIDTHS_IN["column"])
