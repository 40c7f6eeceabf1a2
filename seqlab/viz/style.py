"""One look for every figure: a colour-blind-safe palette, a screen theme, a print style.

- :data:`PALETTE` is the Okabe-Ito palette (Okabe & Ito 2008), ordered so the first colours
  stay distinct on white and in grey-scale; it is the colour cycle of both Plotly and matplotlib.
  :data:`SEQUENTIAL` and :data:`DIVERGING` name colour maps that are safe for colour-blind readers
  and exist under the same name in Plotly and matplotlib.
- :func:`use_screen_theme` is called by ``seqlab.notebook.setup()``: Plotly's default template
  becomes ``seqlab`` (``plotly_white`` with the palette) and matplotlib gets a light grid with
  the palette. Seaborn uses matplotlib's colour cycle, so seaborn follows without being imported
  here (importing it takes 3 s).
- :func:`paper_style` sizes a matplotlib figure for a LaTeX column (3.3 in) or page (6.9 in) with
  ``tueplots`` presets (fontsizes, line widths), serif text matching LaTeX's Computer Modern
  *without* a LaTeX installation, and vector-friendly output (fonts embedded as TrueType).

Fonts: LaTeX's look comes from "CMU Serif" (Debian/Ubuntu package ``fonts-cmu``) or "Latin Modern
Roman" when installed; otherwise text falls back to DejaVu Serif (always there, matplotlib ships
it). Math (``$\\lambda_{\\max}$``) always uses matplotlib's Computer Modern mathtext. matplotlib's
bundled ``cmr10`` is *not* used for text: it has TeX's old encoding, so ``_ < > { } |`` print as
other glyphs. matplotlib resolves fonts when it *draws*: show or save a paper figure inside
``with paper_style(...)`` (``seqlab.viz.export`` does this for you).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
from cycler import cycler
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

# Okabe-Ito: blue, vermillion, bluish green, orange, reddish purple, sky blue, yellow, black.
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#E69F00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
SEQUENTIAL = "viridis"  # perceptually uniform, colour-blind safe (Plotly and matplotlib name)
DIVERGING = "RdBu_r"  # blue (low) - white - red (high), for signed values such as encodings

COLUMN_WIDTH_IN = 3.3  # one column of a two-column LaTeX layout
PAGE_WIDTH_IN = 6.9  # the full text width of a two-column layout
WIDTHS_IN: dict[str, float] = {"column": COLUMN_WIDTH_IN, "page": PAGE_WIDTH_IN}
GOLDEN = (5**0.5 - 1) / 2  # default height / width of one panel

PLOTLY_TEMPLATE = "seqlab"
_CM_TEXT_FONTS = ("CMU Serif", "Latin Modern Roman", "Computer Modern Roman")


def color(i: int) -> str:
    """The ``i``-th palette colour (cycles)."""
    return PALETTE[i % len(PALETTE)]


#: every figure draws the cells in this order and colour
CELL_ORDER: tuple[str, ...] = ("rnn", "gru", "lstm", "transformer")
CELL_NAMES: dict[str, str] = {
    "rnn": "RNN",
    "gru": "GRU",
    "lstm": "LSTM",
    "transformer": "Transformer",
}


def cell_name(cell: str) -> str:
    """``"lstm"`` -> ``"LSTM"``; other names as they are."""
    return CELL_NAMES.get(cell, cell)


def cell_color(cell: str) -> str:
    """One colour per architecture, the same in every figure (any case; a GPT is drawn in the
    Transformer's colour)."""
    key = {"gpt": "transformer"}.get(str(cell).lower(), str(cell).lower())
    return PALETTE[CELL_ORDER.index(key)] if key in CELL_ORDER else PALETTE[4]


def log_ticks(values: Iterable[float]) -> dict[str, list]:
    """``tickvals`` and ``ticktext`` for a Plotly log axis over the positive finite ``values``:
    decades when the data span several, else 1-2-5 or finer steps, so that at least three ticks
    are labelled even over less than a decade (Plotly's default labels one or none there).
    Empty dict when no value is positive."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x)) and float(x) > 0]
    if not v:
        return {}
    lo, hi = min(v) / 1.05, max(v) * 1.05
    e0, e1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    inside: list[float] = []
    for steps in ((1,), (1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8)):
        ticks = [round(m * 10.0**e, 12) for e in range(e0, e1 + 1) for m in steps]
        inside = [t for t in ticks if lo <= t <= hi]
        if len(inside) >= 3:
            break
    if len(inside) < 2:  # a very narrow range: its two ends, to two significant figures
        inside = sorted({float(f"{min(v):.2g}"), float(f"{max(v):.2g}")})
    return {"tickvals": inside, "ticktext": [f"{t:g}" for t in inside]}


def tidy_log_x(fig: Figure, ticks: Iterable[float], ylabel: str | None = None) -> Figure:
    """Label a matplotlib figure's log x-axis at the measured values only (no 2x10^1-style
    minor labels); optionally set the y label. Returns the figure."""
    ax = fig.axes[0]
    ax.xaxis.set_major_locator(FixedLocator(sorted(set(ticks))))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    if ylabel:
        ax.set_ylabel(ylabel)
    return fig


def use_screen_theme() -> None:
    """Make the palette the default of Plotly (template ``seqlab``) and matplotlib.

    Called by ``seqlab.notebook.setup()``; safe to call again.
    """
    import plotly.graph_objects as go
    import plotly.io as pio

    ours = go.layout.Template(
        layout={
            "colorway": list(PALETTE),
            "colorscale": {"sequential": SEQUENTIAL, "diverging": DIVERGING},
            "hovermode": "closest",
            "legend": {"bgcolor": "rgba(255,255,255,0.6)"},
        }
    )
    # Merged once and stored under one name: a "plotly_white+seqlab" default would be merged
    # again on every go.Figure() (~0.1 s each), too slow for a slider.
    pio.templates[PLOTLY_TEMPLATE] = pio.templates.merge_templates("plotly_white", ours)
    pio.templates.default = PLOTLY_TEMPLATE
    mpl.rcParams.update(screen_rc())


def screen_rc() -> dict[str, Any]:
    """matplotlib settings for figures read on screen (a seaborn "whitegrid"-like look)."""
    return {
        "axes.prop_cycle": cycler(color=list(PALETTE)),
        "image.cmap": SEQUENTIAL,
        "figure.figsize": (6.4, 4.0),
        "figure.dpi": 100,
        "axes.grid": True,
        "grid.color": "#e5e5e5",
        "grid.linewidth": 0.8,
        "axes.edgecolor": "#cccccc",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.axisbelow": True,
        "legend.frameon": False,
        "font.size": 11,
    }


def paper_fonts() -> dict[str, Any]:
    """Serif fonts that match LaTeX without ``text.usetex`` (see the module docstring)."""
    return {
        "text.usetex": False,
        "font.family": "serif",
        "font.serif": [*_CM_TEXT_FONTS, "DejaVu Serif"],
        "mathtext.fontset": "cm",
    }


class _QuietCMWeight(logging.Filter):
    """Drop matplotlib's "Failed to find font weight normal for CMU Serif, now using 500".

    CMU Serif labels its regular face weight 500; matplotlib picks it (right) and warns (noise).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (
            str(record.msg).startswith("findfont: Failed to find font weight")
            and len(args) > 1
            and str(args[1]) in _CM_TEXT_FONTS
        )


