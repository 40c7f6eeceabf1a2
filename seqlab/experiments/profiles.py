"""Every size the book runs at: one table per chapter, one row per experiment, by profile.

A row gives fields of the experiment's config. ``P(smoke, standard, full)`` is a value that
depends on the execution profile (``SEQLAB_PROFILE``; ``full`` left out means "as
``standard``"); any other value holds in every profile. A dict fills a config inside the config
(e.g. the base run of a sweep). Fields a row leaves out keep the config's defaults.

A chapter names the row it runs, ``char_lm("lstm.char_lm")``; its figure builders and tests run
the same row, so they cannot drift apart. Rows that two chapters share are one Python object
(``_COPY``): the GRU chapter's copy runs *are* the LSTM chapter's, and come from the cache.

Rows are plain data: nothing here imports an experiment. :func:`config_for` turns a row into a
config for the current profile.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from seqlab.device import PROFILES, get_profile

_SAME = object()


@dataclasses.dataclass(frozen=True)
class P:
    """A size by profile: ``P(smoke, standard, full)``; ``full`` defaults to ``standard``."""

    smoke: Any
    standard: Any
    full: Any = _SAME

    def pick(self, profile: str) -> Any:
        if profile == "smoke":
            return self.smoke
        return self.standard if profile == "standard" or self.full is _SAME else self.full


# fmt: off
# -- chapter 1, RNN ---------------------------------------------------------------------------
_RNN_CHAR_LM = dict(
    cells=("rnn",), reference="rnn",
    hidden_size=P(64, 256, 512), n_embd=P(16, 32, 64), batch_size=P(16, 32, 64),
    block_size=P(32, 100, 128), learning_rate=1e-2, warmup_iters=P(5, 20),
    max_iters=P(20, 1000, 5000),  # a step budget: the result does not depend on load
    eval_interval=P(10, 100, 250), eval_iters=P(2, 8, 20),
)
RNN = {
    "char_lm": _RNN_CHAR_LM,  # seed 0 of char_lm_seeds: the samples, slider and context study
    "char_lm_seeds": dict(char_lm=_RNN_CHAR_LM, seeds=(0, 1, 2), processes=P(1, None, 1)),
    "gradient_flow": dict(
        cells=("RNN",), nonlinearities=("linear", "tanh", "relu"), rhos=(0.8, 1.0, 1.2, 1.5),
        T=P(50, 100), seeds=(0, 1, 2), input_scales=(0.1, 1.0, 3.0),
    ),
    "clipping": dict(base=dict(max_iters=P(25, 150, 400))),
    "context_window": dict(char_lm=_RNN_CHAR_LM, length=P(32, 100), n_windows=P(16, 128)),
    "ngram": dict(orders=P((1, 2, 3, 4), (1, 2, 3, 4, 5, 6, 7, 8)), train_chars=P(200_000, None)),
    "training_scheme": dict(
        seeds=(0, 1, 2), hidden_size=P(32, 128), block_size=P(25, 50),
        max_iters=P(15, 300), eval_iters=P(2, 8), eval_chars=P(100, 2000),
    ),
}

# -- chapter 2, LSTM --------------------------------------------------------------------------
# Budgets are steps, never seconds: a time budget makes a result depend on the machine's load.
_LSTM_CHAR_LM = dict(
    cells=("rnn", "lstm"), reference="lstm",
    hidden_size=P(32, 128, 256), n_embd=32, batch_size=32,
    block_size=P(32, 64, 128), learning_rate=3e-3, warmup_iters=P(5, 20),
    max_iters=P(30, 300, 3000), time_budget_s=None,
    eval_interval=P(10, 50, 200), eval_iters=P(2, 8, 20),
)
_LSTM_LM_RUN = {**_LSTM_CHAR_LM, "cells": ("lstm",)}  # seed 0 of lm_compare's LSTM
_RNN_LM_RUN = {**_LSTM_CHAR_LM, "cells": ("rnn",)}  # seed 0 of lm_compare's RNN
_SEEDS = (0, 1, 2)
# standard: independent runs side by side, one per core (same numbers: experiments.parallel)
_SIDE_BY_SIDE = P(1, None, 1)
_LSTM_COMPARE = dict(char_lm=_LSTM_CHAR_LM, seeds=_SEEDS, processes=_SIDE_BY_SIDE)
_COPY = dict(
    task="copy", n_copy=1, hidden_size=32, learning_rate=1e-2,
    max_iters=P(40, 400, 3000), time_budget_s=None,
)
LSTM = {
    "gradient_flow": dict(
        cells=("RNN", "GRU", "LSTM, b_f = 0", "LSTM, b_f = 1", "LSTM, b_f = 3"),
        nonlinearities=("tanh",), rhos=(1.0,), T=P(50, 100), seeds=(0, 1, 2),
    ),
    "lm_compare": _LSTM_COMPARE,
    "lm_context": dict(
        compare=_LSTM_COMPARE,
        length=P(32, 100), n_windows=P(16, 128),
    ),
    "unit_probe": dict(char_lm=_LSTM_LM_RUN, n_chars=P(3000, 30000), passage_chars=P(300, 600)),
    "copy_sweep": dict(
        task=_COPY, cells=("rnn", "lstm"), seeds=_SEEDS, processes=_SIDE_BY_SIDE,
        delays=P((5, 10), (10, 20, 50), (10, 20, 50, 100, 200)),
    ),
    "adding_sweep": dict(
        task=dict(
            task="adding", hidden_size=32, learning_rate=1e-2,
            max_iters=P(40, 400, 5000), time_budget_s=None,
        ),
        cells=("rnn", "lstm"), seeds=_SEEDS, processes=_SIDE_BY_SIDE,
        delays=P((10,), (25, 50), (25, 50, 100, 200, 400)),
    ),
    "forget_bias": dict(  # the copy sweep's LSTM runs at one delay, over seeds
        task={**_COPY, "cell": "lstm", "T": P(10, 20)},
        vary="forget_bias", values=(0.0, 1.0), seeds=_SEEDS,
    ),
    "reversal": dict(
        task=dict(
            task="reversal", cell="lstm", hidden_size=P(32, 64), learning_rate=1e-2, T=P(6, 10),
            max_iters=P(60, 800, 2000), time_budget_s=None,
        ),
    ),
}

# -- chapter 3, GRU ---------------------------------------------------------------------------
GRU = {
    "reset_timing": dict(seq_len=P(16, 64), batch_size=32, hidden_size=P(32, 128), repeats=P(3, 7)),
    "lm_compare": {  # chapter 2's RNN and LSTM runs come from the cache
        **_LSTM_COMPARE, "char_lm": {**_LSTM_CHAR_LM, "cells": ("rnn", "gru", "lstm")},
    },
    "stacked": {  # two LSTM layers at the parameter budget of chapter 2's one
        **_LSTM_COMPARE, "char_lm": {**_LSTM_CHAR_LM, "cells": ("lstm",), "n_layer": 2},
    },
    "copy_sweep": dict(
        task=_COPY, cells=("rnn", "gru", "lstm"), seeds=_SEEDS, processes=_SIDE_BY_SIDE,
        delays=P((10,), (20, 50), (50, 100, 200)),
    ),
    "timing": dict(
        hidden_size=P(32, 64),
        lengths=P(
            {"8, 32": (8, 32)},
            {"16, 64, 256": (16, 64, 256), "16 ... 1024": (16, 64, 256, 1024)},
        ),
        batches=P((1, 8), (1, 4, 16, 64, 256)), static_batches=P((1, 8), (1, 16, 64)),
        repeats=P(1, 3),
    ),
}

# -- chapter 4, attention ---------------------------------------------------------------------
ATTENTION = {
    "bottleneck": dict(  # German number words -> digits; every kind at the additive's parameters
        run=dict(
            task="numbers", lang="de", max_value=P(999, 99_999), n_train=P(800, 5000),
            n_test=P(200, 1000), hidden_size=P(32, 64), batch_size=P(64, 128),
            max_iters=P(20, 200, 2000), n_checkpoints=P(2, 4),
        ),
        attentions=("none", "additive", "general"), reference="additive",
        seeds=P((0, 1, 2), (0, 1, 2), (0, 1, 2, 3, 4)),
    ),
    "scaling": dict(d_ks=(1, 4, 16, 64, 256, 1024), n_keys=16, n_queries=512),  # = the slider
    "attribution": dict(bottleneck="attention.bottleneck", n_examples=P(8, 40, 200)),
}
# -- chapter 5, the Transformer (positions, the block, stability) ------------------------------
TRANSFORMER = {
    "positions": dict(  # learned vs sinusoidal positions beyond the trained length
        seeds=(0, 1, 2), n_layer=2, n_embd=32, train_len=P(16, 32), eval_len=P(32, 64),
        batch_size=P(8, 16), max_iters=P(10, 200, 1000), warmup_iters=P(2, 20),
        eval_windows=P(16, 256), band=8,
    ),
    "stability": dict(  # post-LN vs pre-LN x warm-up x depth at a high learning rate
        depths=P((1, 2), (2, 4, 8)), warmups=P((0, 5), (0, 100)), seeds=(0, 1, 2),
        n_embd=32, block_size=16, batch_size=8, max_iters=P(10, 200, 1000),
        learning_rate=3e-3, eval_iters=P(2, 8), grad_batches=P(2, 4),
        processes=P(1, None),  # standard: the runs side by side, one per core (same numbers)
    ),
}

# -- chapter 5, the Transformer: the GPT against the LSTM, the Transformer encoder-decoder ------
# standard: the LSTM is chapter 2's lm_compare LSTM (hidden 128, same batches and steps: cached);
# the GPT (2 layers, 4 heads, n_embd 60, no biases) has its parameter count (95,100 vs 95,180).
# full: nanoGPT's CPU recipe (4 layers, 4 heads, 128 wide, context 64, batch 12, 2,000 steps,
# lr 1e-3, warm-up 100, min_lr 1e-4) and an LSTM at its parameter count.
_GPT = dict(
    n_layer=P(1, 2, 4), n_head=4, n_embd=P(28, 60, 128), bias=P(True, False, False),
    learning_rate=P(6e-3, 6e-3, 1e-3), warmup_iters=P(5, 20, 100), min_lr=P(None, None, 1e-4),
)
_GPT_LSTM_RUN = {
    **_LSTM_LM_RUN, "batch_size": P(32, 32, 12), "block_size": P(32, 64, 64),
    "max_iters": P(30, 300, 2000),
    "eval_interval": P(10, 50, 200), "eval_iters": P(2, 8, 20),
}
_S2S_DATA = {k: ATTENTION["bottleneck"]["run"][k]
             for k in ("task", "lang", "max_value", "n_train", "n_test", "batch_size", "max_iters")}
TRANSFORMER_LM = {
    "char_lm": dict(gpt=_GPT, lstm=_GPT_LSTM_RUN, seeds=_SEEDS),
    "equal_time": dict(  # the same models, the same seconds each; the steps each got are shown
        gpt=_GPT, seeds=_SEEDS,
        lstm={**_GPT_LSTM_RUN, "max_iters": 1_000_000, "time_budget_s": P(0.5, 3.0, 120.0),
              "eval_interval": P(10, 50, 200)},
    ),
    "seq2seq": dict(  # chapter 4's data and steps; d_model sized to its additive RNN's count
        run={**_S2S_DATA, "nhead": 4, "num_layers": P(1, 1, 2), "learning_rate": 1e-2,  # as RNN
             "warmup_iters": P(5, 20), "n_checkpoints": P(2, 4)},
        rnn="attention.bottleneck", reference="additive", seeds=_SEEDS,
        processes=P(1, None, 1),  # standard: seeds side by side on the cores (same numbers)
    ),
}

# -- chapter 5: nanoGPT's recipes (run by the chapter on a CUDA device only) -------------------
_TINY_RECIPE = dict(n_layer=1, n_head=2, n_embd=16, block_size=16, batch_size=4, max_iters=4,
                    eval_interval=2, learning_rate=1e-3)
REPRODUCTION = {
    "nanogpt": dict(
        recipes=P({"CPU recipe": _TINY_RECIPE, "GPU recipe": {**_TINY_RECIPE, "n_layer": 2}},
                  None),  # None: nanoGPT's two recipes in full
        eval_iters=P(1, 10),
    ),
}

# -- chapter 6, the cost of attention ---------------------------------------------------------
COST = {
    "sweep": dict(  # timings on one thread on a CPU: the same whatever the machine's load
        hidden_size=64, num_layers=1, nhead=4,
        lengths=P(
            {"16 ... 64": (16, 32, 64), "16 ... 256": (16, 64, 256)},
            {"16 ... 1024": (16, 64, 128, 256, 512, 1024), "16 ... 256": (16, 64, 256)},
            {"16 ... 4096": (16, 64, 256, 1024, 4096), "16 ... 1024": (16, 64, 256, 1024)},
        ),
        batches=P((1, 4), (1, 4, 16, 64)), static_batches=P((1, 4), (1, 16)),
        attn_lengths=P(
            {"64 ... 256": (64, 128, 256)},
            {"128 ... 1024": (128, 256, 512, 1024), "64 ... 256": (64, 128, 256)},
            {"1024 ... 65536": (1024, 4096, 16384, 65536), "128 ... 1024": (128, 256, 512, 1024)},
        ),
        fit_min_len=P(16, 64, 1024), repeats=P(1, 3), timeout_s=P(10.0, 20.0, 60.0),
    ),
    "long_range": dict(  # the LSTM runs are chapter 2's copy sweep's (_COPY): from the cache
        lstm=_COPY,
        transformer={
            **_COPY, "cell": "transformer", "hidden_size": 20, "learning_rate": 3e-3,
            "warmup_iters": P(5, 40, 300), "forget_bias": None,
            "cell_options": {"num_layers": 1, "nhead": 2},
        },
        delays=P((5, 10), (10, 20, 50), (10, 20, 50, 100, 200)), seeds=_SEEDS,
    ),
}

# -- chapter 6, the cost of attention: efficient attention and decoding ----------------------
EFFICIENT = {
    "efficient": dict(  # the same GPT with full / sliding / linear attention, 3 seeds
        window=P(8, 16), seeds=_SEEDS, n_layer=P(1, 2), n_embd=P(32, 64),
        block_size=P(32, 128), batch_size=P(4, 8), max_iters=P(15, 150, 2000),
        warmup_iters=P(3, 20), eval_iters=P(2, 8, 20),
    ),
    "efficient_cost": dict(  # one attention call, forward+backward, against T
        lengths=P((32, 128, 512), (64, 128, 256, 512, 1024, 2048), (64, 256, 1024, 4096, 16384)),
        window=16, rounds=3, repeats=P(1, 3), timeout_s=P(1.0, 1.5, 10.0),
    ),
    "decoding": dict(
        positions=P((1, 16, 64), (1, 4, 16, 64, 256, 1024)), block_size=P(64, 1024),
        rounds=3, repeats=P(3, 7), timeout_s=P(1.0, 5.0),
    ),
}

# -- chapter 7b, more from a fixed budget (helper budget) -------------------------------------
# One short run shape for all three studies (context 32, batch 32); the student of the
# distillation study *is* the dense base of the mixture-of-experts study (same row object), so
# its runs are trained once and come from the cache; the int8 study quantises the teacher.
_BUDGET_RUN = dict(
    cells=("lstm",), reference="lstm", batch_size=32, block_size=32,
    max_iters=P(6, 300), eval_interval=P(6, 50), eval_iters=P(2, 8),
)
_BUDGET_STUDENT = dict(n_layer=1, n_head=4, n_embd=P(16, 32), bias=False,
                       learning_rate=6e-3, warmup_iters=P(3, 20))
_BUDGET_DISTILL = dict(
    teacher=dict(n_layer=P(1, 2), n_head=4, n_embd=P(32, 64), bias=False,
                 learning_rate=P(6e-3, 3e-3), warmup_iters=P(3, 30)),
    student=_BUDGET_STUDENT, run=_BUDGET_RUN, teacher_iters=P(20, 500),
    temperature=2.0, alpha=0.5, seeds=_SEEDS,
)
BUDGET = {
    "distillation": _BUDGET_DISTILL,
    "quantization": dict(model=_BUDGET_DISTILL, batches=(1, 32), warmup=P(1, 3),
                         repeats=P(3, 20), rounds=3, threads=1, eval_iters=P(2, 20)),
    "moe": dict(gpt=_BUDGET_STUDENT, run=_BUDGET_RUN, n_expert=4, top_k=2,
                aux_loss_coef=0.01, load_batches=P(2, 8), seeds=_SEEDS),
}

# -- chapter 7, scaling laws: the sweep (seqlab.experiments.scaling_specs explains the row).
# standard: ~2,100 CPU-s from scratch, 2 worker processes (~18 min on 2 idle cores).
SCALING = {
    "sweep": dict(
        gpt_sizes=P(((1, 2, 16), (1, 2, 32), (2, 2, 32), (2, 4, 48)),
                    ((1, 2, 16), (1, 2, 32), (2, 2, 32), (2, 4, 48), (2, 4, 64), (3, 4, 96)),
                    ((1, 2, 32), (2, 4, 64), (3, 4, 128), (4, 4, 192), (6, 8, 256),
                     (6, 6, 384), (8, 8, 512))),
        gpt_lr_scales=P((27.0, 9.0, 3.0, 3.0), (27.0, 9.0, 3.0, 3.0, 3.0, 3.0), (3.0,)),
        budgets=P((10, 20), (60, 150, 375), (500, 1000, 2000)),
        seeds=P((0, 1), (0, 1), (0, 1, 2)),
        lstm_sizes=P(((1, 16), (1, 32)), ((1, 32), (1, 64), (1, 128), (1, 256)),
                     ((1, 64), (1, 128), (1, 256), (1, 512), (2, 512))),
        lstm_learning_rates=P((3e-2,), (9e-2, 9e-2, 3e-2, 3e-2), (1e-2,)),
        lstm_budgets=P((20,), (150, 375), (1000, 2000)), comparison_seeds=(0, 1, 2),
        lr_check_factors=(1 / 3, 3.0),
        isoflop_budgets=P((1e9, 1.9e9), (1e11, 3e11, 1e12), (3e13, 1e14, 3e14, 1e15)),
        isoflop_steps=P((5, 40), (100, 4000), (200, 20_000)),
        isoflop_seeds=P((0,), (0, 1), (0, 1)),
        processes=P(1, 2, 1),
        block_size=P(32, 64, 128), batch_size=P(16, 32, 64),
        eval_iters=P(2, 8, 20), eval_batch_size=P(32, 64, 64),
        dtype=P("float32", "float32", "bfloat16"),
    ),
}

# -- appendix, the research environment -------------------------------------------------------
APPENDIX = {
    "reproducibility": dict(  # one small GPT trained 7 times; runs differ in one setting each
        max_iters=P(5, 100), seeds=(0, 1, 2), threads=(1, 2),
    ),
}

# -- chapter 8, choosing an architecture (helper `choosing`) ---------------------------------
CHOOSING = {
    "costs": dict(  # the four architectures at one width, on the work that separates them
        lengths=P((16, 64), (16, 64, 256, 1024)), positions=P((16, 64), (16, 256, 1024)),
        batch_size=8, hidden_size=64, rounds=3, repeats=P(2, 3), timeout_s=P(2.0, 10.0),
    ),
    "metrics": dict(  # metrics on the book's own models: no training of its own
        lm="transformer.char_lm", seq2seq="attention.bottleneck",
        n_chars=P(4000, 40_000), n_subsets=P(100, 500), subset_size=4,
    ),
}

# -- chapter 8, beyond characters: a time series and subword tokens (helper datapages) --------
DATAPAGES = {
    "sunspots": dict(  # rolling one-step forecasts of 1970-2008; networks over 3 seeds
        max_iters=P(20, 600), warmup_iters=P(5, 20), max_p=P(2, 4), max_q=P(0, 2),
        seeds=_SEEDS,
    ),
    "tokens": dict(  # BPE vs characters at equal training FLOPs, 3 seeds
        vocab_sizes=P((128, 512), (128, 256, 512, 1024, 2048)), bpe_vocab=512,
        train_chars=P(100_000, 1_000_000), eval_chars=P(2_000, 20_000),
        n_layer=P(1, 2), n_embd=P(32, 64), context_chars=P(32, 64), batch_size=16,
        char_max_iters=P(15, 400), warmup_iters=P(3, 30), seeds=_SEEDS,
    ),
}
# fmt: on

SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "rnn": RNN,
    "lstm": LSTM,
    "gru": GRU,
    "attention": ATTENTION,
    "transformer": {**TRANSFORMER, **TRANSFORMER_LM},
    "reproduction": REPRODUCTION,
    "cost": {**COST, **EFFICIENT},
    "budget": BUDGET,
    "scaling": SCALING,
    "appendix": APPENDIX,
    "choosing": CHOOSING,
    "data": DATAPAGES,
}


def row(key: str, profile: str | None = None) -> dict[str, Any]:
    """The row ``"chapter.name"`` with every :class:`P` picked for ``profile`` (default: the
    current one)."""
    profile = profile or get_profile()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    chapter, _, name = key.partition(".")
    if chapter not in SIZES or name not in SIZES[chapter]:
        known = [f"{c}.{n}" for c, rows in SIZES.items() for n in rows]
        raise KeyError(f"no size-table row {key!r}; rows: {', '.join(known)}")
    return _pick(SIZES[chapter][name], profile)


def _pick(value: Any, profile: str) -> Any:
    if isinstance(value, P):
        return _pick(value.pick(profile), profile)
    if isinstance(value, dict):
        return {k: _pick(v, profile) for k, v in value.items()}
    return value


def config_for(cls: type, key: str, profile: str | None = None) -> Any:
    """The config ``cls(...)`` that row ``key`` gives at ``profile``; a dict value becomes the
    config its field names (a dataclass)."""
    return _build(cls, row(key, profile), key)


def _build(cls: type, values: dict[str, Any], key: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"row {key!r} names fields {unknown} that {cls.__name__} lacks")
    kwargs = {}
    for name, value in values.items():
        inner = hints.get(name)
        if isinstance(value, dict) and dataclasses.is_dataclass(inner):
            value = _build(inner, value, f"{key}.{name}")
        kwargs[name] = value
    return cls(**kwargs)
