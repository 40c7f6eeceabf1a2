"""seqlab.train: the loop learns, is reproducible, guards against NaN, respects budgets."""

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
    estimate_loss,
    load_checkpoint,
    lr_lambda,
    param_groups,
    save_checkpoint,
    train,
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


def test_nan_guard_names_the_step_and_value():
    class NaNAt(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))
            self.calls = 0

        def forward(self, x, y):
            self.calls += 1
            loss = (self.w * x).mean()
            return None, loss * math.nan if self.calls == 8 else loss

    config = TrainConfig(max_iters=50, progress=False, log_interval=5)
    with pytest.raises(NonFiniteLossError, match=r"loss became nan at step 7") as err:
        train(NaNAt(), lambda step: (torch.ones(2, 3), None), config)
    assert isinstance(err.value, FloatingPointError)


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
    assert h.lr.iloc[-1] == pytest.approx(1e-4 + 0.9e-3 * 0.5 * (1 + math.cos(math.pi * 5 / 6)))
    f = lr_lambda(config)
    assert f(config.max_iters) == pytest.approx(0.1)  # cosine ends at min_lr


def test_no_weight_decay_on_biases_norms_embeddings():
    model = CopyLSTM()
    decay, no_decay = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in decay["params"]} == {
        "lstm.weight_ih_l0", "lstm.weight_hh_l0", "head.weight"
    }  # fmt: skip
    assert "embedding.weight" in {names[id(p)] for p in no_decay["params"]}
    assert no_decay["weight_decay"] == 0.0


def test_bf16_on_cpu_and_bad_dtype():
    h = train(
        make_model(), copy_batches, TrainConfig(max_iters=3, dtype="bfloat16", progress=False)
    )
    assert len(h) == 3 and h.loss.notna().all()
    with pytest.raises(ValueError, match="unknown dtype 'fp8'"):
        train(make_model(), copy_batches, TrainConfig(max_iters=3, dtype="fp8", progress=False))


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
