"""Seq2seq: shapes, alignment weights, padding, greedy decoding, errors."""

import pytest
import torch
from torch.testing import assert_close

from seqlab.models.seq2seq import RNNSeq2Seq, Seq2SeqConfig, TransformerSeq2Seq, greedy_decode

PAD, BOS, EOS = 0, 1, 2


def _batch(B=3, S=7, T=5, V=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, V, (B, S), generator=g)
    src[1, 4:] = PAD  # a shorter source
    tgt = torch.randint(3, V, (B, T + 1), generator=g)
    tgt[:, 0] = BOS
    return src, tgt[:, :-1], tgt[:, 1:]


def _models():
    torch.manual_seed(0)
    kw = dict(src_vocab_size=10, tgt_vocab_size=9, n_embd=8, hidden_size=12, pad_id=PAD)
    return {
        "gru-none": RNNSeq2Seq(Seq2SeqConfig(**kw)),
        "lstm-additive": RNNSeq2Seq(
            Seq2SeqConfig(**kw, cell="lstm", attention="additive", n_layer=2)
        ),
        "gru-dot": RNNSeq2Seq(Seq2SeqConfig(**kw, attention="dot")),
        "gru-general": RNNSeq2Seq(Seq2SeqConfig(**kw, attention="general")),
        "transformer": TransformerSeq2Seq(10, 9, d_model=16, nhead=2, num_layers=1, pad_id=PAD),
    }


@pytest.mark.parametrize("name", list(_models()))
def test_shapes_loss_and_decode(name):
    model = _models()[name]
    src, tgt_in, tgt_out = _batch()
    tgt_in, tgt_out = tgt_in.clamp(max=8), tgt_out.clamp(max=8)
    logits, loss = model(src, tgt_in, tgt_out)
    assert logits.shape == (3, 5, 9) and loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert model(src, tgt_in)[1] is None
    out = greedy_decode(model, src, max_new_tokens=6, bos=BOS, eos=EOS)
    assert out.shape[0] == 3 and 1 <= out.shape[1] <= 6


def test_alignment_weights_sum_to_one_and_skip_padding():
    model = _models()["lstm-additive"]
    src, tgt_in, _ = _batch()
    w = model.alignments(src, tgt_in.clamp(max=8))
    assert w.shape == (3, 5, 7)
    assert_close(w.sum(-1), torch.ones(3, 5))
    assert (w[1, :, 4:] == 0).all()  # padded source positions get no attention
    with pytest.raises(ValueError, match="attention='none'"):
        _models()["gru-none"].alignments(src, tgt_in)


def test_padding_does_not_change_encoder_result():
    model = _models()["lstm-additive"]
    src, tgt_in, _ = _batch()
    tgt_in = tgt_in.clamp(max=8)
    longer = torch.cat([src, torch.full((3, 3), PAD)], dim=1)  # more padding at the end
    longer[0, 7:], longer[2, 7:] = PAD, PAD
    a = model(src, tgt_in)[0]
    b = model(longer, tgt_in)[0]
    assert_close(a, b, atol=1e-6, rtol=1e-5)


class _Scripted(torch.nn.Module):
    """A fake model that emits a fixed token sequence per row (to test greedy_decode alone)."""

    def __init__(self, script: torch.Tensor, V: int = 5):
        super().__init__()
        self.script, self.V = script, V

    def encode(self, src):
        return src

    def decode(self, tgt_in, memory):
        t = tgt_in.shape[1] - 1  # position being predicted
        ids = self.script[:, min(t, self.script.shape[1] - 1)]
        return (
            torch.nn.functional.one_hot(ids, self.V)
            .float()[:, None]
            .expand(-1, tgt_in.shape[1], -1)
        )


def test_greedy_decode_stops_at_eos():
    script = torch.tensor([[3, 4, EOS, 3, 3, 3], [3, EOS, 4, 4, 4, 4]])
    out = greedy_decode(
        _Scripted(script), torch.zeros(2, 4, dtype=torch.long), max_new_tokens=10, bos=BOS, eos=EOS
    )
    assert out.tolist() == [[3, 4, EOS], [3, EOS, EOS]]  # stops once all rows ended; pads with eos
    never = torch.tensor([[3, 4, 3], [4, 4, 4]])
    out = greedy_decode(
        _Scripted(never), torch.zeros(2, 4, dtype=torch.long), max_new_tokens=4, bos=BOS, eos=EOS
    )
    assert out.shape == (2, 4)


def test_greedy_decode_restores_training_mode():
    model = _models()["gru-dot"].train()
    src, _, _ = _batch()
    greedy_decode(model, src, max_new_tokens=3, bos=BOS, eos=EOS)
    assert model.training
    with pytest.raises(ValueError, match="max_new_tokens must be an int > 0"):
        greedy_decode(model, src, max_new_tokens=0, bos=BOS, eos=EOS)


def test_errors():
    model = _models()["gru-none"]
    src, tgt_in, tgt_out = _batch()
    with pytest.raises(ValueError, match=r"expected src of shape \(B, T\) token ids"):
        model(src[0], tgt_in)
    with pytest.raises(ValueError, match="sequence length 0"):
        model(src[:, :0], tgt_in)
    with pytest.raises(ValueError, match=r"outside the vocabulary 0..9"):
        model(src + 10, tgt_in)
    with pytest.raises(ValueError, match="batch sizes differ"):
        model(src, tgt_in[:2].clamp(max=8))
    with pytest.raises(ValueError, match="all padding"):
        model(torch.zeros(2, 4, dtype=torch.long), tgt_in[:2].clamp(max=8))
    with pytest.raises(ValueError, match="unknown attention 'luong'"):
        Seq2SeqConfig(src_vocab_size=5, tgt_vocab_size=5, attention="luong")
    with pytest.raises(ValueError, match="unknown cell 'rnn'"):
        Seq2SeqConfig(src_vocab_size=5, tgt_vocab_size=5, cell="rnn")
    tf = _models()["transformer"]
    with pytest.raises(ValueError, match="outside"):
        tf(src + 10, tgt_in)
