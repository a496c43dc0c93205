"""The events a training run yields, as plain dataclasses (no Qt).

:class:`netbuilder.core.train.trainer.Trainer` is an iterator of these. The CLI prints them; the GUI's worker sends
them across threads as they are. They hold only numbers, strings and lists so they cross threads and
serialise to JSON without surprises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StepEvent:
    """One optimisation step finished."""

    epoch: int  # 1-based
    step: int  # 1-based step within the epoch
    steps_per_epoch: int
    global_step: int  # 1-based over the whole run
    total_steps: int
    loss: float
    lr: float
    samples_per_second: float
    eta_seconds: float


@dataclass
class EpochEvent:
    """An epoch ended and the test set was evaluated."""

    epoch: int
    train_loss: float
    train_accuracy: float  # 0..1
    test_loss: float
    test_accuracy: float  # 0..1
    seconds: float
    confusion: list[list[int]] = field(default_factory=list)  # [true][predicted]
    misclassified: list[int] = field(default_factory=list)  # test-set indices, at most a few hundred
    predictions: list[int] = field(default_factory=list)  # predicted class of each misclassified index


@dataclass
class GradStatsEvent:
    """Per-parameter-tensor gradient statistics (fused norms, read back every few steps)."""

    global_step: int
    names: list[str]  # e.g. "conv1.weight"
    layers: list[str]  # the canvas node id each tensor belongs to
    grad_norms: list[float]
    weight_norms: list[float]
    update_ratios: list[float]  # ‖Δw‖ / ‖w‖ of the last step


@dataclass
class HistogramEvent:
    """A histogram of one tensor's gradient values."""

    global_step: int
    name: str
    counts: list[int]
    edges: list[float]


@dataclass
class WarningEvent:
    """Something the user should know; ``node`` names the layer concerned, if any."""

    message: str
    node: str | None = None


@dataclass
class FinishedEvent:
    """The run completed every epoch."""

    history: dict[str, list[float]]
    test_accuracy: float
    test_loss: float
    train_seconds: float
    samples_per_second: float


@dataclass
class StoppedEvent:
    """The run was stopped by the user; it can be saved and resumed."""

    epoch: int
    global_step: int


@dataclass
class FailedEvent:
    """The run failed (non-finite loss, bad data, …). ``node`` names the first layer at fault."""

    message: str
    node: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


TrainEvent = (
    StepEvent | EpochEvent | GradStatsEvent | HistogramEvent | WarningEvent | FinishedEvent | StoppedEvent
    | FailedEvent
)
