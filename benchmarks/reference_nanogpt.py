"""nanoGPT, re-implemented here for side-by-side timing against seqlab's GPT.

This is OUR re-implementation of Andrej Karpathy's nanoGPT (github.com/karpathy/nanoGPT,
MIT licence) ``model.py`` + ``train.py`` as they run with the README's CPU recipe::

    python train.py config/train_shakespeare_char.py --device=cpu --compile=False \
        --eval_iters=20 --log_interval=1 --block_size=64 --batch_size=12 \
        --n_layer=4 --n_head=4 --n_embd=128 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0

It is not a copy of their files: it is written down so that the bar in FACTS.md ("peer baseline")
can be re-measured on the same machine, in the same process, alternating with our model.

Details reproduced (what costs time on a CPU is kept exactly as nanoGPT does it):
- model: token + learned position embeddings, ``nn.Dropout`` modules everywhere nanoGPT has them
  (p = 0 here), pre-LN blocks with nanoGPT's ``LayerNorm`` (optional bias, ``F.layer_norm``),
  one fused ``c_attn`` Linear for q, k, v, ``F.scaled_dot_product_attention(is_causal=True)``,
  ``transpose(1, 2).contiguous().view`` to re-assemble heads, MLP 4x with exact ``nn.GELU``,
  final LayerNorm, ``lm_head`` tied to ``wte``; init N(0, 0.02), ``c_proj`` weights
  N(0, 0.02 / sqrt(2 n_layer)); ``bias=False`` (train.py's default; the model's own default is True);
  cross-entropy on ``logits.view(-1, V)`` with ``ignore_index=-1``.
- optimiser: ``configure_optimizers``: AdamW with decay (dim >= 2) / no-decay groups,
  weight_decay 0.1, betas (0.9, 0.99), ``fused=True`` only on CUDA (so the default for-loop
  implementation on CPU).
- schedule: linear warm-up 100 iters, cosine decay to min_lr 1e-4 at lr_decay_iters, lr 1e-3,
  set on every param group each step; grad clip 1.0 (``clip_grad_norm_``);
  ``zero_grad(set_to_none=True)``.
- data: ``get_batch`` samples ``torch.randint`` start offsets and builds x and y with a
  per-row ``torch.stack`` of ``torch.from_numpy(data[i:i+T].astype(np.int64))`` from a uint16 array
  (nanoGPT re-opens an ``np.memmap`` each call; we pass the array in), the next batch is fetched
  right after the forward pass as in train.py.
- precision: fp32, no autocast on CPU (train.py uses ``nullcontext`` on CPU; its GradScaler is
  disabled there).
- timing: the step time ``dt`` is measured like train.py's (time between consecutive iterations,
  so it includes fetching the next batch and the ``loss.item()`` logging sync).

Left out: evaluation every 250 steps (estimate_loss), checkpointing, DDP, wandb, torch.compile
(off in the recipe). Tokens/s are therefore training tokens/s; we report the median step.

API: ``nanogpt_steps(data, cfg, tcfg, seed) -> (model, steps)``, the loop as an iterator (one
``next`` = one iteration; ``compare_nanogpt.py`` alternates it with seqlab's LM benchmark);
``run(data, steps, seed) -> dict(tokens_per_s, step_times, losses)`` (``data``: uint16 train
ids); ``run_seqlab`` the same for seqlab's GPT; ``compare`` runs both alternating step by step.
Run: ``.venv/bin/python benchmarks/reference_nanogpt.py --steps 200``; interleaved with seqlab's
GPT: ``... --vs-seqlab --steps 300 --rounds 3`` (``--bf16``: ours under CPU bf16 autocast;
``--threads 1``: one thread, the comparison least disturbed by other processes).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F

# ----------------------------------------------------------------------------- model.py


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (nanoGPT)."""

    def __init__(self, ndim: int, bias: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: NanoConfig):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0, is_causal=True
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: NanoConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: NanoConfig):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


