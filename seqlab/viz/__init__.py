"""Figures and interactives. viz only draws: the numbers come from :mod:`seqlab.experiments`.

Shared machinery:

- :mod:`seqlab.viz.style`: palette, cell colours, screen theme, ``paper_style`` for print.
- :mod:`seqlab.viz.interactive`: :class:`Interactive`, one object for live/static/headless.
- :mod:`seqlab.viz.plots`: Plotly line, heatmap and bar builders.
- :mod:`seqlab.viz.export`: the figure registry, PDF/SVG/PNG export, ``figures.tex``,
  ``plotly_to_matplotlib``.

One module per experiment topic, named like its :mod:`seqlab.experiments` module: the Plotly
figure (and interactive) a chapter shows, its print twin and its ``register_figure``
registration. ``char_lm``, ``sampling``, ``gradient_flow``, ``clipping``, ``unit_probes``,
``memory_tasks``, ``param_budget``, ``timing``, ``attention``, ``softmax_scaling``,
``alignments``, ``attention_cost``, ``efficient_attention`` (chapter 6), ``transformer_lm``,
``choosing`` (chapter 8: the measured table, the recommendation, the metric pitfalls);
``diagrams``, ``kv_cache``, ``attention_diagrams``, ``positional`` and ``timeline`` (no
experiment).
"""

from seqlab.viz.export import (
    build_figure,
    export_all,
    export_figure,
    plotly_to_matplotlib,
    register_figure,
    registered_figures,
)
from seqlab.viz.interactive import Interactive, State
from seqlab.viz.plots import bar_figure, char_labels, heatmap_figure, line_figure
from seqlab.viz.style import (
    DIVERGING,
    PALETTE,
    SEQUENTIAL,
    paper_rc,
    paper_style,
    use_screen_theme,
)

__all__ = [
    "DIVERGING",
    "PALETTE",
    "SEQUENTIAL",
    "Interactive",
    "State",
    "bar_figure",
    "build_figure",
    "char_labels",
    "export_all",
    "export_figure",
    "heatmap_figure",
    "line_figure",
    "paper_rc",
    "paper_style",
    "plotly_to_matplotlib",
    "register_figure",
    "registered_figures",
    "use_screen_theme",
]
