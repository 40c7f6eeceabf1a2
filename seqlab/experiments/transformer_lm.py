"""A GPT-style char model against the LSTM on Shakespeare (chapter 5).

:func:`gpt_vs_lstm` trains a :class:`~seqlab.models.GPT` and an LSTM
:class:`~seqlab.models.RecurrentLM` once per seed on the same batches (chapters 1-3's corpus and
split, :func:`~seqlab.experiments.char_lm.shakespeare`), evaluated on the same held-out batches.
The LSTM's hidden size is chosen so that its parameter count matches the GPT's
(:func:`matched_lstm`, :func:`seqlab.models.accounting.count_params`); its runs are
:func:`~seqlab.experiments.char_lm.char_lm` runs, so an LSTM that chapter 2 already trained with
the same config comes from the cache. Two budgets, one function: a number of steps (the
headline; learning rate warm-up then cosine decay) or, with ``lstm.time_budget_s`` set, the same
wall-clock seconds for both (constant rate after warm-up, as in ``char_lm``: a cosine needs the
number of steps in advance), and the table records the steps each model got.

:func:`gpt_heads` gives the attention maps of every layer and head of a trained GPT on a text
(the chapter's layer x head x text heatmap), computed once per text so that a slider only picks.

Letters: B batch, T block size (context), V vocabulary, C width (``n_embd``), L layers, nh heads.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from seqlab.data.corpus import CharDataset
from seqlab.experiments.char_lm import CharLMConfig, char_lm, shakespeare, train_on_chars
from seqlab.experiments.param_budget import hidden_for_budget, lm_param_count
from seqlab.experiments.results import SavedModel, experiment
from seqlab.experiments.seeds import compare
from seqlab.metrics import bpc
from seqlab.models import GPT, GPTConfig, count_params
from seqlab.train import LossFn, TrainConfig

__all__ = [
    "GPTLMConfig",
    "GPTRunConfig",
    "GPTvsLSTMConfig",
    "gpt_config",
    "gpt_heads",
    "gpt_lm",
    "gpt_vs_lstm",
    "head_entropy",
    "head_table",
    "matched_lstm",
    "train_gpt_lm",
]


@dataclass
class GPTLMConfig:
    """The GPT and its optimiser (nanoGPT's names). The data, budget and evaluation are the
    LSTM's (:class:`~seqlab.experiments.char_lm.CharLMConfig`), so both see the same batches.

    ``min_lr``: the cosine's end (None: ``learning_rate / 10``, nanoGPT's ``min_lr``); under a
    wall-time budget the rate is constant after warm-up whatever this says.
    """

    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 60
    bias: bool = False
    dropout: float = 0.0
    learning_rate: float = 1e-3
    warmup_iters: int = 20
    min_lr: float | None = None
    weight_decay: float = 0.1


def gpt_config(gpt: GPTLMConfig, run: CharLMConfig, vocab_size: int) -> GPTConfig:
    """The model config: ``gpt``'s sizes, the context ``run.block_size``."""
    return GPTConfig(
        vocab_size=vocab_size, block_size=run.block_size, n_layer=gpt.n_layer,
        n_head=gpt.n_head, n_embd=gpt.n_embd, dropout=gpt.dropout, bias=gpt.bias,
    )  # fmt: skip


def matched_lstm(gpt: GPTLMConfig, run: CharLMConfig, vocab_size: int) -> CharLMConfig:
    """``run`` as a one-cell LSTM whose hidden size H gives the parameter count closest to the
    GPT's (:func:`~seqlab.experiments.param_budget.hidden_for_budget`; the count is
    :func:`~seqlab.experiments.param_budget.lm_param_count`, equal to ``count_params``)."""
    budget = count_params(GPT(gpt_config(gpt, run, vocab_size)))
    H = hidden_for_budget(
        lambda h: lm_param_count("lstm", vocab_size, run.n_embd, h, run.n_layer), budget
    )
    return replace(run, cells=("lstm",), reference="lstm", hidden_size=H)


