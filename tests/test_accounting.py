"""Parameter and FLOP accounting, checked against torch.utils.flop_counter.FlopCounterMode."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from seqlab.models import (
    GPT,
    LSTM,
    GPTConfig,
    MultiHeadAttention,
    TransformerBlock,
    build_lm,
    count_params,
    flops_per_token,
    make_recurrent,
    matmul_params,
)

V = 37


def measured_per_token(model: nn.Module, idx: torch.Tensor, training: bool) -> float:
    """FLOPs FlopCounterMode counts for one forward (and backward) pass, per token of idx."""
    with FlopCounterMode(display=False) as counter:
        logits, _ = model(idx)
        if training:
            logits.sum().backward()
    return counter.get_total_flops() / idx.numel()


def explicit_attention(model: GPT) -> GPT:
    """The written-out attention path: FlopCounterMode has no formula for the fused CPU kernel."""
    for block in model.blocks:
        block.attn.fused = False
    return model


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize(
    "n_layer,n_head,n_embd,block_size,T",
    [(1, 2, 16, 8, 8), (2, 4, 32, 64, 16), (3, 4, 48, 64, 64)],
)
def test_gpt_flops_equal_flop_counter(n_layer, n_head, n_embd, block_size, T, training):
    torch.manual_seed(0)
    cfg = GPTConfig(V, block_size, n_layer, n_head, n_embd)
    model = explicit_attention(GPT(cfg))
    idx = torch.randint(0, V, (2, T))
    predicted = flops_per_token(model, training=training, T=T)
    # tolerance 0: the formula counts exactly the matmuls the counter sees
    assert measured_per_token(model, idx, training) == predicted
    assert model.flops_per_token(training=training, T=T) == predicted
    C, L = n_embd, n_layer
    assert predicted == (3 if training else 1) * (2 * (12 * L * C * C + V * C) + 4 * L * T * C)


@pytest.mark.filterwarnings("ignore:TF32 acceleration")
@pytest.mark.parametrize(
    "cell,impl,options",
    [
        ("rnn", "fused", {}),
        ("gru", "fused", {}),
        ("lstm", "fused", {}),
        ("rnn", "scratch", {"nonlinearity": "relu"}),
        ("gru", "scratch", {"reset": "before"}),
        ("lstm", "scratch", {"peephole": True}),
        ("lstm", "fused", {"proj_size": 5}),
        ("lstm", "scratch", {"proj_size": 5}),
    ],
)
def test_recurrent_lm_flops_equal_flop_counter(cell, impl, options):
    torch.manual_seed(0)
    L, H, T, B = 2, 12, 12, 2
    model = build_lm(cell, V, n_embd=16, hidden_size=H, n_layer=L, impl=impl, cell_options=options)
    idx = torch.randint(0, V, (B, T))
    with torch.backends.mkldnn.flags(enabled=False):  # oneDNN's CPU LSTM hides its matmuls
        forward = measured_per_token(model, idx, training=False)
        training = measured_per_token(model, idx, training=True)
    assert forward == flops_per_token(model, training=False)
    # In training the counter sees less, per layer, by the gradient with respect to the zero
    # initial state h_0 (W_hh^T dL/da_0), which autograd does not compute. Exactly, per token,
    # for the G gate blocks of W_hh that read h_0 itself (reset="before": W_hn reads r * h_0,
    # which depends on x, so its gradient is computed):
    G = {"rnn": 1, "gru": 3, "lstm": 4}[cell] - (options.get("reset") == "before")
    P = options.get("proj_size", H)
    h0_grad = 2 * L * G * H * P / T
    assert training == flops_per_token(model) - h0_grad
    assert h0_grad / flops_per_token(model) < 1 / (3 * T)  # the stated bound


def test_count_params_and_non_embedding():
    cfg = GPTConfig(V, block_size=16, n_layer=2, n_head=2, n_embd=8)
    model = GPT(cfg)
    C, L, T = 8, 2, 16
    body = L * (12 * C * C + 13 * C) + 2 * C  # attn + ffn weights and biases + 2 LN, ln_f
    assert count_params(model) == sum(p.numel() for p in model.parameters())  # tied once
    assert count_params(model) == V * C + T * C + body
    assert count_params(model, non_embedding=True) == body
    assert matmul_params(model) == L * 12 * C * C + V * C  # the tied lm_head does a matmul
    sinus = GPT(GPTConfig(V, block_size=16, n_layer=2, n_head=2, n_embd=8, pos="sinusoidal"))
    assert count_params(sinus) == V * C + body  # the fixed table is a buffer
    lm = build_lm("lstm", V, n_embd=6, hidden_size=5)
    assert count_params(lm, non_embedding=True) == count_params(lm) - V * 6


def test_matmul_params_skips_peepholes_and_counts_projections():
    plain, peep = LSTM(4, 6), LSTM(4, 6, peephole=True)
    assert matmul_params(peep) == matmul_params(plain) == 24 * 4 + 24 * 6
    assert count_params(peep) == count_params(plain) + 3 * 6
    proj = make_recurrent("lstm", 4, 6, impl="fused", proj_size=2)
    assert matmul_params(proj) == 24 * 4 + 24 * 2 + 2 * 6


def test_flops_need_a_context_for_attention():
    block = TransformerBlock(16, 2)
    with pytest.raises(ValueError, match="pass T, the context length"):
        flops_per_token(block)
    assert flops_per_token(block, training=False, T=10) == 2 * 12 * 16 * 16 + 4 * 10 * 16
    assert flops_per_token(MultiHeadAttention(8, 2), T=3) == 3 * (2 * 4 * 8 * 8 + 4 * 3 * 8)
    with pytest.raises(ValueError, match="T must be a positive int, got 0"):
        flops_per_token(block, T=0)
    with pytest.raises(ValueError, match="training must be True or False, got 1"):
        flops_per_token(block, training=1, T=4)


@pytest.mark.parametrize(
    "attention,window,T,training",
    [("sliding", 4, 16, False), ("sliding", 4, 16, True), ("sliding", 32, 16, True),
     ("linear", None, 16, False), ("linear", None, 128, True)],
)  # fmt: skip
def test_efficient_attention_flops_equal_flop_counter(attention, window, T, training):
    torch.manual_seed(0)
    C, L, nh = 16, 2, 4
    cfg = GPTConfig(V, 128, L, nh, C, attention=attention, window=window)
    model = GPT(cfg)
    idx = torch.randint(0, V, (2, T))
    predicted = flops_per_token(model, training=training, T=T)
    assert measured_per_token(model, idx, training) == predicted  # exactly the kernels' matmuls
    if attention == "sliding":  # each query meets 2 min(w, T) keys of two blocks
        attn = 4 * 2 * min(window, T) * C
    else:  # chunk c = min(64, T): 4 c C inside, 4 C hs across chunks, 2 C for the normaliser
        attn = 4 * min(64, T) * C + 4 * C * (C // nh) + 2 * C
    assert predicted == (3 if training else 1) * (2 * (12 * L * C * C + V * C) + L * attn)
    full = flops_per_token(GPT(GPTConfig(V, 128, L, nh, C)), training=training, T=T)
    assert (predicted < full) == (attention == "sliding" and 2 * window < T or T > 64)


def test_efficient_attention_flops_round_padded_blocks():
    model = GPT(GPTConfig(V, 64, 1, 2, 8, attention="sliding", window=4))
    T, w, C = 10, 4, 8  # 3 blocks of 4 queries, the last padded
    assert (
        flops_per_token(model, training=False, T=T) - flops_per_token(model, training=False, T=8)
        == round(4 * 2 * w * C * 12 / T) - 4 * 2 * w * C
    )


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("n_expert,top_k", [(4, 1), (4, 2)])
def test_moe_gpt_counts_active_experts_and_router(n_expert, top_k, training):
    """Every token runs through its router and top_k experts: the counter sees exactly those
    products, whatever the routing; the idle experts' weights cost nothing."""
    torch.manual_seed(0)
    L, C, T = 2, 16, 8
    cfg = GPTConfig(V, T, L, 2, C, n_expert=n_expert, top_k=top_k)
    model = explicit_attention(GPT(cfg))
    idx = torch.randint(0, V, (2, T))
    predicted = flops_per_token(model, training=training, T=T)
    assert measured_per_token(model, idx, training) == predicted
    F = 4 * C // top_k  # each expert's width: k experts cost one dense MLP
    by_hand = 2 * (L * (4 * C * C + top_k * 2 * C * F + C * n_expert) + V * C) + 4 * L * T * C
    assert predicted == (3 if training else 1) * by_hand
    dense = GPT(GPTConfig(V, T, L, 2, C))
    assert matmul_params(model) == matmul_params(dense) + L * C * n_expert  # + the routers
