"""The LM benchmark: train a char-level LM on Shakespeare with :mod:`seqlab.train` and measure
throughput, FLOP rate and time to a target validation loss (:func:`bench_lm`).

Optionally it alternates with another training run, :data:`WINDOW` steps each, turn by turn, so
that machine load hits both alike (a :class:`Partner`; ``benchmarks/compare_nanogpt.py`` passes
nanoGPT's CPU recipe). Each run's clock runs only during its own training steps: evaluation and
the other run's turns are excluded.

Letters: B batch, T block size (context), N parameters.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pandas as pd
import torch

from seqlab.bench.lm_config import LMBenchConfig, native_bf16
from seqlab.bench.timing import matmul_peak_flops
from seqlab.data.corpus import CharDataset, CharTokenizer, load_shakespeare
from seqlab.device import get_device, provenance
from seqlab.models.lm import build_lm, count_params
from seqlab.train import TrainConfig, resolve_dtype, stop_at_loss, train_steps

WINDOW = 10  # steps per throughput window (= the training loop's log_interval: GPU syncs there)


@dataclass
class Partner:
    """Another training run that :func:`bench_lm` alternates with, :data:`WINDOW` steps a turn.

    ``model(x, y) -> (logits, loss)`` is evaluated on the same fixed batches as ours (cut to its
    ``block_size``); each ``next(steps)`` runs one optimisation step of its own loop, for at most
    ``max_iters`` steps; ``tokens_per_step`` = its B·T; ``config`` describes it in the result.
    """

    name: str
    model: torch.nn.Module
    steps: Iterator[Any]
    max_iters: int
    tokens_per_step: int
    block_size: int
    config: dict[str, Any] = field(default_factory=dict)


class _Clock:
    """Training time of one run: wall time minus the time it spent paused."""

    def __init__(self) -> None:
        self.paused = 0.0
        self._since: float | None = None

    def now(self) -> float:
        return (self._since or time.perf_counter()) - self.paused

    def pause(self) -> None:
        self._since = time.perf_counter()

    def resume(self) -> None:
        self.paused += time.perf_counter() - self._since
        self._since = None


@dataclass
class _Run:
    """What we record about one run's training (ours or the partner's)."""

    name: str
    tokens_per_step: int
    clock: _Clock = field(default_factory=_Clock)
    starts: list[float] = field(default_factory=list)  # clock.now() as each step begins
    evals: list[dict[str, float]] = field(default_factory=list)
    end: float = 0.0  # clock.now() when the last step ended (set at each evaluation)
    eval_s: float = 0.0
    reached: dict[str, float] | None = None
    done: bool = False

    @property
    def steps(self) -> int:
        return len(self.starts)

    def train_s(self) -> float:
        return self.end - self.starts[0] if self.starts else 0.0

    def tokens_per_s(self, skip: int, upto: int | None = None) -> float:
        """Median over WINDOW-step windows of steps ``skip..upto`` (all steps if too few)."""
        upto = self.steps if upto is None else min(upto, self.steps)
        t = [*self.starts[:upto], self.starts[upto] if upto < self.steps else self.end]
        first = -(-skip // WINDOW) * WINDOW
        rates = [
            WINDOW * self.tokens_per_step / (t[i + WINDOW] - t[i])
            for i in range(first, len(t) - WINDOW, WINDOW)
        ]
        if not rates:
            return upto * self.tokens_per_step / max(t[-1] - t[0], 1e-9)
        return float(pd.Series(rates).median())


@torch.no_grad()
def _mean_loss(model: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Mean loss of ``model(x, y) -> (logits, loss)`` over fixed batches (eval mode, fp32)."""
    was_training = model.training
    model.eval()
    total = sum(float(model(x, y)[1]) for x, y in batches)
    model.train(was_training)
    return total / len(batches)


def _evaluate(run: _Run, model: torch.nn.Module, val: list, cfg: LMBenchConfig, out) -> float:
    """Evaluate ``run`` now (its clock paused); record it (and the target, when first reached)."""
    run.end = run.clock.now()  # the clock is paused: evaluation is not training time
    t0 = time.perf_counter()
    loss = _mean_loss(model, val)
    run.eval_s += time.perf_counter() - t0
    train_s = run.train_s()
    run.evals.append(dict(step=run.steps, train_s=train_s, val_loss=loss))
    out(f"  {run.name:9s} step {run.steps:5d}  val {loss:.4f}  train {train_s:7.1f} s")
    if cfg.target_loss is not None and loss <= cfg.target_loss and run.reached is None:
        run.reached = dict(step=run.steps, train_s=train_s, with_eval_s=train_s + run.eval_s,
                           tokens=run.steps * run.tokens_per_step, val_loss=loss)  # fmt: skip
    return loss


def _over_budget(run: _Run, cfg: LMBenchConfig) -> bool:
    return cfg.time_budget_s is not None and run.train_s() >= cfg.time_budget_s


