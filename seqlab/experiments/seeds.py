"""The tie rule: compare results over seeds, and say "tied" when a difference is within the spread.

Every generated comparative in the book ("lowest", "faster", "shorter delays than") goes through
:func:`compare`, so a word is printed only when the seeds support it. Inputs are long tables with
one row per (group, seed): e.g. columns ``model``, ``seed``, ``val_loss``.

The rule (:func:`compare`). Group A *beats* group B when all three hold:

1. **Welch's t-test** (Welch 1947, Biometrika 34:28-35; the unequal-variance t-test of
   ``scipy.stats.ttest_ind(equal_var=False)``) rejects equal means at two-sided level ``alpha``
   (default 0.05): ``|mean_A - mean_B| > t_{1-alpha/2, nu} * sqrt(sem_A^2 + sem_B^2)`` with the
   Welch-Satterthwaite degrees of freedom ``nu``. With 3 seeds each ``nu`` is 2 to 4, so the
   critical t is 2.8 to 4.3 standard errors, not the normal 1.96: the honest price of 3 seeds.
2. **The seed ranges do not overlap**: every seed of A is better than every seed of B. With 3 vs 3
   seeds this alone is the exact one-sided Mann-Whitney test at its smallest p = 1/C(6,3) = 0.05
   (Mann & Whitney 1947); it needs no normality, which 3 points cannot check, and a win never
   rests on a mean pulled by one outlying seed.
3. ``|mean_A - mean_B| > min_diff`` (default 0: no practical-size threshold).

Both must agree: with 3 seeds the t-test leans on normality, the range rule ignores the gap's size. The level applies per pair (no multiplicity
correction); the range requirement keeps the family of pairs conservative. Background: Dror et al.
2018 ("The Hitchhiker's Guide to Testing Statistical Significance in NLP", ACL), Bouthillier et al.
2021 ("Accounting for Variance in Machine Learning Benchmarks", MLSys).

Numbers: ``mean ± sem`` (s.e. of the mean over seeds), rounded by the PDG rule (:func:`format_mean_sem`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

MIN_SEEDS = 3  # issue #9: every headline comparison runs >= 3 seeds


def _validate(df, by, value: str, seed: str, min_seeds: int) -> list[str]:
    """Check the long table; return ``by`` as a list. Raises ``ValueError`` naming the fault."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    by = [by] if isinstance(by, str) else list(by)
    if not by:
        raise ValueError("by must name at least one column, got []")
    if isinstance(min_seeds, bool) or not isinstance(min_seeds, int) or min_seeds < 1:
        raise ValueError(f"min_seeds must be an int >= 1, got {min_seeds!r}")
    missing = [c for c in [*by, seed, value] if c not in df.columns]
    if missing:
        raise ValueError(f"df has no column(s) {missing}; columns are {list(df.columns)}")
    if df.empty:
        raise ValueError("df is empty: no results to summarise")
    if not pd.api.types.is_numeric_dtype(df[value]) or pd.api.types.is_bool_dtype(df[value]):
        raise ValueError(f"value column {value!r} must be numeric, got dtype {df[value].dtype}")
    keys = df[[*by, seed]]
    if keys.isna().any().any():
        raise ValueError(f"columns {[*by, seed]} contain missing values")
    bad = df[~np.isfinite(df[value].to_numpy(dtype=np.float64))]
    if len(bad):
        rows = bad[[*by, seed, value]].to_dict("records")
        raise ValueError(
            f"value {value!r} is NaN or infinite in {len(bad)} row(s), e.g. {rows[:3]}; "
            "drop or handle failed runs explicitly before comparing"
        )
    dup = keys.duplicated(keep=False)
    if dup.any():
        raise ValueError(
            f"more than one row per ({', '.join(by)}, {seed}), e.g. "
            f"{keys[dup].head(3).to_dict('records')}; pass one result per run (e.g. the final "
            f"{value})"
        )
    n = df.groupby(by, sort=False)[seed].nunique()
    few = n[n < min_seeds]
    if len(few):
        raise ValueError(
            f"need >= {min_seeds} seeds per group (min_seeds={min_seeds}); "
            f"too few in: {', '.join(f'{_label(k)} (n={v})' for k, v in few.items())}"
        )
    return by


