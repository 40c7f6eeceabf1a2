"""One plain, visible training loop for every model in the book.

``train(model, get_batch, config)`` runs: batch -> forward (mixed precision where it pays) ->
backward -> clip -> AdamW step -> learning-rate schedule, and returns the history as a
``pandas.DataFrame``. The model follows the book's interface ``model(x, y) -> (out, loss)``;
``get_batch(step) -> (x, y)`` returns tensors already on the device.

Shape letters: B batch, T time. "Tokens" per step are B·T of ``x``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from safetensors import safe_open
from safetensors.torch import load_model, save_model
from tqdm.auto import tqdm

from seqlab.checks import check_choice, check_positive
from seqlab.data.corpus import CharDataset

EvalFn = Callable[[torch.nn.Module], Any]  # returns a float or a dict of floats


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the message names the step and the value."""


@dataclass
class TrainConfig:
    """Everything the loop needs (nanoGPT's names). ``min_lr=None`` means ``learning_rate / 10``;
    ``grad_clip=None`` means no clipping (the norm is still measured); ``time_budget_s`` stops
    early on wall-clock time; ``eval_interval`` calls ``eval_fn(model)`` every N steps and after
    the last one; ``dtype`` is "auto" (bfloat16 on CUDA if supported, else float16 with a
    GradScaler; float32 on CPU/MPS), "float32", "bfloat16" or "float16"; ``log_interval`` sets
    how often the bar updates and the GPU syncs.
    """

    max_iters: int = 1000
    time_budget_s: float | None = None
    learning_rate: float = 1e-3
    min_lr: float | None = None
    warmup_iters: int = 0
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float | None = 1.0
    eval_interval: int | None = None
    eval_fn: EvalFn | None = None
    dtype: str = "auto"
    compile: bool = False
    log_interval: int = 10
    seed: int | None = 0
    progress: bool = True


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: decay matrices; no decay on biases, norm weights (1-D) and embeddings."""
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    decay, no_decay, seen = [], [], set()
    for p in model.parameters():  # yields each shared (tied) parameter once
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (no_decay if p.dim() < 2 or id(p) in embeddings else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW, fused into one kernel where this torch and device support it."""
    groups = param_groups(model, config.weight_decay)
    try:
        return torch.optim.AdamW(
            groups, lr=config.learning_rate, betas=(config.beta1, config.beta2), fused=True
        )
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(
            groups, lr=config.learning_rate, betas=(config.beta1, config.beta2)
        )


def lr_lambda(config: TrainConfig) -> Callable[[int], float]:
    """Multiplier of ``lr`` at a step: linear warm-up, then cosine down to ``min_lr``."""
    min_ratio = (
        config.min_lr if config.min_lr is not None else config.learning_rate / 10
    ) / config.learning_rate
    warmup, steps = config.warmup_iters, config.max_iters

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, steps - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """The autocast dtype for ``dtype`` on ``device`` (``torch.float32`` = no autocast)."""
    check_choice(dtype, DTYPES, "dtype")
    if dtype == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return getattr(torch, dtype)


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
    """A float becomes ``val_loss``; dict keys "train"/"val" (``estimate_loss``) become
    ``train_loss``/``val_loss``; other keys are kept as they are."""
    if not isinstance(result, dict):
        return {"val_loss": float(result)}
    return {(f"{k}_loss" if k in ("train", "val") else k): float(v) for k, v in result.items()}


