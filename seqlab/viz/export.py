"""Paper figures: a registry of named builders, export to PDF/SVG/PNG, a ``figures.tex`` snippet.

Every print figure is made by a named builder, a function ``(profile: str) -> Figure`` that
gets its numbers from the chapter's experiment (:mod:`seqlab.experiments`, cached: a figure of
a run the book already made is drawn, not recomputed) and draws with matplotlib::

    from seqlab.viz.export import register_figure

    @register_figure("copy_vs_delay", chapter="lstm", width="column", caption="...")
    def copy_vs_delay(profile: str) -> Figure:
        runs = delay_sweep("lstm.copy_sweep")["runs"]   # the chapter's row of the size table
        fig = Figure()                  # already 3.3 in wide, LaTeX fonts: paper_style is active
        ...
        return fig

Builders live beside the Plotly figure they twin (``viz/<topic>.py``); :func:`load_builders`
imports every module of :mod:`seqlab.viz`, so a new one is found without editing any list.

:func:`build_figure` calls a builder inside :func:`~seqlab.viz.style.paper_style` for its width
(3.3 in column, 6.9 in page) with ``SEQLAB_PROFILE`` set to the profile, so the experiments it
calls pick that profile's row of the size table.
:func:`export_all` writes ``NAME.pdf`` (vector, TrueType text), ``NAME.svg``, ``NAME.png``
(300 dpi) at the exact page size, plus ``figures.tex``, whose captions end with
:func:`provenance_note`. The command line is ``python -m seqlab.figures --out DIR``.

:func:`plotly_to_matplotlib` gives a Plotly line or bar figure a print twin in one call.
"""

from __future__ import annotations

import html
import importlib
import logging
import os
import pkgutil
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from seqlab import __version__
from seqlab.device import PROFILE_ENV, PROFILES, get_profile, provenance
from seqlab.viz.style import PALETTE, WIDTHS_IN, paper_style

FORMATS = ("pdf", "svg", "png")
BUILDER_PACKAGE = "seqlab.viz"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_METADATA = {"pdf": {"CreationDate": None}, "svg": {"Date": None}, "png": {"Software": None}}

Builder = Callable[[str], Figure]


@dataclass(frozen=True)
class FigureSpec:
    """A registered builder and how its figure is laid out in the paper."""

    name: str
    chapter: str
    width: str
    builder: Builder
    caption: str
    nrows: int = 1
    ncols: int = 1
    height_ratio: float | None = None

    @property
    def width_in(self) -> float:
        return WIDTHS_IN[self.width]


_REGISTRY: dict[str, FigureSpec] = {}