def _label(key) -> str:
    return ", ".join(map(str, key)) if isinstance(key, tuple) else str(key)


def summarize_seeds(
    df: pd.DataFrame, by, value: str, seed: str = "seed", min_seeds: int = MIN_SEEDS
) -> pd.DataFrame:
    """Per-group statistics over seeds.

    Inputs: ``df`` with one row per (``by``, ``seed``); ``by`` a column name or list of names;
    ``value`` the numeric result column (any unit; the output keeps it).
    Outputs: DataFrame indexed by group (first-appearance order) with columns ``n`` (seeds),
    ``mean``, ``std`` (sample, ddof=1), ``sem`` (= std / sqrt(n)), ``min``, ``max``.
    Raises ``ValueError`` for missing columns, non-numeric / NaN / infinite values, two rows for
    one seed, or a group with fewer than ``min_seeds`` seeds.
    """
    by = _validate(df, by, value, seed, min_seeds)
    g = df.groupby(by if len(by) > 1 else by[0], sort=False)[value]
    out = g.agg(n="count", mean="mean", std="std", min="min", max="max")
    out.insert(3, "sem", out["std"] / np.sqrt(out["n"]))
    return out[["n", "mean", "std", "sem", "min", "max"]]


# --- formatting -------------------------------------------------------------------------------


def _decimals(sem: float) -> int | None:
    """Decimal places for ``sem`` by the PDG rule; None when sem is 0 or not finite.

    Particle Data Group, Review of Particle Physics, Introduction, "Rounding": if the three leading
    digits of the error are 100-354 keep two significant digits, 355-949 one, 950-999 round up to
    1000 and keep two. The value is rounded to the same decimal place; negative = tens, hundreds.
    """
    if not math.isfinite(sem) or sem <= 0:
        return None
    e = math.floor(math.log10(sem))
    lead = round(sem / 10 ** (e - 2))  # the three leading digits, 100..1000
    if lead >= 950:
        e, sig = e + 1, 2
    else:
        sig = 2 if lead <= 354 else 1
    return sig - 1 - e


def _common_decimals(sems) -> int | None:
    """The finest PDG decimals any of ``sems`` needs (None when all are 0)."""
    found = [d for d in map(_decimals, np.asarray(sems, dtype=np.float64)) if d is not None]
    return max(found) if found else None


def format_mean_sem(mean, sem, decimals: int | None = None):
    """``"1.913 ± 0.012"``: a mean and its standard error rounded to the same decimal place.

    Inputs: scalars -> one ``str``; arrays or Series (same length) -> a Series of ``str`` that share
    one number of decimals (the finest any entry needs), so a table column lines up.
    ``decimals`` overrides the PDG rounding of :func:`_decimals`. A zero sem prints as ``± 0``
    with the mean to 4 significant digits (unless ``decimals`` is given).
    """
    if np.ndim(mean) == 0:
        return format_mean_sem(pd.Series([mean]), pd.Series([sem]), decimals).iloc[0]
    index = mean.index if isinstance(mean, pd.Series) else None
    m = np.asarray(mean, dtype=np.float64)
    s = np.asarray(sem, dtype=np.float64)
    if m.shape != s.shape:
        raise ValueError(f"mean and sem differ in shape: {m.shape} vs {s.shape}")
    if decimals is None:
        decimals = _common_decimals(s)
    if decimals is None:
        out = [f"{a:.4g} ± 0" for a in m]
    else:
        d = max(decimals, 0)  # decimals < 0 round to tens, hundreds: 21600 ± 400
        out = [
            f"{round(a, decimals):.{d}f} ± {round(b, decimals):.{d}f}"
            for a, b in zip(m, s, strict=True)
        ]
    return pd.Series(out, index=index)


def join_words(items, conj: str = "and") -> str:
    """``["a"] -> "a"``, ``["a", "b"] -> "a and b"``, ``["a", "b", "c"] -> "a, b and c"``."""
    items = [str(i) for i in items]
    if not items:
        raise ValueError("items is empty: nothing to join")
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conj} {items[-1]}"


