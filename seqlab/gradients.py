"""Gradient flow through time: the measurements behind the vanishing-gradient interactive.

:func:`gradient_flow` unrolls one recurrent cell for T steps and asks autograd for
``||dL/dh_t||`` at every step, where L reads only the last state h_T. Backpropagation multiplies
by the step Jacobian ``diag(f'(a_t)) W_hh`` once per step back in time, so the norm shrinks or
grows roughly like ``|λ_max(W_hh)|^(T-t)`` (:func:`theory_line`; Pascanu, Mikolov & Bengio 2013,
"On the difficulty of training recurrent neural networks"). A linear RNN whose W_hh is rho times
an orthogonal matrix follows that line exactly.

:func:`effective_context` measures the same thing in a trained language model: how much the
prediction at position t depends on the input embedding k steps back.

Shape letters: T time, H hidden, B batch, E embedding, V vocabulary.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from scipy.optimize import curve_fit

from seqlab.checks import check_choice, check_rank

CELLS = ("rnn", "lstm", "gru")
NONLINEARITIES = ("tanh", "relu", "linear")
_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


@functools.lru_cache(maxsize=64)
def _unit_radius_weights(G: int, H: int, matrix: str, seed: int) -> torch.Tensor:
    """G stacked (H, H) float64 blocks, each with spectral radius 1 (cached: rho only rescales,
    so a slider over rho or T never repeats the eigenvalue / QR work)."""
    g = torch.Generator().manual_seed(seed)
    blocks = []
    for _ in range(G):
        w = torch.randn(H, H, generator=g, dtype=torch.float64)
        if matrix == "orthogonal":
            q, r = torch.linalg.qr(w)
            blocks.append(q * torch.sign(torch.diagonal(r)))  # a Haar-random rotation
        else:
            blocks.append(w / torch.linalg.eigvals(w).abs().max())
    return torch.cat(blocks)  # (G·H, H)


def gradient_flow(
    cell: str = "rnn",
    rho: float = 1.0,
    T: int = 100,
    hidden: int = 64,
    nonlinearity: str = "tanh",
    seed: int = 0,
    input_scale: float = 1.0,
    matrix: str = "gaussian",
    forget_bias: float = 1.0,
    dtype: torch.dtype = torch.float32,
) -> np.ndarray:
    """``||dL/dh_t||`` for t = 1..T (array index 0 is t = 1), with ``L = r · h_T``.

    Inputs:
      - ``cell``: "rnn" (``h = f(W_hh h + u_t)``), "lstm" or "gru" (torch.nn's equations).
      - ``rho``: spectral radius of the recurrent matrix. For the RNN, W_hh (H, H) is a random
        Gaussian (or, with ``matrix="orthogonal"``, orthogonal) matrix rescaled so its largest
        |eigenvalue| is rho. For LSTM/GRU, each gate's (H, H) block of W_hh (4H or 3H rows) is
        scaled alike; there rho sets how strongly h_{t-1} drives the gates, while the LSTM's
        cell path ``c_t = f ⊙ c_{t-1} + ...`` carries gradient through the forget gate instead.
      - ``nonlinearity``: "tanh", "relu" or "linear" (RNN only).
      - ``input_scale``: standard deviation of the per-step input ``u_t`` (the term
        ``W_ih x_t + b``, drawn at random); larger inputs saturate tanh and shrink f'.
      - ``forget_bias``: added to the LSTM's forget-gate pre-activation. Default 1.0, the usual
        recommendation (Gers et al. 2000; Jozefowicz et al. 2015); 0 gives f ≈ 0.5 and fast decay.
      - ``seed``: same seed -> same matrix, inputs, readout and result.
      - ``dtype``: float32 (default) or float64. float32 norms above ~3e38 (a linear RNN with
        rho=2 over T > 128) come back as ``inf``; float64 reaches 1e308 but its tiny matrix
        products go through a threaded BLAS that stalls on a busy machine.
    Outputs: float64 array (T,). The readout r is a random unit vector, so the last entry is
    exactly 1 and the curve is directly comparable with :func:`theory_line`.

    Cost: a few tiny ops per step, forward and back; their dispatch dominates. For T=100,
    hidden=64, float32, ``torch.utils.benchmark.Timer`` medians on the 2-core AMD EPYC (Zen 4),
    torch 2.13 CPU, while other jobs kept the load average near 9: rnn 15 ms, lstm 65 ms,
    gru 66 ms (CPU time of the call: 7, 35, 28 ms). Under the 100 ms slider budget even so.
    """
    check_choice(cell, CELLS, "cell")
    check_choice(nonlinearity, NONLINEARITIES, "nonlinearity")
    check_choice(matrix, ("gaussian", "orthogonal"), "matrix")
    if cell != "rnn" and nonlinearity != "tanh":
        raise ValueError(
            f"nonlinearity applies to cell='rnn' only, got {nonlinearity!r} for {cell!r}"
        )
    if not (isinstance(rho, (int, float)) and math.isfinite(rho) and rho >= 0):
        raise ValueError(f"rho must be a finite number >= 0, got {rho!r}")
    for value, name in ((T, "T"), (hidden, "hidden")):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")

    G, H = _GATES[cell], hidden
    W = rho * _unit_radius_weights(G, H, matrix, seed)  # (G·H, H)
    g = torch.Generator().manual_seed(seed + 1)  # inputs and readout
    Wt = W.T.to(dtype).contiguous()  # (H, G·H): h (1, H) @ Wt -> (1, G·H)
    u = input_scale * torch.randn(T, 1, G * H, generator=g, dtype=torch.float64)  # (T, 1, G·H)
    if cell == "lstm":
        u[:, :, H : 2 * H] += forget_bias  # gate order i, f, g, o as in torch.nn.LSTM
    u = u.to(dtype)
    readout = torch.randn(H, 1, generator=g, dtype=torch.float64)
    readout = (readout / readout.norm()).to(dtype)  # (H, 1), unit norm

    h = torch.zeros(1, H, dtype=dtype, requires_grad=True)  # (1, H), the graph's leaf
    c = torch.zeros(1, H, dtype=dtype)
    f = {"tanh": torch.tanh, "relu": torch.relu, "linear": None}[nonlinearity]
    if cell == "gru":  # r and z share one product; n needs h W_hn separately
        W_rz, W_n = Wt[:, : 2 * H].contiguous(), Wt[:, 2 * H :].contiguous()  # (H, 2H), (H, H)
        u_rz, u_n = u[:, :, : 2 * H].contiguous(), u[:, :, 2 * H :].contiguous()
    states = []
    for t in range(T):  # few ops per step: their dispatch, not the arithmetic, is the cost
        if cell == "rnn":
            h = torch.addmm(u[t], h, Wt)  # (1, H) = u_t + h W_hh^T
            h = f(h) if f is not None else h
        elif cell == "lstm":
            i, fg, gg, o = torch.addmm(u[t], h, Wt).chunk(4, dim=1)  # 4 x (1, H)
            c = torch.addcmul(torch.sigmoid(fg) * c, torch.sigmoid(i), torch.tanh(gg))
            h = torch.sigmoid(o) * torch.tanh(c)  # (1, H)
        else:  # gru, reset gate applied after the product (torch.nn.GRU)
            r, z = torch.sigmoid(torch.addmm(u_rz[t], h, W_rz)).chunk(2, dim=1)  # 2 x (1, H)
            n = torch.tanh(torch.addcmul(u_n[t], r, h @ W_n))  # (1, H)
            h = torch.lerp(n, h, z)  # (1 - z) * n + z * h
        states.append(h)
    loss = (states[-1] @ readout).sum()
    grads = torch.autograd.grad(loss, states)  # T x (1, H)
    return torch.stack(grads).flatten(1).double().norm(dim=1).numpy()  # (T,)


def theory_line(rho: float, T: int) -> np.ndarray:
    """``rho^(T-t)`` for t = 1..T: the |λ_max|^k decay of a linear RNN, 1 at the last step."""
    return float(rho) ** np.arange(T - 1, -1, -1, dtype=np.float64)


_EMBEDDING_NAMES = ("wte", "tok_emb", "token_embedding", "embedding")


def _find_embedding(model: torch.nn.Module) -> torch.nn.Module:
    embeddings = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Embedding)]
    for wanted in _EMBEDDING_NAMES:
        for name, module in embeddings:
            if name.split(".")[-1] == wanted:
                return module
    if embeddings:
        return embeddings[0][1]
    raise ValueError("model has no nn.Embedding; pass embedding=<module producing (B, T, E)>")


def effective_context(
    model: torch.nn.Module,
    idx: torch.Tensor,
    t: int = -1,
    target: int | None = None,
    embedding: torch.nn.Module | None = None,
) -> np.ndarray:
    """Gradient saliency ``||d logit_t / d emb_{t-k}||`` for k = 0..t (index k = k steps back).

    Inputs: a language model ``model(idx) -> (logits (B, T, V), ...)``; ``idx`` (T,) or (B, T);
    position ``t`` (negative counts from the end); ``target``: the token whose logit is
    differentiated (default: the model's top prediction at t); ``embedding``: the module whose
    output (B, T, E) counts as "the input" (default: the token embedding, found by the names
    wte / tok_emb / token_embedding / embedding, else the first ``nn.Embedding``).
    Outputs: float array (t+1,), averaged over the batch. A causal model gives no gradient to
    positions after t, so they are not returned. Runs in eval mode; the mode is restored.
    """
    idx = idx.unsqueeze(0) if idx.dim() == 1 else idx
    check_rank(idx, 2, "idx", "(B, T)")
    T = idx.shape[1]
    if not -T <= t < T:
        raise ValueError(f"t={t} is outside a sequence of length T={T}")
    t = t % T
    module = embedding if embedding is not None else _find_embedding(model)
    captured: list[torch.Tensor] = []

    def hook(_module, _inputs, out):
        out = out.detach().requires_grad_(True)  # a fresh leaf: the gradient stops here
        captured.append(out)
        return out

    handle = module.register_forward_hook(hook)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            out = model(idx)
            logits = out[0] if isinstance(out, (tuple, list)) else out  # (B, T, V)
            scores = logits[:, t]  # (B, V)
            chosen = scores.argmax(-1) if target is None else torch.full_like(idx[:, 0], target)
            selected = scores.gather(1, chosen[:, None]).sum()
            (grad,) = torch.autograd.grad(selected, captured[0])  # (B, T, E)
    finally:
        handle.remove()
        model.train(was_training)
    per_position = grad.float().norm(dim=-1).mean(0)  # (T,)
    return per_position[: t + 1].flip(0).cpu().numpy()  # index k = position t - k


def fit_exponential_decay(k: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """Fit ``s ≈ amplitude · exp(-k / decay_length)`` with ``scipy.optimize.curve_fit``.

    Inputs: distances ``k`` and saliencies ``s`` (same length, >= 3 points, s > 0 where used).
    Outputs: ``(amplitude, decay_length)``; the decay length is the "effective context" in steps.
    Starts from a straight-line fit of log s, so the fit is stable.
    """
    k, s = np.asarray(k, dtype=np.float64), np.asarray(s, dtype=np.float64)
    if k.shape != s.shape or k.ndim != 1:
        raise ValueError(f"expected k and s as 1-D arrays of one length, got {k.shape}, {s.shape}")
    keep = np.isfinite(s) & (s > 0) & np.isfinite(k)
    if keep.sum() < 3:
        raise ValueError("need at least 3 finite, positive saliency values to fit a decay")
    slope, intercept = np.polyfit(k[keep], np.log(s[keep]), 1)
    length0 = -1.0 / slope if slope < 0 else float(np.ptp(k[keep]) or 1.0) * 10

    def model(x, amplitude, length):
        return amplitude * np.exp(-x / length)

    (amplitude, length), _ = curve_fit(
        model, k[keep], s[keep], p0=(math.exp(intercept), length0), maxfev=10_000
    )
    return float(amplitude), float(length)
