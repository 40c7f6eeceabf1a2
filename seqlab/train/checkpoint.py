"""Checkpoints: a model's weights in a safetensors file (no pickle), with JSON metadata."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_model, save_model


def save_checkpoint(model: torch.nn.Module, path: str | Path, meta: dict | None = None) -> Path:
    """Write the model's weights to ``path`` (safetensors, no pickle) with ``meta`` as JSON
    in the file's header. Tied weights are stored once."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, str(path), metadata={"seqlab_meta": json.dumps(meta or {})})
    return path


def load_checkpoint(model: torch.nn.Module, path: str | Path, strict: bool = True) -> dict:
    """Load weights saved by :func:`save_checkpoint` into ``model`` (on its device); return meta."""
    device = next(model.parameters()).device
    load_model(model, str(path), strict=strict, device=str(device))
    with safe_open(str(path), framework="pt") as f:
        header = f.metadata() or {}
    return json.loads(header.get("seqlab_meta", "{}"))
