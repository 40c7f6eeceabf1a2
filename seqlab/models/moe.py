"""A mixture-of-experts feed-forward layer: top-k routing with a load-balancing loss.

``MoEFeedForward`` replaces a Transformer block's position-wise MLP (``FeedForward``) by
``n_expert`` MLPs ("experts") and a router, a Linear(C, n_expert) without bias (Shazeer et al.
2017). Each token x goes to the ``top_k`` experts with the largest router probabilities
p = softmax(W_r x) and the layer returns the gate-weighted sum of their outputs,

    y = sum_{i in TopK(p)} g_i E_i(x),    g_i = p_i / sum_{j in TopK(p)} p_j,

so the gates sum to 1 over the chosen experts (Shazeer et al.'s softmax over the kept top-k
logits is the same thing). With ``top_k = 1`` the gate is 1: the router then learns only from the
balancing loss; the Switch Transformer (Fedus et al. 2022) multiplies by p_i instead.

The load-balancing loss (Fedus et al. 2022, eq. 4, for k = 1; here f_i counts the k choices of
every token) is

    aux = N * sum_i f_i * P_i,

f_i the fraction of the (tokens x k) routing choices that go to expert i, P_i the mean router
probability of expert i over the tokens, N = ``n_expert``. It is 1 when the routing is uniform
and N when every token goes to one expert; f_i carries no gradient, P_i does. The layer keeps
the last call's ``aux_loss`` (a scalar tensor in the graph) and ``load`` (f, detached); the
model multiplies ``aux_loss`` by its coefficient alpha (``GPTConfig.aux_loss_coef``).

Shape letters: B batch, T time, C width (``d_model``), N ``n_expert``, k ``top_k``; "tokens"
are the B*T positions.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from seqlab.checks import check_positive_int, check_sequence
from seqlab.models.transformer import FeedForward

__all__ = ["MoEFeedForward", "load_balancing_loss", "top_k_route"]


def top_k_route(probs: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``top_k`` experts of every token and their gates.

    Inputs: ``probs`` (n_tokens, N) router probabilities (rows sum to 1); ``top_k`` in 1..N.
    Outputs: ``(experts, gates)``, both (n_tokens, k): the chosen experts' indices, largest
    probability first, and their probabilities renormalised to sum to 1 over the k.
    Raises ``ValueError`` for a ``top_k`` outside 1..N.
    """
    n_expert = probs.shape[-1]
    top_k = check_positive_int(top_k, "top_k")
    if top_k > n_expert:
        raise ValueError(f"top_k={top_k} must be at most n_expert={n_expert}")
    top, experts = probs.topk(top_k, dim=-1)  # (n, k)
    return experts, top / top.sum(-1, keepdim=True)


def load_balancing_loss(
    probs: torch.Tensor, experts: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Switch Transformer's auxiliary loss N * sum_i f_i P_i (Fedus et al. 2022, eq. 4).

    Inputs: ``probs`` (n_tokens, N) router probabilities; ``experts`` (n_tokens, k) the chosen
    experts (:func:`top_k_route`). Outputs: ``(aux, f)``: aux a scalar (1 for uniform routing,
    N when one expert takes everything; gradient through P only) and f (N,) the fraction of the
    n_tokens * k choices each expert received (sums to 1).
    """
    n_expert = probs.shape[-1]
    counts = F.one_hot(experts, n_expert).sum(dim=(0, 1)).to(probs.dtype)  # (N,)
    f = counts / experts.numel()
    P = probs.mean(dim=0)  # (N,)
    return n_expert * (f * P).sum(), f


class MoEFeedForward(nn.Module):
    """Top-k mixture of ``FeedForward`` experts: (B, T, C) -> (B, T, C).

    ``MoEFeedForward(d_model, dim_feedforward, n_expert, top_k=1, dropout=0.0, bias=True,
    activation="gelu")``: every expert is ``FeedForward(d_model, dim_feedforward, ...)``; the
    router is ``Linear(d_model, n_expert, bias=False)``. A token runs through k experts, so its
    feed-forward compute is k times one expert's. After a call, ``aux_loss`` (scalar tensor,
    :func:`load_balancing_loss`) and ``load`` ((N,) fraction of choices per expert) describe it.
    Raises ``ValueError`` naming the argument for sizes < 1 or ``top_k > n_expert``.
    Sources: Shazeer et al. 2017 (top-k gating), Fedus et al. 2022 (balancing loss).
    """

    def __init__(
        self,
        d_model: int,
        dim_feedforward: int,
        n_expert: int,
        top_k: int = 1,
        dropout: float = 0.0,
        bias: bool = True,
        activation: str = "gelu",
    ):
        super().__init__()
        self.d_model = check_positive_int(d_model, "d_model")
        self.n_expert = check_positive_int(n_expert, "n_expert")
        self.top_k = check_positive_int(top_k, "top_k")
        if self.top_k > self.n_expert:
            raise ValueError(f"top_k={top_k} must be at most n_expert={n_expert}")
        self.router = nn.Linear(d_model, n_expert, bias=False)
        self.experts = nn.ModuleList(
            FeedForward(d_model, dim_feedforward, dropout, bias, activation)
            for _ in range(n_expert)
        )
        self.aux_loss = torch.zeros(())
        self.load = torch.full((n_expert,), 1.0 / n_expert)

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (n_tokens, C) -> (probs (n_tokens, N), experts (n_tokens, k), gates (n_tokens, k))."""
        probs = F.softmax(self.router(x).float(), dim=-1).to(x.dtype)
        experts, gates = top_k_route(probs, self.top_k)
        return probs, experts, gates

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, self.d_model)
        flat = x.reshape(-1, self.d_model)  # (n, C), n = B*T
        probs, experts, gates = self.route(flat)
        out = torch.zeros_like(flat)
        for i, expert in enumerate(self.experts):
            token, slot = (experts == i).nonzero(as_tuple=True)  # who chose i, as which choice
            if token.numel():
                y = expert(flat[token].unsqueeze(0)).squeeze(0)  # (n_i, C)
                out.index_add_(0, token, (gates[token, slot, None] * y).to(out.dtype))
        self.aux_loss, load = load_balancing_loss(probs, experts)
        self.load = load.detach()
        return out.view_as(x)  # (B, T, C)
