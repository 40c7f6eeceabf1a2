"""The key/value cache, drawn by code (matplotlib), beside the LSTM's state.

:func:`kv_cache_diagram` shows decoding step t of one attention layer
(``seqlab.models.kv_cache``): the keys and values of the earlier tokens come from the cache,
only the new token's q, k, v are computed, and the new k, v are appended; on the right the
LSTM carries a state of fixed size from step to step. Registered as ``kv_cache``.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from seqlab.viz.attention_diagrams import _arrow, _box
from seqlab.viz.export import register_figure
from seqlab.viz.style import PALETTE

__all__ = ["kv_cache_diagram"]


def kv_cache_diagram(text: str = "To be, ") -> Figure:
    """Decoding the last character of ``text`` with a KV cache (left) and with an LSTM
    (right). Grey: read from the cache; colour: computed at this step."""
    fig = Figure(figsize=(6.9, 3.0))
    ax = fig.add_subplot()
    tokens = list(text.replace(" ", "␣"))
    t = len(tokens)
    old, new = PALETTE[7], PALETTE[1]
    for j, ch in enumerate(tokens):
        x = j * 0.75
        fresh = j == t - 1
        color = new if fresh else old
        ax.text(x, -0.05, ch, ha="center", va="center", fontsize=9,
                color=new if fresh else "black")  # fmt: skip
        _box(ax, x, 0.85, 0.6, 0.45, f"$k_{{{j + 1}}}$", color, fontsize=7,
             alpha=0.35 if fresh else 0.15)  # fmt: skip
        _box(ax, x, 1.5, 0.6, 0.45, f"$v_{{{j + 1}}}$", color, fontsize=7,
             alpha=0.35 if fresh else 0.15)  # fmt: skip
    xt = (t - 1) * 0.75
    _arrow(ax, xt, 0.15, xt, 0.6, color=new)
    _box(ax, xt + 1.2, 0.85, 0.6, 0.45, f"$q_{{{t}}}$", new, fontsize=7, alpha=0.35)
    _arrow(ax, xt + 0.1, 0.15, xt + 1.1, 0.6, color=new)
    _box(ax, xt + 1.2, 2.45, 1.5, 0.5, f"$y_{{{t}}} = \\sum_j a_{{{t}j}} v_j$", new, 7, 0.35)
    for j in range(t):
        _arrow(ax, j * 0.75, 1.75, xt + 0.8, 2.2, color=PALETTE[0], lw=0.5, alpha=0.6)
    _arrow(ax, xt + 1.2, 1.1, xt + 1.2, 2.2, color=new)
    ax.text(xt + 2.0, 1.75, f"$a_{{{t}j}} = \\mathrm{{softmax}}_j(q_{{{t}}} \\cdot k_j / \\sqrt{{hs}})$",
            fontsize=6.5, va="center")  # fmt: skip
    ax.text(-0.4, -0.6, "grey, left: the cache, K and V of tokens 1..t-1 (computed at earlier steps, read now)",
            fontsize=7, color="dimgray", va="center")  # fmt: skip
    ax.text(-0.4, 2.85, "one K, V pair per layer and head; in all,\n2·L·T·C numbers per sequence (L layers)",
            fontsize=7, va="center")  # fmt: skip
    # the LSTM: a fixed-size state
    x0 = xt + 4.4
    _box(ax, x0, 1.2, 1.0, 0.6, "$h_{t-1}, c_{t-1}$", old, fontsize=7)
    _box(ax, x0 + 1.6, 1.2, 0.9, 0.6, "LSTM cell", new, fontsize=7, alpha=0.35)
    _box(ax, x0 + 3.1, 1.2, 0.8, 0.6, "$h_t, c_t$", new, fontsize=7, alpha=0.35)
    _arrow(ax, x0 + 0.5, 1.2, x0 + 1.15, 1.2)
    _arrow(ax, x0 + 2.05, 1.2, x0 + 2.7, 1.2)
    ax.text(x0 + 1.6, -0.05, tokens[-1], ha="center", va="center", fontsize=9, color=new)
    _arrow(ax, x0 + 1.6, 0.15, x0 + 1.6, 0.9, color=new)
    ax.text(x0 + 1.6, 2.3, "LSTM: the whole past in a state\nof 2·H numbers, whatever t",
            ha="center", fontsize=7, va="center")  # fmt: skip
    ax.set_xlim(-0.6, x0 + 3.7)
    ax.set_ylim(-0.8, 3.1)
    ax.axis("off")
    return fig


@register_figure(
    "kv_cache",
    chapter="cost",
    width="page",
    caption="Decoding step $t$. Left: a Transformer layer with a key/value cache computes "
    "$q_t, k_t, v_t$ for the new token only, appends $k_t, v_t$ to the cache and attends over "
    "all $t$ keys. Right: an LSTM updates a state of fixed size.",
)
def kv_cache(profile: str) -> Figure:
    """KV-cache diagram."""
    return kv_cache_diagram()
