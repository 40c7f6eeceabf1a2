"""Diagrams of chapter 4, drawn by code (matplotlib): an RNN encoder-decoder with attention,
and multi-head attention (the layout of ``seqlab.models.MultiHeadAttention``). Registered for
``make figures`` as ``attention_encoder_decoder`` and ``attention_multihead``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from seqlab.viz.diagrams import Diagram
from seqlab.viz.export import register_figure
from seqlab.viz.style import PALETTE

__all__ = ["encoder_decoder_diagram", "multihead_diagram"]


def _box(ax, x, y, w, h, text, color, fontsize=8, alpha=0.18):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02",
                                facecolor=color, alpha=alpha, edgecolor=color))  # fmt: skip
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, x0, y0, x1, y1, color="black", lw=0.8, alpha=1.0):
    ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=7,
                                 color=color, lw=lw, alpha=alpha, shrinkA=2, shrinkB=2))  # fmt: skip


def encoder_decoder_diagram(source: str = "elf", target: str = "11") -> Figure:
    """An RNN encoder-decoder with attention, drawn for one example: encoder states e_j, the
    decoder state h_t, weights a_tj, the context c_t and the prediction, as in the chapter."""
    fig = Diagram(figsize=(6.9, 3.2))
    ax = fig.add_subplot()
    src = list(source) + ["end"]
    tgt = ["<bos>"] + list(target)
    for j, ch in enumerate(src):
        x = j * 1.1
        _box(ax, x, 0, 0.8, 0.5, f"$e_{j + 1}$", PALETTE[0])
        ax.text(x, -0.65, ch, ha="center", va="center", fontsize=9)
        _arrow(ax, x, -0.5, x, -0.25)
        if j:
            _arrow(ax, x - 0.7, 0, x - 0.4, 0)
    x0 = len(src) * 1.1 + 0.8
    for t in range(len(tgt)):
        x = x0 + t * 1.3
        _box(ax, x, 0, 0.8, 0.5, f"$h_{t + 1}$", PALETTE[1])
        ax.text(x, -0.65, tgt[t], ha="center", va="center", fontsize=8)
        _arrow(ax, x, -0.5, x, -0.25)
        if t:
            _arrow(ax, x - 0.9, 0, x - 0.4, 0)
    _arrow(ax, (len(src) - 1) * 1.1 + 0.4, 0, x0 - 0.4, 0, color=PALETTE[7])
    # attention of decoder step t = 1 over the encoder states
    t_star = x0
    _box(ax, t_star, 1.4, 1.0, 0.45, "$c_1 = \\sum_j a_{1j} e_j$", PALETTE[2], fontsize=7)
    weights = np.array([0.1, 0.15, 0.6, 0.15][: len(src)])
    for j in range(len(src)):
        _arrow(ax, j * 1.1, 0.25, t_star - 0.3, 1.2, color=PALETTE[2],
               lw=0.4 + 3 * weights[j % len(weights)], alpha=0.8)  # fmt: skip
    _arrow(ax, t_star, 0.25, t_star, 1.17, color=PALETTE[1])
    _box(ax, t_star, 2.4, 1.2, 0.45, "$\\tilde h_1 = \\tanh(W_c[c_1; h_1])$", PALETTE[3], 7)
    _arrow(ax, t_star, 1.63, t_star, 2.17)
    ax.text(t_star, 2.95, f"predict '{target[0]}'", ha="center", fontsize=8)
    _arrow(ax, t_star, 2.63, t_star, 2.85)
    ax.text(0.0, 2.6, "encoder (GRU) reads the source", fontsize=8, color=PALETTE[0])
    ax.text(0.0, 2.25, "decoder (GRU) writes the target", fontsize=8, color=PALETTE[1])
    ax.text(0.0, 1.9, "line width: attention weight $a_{1j}$", fontsize=8, color=PALETTE[2])
    ax.set_xlim(-0.7, x0 + len(tgt) * 1.3)
    ax.set_ylim(-0.9, 3.2)
    ax.axis("off")
    return fig


def multihead_diagram(num_heads: int = 4) -> Figure:
    """Multi-head attention: project X to Q, K, V, split into heads, attend per head,
    concatenate, project (the layout of ``seqlab.models.MultiHeadAttention``)."""
    fig = Diagram(figsize=(6.9, 2.6))
    ax = fig.add_subplot()
    _box(ax, 0, 0, 1.4, 0.5, "$X$ (B, T, C)", PALETTE[7], fontsize=8)
    _box(ax, 2.1, 0, 1.9, 0.5, "qkv: $[W_q; W_k; W_v]$", PALETTE[0], fontsize=7)
    _arrow(ax, 0.7, 0, 1.15, 0)
    for h in range(num_heads):
        y = (h - (num_heads - 1) / 2) * 0.7
        _box(ax, 4.75, y, 2.6, 0.5, f"head {h + 1}: softmax$(q k^T/\\sqrt{{hs}})\\,v$",
             PALETTE[2], fontsize=6.5)  # fmt: skip
        _arrow(ax, 3.05, 0, 3.45, y)
        _arrow(ax, 6.05, y, 6.4, 0)
    _box(ax, 6.9, 0, 1.0, 0.5, "concat", PALETTE[3], fontsize=8)
    _box(ax, 8.3, 0, 1.2, 0.5, "proj: $W_o$", PALETTE[1], fontsize=8)
    _arrow(ax, 7.4, 0, 7.7, 0)
    _arrow(ax, 8.9, 0, 9.3, 0)
    ax.text(9.35, 0, "(B, T, C)", va="center", fontsize=8)
    ax.text(4.75, (num_heads / 2) * 0.7 + 0.1, "hs = C / nh features per head, "
            "in parallel: (B, nh, T, hs)", ha="center", fontsize=7)  # fmt: skip
    ax.set_xlim(-0.8, 10.2)
    ax.set_ylim(-(num_heads / 2) * 0.7 - 0.2, (num_heads / 2) * 0.7 + 0.4)
    ax.axis("off")
    return fig


@register_figure(
    "attention_encoder_decoder",
    chapter="attention",
    width="page",
    caption="An RNN encoder-decoder with attention: at each output step the decoder state "
    "$h_t$ weighs every encoder state $e_j$ and predicts from the context $c_t$ and $h_t$.",
)
def attention_encoder_decoder(profile: str) -> Figure:
    """Encoder-decoder diagram."""
    return encoder_decoder_diagram()


@register_figure(
    "attention_multihead",
    chapter="attention",
    width="page",
    caption="Multi-head attention: one projection to queries, keys and values, $n_h$ heads of "
    "size $C/n_h$ in parallel, concatenation and an output projection.",
)
def attention_multihead(profile: str) -> Figure:
    """Multi-head attention diagram."""
    return multihead_diagram()
