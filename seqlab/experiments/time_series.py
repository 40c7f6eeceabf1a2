"""Forecasting the yearly sunspot numbers: networks against a seasonal-naive baseline and ARIMA.

:func:`sunspot_forecasts` holds out the years from ``test_start`` on (1970-2008 by default,
39 values) and forecasts each of them **one step ahead, rolling**: the forecast for year t may
read every true value before t, never t itself or later. Everything is fitted on the years
before ``test_start`` only.

- ``naive``: y_hat_t = y_{t-1}; ``seasonal naive``: y_hat_t = y_{t-m}, m = ``season`` (11
  years, the solar cycle) (:func:`seqlab.models.seasonal_naive`).
- ``ARIMA(p, 0, q)`` with a constant (statsmodels' ``ARIMA``), the order chosen by the lowest
  AIC on the training years over p <= ``max_p``, q <= ``max_q``; its parameters stay fixed on
  the held-out years (``results.append(..., refit=False)``, then one-step predictions).
- ``LSTM``, ``GRU`` (``torch.nn``) and a small ``Transformer`` (the book's Encoder), each a
  :class:`~seqlab.models.Forecaster` that reads the last ``window`` years (scaled by the
  training mean and standard deviation) and predicts the next, trained with
  :func:`seqlab.train.train` for ``max_iters`` steps on random windows of the training years
  (mean squared error), once per seed.

Errors on the held-out years: MAE and RMSE in sunspot numbers. The deterministic models give
one value; the networks one per seed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy import stats

from seqlab.data.sunspots import load_sunspots, windows
from seqlab.device import cpu_threads
from seqlab.experiments.results import experiment
from seqlab.experiments.seeds import Comparison, compare
from seqlab.models import Forecaster, count_params, seasonal_naive
from seqlab.train import TrainConfig, train

__all__ = [
    "NEURAL",
    "SunspotConfig",
    "arima_forecasts",
    "error_comparison",
    "errors",
    "sunspot_forecasts",
]

NEURAL = {"lstm": "LSTM", "gru": "GRU", "transformer": "Transformer"}


@dataclass
class SunspotConfig:
    """The split, the baselines' season, ARIMA's search and the networks' sizes and budget.

    ``window``: years a network reads; ``hidden_size``: H of the LSTM/GRU and d_model of the
    Transformer (``num_layers`` blocks/layers, ``nhead`` heads); ``max_iters`` training steps
    of ``batch_size`` windows; ``cpu_threads``: torch threads while training on a CPU.
    """

    test_start: int = 1970
    season: int = 11
    max_p: int = 4
    max_q: int = 2
    window: int = 22
    models: tuple[str, ...] = ("lstm", "gru", "transformer")
    hidden_size: int = 32
    num_layers: int = 1
    nhead: int = 4
    batch_size: int = 32
    max_iters: int = 600
    learning_rate: float = 3e-3
    warmup_iters: int = 20
    weight_decay: float = 0.0
    seeds: tuple[int, ...] = (0, 1, 2)
    cpu_threads: int | None = 1


def errors(truth: np.ndarray, forecast: np.ndarray) -> dict[str, float]:
    """``{"MAE": mean |y - y_hat|, "RMSE": sqrt(mean (y - y_hat)^2)}`` in the series' units."""
    d = np.asarray(truth, dtype=np.float64) - np.asarray(forecast, dtype=np.float64)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError(f"truth and forecast must be equal-length 1-D arrays, got {d.shape}")
    return {"MAE": float(np.abs(d).mean()), "RMSE": float(np.sqrt((d**2).mean()))}


def arima_forecasts(y: np.ndarray, n_train: int, max_p: int, max_q: int):
    """ARIMA(p, 0, q) + constant chosen by AIC on ``y[:n_train]``; rolling one-step forecasts
    of ``y[n_train:]`` with the fitted parameters. Returns ``(forecasts, (p, q), aic_table)``
    (the table: p, q, aic for every order that fitted)."""
    from statsmodels.tsa.arima.model import ARIMA  # noqa: PLC0415 (statsmodels loads slowly)

    rows, best = [], None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of the poorer orders
        for p in range(max_p + 1):
            for q in range(max_q + 1):
                if p == q == 0:
                    continue
                fit = ARIMA(y[:n_train], order=(p, 0, q), trend="c").fit()
                rows.append({"p": p, "q": q, "aic": float(fit.aic)})
                if best is None or fit.aic < best[0].aic:
                    best = (fit, (p, q))
        fit, order = best
        extended = fit.append(y[n_train:], refit=False)
        pred = extended.predict(start=n_train, end=len(y) - 1)
    return np.asarray(pred, dtype=np.float64), order, pd.DataFrame(rows)


