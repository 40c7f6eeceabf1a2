"""PyTorch twins of our Transformer blocks: the same weights in ``nn.TransformerEncoderLayer``
or ``nn.TransformerDecoderLayer``, so the chapter and the tests can check one against the other.

    ref = torch_twin(block)          # block: seqlab.models.transformer.TransformerBlock
    assert_close(block(x), ref(x))   # cross=False: an encoder layer

Parameter map (ours -> torch): ``attn.qkv`` -> ``self_attn.in_proj_*`` (rows [W_q; W_k; W_v]
in both), ``attn.proj`` -> ``self_attn.out_proj``, ``ffn.fc`` / ``ffn.proj`` -> ``linear1`` /
``linear2``, ``ln1`` -> ``norm1``; encoder: ``ln2`` -> ``norm2``; decoder (``cross=True``):
``cross_attn`` -> ``multihead_attn``, ``ln_cross`` -> ``norm2``, ``ln2`` -> ``norm3``.
Masks differ in polarity: ours say True = keep, torch's boolean masks True = ignore.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from seqlab.models.attention import MultiHeadAttention
from seqlab.models.transformer import TransformerBlock

__all__ = ["copy_attention", "torch_twin"]


def copy_attention(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    """Copy ``ours`` (``qkv``, ``proj``) into ``theirs`` (``in_proj_*``, ``out_proj``) in place."""
    with torch.no_grad():
        theirs.in_proj_weight.copy_(ours.qkv.weight)
        theirs.out_proj.weight.copy_(ours.proj.weight)
        if ours.qkv.bias is not None:
            theirs.in_proj_bias.copy_(ours.qkv.bias)
            theirs.out_proj.bias.copy_(ours.proj.bias)


def torch_twin(block: TransformerBlock) -> nn.TransformerEncoderLayer | nn.TransformerDecoderLayer:
    """A torch layer with ``block``'s weights, dtype and device, in eval mode, dropout 0.

    Inputs: a :class:`~seqlab.models.transformer.TransformerBlock`; ``cross=False`` gives an
    ``nn.TransformerEncoderLayer``, ``cross=True`` an ``nn.TransformerDecoderLayer`` (both
    ``batch_first=True``, the block's ``norm_first``, ``dim_feedforward``, activation, bias).
    Raises ``TypeError`` for anything but a ``TransformerBlock``.
    """
    if not isinstance(block, TransformerBlock):
        raise TypeError(f"block must be a TransformerBlock, got {type(block).__name__}")
    p = block.attn.qkv.weight
    kwargs = dict(
        d_model=block.attn.embed_dim,
        nhead=block.attn.num_heads,
        dim_feedforward=block.ffn.fc.out_features,
        dropout=0.0,
        activation="gelu" if isinstance(block.ffn.act, nn.GELU) else "relu",
        batch_first=True,
        norm_first=block.norm_first,
        bias=block.attn.qkv.bias is not None,
        dtype=p.dtype,
        device=p.device,
    )
    cross = block.cross_attn is not None
    ref = nn.TransformerDecoderLayer(**kwargs) if cross else nn.TransformerEncoderLayer(**kwargs)
    copy_attention(block.attn, ref.self_attn)
    ref.linear1.load_state_dict(block.ffn.fc.state_dict())
    ref.linear2.load_state_dict(block.ffn.proj.state_dict())
    ref.norm1.load_state_dict(block.ln1.state_dict())
    if cross:
        copy_attention(block.cross_attn, ref.multihead_attn)
        ref.norm2.load_state_dict(block.ln_cross.state_dict())
        ref.norm3.load_state_dict(block.ln2.state_dict())
    else:
        ref.norm2.load_state_dict(block.ln2.state_dict())
    return ref.eval()
