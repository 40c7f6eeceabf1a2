"""Tests of the paper-figure registry, export (PDF/SVG/PNG, figures.tex), CLI, Plotly twin."""

from __future__ import annotations

import os
import re
import struct
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import seqlab
from seqlab import figures as cli
from seqlab.experiments import results
from seqlab.viz import export, line_figure, plotly_to_matplotlib, register_figure


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry: figures registered in a test vanish after it."""
    export.load_builders()
    monkeypatch.setattr(export, "_REGISTRY", dict(export._REGISTRY))
    return export._REGISTRY


def _line_builder(profile: str) -> Figure:
    """A line plot: loss vs step."""
    fig = Figure()
    ax = fig.add_subplot()
    steps = np.arange(50)
    ax.plot(steps, np.exp(-steps / 10), label="RNN")
    ax.plot(steps, np.exp(-steps / 5), label="LSTM", linestyle="--")
    ax.set(xlabel="step", ylabel="loss $\\mathcal{L}$", yscale="log")
    ax.legend()
    return fig


def _content_streams(pdf: bytes) -> bytes:
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, flags=re.S)
    out = b""
    for s in streams:
        try:
            out += zlib.decompress(s)
        except zlib.error:
            continue
    return out


def test_export_line_figure_pdf_svg_png_and_tex(registry, tmp_path):
    register_figure("test_line", chapter="rnn", caption="Loss of two models.")(_line_builder)
    written = export.export_all(tmp_path / "figs", names=["test_line"], profile="smoke")
    assert sorted(p.name for p in written["test_line"]) == [
        "test_line.pdf",
        "test_line.png",
        "test_line.svg",
    ]
    pdf = (tmp_path / "figs" / "test_line.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    width, height = map(float, re.search(rb"/MediaBox \[ 0 0 ([\d.]+) ([\d.]+) \]", pdf).groups())
    assert width == pytest.approx(3.3 * 72)  # 237.6 pt: one LaTeX column
    assert height == pytest.approx(3.3 * 72 * (5**0.5 - 1) / 2, abs=0.1)
    assert b"/Subtype /Image" not in pdf, "a line plot must not embed a raster image"
    assert b"/FontFile2" in pdf, "text must be embedded TrueType fonts (pdf.fonttype 42)"
    # fonts are resolved when saving: the paper's serif text and Computer Modern math, not the
    # screen defaults (DejaVu Sans)
    assert re.search(rb"/BaseFont /\w+\+(CMUSerif|LMRoman|DejaVuSerif)", pdf)
    assert re.search(rb"/BaseFont /\w+\+Cm", pdf) and b"DejaVuSans" not in pdf
    ops = _content_streams(pdf)
    assert re.search(rb"[\d.]+ [\d.]+ l\b", ops), "lines must be vector path operators"
    assert b"CreationDate" not in pdf  # reproducible output

    svg = ET.parse(tmp_path / "figs" / "test_line.svg").getroot()
    assert svg.tag.endswith("svg") and svg.get("width") == "237.6pt"

    png = (tmp_path / "figs" / "test_line.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    px_w, px_h = struct.unpack(">II", png[16:24])
    assert px_w == 990  # 3.3 in at 300 dpi
    assert abs(px_h - height / 72 * 300) < 1

    tex = written["figures.tex"][0].read_text()
    assert "\\includegraphics[width=\\columnwidth]{figs/test_line.pdf}" in tex
    assert "\\caption{Loss of two models. {\\footnotesize Profile " in tex
    assert "\\label{fig:test_line}" in tex
    note = export.provenance_note(re.search(r"\(profile: (\w+)\)", tex).group(1))
    assert f"{{\\footnotesize {note}}}}}" in tex  # every caption ends with its provenance
    assert f"torch {torch.__version__}" in note and f"seqlab {seqlab.__version__}" in note
    assert tex.count("\\begin{figure}") == 1


def test_provenance_note_is_one_escaped_sentence():
    note = export.provenance_note("full", device=torch.device("cpu"))
    assert note.startswith("Profile full, CPU") and note.endswith(f"torch {torch.__version__}.")
    assert " threads" not in note and "\n" not in note
    assert export.figures_tex([], note=note).count("footnotesize") == 0  # no figure, no caption


def test_page_width_figure_uses_figure_star(registry, tmp_path):
    @register_figure("test_page", chapter="scaling", width="page", ncols=2)
    def builder(profile: str) -> Figure:
        """Two panels with a 100% caption_from docstring."""
        fig = Figure()
        fig.subplots(1, 2)
        return fig

    written = export.export_all(tmp_path, names=["test_page"], formats=["pdf"], tex_prefix="")
    pdf = written["test_page"][0].read_bytes()
    assert re.search(rb"/MediaBox \[ 0 0 496\.8 ", pdf)  # 6.9 in
    tex = written["figures.tex"][0].read_text()
    assert "\\begin{figure*}" in tex and "[width=\\textwidth]{test_page.pdf}" in tex
    assert "100\\% caption\\_from docstring." in tex


def test_builder_gets_the_profile_and_its_environment(registry):
    seen = {}

    @register_figure("test_profile", chapter="rnn")
    def builder(profile: str) -> Figure:
        seen["arg"], seen["env"] = profile, os.environ.get("SEQLAB_PROFILE")
        return Figure()

    before = os.environ.get("SEQLAB_PROFILE")
    export.build_figure("test_profile", profile="full")
    assert seen == {"arg": "full", "env": "full"}
    assert os.environ.get("SEQLAB_PROFILE") == before
    with pytest.raises(ValueError, match="unknown profile"):
        export.build_figure("test_profile", profile="huge")


def test_registry_rejects_bad_names_widths_and_duplicates(registry):
    with pytest.raises(ValueError, match="must match"):
        register_figure("Bad Name", chapter="rnn")
    with pytest.raises(ValueError, match="unknown width"):
        register_figure("ok", chapter="rnn", width="poster")
    register_figure("test_dup", chapter="rnn")(_line_builder)
    register_figure("test_dup", chapter="rnn")(_line_builder)  # same function again: fine
    with pytest.raises(ValueError, match="already registered"):
        register_figure("test_dup", chapter="rnn")(lambda profile: Figure())
    with pytest.raises(KeyError, match="no figure named"):
        export.registered_figures(["nope"])


def test_builder_with_wrong_width_is_refused(registry):
    register_figure("test_wide", chapter="rnn")(lambda profile: Figure(figsize=(5, 3)))
    with pytest.raises(ValueError, match="5.00 in wide"):
        export.build_figure("test_wide", profile="smoke")


BOOK_FIGURES = {
    "rnn": {"char_rnn_loss", "char_rnn_temperature", "char_rnn_context", "rnn_gradient_flow",
            "rnn_clipping", "rnn_unrolled"},
    "lstm": {"lstm_gradient_flow", "lstm_vs_rnn_lm", "lstm_gate_unit", "copy_vs_delay",
             "lstm_rnn_context", "adding_vs_delay", "forget_bias_copy", "bidirectional_reversal",
             "lstm_cell"},
    "gru": {"recurrent_param_counts", "gru_lstm_rnn_lm", "copy_equal_params", "recurrent_timing",
            "gru_cell"},
    "attention": {"attention_bottleneck", "attention_scaling", "attention_alignment",
                  "attention_encoder_decoder", "attention_multihead"},
    "transformer": {
        "pe_heatmap", "pe_curves", "pe_offset_dots", "positions_extrapolation",
        "stability_grid", "stability_init_grads", "transformer_block",
        "transformer_gpt_vs_lstm", "transformer_gpt_vs_lstm_time", "transformer_gpt_heads",
        "transformer_cross_attention",
    },
    "cost": {"cost_models", "cost_attention_time", "cost_attention_memory", "copy_long_range",
             "efficient_attention_cost", "efficient_attention_loss", "decoding_latency",
             "kv_cache"},
    "scaling": {"scaling_power_law", "scaling_isoflop", "scaling_lstm_vs_gpt"},
    "budget": {"budget_distillation", "budget_int8", "budget_moe", "budget_moe_load"},
    "choosing": {"choosing_costs", "choosing_bleu_subsets"},
    "data": {"data_sunspot_forecasts", "data_bpe_tokens"},
}  # fmt: skip


def test_every_book_chapter_registers_its_figures():
    by_chapter: dict[str, set[str]] = {}
    for spec in export.registered_figures():
        by_chapter.setdefault(spec.chapter, set()).add(spec.name)
    assert by_chapter == BOOK_FIGURES


@pytest.mark.book
def test_after_the_book_build_every_figure_builds_at_its_width_computing_nothing(
    monkeypatch, book_cache
):
    """``make figures`` after the (smoke) book build: each builder gets its numbers from the
    result its chapter computed, so nothing is computed again (one home per experiment: the
    chapter and the paper figure call the same function with the same config). Runs in
    ``make browser``, after ``make book-test`` filled the cache."""
    if not os.environ.get("SEQLAB_BOOK_HTML") and not os.environ.get("CI"):
        pytest.skip("reads the smoke book's results: run after `make book-test` (make browser)")
    calls = []
    real = results.provenance  # called once per computed (not loaded) result
    monkeypatch.setattr(results, "provenance", lambda *a: calls.append(1) or real(*a))
    computed = []
    for spec in export.registered_figures():
        before = len(calls)
        fig = export.build_figure(spec.name, profile="smoke")
        assert fig.get_size_inches()[0] == pytest.approx(spec.width_in), spec.name
        if len(calls) > before:
            computed.append(spec.name)
    assert computed == [], f"figures that computed again after the book build: {computed}"


def test_plotly_to_matplotlib_line_twin():
    pfig = line_figure([1, 2, 3], {"RNN": [1, 10, 100], "GRU": [2, 3, 4]}, log_y=True)
    pfig.update_layout(xaxis_title="length T", yaxis_title="‖∂h<sub>T</sub>/∂h<sub>0</sub>‖")
    pfig.update_traces(line_dash="dash", selector={"name": "GRU"})
    ax = plotly_to_matplotlib(pfig).axes[0]
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["RNN", "GRU"]
    assert lines[1].get_linestyle() == "--"
    np.testing.assert_allclose(lines[0].get_ydata(), [1, 10, 100])
    assert ax.get_yscale() == "log" and ax.get_xscale() == "linear"
    assert ax.get_xlabel() == "length T" and ax.get_ylabel() == "‖∂h$_{T}$/∂h$_{0}$‖"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["RNN", "GRU"]


def test_plotly_to_matplotlib_bars_and_refusals():
    from seqlab.viz import bar_figure, heatmap_figure

    pfig = bar_figure(["a", "b", "c"], {"x": [1, 2, 3], "y": [3, 2, 1]})
    ax = plotly_to_matplotlib(pfig).axes[0]
    assert len(ax.patches) == 6
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="not 'heatmap'"):
        plotly_to_matplotlib(heatmap_figure(np.eye(2)))


def test_cli_list_and_export(tmp_path, capsys):
    """``python -m seqlab.figures`` is ``sys.exit(main())``; main is tested in-process (fast)."""
    assert cli.main(["--list"]) == 0
    assert "pe_heatmap" in capsys.readouterr().out
    out = tmp_path / "paper"
    assert cli.main(["--out", str(out), "--only", "pe_curves", "--formats", "pdf"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["figures.tex", "pe_curves.pdf"]
    with pytest.raises(SystemExit):
        cli.main(["--out", str(out), "--only", "nope"])
    with pytest.raises(SystemExit):
        cli.main([])
