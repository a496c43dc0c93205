"""What a training step optimises and how: the optimizer, the learning-rate schedule and the loss.

Built from a :class:`~netbuilder.core.train.config.TrainConfig`; the names they accept are the config's
:data:`~netbuilder.core.train.config.OPTIMIZERS`, :data:`~netbuilder.core.train.config.SCHEDULES` and
:data:`~netbuilder.core.train.config.LOSSES`. The exported training script implements the same formulas
(``resources/templates/train_script.py``), and a test holds the two to the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from netbuilder.core.train.config import TrainConfig


def make_optimizer(config: TrainConfig, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer ``config.optimizer`` over ``params`` with the config's lr, momentum, weight decay
    and Nesterov setting (each where the optimizer has it)."""
    c = config
    if c.optimizer == "sgd":
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay,
                               nesterov=c.nesterov)
    if c.optimizer == "adam":
        return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
    if c.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
    return torch.optim.RMSprop(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)


def lr_at(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """The learning rate of optimisation step ``step`` (0-based): cosine decay to 0 over the schedule's
    epochs (``schedule_epochs``, default the run's), ``gamma`` every ``step_size`` epochs (default a
    third of them), or constant. Past the schedule's end the rate stays at its final value."""
    c = config
    span = c.schedule_epochs or c.epochs
    if c.schedule == "cosine":
        total = max(1, steps_per_epoch * span)
        return c.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    if c.schedule == "step":
        size = c.step_size or max(1, span // 3)
        return c.lr * c.gamma ** ((step // steps_per_epoch) // size)
    return c.lr


def loss_value(name: str, out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The loss ``name`` of outputs N×K against class labels: cross-entropy on logits, NLL on
    log-probabilities, or mean squared error against one-hot targets."""
    if name == "nll":
        return F.nll_loss(out, y, reduction=reduction)
    if name == "mse":
        target = F.one_hot(y, out.shape[1]).to(out.dtype)
        return F.mse_loss(out, target, reduction=reduction)
    return F.cross_entropy(out, y, reduction=reduction)
