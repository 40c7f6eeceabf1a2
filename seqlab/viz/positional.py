"""Sinusoidal positional encodings, drawn (chapter "transformer").

``PE[t, 2i] = sin(t / 10000^(2i/d))``, ``PE[t, 2i+1] = cos(t / 10000^(2i/d))`` (Vaswani et al.
2017, §3.5): position ``t``, dimension pair ``i``, model width ``d``, as computed by
:func:`seqlab.models.sinusoidal_positional_encoding`. ``pe_heatmap`` and ``pe_curves`` are the
print figures; :func:`pe_curves_figure` the Plotly one.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.models import sinusoidal_positional_encoding
from seqlab.viz.export import plotly_to_matplotlib, register_figure
from seqlab.viz.plots import line_figure
from seqlab.viz.style import DIVERGING


def positional_encoding(T: int, d: int) -> np.ndarray:
    """The encodings of positions 0..T-1 at width d, as a float64 array (T, d)."""
    return sinusoidal_positional_encoding(T, d).double().numpy()


def pe_curves_figure(
    T: int = 100, d: int = 64, dims: tuple[int, ...] = (2, 8, 16, 24)
) -> go.Figure:
    """Plotly: a few encoding dimensions against position (the wavelengths grow with i)."""
    pe = positional_encoding(T, d)
    return line_figure(
        np.arange(T),
        {f"dim {j}": pe[:, j] for j in dims},
        xlabel="position t",
        ylabel="PE[t, dim]",
        title=f"Sinusoidal positional encoding (d = {d})",
    )


@register_figure(
    "pe_heatmap",
    chapter="transformer",
    width="column",
    height_ratio=0.75,
    caption=r"Sinusoidal positional encoding $\mathrm{PE}_{t,j}$ for $d=64$: each row is the "
    r"code of one position $t$; wavelengths grow geometrically with the dimension $j$.",
)
def pe_heatmap(profile: str) -> Figure:
    """Heatmap of the encoding: positions down, dimensions across."""
    pe = positional_encoding(64, 64)
    fig = Figure()
    ax = fig.add_subplot()
    im = ax.imshow(pe, cmap=DIVERGING, vmin=-1, vmax=1, aspect="auto", interpolation="none")
    ax.set_xlabel("dimension $j$")
    ax.set_ylabel("position $t$")
    fig.colorbar(im, ax=ax, label=r"$\mathrm{PE}_{t,j}$")
    return fig


@register_figure(
    "pe_curves",
    chapter="transformer",
    width="column",
    caption=r"Four dimensions of the sinusoidal positional encoding ($d=64$) against position: "
    r"low dimensions oscillate fast, high ones slowly.",
)
def pe_curves(profile: str) -> Figure:
    """Print twin of the chapter's Plotly figure, drawn by ``plotly_to_matplotlib``."""
    fig = plotly_to_matplotlib(pe_curves_figure())
    fig.axes[0].legend(ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), handlelength=1.5)
    return fig
