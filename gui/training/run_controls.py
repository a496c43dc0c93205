"""The training panel's run controls: Start (Continue for a stopped run), Pause/Resume and Stop; after
a finished run New run (the default) beside Continue for N more epochs; and what the panel shows as a
run goes: curves, results, warnings, Try it and the editing lock.

The run itself is the session's (:class:`~netbuilder.gui.training.session.TrainingSession`); this
module decides when a start is possible (settings valid, data fits and is loaded) and shows the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netbuilder.core.errors import UserError
from netbuilder.core.train.config import TrainConfig
from netbuilder.core.train.events import EpochEvent, FailedEvent, WarningEvent
from netbuilder.gui.training.datasets import PRETTY
from netbuilder.gui.training.settings_form import EDITED
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton

if TYPE_CHECKING:
    from netbuilder.gui.training.panel import TrainingPanel
    from netbuilder.gui.training.session import FinalEvent

NO_MODEL_YET = "Train a model (or load a checkpoint), then draw a digit."
TRAINING_RUNS = "Training is running: pause or stop it to try the model."


class RunControls:
    """The run buttons of one :class:`TrainingPanel` and its reactions to the session's run."""

    def __init__(self, panel: TrainingPanel) -> None:
        self.panel = panel
        self.session = panel.session
        self.document = panel.document
        self.start_after_load = False  # Start waits for the dataset being loaded
        self.start_wanted = False  # a Start failed for want of data: the sample offer starts the run
        self.start_button = QPushButton("▶ Start")
        self.start_button.setObjectName("train_start")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Pause or resume the run (F6)")
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.setToolTip("Stop the run after the current step (Shift+F5)")
        # after a run: both ways on, side by side; a new run is the default (F5)
        self.new_run_button = QPushButton("▶ New run")
        self.new_run_button.setObjectName("train_new_run")
        self.new_run_button.setToolTip("Train afresh from new random weights, the curves cleared (F5)")
        self.continue_button = QPushButton("Continue")
        self.continue_button.setObjectName("train_continue")
        self.lock_label = QLabel("Editing is locked while training: stop the run to change the network.")
        self.lock_label.setObjectName("lockBanner")  # the theme styles it
        self.lock_label.setWordWrap(True)
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(lambda: self.stop())
        self.new_run_button.clicked.connect(self.start_new_run)
        self.continue_button.clicked.connect(self.continue_run)
        s = self.session
        s.event_received.connect(self._on_event)
        s.evaluating_changed.connect(self._on_evaluating_changed)
        s.run_finished.connect(self._on_done)

    def buttons(self) -> QHBoxLayout:
        """Start (or New run and Continue after a run), Pause and Stop in a row."""
        row = QHBoxLayout()
        for b in (self.start_button, self.new_run_button, self.continue_button, self.pause_button, self.stop_button):
            row.addWidget(b)
        return row

    def extendable(self) -> bool:
        """Whether the current trainer has completed its epochs and may train more (Continue for N)."""
        t, form = self.session.trainer, self.panel.form
        if t is None or self.session.active or t._step_in_epoch:
            return False
        done = t.epoch >= t.config.epochs
        return done and self.session.continuable(self.document.graph, self.panel.dataset_key()[0],
                                                 form.batch_spin.value())

    def resumable(self) -> bool:
        """Whether Start continues the current trainer rather than beginning a new run."""
        form = self.panel.form
        return self.session.resumable(self.document.graph, self.panel.dataset_key()[0], form.batch_spin.value(),
                                      form.epochs_spin.value())

    def start(self) -> bool:
        """Start a run (or continue the stopped/loaded one); False with a message if it cannot start."""
        panel, s = self.panel, self.session
        if s.active:
            if s.paused:
                self.resume()
            return False
        panel.hide_message()
        try:
            cfg = panel.config()
        except UserError as e:
            panel.show_message(f"Cannot start: {e}", "error")
            return False
        if self.resumable():
            self._note_ignored(cfg)
            self._begin_run()
            s.resume_run(cfg.epochs)
        else:
            problem = panel.compat_problem()
            if problem is not None:
                panel.show_message("Cannot start: " + problem, "error")
                return False
            ds = panel.dataset()
            if ds is None:
                if panel.loader.error_for(panel.dataset_key()) is not None:
                    self.data_missing(cfg.dataset)
                    return False
                self.start_after_load = True
                panel.data.ensure()
                panel.progress.setFormat(f"loading {PRETTY[cfg.dataset]}…")
                return True
            panel.plots.clear()
            panel.results.clear()
            self._begin_run()
            s.start(self.document.graph, cfg, ds, panel.starting.state)
        self._started()
        return True

    def data_missing(self, name: str) -> None:
        """A start failed for want of the dataset: say so; the data offer below may then start it."""
        self.start_wanted = True
        self.panel.show_message(f"Cannot start: {PRETTY[name]} is not available. Download it, choose the folder "
                                "that holds it, or use the bundled sample:", "error")

    def start_new_run(self) -> bool:
        """Forget the current run and start afresh from new weights (the New run button)."""
        self.new_run()
        return self.start()

    def continue_run(self) -> bool:
        """Train the finished run as many more epochs as Epochs says, from its weights, the schedule
        going on (the Continue button); False with a message if it cannot."""
        s, panel = self.session, self.panel
        if not self.extendable():
            return False
        panel.hide_message()
        try:
            cfg = panel.config()
        except UserError as e:
            panel.show_message(f"Cannot continue: {e}", "error")
            return False
        self._note_ignored(cfg)
        self._begin_run()
        s.continue_run(cfg.epochs)
        self._started()
        return True

    def _note_ignored(self, cfg: TrainConfig) -> None:
        t = self.session.trainer
        assert t is not None
        ignored = [k for k in EDITED if k not in ("epochs", "limit_steps", "data_dir")
                   and getattr(cfg, k) != getattr(t.config, k)]
        if ignored:
            self.panel.show_message("Continuing the run with its own settings; your changes to "
                                    f"{', '.join(k.replace('_', ' ') for k in ignored)} apply to a New run.", "info")

    def _started(self) -> None:
        self.panel.update_controls()
        self.panel.running_changed.emit(True)
        self.panel.run_started.emit()

    def _begin_run(self) -> None:
        self.document.set_locked(True)
        self.panel.try_it.set_predictor(None, None, TRAINING_RUNS)
        self.panel.display.starting()

    def pause(self) -> None:
        """Pause the run (between steps): Try it and Save checkpoint become available."""
        if self.session.pause():
            self.panel.update_controls()
            self.enable_try_it()

    def resume(self) -> None:
        """Resume the paused run."""
        if self.session.resume():
            self.panel.try_it.set_predictor(None, None, TRAINING_RUNS)
            self.panel.update_controls()

    def toggle_pause(self) -> None:
        """Pause, or resume when paused."""
        if self.session.paused:
            self.resume()
        else:
            self.pause()

    def stop(self, wait_ms: int = 0) -> bool:
        """Ask the run to stop (it ends after the current step). With ``wait_ms`` > 0, wait that long for
        the thread to end and finish the run's bookkeeping; True when no run is left."""
        if not self.session.request_stop():
            return True
        self.stop_button.setEnabled(False)
        self.panel.progress.setFormat("stopping…")
        return wait_ms > 0 and self.session.wait_stopped(wait_ms)

    def new_run(self) -> None:
        """Forget the current trainer and its curves (asks nothing; the next Start begins afresh)."""
        if self.session.active:
            return
        panel = self.panel
        self.session.forget()
        panel.plots.clear()
        panel.results.clear()
        panel.display.reset()
        panel.hide_message()
        panel.try_it.set_predictor(None, None, NO_MODEL_YET)
        panel.update_controls()

    def enable_try_it(self) -> None:
        """Let Try it use the current model when it is not training."""
        t = self.session.trainer
        if t is not None and (not self.session.active or t.paused):
            self.panel.try_it.set_predictor(t.predict, t.dataset)
        elif t is None:
            self.panel.try_it.set_predictor(None, None, NO_MODEL_YET)

    def update_controls(self, busy: bool) -> None:
        """Enable and name the buttons for the run's state (``busy``: a background task runs)."""
        s, t = self.session, self.session.trainer
        active, paused = s.active, s.paused
        resumable = not active and self.resumable()
        extendable = self.extendable()
        # one Resume while paused (the Pause button's): Start is only for starting
        self.start_button.setEnabled(not active and not busy)
        self.start_button.setVisible(not extendable)
        if resumable and t is not None:
            self.start_button.setText(f"▶ Continue (epoch {t.epoch + (1 if t._step_in_epoch else 0) or 1} "
                                      f"→ {self.panel.form.epochs_spin.value()})")
        else:
            self.start_button.setText("▶ Start")
        self.start_button.setToolTip("Continue the stopped or loaded run (F5)" if resumable else
                                     "Train the network on the canvas with these settings (F5)")
        self.pause_button.setEnabled(active and t is not None)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.stop_button.setEnabled(active)
        # a stopped run offers New run beside Continue; a finished one New run and Continue for N
        self.new_run_button.setVisible(extendable or resumable)
        self.new_run_button.setEnabled(not busy and (extendable or resumable))
        self.new_run_button.setDefault(extendable)  # F5's button; after a stop F5 continues instead
        self.continue_button.setVisible(extendable)
        self.continue_button.setEnabled(not busy)
        if extendable and t is not None:
            n = self.panel.form.epochs_spin.value()
            self.continue_button.setText(f"Continue for {n} more epoch{'s' if n != 1 else ''}")
            ended = {"cosine": " The cosine schedule has ended: the rate stays at its final value (use New run "
                               "with more epochs for a longer decay).",
                     "step": " The step schedule goes on stepping."}.get(t.config.schedule, "")
            self.continue_button.setToolTip(f"Train epochs {t.epoch + 1}–{t.epoch + n} from the trained weights and "
                                            f"optimizer state; the curves go on (Epochs sets how many).{ended}")
        self.lock_label.setVisible(active)

    def _on_event(self, ev: object) -> None:
        panel = self.panel
        panel.plots.add_event(ev)
        panel.display.on_event(ev)
        if isinstance(ev, EpochEvent):
            if self.session.trainer is not None:
                panel.results.show_epoch(ev, self.session.trainer.dataset)
        elif isinstance(ev, WarningEvent):
            panel.show_message("Warning: " + ev.message, "warning")
        elif isinstance(ev, FailedEvent):
            panel.show_message(ev.message, "error")
            if ev.node and ev.node in self.document.graph:
                self.document.select_nodes([ev.node])

    def _on_evaluating_changed(self, _evaluating: bool) -> None:
        if self.session.paused:
            self.panel.update_controls()  # Save waits for the end of an evaluation the pause came during

    def _on_done(self, final: FinalEvent) -> None:
        panel = self.panel
        panel.plots.flush()
        panel.display.finished(final, self.session.trainer)
        self.document.set_locked(False)
        self.enable_try_it()
        panel.update_controls()
        panel.running_changed.emit(False)
        panel.run_finished.emit(final)