def register_figure(
    name: str,
    chapter: str,
    width: str = "column",
    *,
    caption: str | None = None,
    nrows: int = 1,
    ncols: int = 1,
    height_ratio: float | None = None,
) -> Callable[[Builder], Builder]:
    """Decorator: register ``builder(profile) -> Figure`` under ``name``.

    Inputs:
        name: file name and LaTeX label (``fig:NAME``): lower case, digits, ``_``, ``-``.
        chapter: the chapter it belongs to (``--chapter`` selects by it).
        width: ``"column"`` (3.3 in, ``\\columnwidth``) or ``"page"`` (6.9 in, ``figure*``).
        caption: LaTeX caption for ``figures.tex`` (default: the builder's docstring, escaped).
        nrows, ncols, height_ratio: the panel grid, passed to ``paper_style``.
    Outputs:
        the builder, unchanged. Registering a name twice raises ``ValueError`` unless it is the
        same function again (a re-run notebook cell or a reloaded module).
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"figure name {name!r} must match {_NAME_RE.pattern} (a file name/label)")
    if width not in WIDTHS_IN:
        raise ValueError(f"unknown width {width!r}; valid: {', '.join(map(repr, WIDTHS_IN))}")

    def decorate(builder: Builder) -> Builder:
        old = _REGISTRY.get(name)
        if old is not None and _qualname(old.builder) != _qualname(builder):
            raise ValueError(f"figure {name!r} is already registered by {_qualname(old.builder)}")
        doc = (builder.__doc__ or name).strip().split("\n\n")[0]
        text = caption if caption is not None else _tex_escape(" ".join(doc.split()))
        _REGISTRY[name] = FigureSpec(
            name, chapter, width, builder, text, nrows, ncols, height_ratio
        )
        return builder

    return decorate


def _qualname(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def load_builders() -> None:
    """Import every module of ``seqlab.viz`` so their builders register."""
    package = importlib.import_module(BUILDER_PACKAGE)
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{BUILDER_PACKAGE}.{info.name}")


def registered_figures(
    names: Sequence[str] | None = None, chapters: Sequence[str] | None = None
) -> list[FigureSpec]:
    """The registered figures (after :func:`load_builders`), sorted by chapter then name.

    ``names``/``chapters`` select; an unknown name raises ``KeyError`` listing the known ones.
    """
    load_builders()
    for name in names or ():
        if name not in _REGISTRY:
            raise KeyError(f"no figure named {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    specs = [
        spec
        for spec in _REGISTRY.values()
        if (names is None or spec.name in names) and (chapters is None or spec.chapter in chapters)
    ]
    return sorted(specs, key=lambda s: (s.chapter, s.name))


@contextmanager
def _profile_env(profile: str) -> Iterator[None]:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    old = os.environ.get(PROFILE_ENV)
    os.environ[PROFILE_ENV] = profile
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(PROFILE_ENV, None)
        else:
            os.environ[PROFILE_ENV] = old


@contextmanager
def _styled(spec: FigureSpec, profile: str) -> Iterator[None]:
    with _profile_env(profile), paper_style(spec.width, spec.nrows, spec.ncols, spec.height_ratio):
        yield


def build_figure(name: str, profile: str | None = None) -> Figure:
    """Run builder ``name`` at ``profile`` (default: the current one) inside its paper style.

    matplotlib resolves fonts when it draws, so draw or save the result inside
    ``paper_style(...)`` too, or pass ``width=`` to :func:`export_figure` (:func:`export_all`
    does both). Raises ``ValueError`` if the builder made a figure of another width.
    """
    spec = registered_figures([name])[0]
    profile = profile or get_profile()
    with _styled(spec, profile):
        fig = spec.builder(profile)
    if not isinstance(fig, Figure):
        raise TypeError(f"builder of {name!r} must return a matplotlib Figure, got {type(fig)}")
    width = fig.get_size_inches()[0]
    if abs(width - spec.width_in) > 0.01:
        raise ValueError(
            f"figure {name!r} is {width:.2f} in wide; width={spec.width!r} needs {spec.width_in} in "
            "(create it inside the builder without a figsize, or with paper_style's)"
        )
    return fig


def export_figure(
    fig: Figure,
    name: str,
    out_dir: str | Path,
    formats: Iterable[str] = FORMATS,
    dpi: int = 300,
    width: str | None = None,
) -> list[Path]:
    """Write ``fig`` as ``out_dir/NAME.{pdf,svg,png}`` at its exact size; return the paths.

    PDF embeds fonts as TrueType (text stays text) and draws lines as vectors; SVG draws glyphs
    as paths; PNG is rasterised at ``dpi``. Dates are left out so re-exports are reproducible.
    ``width`` (``"column"``/``"page"``) saves inside that paper style, so the fonts are the
    paper's even when called outside ``paper_style`` (fonts are resolved at draw time).
    """
    formats = list(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown formats {unknown}; valid: {', '.join(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    rc = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "path", "svg.hashsalt": name}
    style = paper_style(width) if width is not None else nullcontext()
    with style, mpl.rc_context(rc), _quiet_font_subsetting():
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            fig.savefig(path, format=fmt, dpi=dpi, bbox_inches=None, metadata=_METADATA[fmt])
            paths.append(path)
    return paths


@contextmanager
def _quiet_font_subsetting() -> Iterator[None]:
    """fontTools warns about DejaVu's old font timestamps on every PDF; not our problem."""
    logger = logging.getLogger("fontTools")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def provenance_note(profile: str, device=None) -> str:
    """A caption's last sentence (LaTeX-escaped): profile, device (that of the experiments,
    without its thread count), seqlab's version and commit, torch's version."""
    p = provenance(device)
    where = re.sub(r", \d+ threads\)$", ")", p["device"])
    commit = f" ({p['commit']})" if p["commit"] else ""
    return _tex_escape(
        f"Profile {profile}, {where}; seqlab {__version__}{commit}, torch {p['torch']}."
    )