@dataclass
class NanoConfig:
    block_size: int = 64
    vocab_size: int = 65
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False  # train.py's default


class NanoGPT(nn.Module):
    def __init__(self, config: NanoConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                ln_f=LayerNorm(config.n_embd, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        b, t = idx.size()
        assert t <= self.config.block_size
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)  # (T,)
        tok_emb = self.transformer.wte(idx)  # (B, T, C)
        pos_emb = self.transformer.wpe(pos)  # (T, C)
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is not None:
            logits = self.lm_head(x)  # (B, T, V)
            loss = F.cross_entropy(
                logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1
            )
        else:
            logits = self.lm_head(x[:, [-1], :])  # (B, 1, V)
            loss = None
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
        param_dict = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
        decay_params = [p for p in param_dict.values() if p.dim() >= 2]
        nodecay_params = [p for p in param_dict.values() if p.dim() < 2]
        optim_groups = [
            {"params": decay_params, "weight_decay": weight_decay},
            {"params": nodecay_params, "weight_decay": 0.0},
        ]
        use_fused = device_type == "cuda"
        extra_args = dict(fused=True) if use_fused else dict()
        return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)


# ----------------------------------------------------------------------------- train.py


@dataclass
class NanoTrain:
    batch_size: int = 12
    learning_rate: float = 1e-3
    max_iters: int = 2000
    lr_decay_iters: int = 2000
    min_lr: float = 1e-4
    warmup_iters: int = 100
    weight_decay: float = 1e-1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0


