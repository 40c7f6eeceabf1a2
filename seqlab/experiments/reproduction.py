"""nanoGPT's two ``shakespeare_char`` recipes, reproduced with seqlab's GPT and training loop.

Karpathy's nanoGPT (https://github.com/karpathy/nanoGPT, README, "baby GPT" on Shakespeare)
trains a character model two ways: on a CPU, 4 layers x 4 heads x 128 wide, context 64, batch
12, 2,000 iterations, no dropout (validation loss about 1.88); on one A100, 6 layers x 6 heads x
384 wide, context 256, batch 64, dropout 0.2, 5,000 iterations (1.4697 in about 3 minutes).
Both: AdamW (beta2 0.99), learning rate 1e-3 with warm-up, cosine decay to 1e-4.

:func:`nanogpt_recipes` trains each recipe with :func:`seqlab.bench.bench_lm` (so tokens/s and
MFU are measured as in the benchmark) and adds the training compute from
:func:`seqlab.models.accounting.flops_per_token`: the two recipes differ by a factor of several
hundred in FLOPs, which is the point of showing them side by side. The corpus differs from
nanoGPT's (all 38 plays here, tiny-shakespeare there), so its numbers are a reference, not the
same measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from seqlab.bench import LMBenchConfig, bench_lm
from seqlab.bench.lm import build_model
from seqlab.experiments.results import experiment
from seqlab.models import accounting

#: nanoGPT's recipes in :class:`seqlab.bench.LMBenchConfig` fields (its names).
NANOGPT_RECIPES: dict[str, dict[str, Any]] = {
    "CPU recipe": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12,
                       max_iters=2000, bias=False, learning_rate=1e-3, eval_interval=250),
    "GPU recipe": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, batch_size=64,
                       max_iters=5000, dropout=0.2, learning_rate=1e-3, warmup_iters=100,
                       eval_interval=250),
}  # fmt: skip

#: What nanoGPT's README reports for them (validation loss on tiny-shakespeare).
NANOGPT_REPORTED: dict[str, float] = {"CPU recipe": 1.88, "GPU recipe": 1.4697}


@dataclass
class ReproductionConfig:
    """``recipes``: name -> :class:`LMBenchConfig` fields (None: :data:`NANOGPT_RECIPES`);
    ``dtype`` as the benchmark's
    (``"best"``: bf16 autocast where the hardware has it); ``time_budget_s`` caps each run's
    training time (None: the full recipe)."""

    recipes: dict[str, dict[str, Any]] | None = None
    dtype: str = "best"
    time_budget_s: float | None = None
    eval_iters: int = 10


@experiment("reproduction.nanogpt")
def nanogpt_recipes(config: ReproductionConfig, device: torch.device, progress: bool) -> dict:
    """Values: ``table``, one row per recipe: params, steps, tokens (steps x batch x context),
    flops_per_token and flops (training, attention included), train_s, tokens_per_s, mfu (None
    without a peak measurement), val_loss (1,200 fixed validation windows), reported (nanoGPT's
    README value); ``curves`` (recipe, step, train_s, val_loss); ``compute_ratio`` (largest
    over smallest training FLOPs)."""
    rows, curves = [], []
    for name, recipe in (config.recipes or NANOGPT_RECIPES).items():
        cfg = LMBenchConfig(**recipe, dtype=config.dtype, device=str(device),
                            time_budget_s=config.time_budget_s, eval_iters=config.eval_iters,
                            measure_peak=device.type == "cuda")  # fmt: skip
        result = bench_lm(cfg, out=print if progress else lambda line: None)
        ours = result["ours"]
        model = build_model(cfg, vocab_size=result["vocab_size"])
        per_token = accounting.flops_per_token(model, training=True, T=cfg.block_size)
        tokens = ours["steps"] * cfg.batch_size * cfg.block_size
        rows.append(dict(recipe=name, params=ours["params"], steps=ours["steps"], tokens=tokens,
                         flops_per_token=per_token, flops=per_token * tokens,
                         train_s=ours["train_s"], tokens_per_s=ours["tokens_per_s"],
                         mfu=ours["mfu"], val_loss=ours["val_loss"],
                         reported=NANOGPT_REPORTED.get(name)))  # fmt: skip
        curves += [dict(recipe=name, **e) for e in ours["evals"]]
    table = pd.DataFrame(rows).set_index("recipe")
    ratio = float(table["flops"].max() / table["flops"].min())
    return {"table": table, "curves": pd.DataFrame(curves), "compute_ratio": ratio}
