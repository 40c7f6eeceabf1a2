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
LANE = 1.4  # vertical distance between era lanes; stacked labels step down by 0.3


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

    With ``cite_roles`` the paper column is a MyST ``{cite:t}`` role ("Elman (1990)", linked to
    ``references.bib``), so the authors are not written twice; without (Jupyter, Colab) it
    shows the authors and the bibliography key in brackets.
    """
    lines = ["| Year | Era | Idea | Paper | What it brought |", "|---|---|---|---|---|"]
    for row in df.itertuples(index=False):
        paper = f"{{cite:t}}`{row.cite}`" if cite_roles else f"{row.authors} [{row.cite}]"
        lines.append(f"| {row.year} | {row.era} | {row.model} | {paper} | {row.contribution} |")
    return "\n".join(lines)


def _label_levels(years: list[int], labels: list[str], years_per_char: float = 0.5) -> list[int]:
    """Stack labels that would overlap within one lane: each label spans from its year to about
    ``years_per_char`` years per character to the right; a label goes to the first level
    (0, 1, 2, ...) where it does not run into the previous one."""
    levels: list[int] = []
    end_of_level: dict[int, float] = {}
    for year, label in zip(years, labels, strict=True):
        level = 0
        while end_of_level.get(level, -1e9) > year:
            level += 1
        end_of_level[level] = year + years_per_char * len(label) + 2
        levels.append(level)
    return levels


def timeline_figure(df: pd.DataFrame) -> go.Figure:
    """One marker per paper on a year axis, one lane per era; hover shows authors and idea."""
    fig = go.Figure()
    lanes = [era for era in ERAS if (df["era"] == era).any()]
    for i, era in enumerate(lanes):
        rows = df[df["era"] == era].sort_values("year", kind="stable")
        levels = _label_levels(rows["year"].tolist(), rows["model"].tolist())
        y = [LANE * (len(lanes) - 1 - i) - 0.3 * level for level in levels]  # first era on top
        fig.add_trace(
            go.Scatter(
                x=rows["year"],
                y=y,
                mode="markers+text",
                name=era,
                text=rows["model"],
                textposition="middle right",
                textfont={"size": 10},
                marker={"size": 10, "color": PALETTE[ERAS.index(era) % len(PALETTE)]},
                customdata=rows[["authors", "contribution"]].to_numpy(),
                hovertemplate="<b>%{text}</b> (%{x})<br>%{customdata[0]}<br>%{customdata[1]}"
                "<extra></extra>",
            )
        )
    fig.update_layout(
        title="Sequence modelling, 1986 to today",
        xaxis={"title": "year", "dtick": 5, "range": [df["year"].min() - 2, df["year"].max() + 9]},
        yaxis={
            "tickvals": [LANE * (len(lanes) - 1 - i) for i in range(len(lanes))],
            "ticktext": lanes,
            "range": [-0.9, LANE * (len(lanes) - 1) + 0.5],
            "zeroline": False,
        },
        height=520,
        showlegend=False,
        margin={"l": 100, "r": 20, "t": 60, "b": 50},
    )
    return fig
