"""Chapter 5 (the Transformer): positional-encoding properties, the block against its torch
twins, causal masking, and the positions / stability experiments at tiny sizes."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
from torch.testing import assert_close

from seqlab.experiments.positional import (
    ExtrapolationConfig,
    extrapolation,
    frequencies,
    offset_dots,
    pe_properties,
    pe_state,
    sinusoid_table,
)
from seqlab.experiments.results import Result
from seqlab.experiments.stability import (
    StabilityConfig,
    init_grad_norms,
    stability,
    stability_verdicts,
)
from seqlab.models.gpt import GPT, GPTConfig
from seqlab.models.transformer import TransformerBlock, sinusoidal_positional_encoding
from seqlab.models.twins import torch_twin
from seqlab.train import TrainConfig, train

D = torch.float64
TOL = dict(atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------- positions


def test_table_is_the_models_encoding():
    for d in (8, 7):
        assert_close(sinusoid_table(20, d), sinusoidal_positional_encoding(20, d, dtype=D))


@pytest.mark.parametrize("formula", ["vaswani", "misprint"])
def test_dot_of_positions_depends_on_the_offset_only(formula):
    """PE(p).PE(p+k) = sum_i cos(k w_i) for every p: spread over p at float precision."""
    T, C = 200, 32
    d64 = offset_dots(sinusoid_table(T, C, formula, D), 50)
    w = frequencies(C, formula)
    closed = torch.cos(torch.arange(51, dtype=D)[:, None] * w).sum(1).numpy()
    np.testing.assert_allclose(d64["mean"], closed, atol=1e-9)
    assert d64["spread"].max() < 1e-9
    d32 = offset_dots(sinusoid_table(T, C, formula, torch.float32), 50)
    assert d32["spread"].max() < 1e-4


def test_misprint_loses_position_and_neighbourhood():
    props = pe_properties(T=256, d_model=64, max_k=64)
    assert props.loc["misprint", "constant_dims"] == 2  # the i = 0 pair: sin 0, cos 0
    assert props.loc["vaswani", "constant_dims"] == 0
    assert props.loc["vaswani", "rank_corr"] < -0.5  # further apart = less alike
    assert abs(props.loc["misprint", "rank_corr"]) < 0.3
    assert props.loc["vaswani", "dot_k1"] > 0.9 > 0.2 > props.loc["misprint", "dot_k1"]


def test_pe_state_is_fast_and_errors_name_the_argument():
    seconds = []
    for _ in range(3):  # the best of three: a busy machine must not fail the test
        start = time.perf_counter()
        data = pe_state("misprint", 128, 64)
        seconds.append(time.perf_counter() - start)
    assert min(seconds) < 0.1  # a slider update
    assert data["pe"].shape == (64, 128) and len(data["dots"]) == 49
    with pytest.raises(ValueError, match="formula"):
        sinusoid_table(4, 8, "rope")
    with pytest.raises(ValueError, match="max_k"):
        offset_dots(sinusoid_table(4, 8), 4)
    with pytest.raises(ValueError, match="eval_len"):
        ExtrapolationConfig(train_len=32, eval_len=16)


def test_learned_positions_beyond_the_trained_length_stay_untrained():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=7, block_size=16, n_layer=1, n_head=2, n_embd=8))
    before = model.wpe.weight.detach().clone()
    g = torch.Generator().manual_seed(0)
    cfg = TrainConfig(max_iters=5, learning_rate=1e-2, progress=False)
    train(model, lambda it: (torch.randint(0, 7, (4, 8), generator=g),) * 2, cfg)
    assert torch.equal(model.wpe.weight[8:], before[8:])
    assert not torch.equal(model.wpe.weight[:8], before[:8])


def test_extrapolation_tiny():
    c = ExtrapolationConfig(seeds=(0,), n_embd=16, train_len=8, eval_len=16, batch_size=4,
                            max_iters=3, warmup_iters=1, eval_windows=4, band=8)  # fmt: skip
    r = extrapolation(c, cache=False, progress=False)
    assert len(r.per_position) == 2 * 16 and set(r.bands["inside"]) == {True, False}
    assert set(r.steps.values()) == {3}


# ----------------------------------------------------------------------------- the block


def _block(norm_first: bool, cross: bool) -> TransformerBlock:
    torch.manual_seed(0)
    block = TransformerBlock(16, 4, 24, norm_first=norm_first, cross=cross).to(D)
    with torch.no_grad():  # non-trivial LayerNorm parameters
        for ln in (block.ln1, block.ln2, block.ln_cross):
            if ln is not None:
                ln.weight.uniform_(0.5, 1.5)
                ln.bias.uniform_(-0.5, 0.5)
    return block


@pytest.mark.parametrize("norm_first", [True, False])
def test_torch_twin_encoder_layer(norm_first):
    block = _block(norm_first, cross=False)
    ref = torch_twin(block)
    assert isinstance(ref, nn.TransformerEncoderLayer)
    x = torch.randn(2, 7, 16, dtype=D)
    tri = nn.Transformer.generate_square_subsequent_mask(7, dtype=D)
    assert_close(block(x), ref(x), **TOL)
    assert_close(block(x, causal=True), ref(x, src_mask=tri, is_causal=True), **TOL)


@pytest.mark.parametrize("norm_first", [True, False])
def test_torch_twin_decoder_layer(norm_first):
    block = _block(norm_first, cross=True)
    ref = torch_twin(block)
    assert isinstance(ref, nn.TransformerDecoderLayer)
    x, mem = torch.randn(2, 5, 16, dtype=D), torch.randn(2, 7, 16, dtype=D)
    keep = torch.ones(2, 7, dtype=torch.bool)
    keep[1, 4:] = False  # padding in the source: True = keep (ours), True = ignore (torch)
    tri = nn.Transformer.generate_square_subsequent_mask(5, dtype=D)
    ours = block(x, mem, memory_mask=keep, causal=True)
    theirs = ref(x, mem, tgt_mask=tri, tgt_is_causal=True, memory_key_padding_mask=~keep)
    assert_close(ours, theirs, **TOL)
    with pytest.raises(TypeError, match="TransformerBlock"):
        torch_twin(ref)


@pytest.mark.parametrize("norm_first", [True, False])
def test_causal_block_never_reads_the_future(norm_first):
    block = _block(norm_first, cross=False)
    x = torch.randn(2, 9, 16, dtype=D)
    x2 = x.clone()
    x2[:, 6:] = torch.randn(2, 3, 16, dtype=D)  # change the future from position 6 on
    y, y2 = block(x, causal=True), block(x2, causal=True)
    assert torch.equal(y[:, :6], y2[:, :6])
    assert not torch.allclose(y[:, 6:], y2[:, 6:])
    assert not torch.allclose(block(x)[:, :6], block(x2)[:, :6])  # without the mask it would


# ----------------------------------------------------------------------------- stability


def test_init_grad_norms_one_row_per_block():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=3, n_head=2, n_embd=8))
    x = torch.randint(0, 7, (2, 8))
    g = init_grad_norms(model, [(x, x)])
    assert list(g["layer"]) == [1, 2, 3] and (g["grad_norm"] > 0).all()
    assert all(p.grad is None for p in model.parameters())


def test_stability_tiny_grid():
    c = StabilityConfig(depths=(1,), warmups=(0, 2), seeds=(0,), n_embd=8, block_size=8,
                        batch_size=4, max_iters=3, eval_iters=1, grad_batches=1)  # fmt: skip
    r = stability(c, cache=False, progress=False)
    assert len(r.runs) == 4 and set(r.runs["steps"]) == {3}
    assert not r.runs["diverged"].any() and r.runs["val_loss"].notna().all()
    assert len(r.grads) == 4 and set(r.grads["init"]) == {"gpt2", "xavier"}
    assert 2.5 < r.unigram < 4.5
    with pytest.raises(ValueError, match="warmups"):
        StabilityConfig(warmups=(0, 500), max_iters=100)


def test_verdicts_go_through_the_tie_rule():
    rng = np.random.default_rng(0)
    c = StabilityConfig(depths=(2,), warmups=(0, 5), max_iters=10)
    runs = pd.DataFrame(
        [dict(ln=ln, warmup=w, n_layer=2, seed=s, diverged=False,
              val_loss=(3.30 if ln == "post-LN" else 2.5) + 0.01 * rng.random())
         for ln in ("post-LN", "pre-LN") for w in (0, 5) for s in (0, 1, 2)]
    )  # fmt: skip
    grads = pd.DataFrame(
        [dict(ln=ln, init=init, n_layer=2, seed=s, layer=layer,
              ffn_grad_norm=(layer if ln == "post-LN" else 0.5) + 0.01 * s)
         for ln in ("post-LN", "pre-LN") for init in c.inits for s in (0, 1, 2)
         for layer in (1, 2)]
    )  # fmt: skip
    result = Result("stability", c, {"runs": runs, "grads": grads, "unigram": 3.3}, {})
    v = stability_verdicts(result)
    assert "at 2 layers: " in v["depths"] and "post-LN" in v["depths"]
    assert v["warmup_post"].startswith("at 2 layers, post-LN without warm-up and post-LN with")
    assert "tied" in v["warmup_pre"]
    assert v["stuck"].count("6 of 6") == 0 and "3 of 3" in v["stuck"]
    assert v["last_xavier"].startswith("post-LN larger than pre-LN")
    assert v["reading_xavier"].startswith("post-LN's gradient is the larger, as the paper")
    assert v["post_gpt2"].startswith("last block larger than first block")
