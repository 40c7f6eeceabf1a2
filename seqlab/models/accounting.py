"""Parameter and FLOP accounting: the one place where the book counts them.

Shape letters: T context length, C width (``n_embd`` / ``embed_dim``), V vocabulary, L layers,
H hidden size, G gates per hidden unit (RNN 1, GRU 3, LSTM 4), E embedding width.

Parameters (:func:`count_params`)
    ``n_params`` counts every distinct parameter tensor once (a tied head shares the token
    table). ``non_embedding=True`` leaves out the look-up tables, i.e. ``nn.Embedding`` and
    learned position tables, and with them a head tied to the token table: the N of Kaplan et
    al. (2020), "excluding all vocabulary and positional embeddings". (nanoGPT's
    ``get_num_params`` drops only the position table; ``count_params`` is the one count here.)

FLOPs (:func:`flops_per_token`); a multiply-add counts as 2 FLOPs
    forward  = 2 N_mm + 4 T sum_attn C
    training = 3 x forward = 6 N_mm + 12 T sum_attn C   (the default; for a GPT: 6 N_mm + 12 L T C)
    (backward = 2 x forward: the gradient of each matmul with respect to its input and to its
    weight, each as large as the forward product)

    N_mm (:func:`matmul_params`) is the number of weights that take part in a matrix product
    once per token: every parameter with >= 2 dims, *except* look-up tables (``nn.Embedding``,
    learned positions) and the LSTM's elementwise peepholes, but *including* the output head
    (``lm_head``), which is a (C, V) matmul even when it is tied to the token table. Biases,
    LayerNorm, activations, softmax and the embedding look-up are left out (element-wise work,
    O(C) per token against O(C^2)). For a GPT, N_mm = 12 L C^2 + V C. A mixture-of-experts
    feed-forward layer counts its router (C x n_expert) and the ``top_k`` experts a token
    runs through, not the idle ones: with experts of width F, 2 top_k C F + C n_expert per
    layer (the *active* compute of Fedus et al. 2022; its total parameters are larger).

    The attention term: for each attention layer of width C attending over T keys, a token's
    query meets T keys in q k^T (2 T C FLOPs) and its weights mix T values (2 T C): 4 T C. The
    causal mask's zeros are counted (the kernels compute them), as in PaLM (Chowdhery et al.
    2022, appendix B: 6N + 12 L H Q T training FLOPs per token, H Q = C), which nanoGPT's
    ``estimate_mfu`` follows. Kaplan et al. (2020, Table 1) give C_forward = 2N + 2 n_layer n_ctx
    d_attn: their N leaves out the embedding matrices and their total the de-embedding row
    (2 C V FLOPs), and their context term is what q k^T alone costs at 2 FLOPs per multiply-add
    (weights . v costs as much again). So ours = Kaplan's C_forward + 2 V C + 2 L T C.

    Cheaper attentions count what their kernels compute (``seqlab.models.efficient_attention``;
    per token, per layer of width C with nh heads of hs = C / nh, for T a multiple of the
    block; otherwise the padded blocks are counted and the total rounded to a whole FLOP):
    - sliding window w (block form, w' = min(w, T)): each block of w' queries meets its own
      and the previous block's keys, 2 w' of them (half masked, counted as the causal zeros
      are): 4 (2 w') C, independent of T once T > w.
    - linear (Katharopoulos et al. 2020, eq. 4-6 and the causal eq. 8-9, chunk c' =
      min(chunk_size, T)): within a chunk phi(Q) phi(K)^T and its product with V, 2 c' hs
      each per head; across chunks phi(K)^T V into the state and phi(Q) S, 2 hs^2 each, and
      the normaliser phi(Q) z, 2 hs: 4 c' C + 4 C hs + 2 C, linear in T (the paper's
      O(N D M) for the associative form, against O(N^2 max(D, M)) for softmax, section 3.2).

    A recurrent layer has no context term: per token and layer it multiplies W_ih (G H x C_in)
    and W_hh (G H x H), 2 G H (C_in + H) FLOPs, so recurrent LMs follow the same rule.

Agreement with ``torch.utils.flop_counter.FlopCounterMode`` (which counts matmuls, including
attention's, and nothing else) is tested in ``tests/test_accounting.py``: exact for the GPT's
forward and training step on the explicit attention path; for recurrent layers the counter sees
a little less in training, because the gradient with respect to the zero initial state h_0 is
not computed (a share below 1 / (3 T) of the total). Fused attention kernels are counted by
the counter only where torch registers a formula for them (CUDA flash / memory-efficient /
cuDNN, not the CPU kernel), and their backward recomputes q k^T (2.5x forward for that term).
"""

from __future__ import annotations

from torch import nn

from seqlab.checks import check_positive_int
from seqlab.models.attention import MultiHeadAttention
from seqlab.models.efficient_attention import LinearAttention, SlidingWindowAttention
from seqlab.models.moe import MoEFeedForward
from seqlab.models.transformer import LearnedPositionalEmbedding

