"""Training checkpoints: one file with everything needed to resume exactly.

A checkpoint is a ``torch.save`` archive of plain data only — the project graph as JSON text, the
model's ``state_dict``, the optimizer state, RNG states as tensors, epoch/step counters, the metric
history and the training config. It is read with ``torch.load(weights_only=True)``, whose unpickler
builds only tensors and plain containers: a file carrying code (a pickle whose ``__reduce__`` calls
``os.system``, say) is refused with a :class:`CheckpointError` before anything in it runs.
"""

from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from netbuilder.core.errors import UserError
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.project import ProjectError, atomic_write, dumps, loads
from netbuilder.core.train.config import RULES, TrainConfig

FORMAT = "netbuilder-checkpoint"
VERSION = 1


class CheckpointError(UserError):
    """A checkpoint file is missing, corrupt, not ours, or carries something other than plain data."""


@dataclass
class Checkpoint:
    """A loaded checkpoint. ``rng`` maps a generator name ("torch", "cuda") to its state tensor(s)."""

    graph: Graph
    state_dict: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]
    rng: dict[str, Any]
    epoch: int
    global_step: int
    history: dict[str, list[float]]
    config: dict[str, Any]
    progress: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: str | os.PathLike[str], *, graph: Graph, state_dict: dict[str, torch.Tensor],
                    optimizer_state: dict[str, Any], rng: dict[str, Any], epoch: int, global_step: int,
                    history: dict[str, list[float]], config: dict[str, Any],
                    progress: dict[str, Any] | None = None) -> None:
    """Write a checkpoint atomically (a crash leaves the old file or the new one, never half)."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "project": dumps(graph, config),
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "optimizer": optimizer_state,
        "rng": rng,
        "epoch": int(epoch),
        "global_step": int(global_step),
        "history": {k: [float(v) for v in vs] for k, vs in history.items()},
        "config": dict(config),
        "progress": dict(progress or {}),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    try:
        atomic_write(path, buf.getvalue())
    except OSError as e:
        raise CheckpointError(f"cannot write checkpoint {path}: {e.strerror or e}") from None


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint with ``torch.load(weights_only=True)``; :class:`CheckpointError` on anything
    missing, corrupt, foreign or unsafe."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        culprit = next((ln.strip() for ln in text.splitlines() if "GLOBAL" in ln), None)
        if culprit is None:  # garbage bytes, not a hostile object
            raise CheckpointError(f"{p}: not a readable checkpoint (corrupt, or not a checkpoint file)") from None
        raise CheckpointError(
            f"{p}: refused to load: the file holds code or objects other than tensors and plain data "
            f"({culprit[:200]}); loading it could run that code. Only load checkpoints you made or trust."
        ) from None
    except Exception as e:  # garbage bytes make the unpickler fail in many ways (IndexError, KeyError, ...)
        raise CheckpointError(f"{p}: not a readable checkpoint ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not a NetBuilder checkpoint")
    version = obj.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{p}: checkpoint format version {version!r} is newer than this NetBuilder reads "
                              f"({VERSION}); update NetBuilder")
    try:
        graph = loads(str(obj["project"])).graph
    except ProjectError as e:
        raise CheckpointError(f"{p}: the network stored in the checkpoint is invalid: {e}") from None
    except KeyError:
        raise CheckpointError(f"{p}: the checkpoint has no network") from None
    state = obj.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{p}: the checkpoint's weights are missing or damaged")
    for key, typ in (("optimizer", dict), ("rng", dict), ("epoch", int), ("global_step", int), ("history", dict),
                     ("config", dict)):
        if not isinstance(obj.get(key), typ):
            raise CheckpointError(f"{p}: the checkpoint's {key!r} is missing or damaged")
    if obj["epoch"] < 0 or obj["global_step"] < 0:
        raise CheckpointError(f"{p}: the checkpoint's counters are damaged (negative epoch or step)")
    max_epochs = RULES["epochs"].hi
    if max_epochs is not None and obj["epoch"] > max_epochs:
        # no run can get there (epochs is capped): a forged or damaged counter, not a finished run
        raise CheckpointError(f"{p}: the checkpoint's counters are damaged (epoch {obj['epoch']:.3g}; no run "
                              f"has more than {max_epochs:,.0f} epochs)")
    history = obj["history"]
    if not all(isinstance(k, str) and isinstance(v, list) and all(_is_real(x) for x in v)
               for k, v in history.items()):
        raise CheckpointError(f"{p}: the checkpoint's metric history is damaged (it must hold lists of numbers)")
    progress = obj.get("progress", {})
    if not isinstance(progress, dict) or not all(isinstance(k, str) and _is_real(v) for k, v in progress.items()):
        raise CheckpointError(f"{p}: the checkpoint's progress counters are damaged (they must be numbers)")
    step_in_epoch = progress.get("step_in_epoch", 0)
    if not _is_int(step_in_epoch) or step_in_epoch < 0:
        raise CheckpointError(f"{p}: the checkpoint's step within the epoch is damaged ({step_in_epoch!r})")
    if not isinstance(obj["rng"].get("torch", None), (torch.Tensor, type(None))):
        raise CheckpointError(f"{p}: the checkpoint's random-generator state is damaged")
    return Checkpoint(graph, state, obj["optimizer"], obj["rng"], obj["epoch"], obj["global_step"],
                      {k: [float(x) for x in v] for k, v in history.items()}, obj["config"], progress)


def check_contents(ck: Checkpoint, path: str | os.PathLike[str]) -> None:
    """What :func:`load_checkpoint` leaves to the user of the weights: the settings are valid, and every
    weight is a finite number (a run that diverged saves NaN weights). :class:`CheckpointError` naming the
    first problem."""
    try:
        TrainConfig.from_dict(ck.config)
    except UserError as e:
        raise CheckpointError(f"{path}: the checkpoint's training settings are invalid: {e}") from None
    for name, t in ck.state_dict.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise CheckpointError(f"{path}: the weights {name!r} hold {bad:,} NaN or infinite value(s) (the run "
                                  f"diverged before it was saved); train again with a lower learning rate")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    """A plain int or float (NaN allowed: an empty test split has a NaN loss); not a bool or a string."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)
