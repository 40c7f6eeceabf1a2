"""Chapter 4: the experiments behind the attention chapter, its interactives and its traps."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
import sacrebleu
import torch
import torch.nn as nn

from seqlab.data.translation_data import bleu, task_vocabs
from seqlab.experiments.alignments import alignment, alignment_at, leave_one_out
from seqlab.experiments.attention import BottleneckConfig, Seq2SeqRunConfig, bottleneck
from seqlab.experiments.profiles import config_for
from seqlab.experiments.softmax_scaling import softmax_scaling
from seqlab.models.attention import MultiHeadAttention
from seqlab.models.seq2seq import RNNSeq2Seq, Seq2SeqConfig

D = torch.float64


def _fastest_ms(fn, repeats: int = 3) -> float:
    """The fastest of ``repeats`` calls in ms (the machine may be shared: take the best)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - start) * 1000)
    return best


# ----------------------------------------------------------------------------- why sqrt(d_k)


@pytest.mark.parametrize("d_k", [4, 64, 256])
def test_score_variance_is_d_k_and_the_scale_restores_one(d_k):
    raw = softmax_scaling(d_k, "1", n_queries=2048)
    scaled = softmax_scaling(d_k, "1/sqrt(d_k)", n_queries=2048)
    assert raw["var_qk"] == pytest.approx(d_k, rel=0.35)
    assert scaled["var_score"] == pytest.approx(1.0, rel=0.35)
    assert raw["var_qk"] == scaled["var_qk"]  # same draws


def test_unscaled_softmax_saturates_and_loses_its_gradient():
    raw, scaled = softmax_scaling(1024, "1"), softmax_scaling(1024, "1/sqrt(d_k)")
    assert raw["entropy"] < 0.5 * scaled["entropy"]
    assert raw["max_weight"] > scaled["max_weight"]
    assert raw["grad_norm"] < 0.5 * scaled["grad_norm"]
    assert 0 <= raw["saturated"] <= 1 and scaled["saturated"] == 0
    assert scaled["entropy"] <= scaled["max_entropy"] + 1e-9
    assert np.isclose(raw["example"].sum(), 1.0)


def test_softmax_gradient_norm_matches_autograd_jacobian():
    data = softmax_scaling(16, "1", n_queries=1, n_keys=5, seed=3)
    g = torch.Generator().manual_seed(3)
    q = torch.randn(1, 16, generator=g, dtype=D)
    k = torch.randn(5, 16, generator=g, dtype=D)
    J = torch.autograd.functional.jacobian(lambda s: s.softmax(-1), (q @ k.T)[0])
    assert data["grad_norm"] == pytest.approx(float(J.norm()), rel=1e-9)


@pytest.mark.parametrize("d_k", [1, 16, 1024])
@pytest.mark.parametrize("scale", ["1/sqrt(d_k)", "1"])
def test_scaling_compute_is_fast_enough_for_a_slider(d_k, scale):
    assert _fastest_ms(lambda: softmax_scaling(d_k, scale)) < 100


@pytest.mark.parametrize("bad", [dict(d_k=0), dict(d_k=2.0), dict(d_k=True), dict(scale="2")])
def test_scaling_rejects_bad_arguments(bad):
    with pytest.raises(ValueError):
        softmax_scaling(**{"d_k": 4, **bad})


# ----------------------------------------------------------------------------- masks


def _pair(C=8, nh=2):
    torch.manual_seed(0)
    mha = MultiHeadAttention(C, nh).to(D)
    ref = nn.MultiheadAttention(C, nh, batch_first=True).to(D)
    with torch.no_grad():
        ref.in_proj_weight.copy_(mha.qkv.weight)
        ref.in_proj_bias.copy_(mha.qkv.bias)
        ref.out_proj.weight.copy_(mha.proj.weight)
        ref.out_proj.bias.copy_(mha.proj.bias)
    return mha, ref


