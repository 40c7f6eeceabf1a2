"""Paper figures of sinusoidal positional encodings (chapter "transformer").

``PE[t, 2i] = sin(t / 10000^(2i/d))``, ``PE[t, 2i+1] = cos(t / 10000^(2i/d))`` (Vaswani et al.
2017, §3.5): position ``t``, dimension pair ``i``, model width ``d``. Computed here with NumPy in
a few lines so the figure needs no model; the chapter checks the model's own encoding against it.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.viz.export import plotly_to_matplotlib, register_figure
from seqlab.viz.plots import line_figure
from seqlab.viz.style import DIVERGING


def positional_encoding(T: int, d: int) -> np.ndarray:
    """Sinusoidal encodings. Inputs: T positions, even width d. Outputs: (T, d) array."""
    if d % 2:
        raise ValueError(f"d must be even (sin/cos pairs), got d={d}")
    t = np.arange(T)[:, None]  # (T, 1)
    freq = 10000.0 ** (-np.arange(0, d, 2) / d)  # (d/2,) one frequency per pair
    pe = np.empty((T, d))
    pe[:, 0::2] = np.sin(t * freq)  # (T, d/2)
    pe[:, 1::2] = np.cos(t * freq)
    return pe


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
    T, d = 64, 64
    pe = positional_encoding(T, d)
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
