"""More from a fixed budget (chapter 7b): distillation and int8 dynamic quantisation of a GPT.

:func:`distillation` trains a GPT teacher once (:func:`~seqlab.experiments.transformer_lm.gpt_lm`,
cached), then, per seed, the same smaller student twice on the same batches and steps: alone
(plain cross-entropy; its run is a cached ``gpt_lm`` run, the mixture-of-experts study's dense
model) and taught (Hinton et al. 2015's loss, :func:`seqlab.train.distill.distillation_loss`,
through the training loop's ``loss_fn``). Both are evaluated on the same held-out batches by
cross-entropy only, in nats per character.

:func:`quantization` takes the trained teacher and converts its ``nn.Linear`` layers to int8 with
dynamic activation quantisation (Jacob et al. 2018's affine scheme, per tensor; PyTorch's
``torch.ao.quantization.quantize_dynamic``). It measures what one would ship: the serialised
size (``torch.save`` of the state dict, bytes), the CPU latency of a forward pass (warm-up then
the median of repeats, the float and int8 models timed in alternating rounds of one run), and
the validation loss of both on the same batches. The int8 kernels (fbgemm / x86 / qnnpack) are
CPU kernels: there is nothing to time on a GPU.

Letters: B batch, T block size (context), C width (``n_embd``).
"""

from __future__ import annotations

import copy
import io
import warnings
from dataclasses import dataclass, field, replace

import pandas as pd
import torch
import torch.nn as nn

from seqlab.bench.timing import time_fn
from seqlab.device import cpu_threads
from seqlab.experiments.char_lm import CharLMConfig, shakespeare
from seqlab.experiments.results import SavedModel, experiment
from seqlab.experiments.transformer_lm import GPTLMConfig, GPTRunConfig, gpt_lm, train_gpt_lm
from seqlab.train import distillation_loss_fn, estimate_loss

__all__ = [
    "DistillConfig",
    "QuantConfig",
    "distillation",
    "quantize_int8",
    "quantization",
    "run_row",
    "small_run",
    "serialized_bytes",
]

EVAL_SEED = 12_345  # train_gpt_lm's evaluation batches


def small_run() -> CharLMConfig:
    """A short char-LM run: context 32, 200 steps (the data and evaluation of chapter 5)."""
    return CharLMConfig(cells=("lstm",), reference="lstm", block_size=32, max_iters=200)


@dataclass
class DistillConfig:
    """A teacher (``teacher`` trained ``teacher_iters`` steps on ``run``'s data, seed
    ``seeds[0]``) and a ``student`` trained ``run.max_iters`` steps per seed, alone and taught
    with temperature ``temperature`` (tau) and soft-target weight ``alpha``."""

    teacher: GPTLMConfig = field(default_factory=lambda: GPTLMConfig(n_layer=2, n_embd=64))
    student: GPTLMConfig = field(default_factory=lambda: GPTLMConfig(n_layer=1, n_embd=32))
    run: CharLMConfig = field(default_factory=small_run)
    teacher_iters: int = 600
    temperature: float = 2.0
    alpha: float = 0.5
    seeds: tuple[int, ...] = (0, 1, 2)


def run_row(history: pd.DataFrame, model: str, seed: int) -> dict:
    """One run's summary: model, seed, n_params, steps, train_s, val_loss (nats per
    character, last evaluation)."""
    evaluated = history.dropna(subset=["val_loss"])
    return {
        "model": model,
        "seed": seed,
        "n_params": int(history["n_params"].iloc[0]),
        "steps": int(history["iter"].max()) + 1,
        "train_s": float(history["time_s"].max()),
        "val_loss": float(evaluated["val_loss"].iloc[-1]),
    }


def teacher_run(config: DistillConfig) -> GPTRunConfig:
    """The teacher's ``gpt_lm`` run."""
    run = replace(config.run, max_iters=config.teacher_iters, seed=config.seeds[0])
    return GPTRunConfig(config.teacher, run)


