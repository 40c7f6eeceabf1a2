"""seqlab.train: the loop learns, is reproducible, guards against NaN, respects budgets."""

import dataclasses
import math
import time

import pytest
import torch
import torch.nn.functional as F

from seqlab.data.corpus import CharDataset
from seqlab.data.tasks import copy_baseline, copy_task
from seqlab.train import (
    NonFiniteLossError,
    TrainConfig,
    TrainState,
    estimate_loss,
    load_checkpoint,
    loop,
    lr_lambda,
    param_groups,
    save_checkpoint,
    stop_at_loss,
    train,
    train_steps,
)

T_DELAY, N_COPY = 5, 3  # copy task: recall 3 symbols after 5 steps; sequences of 11 steps


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models, one thread: on a busy 2-core machine OpenMP barriers between two threads made
    a 32 x 64 LSTM step ~100x slower. Restored after each test (not changed globally)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class CopyLSTM(torch.nn.Module):
    """Embedding -> nn.LSTM -> linear head; model(x, y) -> (logits, loss)."""

    def __init__(self, V=10, E=16, H=32):
        super().__init__()
        self.embedding = torch.nn.Embedding(V, E)
        self.lstm = torch.nn.LSTM(E, H, batch_first=True)
        self.norm = torch.nn.LayerNorm(H)
        self.head = torch.nn.Linear(H, V)

    def forward(self, x, y=None):
        out, _ = self.lstm(self.embedding(x))  # (B, T, H)
        logits = self.head(self.norm(out))  # (B, T, V)
        loss = None if y is None else F.cross_entropy(logits.flatten(0, 1), y.flatten())
        return logits, loss


def copy_batches(step):
    return copy_task(32, T_DELAY, n_copy=N_COPY, seed=1000 + step)


def make_model(seed=0):
    torch.manual_seed(seed)
    return CopyLSTM()


def test_loss_decreases_on_copy_task():
    config = TrainConfig(
        max_iters=200, learning_rate=1e-2, warmup_iters=20, progress=False, log_interval=50
    )
    history = train(make_model(), copy_batches, config)
    assert list(history.columns[:7]) == [
        "iter", "time_s", "lr", "loss", "grad_norm", "clipped", "tokens_per_s"
    ]  # fmt: skip
    assert len(history) == 200 and history["iter"].tolist() == list(range(200))
    start, end = history.loss.iloc[:10].mean(), history.loss.iloc[-20:].mean()
    assert end < 0.5 * start
    assert end < copy_baseline(
        T_DELAY, n_copy=N_COPY
    )  # it remembers: better than the no-memory baseline
    assert (history.tokens_per_s > 0).all() and history.time_s.is_monotonic_increasing


def test_same_seed_same_history():
    config = TrainConfig(max_iters=15, progress=False, log_interval=4)
    a = train(make_model(), copy_batches, config)
    b = train(make_model(), copy_batches, config)
    cols = ["loss", "grad_norm", "lr", "clipped"]
    assert a[cols].equals(b[cols])


class NaNAt(torch.nn.Module):
    """loss = mean(w * x), NaN on call number ``at`` (1-based)."""

    def __init__(self, at=8):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(3))
        self.calls, self.at = 0, at

    def forward(self, x, y):
        self.calls += 1
        loss = (self.w * x).mean()
        return None, loss * math.nan if self.calls == self.at else loss


def ones(it):
    return torch.ones(2, 3), None


def test_nan_raise_names_the_iter_lr_and_last_loss_and_takes_no_step():
    model = NaNAt(at=8)
    config = TrainConfig(max_iters=50, learning_rate=0.1, progress=False, log_interval=5)
    with pytest.raises(NonFiniteLossError, match=r"loss became nan at iter 7 \(lr=") as err:
        train(model, ones, config)
    assert isinstance(err.value, FloatingPointError) and err.value.iter == 7
    assert "last finite loss=" in str(err.value)
    h = err.value.history
    assert h["iter"].tolist() == list(range(8)) and math.isnan(h["loss"].iloc[-1])
    assert model.calls == 8  # stopped on the step it appeared: no step 8
    assert torch.isfinite(model.w).all()


def test_nan_stop_returns_the_history_with_the_nan_row_and_finite_weights():
    model = NaNAt(at=4)
    config = TrainConfig(max_iters=50, learning_rate=0.1, progress=False, on_nan="stop")
    h = train(model, ones, config)
    assert h["iter"].tolist() == [0, 1, 2, 3] and math.isnan(h["loss"].iloc[-1])
    assert h["loss"].iloc[:3].map(math.isfinite).all() and math.isnan(h["grad_norm"].iloc[-1])
    assert model.calls == 4 and torch.isfinite(model.w).all()