def _train_net(kind: str, y: np.ndarray, n_train: int, config: SunspotConfig, seed: int,
               device: torch.device, progress: bool) -> tuple[np.ndarray, int]:  # fmt: skip
    """One network, trained on the training years; its rolling forecasts of the test years."""
    mean, std = y[:n_train].mean(), y[:n_train].std()
    z = (y - mean) / std
    W = config.window
    x_tr, y_tr = (torch.tensor(a, dtype=torch.float32) for a in windows(z[:n_train], W))
    x_te, _ = windows(z, W, range(n_train, len(z)))
    torch.manual_seed(seed)
    model = Forecaster(kind, config.hidden_size, config.num_layers, config.nhead, W).to(device)
    g = torch.Generator().manual_seed(seed)

    def get_batch(step: int):
        i = torch.randint(len(x_tr), (config.batch_size,), generator=g)
        return x_tr[i].to(device), y_tr[i].to(device)

    tc = TrainConfig(
        max_iters=config.max_iters, learning_rate=config.learning_rate,
        warmup_iters=config.warmup_iters, weight_decay=config.weight_decay, seed=seed,
        progress=progress, log_interval=50,
    )  # fmt: skip
    with cpu_threads(config.cpu_threads, device):
        train(model, get_batch, tc, device=device)
        model.eval()
        with torch.no_grad():
            pred = model(torch.tensor(x_te, dtype=torch.float32, device=device))[0]
    return pred.cpu().numpy().astype(np.float64) * std + mean, count_params(model)


@experiment("data.sunspots")
def sunspot_forecasts(config: SunspotConfig, device: torch.device, progress: bool) -> dict:
    """Rolling one-step forecasts of the held-out sunspot years by every model.

    Values: ``series`` (the whole series, index year), ``test_years`` (list),
    ``forecasts`` (long table: year, model, seed, forecast; seed -1 for deterministic models),
    ``errors`` (model, seed, MAE, RMSE; sunspot numbers), ``arima_order`` (p, q),
    ``aic`` (p, q, aic of every order tried), ``params`` (model -> parameter count),
    ``n_train`` (training years).
    """
    series = load_sunspots()
    years = series.index.to_numpy()
    if not years[0] + config.window < config.test_start <= years[-1]:
        raise ValueError(f"test_start={config.test_start} must leave training years and lie in "
                         f"{years[0]} ... {years[-1]}")  # fmt: skip
    y = series.to_numpy()
    n_train = int(np.searchsorted(years, config.test_start))
    test_years = years[n_train:]
    fc = {
        ("naive", -1): seasonal_naive(y, 1, n_train),
        ("seasonal naive", -1): seasonal_naive(y, config.season, n_train),
    }
    arima, order, aic = arima_forecasts(y, n_train, config.max_p, config.max_q)
    fc[(f"ARIMA({order[0]},0,{order[1]})", -1)] = arima
    params = {}
    for kind in config.models:
        for seed in config.seeds:
            pred, params[NEURAL[kind]] = _train_net(kind, y, n_train, config, seed, device,
                                                    progress)  # fmt: skip
            fc[(NEURAL[kind], seed)] = pred
    forecasts = pd.concat(
        [pd.DataFrame({"year": test_years, "model": m, "seed": s, "forecast": f})
         for (m, s), f in fc.items()], ignore_index=True,
    )  # fmt: skip
    errs = pd.DataFrame(
        [{"model": m, "seed": s, **errors(y[n_train:], f)} for (m, s), f in fc.items()]
    )
    return {
        "series": series, "test_years": test_years.tolist(), "forecasts": forecasts,
        "errors": errs, "arima_order": order, "aic": aic, "params": params, "n_train": n_train,
    }  # fmt: skip


