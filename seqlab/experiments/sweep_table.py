"""The run table of a scaling sweep: one CSV row per finished run, keyed by ``run_id``.

:class:`RunSpec` is everything that decides one training run; :func:`run_id` hashes its fields
with :data:`SWEEP_VERSION` (not seqlab's sources: an edit elsewhere in the package keeps a
sweep; bump the version when the training itself changes). :func:`append_row` rewrites the
file atomically (a temporary file, then ``os.replace``), so a sweep killed at any moment leaves
either the old table or the new one, never half a row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from seqlab.checks import check_choice

__all__ = ["COLUMNS", "SWEEP_VERSION", "RunSpec", "append_row", "read_table", "run_id"]

#: bump when the training of a run changes (loop, data, evaluation), so old rows are not reused
SWEEP_VERSION = 1
ARCHS: tuple[str, ...] = ("gpt", "lstm")

#: the table's columns, in order (see :mod:`seqlab.experiments.scaling` for their meaning)
COLUMNS: tuple[str, ...] = (
    "run_id", "arch", "n_layer", "n_head", "n_embd", "hidden_size", "block_size", "batch_size",
    "max_iters", "learning_rate", "warmup_iters", "seed", "n_params", "n_params_non_embedding",
    "tokens", "flops", "flops_6nd", "val_loss", "train_loss", "wall_s", "cpu_s", "device", "dtype",
    "world_size", "torch_version", "seqlab_version", "sweep_version", "eval_iters",
    "eval_batch_size", "weight_decay", "finished_at",
)  # fmt: skip


@dataclass(frozen=True)
class RunSpec:
    """One training run of the sweep (nanoGPT's names).

    ``arch`` "gpt" (:class:`~seqlab.models.GPT`: ``n_layer`` blocks, ``n_head`` heads, width
    ``n_embd``; ``hidden_size`` 0) or "lstm" (:class:`~seqlab.models.RecurrentLM`: ``n_layer``
    LSTM layers of ``hidden_size`` on ``n_embd``-wide embeddings; ``n_head`` 0).
    ``batch_size`` is the *global* batch (split over the processes of a distributed run);
    ``max_iters`` steps with ``warmup_iters`` of linear warm-up, then a cosine to
    ``learning_rate / 10`` at the last step. Evaluation: ``eval_iters`` batches of
    ``eval_batch_size`` windows, the same windows for every run. ``dtype``: the autocast dtype
    ("float32", "bfloat16"). Raises ``ValueError`` for an unknown arch or a bad number.
    """

    arch: str = "gpt"
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    hidden_size: int = 0
    block_size: int = 64
    batch_size: int = 32
    max_iters: int = 200
    learning_rate: float = 1e-3
    warmup_iters: int = 20
    seed: int = 0
    eval_iters: int = 8
    eval_batch_size: int = 64
    weight_decay: float = 0.1
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_choice(self.arch, ARCHS, "arch")
        for name in ("n_layer", "n_embd", "block_size", "batch_size", "max_iters", "eval_iters",
                     "eval_batch_size"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        need = "n_head" if self.arch == "gpt" else "hidden_size"
        if not isinstance(getattr(self, need), int) or getattr(self, need) < 1:
            raise ValueError(f"{need} must be an int >= 1 for arch={self.arch!r}, "
                             f"got {getattr(self, need)!r}")  # fmt: skip
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")

    @property
    def run_id(self) -> str:
        return run_id(self)

    @property
    def tokens(self) -> int:
        """Training tokens: ``max_iters * batch_size * block_size``."""
        return self.max_iters * self.batch_size * self.block_size

    def fields(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def run_id(spec: RunSpec) -> str:
    """12 hex digits of SHA-256 over the spec's fields and :data:`SWEEP_VERSION`."""
    payload = json.dumps({**spec.fields(), "sweep_version": SWEEP_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def read_table(path: str | Path) -> pd.DataFrame:
    """The table at ``path`` (an empty one with :data:`COLUMNS` if there is no file yet).
    Columns beyond :data:`COLUMNS` are kept."""
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=list(COLUMNS))
    df = pd.read_csv(path)
    missing = [c for c in ("run_id", "val_loss") if c not in df.columns]
    if missing:
        raise ValueError(f"{path} is not a sweep table: it lacks the columns {missing}")
    return df


def append_row(path: str | Path, row: dict[str, Any]) -> pd.DataFrame:
    """Add ``row`` (replacing a row with its ``run_id``) and rewrite ``path`` atomically;
    return the new table. The folder is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df = read_table(path)
    df = df[df["run_id"] != row["run_id"]]
    new = pd.DataFrame([row])
    df = new if df.empty else pd.concat([df, new], ignore_index=True)
    ordered = [c for c in COLUMNS if c in df.columns] + [c for c in df if c not in COLUMNS]
    df = df[ordered]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            df.to_csv(f, index=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return df