__all__ = ["attention_flops_per_token", "count_params", "flops_per_token", "matmul_params"]

TABLES = (nn.Embedding, LearnedPositionalEmbedding)  # look-ups: no arithmetic per token
ELEMENTWISE_2D = ("weight_ch",)  # 2-dim parameters used elementwise (LSTM peepholes)


def count_params(model: nn.Module, non_embedding: bool = False) -> int:
    """``n_params``: parameters of ``model``, each shared tensor once.

    ``non_embedding=True`` leaves out ``nn.Embedding`` tables and learned position tables
    (and so a head tied to the token table), as Kaplan et al. (2020) count N.
    """
    params = {id(p): p for p in model.parameters()}
    if non_embedding:
        for module in model.modules():
            if isinstance(module, TABLES):
                for p in module.parameters(recurse=False):
                    params.pop(id(p), None)
    return sum(p.numel() for p in params.values())


def matmul_params(model: nn.Module) -> int:
    """N_mm: the weights used in a matrix product once per token (see the module docstring).

    A weight shared by a look-up table and a ``Linear`` (the tied ``lm_head``) is counted once,
    as the ``Linear``'s. In a mixture-of-experts layer (:class:`~seqlab.models.moe.
    MoEFeedForward`) a token runs through its router and ``top_k`` of the ``n_expert``
    experts, so the layer counts the router and ``top_k`` experts' weights (the *active*
    ones; the experts are equal in shape), not all of them.
    """
    seen: dict[int, float] = {}
    scale: dict[int, float] = {}  # weight id -> share of tokens that use it (MoE experts)
    for module in model.modules():
        if isinstance(module, MoEFeedForward):
            for p in module.experts.parameters():
                scale[id(p)] = module.top_k / module.n_expert
    for module in model.modules():
        if isinstance(module, TABLES):
            continue
        for name, p in module.named_parameters(recurse=False):
            if p.dim() >= 2 and not name.startswith(ELEMENTWISE_2D):
                seen[id(p)] = p.numel() * scale.get(id(p), 1.0)
    return round(sum(seen.values()))


def _ceil_blocks(T: int, b: int) -> tuple[int, int]:
    """(b', n): the block size used (b' = min(b, T)) and the number of blocks ceil(T / b')."""
    b = min(b, T)
    return b, -(-T // b)


def _layer_flops(m: MultiHeadAttention, T: int) -> int:
    """Forward FLOPs of one attention layer's score and mixing products over T tokens."""
    C = m.embed_dim
    if isinstance(m, SlidingWindowAttention):
        w, n = _ceil_blocks(T, m.window)
        return 4 * (2 * w) * C * (n * w)  # n blocks of w queries x 2w keys
    if isinstance(m, LinearAttention):
        c, n = _ceil_blocks(T, m.chunk_size)
        hs = C // m.num_heads
        return (4 * c * C + 4 * C * hs + 2 * C) * (n * c)  # n chunks of c positions
    return 4 * T * C * T


def attention_flops_per_token(model: nn.Module, T: int) -> int:
    """Forward FLOPs of the score and mixing products per token, summed over the attention
    layers of ``model``: 4 T C for full attention of width C (q k^T and weights . v), and the
    counts of the module docstring for sliding-window and linear attention. Raises
    ``ValueError`` for T < 1."""
    T = check_positive_int(T, "T")
    total = sum(_layer_flops(m, T) for m in model.modules() if isinstance(m, MultiHeadAttention))
    return (total + T // 2) // T  # exact when T is a multiple of every block size


def flops_per_token(model: nn.Module, training: bool = True, T: int | None = None) -> int:
    """FLOPs per token: ``2 N_mm + 4 T sum C`` forward, 3x that for training (the default);
    sliding-window and linear attention layers count their own terms (module docstring).

    Inputs: ``model`` any module (an LM of this package, a recurrent layer, a block);
    ``training`` True: forward + backward (the ``6N`` of scaling laws), False: forward only;
    ``T`` the context length attention runs over, default ``model.config.block_size``
    (needed only when the model has attention layers).
    Outputs: an int, FLOPs per token (multiply-add = 2). Raises ``ValueError`` when the model
    has attention, no ``T`` is given and it has no ``config.block_size``.
    """
    if not isinstance(training, bool):
        raise ValueError(f"training must be True or False, got {training!r}")
    forward = 2 * matmul_params(model)
    if any(isinstance(m, MultiHeadAttention) for m in model.modules()):
        if T is None:
            T = getattr(getattr(model, "config", None), "block_size", None)
            if T is None:
                raise ValueError(
                    "the model has attention layers: pass T, the context length they attend over"
                )
        forward += attention_flops_per_token(model, T)
    return 3 * forward if training else forward
