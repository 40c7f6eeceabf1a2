"""The one call a chapter's first code cell makes: ``seqlab.notebook.setup()``.

It configures Plotly for where the notebook runs, sets the plotting theme, seeds everything
and prints one line of provenance (device, torch, Python, profile, commit, date).

Where it runs decides how figures are emitted:

- **book build** (``SEQLAB_BOOK_BUILD=1``, set by ``make book``/``make test``): Plotly figures are
  emitted as ``text/html`` fragments *without* plotly.js; the book serves its own copy of
  plotly.js, so pages work with no network. Interactives show their kernel-free Plotly form.
- **live** (Jupyter, Colab, VS Code, nbmake): Plotly's normal renderers; interactives are widgets.
"""

from __future__ import annotations

from typing import Any

import torch

from seqlab.device import BOOK_ENV, get_device, in_book_build, provenance_line, seed_everything
from seqlab.viz import style

__all__ = ["BOOK_ENV", "configure_plotly", "glue", "in_book_build", "setup"]
BOOK_RENDERER = "seqlab_book"


def _register_book_renderer() -> None:
    import plotly.io as pio
    from plotly.io.base_renderers import MimetypeRenderer

    class BookHtmlRenderer(MimetypeRenderer):
        """``text/html`` without plotly.js (the book serves it), no autoplay, no MathJax."""

        def to_mimebundle(self, fig_dict):  # noqa: D102 - plotly's renderer protocol
            html = pio.to_html(
                fig_dict,
                include_plotlyjs=False,
                include_mathjax=False,
                full_html=False,
                auto_play=False,
                config={"displaylogo": False, "responsive": True},
            )
            return {"text/html": html}

    pio.renderers[BOOK_RENDERER] = BookHtmlRenderer()


def configure_plotly() -> str:
    """Pick Plotly's renderer for the context; return its name."""
    import plotly.io as pio

    if in_book_build():
        _register_book_renderer()
        pio.renderers.default = BOOK_RENDERER
    return pio.renderers.default


def setup(seed: int = 0, quiet: bool = False) -> torch.device:
    """Prepare a chapter: Plotly renderer, plotting theme, seeds, provenance line.

    Returns the device the chapter should use (CUDA, MPS or CPU).
    """
    style.use_screen_theme()  # colour-blind-safe Plotly template and matplotlib defaults
    configure_plotly()
    seed_everything(seed)
    device = get_device()
    if not quiet:
        print(provenance_line(device))
    return device


def glue(name: str, value: Any, display: bool = False) -> None:
    """Paste a computed ``value`` into the chapter's prose as ``{glue:text}`name```.

    Uses myst-nb's ``glue`` where it is installed (book builds); elsewhere (Colab, a plain
    Jupyter) it does nothing, because the cell that computes the value prints it anyway.
    NumPy and torch scalars are turned into Python numbers so that format specs work.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    _glue(name, value.item() if hasattr(value, "item") else value, display=display)
