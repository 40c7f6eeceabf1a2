"""One speed idea at a time: seqlab's GPT variants against nanoGPT, interleaved step by step.

Produces the per-idea table of ``benchmarks/NOTES_gpt_speed.md``::

    .venv/bin/python benchmarks/gpt_speed_ideas.py --threads 1 --cpu-time --steps 150
    .venv/bin/python benchmarks/gpt_speed_ideas.py --steps 200 --only ref,best,bf16   # wall, 2 threads

All variants train the FACTS.md configuration (4 layers, 4 heads, 128 dims, context 64, batch 12,
AdamW lr 1e-3 with nanoGPT's schedule, clip 1.0) on the same data. Every step, each variant runs
one training step in turn (order reversed every other step) and its time is recorded:
``--cpu-time`` uses the CPU time of this thread (``time.thread_time``), meaningful with
``--threads 1`` and nearly immune to other processes; otherwise wall-clock time.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_nanogpt as ref  # noqa: E402

import seqlab.models.attention as attention  # noqa: E402
from seqlab.models.gpt import GPT, GPTConfig  # noqa: E402
from seqlab.train import TrainConfig, make_optimizer  # noqa: E402

B, T = ref.NanoTrain.batch_size, ref.NanoConfig.block_size

# name -> what differs from "ours like the reference" (bias=False, for-loop AdamW, row batches)
VARIANTS: dict[str, dict] = {
    "ref": {"ref": True},
    "like_ref": {},
    "bias": {"bias": True},
    "fused_adamw": {"fused": True},
    "gather_batch": {"gather": True},
    "tanh_gelu": {"tanh": True},
    "explicit_attn": {"explicit": True},
    "best": {"fused": True, "gather": True},
    "bf16_as_is": {"fused": True, "gather": True, "bf16": True, "bf16_kernel": True},
    "bf16": {"fused": True, "gather": True, "bf16": True},
}


def _plain_sdpa(q, k, v, **kw):
    return F.scaled_dot_product_attention(q, k, v, **kw)  # bf16 kernel under autocast


def make_step(opts: dict, data: np.ndarray, seed: int):
    """Build one variant; return ``step() -> loss``."""
    if opts.get("ref"):
        return ref.nanogpt_trainer(data, seed)
    torch.manual_seed(seed)
    V = int(data.max()) + 1
    model = GPT(GPTConfig(vocab_size=V, bias=opts.get("bias", False))).train()
    for block in model.blocks:
        block.ffn.act.approximate = "tanh" if opts.get("tanh") else "none"
        block.attn.fused = not opts.get("explicit", False)
    tcfg = ref.NanoTrain()
    if opts.get("fused"):
        train_config = TrainConfig(learning_rate=tcfg.learning_rate, weight_decay=tcfg.weight_decay)
        opt = make_optimizer(model, train_config)  # fused AdamW over seqlab's param_groups
    else:  # nanoGPT's optimizer on CPU: the same groups, default (for-loop) implementation
        params = list(model.parameters())
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": tcfg.weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        opt = torch.optim.AdamW(groups, lr=tcfg.learning_rate, betas=(0.9, 0.99))
    ids = torch.from_numpy(data.astype(np.int64))
    window = torch.arange(T + 1)

    def batch():
        if not opts.get("gather"):
            return ref.get_batch(data, T, B)
        xy = ids[torch.randint(len(ids) - T, (B,))[:, None] + window]  # (B, T+1)
        return xy[:, :-1], xy[:, 1:]

    sdpa = _plain_sdpa if opts.get("bf16_kernel") else attention._fused_sdpa
    state = {"it": 0, "batch": batch()}

    def step() -> float:
        attention._fused_sdpa = sdpa  # per-variant kernel choice (module-level function)
        for group in opt.param_groups:
            group["lr"] = ref.get_lr(state["it"], tcfg)
        X, Y = state["batch"]
        ctx = (
            torch.autocast("cpu", dtype=torch.bfloat16)
            if opts.get("bf16")
            else contextlib.nullcontext()
        )
        with ctx:
            _, loss = model(X, Y)
        state["batch"] = batch()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        state["it"] += 1
        return loss.item()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--only", default=",".join(VARIANTS), help="comma-separated variant names")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--cpu-time", action="store_true", help="time.thread_time instead of wall")
    ap.add_argument("--seed", type=int, default=1337)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # this benchmark process only
    names = args.only.split(",")
    data, source = ref.load_train_ids()
    clock = time.thread_time if args.cpu_time else time.perf_counter
    print(f"data: {source}; threads {torch.get_num_threads()}; clock {clock.__name__}")
    steps = {n: make_step(VARIANTS[n], data, args.seed) for n in names}
    sdpa_default = attention._fused_sdpa
    times: dict[str, list[float]] = {n: [] for n in names}
    try:
        for i in range(args.steps):
            for n in names if i % 2 == 0 else names[::-1]:
                t0 = clock()
                steps[n]()
                times[n].append(clock() - t0)
    finally:
        attention._fused_sdpa = sdpa_default
    base = statistics.median(times[names[0]][5:])
    print(f"{'variant':14s} {'ms/step':>8s} {'tok/s':>8s}  speed vs {names[0]}")
    for n in names:
        med = statistics.median(times[n][5:])
        print(f"{n:14s} {1e3 * med:8.2f} {B * T / med:8.0f}  {base / med:.3f}")


if __name__ == "__main__":
    main()