def _fixed_batches(data, split: str, n: int, batch: int, block_size: int, seed: int, device):
    g = torch.Generator().manual_seed(seed)
    batches = (data.batch(split, batch, block_size, g, device) for _ in range(n))
    return [(x.contiguous(), y.contiguous()) for x, y in batches]  # nanoGPT uses .view


def _eval_sets(data, cfg: LMBenchConfig, block_size: int, device) -> dict[str, list]:
    """The fixed batches: val (every evaluation), train and final (a larger val set)."""
    n, b = cfg.eval_iters, cfg.eval_batch_size
    return dict(
        val=_fixed_batches(data, "val", n, b, block_size, cfg.seed + 1, device),
        train=_fixed_batches(data, "train", n, b, block_size, cfg.seed + 2, device),
        final=_fixed_batches(
            data, "val", cfg.final_eval_iters, b, block_size, cfg.seed + 3, device
        ),
    )


def _time_to_target(ours: dict, ref: dict | None) -> dict[str, float | None]:
    """Ours / partner training time to the target, two ways.

    ``time_to_target_ratio``: the measured training wall times (every load spike included).
    ``time_to_target_ratio_robust``: steps to target x median step time of each run while the
    two alternated (``paired_ms_per_step``), which a short burst of load on a shared machine
    does not move. If only ours reached the target, the partner's whole run stands in for its
    time (``..._upper_bound`` keys: the true ratio is smaller).
    """
    keys = ("time_to_target_ratio", "time_to_target_ratio_robust",
            "time_to_target_ratio_upper_bound", "time_to_target_ratio_robust_upper_bound")  # fmt: skip
    out: dict[str, float | None] = dict.fromkeys(keys)
    hit = ours["reached"]
    if hit is None or ref is None:
        return out
    ours_robust = hit["step"] * ours["paired_ms_per_step"]
    if ref["reached"] is not None:
        out["time_to_target_ratio"] = hit["train_s"] / ref["reached"]["train_s"]
        ref_robust = ref["reached"]["step"] * ref["paired_ms_per_step"]
        out["time_to_target_ratio_robust"] = ours_robust / ref_robust
    else:
        out["time_to_target_ratio_upper_bound"] = hit["train_s"] / ref["train_s"]
        ref_robust = ref["steps"] * ref["paired_ms_per_step"]
        out["time_to_target_ratio_robust_upper_bound"] = ours_robust / ref_robust
    return out


def _summary(run: _Run, model: torch.nn.Module, sets: dict, skip: int, peak, paired: int) -> dict:
    n = count_params(model)
    tps, paired_tps = run.tokens_per_s(skip), run.tokens_per_s(skip, paired)
    return dict(
        params=n, steps=run.steps, tokens_per_s=tps, ms_per_step=1e3 * run.tokens_per_step / tps,
        paired_tokens_per_s=paired_tps, paired_ms_per_step=1e3 * run.tokens_per_step / paired_tps,
        train_s=run.train_s(), eval_s=run.eval_s, train_loss=_mean_loss(model, sets["train"]),
        val_loss=run.evals[-1]["val_loss"] if run.evals else None,
        val_loss_final=_mean_loss(model, sets["final"]),
        model_flops_per_s=6 * n * tps, mfu=6 * n * tps / peak if peak else None,
        reached=run.reached, evals=run.evals,
    )  # fmt: skip


def build_model(cfg: LMBenchConfig, vocab_size: int) -> torch.nn.Module:
    """The model ``cfg`` describes (on the CPU; seeded by the caller)."""
    if cfg.arch == "gpt":
        bias = {} if cfg.bias is None else {"bias": cfg.bias}
        return build_lm("gpt", vocab_size, block_size=cfg.block_size, n_layer=cfg.n_layer,
                        n_head=cfg.n_head, n_embd=cfg.n_embd, dropout=cfg.dropout,
                        **bias)  # fmt: skip
    return build_lm(cfg.arch, vocab_size, n_embd=cfg.n_embd, hidden_size=cfg.n_embd,
                    n_layer=cfg.n_layer, impl=cfg.impl)  # fmt: skip


