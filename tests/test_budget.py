"""Chapter 7b: the mixture-of-experts layer, the distillation loss and its hook in the training
loop, int8 dynamic quantisation, and the GPT's expert option."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from seqlab.experiments.budget import quantize_int8, serialized_bytes
from seqlab.experiments.moe_lm import active_params, dense_width_for
from seqlab.models import GPT, GPTConfig, count_params
from seqlab.models.moe import MoEFeedForward, load_balancing_loss, top_k_route
from seqlab.train import TrainConfig, distillation_loss, distillation_loss_fn, train

# ----------------------------------------------------------------------------- routing


def test_routing_picks_the_top_k_and_gates_sum_to_one_over_them():
    torch.manual_seed(0)
    probs = F.softmax(torch.randn(50, 6), dim=-1)
    experts, gates = top_k_route(probs, 3)
    assert experts.shape == gates.shape == (50, 3)
    expected = probs.argsort(dim=-1, descending=True)[:, :3]
    assert torch.equal(experts, expected)
    torch.testing.assert_close(gates.sum(-1), torch.ones(50))
    chosen = probs.gather(1, experts)
    torch.testing.assert_close(gates, chosen / chosen.sum(-1, keepdim=True))


def test_the_layer_routes_each_token_to_its_top_k_experts():
    torch.manual_seed(0)
    layer = MoEFeedForward(8, 16, n_expert=4, top_k=2)
    x = torch.randn(2, 5, 8)
    probs, experts, gates = layer.route(x.reshape(-1, 8))
    by_hand = torch.zeros(10, 8)
    for n in range(10):
        for j in range(2):
            e = layer.experts[int(experts[n, j])]
            by_hand[n] += gates[n, j] * e(x.reshape(-1, 8)[n].view(1, 1, 8)).view(8)
    torch.testing.assert_close(layer(x), by_hand.view(2, 5, 8), atol=1e-6, rtol=1e-5)
    assert math.isclose(float(layer.load.sum()), 1.0, abs_tol=1e-6)


def test_aux_loss_equals_its_formula_on_a_hand_made_case():
    # 4 tokens, 2 experts, k = 1: tokens 0-2 -> expert 0, token 3 -> expert 1
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    experts, _ = top_k_route(probs, 1)
    aux, f = load_balancing_loss(probs, experts)
    torch.testing.assert_close(f, torch.tensor([0.75, 0.25]))
    P = torch.tensor([(0.9 + 0.8 + 0.6 + 0.3) / 4, (0.1 + 0.2 + 0.4 + 0.7) / 4])
    assert math.isclose(float(aux), 2 * (0.75 * P[0] + 0.25 * P[1]), rel_tol=1e-6)
    uniform = torch.full((6, 3), 1 / 3)
    aux_u, _ = load_balancing_loss(uniform, torch.tensor([[0], [1], [2], [0], [1], [2]]))
    assert math.isclose(float(aux_u), 1.0, rel_tol=1e-6)  # balanced routing: 1


def test_all_experts_with_equal_gates_average_the_experts():
    torch.manual_seed(1)
    layer = MoEFeedForward(6, 12, n_expert=3, top_k=3)
    nn.init.zeros_(layer.router.weight)  # equal probabilities -> gates 1/3 each
    x = torch.randn(2, 4, 6)
    mean = torch.stack([e(x) for e in layer.experts]).mean(0)
    torch.testing.assert_close(layer(x), mean, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(n_expert=-1), "n_expert"),
        (dict(n_expert=2.5), "n_expert"),
        (dict(n_expert=2, top_k=3), "top_k"),
        (dict(n_expert=4, top_k=0), "top_k"),
        (dict(n_expert=4, top_k=3), "top_k"),  # 4 * n_embd = 64 is not a multiple of 3
        (dict(n_expert=4, aux_loss_coef=-0.1), "aux_loss_coef"),
        (dict(n_expert=4, aux_loss_coef=float("nan")), "aux_loss_coef"),
    ],
)
def test_bad_expert_config_raises_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        GPTConfig(vocab_size=10, n_embd=16, n_head=2, **kwargs)
    with pytest.raises(ValueError, match="top_k"):
        MoEFeedForward(8, 16, n_expert=2, top_k=3)


def test_gpt_with_experts_counts_active_parameters_and_adds_aux_loss_in_training_only():
    dense_cfg = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, bias=False)
    cfg = replace(dense_cfg, n_expert=4, top_k=2, aux_loss_coef=0.5)
    dense, moe = GPT(dense_cfg), GPT(cfg)
    router = 2 * 16 * 4
    assert active_params(dense) == count_params(dense)
    assert active_params(moe) == count_params(dense) + router  # equal active compute
    assert count_params(moe) == count_params(dense) + router + 2 * 2 * (2 * 16 * 32)
    x = torch.randint(0, 11, (2, 8))
    moe.eval()
    _, ce = moe(x, x)
    moe.train()
    _, loss = moe(x, x)
    aux = sum(b.ffn.aux_loss for b in moe.blocks)
    torch.testing.assert_close(loss, ce + 0.5 * aux)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # mixed precision, as train may run it
        assert torch.isfinite(moe(x, x)[1])
    width = dense_width_for(count_params(moe), dense_cfg)
    assert width % 2 == 0 and width > 16


# ----------------------------------------------------------------------------- distillation


def test_distillation_loss_matches_hinton_et_al():
    torch.manual_seed(0)
    s, t = torch.randn(3, 5, 7), torch.randn(3, 5, 7)
    y = torch.randint(0, 7, (3, 5))
    tau, alpha = 3.0, 0.25
    p_t = F.softmax(t / tau, -1)
    kl = (p_t * (p_t.log() - F.log_softmax(s / tau, -1))).sum(-1).mean()
    ce = F.cross_entropy(s.view(-1, 7), y.view(-1))
    expected = alpha * tau**2 * kl + (1 - alpha) * ce
    torch.testing.assert_close(distillation_loss(s, t, y, tau, alpha), expected)
    torch.testing.assert_close(distillation_loss(s, t, y, tau, 0.0), ce)
    assert float(distillation_loss(t, t, y, tau, 1.0)) == pytest.approx(0.0, abs=1e-6)
    for bad in (dict(temperature=0.0), dict(alpha=1.5)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            distillation_loss(s, t, y, **{"temperature": 2.0, "alpha": 0.5, **bad})


def test_train_uses_loss_fn_and_leaves_the_teacher_alone():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=9, block_size=8, n_layer=1, n_head=2, n_embd=8)
    teacher, student = GPT(cfg), GPT(cfg)
    before = [p.clone() for p in teacher.parameters()]
    x = torch.randint(0, 9, (4, 8))
    config = TrainConfig(max_iters=2, learning_rate=1e-2, warmup_iters=0, log_interval=1)
    loss_fn = distillation_loss_fn(teacher, temperature=2.0, alpha=1.0)
    history = train(student, lambda it: (x, x), config, loss_fn=loss_fn)
    with torch.no_grad():
        expected = distillation_loss(student(x)[0], teacher(x)[0], x, 2.0, 1.0)
    assert len(history) == 2
    assert all(torch.equal(a, b) for a, b in zip(before, teacher.parameters(), strict=True))
    assert history["loss"].iloc[-1] > float(expected)  # the soft loss, and it went down
    assert history["loss"].iloc[0] < 0.1  # KL of two near-uniform models, not CE ~ ln 9


# ----------------------------------------------------------------------------- int8


def test_int8_quantisation_shrinks_the_linears_and_keeps_the_outputs_close():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=20, block_size=16, n_layer=1, n_head=2, n_embd=64))
    q = quantize_int8(model)
    assert isinstance(model.blocks[0].ffn.fc, nn.Linear)  # the original is untouched
    assert not isinstance(q.blocks[0].ffn.fc, nn.Linear)
    assert serialized_bytes(q) < serialized_bytes(model)
    x = torch.randint(0, 20, (2, 16))
    with torch.no_grad():
        ref, out = model.eval()(x)[0], q(x)[0]
    assert (out - ref).abs().max() < 0.05 * ref.abs().max()