def phrase_values(values, unit="", fmt: str = "{:g}", respectively: bool = False) -> str:
    """A list of numbers in words, without repeating equal ones.

    ``[300, 300, 300], "steps" -> "300 steps each"``; ``[300, 400, 500] -> "300, 400 and 500
    steps"`` (``+ " respectively"`` with ``respectively=True``); ``[1], ("step", "steps") ->
    "1 step"``. ``unit`` is a plural noun or a ``(singular, plural)`` pair.
    Raises ``ValueError`` for an empty list.
    """
    values = list(values)
    if not values:
        raise ValueError("values is empty: nothing to phrase")
    one, many = (unit, unit) if isinstance(unit, str) else unit
    texts = [fmt.format(v) for v in values]
    noun = one if all(v == 1 for v in values) else many
    tail = f" {noun}" if noun else ""
    if len(set(texts)) == 1:
        return f"{texts[0]}{tail}" + (" each" if len(texts) > 1 else "")
    return f"{join_words(texts)}{tail}" + (" respectively" if respectively else "")


def phrase_up_to(value, tested, var: str = "T") -> str:
    """Where a criterion held, in words: ``value`` is the largest tested setting that passed.

    ``tested`` are the settings tried. ``None`` -> ``"at no tested T (10 to 200)"``; the largest ->
    ``"at every tested T (up to 200)"``; the smallest -> ``"only at T = 10, the smallest tested"``;
    else ``"up to T = 50"``. Never "up to T = 0" for a setting that was not tested: a ``value``
    outside ``tested`` raises ``ValueError``.
    """
    tested = sorted(set(tested))
    if not tested:
        raise ValueError("tested is empty: no settings were tried")
    lo, hi = tested[0], tested[-1]
    if value is None:
        return f"at no tested {var} ({lo:g} to {hi:g})" if lo != hi else f"not at {var} = {lo:g}"
    if value not in tested:
        raise ValueError(f"value={value!r} is not one of the tested settings {tested}")
    if value == hi:
        return f"at every tested {var} (up to {hi:g})" if lo != hi else f"at {var} = {hi:g}"
    if value == lo:
        return f"only at {var} = {lo:g}, the smallest tested"
    return f"up to {var} = {value:g}"


# --- the comparison ---------------------------------------------------------------------------


