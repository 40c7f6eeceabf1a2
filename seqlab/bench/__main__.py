"""``python -m seqlab.bench seqlen|lm [flags]`` (see :mod:`seqlab.bench.cli`)."""

import sys

from seqlab.bench.cli import main

sys.exit(main())
