"""Builders of the paper figures, one module per topic (``positional.py``, ``gradients.py``, ...).

Each module decorates its builders with :func:`seqlab.viz.export.register_figure`;
:func:`seqlab.viz.export.load_builders` imports every module here, so a new module needs no list
edited anywhere. A builder is ``(profile: str) -> matplotlib.figure.Figure``: it computes (or
loads) what it needs at a size chosen by ``profile`` and draws inside the paper style that
``build_figure`` has already set (3.3 in column / 6.9 in page, LaTeX-like fonts). Keep builders
cheap at ``profile="smoke"``: the test suite builds every registered figure at that profile.
"""