def train_gpt_lm(
    dataset: CharDataset,
    gpt: GPTLMConfig,
    run: CharLMConfig,
    device: torch.device | str | None = None,
    progress: bool = False,
    model_config: GPTConfig | None = None,
    loss_fn: LossFn | None = None,
) -> tuple[GPT, pd.DataFrame]:
    """Train one GPT on ``run``'s batches, budget and evaluation; return ``(model, history)``.

    The batches and the held-out evaluation batches are drawn exactly as
    :func:`~seqlab.experiments.char_lm.train_char_lm` draws them for the same ``run.seed``.
    Outputs: ``history`` as ``train_char_lm``'s (iter -1 = before training, time 0; iter,
    time_s, loss, lr, tokens_per_s, train_loss/val_loss on evaluated steps) with columns
    ``cell`` ("gpt"), ``hidden_size`` (``n_embd``) and ``n_params``.
    ``model_config`` (default: :func:`gpt_config` of ``gpt``) builds the model instead, e.g.
    with experts; ``loss_fn`` replaces the training loss (:func:`seqlab.train.train`), e.g.
    distillation's; the evaluation stays the model's own loss.
    """
    device = torch.device(device or "cpu")
    torch.manual_seed(run.seed)
    model = GPT(model_config or gpt_config(gpt, run, dataset.tokenizer.vocab_size)).to(device)
    timed = run.time_budget_s is not None
    train_config = TrainConfig(
        max_iters=run.max_iters,
        time_budget_s=run.time_budget_s,
        learning_rate=gpt.learning_rate,
        min_lr=gpt.learning_rate if timed else gpt.min_lr,
        warmup_iters=gpt.warmup_iters,
        weight_decay=gpt.weight_decay,
        eval_interval=run.eval_interval,
        log_interval=10,
        seed=run.seed,
        progress=progress,
    )
    history = train_on_chars(
        model, dataset, run, train_config, device, "gpt", model.config.n_embd, loss_fn
    )
    return model, history


@dataclass
class GPTRunConfig:
    """One GPT run: ``gpt`` on ``run``'s data, budget and seed."""

    gpt: GPTLMConfig = field(default_factory=GPTLMConfig)
    run: CharLMConfig = field(default_factory=CharLMConfig)


@experiment()
def gpt_lm(config: GPTRunConfig, device: torch.device, progress: bool) -> dict:
    """One trained GPT, cached. Values: ``history`` (:func:`train_gpt_lm`), ``model``
    (SavedModel)."""
    model, history = train_gpt_lm(shakespeare(), config.gpt, config.run, device, progress)
    return {"history": history, "model": SavedModel.of(model)}


@dataclass
class GPTvsLSTMConfig:
    """The GPT ``gpt`` and an LSTM at its parameter count, both on ``lstm``'s data, budget and
    evaluation (its ``hidden_size`` is replaced by the matched one), once per seed."""

    gpt: GPTLMConfig = field(default_factory=GPTLMConfig)
    lstm: CharLMConfig = field(default_factory=lambda: CharLMConfig(cells=("lstm",)))
    seeds: tuple[int, ...] = (0, 1, 2)


def _summary(history: pd.DataFrame, model: str, seed: int) -> dict:
    evaluated = history.dropna(subset=["val_loss"])
    return {
        "model": model,
        "seed": seed,
        "n_params": int(history["n_params"].iloc[0]),
        "hidden_size": int(history["hidden_size"].iloc[0]),
        "steps": int(history["iter"].max()) + 1,
        "train_s": float(history["time_s"].max()),
        "tokens_per_s": float(history["tokens_per_s"].median()),
        "val_loss": float(evaluated["val_loss"].iloc[-1]),
        "train_loss": float(evaluated["train_loss"].iloc[-1]),
    }


