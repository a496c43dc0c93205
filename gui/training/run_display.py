"""How the training panel shows a run: the progress bar and the line under it, fed by the session's
events and redrawn on a timer at 10 Hz (so the GUI's cost does not grow with the step rate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netbuilder.core.model.summary import fmt_duration
from netbuilder.core.train.events import EpochEvent, FailedEvent, FinishedEvent, StepEvent, StoppedEvent
from netbuilder.core.train.trainer import Trainer
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QWidget

if TYPE_CHECKING:
    from netbuilder.gui.training.session import FinalEvent, TrainingSession


class RunDisplay:
    """The progress bar (:attr:`bar`) and text (:attr:`text`) of the run of ``session``."""

    def __init__(self, session: TrainingSession, parent: QWidget) -> None:
        self.session = session
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setTextVisible(True)
        self.bar.setFormat("not started")
        self.text = QLabel(" ")
        self.text.setWordWrap(True)
        self._last_step: StepEvent | None = None
        self._dirty = False
        self.timer = QTimer(parent)
        self.timer.setInterval(100)  # progress text at 10 Hz whatever the step rate
        self.timer.timeout.connect(self.refresh)
        self.timer.start()

    def reset(self, text: str = "not started") -> None:
        """Back to an empty bar showing ``text``."""
        self._last_step = None
        self.bar.setValue(0)
        self.bar.setFormat(text)
        self.text.setText(" ")

    def starting(self) -> None:
        """A run is starting."""
        self._last_step = None
        self.bar.setFormat("starting…")

    def on_event(self, ev: object) -> None:
        """Note a step (shown at the next refresh) or show an epoch's summary."""
        if isinstance(ev, StepEvent):
            self._last_step = ev
            self._dirty = True
        elif isinstance(ev, EpochEvent):
            self._dirty = True
            self.text.setText(f"Epoch {ev.epoch}: test accuracy {100 * ev.test_accuracy:.2f} %, train accuracy "
                              f"{100 * ev.train_accuracy:.2f} %, {ev.seconds:.1f} s")

    def finished(self, final: FinalEvent, t: Trainer | None) -> None:
        """Show how the run ended."""
        self.refresh(force=True)
        if isinstance(final, FinishedEvent):
            secs = final.train_seconds / max(1, len(final.history.get("epoch_seconds", [])) or 1)
            self.bar.setValue(1000)
            self.bar.setFormat(f"finished: test accuracy {100 * final.test_accuracy:.2f} %")
            n = t.epoch if t else 0
            self.text.setText(f"Finished {n} epoch{'s' if n != 1 else ''}: test accuracy "
                              f"{100 * final.test_accuracy:.2f} %, test loss {final.test_loss:.4f}, "
                              f"{secs:.1f} s per epoch, {final.samples_per_second:,.0f} samples/s")
        elif isinstance(final, StoppedEvent):
            self.bar.setFormat(f"stopped at epoch {final.epoch + (1 if t and t._step_in_epoch else 0)}, "
                               f"step {final.global_step} — Start continues")
        elif isinstance(final, FailedEvent):
            self.bar.setFormat("failed — see the message above")

    def refresh(self, force: bool = False) -> None:
        """Redraw the bar from the last step (only when a step arrived since, unless ``force``)."""
        ev = self._last_step
        if ev is None or not (self._dirty or force):
            return
        self._dirty = False
        total = max(1, ev.total_steps)
        self.bar.setValue(int(1000 * ev.global_step / total))
        epochs = max(1, round(ev.total_steps / max(1, ev.steps_per_epoch)))
        s = self.session
        state = "paused · " if s.paused else "evaluating on the test set · " if s.evaluating else ""
        self.bar.setFormat(f"{state}epoch {ev.epoch}/{epochs} · step {ev.step}/{ev.steps_per_epoch}")
        if s.active:
            self.text.setText(f"{ev.samples_per_second:,.0f} samples/s · ETA {fmt_duration(ev.eta_seconds)}"
                              f" · loss {ev.loss:.4f} · lr {ev.lr:.3g}")