def test_mask_polarity_trap_keep_mask_must_be_inverted_for_nn_multiheadattention():
    mha, ref = _pair()
    x = torch.randn(2, 6, 8, dtype=D)
    keep = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    ours, _ = mha(x, mask=keep)
    right, _ = ref(x, x, x, key_padding_mask=~keep)
    wrong, _ = ref(x, x, x, key_padding_mask=keep)
    torch.testing.assert_close(ours, right)
    # the trap: the same tensor attends to the padding only, silently
    assert (wrong[1] - ours[1]).abs().max() > 1e-3


def test_padded_query_rows_get_zero_weights_and_finite_gradients():
    mha, _ = _pair()
    x = torch.randn(2, 6, 8, dtype=D, requires_grad=True)
    keep = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    pair_mask = keep[:, :, None] & keep[:, None, :]  # (B, Tq, Tk)
    out, w = mha(x, mask=pair_mask, need_weights=True)
    assert (w[1, :, 4:] == 0).all()
    torch.testing.assert_close(w[1, :, :4].sum(-1), torch.ones(2, 4, dtype=D))
    torch.testing.assert_close(out[1, 4:], mha.proj.bias.expand(2, -1))  # proj of zeros
    fused, _ = mha(x, mask=pair_mask)
    torch.testing.assert_close(fused, out)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    key_only, _ = mha(x, mask=keep)  # the shortcut: padded queries still read real keys
    assert (key_only[1, 4:] - mha.proj.bias).abs().max() > 1e-3


# ----------------------------------------------------------------------------- BLEU


def test_bleu_takes_predictions_then_references_like_sacrebleu():
    preds = ["12", "4531", "7"]
    targets = ["123", "45312", "7"]
    ours = bleu(predictions=preds, targets=targets)
    assert ours == pytest.approx(sacrebleu.corpus_bleu(preds, [targets], tokenize="char").score)
    swapped = sacrebleu.corpus_bleu(targets, [preds], tokenize="char").score
    assert abs(ours - swapped) > 1.0  # the pitfall: the swapped call is another number
    assert bleu(predictions=targets, targets=targets) == pytest.approx(100.0)
    with pytest.raises(TypeError):
        bleu(preds, targets)  # keyword-only: the order cannot be confused
    with pytest.raises(ValueError):
        bleu(predictions=preds, targets=targets[:2])


# ----------------------------------------------------------------------------- alignments


def _tiny_model(attention="additive"):
    src_vocab, tgt_vocab = task_vocabs("numbers")
    torch.manual_seed(0)
    config = Seq2SeqConfig(src_vocab.vocab_size, tgt_vocab.vocab_size, n_embd=8,
                           hidden_size=16, attention=attention, pad_id=0)  # fmt: skip
    return RNNSeq2Seq(config).eval(), src_vocab, tgt_vocab


def test_alignment_of_typed_text_and_one_line_messages_for_bad_input():
    model, sv, tv = _tiny_model()
    data = alignment(model, "dreihundertzwölf", sv, tv, max_len=6)
    assert data["ok"] and data["source"][-1] == "<eos>"
    U, S = data["weights"].shape
    assert S == len("dreihundertzwölf") + 1 and 1 <= U <= 6 and len(data["output"]) == U
    np.testing.assert_allclose(data["weights"].sum(1), 1.0, rtol=1e-5)
    for text in ("drei X", "", "   ", "zwölf\n!"):
        bad = alignment(model, text, sv, tv)
        assert not bad["ok"] and "\n" not in bad["message"] and bad["message"]
    assert _fastest_ms(lambda: alignment(model, "neunundneunzigtausend", sv, tv)) < 100


def test_leave_one_out_shapes_and_zero_for_an_unchanged_input():
    model, sv, tv = _tiny_model("general")
    src = sv.encode("einundzwanzig", eos=True)
    out = tv.encode("21", eos=True)
    w, infl = leave_one_out(model, src, out, tv.bos_id)
    assert w.shape == (3, len(src)) and infl.shape == (3, len(src) - 1)
    assert np.isfinite(infl).all()
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-5)


