"""seqlab: the helper package of the book "From RNNs to Transformers".

Chapters import what they need from the submodules: ``seqlab.device``, ``seqlab.data``,
``seqlab.models``, ``seqlab.train``, ``seqlab.bench``, ``seqlab.gradients``, ``seqlab.viz``.
"""

from seqlab.device import by_profile, get_device, get_profile, provenance, seed_everything

__version__ = "0.1.0"
__all__ = [
    "by_profile",
    "get_device",
    "get_profile",
    "provenance",
    "seed_everything",
    "__version__",
]
