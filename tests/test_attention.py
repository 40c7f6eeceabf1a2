"""Attention: reference vs fused kernels, vs nn.MultiheadAttention, masks, errors."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.testing import assert_close

from seqlab.models.attention import (
    AdditiveAttention,
    DotAttention,
    GeneralAttention,
    MultiHeadAttention,
    masked_softmax,
    scaled_dot_product_attention,
)

D = torch.float64
TOL = dict(atol=1e-5, rtol=1e-5)


def _qkv(B=2, nh=3, Tq=5, Tk=5, hs=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, nh, T, hs, generator=g, dtype=D) for T in (Tq, Tk, Tk))


# ----------------------------------------------------------------------------- reference sdpa


def test_reference_sdpa_matches_torch_plain_and_causal():
    q, k, v = _qkv()
    for causal in (False, True):
        out, w = scaled_dot_product_attention(q, k, v, causal=causal)
        assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=causal), **TOL)
        assert_close(w.sum(-1), torch.ones_like(w.sum(-1)))
    _, w = scaled_dot_product_attention(q, k, v, causal=True)
    assert (w.triu(diagonal=1) == 0).all()


def test_reference_sdpa_matches_torch_padding_and_causal_rectangular():
    q, k, v = _qkv(Tq=4, Tk=6)
    pad = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])[:, None, None, :]  # (B, 1, 1, Tk)
    out, w = scaled_dot_product_attention(q, k, v, mask=pad)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=pad), **TOL)
    assert (w[1, :, :, 3:] == 0).all()
    tri = torch.ones(4, 6, dtype=torch.bool).tril()  # top-left aligned, as torch's is_causal
    out, _ = scaled_dot_product_attention(q, k, v, mask=pad, causal=True)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=pad & tri), **TOL)


def test_fully_masked_rows_give_zeros_not_nan_with_clean_grads():
    q, k, v = _qkv(B=1, nh=1, Tq=3, Tk=3)
    q.requires_grad_(True)
    mask = torch.tensor([[True, False, False], [False, False, False], [True, True, True]])
    out, w = scaled_dot_product_attention(q, k, v, mask=mask)
    assert torch.isfinite(out).all() and torch.isfinite(w).all()
    assert (out[0, 0, 1] == 0).all() and (w[0, 0, 1] == 0).all()
    out.sum().backward()
    assert torch.isfinite(q.grad).all()
    scores = torch.zeros(2, 3)
    assert (masked_softmax(scores, torch.zeros(2, 3, dtype=torch.bool)) == 0).all()


def test_reference_sdpa_errors():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match=r"expected q of shape \(B, nh, T, hs\)"):
        scaled_dot_product_attention(q[0], k, v)
    with pytest.raises(ValueError, match="got q"):
        scaled_dot_product_attention(q, k[..., :2], v)
    with pytest.raises(ValueError, match="bool tensor"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(5, 5))
    with pytest.raises(ValueError, match="sequence length 0"):
        scaled_dot_product_attention(q, k[:, :, :0], v[:, :, :0])


# ----------------------------------------------------------------------------- multi-head


def _mha(C=12, nh=3, bias=True, seed=0):
    torch.manual_seed(seed)
    return MultiHeadAttention(C, nh, bias=bias).to(D)


def test_mha_fused_equals_explicit_with_masks():
    mha = _mha()
    x = torch.randn(2, 5, 12, dtype=D)
    mem = torch.randn(2, 7, 12, dtype=D)
    pad = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])  # (B, Tk)
    cases = [
        dict(x_q=x),
        dict(x_q=x, causal=True),
        dict(x_q=x, x_kv=mem, mask=pad),
        dict(x_q=x, x_kv=mem, mask=pad, causal=True),
        dict(x_q=x, mask=torch.ones(2, 5, 5, dtype=torch.bool).tril()),
    ]
    for kw in cases:
        fused, none = mha(**kw)
        explicit, w = mha(**kw, need_weights=True)
        assert none is None and w.shape == (2, 3, 5, kw.get("x_kv", x).shape[1])
        assert_close(fused, explicit, **TOL)


def test_mha_fully_masked_rows_zero_on_both_paths():
    mha = _mha()
    x = torch.randn(1, 3, 12, dtype=D, requires_grad=True)
    mask = torch.tensor([[[True, False, False], [False, False, False], [True, True, True]]])
    fused, _ = mha(x, mask=mask)
    explicit, w = mha(x, mask=mask, need_weights=True)
    assert_close(fused, explicit, **TOL)
    assert (w[0, :, 1] == 0).all() and torch.isfinite(fused).all()
    fused.sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("cross", [False, True])
def test_mha_equals_nn_multiheadattention(bias, cross):
    mha = _mha(bias=bias)
    ref = nn.MultiheadAttention(12, 3, bias=bias, batch_first=True).to(D)
    with torch.no_grad():
        ref.in_proj_weight.copy_(mha.qkv.weight)  # rows [W_q; W_k; W_v] in both
        ref.out_proj.weight.copy_(mha.proj.weight)
        if bias:
            ref.in_proj_bias.copy_(mha.qkv.bias)
            ref.out_proj.bias.copy_(mha.proj.bias)
    x = torch.randn(2, 5, 12, dtype=D)
    kv = torch.randn(2, 6, 12, dtype=D) if cross else x
    pad = torch.tensor([[True] * kv.shape[1], [True] * 3 + [False] * (kv.shape[1] - 3)])
    expected, w_ref = ref(x, kv, kv, key_padding_mask=~pad, average_attn_weights=False)
    out, w = mha(x, kv if cross else None, mask=pad, need_weights=True)
    assert_close(out, expected, **TOL)
    assert_close(w, w_ref, **TOL)
    assert_close(mha(x, kv if cross else None, mask=pad)[0], expected, **TOL)
    if not cross:  # causal: nn.MultiheadAttention's float mask -inf above the diagonal
        tri = nn.Transformer.generate_square_subsequent_mask(5, dtype=D)
        expected, _ = ref(x, x, x, attn_mask=tri, need_weights=False)
        assert_close(mha(x, causal=True)[0], expected, **TOL)


def test_mha_causal_never_leaks_future():
    mha = _mha()
    x = torch.randn(2, 8, 12, dtype=D)
    for need_weights in (False, True):
        y = mha(x, causal=True, need_weights=need_weights)[0]
        x2 = x.clone()
        x2[:, 5] += 10.0  # perturb token 5: outputs 0..4 must not move
        y2 = mha(x2, causal=True, need_weights=need_weights)[0]
        assert torch.equal(y[:, :5], y2[:, :5])
        assert not torch.allclose(y[:, 5:], y2[:, 5:])


def test_mha_errors():
    with pytest.raises(ValueError, match=r"embed_dim=10 must be a multiple of num_heads=3"):
        MultiHeadAttention(10, 3)
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"expected x_q of shape \(B, Tq, C=8\)"):
        mha(torch.randn(5, 8))
    with pytest.raises(ValueError, match=r"size 8 in dim 2"):
        mha(torch.randn(2, 5, 6))
    with pytest.raises(ValueError, match="sequence length 0"):
        mha(torch.randn(2, 0, 8))
    with pytest.raises(ValueError, match=r"x_kv"):
        mha(torch.randn(2, 5, 8), torch.randn(3, 4, 8))
    with pytest.raises(ValueError, match=r"Tk=5"):
        mha(torch.randn(2, 5, 8), mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool tensor"):
        mha(torch.randn(2, 5, 8), mask=torch.ones(2, 5))


# ----------------------------------------------------------------------------- Bahdanau / Luong


def test_additive_attention_matches_formula_and_masks():
    torch.manual_seed(0)
    att = AdditiveAttention(query_size=3, key_size=4, hidden_size=5).to(D)
    q, keys = torch.randn(2, 3, dtype=D), torch.randn(2, 6, 4, dtype=D)
    mask = torch.tensor([[True] * 6, [True] * 2 + [False] * 4])
    ctx, w = att(q, keys, mask=mask)
    assert ctx.shape == (2, 4) and w.shape == (2, 6)
    assert_close(w.sum(-1), torch.ones(2, dtype=D))
    assert (w[1, 2:] == 0).all()
    # by hand for example 0: e_j = v . tanh(W_q q + W_k k_j + b)
    e = torch.stack(
        [att.v.weight[0] @ torch.tanh(att.W_q(q[0]) + att.W_k(keys[0, j])) for j in range(6)]
    )
    assert_close(w[0], torch.softmax(e, 0), **TOL)
    assert_close(ctx[0], w[0] @ keys[0], **TOL)
    ctx3, w3 = att(q[:, None].expand(2, 4, 3), keys, mask=mask)  # (B, Tq, Hq) queries
    assert ctx3.shape == (2, 4, 4) and w3.shape == (2, 4, 6)
    assert_close(w3[:, 0], w, **TOL)


def test_luong_dot_and_general():
    torch.manual_seed(0)
    q, keys = torch.randn(2, 5, 4, dtype=D), torch.randn(2, 7, 4, dtype=D)
    ctx, w = DotAttention()(q, keys)
    assert_close(w, torch.softmax(q @ keys.transpose(1, 2), -1), **TOL)
    _, ws = DotAttention(scaled=True)(q, keys)
    assert_close(ws, torch.softmax(q @ keys.transpose(1, 2) / math.sqrt(4), -1), **TOL)
    gen = GeneralAttention(query_size=4, key_size=4).to(D)
    with torch.no_grad():
        gen.W.weight.copy_(torch.eye(4))  # general with W = I is dot
    assert_close(gen(q, keys)[0], ctx, **TOL)
    values = torch.randn(2, 7, 3, dtype=D)
    assert GeneralAttention(4, 4).to(D)(q, keys, values)[0].shape == (2, 5, 3)


def test_alignment_errors():
    att = DotAttention()
    with pytest.raises(ValueError, match=r"Hq=3 and Hk=4"):
        att(torch.randn(2, 3), torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match=r"expected keys of shape \(B, Tk, Hk\)"):
        att(torch.randn(2, 4), torch.randn(5, 4))
    with pytest.raises(ValueError, match="sequence length 0"):
        att(torch.randn(2, 4), torch.randn(2, 0, 4))
    with pytest.raises(ValueError, match=r"expected mask of shape \(B, Tk\)"):
        att(torch.randn(2, 4), torch.randn(2, 5, 4), mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="batch sizes differ"):
        att(torch.randn(3, 4), torch.randn(2, 5, 4))


def test_mha_under_cpu_bf16_autocast_close_to_fp32():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4)
    x = torch.randn(2, 6, 16, requires_grad=True)
    ref, _ = mha(x, causal=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = mha(x, causal=True)  # attention core runs in fp32 on CPU (see _fused_sdpa)
    assert out.dtype == torch.bfloat16
    assert_close(out.float(), ref, atol=3e-2, rtol=3e-2)
    out.float().sum().backward()
    assert torch.isfinite(x.grad).all()
