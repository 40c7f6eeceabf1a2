"""Export every paper figure: ``python -m seqlab.figures --out DIR`` (``make figures``).

Writes ``DIR/NAME.pdf`` (vector), ``NAME.svg`` and ``NAME.png`` (300 dpi) for each registered
figure, sized for a LaTeX column (3.3 in) or page (6.9 in), and ``DIR/figures.tex`` with one
``figure``/``figure*`` block per figure. ``--list`` shows what is registered. The registry
lives in :mod:`seqlab.viz.export`; each builder beside the Plotly figure it twins in
``seqlab/viz/<topic>.py``. Builders get their numbers from the experiments
(:mod:`seqlab.experiments`), whose results are cached on disk: what the book build already
computed with the same config on this machine is drawn, not computed again.

Examples::

    python -m seqlab.figures --list
    python -m seqlab.figures --out figures/
    python -m seqlab.figures --out figures/ --only pe_heatmap --formats pdf
    SEQLAB_PROFILE=full python -m seqlab.figures --out figures/ --chapter transformer
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from seqlab.viz.export import (
    FORMATS,
    FigureSpec,
    export_all,
    figures_tex,
    register_figure,
    registered_figures,
)

__all__ = ["FigureSpec", "export_all", "figures_tex", "main", "register_figure"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m seqlab.figures",
        description="Export the book's paper figures as PDF/SVG/PNG plus a figures.tex snippet.",
    )
    p.add_argument("--out", help="output folder (created if missing)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="export only these figures")
    p.add_argument("--chapter", nargs="+", metavar="CHAPTER", help="export only these chapters")
    p.add_argument("--list", action="store_true", help="list registered figures and exit")
    p.add_argument("--profile", choices=("smoke", "standard", "full"), help="execution profile")
    p.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    p.add_argument("--tex-prefix", help="path prefix in \\includegraphics (default: 'OUT/')")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        specs = registered_figures(args.only, args.chapter)
    except KeyError as err:
        parser.error(err.args[0])
    if args.list:
        for s in specs:
            print(f"{s.name:24s} {s.chapter:14s} {s.width:6s} {s.width_in:.1f} in  {s.caption}")
        return 0
    if not args.out:
        parser.error("--out DIR is required (or use --list)")
    if not specs:
        parser.error("no figure matches the selection; see --list")
    import matplotlib

    matplotlib.use("Agg")  # a command-line export never opens a window
    os.environ.setdefault("TQDM_DISABLE", "1")  # no training progress bars between the paths
    written = export_all(
        args.out,
        names=[s.name for s in specs],
        profile=args.profile,
        formats=args.formats,
        tex_prefix=args.tex_prefix,
    )
    for name, paths in written.items():
        print(f"{name}: {', '.join(str(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
