"""The training loop: :func:`train` and the same loop as a generator, :func:`train_steps`.

Per step: batch -> forward (mixed precision where it pays) -> NaN guard -> backward -> clip ->
AdamW or SGD step -> learning-rate schedule. The model follows the book's interface
``model(x, y) -> (out, loss)``; ``get_batch(iter) -> (x, y)`` returns tensors already on the
device. ``eval_fn(model)`` runs every ``eval_interval`` steps; callbacks see a
:class:`TrainState` after every read-back of the loss and stop training by returning True.

Shape letters: B batch, T time. "Tokens" per step are B·T of ``x``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from seqlab.checks import check_positive
from seqlab.data.corpus import CharDataset
from seqlab.train.config import TrainConfig, lr_lambda, make_optimizer, resolve_dtype

EvalFn = Callable[[torch.nn.Module], Any]  # returns a float or a dict of floats
LossFn = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]  # (model, x, y)


class NonFiniteLossError(FloatingPointError):
    """The loss or the gradient norm became NaN/inf (``on_nan="raise"``).

    Attributes: ``iter`` (the step it appeared on) and ``history`` (the DataFrame up to and
    including that step)."""

    def __init__(self, message: str, iter: int, history: pd.DataFrame):
        super().__init__(message)
        self.iter, self.history = iter, history


@dataclass
class TrainState:
    """What the loop hands to callbacks and yields from :func:`train_steps`.

    ``iter``: the step just taken (after a NaN/inf: the step it appeared on); ``time_s``:
    seconds since the loop started; ``rows``: the history rows read back so far (on a GPU up to
    ``log_interval - 1`` steps behind ``iter``); ``stop_reason``: None while training, then
    "max_iters", "time_budget", "callback" or "non_finite".
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    config: TrainConfig
    iter: int = -1
    time_s: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None

    @property
    def row(self) -> dict[str, Any] | None:
        """The newest history row (with eval columns if that step was evaluated), or None."""
        return self.rows[-1] if self.rows else None

    def history(self) -> pd.DataFrame:
        """The rows as a DataFrame (see :func:`train` for the columns)."""
        return pd.DataFrame(self.rows)


Callback = Callable[[TrainState], "bool | None"]


def stop_at_loss(target: float, column: str = "val_loss") -> Callback:
    """A callback that stops training once ``state.row[column] <= target`` (e.g. a validation
    loss in nats per token from ``eval_fn``; rows without the column never stop it)."""
    if isinstance(target, bool) or not isinstance(target, (int, float)) or math.isnan(target):
        raise ValueError(f"target must be a number, got {target!r}")

    def callback(state: TrainState) -> bool:
        value = (state.row or {}).get(column)
        return value is not None and math.isfinite(value) and value <= target

    return callback


