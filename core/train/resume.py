"""Continuing a checkpointed run: what of the stored optimizer state carries over, and whether a run saved
in the middle of an epoch can continue under the new settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from netbuilder.core.train.config import TrainConfig, TrainError
from netbuilder.core.train.events import WarningEvent
from netbuilder.core.train.optim import make_optimizer


def restore_optimizer(optimizer: torch.optim.Optimizer, params: Sequence[tuple[str, torch.nn.Parameter]],
                      config: TrainConfig, path: str, state: dict[str, Any],
                      saved_name: object) -> tuple[torch.optim.Optimizer, WarningEvent | None]:
    """The optimizer to continue with: ``optimizer`` with the stored state when it belongs to the same
    optimizer, else a fresh one, with a warning saying so. The settings of this run (momentum, weight
    decay, Nesterov) win over the stored ones."""
    c = config
    if isinstance(saved_name, str) and saved_name.strip().lower() != c.optimizer:
        return optimizer, WarningEvent(
            f"{path} was trained with the {saved_name} optimizer; its state (momentum buffers, running "
            f"averages) does not carry over to {c.optimizer}, which starts afresh")
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError, RuntimeError, TypeError, AttributeError, IndexError):
        # a failed load can leave the optimizer half-restored: build it again
        return make_optimizer(c, [p for _, p in params]), WarningEvent(
            f"the optimizer state in {path} does not fit the {c.optimizer} optimizer; it starts afresh")
    # load_state_dict restores the stored param_groups; the learning rate is set every step by the
    # schedule, the other settings come from this run's config
    for g in optimizer.param_groups:
        for key in ("momentum", "weight_decay", "nesterov"):
            if key in g:
                g[key] = getattr(c, key)
    return optimizer, None


def check_mid_epoch(config: TrainConfig, path: str, epoch: int, step_in_epoch: int, steps_per_epoch: int,
                    saved: Mapping[str, Any]) -> None:
    """A run stopped inside epoch ``epoch + 1`` continues from its position in that epoch's shuffle, which
    is counted in batches: it needs the same batch size, and the epoch must not already be over under
    these settings. :class:`TrainError` otherwise."""
    c = config
    saved_bs = saved.get("batch_size")
    if saved_bs != c.batch_size:
        raise TrainError(
            f"{path} was saved in the middle of epoch {epoch + 1} (after step {step_in_epoch}) with "
            f"batch size {saved_bs}; continue it with batch size {saved_bs}, or change the batch size "
            f"after a checkpoint saved at the end of an epoch", field="batch_size")
    if step_in_epoch > steps_per_epoch:
        raise TrainError(
            f"{path} was saved after step {step_in_epoch} of epoch {epoch + 1}, but these settings "
            f"allow only {steps_per_epoch} step(s) per epoch (limit_steps {c.limit_steps}); raise "
            f"limit_steps to at least {step_in_epoch}, or change it after a checkpoint saved at the end "
            f"of an epoch", field="limit_steps")
