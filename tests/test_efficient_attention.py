"""Sliding-window and linear attention (seqlab.models.efficient_attention), the GPT options that
use them, and the chapter's cost experiment."""

import math

import pytest
import torch

import seqlab.models.efficient_attention as ea
from seqlab.device import cpu_threads
from seqlab.experiments.efficient_attention import (
    EfficientCostConfig,
    crossover,
    efficient_cost,
)
from seqlab.models import GPT, GPTConfig
from seqlab.models.attention import MultiHeadAttention, scaled_dot_product_attention
from seqlab.models.efficient_attention import (
    LinearAttention,
    SlidingWindowAttention,
    band_mask,
    elu_feature_map,
    linear_attention,
    linear_attention_direct,
    sliding_window_attention,
)


@pytest.fixture(autouse=True)
def _one_thread():
    """Small products: one thread (a second one only waits, and stalls on a busy machine)."""
    with cpu_threads(1):
        yield


def _qkv(T, B=2, nh=3, hs=8, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(B, nh, T, hs, generator=g, dtype=dtype) for _ in range(3))


def test_band_mask():
    m = band_mask(5, 2)
    assert m.tolist()[3] == [False, False, True, True, False]
    assert torch.equal(band_mask(4, 10), torch.ones(4, 4, dtype=torch.bool).tril())


@pytest.mark.parametrize(("T", "w"), [(1, 1), (7, 1), (16, 4), (33, 5), (10, 20), (64, 16)])
def test_sliding_equals_band_masked_full_attention(T, w):
    q, k, v = _qkv(T)
    ref, _ = scaled_dot_product_attention(q, k, v, mask=band_mask(T, w))
    torch.testing.assert_close(sliding_window_attention(q, k, v, w), ref, atol=1e-5, rtol=0)


def test_sliding_gradients_equal_band_masked():
    q, k, v = (t.requires_grad_() for t in _qkv(19, dtype=torch.float64))
    sliding_window_attention(q, k, v, 4).square().sum().backward()
    grads = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    scaled_dot_product_attention(q, k, v, mask=band_mask(19, 4))[0].square().sum().backward()
    for a, t in zip(grads, (q, k, v), strict=True):
        torch.testing.assert_close(a, t.grad, atol=1e-10, rtol=0)


def test_sliding_cost_is_linear_in_T(monkeypatch):
    """The scores of the blocked form are (n, w, 2w): 2 T w numbers, not T^2."""
    q, k, v = _qkv(256, B=1, nh=1)
    seen = []
    softmax = ea.masked_softmax

    def spy(scores, mask):
        seen.append(scores.numel())
        return softmax(scores, mask)

    monkeypatch.setattr(ea, "masked_softmax", spy)
    sliding_window_attention(q, k, v, 8)
    assert seen == [256 * 2 * 8]


def test_linear_attention_equals_direct_form():
    for T, c in [(1, 64), (9, 4), (64, 16), (50, 64)]:
        q, k, v = _qkv(T)
        y, (S, z) = linear_attention(q, k, v, chunk_size=c)
        ref, w = linear_attention_direct(q, k, v)
        torch.testing.assert_close(y, ref, atol=1e-5, rtol=0)
        torch.testing.assert_close(w.sum(-1), torch.ones_like(w.sum(-1)))
        fk = elu_feature_map(k)
        torch.testing.assert_close(S, fk.transpose(-2, -1) @ v, atol=1e-4, rtol=0)
        torch.testing.assert_close(z, fk.sum(2), atol=1e-4, rtol=0)


def test_linear_attention_state_continues_the_text():
    q, k, v = _qkv(20)
    ref, _ = linear_attention_direct(q, k, v)
    y1, state = linear_attention(q[:, :, :7], k[:, :, :7], v[:, :, :7], 4)
    y2, _ = linear_attention(q[:, :, 7:], k[:, :, 7:], v[:, :, 7:], 4, state=state)
    torch.testing.assert_close(torch.cat([y1, y2], 2), ref, atol=1e-5, rtol=0)


def test_modules_share_parameters_with_multihead_attention():
    x = torch.randn(2, 12, 16)
    mha = MultiHeadAttention(16, 4)
    for module in (SlidingWindowAttention(16, 4, window=12), LinearAttention(16, 4)):
        module.load_state_dict(mha.state_dict())
        out, w = module(x, need_weights=True)
        fast, none = module(x)
        assert none is None and w.shape == (2, 4, 12, 12)
        torch.testing.assert_close(out, fast, atol=1e-5, rtol=0)
    # a window as long as the text is full causal attention
    sw = SlidingWindowAttention(16, 4, 12)
    sw.load_state_dict(mha.state_dict())
    torch.testing.assert_close(sw(x)[0], mha(x, causal=True)[0], atol=1e-5, rtol=0)


def test_bad_input():
    q, k, v = _qkv(8)
    with pytest.raises(ValueError, match="window"):
        sliding_window_attention(q, k, v, 0)
    with pytest.raises(ValueError, match="chunk_size"):
        linear_attention(q, k, v, chunk_size=0)
    with pytest.raises(ValueError, match="causal self-attention"):
        SlidingWindowAttention(16, 4, 2)(torch.randn(1, 3, 16), causal=False)
    with pytest.raises(ValueError, match="causal self-attention"):
        LinearAttention(16, 4)(torch.randn(1, 3, 16), torch.randn(1, 3, 16))
    with pytest.raises(ValueError, match="q, k"):
        sliding_window_attention(q, k[:, :, :4], v, 2)
    for kw, match in [
        (dict(attention="sliding"), "needs a window"),
        (dict(attention="sliding", window=0), "window"),
        (dict(attention="full", window=4), "only used by attention='sliding'"),
        (dict(attention="flash"), "attention"),
    ]:
        with pytest.raises(ValueError, match=match):
            GPTConfig(vocab_size=5, **kw)


@pytest.mark.parametrize("attention", ["sliding", "linear"])
def test_gpt_with_efficient_attention_trains(attention):
    torch.manual_seed(0)
    window = 4 if attention == "sliding" else None
    cfg = GPTConfig(vocab_size=7, block_size=16, n_layer=1, n_head=2, n_embd=16,
                    attention=attention, window=window)  # fmt: skip
    model = GPT(cfg)
    assert type(model.blocks[0].attn).__name__.lower().startswith(attention[:3])
    idx = torch.randint(0, 7, (4, 16))
    _, loss = model(idx, idx)
    loss.backward()
    assert math.isfinite(loss.item())
    assert all(p.grad is not None for p in model.parameters())
    maps = model.attention_maps(idx)
    assert maps[0].shape == (4, 2, 16, 16)
    assert torch.all(maps[0].triu(1) == 0)  # causal
    if attention == "sliding":
        assert torch.all(maps[0].tril(-4) == 0)  # nothing beyond the window


def test_crossover_from_measurements():
    x = [64, 128, 256, 512]
    assert crossover(x, [4, 4, 4, 4], [1, 2, 8, 16]) == pytest.approx(128 * math.sqrt(2))
    assert crossover(x, [1, 1, 1, 1], [2, 2, 2, 2]) is None
    assert crossover(x, [1, 2, float("nan"), 8], [2, 2, 2, 2]) == pytest.approx(128)


def test_efficient_cost_smoke():
    cfg = EfficientCostConfig(lengths=(16, 64), rounds=1, repeats=1, window=8)
    r = efficient_cost(cfg, cache=False, progress=False)
    assert set(r.summary["kind"]) == {"full", "explicit", "sliding", "linear"}
    assert (r.summary["time_s"] > 0).all()
    assert len(r.crossings) == 8