@torch.no_grad()
def estimate_loss(
    model: torch.nn.Module,
    dataset: CharDataset,
    batch_size: int,
    block_size: int,
    eval_iters: int,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Mean loss over ``eval_iters`` random batches of each split, in eval mode, no gradients
    (nanoGPT's ``estimate_loss``).

    Inputs: a model with ``model(x, y) -> (logits, loss)``; batches (B=``batch_size``,
    T=``block_size``) go to the model's device; ``generator`` fixes which windows are drawn.
    Outputs: ``{"train": mean loss, "val": mean loss}`` in nats per token. The model's
    train/eval mode is restored. Raises ``ValueError`` if ``eval_iters`` is not positive.
    """
    check_positive(eval_iters, "eval_iters")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        losses = {}
        for split in ("train", "val"):
            total = torch.zeros((), device=device)
            for _ in range(eval_iters):
                x, y = dataset.batch(split, batch_size, block_size, generator, device)
                total += model(x, y)[1].float()
            losses[split] = (total / eval_iters).item()
    finally:
        model.train(was_training)
    return losses


def _eval_columns(result: float | dict[str, float]) -> dict[str, float]:
    """A float becomes ``val_loss``; dict keys "train"/"val" (:func:`estimate_loss`) become
    ``train_loss``/``val_loss``; other keys are kept as they are."""
    if not isinstance(result, dict):
        return {"val_loss": float(result)}
    return {(f"{k}_loss" if k in ("train", "val") else k): float(v) for k, v in result.items()}


def reads_loss_every_step(device: torch.device) -> bool:
    """True on a CPU, where reading the loss each step costs nothing; on a GPU or MPS the loop
    reads it back every ``log_interval`` steps instead, so the CPU never waits for the device."""
    return device.type == "cpu"


def train_steps(
    model: torch.nn.Module,
    get_batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    config: TrainConfig,
    device: torch.device | str | None = None,
    eval_fn: EvalFn | None = None,
    callbacks: Sequence[Callback] = (),
    loss_fn: LossFn | None = None,
) -> Iterator[TrainState]:
    """The training loop as a generator: train ``model`` in place, yield the (same, updated)
    :class:`TrainState` after every step; the last one yielded has ``stop_reason`` set.

    Inputs: as :func:`train`. Raises :class:`NonFiniteLossError` (``on_nan="raise"``).

    NaN guard: on a CPU the loss (and the gradient norm) is read every step, so a NaN/inf is
    caught on the step it appears and no optimizer step is taken with it: the weights stay
    finite. On a GPU reading it every step would make the CPU wait for the GPU, so values are
    read back every ``log_interval`` steps: the loop stops at the first read-back that shows a
    NaN (no step after it), but the steps between the NaN and that read-back have already
    updated the weights. With float16 the GradScaler skips steps with inf gradients itself.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    if config.seed is not None:
        torch.manual_seed(config.seed)  # dropout and anything else random inside the model
    dtype = resolve_dtype(config.dtype, device)
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    optimizer = make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config))
    forward = torch.compile(model) if config.compile else model
    params = [p for g in optimizer.param_groups for p in g["params"]]
    max_norm = config.grad_clip if config.grad_clip is not None else math.inf
    check_every_step = reads_loss_every_step(device)
    state = TrainState(model, optimizer, config)
    pending: list[tuple[int, float, float, torch.Tensor, torch.Tensor, int]] = []
    bar = tqdm(total=config.max_iters, disable=not config.progress, desc="train")
    model.train()
    start = window_start = time.perf_counter()

    def read_back() -> int | None:
        """Move pending values into history rows; return the iter of the first non-finite
        loss or gradient norm (rows after it are dropped), else None."""
        nonlocal window_start
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        now = time.perf_counter()
        values = torch.stack([torch.stack([p[3].float(), p[4].float()]) for p in pending]).tolist()
        tokens_per_s = sum(p[5] for p in pending) / max(now - window_start, 1e-9)
        bad = None
        for (it, t, lr, _, _, _), (loss, norm) in zip(pending, values, strict=True):
            state.rows.append(
                dict(iter=it, time_s=t, lr=lr, loss=loss, grad_norm=norm,
                     clipped=norm > max_norm, tokens_per_s=tokens_per_s)
            )  # fmt: skip
            if not math.isfinite(loss) or (not scaler.is_enabled() and not math.isfinite(norm)):
                bad = it
                break
        bar.update(len(pending))
        bar.set_postfix(loss=f"{state.rows[-1]['loss']:.4f}", tok_s=f"{tokens_per_s:,.0f}")
        pending.clear()
        window_start = now
        return bad

    def non_finite(it: int) -> None:
        """Stop (``state.stop_reason``) or raise for the NaN/inf found at step ``it``."""
        state.stop_reason, state.iter = "non_finite", it
        if config.on_nan == "stop":
            return
        row = state.rows[-1]
        last = next((r["loss"] for r in reversed(state.rows[:-1])), None)
        what = "loss" if not math.isfinite(row["loss"]) else "gradient norm"
        value = row["loss"] if what == "loss" else row["grad_norm"]
        raise NonFiniteLossError(
            f"{what} became {value} at iter {it} (lr={row['lr']:.3g}, last finite loss={last}); "
            "try a lower learning_rate, grad_clip, warm-up, or bfloat16 instead of float16",
            it,
            state.history(),
        )

    try:
        for it in range(config.max_iters):
            state.iter = it
            lr = scheduler.get_last_lr()[0]
            x, y = get_batch(it)
            with autocast:
                loss = forward(x, y)[1] if loss_fn is None else loss_fn(forward, x, y)
            tokens = x.shape[0] * (x.shape[1] if x.dim() > 1 else 1)
            finite = not check_every_step or math.isfinite(loss.item())
            grad_norm = torch.tensor(math.nan)
            if finite:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)  # so the norm and the clip see the true gradients
                grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)  # before clipping
                unscaled = not check_every_step or scaler.is_enabled()  # fp16: the scaler skips
                finite = unscaled or math.isfinite(grad_norm.item())
            if not finite:  # caught on its own step: no optimizer step with it
                t = time.perf_counter() - start
                pending.append((it, t, lr, loss.detach(), grad_norm.detach(), tokens))
                non_finite(read_back())
                yield state
                return
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()

            state.time_s = time.perf_counter() - start
            pending.append((it, state.time_s, lr, loss.detach(), grad_norm.detach(), tokens))
            last = it == config.max_iters - 1
            out_of_time = config.time_budget_s is not None and state.time_s >= config.time_budget_s
            interval = config.eval_interval
            evaluate = eval_fn is not None and (
                last or out_of_time or (interval is not None and (it + 1) % interval == 0)
            )
            if last or out_of_time or evaluate or (it + 1) % config.log_interval == 0:
                bad = read_back()
                if bad is not None:
                    non_finite(bad)
                    yield state
                    return
                if evaluate:
                    state.rows[-1].update(_eval_columns(eval_fn(model)))
                    model.train()
                    window_start = time.perf_counter()  # evaluation is not training throughput
                if any([bool(cb(state)) for cb in callbacks]):  # every callback sees every row
                    state.stop_reason = "callback"
            if state.stop_reason is None and (out_of_time or last):
                state.stop_reason = "time_budget" if out_of_time else "max_iters"
            yield state
            if state.stop_reason is not None:
                return
    finally:
        bar.close()