def replace_config(config, **changes):
    return dataclasses.replace(config, **changes)


def test_nan_step_leaves_weights_as_after_the_previous_step():
    config = TrainConfig(max_iters=50, learning_rate=0.1, progress=False, on_nan="stop")
    nan_model = NaNAt(at=4)
    train(nan_model, ones, config)
    ref = NaNAt(at=999)  # the same three finite steps (same schedule: same max_iters)
    steps = train_steps(ref, ones, config)
    for _ in range(3):
        next(steps)
    steps.close()
    torch.testing.assert_close(nan_model.w, ref.w, rtol=0, atol=0)


def test_inf_gradient_norm_is_caught_before_the_step():
    class SqrtAtZero(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(2))

        def forward(self, x, y):
            return None, torch.sqrt(self.w).sum()  # loss 0, gradient +inf

    model = SqrtAtZero()
    config = TrainConfig(max_iters=5, progress=False, on_nan="stop", grad_clip=None)
    h = train(model, ones, config)
    assert len(h) == 1 and h["loss"].iloc[0] == 0.0 and math.isinf(h["grad_norm"].iloc[0])
    assert torch.equal(model.w, torch.zeros(2))
    with pytest.raises(NonFiniteLossError, match="gradient norm became inf at iter 0"):
        train(SqrtAtZero(), ones, replace_config(config, on_nan="raise"))


def test_time_budget_stops_early():
    class Slow(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, x, y):
            time.sleep(0.01)
            return None, (self.w * x).pow(2).mean()

    config = TrainConfig(max_iters=10_000, time_budget_s=0.2, progress=False)
    history = train(Slow(), lambda step: (torch.ones(2, 3), None), config)
    assert 5 <= len(history) < 60
    assert history.time_s.iloc[-1] >= 0.2


def test_clipping_is_reported_with_the_pre_clip_norm():
    class Quadratic(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))

        def forward(self, x, y):
            return None, (self.w * x).sum()  # gradient = x, norm 5 for x = (3, 4)

    x = torch.tensor([3.0, 4.0])
    clipped = train(
        Quadratic(), lambda s: (x, None), TrainConfig(max_iters=3, grad_clip=1.0, progress=False)
    )
    assert clipped.grad_norm.tolist() == pytest.approx([5.0] * 3) and clipped.clipped.all()
    free = train(
        Quadratic(), lambda s: (x, None), TrainConfig(max_iters=3, grad_clip=None, progress=False)
    )
    assert free.grad_norm.tolist() == pytest.approx([5.0] * 3) and not free.clipped.any()


def test_eval_columns_and_schedule():
    evals = []

    def eval_fn(model):
        evals.append(model.training)
        return {"train": 1.0, "val": 2.0}

    config = TrainConfig(
        max_iters=10,
        learning_rate=1e-3,
        min_lr=1e-4,
        warmup_iters=4,
        eval_interval=4,
        progress=False,
    )
    h = train(make_model(), copy_batches, config, eval_fn=eval_fn)
    assert h.val_loss.notna().tolist() == [i in (3, 7, 9) for i in range(10)]
    assert h.train_loss.dropna().tolist() == [1.0] * 3
    assert h.lr.tolist()[:4] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])  # linear warm-up
    assert h.lr.iloc[4] == pytest.approx(1e-3)  # the cosine starts at the peak
    assert h.lr.iloc[-1] == 1e-4  # ... and reaches min_lr exactly at the last step
    assert h.lr.is_monotonic_decreasing is False and h.lr.iloc[4:].is_monotonic_decreasing


@pytest.mark.parametrize("max_iters,warmup_iters", [(10, 0), (10, 3), (2, 0), (1, 0), (7, 6)])
def test_cosine_reaches_min_lr_exactly_at_the_last_step(max_iters, warmup_iters):
    config = TrainConfig(
        max_iters=max_iters, learning_rate=3e-3, min_lr=3e-5, warmup_iters=warmup_iters
    )
    f = lr_lambda(config)
    lrs = [config.learning_rate * f(i) for i in range(max_iters)]
    assert lrs[-1] == pytest.approx(3e-5, rel=1e-12)
    assert max(lrs) <= config.learning_rate * (1 + 1e-12) and min(lrs) >= 3e-5 * (1 - 1e-12)
    if max_iters - warmup_iters > 1:
        assert lrs[warmup_iters] == pytest.approx(3e-3)  # the decay starts at the peak


