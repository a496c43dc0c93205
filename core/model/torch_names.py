"""The dotted names specs use for torch callables (``"F.relu"``, ``"torch.flatten"``), resolved.

Specs name functions as they appear in generated code, so ``layers`` stays free of torch objects;
autograd's node-by-node run, the importer and the tests turn those names into the callables here.
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

_OWNERS: dict[str, Any] = {"F": F, "torch": torch, "operator": operator}


def torch_function(name: str) -> Callable[..., Any]:
    """``"F.relu"`` → :func:`torch.nn.functional.relu`; also ``torch.``, ``operator.`` and
    ``torchvision.ops.`` names (``"torchvision.ops.stochastic_depth"``; torchvision is imported
    only when a spec names it).

    ValueError for any other owner or a missing attribute, so a misspelt spec fails loudly."""
    if name.startswith("torchvision.ops."):
        fn = getattr(importlib.import_module("torchvision.ops"), name.rpartition(".")[2], None)
    else:
        owner, _, attr = name.partition(".")
        fn = getattr(_OWNERS.get(owner), attr, None) if owner in _OWNERS else None
    if not callable(fn):
        raise ValueError(f"{name!r} is not a function of F, torch, operator or torchvision.ops")
    return fn  # type: ignore[no-any-return]


def nn_class(name: str) -> type[torch.nn.Module]:
    """``"Conv2d"`` → :class:`torch.nn.Conv2d`, ``"torchvision.ops.StochasticDepth"`` → that class;
    ValueError if there is no such module class."""
    if name.startswith("torchvision.ops."):
        cls = getattr(importlib.import_module("torchvision.ops"), name.rpartition(".")[2], None)
    else:
        cls = getattr(torch.nn, name, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ValueError(f"neither torch.nn nor torchvision.ops has a module class {name!r}")
    return cls