def train(
    model: torch.nn.Module,
    get_batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    config: TrainConfig,
    device: torch.device | str | None = None,
    eval_fn: EvalFn | None = None,
    callbacks: Sequence[Callback] = (),
    loss_fn: LossFn | None = None,
) -> pd.DataFrame:
    """Train ``model`` in place; return one history row per step.

    Inputs: ``get_batch(iter) -> (x, y)`` on the device; ``model(x, y) -> (out, loss)``, loss a
    scalar; ``device`` (default: the model's); ``eval_fn(model)`` returns a float (stored as
    ``val_loss``) or a dict of floats ("train"/"val" become ``train_loss``/``val_loss``);
    ``callbacks``: functions of a :class:`TrainState`, called after every read-back (every
    ``log_interval`` steps, at evaluations, at the end); any returning True stops training
    (e.g. :func:`stop_at_loss`); ``loss_fn(model, x, y) -> scalar`` (default: the loss the
    model returns, ``model(x, y)[1]``) replaces the training loss, e.g. distillation's
    (:func:`seqlab.train.distill.distillation_loss_fn`); ``eval_fn`` is not affected.
    Outputs: DataFrame with columns iter, time_s (seconds since the start, evaluation
    included), lr, loss (nats per token of that step's batch), grad_norm (before clipping),
    clipped, tokens_per_s (over the read-back window), and the eval columns on evaluated steps.
    Stops after ``max_iters`` steps, ``time_budget_s`` seconds or a callback's True; on a
    NaN/inf see ``TrainConfig.on_nan`` and :func:`train_steps`.
    """
    *_, state = train_steps(
        model, get_batch, config, device, eval_fn, callbacks, loss_fn
    )  # run to the end
    return state.history()
