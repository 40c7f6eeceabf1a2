"""Sequence-to-sequence models: RNN encoder-decoders (with and without attention), the Transformer.

Shape letters: B batch, S source length (T_in), T target length (T_out), E embedding, H hidden,
L layers, V vocabulary.

Every model here has the same interface:
- ``forward(src (B, S), tgt_in (B, T), tgt_out (B, T) | None) -> (logits (B, T, V), loss | None)``
  with teacher forcing: ``tgt_in`` is ``<bos> y_1 .. y_{T-1}``, ``tgt_out`` is ``y_1 .. y_T``;
- ``encode(src) -> memory`` (a model-specific tuple) and ``decode(tgt_in, memory) -> logits``,
  which ``greedy_decode`` uses to encode once and then extend the output token by token.

``RNNSeq2Seq`` with ``attention="none"`` is the encoder-decoder of Sutskever et al. (2014): the
decoder starts from the encoder's final state and sees nothing else of the source (the context
bottleneck). With ``attention="additive"`` (Bahdanau et al., 2015) or ``"dot"`` / ``"general"``
(Luong et al., 2015), every decoder state h_t looks at all encoder outputs: c_t = sum_j a_tj e_j,
then h~_t = tanh(W_c [c_t; h_t]) predicts y_t. This is Luong's arrangement (attention after the
recurrent step, no input feeding), which lets teacher forcing run the decoder in one
``nn.GRU``/``nn.LSTM`` call; Bahdanau's original feeds c_t into the next recurrent step and needs a
loop over t. ``TransformerSeq2Seq`` is ``seqlab.models.transformer.EncoderDecoder`` with its
sizes kept as a config (so a trained one can be cached and rebuilt) and its attention weights
per layer and head (``attention_maps``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.checks import (
    check_choice,
    check_dropout,
    check_pad_id,
    check_positive_int,
    check_targets,
    check_token_ids,
)
from seqlab.models.attention import AdditiveAttention, DotAttention, GeneralAttention
from seqlab.models.transformer import EncoderDecoder

__all__ = [
    "RNNSeq2Seq",
    "Seq2SeqConfig",
    "TransformerSeq2Seq",
    "TransformerSeq2SeqConfig",
    "greedy_decode",
]


CELLS = ("gru", "lstm")
ATTENTIONS = ("none", "additive", "dot", "general")


@dataclass
class Seq2SeqConfig:
    """Sizes of an ``RNNSeq2Seq``: vocabularies, embedding width ``n_embd``, recurrent
    ``hidden_size``, ``n_layer`` recurrent layers in the encoder and in the decoder; ``cell``
    "gru" | "lstm"; ``attention`` "none" | "additive" | "dot" | "general"; ``dropout`` in [0, 1).
    ``pad_id``: source padding (masked out of attention and of the encoder's final state) and
    target padding (ignored by the loss); None = no padding. Every field is checked
    (``ValueError`` naming it)."""

    src_vocab_size: int
    tgt_vocab_size: int
    n_embd: int = 32
    hidden_size: int = 64
    n_layer: int = 1
    cell: str = "gru"
    attention: str = "none"
    dropout: float = 0.0
    pad_id: int | None = None

    def __post_init__(self) -> None:
        for name in ("src_vocab_size", "tgt_vocab_size", "n_embd", "hidden_size", "n_layer"):
            setattr(self, name, check_positive_int(getattr(self, name), name))
        check_choice(self.cell, CELLS, "cell")
        check_choice(self.attention, ATTENTIONS, "attention")
        self.dropout = check_dropout(self.dropout)
        check_pad_id(self.pad_id, min(self.src_vocab_size, self.tgt_vocab_size))


class RNNSeq2Seq(nn.Module):
    """GRU/LSTM encoder-decoder, with or without attention (see the module docstring).

    memory = ``(enc_out (B, S, H), enc_state, src_mask (B, S) | None)``, where ``enc_state`` is
    h (L, B, H) for a GRU, (h, c) for an LSTM.
    """

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        if not isinstance(config, Seq2SeqConfig):
            raise TypeError(f"expected a Seq2SeqConfig, got {type(config).__name__}")
        self.config = c = config
        rnn = nn.GRU if c.cell == "gru" else nn.LSTM
        drop_between = c.dropout if c.n_layer > 1 else 0.0
        self.src_emb = nn.Embedding(c.src_vocab_size, c.n_embd)
        self.tgt_emb = nn.Embedding(c.tgt_vocab_size, c.n_embd)
        self.drop = nn.Dropout(c.dropout) if c.dropout > 0 else nn.Identity()
        self.encoder = rnn(
            c.n_embd, c.hidden_size, c.n_layer, batch_first=True, dropout=drop_between
        )
        self.decoder = rnn(
            c.n_embd, c.hidden_size, c.n_layer, batch_first=True, dropout=drop_between
        )
        if c.attention == "none":
            self.attn, self.combine = None, None
        else:
            self.attn = {
                "additive": lambda: AdditiveAttention(c.hidden_size, c.hidden_size, c.hidden_size),
                "dot": DotAttention,
                "general": lambda: GeneralAttention(c.hidden_size, c.hidden_size),
            }[c.attention]()
            self.combine = nn.Linear(2 * c.hidden_size, c.hidden_size)  # W_c [c_t; h_t]
        self.head = nn.Linear(c.hidden_size, c.tgt_vocab_size)

    def encode(self, src: torch.Tensor) -> tuple:
        """src (B, S) -> memory (enc_out (B, S, H), enc_state, src_mask (B, S) | None)."""
        check_token_ids(src, self.config.src_vocab_size, "src")
        x = self.drop(self.src_emb(src))  # (B, S, E)
        pad = self.config.pad_id
        if pad is None:
            out, state = self.encoder(x)  # (B, S, H), state
            return out, state, None
        mask = src != pad  # (B, S) True = real token
        lengths = mask.sum(dim=1)
        if (lengths == 0).any():
            raise ValueError("a source sequence is all padding; need at least one real token")
        if self.config.cell == "gru" and self.config.n_layer == 1:
            # one GRU layer: its output at step t *is* h_t, so the final state is the output at
            # each sequence's last real token. Same result as packing, and the backward pass is
            # about twice as fast on a CPU (packed sequences backpropagate slowly there).
            out, _ = self.encoder(x)  # (B, S, H); steps after the padding starts are ignored
            last = (lengths - 1)[:, None, None].expand(-1, 1, out.shape[2])  # (B, 1, H)
            state = out.gather(1, last).transpose(0, 1).contiguous()  # (1, B, H)
            return out.masked_fill(~mask[:, :, None], 0.0), state, mask
        # packing makes the final state the one after each sequence's last real token
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.encoder(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])  # (B, S, H)
        return out, state, mask

    def decode_with_attention(
        self, tgt_in: torch.Tensor, memory: tuple
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Outputs: logits (B, T, V); alignment weights (B, T, S) (rows sum to 1) or None."""
        check_token_ids(tgt_in, self.config.tgt_vocab_size, "tgt_in")
        enc_out, enc_state, src_mask = memory
        if tgt_in.shape[0] != enc_out.shape[0]:
            raise ValueError(
                f"src and tgt_in batch sizes differ: {enc_out.shape[0]} vs {tgt_in.shape[0]}"
            )
        y = self.drop(self.tgt_emb(tgt_in))  # (B, T, E)
        h, _ = self.decoder(y, enc_state)  # (B, T, H), starting from the encoder's final state
        if self.attn is None:
            return self.head(self.drop(h)), None  # (B, T, V)
        context, weights = self.attn(h, enc_out, mask=src_mask)  # (B, T, H), (B, T, S)
        h_tilde = torch.tanh(self.combine(torch.cat([context, h], dim=-1)))  # (B, T, H)
        return self.head(self.drop(h_tilde)), weights  # (B, T, V)

    def decode(self, tgt_in: torch.Tensor, memory: tuple) -> torch.Tensor:
        return self.decode_with_attention(tgt_in, memory)[0]  # (B, T, V)

    def alignments(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Attention weights (B, T, S) of a teacher-forced pass (for alignment heatmaps)."""
        if self.attn is None:
            raise ValueError("this model has attention='none': no alignment weights")
        return self.decode_with_attention(tgt_in, self.encode(src))[1]

    def forward(
        self, src: torch.Tensor, tgt_in: torch.Tensor, tgt_out: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Inputs: src (B, S), tgt_in (B, T), tgt_out (B, T) | None token ids.

        Outputs: logits (B, T, V); loss (mean cross-entropy over non-pad targets) or None.
        """
        logits = self.decode(tgt_in, self.encode(src))  # (B, T, V)
        if tgt_out is None:
            return logits, None
        check_targets(tgt_out, tgt_in, "tgt_out")
        ignore = -1 if self.config.pad_id is None else self.config.pad_id
        loss = F.cross_entropy(
            logits.reshape(-1, self.config.tgt_vocab_size), tgt_out.reshape(-1), ignore_index=ignore
        )
        return logits, loss


@dataclass
class TransformerSeq2SeqConfig:
    """The arguments of ``EncoderDecoder`` (torch's names), as a config: vocabularies,
    ``d_model``, ``nhead``, ``num_layers`` (encoder and decoder each), ``dim_feedforward``
    (None: 4 d_model), ``dropout``, ``norm_first``, ``block_size``, ``pad_id``. Checked by
    ``EncoderDecoder`` (``ValueError`` naming the argument)."""

    src_vocab_size: int
    tgt_vocab_size: int
    d_model: int = 64
    nhead: int = 4
    num_layers: int = 2
    dim_feedforward: int | None = None
    dropout: float = 0.0
    norm_first: bool = True
    block_size: int = 256
    pad_id: int | None = None


class TransformerSeq2Seq(EncoderDecoder):
    """The Transformer encoder-decoder (Vaswani et al. 2017): ``EncoderDecoder`` built from a
    :class:`TransformerSeq2SeqConfig` or from ``EncoderDecoder``'s own arguments
    (``TransformerSeq2Seq(10, 9, d_model=16)``); the config is kept as ``.config``."""

    def __init__(self, *args, **kwargs):
        if len(args) == 1 and not kwargs and isinstance(args[0], TransformerSeq2SeqConfig):
            config = args[0]
        else:
            config = TransformerSeq2SeqConfig(*args, **kwargs)
        super().__init__(**asdict(config))
        self.config = config

    @torch.no_grad()
    def attention_maps(
        self, src: torch.Tensor, tgt_in: torch.Tensor
    ) -> dict[str, list[torch.Tensor]]:
        """Attention weights of a teacher-forced pass, for heatmaps.

        Inputs: src (B, S), tgt_in (B, T) token ids. Outputs: ``{"encoder": L x (B, nh, S, S),
        "self": L x (B, nh, T, T) (causal), "cross": L x (B, nh, T, S)}``, one tensor per
        layer; every row sums to 1 over the keys it may see (padding gets 0).
        """
        x, src_mask = self._embed(src, self.src_emb, "src"), None
        if self.pad_id is not None:
            src_mask = src != self.pad_id  # (B, S) True = real token
        maps: dict[str, list[torch.Tensor]] = {"encoder": [], "self": [], "cross": []}
        for block in self.encoder.blocks:
            x, w, _ = block.forward_with_weights(x, mask=src_mask)
            maps["encoder"].append(w)  # (B, nh, S, S)
        memory = self.encoder.ln_f(x)  # (B, S, C)
        y = self._embed(tgt_in, self.tgt_emb, "tgt_in")  # (B, T, C)
        for block in self.decoder.blocks:
            y, w_self, w_cross = block.forward_with_weights(
                y, memory, memory_mask=src_mask, causal=True
            )
            maps["self"].append(w_self)  # (B, nh, T, T)
            maps["cross"].append(w_cross)  # (B, nh, T, S)
        return maps


@torch.no_grad()
def greedy_decode(
    model: nn.Module, src: torch.Tensor, max_new_tokens: int, bos: int, eos: int
) -> torch.Tensor:
    """Greedy decoding for any model with ``encode(src)`` and ``decode(tgt_in, memory)``.

    Inputs: src (B, S); max_new_tokens: most tokens to generate; bos / eos: start and end token ids.
    Outputs: (B, U) generated ids after ``<bos>``, U <= max_new_tokens; each row ends at its first
    ``eos`` (included) and is filled with ``eos`` after it; decoding stops once every row has
    produced ``eos``. The model runs in eval mode (its mode is restored afterwards).
    """
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, int)
        or max_new_tokens <= 0
    ):
        raise ValueError(f"max_new_tokens must be an int > 0, got {max_new_tokens!r}")
    was_training = model.training
    model.eval()
    try:
        memory = model.encode(src)
        B = src.shape[0]
        ys = torch.full((B, 1), bos, dtype=torch.long, device=src.device)  # (B, 1)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        for _ in range(max_new_tokens):
            logits = model.decode(ys, memory)[:, -1]  # (B, V) for the newest position
            nxt = logits.argmax(dim=-1).masked_fill(done, eos)  # (B,)
            ys = torch.cat([ys, nxt[:, None]], dim=1)  # (B, U + 1)
            done |= nxt == eos
            if bool(done.all()):
                break
    finally:
        model.train(was_training)
    return ys[:, 1:]  # (B, U)
