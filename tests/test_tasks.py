"""seqlab.data.tasks: synthetic tasks, their shapes, determinism and no-memory baselines."""

import datetime as dt
import math

import pytest
import torch
import torch.nn.functional as F

from seqlab.data import tasks


def test_copy_task_layout():
    x, y = tasks.copy_task(5, T=30, seed=0)
    assert x.shape == y.shape == (5, 50) and x.dtype == torch.long
    assert ((x[:, :10] >= 1) & (x[:, :10] <= 8)).all()
    assert (x[:, 10:39] == 0).all() and (x[:, 39] == 9).all() and (x[:, 40:] == 0).all()
    assert (y[:, :40] == 0).all() and torch.equal(y[:, 40:], x[:, :10])


def test_copy_baseline_formula_and_memoryless_strategy():
    T = 50
    assert tasks.copy_baseline(T) == pytest.approx(10 * math.log(8) / (T + 20))
    # Blanks for the first T + 10 steps, uniform over the 8 symbols for the last 10.
    x, y = tasks.copy_task(4000, T, seed=1)
    logits = torch.full((*y.shape, 10), -1e9)
    logits[:, : T + 10, 0] = 0.0
    logits[:, T + 10 :, 1:9] = 0.0
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten()).item()
    assert loss == pytest.approx(tasks.copy_baseline(T), rel=1e-6)
    assert tasks.copy_accuracy(y, y) == 1.0


def test_adding_task_constant_predictor_reaches_baseline():
    x, y = tasks.adding_task(20_000, T=50, seed=0)
    assert x.shape == (20_000, 50, 2) and y.shape == (20_000, 1)
    markers = x[..., 1]
    assert (markers.sum(1) == 2).all()
    assert (markers[:, :25].sum(1) == 1).all()  # one marker in each half
    assert torch.allclose((x[..., 0] * markers).sum(1, keepdim=True), y)
    mse = tasks.adding_mse(torch.ones_like(y), y)
    assert mse == pytest.approx(tasks.ADDING_BASELINE_MSE, abs=0.006)
    assert tasks.ADDING_BASELINE_MSE == pytest.approx(0.1667, abs=1e-4)
    with pytest.raises(ValueError, match=r"expected pred of shape \(20000, 1\)"):
        tasks.adding_mse(torch.ones(20_000), y)


def test_reversal_task():
    x, y = tasks.reversal_task(3, T=7, n_symbols=5, seed=0)
    assert x.shape == y.shape == (3, 7)
    assert torch.equal(y, x.flip(1)) and x.max() < 5
    assert tasks.token_accuracy(F.one_hot(y, 5).float(), y) == 1.0


@pytest.mark.parametrize("make", [tasks.copy_task, tasks.adding_task, tasks.reversal_task])
def test_same_seed_same_data_and_bad_sizes(make):
    a = make(4, 10, generator=torch.Generator().manual_seed(3))
    b = make(4, 10, generator=torch.Generator().manual_seed(3))
    c = make(4, 10, seed=4)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])
    for n, T in [(0, 10), (4, 0), (-1, 10), (4, -5)]:
        with pytest.raises(ValueError, match="must be a positive int"):
            make(n, T)


def test_dates_parse_back_to_the_same_date():
    pairs = tasks.date_examples(500, seed=0)
    patterns = {
        "{d} {Month} {Y}": "%d %B %Y",
        "{dd} {Mon} {Y}": "%d %b %Y",
        "{Month} {d}, {Y}": "%B %d, %Y",
        "{Mon} {d}, {Y}": "%b %d, %Y",
        "{Weekday}, {Month} {d}, {Y}": "%A, %B %d, %Y",
        "{Wkd} {d} {Mon} {Y}": "%a %d %b %Y",
        "{month} {d} {Y}": "%B %d %Y",
        "{MONTH} {d}, {Y}": "%B %d, %Y",
        "{mm}/{dd}/{Y}": "%m/%d/%Y",
        "{d}.{m}.{Y}": "%d.%m.%Y",
    }
    assert set(patterns) == set(tasks.DATE_FORMATS)
    for human, iso in pairs:
        date = dt.date.fromisoformat(iso)
        assert tasks.DATE_START <= date <= tasks.DATE_END
        parsed = {
            dt.datetime.strptime(human, p).date()
            for f, p in patterns.items()
            if tasks.format_date(date, f) == human
        }
        assert parsed == {date}, human
    assert len({h for h, _ in pairs}) > 450  # formats and dates vary


def test_date_task_tensors_for_seq2seq():
    src, tgt = tasks.date_task(64, seed=0)
    v = tasks.DATE_VOCAB
    assert src.shape == (64, tasks.DATE_SRC_LEN) and tgt.shape == (64, tasks.DATE_TGT_LEN)
    assert (tgt[:, 0] == v.bos_id).all() and (tgt[:, -1] == v.eos_id).all()
    assert (src == v.eos_id).sum(1).eq(1).all() and (src[:, -1] == v.pad_id).all()
    pairs = tasks.date_examples(64, seed=0)
    assert [v.decode(s) for s in src] == [h for h, _ in pairs]
    assert [v.decode(t) for t in tgt] == [i for _, i in pairs]
    assert src.max() < v.vocab_size
    assert tasks.sequence_accuracy(tgt[:, 1:], tgt[:, 1:]) == 1.0
    wrong = tgt[:, 1:].clone()
    wrong[0, 3] = v.pad_id
    assert tasks.sequence_accuracy(wrong, tgt[:, 1:]) == pytest.approx(63 / 64)
    with pytest.raises(ValueError, match="positive int"):
        tasks.date_task(0)
