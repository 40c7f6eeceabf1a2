"""seqlab's LM benchmark side by side with nanoGPT's CPU recipe, alternating in one process.

Runs ``seqlab.bench.lm.bench_lm`` (our model, trained by ``seqlab.train``) with our
re-implementation of nanoGPT (``reference_nanogpt.py``, next to this file) as its partner: 10
training steps each, turn by turn, so machine load hits both alike. The flags are those of
``python -m seqlab.bench lm`` plus ``--reference_iters``; the output is the same table and one
JSON line, with the reference's numbers under ``reference``::

    python benchmarks/compare_nanogpt.py --max_iters 300                   # throughput, fp32
    python benchmarks/compare_nanogpt.py --max_iters 300 --dtype bfloat16  # ours in bf16 autocast
    python benchmarks/compare_nanogpt.py --preset fast                     # time to val loss 1.88

With a target loss (``--preset fast``) the reference follows nanoGPT's own CPU recipe (4 layers,
4 heads, 128 dims, context 64, batch 12, lr 1e-3 cosine to 1e-4 over 2,000 iterations); without
one it takes our sizes, context and batch so that tokens/s compare like for like. CPU only: the
reference is the CPU recipe.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace

import numpy as np
import reference_nanogpt as ref  # this folder is on sys.path when run as a script

from seqlab.bench import LMBenchConfig, Partner, bench_lm, check_device
from seqlab.bench.cli import (
    ArgumentParser,
    add_lm_arguments,
    jsonable,
    lm_config_from_args,
    lm_table,
    positive_int,
)
from seqlab.data.corpus import CharDataset, CharTokenizer, load_shakespeare


def nanogpt_partner(cfg: LMBenchConfig, max_iters: int | None = None) -> Partner:
    """nanoGPT built now (seeded with ``cfg.seed``) as a :class:`seqlab.bench.Partner`.

    ``max_iters``: its iterations (None: 2,000 with a target loss, else ``cfg.max_iters``).
    """
    text = load_shakespeare()
    data = CharDataset(text, CharTokenizer.from_text(text), val_frac=0.1)
    ids = data.split("train").numpy().astype(np.uint16)
    vocab_size = data.tokenizer.vocab_size
    target = cfg.target_loss is not None
    if target:
        mcfg, tcfg = ref.NanoConfig(vocab_size=vocab_size), ref.NanoTrain()
    else:
        mcfg = ref.NanoConfig(block_size=cfg.block_size, vocab_size=vocab_size,
                              n_layer=cfg.n_layer, n_head=cfg.n_head, n_embd=cfg.n_embd)  # fmt: skip
        tcfg = ref.NanoTrain(batch_size=cfg.batch_size)
    tcfg.max_iters = max_iters or (2000 if target else cfg.max_iters)
    model, steps = ref.nanogpt_steps(ids, mcfg, tcfg, seed=cfg.seed)
    return Partner(
        name="reference",
        model=model,
        steps=steps,
        max_iters=tcfg.max_iters,
        tokens_per_step=tcfg.batch_size * mcfg.block_size,
        block_size=mcfg.block_size,
        config={
            "recipe": "nanoGPT CPU (benchmarks/reference_nanogpt.py)",
            **asdict(mcfg),
            **asdict(tcfg),
        },  # fmt: skip
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="python benchmarks/compare_nanogpt.py",
                            description=__doc__.split("\n")[0])  # fmt: skip
    add_lm_arguments(parser)
    parser.add_argument("--reference_iters", "--reference-iters", type=positive_int,
                        help="the reference's iterations (default: 2000 with a target, else "
                             "--max_iters)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        cfg = lm_config_from_args(args, ignore=("preset", "reference_iters"))
        cfg = replace(cfg, device=cfg.device or "cpu")  # the reference is the CPU recipe
        if check_device(cfg.device).type != "cpu":
            raise ValueError(
                f"the reference is nanoGPT's CPU recipe; use --device cpu, not {cfg.device}"
            )
    except ValueError as exc:
        parser.error(str(exc))
    partner = nanogpt_partner(cfg, args.reference_iters)
    result = bench_lm(cfg, out=lambda line: print(line, flush=True), partner=partner)
    print(lm_table(result))
    print(json.dumps(jsonable(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