def test_min_lr_none_is_a_tenth_and_equal_min_lr_is_constant():
    f = lr_lambda(TrainConfig(max_iters=5, learning_rate=1e-2))
    assert f(4) == pytest.approx(0.1)
    g = lr_lambda(TrainConfig(max_iters=5, learning_rate=1e-2, min_lr=1e-2))
    assert [g(i) for i in range(5)] == pytest.approx([1.0] * 5)


def test_no_weight_decay_on_biases_norms_embeddings():
    model = CopyLSTM()
    decay, no_decay = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in decay["params"]} == {
        "lstm.weight_ih_l0", "lstm.weight_hh_l0", "head.weight"
    }  # fmt: skip
    assert "embedding.weight" in {names[id(p)] for p in no_decay["params"]}
    assert no_decay["weight_decay"] == 0.0


def test_bf16_autocast_on_cpu():
    # a Linear model: oneDNN's bf16 LSTM is missing on some CPUs (a torch limit, not ours)
    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 1)

        def forward(self, x, y):
            out = self.lin(x)
            assert out.dtype == torch.bfloat16  # autocast is on
            return out, out.float().pow(2).mean()

    h = train(Linear(), ones, TrainConfig(max_iters=3, dtype="bfloat16", progress=False))
    assert len(h) == 3 and h.loss.notna().all()


def test_checkpoint_round_trip(tmp_path):
    model = make_model(seed=1)
    path = save_checkpoint(
        model, tmp_path / "ckpt" / "copy.safetensors", {"step": 7, "arch": "lstm"}
    )
    other = make_model(seed=2)
    meta = load_checkpoint(other, path)
    assert meta == {"step": 7, "arch": "lstm"}
    for (n, p), (_, q) in zip(model.state_dict().items(), other.state_dict().items(), strict=True):
        assert torch.equal(p, q), n
    assert path.read_bytes()[8:9] == b"{"  # safetensors: header length, then JSON; no pickle


def test_estimate_loss_restores_mode_and_averages():
    class Uniform(torch.nn.Module):
        def __init__(self, V):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.zeros(V))

        def forward(self, idx, targets):
            assert not self.training and not torch.is_grad_enabled()
            logits = self.bias.expand(*idx.shape, -1)
            return logits, torch.nn.functional.cross_entropy(
                logits.flatten(0, 1), targets.flatten()
            )

    ds = CharDataset("abcd" * 100)
    model = Uniform(ds.tokenizer.vocab_size).train()
    losses = estimate_loss(
        model, ds, 4, 8, eval_iters=2, generator=torch.Generator().manual_seed(0)
    )
    assert set(losses) == {"train", "val"}
    assert losses["val"] == pytest.approx(torch.log(torch.tensor(4.0)).item(), rel=1e-5)
    assert model.training


# ----------------------------------------------------------------------------- callbacks, SGD


def test_stop_at_loss_stops_at_the_first_evaluation_below_the_target():
    values = iter([3.0, 2.5, 1.9, 1.5, 1.2])
    seen = []

    def eval_fn(model):
        return next(values)  # a float is stored as val_loss

    def record(state):
        assert isinstance(state, TrainState)
        seen.append((state.iter, (state.row or {}).get("val_loss")))

    config = TrainConfig(max_iters=100, eval_interval=5, log_interval=5, progress=False)
    h = train(make_model(), copy_batches, config, eval_fn=eval_fn,
              callbacks=[stop_at_loss(2.0), record])  # fmt: skip
    assert h["iter"].iloc[-1] == 14 and len(h) == 15
    assert h["val_loss"].dropna().tolist() == [3.0, 2.5, 1.9]
    assert seen == [(4, 3.0), (9, 2.5), (14, 1.9)]  # every callback sees every read-back


def test_a_callback_can_stop_on_anything_and_train_steps_says_why():
    config = TrainConfig(max_iters=20, log_interval=1, progress=False)
    states = list(train_steps(make_model(), copy_batches, config,
                              callbacks=[lambda s: s.iter == 6]))  # fmt: skip
    assert len(states) == 7 and states[-1].stop_reason == "callback"
    assert states[-1].history()["iter"].tolist() == list(range(7))
    config = TrainConfig(max_iters=3, progress=False)
    seen = [(s.iter, s.stop_reason) for s in train_steps(make_model(), copy_batches, config)]
    assert seen == [(0, None), (1, None), (2, "max_iters")]  # one state, updated in place


