"""Choosing the device a run trains on."""

from __future__ import annotations

import torch
from netbuilder.core.train.config import TrainError


def resolve_device(name: str) -> torch.device:
    """``auto`` → cuda, then mps, then cpu; an explicit device that is not there is a :class:`TrainError`."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError("device 'cuda' is not available here (no NVIDIA GPU, or this torch has no CUDA); "
                         "use device auto or cpu", field="device")
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise TrainError("device 'mps' (Apple GPU) is not available here; use device auto or cpu", field="device")
    return torch.device(name)