def get_lr(it: int, t: NanoTrain) -> float:
    if it < t.warmup_iters:
        return t.learning_rate * (it + 1) / (t.warmup_iters + 1)
    if it > t.lr_decay_iters:
        return t.min_lr
    decay_ratio = (it - t.warmup_iters) / (t.lr_decay_iters - t.warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return t.min_lr + coeff * (t.learning_rate - t.min_lr)


def get_batch(data: np.ndarray, block_size: int, batch_size: int):
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([torch.from_numpy((data[i : i + block_size]).astype(np.int64)) for i in ix])
    y = torch.stack(
        [torch.from_numpy((data[i + 1 : i + 1 + block_size]).astype(np.int64)) for i in ix]
    )
    return x.to("cpu"), y.to("cpu")


def nanogpt_steps(
    data: np.ndarray,
    cfg: NanoConfig | None = None,
    tcfg: NanoTrain | None = None,
    seed: int = 1337,
) -> tuple[NanoGPT, Iterator[float]]:
    """Build nanoGPT now (seeded: the weights, then the first batch, as train.py) and return
    ``(model, steps)``: each ``next(steps)`` runs one train.py iteration and returns its loss,
    for ``tcfg.max_iters`` iterations. The one copy of the loop in this file."""
    cfg = cfg or NanoConfig(vocab_size=int(data.max()) + 1)
    tcfg = tcfg or NanoTrain()
    torch.manual_seed(seed)
    model = NanoGPT(cfg)
    optimizer = model.configure_optimizers(
        tcfg.weight_decay, tcfg.learning_rate, (tcfg.beta1, tcfg.beta2), "cpu"
    )
    model.train()
    X, Y = get_batch(data, cfg.block_size, tcfg.batch_size)

    def steps() -> Iterator[float]:
        nonlocal X, Y
        for it in range(tcfg.max_iters):
            lr = get_lr(it, tcfg)
            for param_group in optimizer.param_groups:
                param_group["lr"] = lr
            logits, loss = model(X, Y)
            X, Y = get_batch(data, cfg.block_size, tcfg.batch_size)  # the next batch, as train.py
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            yield loss.item()  # train.py's log_interval=1 does this every step

    return model, steps()


def nanogpt_trainer(
    data: np.ndarray, seed: int = 1337, vocab_size: int | None = None, max_iters: int = 2000
):
    """Build nanoGPT (CPU recipe) and return ``step() -> loss`` (one train.py iteration)."""
    cfg = NanoConfig(vocab_size=int(vocab_size or int(data.max()) + 1))
    _, steps = nanogpt_steps(data, cfg, NanoTrain(max_iters=max_iters), seed)
    return lambda: next(steps)


def seqlab_trainer(
    data: np.ndarray,
    seed: int = 1337,
    vocab_size: int | None = None,
    bf16: bool = False,
    max_iters: int = 2000,
):
    """seqlab's GPT at the same sizes and hyper-parameters, trained by ``seqlab.train.train_steps``
    (its one loop; fused AdamW over ``seqlab.train.param_groups``; the loss read every step, as
    the reference), ``bias=False`` (as the reference), batches gathered in one indexing op (as
    ``seqlab.data.CharDataset.batch``); ``bf16=True``: ``dtype="bfloat16"`` (CPU autocast).
    Returns ``step() -> loss``."""
    from seqlab.models.gpt import GPT, GPTConfig
    from seqlab.train import TrainConfig, train_steps

    torch.manual_seed(seed)
    V = int(vocab_size or int(data.max()) + 1)
    cfg = GPTConfig(vocab_size=V, block_size=64, n_layer=4, n_head=4, n_embd=128, bias=False)
    t = NanoTrain(max_iters=max_iters)
    model = GPT(cfg)
    ids = torch.from_numpy(data.astype(np.int64))
    window = torch.arange(cfg.block_size + 1)  # (T+1,)

    def batch(it: int) -> tuple[torch.Tensor, torch.Tensor]:
        starts = torch.randint(len(ids) - cfg.block_size, (t.batch_size,))  # (B,)
        xy = ids[starts[:, None] + window]  # (B, T+1)
        return xy[:, :-1], xy[:, 1:]  # (B, T), (B, T)

    config = TrainConfig(max_iters=max_iters, learning_rate=t.learning_rate, min_lr=t.min_lr,
                         warmup_iters=t.warmup_iters, weight_decay=t.weight_decay, beta1=t.beta1,
                         beta2=t.beta2, grad_clip=t.grad_clip, log_interval=1,
                         dtype="bfloat16" if bf16 else "float32", seed=seed, progress=False)  # fmt: skip
    steps = train_steps(model, batch, config, "cpu")
    return lambda: next(steps).row["loss"]


def _summary(times: list[float], losses: list[float]) -> dict:
    tokens = NanoTrain.batch_size * NanoConfig.block_size
    return dict(
        tokens_per_s=tokens / statistics.median(times[5:] or times),  # first 5 = warm-up
        step_times=times,
        losses=losses,
    )


def _timed(step, steps: int) -> dict:
    """Call ``step()`` ``steps`` times; the times between calls and the losses."""
    times, losses = [], []
    t0 = time.perf_counter()
    for _ in range(steps):
        losses.append(step())
        t1 = time.perf_counter()
        times.append(t1 - t0)  # like train.py's dt: iteration to iteration
        t0 = t1
    return _summary(times, losses)


def run(
    data: np.ndarray, steps: int = 200, seed: int = 1337, vocab_size: int | None = None
) -> dict:
    """Train nanoGPT (CPU recipe) for ``steps`` iterations.

    Inputs: ``data`` uint16 token ids (the train split), ``steps``, ``seed``.
    Outputs: dict(tokens_per_s (from the median step, first 5 left out), step_times (s),
    losses (per step)).
    """
    return _timed(nanogpt_trainer(data, seed, vocab_size, max(steps, 2000)), steps)


def run_seqlab(
    data: np.ndarray, steps: int = 200, seed: int = 1337, vocab_size: int | None = None
) -> dict:
    """As ``run``, for seqlab's GPT (``seqlab_trainer``)."""
    return _timed(seqlab_trainer(data, seed, vocab_size, max_iters=max(steps, 2000)), steps)


def compare(
    data: np.ndarray,
    steps: int = 300,
    seed: int = 1337,
    vocab_size: int | None = None,
    bf16: bool = False,
) -> dict:
    """Both models in one process, alternating step by step (A B B A A B ...), so both see
    the same machine load: the fairest comparison on a shared, noisy machine.

    Outputs: dict(ref=..., ours=... (each as ``run``), ratio = median over steps of
    ref_time / ours_time of adjacent steps, speedup = ours tokens/s / ref tokens/s).
    """
    trainers = {
        "ref": nanogpt_trainer(data, seed, vocab_size, max(steps, 2000)),
        "ours": seqlab_trainer(data, seed, vocab_size, bf16=bf16, max_iters=max(steps, 2000)),
    }
    times: dict[str, list[float]] = {"ref": [], "ours": []}
    losses: dict[str, list[float]] = {"ref": [], "ours": []}
    for i in range(steps):
        for name in ("ref", "ours") if i % 2 == 0 else ("ours", "ref"):
            t0 = time.perf_counter()
            losses[name].append(trainers[name]())
            times[name].append(time.perf_counter() - t0)
    out = {name: _summary(times[name], losses[name]) for name in times}
    pairs = [r / o for r, o in zip(times["ref"][5:], times["ours"][5:], strict=True)]
    out["ratio"] = statistics.median(pairs) if pairs else float("nan")
    out["speedup"] = out["ours"]["tokens_per_s"] / out["ref"]["tokens_per_s"]
    return out


def load_train_ids() -> tuple[np.ndarray, str]:
    """Shakespeare char ids (first 90 %) from seqlab.data if available, else random ids (V=65)."""
    try:
        from seqlab.data import CharTokenizer, load_shakespeare

        text = load_shakespeare()
        tok = CharTokenizer.from_text(text)
        ids = np.asarray(tok.encode(text), dtype=np.uint16)
        return ids[: int(0.9 * len(ids))], f"shakespeare (V={tok.vocab_size})"
    except ImportError:
        rng = np.random.default_rng(0)
        return rng.integers(0, 65, size=1_000_000, dtype=np.uint16), "random ids (V=65)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--vs-seqlab", action="store_true", help="interleave with seqlab's GPT")
    ap.add_argument("--bf16", action="store_true", help="seqlab's GPT under CPU bf16 autocast")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # this benchmark process only
    data, source = load_train_ids()
    print(
        f"data: {source}, {len(data):,} ids; torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    if not args.vs_seqlab:
        for r in range(args.rounds):
            out = run(data, steps=args.steps, seed=args.seed + r)
            print(
                f"round {r} nanoGPT {out['tokens_per_s']:8.0f} tok/s  median step "
                f"{1e3 * statistics.median(out['step_times'][5:]):.1f} ms  "
                f"loss {out['losses'][0]:.3f} -> {out['losses'][-1]:.3f}"
            )
        return
    speedups, ratios = [], []
    for r in range(args.rounds):
        out = compare(data, steps=args.steps, seed=args.seed + r, bf16=args.bf16)
        speedups.append(out["speedup"])
        ratios.append(out["ratio"])
        print(
            f"round {r}: nanoGPT {out['ref']['tokens_per_s']:7.0f} tok/s, seqlab "
            f"{out['ours']['tokens_per_s']:7.0f} tok/s; speed-up {out['speedup']:.3f}x "
            f"(median paired step ratio {out['ratio']:.3f}); final loss "
            f"{out['ref']['losses'][-1]:.3f} vs {out['ours']['losses'][-1]:.3f}",
            flush=True,
        )
    print(
        f"median over {args.rounds} rounds: speed-up {statistics.median(speedups):.3f}x, "
        f"paired ratio {statistics.median(ratios):.3f}"
    )


if __name__ == "__main__":
    main()