def figures_tex(specs: Sequence[FigureSpec], prefix="", profile="", note=None) -> str:
    """A LaTeX snippet with one ``figure`` (column) or ``figure*`` (page) block per spec;
    ``note`` (e.g. :func:`provenance_note`) ends every caption, in a smaller font."""
    tail = f" {{\\footnotesize {note}}}" if note else ""
    lines = [
        f"% Generated by `python -m seqlab.figures` (profile: {profile or 'default'}).",
        "% Needs \\usepackage{graphicx}. \\input this file or copy the blocks you need.",
    ]
    for spec in specs:
        env = "figure" if spec.width == "column" else "figure*"
        width = "\\columnwidth" if spec.width == "column" else "\\textwidth"
        lines += [
            "",
            f"% {spec.chapter}: {spec.name} ({spec.width}, {spec.width_in} in)",
            f"\\begin{{{env}}}[tbp]",
            "  \\centering",
            f"  \\includegraphics[width={width}]{{{prefix}{spec.name}.pdf}}",
            f"  \\caption{{{spec.caption}{tail}}}",
            f"  \\label{{fig:{spec.name}}}",
            f"\\end{{{env}}}",
        ]
    return "\n".join(lines) + "\n"


def export_all(
    out_dir: str | Path,
    names: Sequence[str] | None = None,
    chapters: Sequence[str] | None = None,
    profile: str | None = None,
    formats: Iterable[str] = FORMATS,
    tex_prefix: str | None = None,
) -> dict[str, list[Path]]:
    """Build and export every selected figure; write ``out_dir/figures.tex`` listing them.

    Inputs:
        names / chapters: select figures (default: all registered).
        profile: execution profile the builders run at (default: ``SEQLAB_PROFILE``'s).
        tex_prefix: path prefix in ``\\includegraphics`` (default: ``"<out_dir name>/"``).
    Outputs:
        ``{name: [paths]}``, plus the key ``"figures.tex"``. Every caption there ends with
        :func:`provenance_note`: profile, device, seqlab and torch versions.
    """
    import matplotlib.pyplot as plt

    profile = profile or get_profile()
    out = Path(out_dir)
    specs = registered_figures(names, chapters)
    written: dict[str, list[Path]] = {}
    for spec in specs:
        with _styled(spec, profile):  # build and save under one style: fonts resolve on save
            fig = build_figure(spec.name, profile)
            try:
                written[spec.name] = export_figure(fig, spec.name, out, formats)
            finally:
                plt.close(fig)
    prefix = f"{out.resolve().name}/" if tex_prefix is None else tex_prefix
    tex = out / "figures.tex"
    out.mkdir(parents=True, exist_ok=True)
    tex.write_text(figures_tex(specs, prefix, profile, provenance_note(profile)), encoding="utf-8")
    written["figures.tex"] = [tex]
    return written


def _tex_escape(text: str) -> str:
    """Escape LaTeX specials outside ``$...$`` math (for captions taken from docstrings)."""
    parts = text.split("$")
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"([_%&#{}])", r"\\\1", parts[i])
    return "$".join(parts)


# -- a print twin of a Plotly figure --------------------------------------------------------------
_DASHES = {"solid": "-", "dash": "--", "dot": ":", "dashdot": "-.", "longdash": "--"}