def _pair(sa: pd.Series, sb: pd.Series, lower_is_better: bool, alpha: float, min_diff: float):
    """Decide one pair (rows of the summary). Returns the row of ``Comparison.pairs``."""
    d = sa["mean"] - sb["mean"]
    se = math.hypot(sa["sem"], sb["sem"])
    if se == 0:
        nu, p = float(sa["n"] + sb["n"] - 2), (0.0 if d != 0 else 1.0)
    else:
        v = [s["sem"] ** 4 / (s["n"] - 1) for s in (sa, sb)]
        nu = se**4 / sum(v)  # Welch-Satterthwaite
        p = float(2 * stats.t.sf(abs(d) / se, nu))
    a_first = (d < 0) == lower_is_better  # a has the better mean
    good, bad = (sa, sb) if a_first else (sb, sa)
    apart = good["max"] < bad["min"] if lower_is_better else good["min"] > bad["max"]
    decided = p < alpha and apart and abs(d) > min_diff and d != 0
    return dict(a=sa.name, b=sb.name, diff=d, se=se, df=nu, p_value=p, ranges_overlap=not apart,
                better=good.name if decided else None)  # fmt: skip


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`.

    ``table``: the summary (``n, mean, std, sem, min, max``) best mean first, plus ``rank``
    (1 + the number of groups that beat this one: a partial order, equal ranks are ties),
    ``top`` (in the tied-best set :attr:`best`) and ``"mean ± sem"`` (formatted).
    ``pairs``: one row per pair: ``a``, ``b``, ``diff`` (mean_a - mean_b), ``se``, ``df`` (Welch),
    ``p_value``, ``ranges_overlap``, ``better`` (the winning label, or None for a tie).
    """

    value: str
    lower_is_better: bool
    alpha: float
    min_diff: float
    table: pd.DataFrame
    pairs: pd.DataFrame

    @property
    def best(self) -> tuple[str, ...]:
        """The smallest best-first set whose every member beats every group outside it."""
        return tuple(self.table.index[self.table["top"]])

    @property
    def winner(self) -> str | None:
        """The single group that beats every other, or None when the best is a tie."""
        return self.best[0] if len(self.best) == 1 else None

    def better(self, a: str, b: str) -> str | None:
        """The label of whichever of ``a``, ``b`` beats the other by the rule, or None (tied)."""
        for name in (a, b):
            if name not in self.table.index:
                raise ValueError(f"unknown group {name!r}; groups are {list(self.table.index)}")
        if a == b:
            raise ValueError(f"a and b are the same group {a!r}")
        pr = self.pairs
        return pr[((pr.a == a) & (pr.b == b)) | ((pr.a == b) & (pr.b == a))]["better"].iloc[0]

    def _fmt(self, names) -> dict[str, str]:
        return dict(zip(names, self.table.loc[list(names), "mean ± sem"], strict=True))

    def _diff(self, names) -> str:
        """The largest |difference of means| among ``names``, at the table's precision."""
        means = self.table.loc[list(names), "mean"]
        d = float(means.max() - means.min())
        dec = _common_decimals(self.table["sem"])
        if dec is None:
            return f"{d:.4g}"
        p = max(dec, 0)
        return f"{round(d, dec):.{p}f}" if round(d, dec) > 0 else f"< {10.0**-dec:.{p}f}"

    def _basis(self, names, sample: str | None) -> str:
        n = self.table.loc[list(names), "n"].tolist()
        out = f"mean ± s.e. over {phrase_values(n, ('seed', 'seeds'), respectively=True)}"
        return f"{out}; {sample}" if sample else out

    def phrase(self, word: str | None = None, sample: str | None = None) -> str:
        """The headline in safe English.

        ``word`` is the superlative for the best (default ``"lowest"``/``"highest"``); ``sample``
        an optional statement of the evaluation sample, appended in the brackets.
        One winner: ``"LSTM lowest (1.91 ± 0.02) vs GRU (1.95 ± 0.01) and RNN (2.08 ± 0.01);
        mean ± s.e. over 3 seeds each"``. A tied best: ``"LSTM and GRU tied lowest (...) vs RNN
        (...)"``. All tied: ``"LSTM and GRU tied (...; difference 0.004 within the spread)"``.
        """
        word = word or ("lowest" if self.lower_is_better else "highest")
        best, rest = list(self.best), [g for g in self.table.index if g not in self.best]
        f = self._fmt(self.table.index)
        basis = self._basis(self.table.index, sample)
        decided = self.pairs[self.pairs["better"].notna()]
        if not rest and len(decided):  # a partial order: some pairs decided, no best set
            return self._phrase_partial(decided, f, basis)
        if not rest:
            diff = self._diff(best)
            within = f"difference{'s up to' if len(best) > 2 else ''} {diff} within the spread"
            return f"{join_words(best)} tied ({' vs '.join(f[g] for g in best)}; {within}; {basis})"
        others = join_words(f"{g} ({f[g]})" for g in rest)
        if len(best) == 1:
            return f"{best[0]} {word} ({f[best[0]]}) vs {others}; {basis}"
        tops = ", ".join(f[g] for g in best)
        return f"{join_words(best)} tied {word} ({tops}) vs {others}; {basis}"

    def _phrase_partial(self, decided: pd.DataFrame, f: dict[str, str], basis: str) -> str:
        """No best set, some pairs decided: ``"A lower than C; A and B tied, B and C tied (...)"``"""
        w, pr = ("lower" if self.lower_is_better else "higher"), self.pairs
        wins = [
            f"{r.better} {w} than {r.b if r.better == r.a else r.a}" for r in decided.itertuples()
        ]
        ties = [f"{r.a} and {r.b} tied" for r in pr[pr["better"].isna()].itertuples()]
        values = ", ".join(f"{g} {f[g]}" for g in self.table.index)
        return f"{'; '.join(wins)}; {', '.join(ties)} ({values}; {basis})"

    def phrase_pair(self, a: str, b: str, word: str | None = None, sample: str | None = None):
        """One comparative: ``"LSTM lower than GRU (1.91 ± 0.02 vs 1.95 ± 0.01; ...)"`` or
        ``"LSTM and GRU tied (...; difference 0.004 within the spread; ...)"``.

        ``word`` is the comparative said of the winner (default ``"lower"``/``"higher"``;
        e.g. ``"faster"``). Raises ``ValueError`` for an unknown group.
        """
        word = word or ("lower" if self.lower_is_better else "higher")
        win = self.better(a, b)
        f = self._fmt([a, b])
        if win is None:
            basis = self._basis([a, b], sample)
            diff = self._diff([a, b])
            return (
                f"{a} and {b} tied ({f[a]} vs {f[b]}; difference {diff} within the spread; {basis})"
            )
        lose = b if win == a else a
        basis = self._basis([win, lose], sample)
        return f"{win} {word} than {lose} ({f[win]} vs {f[lose]}; {basis})"


def compare(
    df: pd.DataFrame,
    by,
    value: str,
    lower_is_better: bool = True,
    seed: str = "seed",
    min_seeds: int = MIN_SEEDS,
    alpha: float = 0.05,
    min_diff: float = 0.0,
) -> Comparison:
    """Rank groups by ``value`` over seeds and decide winners and ties with the module's rule.

    Inputs: ``df`` one row per (``by``, ``seed``); ``lower_is_better`` (loss, time: True;
    accuracy: False); ``min_seeds`` (>= 2; default 3) seeds required in every group; ``alpha``
    in (0, 1) the two-sided level of Welch's test; ``min_diff`` >= 0 the smallest difference of
    means (in ``value``'s unit) that may count as a win.
    Outputs: a :class:`Comparison`. Raises ``ValueError`` for fewer than two groups, a group
    with fewer than ``min_seeds`` seeds, NaN/infinite values, or bad arguments.
    """
    if isinstance(min_seeds, bool) or not isinstance(min_seeds, int) or min_seeds < 2:
        raise ValueError(f"min_seeds must be an int >= 2 to estimate a spread, got {min_seeds!r}")
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not isinstance(min_diff, (int, float)) or not (math.isfinite(min_diff) and min_diff >= 0):
        raise ValueError(f"min_diff must be a finite number >= 0, got {min_diff!r}")
    s = summarize_seeds(df, by, value, seed, min_seeds)
    cols = [by] if isinstance(by, str) else list(by)
    s.index = pd.Index([_label(k) for k in s.index], name=", ".join(map(str, cols)))
    if s.index.duplicated().any():
        raise ValueError(f"group labels are not unique: {list(s.index)}")
    if len(s) < 2:
        raise ValueError(f"need at least two groups to compare, got {list(s.index)}")
    s = s.sort_values("mean", ascending=lower_is_better, kind="stable")
    rows = [
        _pair(s.loc[a], s.loc[b], lower_is_better, alpha, min_diff)
        for a, b in combinations(s.index, 2)
    ]
    wins = set()  # (winner, loser)
    for r in rows:
        if r["better"] is not None:
            wins.add((r["better"], r["b"] if r["better"] == r["a"] else r["a"]))
    s["rank"] = [1 + sum(lose == g for _, lose in wins) for g in s.index]
    s = s.sort_values(["rank", "mean"], ascending=[True, lower_is_better], kind="stable")
    # the tied-best set: the shortest prefix (in rank order) that beats every group after it
    order, k = list(s.index), 1
    while not all((t, o) in wins for t in order[:k] for o in order[k:]):
        k += 1
    s["top"] = [i < k for i in range(len(s))]
    s["mean ± sem"] = format_mean_sem(s["mean"], s["sem"])
    pairs = pd.DataFrame(rows)
    # pandas stores None as NaN in a column of labels: put None back, the documented tie marker
    pairs["better"] = pairs["better"].astype(object).where(pairs["better"].notna(), None)
    return Comparison(value, lower_is_better, alpha, min_diff, s, pairs)