def error_comparison(errs: pd.DataFrame, metric: str = "MAE") -> Comparison:
    """The tie rule (:func:`seqlab.experiments.seeds.compare`, lower is better) over the models
    of an ``errors`` table. A deterministic model (seed -1) has one value and no spread: it
    stands for every seed of the networks, so a network beats it only when all its seeds do
    and Welch's test (here a one-sample t-test against that value) agrees."""
    if metric not in ("MAE", "RMSE"):
        raise ValueError(f"metric must be 'MAE' or 'RMSE', got {metric!r}")
    seeds = sorted(s for s in errs["seed"].unique() if s >= 0)
    seeds = seeds if len(seeds) >= 3 else [0, 1, 2]
    fixed = errs[errs["seed"] < 0]
    rows = [errs[errs["seed"] >= 0]] + [fixed.assign(seed=s) for s in seeds]
    return compare(pd.concat(rows, ignore_index=True), "model", metric)


def cycle_shape(series: pd.Series, half_window: int = 4) -> pd.DataFrame:
    """Rise and fall of every complete solar cycle in a yearly series (index: year).

    The rule: a year is a cycle **minimum** when its value is the lowest of the years within
    ``half_window`` on either side (the first year of a tie; only years with a full window,
    so the series' first and last ``half_window`` years are never minima); 4 years makes a
    9-year window, shorter than any cycle (9 to 14 years). A cycle runs from one minimum to the
    next; its **maximum** is its highest year (the first of a tie). Outputs: one row per
    cycle: ``start``, ``peak``, ``end`` (years), ``rise`` = peak - start, ``fall`` = end -
    peak, ``period`` (years), ``amplitude`` (the value at the peak). Yearly means put each
    extremum within a year, so rise and fall carry about +-1 year. Raises ``ValueError`` for a
    bad ``half_window`` or a series too short for two minima.
    """
    if isinstance(half_window, bool) or not isinstance(half_window, int) or half_window < 1:
        raise ValueError(f"half_window must be an int >= 1, got {half_window!r}")
    years, y = series.index.to_numpy(), series.to_numpy(dtype=np.float64)
    k = half_window
    minima = [
        i for i in range(k, len(y) - k)
        if y[i] == y[i - k : i + k + 1].min() and (y[i - k : i] > y[i]).all()
    ]  # fmt: skip
    if len(minima) < 2:
        raise ValueError(f"found {len(minima)} minima: the series is too short for a cycle")
    rows = []
    for a, b in zip(minima[:-1], minima[1:], strict=True):
        peak = a + int(np.argmax(y[a:b]))
        rows.append({"start": int(years[a]), "peak": int(years[peak]), "end": int(years[b]),
                     "rise": int(years[peak] - years[a]), "fall": int(years[b] - years[peak]),
                     "period": int(years[b] - years[a]), "amplitude": float(y[peak])})  # fmt: skip
    return pd.DataFrame(rows)


def cycle_asymmetry(cycles: pd.DataFrame) -> dict:
    """Summary of :func:`cycle_shape`'s cycles: ``n``; ``rise`` and ``fall`` medians and
    quartiles (years); ``shorter_rise``, ``equal``, ``longer_rise`` (cycles); ``sign_p``: the
    two-sided sign test (binomial, p = 1/2, ties left out) of "the rise is as often shorter as
    longer than the fall"; ``waldmeier_rho``, ``waldmeier_p``: Spearman's correlation of rise
    time with amplitude and its p-value (Waldmeier 1935: bigger cycles rise faster, rho < 0;
    NaN when either is constant).
    Raises ``ValueError`` for fewer than 3 cycles."""
    if len(cycles) < 3:
        raise ValueError(f"need >= 3 cycles to summarise, got {len(cycles)}")
    d = cycles["rise"] - cycles["fall"]
    shorter, longer = int((d < 0).sum()), int((d > 0).sum())
    varied = cycles["rise"].nunique() > 1 and cycles["amplitude"].nunique() > 1
    rho, p = stats.spearmanr(cycles["rise"], cycles["amplitude"]) if varied else (np.nan,) * 2
    out = {"n": len(cycles), "shorter_rise": shorter, "equal": int((d == 0).sum()),
           "longer_rise": longer,
           "sign_p": float(stats.binomtest(shorter, shorter + longer).pvalue)
           if shorter + longer else 1.0,
           "waldmeier_rho": float(rho), "waldmeier_p": float(p)}  # fmt: skip
    for col in ("rise", "fall"):
        q1, med, q3 = np.percentile(cycles[col], [25, 50, 75])
        out.update({col: float(med), f"{col}_q1": float(q1), f"{col}_q3": float(q3)})
    return out
