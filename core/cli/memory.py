"""Refuse, before any tensor is allocated, a network too large for this machine's memory.

torch's CPU allocator raises a bare ``RuntimeError`` (a traceback) for a request beyond the address
space, and the kernel grants a merely too-large one lazily and then ends the process with the
out-of-memory killer, with no message at all. A rough estimate from inference, checked first, turns
both into one clean line.
"""

from __future__ import annotations

import math
import os

from netbuilder.core.errors import UserError
from netbuilder.core.model.inference import InferenceResult

BYTES_PER_VALUE = 4  # float32


def physical_memory() -> int | None:
    """Bytes of RAM on this machine, or None where the platform does not say (Windows)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def estimated_bytes(result: InferenceResult, batch: int) -> int:
    """Memory for one forward and backward pass of ``batch`` samples: the weights and their
    gradients, and each layer's output kept for the backward pass, its gradient and a temporary."""
    activations = sum(math.prod(i.output_shape) for i in result.nodes.values() if i.output_shape is not None)
    return BYTES_PER_VALUE * (2 * result.total_params + 3 * batch * activations)


def check_fits(result: InferenceResult, batch: int, doing: str, fix: str = "make the network smaller") -> None:
    """Raise :class:`UserError` when ``doing`` (e.g. "the autograd graph") would need more memory
    than this machine has; the message ends with ``fix``."""
    total = physical_memory()
    need = estimated_bytes(result, batch)
    if total is not None and need > total:
        raise UserError(
            f"{doing} needs about {need / 1e9:,.1f} GB ({result.total_params:,} parameters, batch {batch}) but "
            f"this machine has {total / 1e9:,.1f} GB of memory; {fix}"
        )
