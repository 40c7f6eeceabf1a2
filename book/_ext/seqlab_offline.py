"""Sphinx extension: serve Plotly's JavaScript from the book itself, so pages work offline.

Chapters emit Plotly figures as HTML fragments without plotly.js (``seqlab.notebook``);
this extension copies ``plotly.min.js`` from the installed ``plotly`` package into the
built book's ``_static`` and loads it on every page. No CDN is contacted.

It also adds ``seqlab.css``: printed output wraps at the column instead of scrolling sideways
(code cells keep their lines: the notebooks are formatted to fit the column), and in the
theme's dark mode Plotly figures are inverted (hues kept) instead of glaring white.
"""

from __future__ import annotations

import shutil
from pathlib import Path

PLOTLY_JS = "plotly.min.js"
CSS_FILE = "seqlab.css"
CSS = """\
/* seqlab: printed output (stream text, tracebacks) wraps at the column width */
div.cell_output pre, div.output pre { white-space: pre-wrap; overflow-wrap: anywhere; }
/* seqlab: in the theme's dark mode a Plotly figure (drawn for a white page) is shown inverted
   with its hues turned back, so it does not glare: white -> near black, dark text -> light */
html[data-theme="dark"] .js-plotly-plot { filter: invert(0.88) hue-rotate(180deg); }
"""


def _plotly_js_source() -> Path:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    if not path.is_file():
        raise FileNotFoundError(
            f"{PLOTLY_JS} not found in the plotly package at {path}"
        )
    return path


def _copy_plotly_js(app, exc) -> None:
    if exc is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    shutil.copy2(_plotly_js_source(), static / PLOTLY_JS)
    (static / CSS_FILE).write_text(CSS, encoding="utf-8")


def setup(app):
    _plotly_js_source()  # fail early, with the path, if plotly is missing
    # Loaded synchronously in <head>, before the inline scripts that call Plotly.newPlot.
    app.add_js_file(PLOTLY_JS, priority=100)
    app.add_css_file(CSS_FILE)
    app.connect("build-finished", _copy_plotly_js)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
