"""Training stability of post-LN and pre-LN Transformers, measured (chapter 5).

Post-LN (Vaswani et al. 2017): x <- LN(x + f(x)); pre-LN: x <- x + f(LN(x)) (the two forms of
:class:`seqlab.models.transformer.TransformerBlock`). Xiong et al. (2020, arXiv 2002.04745)
showed that at initialisation post-LN has large gradients near the output, so it needs a
learning-rate warm-up; pre-LN trains without one.

- :func:`init_grad_norms`: the gradient norm of each block's parameters at initialisation,
  with our GPT's initialisation (GPT-2's: N(0, 0.02) weights and embeddings) or with the one
  Xiong et al. analyse (:func:`xavier_init_`: Xavier-uniform weights, unit-variance inputs).
- :func:`stability` (row ``transformer.stability``): a grid of char-LM GPTs, post-LN vs pre-LN x
  warm-up on/off x depth x seeds, at one (high) learning rate: runs that diverge (NaN/inf, with
  ``on_nan="stop"``), the final validation loss, and the gradient norms at initialisation.

Letters: B batch, T block size, C width (``n_embd``), L layers (``n_layer``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from seqlab.data.corpus import CharDataset
from seqlab.device import cpu_threads
from seqlab.experiments.char_lm import shakespeare
from seqlab.experiments.parallel import map_runs
from seqlab.experiments.results import Result, experiment
from seqlab.experiments.seeds import compare, join_words
from seqlab.models.gpt import GPT, GPTConfig
from seqlab.train import TrainConfig, estimate_loss, train

LN_NAMES = {False: "post-LN", True: "pre-LN"}
INIT_NAMES = {"gpt2": "GPT-2 init", "xavier": "Xavier init"}


def group_label(ln: str, warmup: int) -> str:
    """A group of the grid in words: "post-LN without warm-up", "pre-LN with 50-step warm-up"."""
    return f"{ln} {'without warm-up' if warmup == 0 else f'with {warmup}-step warm-up'}"


@dataclass
class StabilityConfig:
    """The grid: ``norm_first`` x ``warmups`` (warm-up steps; 0 = none) x ``depths`` (n_layer) x
    ``seeds``; every run has the same width, data, batches (per seed), ``max_iters`` AdamW steps
    at peak ``learning_rate`` (then cosine to a tenth), ``grad_clip`` (None: no clipping, so a
    large gradient reaches the weights). ``eval_iters`` validation batches score each run.
    ``grad_batches`` batches per model give the gradient norms at initialisation, for each
    of ``inits`` ("gpt2": as trained; "xavier": :func:`xavier_init_`). ``processes``: the
    runs train side by side in that many processes (None: one per core), one thread each:
    the same numbers, less wall time (:func:`seqlab.experiments.parallel.map_runs`)."""

    norm_first: tuple[bool, ...] = (False, True)
    warmups: tuple[int, ...] = (0, 50)
    depths: tuple[int, ...] = (2, 4, 8)
    seeds: tuple[int, ...] = (0, 1, 2)
    n_embd: int = 32
    n_head: int = 4
    block_size: int = 16
    batch_size: int = 16
    max_iters: int = 200
    learning_rate: float = 1e-2
    grad_clip: float | None = None
    eval_iters: int = 8
    grad_batches: int = 4
    inits: tuple[str, ...] = ("gpt2", "xavier")
    cpu_threads: int | str | None = 1
    processes: int | None = 1

    def __post_init__(self) -> None:
        if max(self.warmups) > self.max_iters:
            raise ValueError(f"warmups={self.warmups} must not exceed max_iters={self.max_iters}")


def _model(dataset: CharDataset, c: StabilityConfig, norm_first: bool, depth: int, seed: int):
    torch.manual_seed(seed)
    gpt = GPTConfig(vocab_size=dataset.tokenizer.vocab_size, block_size=c.block_size,
                    n_layer=depth, n_head=c.n_head, n_embd=c.n_embd, norm_first=norm_first)  # fmt: skip
    return GPT(gpt)


def xavier_init_(model: GPT) -> GPT:
    """Re-initialise in place as in Xiong et al.'s analysis: Xavier-uniform weights of every
    Linear layer but the (tied) head, zero biases, token and position vectors N(0, 1) (unit
    variance, like Vaswani et al.'s sqrt(C)-scaled embeddings). Returns the model."""
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and module is not model.lm_head:
            torch.nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
    torch.nn.init.normal_(model.wte.weight, std=1.0)
    if isinstance(getattr(model.wpe, "weight", None), torch.nn.Parameter):
        torch.nn.init.normal_(model.wpe.weight, std=1.0)
    return model


def init_grad_norms(model: GPT, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> pd.DataFrame:
    """Gradient norms of every block at the model's current weights, averaged over batches.

    Outputs: one row per block: ``layer`` (1 = nearest the input), ``grad_norm`` (L2 norm of
    the gradient of all the block's parameters) and ``ffn_grad_norm`` (of the feed-forward
    output weight, the W^2 whose norm Xiong et al. plot), means over ``batches``.
    """
    norms = np.zeros((len(model.blocks), 2))
    for x, y in batches:
        model.zero_grad(set_to_none=True)
        model(x, y)[1].backward()
        for i, block in enumerate(model.blocks):
            grads = [p.grad.flatten() for p in block.parameters() if p.grad is not None]
            norms[i, 0] += torch.cat(grads).norm().item() / len(batches)
            norms[i, 1] += block.ffn.proj.weight.grad.norm().item() / len(batches)
    model.zero_grad(set_to_none=True)
    return pd.DataFrame(dict(layer=np.arange(1, len(norms) + 1), grad_norm=norms[:, 0],
                             ffn_grad_norm=norms[:, 1]))  # fmt: skip


def _train_run(c: StabilityConfig, norm_first: bool, depth: int, seed: int, warmup: int) -> dict:
    """One run of the grid: a row of :func:`stability`'s ``runs``."""
    dataset = shakespeare()
    model = _model(dataset, c, norm_first, depth, seed)
    batches = torch.Generator().manual_seed(seed)
    tc = TrainConfig(max_iters=c.max_iters, learning_rate=c.learning_rate, warmup_iters=warmup,
                     grad_clip=c.grad_clip, on_nan="stop", log_interval=50, seed=seed,
                     progress=False)  # fmt: skip
    get_batch = lambda it: dataset.batch("train", c.batch_size, c.block_size, batches)  # noqa: E731
    history = train(model, get_batch, tc)
    diverged = not np.isfinite(history[["loss", "grad_norm"]].to_numpy()).all()
    val = np.nan
    if not diverged:
        ev = torch.Generator().manual_seed(12_345)
        val = estimate_loss(model, dataset, 64, c.block_size, c.eval_iters, ev)["val"]
    return dict(ln=LN_NAMES[norm_first], norm_first=norm_first, warmup=warmup, n_layer=depth,
                seed=seed, steps=len(history), diverged=diverged,
                diverged_at=int(history["iter"].iloc[-1]) if diverged else None,
                val_loss=val, max_grad_norm=float(history["grad_norm"].max()))  # fmt: skip


@experiment("transformer.stability")
def stability(config: StabilityConfig, device: torch.device, progress: bool) -> dict:
    """Train the grid; measure gradients at initialisation.

    Values: ``runs`` (one row per run: ln, norm_first, warmup, n_layer, seed, steps, diverged,
    diverged_at, val_loss (NaN if diverged), max_grad_norm over training), ``grads`` (ln, init,
    n_layer, seed, layer, grad_norm, ffn_grad_norm at initialisation), ``unigram`` (the loss of
    predicting the training character frequencies, on the validation split: the level of a
    model that learnt no context).
    """
    c, dataset = config, shakespeare()
    fixed = torch.Generator().manual_seed(99)
    grad_batches = [dataset.batch("train", c.batch_size, c.block_size, fixed)
                    for _ in range(c.grad_batches)]  # fmt: skip
    grads = []
    grid = list(itertools.product(c.norm_first, c.depths, c.seeds))
    with cpu_threads(c.cpu_threads, "cpu"):
        for (norm_first, depth, seed), init in itertools.product(grid, c.inits):
            model = _model(dataset, c, norm_first, depth, seed)
            model = xavier_init_(model) if init == "xavier" else model
            g = init_grad_norms(model, grad_batches)
            grads.append(g.assign(ln=LN_NAMES[norm_first], init=init, n_layer=depth, seed=seed))
    tasks = [(c, *run, warmup) for run in grid for warmup in c.warmups]
    with cpu_threads(c.cpu_threads, "cpu"):  # each run one thread, in processes side by side
        runs = map_runs(_train_run, tasks, c.processes, progress, desc="stability grid")
    train_ids = dataset.split("train")
    freq = torch.bincount(train_ids, minlength=dataset.tokenizer.vocab_size).double() + 1
    logp = (freq / freq.sum()).log()
    unigram = float(-logp[dataset.split("val")].mean())
    return {"runs": pd.DataFrame(runs), "grads": pd.concat(grads, ignore_index=True),
            "unigram": unigram}  # fmt: skip


#: What the post- vs pre-LN comparison of the last block's gradient says about Xiong et al.'s
#: prediction (post-LN larger near the output), by the winner of the tie rule.
READINGS = {
    "post-LN": "post-LN's gradient is the larger, as the paper predicts",
    "pre-LN": "pre-LN's gradient is the larger, the opposite of the paper's prediction",
    None: "the two are tied, so this measurement neither confirms nor contradicts the paper",
}


def stability_verdicts(result: Result, stuck_margin: float = 0.05) -> dict[str, str]:
    """What the chapter says about the grid, each comparison decided by the tie rule.

    Keys: ``warmup_post`` / ``warmup_pre`` (per depth, without vs with warm-up),
    ``depths`` (per depth, the four groups compared on the final validation loss of the
    runs that did not diverge; depths where a group has < 3 such runs are left out),
    ``stuck`` (per group, the runs that ended within ``stuck_margin`` nats of the unigram
    loss: no use of context learnt), ``last_<init>`` (post- vs pre-LN gradient norm of the
    last block's W^2 at the deepest depth), ``reading_<init>`` (that comparison set against
    Xiong et al.'s prediction, :data:`READINGS`) and ``post_<init>`` (post-LN: last vs first
    block).
    """
    runs, c = result["runs"], result.config
    ok = runs[~runs["diverged"]]
    ok = ok.assign(group=[group_label(a, b) for a, b in zip(ok["ln"], ok["warmup"], strict=True)])
    texts, out = [], {}
    for depth in c.depths:
        sub = ok[ok["n_layer"] == depth]
        if sub["group"].nunique() > 1 and sub.groupby("group")["seed"].nunique().min() >= 3:
            layers = f"{depth} layer{'s' if depth > 1 else ''}"
            texts.append(f"at {layers}: {compare(sub, 'group', 'val_loss').phrase()}")
    for ln in LN_NAMES.values():  # warm-up on vs off, per depth (Xiong et al.'s question)
        pairs = []
        for depth in c.depths:
            sub = ok[(ok["ln"] == ln) & (ok["n_layer"] == depth)]
            names = [group_label(ln, w) for w in c.warmups]
            if sub.groupby("group")["seed"].nunique().reindex(names).fillna(0).min() >= 3:
                phrase = compare(sub, "group", "val_loss").phrase_pair(*names[:2])
                pairs.append(f"at {depth} layer{'s' if depth > 1 else ''}, {phrase}")
        out[f"warmup_{ln.split('-')[0]}"] = "; ".join(pairs) or "no depth had three runs of each"
    stuck = ok[ok["val_loss"] > result["unigram"] - stuck_margin]
    counts = [f"{g}: {n} of {(ok['group'] == g).sum()}"
              for g, n in stuck.groupby("group", sort=False).size().items()]  # fmt: skip
    out["depths"] = "; ".join(texts) or "no depth had three finished runs in every group"
    out["stuck"] = join_words(counts) if counts else "none"
    deep = max(c.depths)
    grads = result["grads"][result["grads"]["n_layer"] == deep]
    for init in c.inits:
        g = grads[grads["init"] == init]
        last = compare(g[g["layer"] == deep], "ln", "ffn_grad_norm", lower_is_better=False)
        out[f"last_{init}"] = last.phrase_pair("post-LN", "pre-LN", word="larger")
        out[f"reading_{init}"] = READINGS[last.better("post-LN", "pre-LN")]
        post = g[(g["ln"] == "post-LN") & g["layer"].isin([1, deep])]
        post = post.assign(where=post["layer"].map({1: "first block", deep: "last block"}))
        ends = compare(post, "where", "ffn_grad_norm", lower_is_better=False)
        out[f"post_{init}"] = ends.phrase_pair("last block", "first block", word="larger")
    return out