def bench_lm(
    cfg: LMBenchConfig, out: Callable[[str], None] = print, partner: Partner | None = None
) -> dict[str, Any]:
    """Train a char-level LM on Shakespeare with :func:`seqlab.train.train_steps`; measure it.

    Inputs: an :class:`LMBenchConfig`; ``out`` receives the progress lines; ``partner``: a run
    to alternate with (its turns after each :data:`WINDOW` of ours; it goes on alone after ours
    stops, until its ``max_iters``, the target or the time budget).
    Outputs: a dict (what the CLI prints as its last line): ``ours`` and ``reference`` (the
    partner's, or None), each with params, steps, tokens_per_s (median over 10-step windows
    after the first min(50, max_iters/5) steps), paired_tokens_per_s (the same over the
    ``paired_steps`` that both ran, alternating; ``speed_ratio`` is their ratio), train_s
    (training wall time, s: evaluation and the other run's turns excluded), eval_s,
    train_loss / val_loss (nats per token, fixed batches), model_flops_per_s (6·N·tokens/s),
    mfu (that over ``matmul_peak_flops``), reached (step, train_s, with_eval_s, tokens at the
    first evaluation with val_loss <= target, or None) and evals; ``speed_ratio`` and the
    ``time_to_target_ratio*`` keys (ours / partner, see :func:`_time_to_target`); the config,
    eval set, peak, load averages and :func:`seqlab.device.provenance`.
    """
    device = get_device(cfg.device)
    if cfg.dtype == "best":
        cfg = replace(cfg, dtype="bfloat16" if native_bf16(device) else "float32")
    out(f"lm benchmark on {device}: {cfg}")
    load_start = _loadavg()
    text = load_shakespeare()
    data = CharDataset(text, CharTokenizer.from_text(text), val_frac=0.1)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, data.tokenizer.vocab_size).to(device)
    target = cfg.target_loss is not None
    eval_interval = cfg.eval_interval or (100 if target else -(-cfg.max_iters // 3))
    skip = min(50, cfg.max_iters // 5)
    sets = _eval_sets(data, cfg, cfg.block_size, device)
    dtype = resolve_dtype(cfg.dtype, device)
    peak = matmul_peak_flops(device, dtype) if cfg.measure_peak else None

    ours = _Run("seqlab", cfg.batch_size * cfg.block_size)
    other = None
    if partner is not None:
        other = _Run(partner.name, partner.tokens_per_step)
        other.clock.pause()
        same = partner.block_size == cfg.block_size
        other_sets = sets if same else _eval_sets(data, cfg, partner.block_size, device)
        out(f"alternating with {partner.name}: {partner.config}")

    def partner_turn() -> None:
        """Train the partner for WINDOW steps (evaluating it when an eval_interval is crossed)."""
        last_eval = other.evals[-1]["step"] if other.evals else 0
        other.clock.resume()
        for _ in range(min(WINDOW, partner.max_iters - other.steps)):
            other.starts.append(other.clock.now())
            next(partner.steps)
        other.clock.pause()
        finished = other.steps >= partner.max_iters
        if finished or other.steps // eval_interval > last_eval // eval_interval:
            _evaluate(other, partner.model, other_sets["val"], cfg, out)
            other.done = finished or other.reached is not None or _over_budget(other, cfg)

    def get_batch(it: int) -> tuple[torch.Tensor, torch.Tensor]:
        ours.starts.append(ours.clock.now())
        return data.batch("train", cfg.batch_size, cfg.block_size, g_train, device)  # (B, T)

    def eval_fn(m: torch.nn.Module) -> float:
        ours.clock.pause()
        loss = _evaluate(ours, m, sets["val"], cfg, out)
        ours.clock.resume()
        return loss  # the history's val_loss, which stop_at_loss reads

    callbacks = [lambda state: _over_budget(ours, cfg)]
    if target:
        callbacks.append(stop_at_loss(cfg.target_loss))
    g_train = torch.Generator().manual_seed(cfg.seed)
    warmup = cfg.warmup_iters if cfg.warmup_iters is not None else min(100, cfg.max_iters // 10)
    tc = TrainConfig(max_iters=cfg.max_iters, learning_rate=cfg.learning_rate,
                     warmup_iters=warmup, weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0,
                     eval_interval=eval_interval, log_interval=WINDOW, dtype=cfg.dtype,
                     compile=cfg.compile, seed=cfg.seed, progress=False)  # fmt: skip
    for state in train_steps(model, get_batch, tc, device, eval_fn, callbacks):
        turn = (state.iter + 1) % WINDOW == 0 or state.stop_reason is not None
        if other is not None and not other.done and turn:
            ours.clock.pause()
            partner_turn()
            ours.clock.resume()
    while other is not None and not other.done:
        partner_turn()

    result: dict[str, Any] = dict(benchmark="lm", config=asdict(cfg), eval_interval=eval_interval)
    # the steps both runs made, alternating: the like-for-like part of the two runs
    paired = min(ours.steps, other.steps) if other is not None else ours.steps
    result["paired_steps"] = paired
    result["ours"] = _summary(ours, model, sets, skip, peak, paired)
    r = _summary(other, partner.model, other_sets, skip, peak, paired) if other else None
    result["reference"], result["reference_config"] = r, partner.config if partner else None
    result["speed_ratio"] = (
        result["ours"]["paired_tokens_per_s"] / r["paired_tokens_per_s"] if r else None
    )
    result.update(_time_to_target(result["ours"], r))
    result["eval_set"] = dict(split="val", eval_iters=cfg.eval_iters,
                              eval_batch_size=cfg.eval_batch_size,
                              final_eval_iters=cfg.final_eval_iters, block_size=cfg.block_size,
                              seed=cfg.seed + 1, dtype="float32")  # fmt: skip
    result["matmul_peak_flops"], result["peak_dtype"] = peak, str(dtype).replace("torch.", "")
    result["threads"] = torch.get_num_threads()
    result["loadavg_start"], result["loadavg_end"] = load_start, _loadavg()
    result["vocab_size"] = data.tokenizer.vocab_size
    result["provenance"] = provenance(device)
    return result


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None