@experiment("transformer.char_lm")
def gpt_vs_lstm(config: GPTvsLSTMConfig, device: torch.device, progress: bool) -> dict:
    """GPT vs LSTM at an equal parameter count, over seeds, at a step or wall-time budget.

    Values: ``runs`` (one row per model and seed: model "GPT" | "LSTM", seed, n_params,
    hidden_size (C of the GPT, H of the LSTM), steps, train_s (seconds, evaluation included),
    tokens_per_s (median), val_loss, train_loss (nats per character, last evaluation), bpc),
    ``history`` (every run's history, columns ``model`` and ``seed``; iter -1 = untrained),
    ``lstm_hidden`` (H), ``models`` ``{"GPT" | "LSTM": SavedModel}`` of the first seed,
    ``eval_chars`` (characters per evaluation and split).
    """
    V = shakespeare().tokenizer.vocab_size
    lstm = matched_lstm(config.gpt, config.lstm, V)
    rows, histories, models = [], [], {}
    for seed in config.seeds:
        run = replace(lstm, seed=seed)
        g = gpt_lm(GPTRunConfig(config.gpt, run), device=device, progress=progress)
        r = char_lm(run, device=device, progress=progress)
        for name, history, saved in (
            ("GPT", g["history"], g["model"]),
            ("LSTM", r["history"], r["models"]["lstm"]),
        ):
            rows.append(_summary(history, name, seed))
            histories.append(history.assign(model=name, seed=seed))
            if seed == config.seeds[0]:
                models[name] = saved
    runs = pd.DataFrame(rows)
    runs["bpc"] = bpc(runs["val_loss"])
    return {
        "runs": runs,
        "history": pd.concat(histories, ignore_index=True),
        "lstm_hidden": lstm.hidden_size,
        "models": models,
        "eval_chars": lstm.eval_iters * lstm.batch_size * lstm.block_size,
    }


# ----------------------------------------------------------------------------- heads


@torch.no_grad()
def gpt_heads(model: GPT, text: str, dataset: CharDataset | None = None) -> dict:
    """Every head's attention on ``text`` (cropped to the model's ``block_size``).

    Outputs: ``{"ok": True, "tokens": list of characters (length T), "maps": array
    (L, nh, T, T)}``, where ``maps[l, h, i]`` is how query character i of layer l, head h
    spreads its attention over characters 0..i (each row sums to 1; zeros above the diagonal:
    the causal mask); or ``{"ok": False, "message": ...}`` for text the model cannot read
    (empty, or a character outside the corpus).
    """
    dataset = dataset or shakespeare()
    text = text[-model.config.block_size :]
    if not text:
        return {"ok": False, "message": "Type some text."}
    stoi = dataset.tokenizer.stoi
    bad = [c for c in text if c not in stoi]
    if bad:
        return {"ok": False, "message": f"The model has never seen {bad[0]!r}."}
    idx = torch.tensor([[stoi[c] for c in text]], device=next(model.parameters()).device)
    was_training = model.training
    model.eval()
    try:
        maps = model.attention_maps(idx)  # L x (1, nh, T, T)
    finally:
        model.train(was_training)
    return {"ok": True, "tokens": list(text), "maps": np.stack([m[0].cpu().numpy() for m in maps])}


def head_entropy(maps: np.ndarray) -> np.ndarray:
    """Mean entropy (nats) of each head's attention rows: (L, nh, T, T) -> (L, nh). Low: the
    head looks at one character; high (up to ln(i + 1) for query i): it spreads out."""
    p = np.clip(maps, 1e-12, 1.0)
    return -(maps * np.log(p)).sum(-1).mean(-1)


def head_table(maps: np.ndarray) -> pd.DataFrame:
    """One row per head of ``maps`` (L, nh, T, T) (:func:`gpt_heads`): ``layer``, ``head``
    (both from 1), ``entropy (nats)`` (:func:`head_entropy`) and ``weight on previous char``,
    the mean over queries i >= 1 of the weight on key i - 1 (the first sub-diagonal)."""
    if not isinstance(maps, np.ndarray) or maps.ndim != 4 or maps.shape[-1] != maps.shape[-2]:
        raise ValueError(f"maps must be an array (L, nh, T, T), got {getattr(maps, 'shape', maps)}")
    prev = np.diagonal(maps, offset=-1, axis1=2, axis2=3).mean(-1)  # (L, nh)
    ent = head_entropy(maps)  # (L, nh)
    L, nh = maps.shape[:2]
    return pd.DataFrame(
        [{"layer": i + 1, "head": h + 1, "entropy (nats)": float(ent[i, h]),
          "weight on previous char": float(prev[i, h])} for i in range(L) for h in range(nh)]
    )  # fmt: skip