TINY = BottleneckConfig(
    run=Seq2SeqRunConfig(
        max_value=99,
        n_train=64,
        n_test=16,
        hidden_size=16,
        n_embd=8,
        batch_size=8,
        max_iters=4,
        n_checkpoints=2,
    ),  # fmt: skip
    seeds=(0, 1),
)


@pytest.fixture(scope="module")
def tiny_result():
    return bottleneck(TINY, device="cpu", cache=False, progress=False)


def test_bottleneck_models_have_equal_parameter_counts(tiny_result):
    runs = tiny_result.runs
    counts = runs.groupby("attention")["n_params"].first()
    assert set(counts.index) == {"none", "additive", "general"}
    assert counts.max() / counts.min() < 1.05
    assert tiny_result.hidden_sizes["none"] > tiny_result.hidden_sizes["additive"]
    assert len(runs) == 6 and runs["exact_match"].between(0, 1).all()
    assert set(tiny_result.by_length.columns) >= {"attention", "seed", "lo", "n", "exact_match"}
    assert list(tiny_result.snapshots["additive"]) == [0, 2, 4]


def test_alignment_at_snapshots_and_its_messages(tiny_result):
    first = alignment_at(tiny_result, "additive", 0, "elf")
    last = alignment_at(tiny_result, "additive", 4, "elf")
    assert first["ok"] and last["ok"]
    assert not np.allclose(first["weights"][0], last["weights"][0])
    assert not alignment_at(tiny_result, "none", 4, "elf")["ok"]
    assert not alignment_at(tiny_result, "additive", 3, "elf")["ok"]


def test_heatmap_interactive_static_form_and_speed(tiny_result):
    from seqlab.viz.alignments import checkpoint_interactive

    it = checkpoint_interactive(tiny_result, ["elf", "einundzwanzig"], ["additive", "general"])
    fig = it.static_figure()
    assert len(fig.layout.updatemenus[0].buttons) == 4  # 2 examples x 2 kinds
    assert len(fig.layout.sliders) == 1 and len(fig.layout.sliders[0].steps) == 3  # 0, 2, 4
    # one slider whose steps each dropdown entry swaps in (plotly.js fails on heatmaps when an
    # entry hides other sliders): no entry touches another slider
    for button in fig.layout.updatemenus[0].buttons:
        relayout = button.args[1]
        assert len(relayout["sliders[0].steps"]) == 3
        assert not [k for k in relayout if k.startswith("sliders[") and "[0]" not in k]
    assert all(t.type == "heatmap" for t in fig.data) and len(fig.data) == 12
    state = dict(example="einundzwanzig", kind="general", checkpoint=4)
    assert _fastest_ms(lambda: it.compute(**state)) < 100


def test_every_profile_has_valid_attention_rows():
    from seqlab.experiments.alignments import AttributionConfig
    from seqlab.experiments.softmax_scaling import ScalingConfig

    for profile in ("smoke", "standard", "full"):
        b = config_for(BottleneckConfig, "attention.bottleneck", profile)
        assert len(b.seeds) >= 3 and b.reference in b.attentions
        config_for(ScalingConfig, "attention.scaling", profile)
        config_for(AttributionConfig, "attention.attribution", profile)
    assert replace(TINY.run, attention="general").attention == "general"


def test_figures_draw(tiny_result):
    from seqlab.viz.attention import bottleneck_figure
    from seqlab.viz.attention_diagrams import encoder_decoder_diagram, multihead_diagram

    fig = bottleneck_figure(tiny_result.by_length)
    assert len(fig.data) == 3 and all(t.error_y.array is not None for t in fig.data)
    assert encoder_decoder_diagram().axes and multihead_diagram().axes