def _text(value: str | None) -> str:
    """Plotly label markup -> matplotlib text (``<sub>``/``<sup>`` become mathtext)."""
    if not value:
        return ""
    value = re.sub(r"<br\s*/?>", "\n", value)
    value = re.sub(r"<sub>(.*?)</sub>", r"$_{\1}$", value)
    value = re.sub(r"<sup>(.*?)</sup>", r"$^{\1}$", value)
    return html.unescape(re.sub(r"<[^>]+>", "", value))


def plotly_to_matplotlib(pfig, fig: Figure | None = None, title: bool = False) -> Figure:
    """Redraw a one-axes Plotly figure of scatter/line and bar traces with matplotlib.

    Keeps trace names (legend), colours, dashes, markers, error bars, axis titles, log axes and
    fixed ranges; the current rc (e.g. inside ``paper_style``) sizes the new figure. Titles are
    dropped unless ``title=True``: a paper puts them in the caption. Hidden traces are skipped.
    Anything else (subplots, heatmaps, fills) raises ``ValueError``: write a builder instead.
    """
    fig = fig if fig is not None else Figure()
    ax = fig.axes[0] if fig.axes else fig.add_subplot()
    layout = pfig.layout
    colorway = list(layout.colorway or layout.template.layout.colorway or PALETTE)
    bars = [t for t in pfig.data if t.type == "bar" and t.visible in (None, True)]
    categories: list[str] = []
    for t in bars:
        categories += [str(c) for c in t.x if str(c) not in categories]
    n_bar = 0
    for i, t in enumerate(pfig.data):
        if t.type not in ("scatter", "scattergl", "bar"):
            raise ValueError(f"plotly_to_matplotlib draws scatter and bar traces, not {t.type!r}")
        if t.xaxis not in (None, "x") or t.yaxis not in (None, "y"):
            raise ValueError("plotly_to_matplotlib draws one-axes figures; this one has subplots")
        if t.visible not in (None, True):
            continue
        y = np.asarray(t.y, dtype=float)
        x = np.arange(len(y)) if t.x is None else np.asarray(t.x)
        label = t.name if (t.name and t.showlegend is not False) else None
        err = t.error_y.array if t.error_y and t.error_y.array is not None else None
        if t.type == "bar":
            color = (
                t.marker.color if isinstance(t.marker.color, str) else colorway[i % len(colorway)]
            )
            w = 0.8 / len(bars)
            pos = np.array([categories.index(str(c)) for c in x]) - 0.4 + w * (n_bar + 0.5)
            ax.bar(pos, y, width=w, color=color, label=label, yerr=err, capsize=2)
            n_bar += 1
            continue
        color = t.line.color or (t.marker.color if isinstance(t.marker.color, str) else None)
        mode = t.mode or ("lines+markers" if len(y) < 20 else "lines")
        style = {
            "color": color or colorway[i % len(colorway)],
            "linestyle": _DASHES.get(t.line.dash or "solid", "-") if "lines" in mode else "none",
            "marker": "o" if "markers" in mode else None,
            "markersize": 3,
            "label": label,
        }
        if err is not None:
            ax.errorbar(x, y, yerr=np.asarray(err, dtype=float), capsize=2, **style)
        else:
            ax.plot(x, y, **style)
    if bars:
        ax.set_xticks(range(len(categories)), categories)
    for axis, set_label, set_scale, set_lim in (
        (layout.xaxis, ax.set_xlabel, ax.set_xscale, ax.set_xlim),
        (layout.yaxis, ax.set_ylabel, ax.set_yscale, ax.set_ylim),
    ):
        set_label(_text(axis.title.text))
        if axis.type == "log":
            set_scale("log")
        if axis.range is not None and axis.autorange in (None, False):
            lo, hi = axis.range
            set_lim(*((10**lo, 10**hi) if axis.type == "log" else (lo, hi)))
    if title and layout.title.text:
        ax.set_title(_text(layout.title.text))
    if ax.get_legend_handles_labels()[1]:
        ax.legend()
    return fig