@experiment("budget.distillation")
def distillation(config: DistillConfig, device: torch.device, progress: bool) -> dict:
    """A student alone vs the same student taught by a trained teacher, per seed.

    Values: ``runs`` (one row per model and seed: model "student alone" | "distilled", seed,
    n_params, steps, train_s (seconds, evaluation included), val_loss (nats per character,
    cross-entropy only)); ``teacher`` (the same columns for the teacher, seed ``seeds[0]``);
    ``history`` (every student run's history, columns ``model`` and ``seed``);
    ``teacher_model`` (SavedModel).
    """
    dataset = shakespeare()
    t = gpt_lm(teacher_run(config), device=device, progress=progress)
    teacher = t["model"].load(device)
    rows, histories = [], []
    loss_fn = distillation_loss_fn(teacher, config.temperature, config.alpha)
    for seed in config.seeds:
        run = replace(config.run, seed=seed)
        alone = gpt_lm(GPTRunConfig(config.student, run), device=device, progress=progress)
        _, taught = train_gpt_lm(dataset, config.student, run, device, progress, loss_fn=loss_fn)
        for name, history in (("student alone", alone["history"]), ("distilled", taught)):
            rows.append(run_row(history, name, seed))
            histories.append(history.assign(model=name, seed=seed))
    return {
        "runs": pd.DataFrame(rows),
        "teacher": run_row(t["history"], "teacher", config.seeds[0]),
        "history": pd.concat(histories, ignore_index=True),
        "teacher_model": SavedModel.of(teacher),
    }


# ----------------------------------------------------------------------------- int8


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` replaced by a dynamically quantised int8
    one (weights int8 per tensor, activations quantised on the fly; CPU only).

    Uses ``torch.ao.quantization.quantize_dynamic``, which torch >= 2.10 marks deprecated in
    favour of torchao's ``quantize_``; torchao is not a dependency of this book, so its
    DeprecationWarning is silenced here. The input model is left unchanged (and must be on the
    CPU); a tied ``lm_head`` gets its own int8 copy, the embedding stays float.
    """
    model = copy.deepcopy(model).cpu().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def serialized_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())`` (a shared, tied tensor is stored once)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


@dataclass
class QuantConfig:
    """The trained GPT ``model`` (a distillation config's teacher), timed at each batch size
    in ``batches`` with T = its block size (``warmup`` then at least ``repeats`` calls per
    round, ``rounds`` alternating rounds, on ``threads`` CPU threads), and evaluated on
    ``eval_iters`` validation batches."""

    model: DistillConfig = field(default_factory=DistillConfig)
    batches: tuple[int, ...] = (1, 32)
    warmup: int = 3
    repeats: int = 20
    rounds: int = 3
    threads: int = 1
    eval_iters: int = 20


@experiment("budget.quantization")
def quantization(config: QuantConfig, device: torch.device, progress: bool) -> dict:
    """The teacher in float32 and in int8 (:func:`quantize_int8`), on the CPU whatever
    ``device`` is.

    Values: ``table`` (one row per model "float32" | "int8": bytes (serialised state dict),
    n_linear (``nn.Linear`` layers, float or quantised), val_loss and train_loss (nats per
    character, the same batches)); ``latency`` (one row per model, batch and round: model,
    batch, T, round, median_s, iqr_s, n); ``engine`` (torch's quantised engine), ``threads``.
    """
    t = gpt_lm(teacher_run(config.model), device=device, progress=progress)
    float_model = t["model"].load("cpu").eval()
    int8_model = quantize_int8(float_model)
    run = config.model.run
    dataset = shakespeare()
    rows = []
    for name, model in (("float32", float_model), ("int8", int8_model)):
        g = torch.Generator().manual_seed(EVAL_SEED)
        with cpu_threads(config.threads, "cpu"):
            loss = estimate_loss(
                model, dataset, run.batch_size, run.block_size, config.eval_iters, g
            )
        n_linear = sum(
            isinstance(m, nn.Linear) or type(m).__name__ == "Linear" for m in model.modules()
        )
        rows.append({"model": name, "bytes": serialized_bytes(model), "n_linear": n_linear,
                     "val_loss": loss["val"], "train_loss": loss["train"]})  # fmt: skip
    T = run.block_size
    latency = []
    with cpu_threads(config.threads, "cpu"), torch.inference_mode():
        for B in config.batches:
            x = torch.randint(0, float_model.config.vocab_size, (B, T))
            for r in range(config.rounds):  # alternate, so a change of load hits both
                for name, model in (("float32", float_model), ("int8", int8_model)):
                    timing = time_fn(
                        lambda m=model, x=x: m(x), warmup=config.warmup, repeats=config.repeats,
                        device="cpu",
                    )  # fmt: skip
                    latency.append({"model": name, "batch": B, "T": T, "round": r,
                                    "median_s": timing.median_s, "iqr_s": timing.iqr_s,
                                    "n": timing.n})  # fmt: skip
    return {
        "table": pd.DataFrame(rows),
        "latency": pd.DataFrame(latency),
        "engine": torch.backends.quantized.engine,
        "threads": config.threads,
    }
