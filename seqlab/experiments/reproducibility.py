"""Reproducibility, measured: what changes a training run's numbers and what does not.

:func:`reproducibility` ("appendix.reproducibility") trains the same small char-level GPT on
the Shakespeare batches several times, changing one thing per run against a reference run
(seed 0, one CPU thread, float32):

- the same seed again (is a CPU run bit-for-bit repeatable?);
- more CPU threads (``torch.set_num_threads``: the order of floating-point sums may change);
- ``torch.use_deterministic_algorithms(True)`` (what does the switch change on a CPU?);
- bfloat16 autocast (fewer mantissa bits in the matrix products);
- other seeds (other initial weights and batches: the spread a comparison must beat);
- on a GPU, the same seed on that device, twice.

Each run returns its training loss per step and its final weights; the summary compares each
with the reference: bit-identical or not, the largest loss difference over the steps, the
largest weight difference. Source of the switches: the PyTorch reproducibility notes
(https://docs.pytorch.org/docs/stable/notes/randomness.html).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from tqdm.auto import tqdm

from seqlab.device import cpu_threads
from seqlab.experiments.char_lm import shakespeare
from seqlab.experiments.results import experiment
from seqlab.models import GPT, GPTConfig
from seqlab.train import TrainConfig, train

__all__ = ["ReproducibilityConfig", "RunSpec", "reproducibility", "run_specs"]


@dataclass
class ReproducibilityConfig:
    """The GPT and budget every run shares, and what the runs vary."""

    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 32
    block_size: int = 32
    batch_size: int = 8
    max_iters: int = 100
    learning_rate: float = 3e-3
    seeds: tuple[int, ...] = (0, 1, 2)  # the first is the reference's
    threads: tuple[int, ...] = (1, 2)  # the first is the reference's


@dataclass(frozen=True)
class RunSpec:
    """One run: its name in the tables and what it sets."""

    name: str
    seed: int
    threads: int
    dtype: str = "float32"
    deterministic: bool = False
    device: str = "cpu"


def run_specs(config: ReproducibilityConfig, device: torch.device) -> list[RunSpec]:
    """The runs, the reference first. Raises ``ValueError`` without a seed or a thread count."""
    if not config.seeds or not config.threads:
        raise ValueError(
            f"seeds and threads must be non-empty, got {config.seeds}, {config.threads}"
        )
    seed, threads = config.seeds[0], config.threads[0]
    one = "thread" if threads == 1 else "threads"
    specs = [
        RunSpec(f"reference (seed {seed}, {threads} {one}, float32)", seed, threads),
        RunSpec("the same again", seed, threads),
        *(RunSpec(f"{n} CPU threads", seed, n) for n in config.threads[1:]),
        RunSpec("use_deterministic_algorithms(True)", seed, threads, deterministic=True),
        RunSpec("bfloat16 autocast", seed, threads, dtype="bfloat16"),
        *(RunSpec(f"seed {s}", s, threads) for s in config.seeds[1:]),
    ]
    if device.type != "cpu":
        specs += [RunSpec(f"on {device.type}", seed, threads, device=str(device)),
                  RunSpec(f"on {device.type}, again", seed, threads, device=str(device))]  # fmt: skip
    return specs


def _train_one(config: ReproducibilityConfig, spec: RunSpec) -> tuple[pd.Series, torch.Tensor]:
    """Train one GPT as ``spec`` says; return (loss per step, all weights as one CPU vector)."""
    data = shakespeare()
    device = torch.device(spec.device)
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(spec.deterministic)
    try:
        with cpu_threads(spec.threads, device):
            torch.manual_seed(spec.seed)  # initial weights
            gpt = GPTConfig(vocab_size=data.tokenizer.vocab_size, block_size=config.block_size,
                            n_layer=config.n_layer, n_head=config.n_head, n_embd=config.n_embd)  # fmt: skip
            model = GPT(gpt).to(device)
            g = torch.Generator().manual_seed(spec.seed)  # which windows make the batches

            def get_batch(step: int):
                return data.batch("train", config.batch_size, config.block_size, g, device)

            tc = TrainConfig(max_iters=config.max_iters, learning_rate=config.learning_rate,
                             dtype=spec.dtype, seed=spec.seed, progress=False)  # fmt: skip
            history = train(model, get_batch, tc)
    finally:
        torch.use_deterministic_algorithms(before)
    weights = torch.cat([p.detach().float().cpu().flatten() for p in model.parameters()])
    return history.set_index("iter")["loss"], weights


@experiment("appendix.reproducibility")
def reproducibility(config: ReproducibilityConfig, device: torch.device, progress: bool) -> dict:
    """Train the runs of :func:`run_specs`; compare each with the reference.

    Outputs: ``losses`` (DataFrame, index iter, one column of training loss in nats per
    character per run) and ``summary`` (one row per run: ``run``, ``identical`` (every loss
    and every weight bit-for-bit equal to the reference's), ``max_loss_diff`` (largest
    |loss - reference loss| over the steps), ``max_weight_diff`` (largest |weight - reference
    weight| after training), ``final_loss`` (mean training loss of the last 10 steps)).
    """
    specs = run_specs(config, device)
    losses, weights = {}, {}
    for spec in tqdm(specs, desc="runs", disable=not progress):
        losses[spec.name], weights[spec.name] = _train_one(config, spec)
    ref = specs[0].name
    rows = []
    for spec in specs:
        loss, w = losses[spec.name], weights[spec.name]
        rows.append({
            "run": spec.name,
            "identical": bool(torch.equal(w, weights[ref]) and loss.equals(losses[ref])),
            "max_loss_diff": float((loss - losses[ref]).abs().max()),
            "max_weight_diff": float((w - weights[ref]).abs().max()),
            "final_loss": float(loss.iloc[-10:].mean()),
        })  # fmt: skip
    return {"losses": pd.DataFrame(losses), "summary": pd.DataFrame(rows)}
