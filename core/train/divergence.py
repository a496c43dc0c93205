"""Watching a run for divergence: a loss that climbs far above where it started and stays there, or an
epoch that ends at chance accuracy. Either is said once per run as a :class:`WarningEvent` naming the
likely cause (a learning rate too high for the optimizer) and the fix; the run goes on, since the user
may have a reason, and a non-finite loss still stops it (:mod:`netbuilder.core.train.observe`)."""

from __future__ import annotations

from collections import deque

from netbuilder.core.train.config import TrainConfig
from netbuilder.core.train.events import WarningEvent

# a learning rate known to work for each optimizer on the presets; far above it is the usual cause
TYPICAL_LR = {"sgd": 0.05, "adam": 0.001, "adamw": 0.001, "rmsprop": 0.001}
START_STEPS = 10  # the starting loss is the median of the first steps (a blow-up may begin among them)
WINDOW = 20  # "sustained": the mean over this many recent steps
GROWTH = 10.0  # far above: this many times the starting loss ...
MARGIN = 1.0  # ... and at least this much above it (a near-zero starting loss may grow tenfold in noise)
MIN_EPOCH_STEPS = 50  # shorter epochs (quick tries) say little about accuracy
CHANCE_FACTOR = 1.5  # accuracy under this many times 1/classes counts as chance


class DivergenceWatch:
    """Fed each step's loss and each epoch's training accuracy; returns a warning the first time the run
    looks diverged."""

    def __init__(self, config: TrainConfig, num_classes: int) -> None:
        self.config = config
        self.num_classes = num_classes
        self._first: list[float] = []
        self._recent: deque[float] = deque(maxlen=WINDOW)
        self._sum = 0.0
        self.warned = False

    def step(self, loss: float) -> WarningEvent | None:
        """The warning if the loss has stayed far above its start for :data:`WINDOW` steps, else None."""
        if self.warned:
            return None
        if len(self._first) < START_STEPS:
            self._first.append(loss)
        if len(self._recent) == WINDOW:
            self._sum -= self._recent[0]
        self._recent.append(loss)
        self._sum += loss
        if len(self._first) < START_STEPS or len(self._recent) < WINDOW:
            return None
        start = sorted(self._first)[START_STEPS // 2]
        now = self._sum / WINDOW
        if now <= max(GROWTH * start, start + MARGIN):
            return None
        self.warned = True
        return WarningEvent(f"the run is diverging: the loss rose from {start:.3g} at the start to {now:.3g} "
                            f"(mean of the last {WINDOW} steps); {self._cause()}")

    def epoch(self, epoch: int, steps: int, train_accuracy: float) -> WarningEvent | None:
        """The warning if an epoch of at least :data:`MIN_EPOCH_STEPS` steps ended at chance accuracy."""
        chance = 1.0 / max(1, self.num_classes)
        if self.warned or steps < MIN_EPOCH_STEPS or train_accuracy > CHANCE_FACTOR * chance:
            return None
        self.warned = True
        return WarningEvent(f"after epoch {epoch} the training accuracy is {100 * train_accuracy:.1f}%, chance "
                            f"level for {self.num_classes} classes: the network is not learning; "
                            f"{self._cause()}")

    def _cause(self) -> str:
        # the setting the user chose, not the scheduled value of the moment
        lr, opt = self.config.lr, self.config.optimizer
        typical = TYPICAL_LR.get(opt, 0.001)
        if lr > typical:
            return f"the learning rate {lr:g} is too high for {opt.upper()}: try {typical:g}"
        return (f"try a learning rate of {lr / 10:g} (now {lr:g}), and check that the loss suits the "
                f"network's output")