def test_train_steps_can_be_interleaved_and_matches_train():
    config = TrainConfig(max_iters=6, log_interval=2, progress=False)
    a, b = make_model(), make_model()
    order = []
    for sa, sb in zip(train_steps(a, copy_batches, config), train_steps(b, copy_batches, config),
                      strict=True):  # fmt: skip
        order += [("a", sa.iter), ("b", sb.iter)]
    assert order[:4] == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    h = train(make_model(), copy_batches, config)
    assert sa.history()["loss"].tolist() == h["loss"].tolist()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_sgd_takes_plain_gradient_steps():
    class Quadratic(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))

        def forward(self, x, y):
            return None, 0.5 * self.w.pow(2).sum()  # gradient w

    model = Quadratic()
    config = TrainConfig(max_iters=1, optimizer="sgd", learning_rate=0.1, min_lr=0.1,
                         grad_clip=None, progress=False)  # fmt: skip
    train(model, ones, config)
    torch.testing.assert_close(model.w.detach(), torch.tensor([2.7, 3.6]))  # w - 0.1 w
    h = train(Quadratic(), ones, dataclasses.replace(config, max_iters=50))
    assert h["loss"].iloc[-1] < 1e-3 * h["loss"].iloc[0]


# ----------------------------------------------------------------------------- config checks


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"grad_clip": -1.0}, "grad_clip must be a positive number, got -1.0"),
        ({"grad_clip": 0.0}, "grad_clip must be a positive number, got 0.0"),
        ({"max_iters": 0}, "max_iters must be an int >= 1, got 0"),
        ({"max_iters": 2.5}, "max_iters must be an int >= 1, got 2.5"),
        ({"learning_rate": -1e-3}, "learning_rate must be a positive number, got -0.001"),
        ({"learning_rate": math.nan}, "learning_rate must be a positive number, got nan"),
        ({"min_lr": 1.0}, "min_lr must be between 0 and learning_rate=0.001, got 1.0"),
        ({"min_lr": -1e-4}, "min_lr must be between 0 and learning_rate=0.001, got -0.0001"),
        ({"warmup_iters": 11, "max_iters": 10}, "warmup_iters=11 must not exceed max_iters=10"),
        ({"warmup_iters": -1}, "warmup_iters must be an int >= 0, got -1"),
        ({"weight_decay": -0.1}, "weight_decay must be >= 0, got -0.1"),
        ({"beta1": 1.0}, r"beta1 must be in \[0, 1\), got 1.0"),
        ({"beta2": -0.5}, r"beta2 must be in \[0, 1\), got -0.5"),
        ({"optimizer": "adam"}, "unknown optimizer 'adam'; valid: 'adamw', 'sgd'"),
        ({"dtype": "fp16"}, "unknown dtype 'fp16'; valid: 'auto', 'float32'"),
        ({"on_nan": "ignore"}, "unknown on_nan 'ignore'; valid: 'raise', 'stop'"),
        ({"eval_interval": 0}, "eval_interval must be an int >= 1, got 0"),
        ({"log_interval": 0}, "log_interval must be an int >= 1, got 0"),
        ({"time_budget_s": -5}, "time_budget_s must be a positive number, got -5"),
        ({"seed": -1}, "seed must be an int >= 0, got -1"),
        ({"compile": "yes"}, "compile must be True or False, got 'yes'"),
    ],
)
def test_config_rejects_bad_values_naming_field_and_value(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_stop_at_loss_rejects_a_non_number():
    with pytest.raises(ValueError, match="target must be a number, got 'low'"):
        stop_at_loss("low")


def test_batched_read_back_stops_at_the_first_nan_and_drops_later_rows(monkeypatch):
    """The GPU path, run on the CPU: losses are read every log_interval steps."""
    monkeypatch.setattr(loop, "reads_loss_every_step", lambda device: False)
    model = NaNAt(at=4)  # NaN on iter 3; read-back after iter 4 (log_interval=5)
    config = TrainConfig(max_iters=50, learning_rate=0.1, progress=False, on_nan="stop",
                         log_interval=5)  # fmt: skip
    states = list(train_steps(model, ones, config))
    assert states[-1].stop_reason == "non_finite" and states[-1].iter == 3
    h = states[-1].history()
    assert h["iter"].tolist() == [0, 1, 2, 3] and math.isnan(h["loss"].iloc[-1])
    assert model.calls == 5  # no step after the read-back that saw it
    with pytest.raises(NonFiniteLossError, match="at iter 3"):
        train(NaNAt(at=4), ones, dataclasses.replace(config, on_nan="raise"))
