"""The architecture diagrams: vector, the equations' symbols, registered for `make figures`."""

from __future__ import annotations

import re

import pytest

from seqlab.viz import diagrams, export

SYMBOLS = {
    "unrolled_rnn_diagram": ["x_{t}", "h_{t-1}", "y_{t}", "W_{hh}", "W_{xh}", "W_{hy}"],
    "lstm_cell_diagram": ["x_t", "h_{t-1}", "c_{t-1}", "c_t", "f_t", "i_t", "g_t", "o_t"],
    "gru_cell_diagram": ["x_t", "h_{t-1}", "h_t", "z_t", "r_t", "n_t"],
}


def _texts(fig) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


@pytest.mark.parametrize("name", sorted(SYMBOLS))
def test_diagram_uses_the_equations_symbols_and_shows_as_svg(name):
    fig = getattr(diagrams, name)()
    text = _texts(fig)
    for symbol in SYMBOLS[name]:
        assert symbol in text, f"{name} lacks {symbol}"
    bundle = fig._repr_mimebundle_()
    assert "image/png" not in bundle
    svg = bundle["image/svg+xml"]
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert not re.search(r"<image\b", svg), "the diagram must be vector, not an embedded bitmap"


def test_diagrams_are_registered_at_their_widths():
    for name, width in [("rnn_unrolled", "page"), ("lstm_cell", "column"), ("gru_cell", "column")]:
        fig = export.build_figure(name, "smoke")
        assert abs(fig.get_size_inches()[0] - export.WIDTHS_IN[width]) < 0.01


def test_chapter_4_and_5_diagrams_show_as_svg_in_a_notebook():
    # a plain matplotlib Figure shows as the text "<Figure size ...>" under nbclient
    from seqlab.viz.attention_diagrams import encoder_decoder_diagram, multihead_diagram
    from seqlab.viz.transformer_diagrams import block_diagram

    for fig in (encoder_decoder_diagram(), multihead_diagram(), block_diagram()):
        bundle = fig._repr_mimebundle_()
        assert bundle["image/svg+xml"].lstrip().startswith("<?xml")
        assert "Figure size" not in bundle["text/plain"]
