"""Paper figures of the char-level RNN language model (chapter "rnn").

All three come from one model, trained once per process at the profile's size by
:func:`seqlab.experiments.char_rnn.trained_char_rnn` (cached):

- ``char_rnn_loss``: training and validation loss against step.
- ``char_rnn_temperature``: next-character distribution at three temperatures.
- ``char_rnn_context``: gradient saliency against distance, with the fitted decay.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from seqlab.experiments.char_rnn import trained_char_rnn, unigram_entropy
from seqlab.experiments.context_window import context_saliency, fit_context
from seqlab.experiments.sampling import next_token_probs
from seqlab.viz.export import register_figure
from seqlab.viz.style import PALETTE

PROMPT = "ROMEO:\nI will not"
PRINT_TEMPERATURES = (0.5, 1.0, 2.0)
_SHOWN = {" ": "sp", "\n": r"\n"}


@register_figure(
    "char_rnn_loss",
    chapter="rnn",
    caption=r"Char-level RNN language model on Shakespeare: training-batch loss and validation "
    r"loss (nats per character), with the uniform guess $\ln V$ and the unigram entropy.",
)
def char_rnn_loss(profile: str) -> Figure:
    """Training and validation loss of the char-RNN."""
    _, history, dataset = trained_char_rnn(profile)
    fig = Figure()
    ax = fig.add_subplot()
    steps = history.dropna(subset=["loss"])
    ax.plot(steps["iter"], steps["loss"], color=PALETTE[0], linewidth=0.6, label="training batch")
    val = history.dropna(subset=["val_loss"])
    ax.plot(val["iter"].clip(lower=0), val["val_loss"], "o-", color=PALETTE[1], markersize=2.5,
            label="validation")  # fmt: skip
    V = dataset.tokenizer.vocab_size
    ax.axhline(math.log(V), color=PALETTE[2], linestyle=":", label=r"uniform, $\ln V$")
    text = dataset.tokenizer.decode(dataset.split("train")[:200_000])
    ax.axhline(unigram_entropy(text), color=PALETTE[3], linestyle="--", label="unigram")
    ax.set(xlabel="step", ylabel="loss (nats/char)")
    ax.legend()
    return fig


@register_figure(
    "char_rnn_temperature",
    chapter="rnn",
    caption=r"Next-character distribution $p_\tau = \mathrm{softmax}(z/\tau)$ of the char-RNN "
    r"after the prompt ``I will not'', for three temperatures $\tau$ (15 most likely characters).",
)
def char_rnn_temperature(profile: str) -> Figure:
    """Next-character probabilities at three temperatures."""
    model, _, dataset = trained_char_rnn(profile)
    tok = dataset.tokenizer
    idx = tok.encode(PROMPT)
    order = np.argsort(-next_token_probs(model, idx, 1.0).numpy())[:15]
    fig = Figure()
    ax = fig.add_subplot()
    width = 0.8 / len(PRINT_TEMPERATURES)
    for i, tau in enumerate(PRINT_TEMPERATURES):
        p = next_token_probs(model, idx, tau).numpy()[order]
        ax.bar(np.arange(15) - 0.4 + width * (i + 0.5), p, width, color=PALETTE[i],
               label=rf"$\tau={tau:g}$")  # fmt: skip
    ax.set_xticks(range(15), [_SHOWN.get(tok.itos[j], tok.itos[j]) for j in order])
    ax.set(xlabel="next character", ylabel="probability")
    ax.legend()
    return fig


@register_figure(
    "char_rnn_context",
    chapter="rnn",
    caption=r"Effective context of the char-RNN: saliency $\|\partial z/\partial e_{t-k}\|$ of "
    r"the top logit with respect to the input $k$ characters back (mean over validation "
    r"windows), with the fitted $A\,e^{-k/\ell}$.",
)
def char_rnn_context(profile: str) -> Figure:
    """Gradient saliency against distance, with the fitted decay."""
    model, _, dataset = trained_char_rnn(profile)
    df = context_saliency(model, dataset, length=64, n_windows=32)
    fit = fit_context(df)
    fig = Figure()
    ax = fig.add_subplot()
    ax.plot(df["k"], df["saliency"], "o-", color=PALETTE[0], markersize=2, label="measured")
    k = df["k"].to_numpy()
    ax.plot(k, fit["amplitude"] * np.exp(-k / fit["decay_length"]), "--", color=PALETTE[1],
            label=rf"fit, $\ell = {fit['decay_length']:.1f}$")  # fmt: skip
    ax.set(yscale="log", xlabel="$k$ (characters back)", ylabel="saliency")
    ax.legend()
    return fig