def paper_rc(
    width: str = "column",
    nrows: int = 1,
    ncols: int = 1,
    height_ratio: float | None = None,
) -> dict[str, Any]:
    """matplotlib rc settings for a print figure.

    Inputs:
        width: ``"column"`` (3.3 in) or ``"page"`` (6.9 in).
        nrows, ncols: the panel grid; the height grows with ``nrows / ncols``.
        height_ratio: height / width of one panel (default: golden ratio, 0.618; half that
            for a one-panel page-wide figure, so it is as tall as a column figure).
    Outputs:
        a dict for ``matplotlib.rc_context`` / ``rcParams.update``: tueplots fontsizes (9 pt text,
        7 pt ticks and legend, as in a 10 pt LaTeX document), tueplots line widths, serif fonts,
        the palette, constrained layout, TrueType font embedding in PDF/PS, 300 dpi.
    """
    from tueplots import axes as tp_axes
    from tueplots import figsizes, fontsizes

    if width not in WIDTHS_IN:
        raise ValueError(f"unknown width {width!r}; valid: 'column' (3.3 in), 'page' (6.9 in)")
    for value, name in ((nrows, "nrows"), (ncols, "ncols")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    ratio = height_ratio
    if ratio is None:
        ratio = GOLDEN / 2 if (width == "page" and ncols == 1) else GOLDEN
    if not ratio > 0:
        raise ValueError(f"height_ratio must be > 0, got {height_ratio!r}")
    # AAAI's half-column preset is exactly 3.3 in; rel_width scales it to the page width.
    sizes = figsizes.aaai2024_half(
        nrows=nrows,
        ncols=ncols,
        height_to_width_ratio=ratio,
        rel_width=WIDTHS_IN[width] / COLUMN_WIDTH_IN,
    )
    w_in, h_in = sizes["figure.figsize"]
    sizes["figure.figsize"] = (WIDTHS_IN[width], round(h_in * WIDTHS_IN[width] / w_in, 4))
    rc: dict[str, Any] = {}
    rc.update(sizes)
    rc.update(fontsizes.aaai2024())  # 9 pt base, 7 pt small: a 10 pt document's caption size
    rc.update(tp_axes.lines())
    rc.update(tp_axes.spines(top=False, right=False))
    rc.update(paper_fonts())
    rc.update(
        {
            "axes.prop_cycle": cycler(color=list(PALETTE)),
            "image.cmap": SEQUENTIAL,
            "axes.grid": False,
            "axes.formatter.use_mathtext": True,
            "legend.frameon": False,
            "figure.dpi": 150,
            "savefig.dpi": 300,
            "savefig.bbox": None,  # keep the exact page size: no "tight" cropping
            "pdf.fonttype": 42,  # embed TrueType: text stays text, selectable and searchable
            "ps.fonttype": 42,
            "svg.fonttype": "path",  # SVG viewers may lack the font: draw glyphs as paths
        }
    )
    return rc


@contextmanager
def paper_style(
    width: str = "column",
    nrows: int = 1,
    ncols: int = 1,
    height_ratio: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Context manager: inside it ``plt.subplots()`` makes a print-sized figure.

    ``with paper_style("column"): fig, ax = plt.subplots()`` gives a 3.3 in wide figure with
    LaTeX-like fonts; see :func:`paper_rc` for the arguments. Yields the rc dict.
    """
    rc = paper_rc(width, nrows=nrows, ncols=ncols, height_ratio=height_ratio)
    logger, quiet = logging.getLogger("matplotlib.font_manager"), _QuietCMWeight()
    logger.addFilter(quiet)
    try:
        with mpl.rc_context(rc):
            yield rc
    finally:
        logger.removeFilter(quiet)
