"""When to use what, computed: a recommendation from measured costs and the reader's constraints.

:func:`measurements` turns the book's results into one long table (one row per device, model,
quantity, setting and sample); :func:`recommend` answers a :class:`Constraints` from it:

1. **Latency**: every model's time per token at context p = ``seq_len`` is estimated from the
   streaming measurements (a power law fitted per timing round through the measured positions,
   :func:`~seqlab.experiments.attention_cost.fit_power_law`; "extrapolated" when ``seq_len`` is
   outside them; exact where it was measured). A model whose median estimate exceeds ``latency_ms`` is excluded.
2. **The budget** decides the order of two criteria, each decided by the tie rule
   (:func:`seqlab.experiments.seeds.compare`): ``"data-limited"`` (as many steps as the data
   allows, the same for every model): quality first (validation bits per character at equal
   parameters and steps), then training time at T = ``seq_len``; ``"compute-limited"`` (a fixed
   compute budget): training time first, then quality.
3. The choice is the single winner; where the rule cannot separate the best, the result says
   ``tied`` and names them, and the runner-up is the next model in the order.

Pure and fast (a few milliseconds; the chapter's slider calls it per state). Letters: T training
sequence length, p context positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seqlab.experiments.choosing import ARCH_NAMES
from seqlab.experiments.seeds import compare

__all__ = ["BUDGETS", "Constraints", "Recommendation", "measurements", "recommend"]

BUDGETS = ("data-limited", "compute-limited")
COLUMNS = ["device", "model", "quantity", "x", "sample", "value"]
#: quantity -> (what it is, unit, lower is better)
QUANTITIES = {
    "train_ms": ("training step (forward + backward)", "ms", True),
    "token_ms": ("time per streamed token", "ms", True),
    "bpc": ("validation loss at equal parameters and steps", "bpc", True),
}


@dataclass(frozen=True)
class Constraints:
    """What the reader needs. ``seq_len`` the sequence length / context in tokens (int >= 1);
    ``latency_ms`` the most milliseconds allowed per generated token (> 0; ``math.inf``: no
    limit); ``device`` the device the measurements are for (e.g. ``"cpu"``, ``"cuda"``);
    ``budget`` one of :data:`BUDGETS`. Bad values raise ``ValueError`` naming the field."""

    seq_len: int
    latency_ms: float = math.inf
    device: str = "cpu"
    budget: str = "data-limited"

    def __post_init__(self) -> None:
        T = self.seq_len
        if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
            raise ValueError(f"seq_len must be an int >= 1, got {T!r}")
        L = self.latency_ms
        if isinstance(L, bool) or not isinstance(L, (int, float)) or not L > 0:
            raise ValueError(f"latency_ms must be a number > 0 (math.inf: no limit), got {L!r}")
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(f"device must be a device name like 'cpu', got {self.device!r}")
        if self.budget not in BUDGETS:
            raise ValueError(f"budget must be one of {BUDGETS}, got {self.budget!r}")


@dataclass
class Recommendation:
    """``choice`` (a model, or None when no model fits the latency budget), ``runner_up``,
    ``tied`` (the models the tie rule could not separate from the choice; empty when it
    decided), ``drivers`` (the measurements that decided, in words), ``excluded`` {model:
    reason}, ``estimates`` (one row per model: token_ms, train_ms at seq_len, bpc, their
    spreads, extrapolated, feasible)."""

    choice: str | None
    runner_up: str | None
    tied: tuple[str, ...]
    drivers: list[str]
    excluded: dict[str, str]
    estimates: pd.DataFrame = field(repr=False)

    def summary(self) -> str:
        """One sentence: the choice (or the tie), the runner-up, and why."""
        if self.choice is None:
            return "No model meets the latency budget. " + " ".join(self.drivers)
        names = [ARCH_NAMES.get(m, m) for m in self.tied] if self.tied else []
        head = f"Tied: {' and '.join(names)}" if names else f"Choose {ARCH_NAMES[self.choice]}"
        runner = f"; runner-up {ARCH_NAMES[self.runner_up]}" if self.runner_up else ""
        return f"{head}{runner}. " + " ".join(self.drivers)


def measurements(costs, lm: pd.DataFrame | None = None) -> pd.DataFrame:
    """The long table :func:`recommend` reads, columns :data:`COLUMNS`.

    Inputs: ``costs`` a ``choosing.costs`` Result (or several, one per device, in a list);
    ``lm`` optional char-LM runs (columns model, seed, bpc:
    :func:`seqlab.experiments.choosing_table.lm_runs`), measured on the first Result's
    device (quality does not depend on the device)."""
    results = costs if isinstance(costs, (list, tuple)) else [costs]
    parts = []
    for r in results:
        device = r["device"]
        t = r.train[r.train["status"] == "ok"]
        parts.append(pd.DataFrame({"device": device, "model": t["model"], "quantity": "train_ms",
                                   "x": t["seq_len"], "sample": t["round"],
                                   "value": t["median_ms"]}))  # fmt: skip
        s = r.stream
        parts.append(pd.DataFrame({"device": device, "model": s["model"], "quantity": "token_ms",
                                   "x": s["position"], "sample": s["round"],
                                   "value": s["ms_per_token"]}))  # fmt: skip
    if lm is not None:
        device = parts[0]["device"].iloc[0]
        parts.append(pd.DataFrame({"device": device, "model": lm["model"], "quantity": "bpc",
                                   "x": np.nan, "sample": lm["seed"], "value": lm["bpc"]}))  # fmt: skip
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def _at(df: pd.DataFrame, x: float) -> tuple[pd.DataFrame, bool]:
    """Per model and sample, the value at x: the measured median where x was measured, else
    a power law c x^a fitted by least squares on log-log points (as
    :func:`~seqlab.experiments.attention_cost.fit_power_law`, in NumPy for speed). Returns
    (model, sample, value) rows and whether x lies outside the measured range."""
    models, samples = df["model"].to_numpy(), df["sample"].to_numpy()
    xs, values = df["x"].to_numpy(dtype=float), df["value"].to_numpy(dtype=float)
    rows = []
    for model in pd.unique(models):
        for sample in pd.unique(samples[models == model]):
            sel = (models == model) & (samples == sample)
            px = np.unique(xs[sel])
            py = np.array([np.median(values[sel & (xs == v)]) for v in px])
            if x in px:
                v = float(py[px == x][0])
            elif len(px) == 1:
                v = float(py[0])
            else:
                a, logc = np.polyfit(np.log(px), np.log(py), 1)
                v = float(np.exp(logc) * x**a)
            rows.append({"model": model, "sample": sample, "value": v})
    outside = not (xs.min() <= x <= xs.max())
    return pd.DataFrame(rows), outside


def _stats(df: pd.DataFrame) -> pd.DataFrame:
    """median, mean and s.e. of the mean of ``value`` per model (NumPy, for speed)."""
    out = {}
    for model in pd.unique(df["model"]):
        v = df["value"].to_numpy(dtype=float)[df["model"].to_numpy() == model]
        sem = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
        out[model] = {"median": np.median(v), "mean": v.mean(), "sem": sem}
    return pd.DataFrame.from_dict(out, orient="index")


def recommend(constraints: Constraints, measurements: pd.DataFrame) -> Recommendation:
    """The architecture to use under ``constraints``, from ``measurements`` (:func:`measurements`).

    Raises ``TypeError`` when ``constraints`` is not a :class:`Constraints`, ``ValueError``
    naming ``measurements`` when it lacks a column or a quantity, and naming ``device`` when
    nothing was measured on it. The order of decisions is the module docstring's.
    """
    if not isinstance(constraints, Constraints):
        raise TypeError(f"constraints must be a Constraints, got {type(constraints).__name__}")
    if not isinstance(measurements, pd.DataFrame) or set(COLUMNS) - set(measurements.columns):
        raise ValueError(f"measurements must be a DataFrame with columns {COLUMNS}")
    c, m = constraints, measurements
    on = m[m["device"] == c.device]
    if on.empty:
        devices = sorted(m["device"].unique())
        raise ValueError(f"device {c.device!r} has no measurements; measured: {devices}")
    missing = [q for q in QUANTITIES if q not in set(on["quantity"])]
    if missing:
        raise ValueError(f"measurements lack quantities {missing} on device {c.device!r}")
    token, token_out = _at(on[on.quantity == "token_ms"], c.seq_len)
    train, train_out = _at(on[on.quantity == "train_ms"], c.seq_len)
    quality = on[on.quantity == "bpc"][["model", "sample", "value"]]
    tok, trn, bpc = _stats(token), _stats(train), _stats(quality)
    models = [mo for mo in ARCH_NAMES if mo in tok.index and mo in trn.index and mo in bpc.index]
    est = pd.DataFrame({"token_ms": tok["median"], "token_sem": tok["sem"],
                        "train_ms": trn["median"], "train_sem": trn["sem"],
                        "bpc": bpc["mean"], "bpc_sem": bpc["sem"]}).loc[models]  # fmt: skip
    est["feasible"] = est["token_ms"] <= c.latency_ms
    est["extrapolated"] = token_out or train_out
    excluded = {
        mo: f"{est.loc[mo, 'token_ms']:.3g} ms per token at p = {c.seq_len} > {c.latency_ms:g} ms"
        for mo in models if not est.loc[mo, "feasible"]
    }  # fmt: skip
    drivers = [f"{ARCH_NAMES[mo]} excluded: {why}." for mo, why in excluded.items()]
    if est["extrapolated"].any():
        drivers.append(f"(Times at {c.seq_len} tokens extrapolated from the measured lengths.)")
    left = [mo for mo in models if mo not in excluded]
    if not left:
        fastest = est["token_ms"].idxmin()
        drivers.append(f"Fastest per token: {ARCH_NAMES[fastest]}, "
                       f"{est.loc[fastest, 'token_ms']:.3g} ms.")  # fmt: skip
        return Recommendation(None, None, (), drivers, excluded, est)
    order = ((train, "training time"), (quality, "quality"))
    if c.budget == "data-limited":
        order = order[::-1]
    ranked, tied, out = left, (), []  # out: models the rule put behind, best first
    for data, what in order:
        if len(ranked) == 1:
            break
        d = data[data["model"].isin(ranked)].rename(columns={"sample": "seed"})
        cmp = compare(d.assign(model=d["model"].map(ARCH_NAMES)), "model", "value")
        back = {v: k for k, v in ARCH_NAMES.items()}
        best = [back[b] for b in cmp.best]
        word = "best" if what == "quality" else "fastest"
        drivers.append(f"{what.capitalize()}: {cmp.phrase(word)}.")
        rest = [back[g] for g in cmp.table.index if back[g] not in best]
        ranked, tied, out = best, tuple(best) if len(best) > 1 else (), rest + out
    choice = ranked[0]
    runner = out[0] if out else None
    return Recommendation(choice, runner, tied, drivers, excluded, est)
