"""The book's timeline: a cited table of the eras, drawn as an interactive Plotly figure.

The table is ``seqlab/data/timeline.csv`` (year, era, model, authors, contribution, cite), shipped
with the package so that it also loads in Colab. Each row's ``cite`` is a key of
``book/references.bib``.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd
import plotly.graph_objects as go

from seqlab.viz.style import PALETTE

ERAS: tuple[str, ...] = ("Foundations", "RNN", "LSTM", "GRU", "Attention", "Transformer", "Scaling")
COLUMNS: tuple[str, ...] = ("year", "era", "model", "authors", "contribution", "cite")


def load_timeline() -> pd.DataFrame:
    """Return the timeline table, one row per paper, sorted by year (columns: :data:`COLUMNS`)."""
    with resources.files("seqlab.data").joinpath("timeline.csv").open(encoding="utf-8") as f:
        df = pd.read_csv(f)
    missing = set(COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"timeline.csv lacks columns {sorted(missing)}")
    unknown = set(df["era"]) - set(ERAS)
    if unknown:
        raise ValueError(
            f"timeline.csv has unknown eras {sorted(unknown)}; valid: {', '.join(ERAS)}"
        )
    return df.sort_values(["year", "era"], kind="stable").reset_index(drop=True)


def timeline_markdown(df: pd.DataFrame, cite_roles: bool = True) -> str:
    """The table as Markdown, one row per paper.

    With ``cite_roles`` each row carries a MyST ``{cite:p}`` role that the book resolves against
    ``references.bib``; without (Jupyter, Colab) it shows the bibliography key in brackets.
    """
    lines = ["| Year | Era | Idea | Authors | What it brought |", "|---|---|---|---|---|"]
    for row in df.itertuples(index=False):
        cite = f"{{cite:p}}`{row.cite}`" if cite_roles else f"[{row.cite}]"
        lines.append(
            f"| {row.year} | {row.era} | {row.model} | {row.authors} {cite} | {row.contribution} |"
        )
    return "\n".join(lines)


def timeline_figure(df: pd.DataFrame) -> go.Figure:
    """One marker per paper on a year axis, one lane per era; hover shows authors and idea."""
    fig = go.Figure()
    for i, era in enumerate(ERAS):
        rows = df[df["era"] == era]
        if rows.empty:
            continue
        fig.add_trace(
            go.Scatter(
                x=rows["year"],
                y=[era] * len(rows),
                mode="markers+text",
                name=era,
                text=rows["model"],
                textposition="top center",
                textfont={"size": 10},
                marker={"size": 12, "color": PALETTE[i % len(PALETTE)], "line": {"width": 1}},
                customdata=rows[["authors", "contribution"]].to_numpy(),
                hovertemplate="<b>%{text}</b> (%{x})<br>%{customdata[0]}<br>%{customdata[1]}"
                "<extra></extra>",
            )
        )
    fig.update_layout(
        title="Sequence modelling, 1986 to today",
        xaxis={"title": "year", "dtick": 5, "range": [df["year"].min() - 2, df["year"].max() + 3]},
        yaxis={"categoryorder": "array", "categoryarray": list(ERAS)[::-1]},
        height=460,
        showlegend=False,
        margin={"l": 110, "r": 20, "t": 60, "b": 50},
    )
    return fig
