"""``python -m seqlab.sweep``: run (or resume) the scaling sweep and store its table.

::

    python -m seqlab.sweep [--profile smoke|standard|full] [--arch gpt lstm] [--out PATH]
                           [--device cpu|cuda] [--dry-run]
    torchrun --nproc_per_node=N -m seqlab.sweep ...     # DDP: gloo on CPU, NCCL on CUDA

The runs are those of the profile's row ``"scaling.sweep"``: the main grid
(:func:`seqlab.experiments.scaling.sweep_specs`), the learning-rate check
(:func:`~seqlab.experiments.scaling.lr_check_specs`) and the isoFLOP grid
(:func:`~seqlab.experiments.scaling_specs.isoflop_specs`), trained by the row's ``processes``
worker processes on a CPU (one per rank under torchrun; ``SEQLAB_PROCESSES=1`` for none); the
table goes to ``--out`` (default
``seqlab.device.cache_dir("sweeps") / "<profile>.csv"``, i.e. ``$SEQLAB_CACHE_DIR/sweeps`` or
``data/sweeps`` in a checkout). Runs already in the table are skipped, so the same command
resumes an interrupted sweep. ``--dry-run`` lists the runs (done or to do) and trains nothing.
A bad argument: one line on stderr and exit status 2, no traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import pandas as pd

from seqlab.bench.cli import ArgumentParser
from seqlab.bench.lm_config import check_device
from seqlab.device import PROFILES, get_device, get_profile
from seqlab.experiments.profiles import config_for
from seqlab.experiments.scaling import (
    SweepConfig,
    all_specs,
    default_table_path,
    grid_specs,
    run_sweep,
)
from seqlab.experiments.sweep_table import ARCHS, read_table

SHOWN = ["arch", "n_layer", "n_embd", "hidden_size", "max_iters", "seed",
         "n_params_non_embedding", "flops", "val_loss", "wall_s"]  # fmt: skip


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m seqlab.sweep", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=PROFILES, default=None,
                        help="the size-table profile (default: $SEQLAB_PROFILE, else standard "
                             "on a CPU, full on a GPU)")  # fmt: skip
    parser.add_argument("--arch", nargs="+", choices=ARCHS, default=list(ARCHS))
    parser.add_argument("--out", default=None, help="the CSV table (created or extended)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="default: cuda if present, else cpu")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="list the runs, train nothing")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns 0. Bad arguments exit with status 2 and one line on stderr."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        profile = args.profile or get_profile()
        device = check_device(args.device) if args.device else get_device()
        if device.type == "mps":
            device = get_device("cpu")  # the sweep runs on CUDA or the CPU
        out = args.out or default_table_path(profile)
        if os.path.isdir(out):
            raise ValueError(f"--out {out!r} is a folder; give a .csv file path")
        config = config_for(SweepConfig, "scaling.sweep", profile)
        specs = all_specs(config, args.arch)
        table = read_table(out)
    except (ValueError, OSError) as exc:
        parser.error(str(exc).splitlines()[0])
    rank = int(os.environ.get("RANK", "0") or 0)
    if args.dry_run:
        done = set(table["run_id"])
        rows = pd.DataFrame([{**s.fields(), "run_id": s.run_id, "done": s.run_id in done}
                             for s in specs])  # fmt: skip
        cols = ["run_id", "arch", "n_layer", "n_head", "n_embd", "hidden_size", "max_iters",
                "learning_rate", "seed", "done"]  # fmt: skip
        print(rows[cols].to_string(index=False))
        print(f"{len(specs)} runs, {int(rows['done'].sum())} done; table: {out}")
        return 0
    # grid by grid: the isoFLOP grid, the learning-rate check, then the main grid budget by
    # budget, shortest first, so that a sweep cut short has whole grids and budgets
    groups = grid_specs(config, args.arch)
    main_grid = groups.pop("main")
    for steps in sorted({s.max_iters for s in main_grid}):
        groups[steps] = [s for s in main_grid if s.max_iters == steps]
    for group in groups.values():
        run_sweep(group, out, device=device, progress=not args.quiet, processes=config.processes)
    df = run_sweep(specs, out, device=device, progress=not args.quiet,
                   processes=config.processes)  # fmt: skip
    if rank == 0:
        print(df[SHOWN].to_string(index=False, float_format="%.4g"))
        print(f"{len(df)} runs; table: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