def train(
    model: torch.nn.Module,
    get_batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    config: TrainConfig,
    device: torch.device | str | None = None,
    eval_fn: EvalFn | None = None,
) -> pd.DataFrame:
    """Train ``model`` in place; return one history row per step.

    Inputs: ``get_batch(step) -> (x, y)`` on the device; ``model(x, y) -> (out, loss)``;
    ``eval_fn`` (overrides ``config.eval_fn``) returns a float or a dict of floats.
    Outputs: DataFrame with columns step, time_s, lr, loss, grad_norm (before clipping, from
    ``clip_grad_norm_``), clipped, tokens_per_s, and eval columns on evaluated steps.
    Stops after ``config.max_iters`` or ``config.time_budget_s``, whichever comes first; raises
    :class:`NonFiniteLossError` naming the step when the loss becomes NaN/inf. On a GPU the
    loss is read back every ``log_interval`` steps, so the loop does not wait on every step.
    """
    check_positive(config.max_iters, "max_iters")
    check_positive(config.learning_rate, "learning_rate")
    check_positive(config.log_interval, "log_interval")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    eval_fn = eval_fn or config.eval_fn
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

    rows: list[dict[str, Any]] = []
    pending: list[tuple[int, float, float, torch.Tensor, torch.Tensor, int]] = []
    bar = tqdm(total=config.max_iters, disable=not config.progress, desc="train")
    model.train()
    start = window_start = time.perf_counter()

    def flush() -> None:
        """Read the pending losses back from the device, check them, and add history rows."""
        nonlocal window_start
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        now = time.perf_counter()
        values = torch.stack([torch.stack([p[3].float(), p[4].float()]) for p in pending]).tolist()
        tokens_per_s = sum(p[5] for p in pending) / max(now - window_start, 1e-9)
        for (step, t, lr, _, _, _), (loss, norm) in zip(pending, values, strict=True):
            if not math.isfinite(loss):
                last = next((r["loss"] for r in reversed(rows)), None)
                raise NonFiniteLossError(
                    f"loss became {loss} at step {step} (lr={lr:.3g}, last finite loss={last}); "
                    "try a lower lr, grad_clip, warm-up, or fp32/bf16 instead of fp16"
                )
            rows.append(
                dict(iter=step, time_s=t, lr=lr, loss=loss, grad_norm=norm,
                     clipped=norm > max_norm, tokens_per_s=tokens_per_s)
            )  # fmt: skip
        bar.update(len(pending))
        bar.set_postfix(loss=f"{rows[-1]['loss']:.4f}", tok_s=f"{tokens_per_s:,.0f}")
        pending.clear()
        window_start = now

    try:
        for step in range(config.max_iters):
            x, y = get_batch(step)
            with autocast:
                _, loss = forward(x, y)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)  # so the norm and the clip see the true gradients
            grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            lr = scheduler.get_last_lr()[0]
            scheduler.step()

            elapsed = time.perf_counter() - start
            tokens = x.shape[0] * (x.shape[1] if x.dim() > 1 else 1)
            pending.append((step, elapsed, lr, loss.detach(), grad_norm.detach(), tokens))
            last = step == config.max_iters - 1
            out_of_time = config.time_budget_s is not None and elapsed >= config.time_budget_s
            evaluate = eval_fn is not None and (
                last
                or out_of_time
                or (config.eval_interval and (step + 1) % config.eval_interval == 0)
            )
            if last or out_of_time or evaluate or (step + 1) % config.log_interval == 0:
                flush()
            if evaluate:
                rows[-1].update(_eval_columns(eval_fn(model)))
                model.train()
                window_start = time.perf_counter()  # evaluation time is not training throughput
            if out_of_time:
                break
    finally:
        bar.close()
    return pd.DataFrame(rows)


def save_checkpoint(model: torch.nn.Module, path: str | Path, meta: dict | None = None) -> Path:
    """Write the model's weights to ``path`` (safetensors, no pickle) with ``meta`` as JSON
    in the file's header. Tied weights are stored once."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, str(path), metadata={"seqlab_meta": json.dumps(meta or {})})
    return path


def load_checkpoint(model: torch.nn.Module, path: str | Path, strict: bool = True) -> dict:
    """Load weights saved by :func:`save_checkpoint` into ``model`` (on its device); return meta."""
    device = next(model.parameters()).device
    load_model(model, str(path), strict=strict, device=str(device))
    with safe_open(str(path), framework="pt") as f:
        header = f.metadata() or {}
    return json.loads(header.get("seqlab_meta", "{}"))