def uniform_maps(T: int) -> np.ndarray:
    """The causal uniform spread as maps (1, 1, T, T): query i gives 1 / (i + 1) to each of
    keys 0..i. Its :func:`head_table` row is the baseline a trained head is read against."""
    if not isinstance(T, int) or T < 2:
        raise ValueError(f"T must be an int >= 2, got {T!r}")
    rows = np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]
    return rows[None, None]


def heads_vs_uniform(model: GPT, text: str, windows: int = 5, min_rel: float = 0.1) -> dict:
    """Every head on ``windows`` consecutive stretches of ``text`` (``block_size`` characters
    each), compared with the uniform spread (:func:`uniform_maps`) by the tie rule, the
    stretches standing in for seeds, and a difference counting only when it exceeds ``min_rel``
    times the uniform spread's value (``compare``'s ``min_diff``: an untrained head differs from
    uniform by a hair that a zero-spread baseline would otherwise call a win).

    Outputs: ``table`` (one row per head: ``layer``, ``head``, the mean over stretches of
    :func:`head_table`'s two columns), ``uniform`` (the uniform spread's two values),
    ``prev`` (``seeds.Comparison``: the head with the most weight on the previous character
    against ``"a uniform spread"``, higher wins), ``focus`` (the head of lowest entropy
    against it, lower wins), ``prev_head`` / ``focus_head`` (``"layer l, head h"``) and
    ``T``. Raises ``ValueError`` when ``text`` is shorter than ``windows`` stretches or
    ``windows`` < 3 or ``min_rel`` not in [0, 1).
    """
    if not isinstance(min_rel, (int, float)) or not 0 <= min_rel < 1:
        raise ValueError(f"min_rel must be in [0, 1), got {min_rel!r}")
    if not isinstance(windows, int) or windows < 3:
        raise ValueError(f"windows must be an int >= 3 (the tie rule's seeds), got {windows!r}")
    T = model.config.block_size
    if len(text) < windows * T:
        raise ValueError(f"text has {len(text)} characters, fewer than windows * T = {windows * T}")
    per = []
    for w in range(windows):
        out = gpt_heads(model, text[w * T : (w + 1) * T])
        if not out["ok"]:
            raise ValueError(f"text stretch {w}: {out['message']}")
        per.append(head_table(out["maps"]).assign(seed=w))
    runs = pd.concat(per, ignore_index=True)
    runs["name"] = [
        f"layer {a}, head {b}" for a, b in zip(runs["layer"], runs["head"], strict=True)
    ]
    uni = head_table(uniform_maps(T)).iloc[0]
    base = pd.DataFrame({"name": "a uniform spread", "seed": range(windows),
                         "entropy (nats)": uni["entropy (nats)"],
                         "weight on previous char": uni["weight on previous char"]})  # fmt: skip
    table = runs.groupby(["layer", "head"], as_index=False)[
        ["entropy (nats)", "weight on previous char"]
    ].mean()
    out = {"table": table, "uniform": uni[["entropy (nats)", "weight on previous char"]], "T": T}
    for key, col, pick, lower in (("prev", "weight on previous char", "idxmax", False),
                                  ("focus", "entropy (nats)", "idxmin", True)):  # fmt: skip
        top = table.loc[getattr(table[col], pick)()]
        name = f"layer {top['layer']:.0f}, head {top['head']:.0f}"
        both = pd.concat([runs[runs["name"] == name], base], ignore_index=True)
        out[key] = compare(both, "name", col, lower_is_better=lower, min_diff=min_rel * uni[col])
        out[f"{key}_head"] = name
    return out
