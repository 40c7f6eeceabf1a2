"""The comparison table of chapter 8, every cell read from a measurement of the book.

The texts the book grew from end with a table (RNN / LSTM / GRU / Transformer against
parallelism, long-range dependencies, memory, training speed, streaming) whose cells are
asserted. :func:`comparison_table` fills each cell from a :class:`~seqlab.experiments.results.
Result` of the book's experiments and returns a tidy table, one row per (property, model),
with the provenance of every cell: the experiment and row that measured it, the section that
shows it, the sample (seeds or timing rounds), and the usual claim with a flag where our
measurement contradicts it.

A cell is marked best (``best``) only where the tie rule of
:func:`seqlab.experiments.seeds.compare` puts it in a best set smaller than all the models;
exact counts (bytes, parameters) have no spread and are ranked as they are.

Inputs of :func:`comparison_table` (a dict of Results, by these keys):

- ``costs``: ``choosing.costs`` (:func:`seqlab.experiments.choosing.costs`): training step and
  streaming times, stream memory, parameters at one width;
- ``lm``: ``gru.lm_compare`` (RNN, GRU, LSTM char LMs at one parameter budget) and ``gpt``:
  ``transformer.char_lm`` (the GPT at the LSTM's parameter count): validation loss, tokens/s;
- ``copy``: ``gru.copy_sweep`` and ``long_range``: ``cost.long_range`` (the copy task);
- ``sweep`` (optional): ``(runs, note)`` of
  :func:`seqlab.experiments.equal_quality.stored_comparison`, chapter 7's GPT and LSTM sizes
  at one budget (parameters at equal quality); absent or ``(None, note)``: that row says
  "not measured" and why.

Training speed and parallelism come from one measurement (``choosing.costs``: the four
models timed in the same interleaved rounds at one width), not from the char-LM runs of
different chapters, whose models differ in width and depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from seqlab.experiments.attention_cost import fit_power_law
from seqlab.experiments.choosing import ARCH_NAMES, ARCHS
from seqlab.experiments.equal_quality import params_at_loss, reference_loss
from seqlab.experiments.seeds import compare, format_mean_sem

__all__ = ["CLAIMS", "PROPERTIES", "Property", "comparison_table", "lm_runs", "copy_runs"]

#: the section of the book that shows each experiment (the page's file stem and the heading id)
SOURCES = {
    "choosing.costs": "08_choosing.html#the-costs-measured-on-one-device",
    "gru.lm_compare": "03_gru.html#equal-budgets-the-char-level-language-model",
    "transformer.char_lm": "05_transformer.html#a-gpt-style-character-model-against-the-lstm",
    "gru.copy_sweep": "03_gru.html#equal-budgets-the-copy-task",
    "cost.long_range": "06_attention_cost.html#long-range-the-copy-task-again",
    "scaling.sweep": "07_scaling.html#lstm-against-transformer",
}


@dataclass(frozen=True)
class Property:
    """A column of the seeds' table: its name, the quantity and unit we measure for it,
    whether lower is better, the usual claim (which model the texts say wins) and the word the
    verdict uses for the best ("fastest", "lowest", ...)."""

    name: str
    quantity: str
    unit: str
    lower_is_better: bool
    claim: str
    claimed_best: tuple[str, ...]
    word: str = "best"


PROPERTIES = (
    Property("parallelism over time", "training step at the longest T", "ms", True,
             "the Transformer processes all positions at once, recurrent nets step by step: "
             "the Transformer trains fastest on long sequences", ("transformer",), "fastest"),
    Property("long-range dependencies", "copy-task accuracy at the longest common delay",
             "accuracy", False, "attention reaches any position in one step; the LSTM and "
             "GRU carry memory far, the RNN forgets", ("transformer",), "highest"),
    Property("memory", "state a stream keeps at the longest context", "bytes", True,
             "a recurrent net keeps a fixed-size state; a Transformer's cache grows with the "
             "context", ("rnn", "gru"), "smallest"),
    Property("training speed", "training throughput of one layer at the char LMs' context",
             "tokens/s", False, "the Transformer trains fastest (parallel over time)",
             ("transformer",), "fastest"),
    Property("streaming / latency", "time for the next token at the longest context",
             "ms", True, "a recurrent net costs the same per token at any position; ideal "
             "for streaming", ("rnn", "gru", "lstm"), "fastest"),
    Property("quality at equal parameters", "char-LM validation loss", "bpc", True,
             "the Transformer reaches the lowest loss", ("transformer",), "lowest"),
    Property("parameters", "parameters at one width H", "count", True,
             "GRU: 3 gate blocks, LSTM: 4, RNN: 1", ("rnn",), "fewest"),
    Property("parameters at equal quality", "non-embedding parameters N to reach the "
             "reference validation loss at one step budget", "N", True,
             "at equal parameters the Transformer reaches a lower loss than the LSTM (Kaplan "
             "et al. 2020, Fig. 7), so it needs the fewest parameters for a given loss",
             ("transformer",), "fewest"),
)  # fmt: skip
CLAIMS = {p.name: p.claim for p in PROPERTIES}


def lm_runs(lm, gpt) -> tuple[pd.DataFrame, str]:
    """One row per (model, seed) of the char LMs: RNN / GRU / LSTM from ``lm``
    (``gru.lm_compare``) and the GPT of ``gpt`` (``transformer.char_lm``), columns model,
    seed, n_params, tokens_per_s, val_loss, bpc. Also a note on the budgets: whether the LSTM
    runs of both experiments are the same runs (then all four share one parameter budget)."""
    a = lm.runs.rename(columns={"cell": "model"})
    a = a[["model", "seed", "n_params", "tokens_per_s", "val_loss"]]
    b = gpt.runs.assign(model=gpt.runs["model"].str.lower().replace({"gpt": "transformer"}))
    b = b[["model", "seed", "n_params", "tokens_per_s", "val_loss"]]
    la = a[a.model == "lstm"].set_index("seed")["val_loss"]
    lb = b[b.model == "lstm"].set_index("seed")["val_loss"]
    same = la.index.equals(lb.index) and np.allclose(la.to_numpy(), lb.to_numpy(), rtol=1e-9)
    counts = pd.concat([a, b]).groupby("model")["n_params"].first()
    spread = counts.max() / counts.min() - 1
    note = (
        "the LSTM runs of both chapters are the same runs: one parameter budget for all four"
        if same
        else f"two experiments; parameter counts within {spread:.0%} of each other"
    )
    runs = pd.concat([a, b[b.model == "transformer"]], ignore_index=True)
    runs["bpc"] = runs["val_loss"] / np.log(2)
    return runs, note


def copy_runs(copy, long_range) -> tuple[pd.DataFrame, int]:
    """Copy-task runs of all four models at the longest delay T both experiments measured:
    RNN / GRU / LSTM from ``copy`` (``gru.copy_sweep``), the Transformer from ``long_range``.
    Columns model, seed, T, score (accuracy), n_params. Raises ``ValueError`` when the two
    share no delay."""
    a, b = copy.runs, long_range.runs
    common = sorted(set(a["T"]) & set(b["T"]))
    if not common:
        raise ValueError(f"copy delays {sorted(set(a['T']))} and long-range delays "
                         f"{sorted(set(b['T']))} share none")  # fmt: skip
    T = common[-1]
    rows = pd.concat([a[a["T"] == T], b[(b["T"] == T) & (b["cell"] == "transformer")]])
    rows = rows.rename(columns={"cell": "model"})[["model", "seed", "T", "score", "n_params"]]
    return rows.reset_index(drop=True), int(T)


def _seeded(
    prop: Property, df: pd.DataFrame, value: str, seed: str, fmt_unit: str, sample: str | None
) -> list:
    """Cells of one property from a long table with >= 3 seeds per model (the tie rule);
    ``sample`` says what the "seeds" are when they are not (e.g. timing rounds)."""
    named = df.assign(model=df["model"].map(ARCH_NAMES))  # the phrase prints display names
    c = compare(named, "model", value, lower_is_better=prop.lower_is_better, seed=seed)
    back = {v: k for k, v in ARCH_NAMES.items()}
    best = set(c.best) if len(c.best) < len(c.table) else set()
    text = format_mean_sem(c.table["mean"], c.table["sem"])
    return [
        dict(
            model=back[m],
            value=float(c.table.loc[m, "mean"]),
            sem=float(c.table.loc[m, "sem"]),
            text=f"{text[m]} {fmt_unit}".strip(),
            best=m in best,
            n=int(c.table.loc[m, "n"]),
            verdict=c.phrase(prop.word, sample=sample),
        )  # fmt: skip
        for m in c.table.index
    ]


def _exact(prop: Property, values: dict[str, float], fmt: str) -> list:
    """Cells of an exact count (no spread): the best are the models at the extreme value."""
    target = min(values.values()) if prop.lower_is_better else max(values.values())
    best = {m for m, v in values.items() if v == target}
    best = best if len(best) < len(values) else set()
    order = ", ".join(f"{ARCH_NAMES[m]} {fmt.format(v)}" for m, v in values.items())
    return [dict(model=m, value=float(v), sem=0.0, text=fmt.format(v), best=m in best, n=1,
                 verdict=f"exact counts: {order}") for m, v in values.items()]  # fmt: skip


def _growth(df: pd.DataFrame, x: str, y: str) -> dict[str, float]:
    """Exponent a of y ~ x^a per model (medians over rounds), NaN with one x."""
    out = {}
    for m, g in df.groupby("model"):
        med = g.groupby(x)[y].median()
        out[m] = fit_power_law(med.index, med.to_numpy())["exponent"] if len(med) > 1 else np.nan
    return out


def _timed(
    prop: Property, df: pd.DataFrame, x: str, at: int, value: str, unit: str, growth: bool = True
) -> tuple[list, dict]:
    """Cells of a timing of ``choosing.costs`` at ``x == at`` (the rounds as seeds) and, with
    ``growth``, the exponent of ``value`` against ``x`` per model."""
    cells = _seeded(prop, df[df[x] == at], value, "round", unit, "the seeds are timing rounds")
    return cells, (_growth(df, x, value) if growth else {})


def _lm_context(lm, lengths) -> int:
    """The timed length T closest to the char LMs' context (``lm.config.char_lm.block_size``;
    the median length when the result does not say)."""
    block = getattr(getattr(getattr(lm, "config", None), "char_lm", None), "block_size", None)
    lengths = sorted(lengths)
    target = block if block is not None else lengths[len(lengths) // 2]
    return min(lengths, key=lambda T: (abs(np.log(T / target)), T))


def _round2(n: float) -> str:
    return f"{float(f'{n:.2g}'):,.0f}"


def _part(status: str, h: pd.DataFrame, n: int) -> str:
    """One status of a cell of "parameters at equal quality" in words (``h``: its seeds)."""
    k = f"{len(h)} of {n} seeds"
    if status == "interpolated":
        return f"≈ {_round2(10 ** h['log10_n'].mean())} ({k})"
    if status == "below the smallest":
        return f"≤ {h['bound'].max():,.0f}, below the smallest size ({k})"
    return f"not reached: > {h['bound'].min():,.0f}, the largest size ({k})"


def _equal_quality(prop: Property, sweep) -> tuple[list, str, str, str | None]:
    """Cells of "parameters at equal quality" from ``(runs, note)`` of
    :func:`~seqlab.experiments.equal_quality.stored_comparison` (or None): per architecture
    N* at the reference loss (:mod:`~seqlab.experiments.equal_quality`), mean ± s.e. of
    log10 N* over seeds where every seed crosses inside the sizes, else the bounds; a best
    only by the tie rule over seeds. Returns ``(cells, source, sample, agreement override)``:
    the override is "bounds" when a cell is a bound (no value per seed to compare) and
    "not measured" without a sweep."""
    runs, note = sweep if sweep is not None else (None, "no sweep given")
    why = "RNN, GRU: chapters 1-3 train them at one size per budget (gru.lm_compare)"
    missing = dict(value=np.nan, sem=np.nan, text="not measured", best=False, n=0)
    if runs is None:
        verdict = f"not measured: {note}; {why}"
        return ([dict(model=m, **missing, verdict=verdict) for m in ARCHS],
                "scaling.sweep + gru.lm_compare", f"{note}; {why}", "not measured")  # fmt: skip
    target, overlap = reference_loss(runs)
    at = (f"L_ref = {target:.3f} nats/char, the midpoint of the losses both reach"
          if overlap else f"L_ref = {target:.3f} nats/char, in the gap between the two ranges "
          "of mean losses (they do not overlap)")  # fmt: skip
    sample = f"{note}; {at}; {why}"
    found = params_at_loss(runs, target).assign(
        model=lambda d: d["arch"].map({"gpt": "transformer", "lstm": "lstm"})
    )
    cells, texts, full = {}, {}, []
    for m, g in found.groupby("model", sort=False):
        n = len(g)
        if (g["status"] == "interpolated").all() and n >= 3:
            full.append(m)
            continue
        parts = [_part(status, h, n) for status, h in g.groupby("status", sort=False)]
        texts[m] = "; ".join(parts)
        cells[m] = dict(model=m, value=np.nan, sem=np.nan, text=texts[m], best=False, n=n)
    verdict = None
    if len(full) >= 2:
        c_runs = found[found["model"].isin(full)]
        got = _seeded(prop, c_runs, "log10_n", "seed", "", f"log10 N at {at}")
        for c in got:
            c.update(text=f"≈ {_round2(10 ** c['value'])} (log₁₀ N {c['text']})")
            cells[c["model"]] = c
        verdict = got[0]["verdict"]
    else:
        for m in full:
            g = found[found["model"] == m]["log10_n"]
            cells[m] = dict(model=m, value=float(g.mean()), sem=float(g.sem()), n=len(g),
                            text=f"≈ {_round2(10 ** g.mean())} (log₁₀ N "
                                 f"{format_mean_sem(g.mean(), g.sem())})", best=False)  # fmt: skip
            texts[m] = cells[m]["text"]
    decided = _decided_by_bounds(found)
    if decided is not None:
        cells[decided]["best"] = True
    if verdict is None or texts:
        said = "; ".join(f"{ARCH_NAMES[m]} {t}" for m, t in texts.items())
        tail = (
            f"; every seed of the {ARCH_NAMES[decided]} reaches L_ref at a size below every "
            f"size the others reach it from: it needs the fewest parameters whatever the "
            f"exact values (★ from bounds that all seeds share)"
            if decided is not None
            else "; no ★: the tie rule needs a value for each of >= 3 seeds, and a bound is not one"
        )
        verdict = f"at {at}: {said}" + ("" if verdict is None else f"; {verdict}") + tail
    out = [cells.get(m, dict(model=m, **missing)) for m in ARCHS]
    for c in out:
        c["verdict"] = verdict
    override = "bounds" if texts and decided is None else None
    return out, "scaling.sweep + gru.lm_compare", sample, override


def _decided_by_bounds(found: pd.DataFrame) -> str | None:
    """The architecture that needs fewer parameters from bounds alone, or None: every seed
    (>= 3) of it "below the smallest" size, every seed (>= 3) of each other one "not reached"
    at its largest, and its largest bound under their smallest."""
    by = {m: g for m, g in found.groupby("model", sort=False) if len(g) >= 3}
    low = [m for m, g in by.items() if (g["status"] == "below the smallest").all()]
    high = [m for m, g in by.items() if (g["status"] == "not reached").all()]
    if len(low) != 1 or not high or len(low) + len(high) != len(by):
        return None
    top = by[low[0]]["bound"].max()
    return low[0] if all(top < by[m]["bound"].min() for m in high) else None


def comparison_table(results: dict) -> pd.DataFrame:
    """The seeds' table, measured. ``results``: Results by key (module docstring).

    Outputs: a tidy DataFrame, one row per (property, model): property, model (``ARCHS``),
    value (the mean), sem, text (the cell), best (bool, by the tie rule), n (seeds or rounds),
    growth (the exponent of the cost against T or p, where measured), quantity, unit, source
    (the experiment's rows, joined by " + "), link (their sections, space-separated), sample,
    claim, claimed_best, contradicts (the measured best set is not empty and shares no model
    with the claim), agreement ("agrees": the best set lies within the claimed winners;
    "partly": it holds a claimed winner and others; "contradicts"; "undecided": no winner;
    "bounds": a cell is only a bound, see the verdict; "not measured"), verdict (the
    comparison in words). Raises ``KeyError`` naming a missing result (``sweep`` may be
    missing: its row then says "not measured").
    """
    missing = [k for k in ("costs", "lm", "gpt", "copy", "long_range") if k not in results]
    if missing:
        raise KeyError(f"comparison_table needs results {missing}; got {sorted(results)}")
    costs = results["costs"]
    train = costs.train[costs.train["status"] == "ok"]
    T = int(train["seq_len"].max())
    T_lm = _lm_context(results["lm"], train["seq_len"].unique())
    stream = costs.stream
    p = int(stream["position"].max())
    lm, lm_note = lm_runs(results["lm"], results["gpt"])
    copy, delay = copy_runs(results["copy"], results["long_range"])
    memory = costs.memory[costs.memory["position"] == p].set_index("model")["state_bytes"]
    cfg = costs.config
    one = f"B = {cfg.batch_size}, H = {cfg.hidden_size}; {cfg.rounds} interleaved timing rounds"
    P = {prop.name: prop for prop in PROPERTIES}
    cells = {
        "parallelism over time": (
            *_timed(P["parallelism over time"], train, "seq_len", T, "median_ms", "ms"),
            "choosing.costs", f"T = {T}, {one}"),
        "long-range dependencies": (
            _seeded(P["long-range dependencies"], copy, "score", "seed", "", None), {},
            "gru.copy_sweep + cost.long_range", f"delay T = {delay}; 3 seeds"),
        "memory": (
            _exact(P["memory"], {m: int(memory[m]) for m in ARCHS}, "{:,} B"), {},
            "choosing.costs", f"p = {p} positions, batch 1, float32"),
        "training speed": (
            *_timed(P["training speed"], train, "seq_len", T_lm, "tokens_per_s", "tok/s",
                    growth=False),
            "choosing.costs", f"forward + backward of one layer (no embedding, no head) at "
            f"T = {T_lm}, the timed length nearest the char LMs' context; {one}"),
        "streaming / latency": (
            *_timed(P["streaming / latency"], stream, "position", p, "ms_per_token", "ms"),
            "choosing.costs", f"p = {p}, batch 1; {cfg.rounds} interleaved timing rounds"),
        "quality at equal parameters": (
            _seeded(P["quality at equal parameters"], lm, "bpc", "seed", "bpc", None), {},
            "gru.lm_compare + transformer.char_lm", f"held-out Shakespeare; {lm_note}"),
        "parameters": (
            _exact(P["parameters"], costs.params, "{:,}"), {}, "choosing.costs",
            f"one layer or block, width H = {cfg.hidden_size}, with embedding and head"),
    }  # fmt: skip
    eq, source, sample, override = _equal_quality(
        P["parameters at equal quality"], results.get("sweep")
    )
    cells["parameters at equal quality"] = (eq, {}, source, sample)
    rows = []
    for prop in PROPERTIES:
        found, growth, source, sample = cells[prop.name]
        best = {c["model"] for c in found if c["best"]}
        claimed = set(prop.claimed_best)
        contradicts = bool(best) and not best & claimed
        agreement = ("undecided" if not best else "contradicts" if contradicts
                     else "agrees" if best <= claimed else "partly")  # fmt: skip
        if prop.name == "parameters at equal quality" and override and not best:
            agreement = override
        link = " ".join(SOURCES[s] for s in source.split(" + "))
        for c in found:
            rows.append({"property": prop.name, **c, "growth": growth.get(c["model"], np.nan),
                         "quantity": prop.quantity, "unit": prop.unit, "source": source,
                         "link": link, "sample": sample, "claim": prop.claim,
                         "claimed_best": " / ".join(ARCH_NAMES[m] for m in prop.claimed_best),
                         "contradicts": contradicts, "agreement": agreement})  # fmt: skip
    out = pd.DataFrame(rows)
    out["model"] = pd.Categorical(out["model"], ARCHS, ordered=True)
    return out.sort_values(["property", "model"], key=_order).reset_index(drop=True)


def _order(col: pd.Series) -> pd.Series:
    if col.name == "property":
        return col.map({p.name: i for i, p in enumerate(PROPERTIES)})
    return col
