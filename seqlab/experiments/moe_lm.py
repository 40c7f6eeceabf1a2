"""A mixture-of-experts GPT against dense GPTs on Shakespeare (chapter 7b).

:func:`moe_lm` trains, per seed and on the same batches and steps:

- "dense": the base GPT (its run is a cached :func:`~seqlab.experiments.transformer_lm.gpt_lm`
  run, the distillation study's student alone);
- "MoE": the same GPT with ``n_expert`` experts per block, ``top_k`` per token, each of width
  4C / k (``GPTConfig.n_expert``), so that a token's feed-forward compute equals the dense
  model's: equal *active* compute, more *total* parameters; trained with the load-balancing
  loss (``aux_loss_coef``, Fedus et al. 2022);
- "MoE, no balancing": the same without the balancing loss;
- "wide dense": a dense GPT whose width gives the parameter count closest to the MoE's
  total (more compute per token).

and measures, on the same held-out batches, the validation loss (cross-entropy only, nats per
character) and, for the MoE models, the fraction of routing choices each expert receives.

Letters: C width (``n_embd``), N experts, k experts per token.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd
import torch

from seqlab.experiments.budget import EVAL_SEED, run_row, small_run
from seqlab.experiments.char_lm import CharLMConfig, shakespeare
from seqlab.experiments.results import SavedModel, experiment
from seqlab.experiments.transformer_lm import (
    GPTLMConfig,
    GPTRunConfig,
    gpt_config,
    gpt_lm,
    train_gpt_lm,
)
from seqlab.models import GPT, GPTConfig, count_params
from seqlab.models.moe import MoEFeedForward

__all__ = ["MoEConfig", "active_params", "dense_width_for", "expert_load", "moe_lm"]


@dataclass
class MoEConfig:
    """The dense base ``gpt`` on ``run``'s data and budget; its mixture-of-experts version has
    ``n_expert`` experts, ``top_k`` per token and balancing weight ``aux_loss_coef``;
    ``load_batches`` validation batches measure the experts' load."""

    gpt: GPTLMConfig = field(default_factory=lambda: GPTLMConfig(n_layer=1, n_embd=32))
    run: CharLMConfig = field(default_factory=small_run)
    n_expert: int = 4
    top_k: int = 2
    aux_loss_coef: float = 0.01
    load_batches: int = 8
    seeds: tuple[int, ...] = (0, 1, 2)


def active_params(model: GPT) -> int:
    """Parameters a token uses: all of them but, in each mixture-of-experts layer, the
    N - k experts it is not routed to (the router counts: every token uses it)."""
    total = count_params(model)
    for block in model.blocks:
        ffn = block.ffn
        if isinstance(ffn, MoEFeedForward):
            per_expert = count_params(ffn.experts[0])
            total -= (ffn.n_expert - ffn.top_k) * per_expert
    return total


def dense_width_for(target: int, base: GPTConfig) -> int:
    """The ``n_embd`` (a multiple of ``n_head``) whose dense GPT, otherwise ``base``, has the
    parameter count closest to ``target``."""
    h = base.n_head
    widths = range(h, 4 * base.n_embd + 1, h)
    counts = {w: count_params(GPT(replace(base, n_embd=w, n_expert=0))) for w in widths}
    return min(counts, key=lambda w: abs(counts[w] - target))


@torch.no_grad()
def expert_load(model: GPT, run: CharLMConfig, n_batches: int) -> pd.DataFrame:
    """Fraction of routing choices per expert and layer over ``n_batches`` validation batches
    (eval mode): columns layer, expert, fraction (sums to 1 per layer)."""
    dataset = shakespeare()
    g = torch.Generator().manual_seed(EVAL_SEED)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums = {}
    try:
        for _ in range(n_batches):
            x, _ = dataset.batch("val", run.batch_size, run.block_size, g, device)
            model(x)
            for layer, block in enumerate(model.blocks):
                sums[layer] = sums.get(layer, 0) + block.ffn.load.cpu()
    finally:
        model.train(was_training)
    return pd.DataFrame(
        [
            {"layer": layer, "expert": i, "fraction": float(f / n_batches)}
            for layer, load in sums.items()
            for i, f in enumerate(load)
        ]
    )


@experiment("budget.moe")
def moe_lm(config: MoEConfig, device: torch.device, progress: bool) -> dict:
    """Dense vs mixture-of-experts GPTs over seeds (module docstring).

    Values: ``runs`` (one row per model and seed: model, seed, n_params (total), active_params
    (per token), steps, train_s (seconds, evaluation included), val_loss (nats per character,
    cross-entropy only)); ``load`` (model, seed, layer, expert, fraction: the share of routing
    choices each expert got on validation batches); ``history`` (every run, columns ``model``
    and ``seed``); ``dense_width`` (n_embd of "wide dense"); ``models`` (SavedModel of
    the first seed's MoE models).
    """
    dataset = shakespeare()
    V = dataset.tokenizer.vocab_size
    base = gpt_config(config.gpt, config.run, V)
    moe = replace(base, n_expert=config.n_expert, top_k=config.top_k,
                  aux_loss_coef=config.aux_loss_coef)  # fmt: skip
    variants = {"MoE": moe, "MoE, no balancing": replace(moe, aux_loss_coef=0.0)}
    width = dense_width_for(count_params(GPT(moe)), base)
    big = replace(config.gpt, n_embd=width)
    rows, loads, histories, models = [], [], [], {}
    for seed in config.seeds:
        run = replace(config.run, seed=seed)
        trained = {}
        for name, gpt in (("dense", config.gpt), ("wide dense", big)):
            r = gpt_lm(GPTRunConfig(gpt, run), device=device, progress=progress)
            trained[name] = (r["model"].load(device), r["history"])
        for name, model_config in variants.items():
            trained[name] = train_gpt_lm(
                dataset, config.gpt, run, device, progress, model_config=model_config
            )
        for name, (model, history) in trained.items():
            rows.append({**run_row(history, name, seed), "active_params": active_params(model)})
            histories.append(history.assign(model=name, seed=seed))
            if name in variants:
                load = expert_load(model, config.run, config.load_batches)
                loads.append(load.assign(model=name, seed=seed))
                if seed == config.seeds[0]:
                    models[name] = SavedModel.of(model)
    return {
        "runs": pd.DataFrame(rows),
        "load": pd.concat(loads, ignore_index=True),
        "history": pd.concat(histories, ignore_index=True),
        "dense_width": width,
        "models": models,
    }
