"""The training panel: choose data and settings, train in a background thread while watching live
curves, read the results, try the model on a drawing, and save or resume runs.

The panel is the widget that lays the parts out and enables them; each part lives in its own module
of this package: the run itself in :mod:`.session` (no widgets; the inspection and teaching views
subscribe to it), the Start/Pause/Stop controls in :mod:`.run_controls`, the progress bar in
:mod:`.run_display`, the settings form in :mod:`.settings_form`, dataset loading in :mod:`.datasets`
(shown by :mod:`.data_section`), the compatibility check in :mod:`.compat`, checkpoints in
:mod:`.checkpoints`, the starting weights in :mod:`.starting_weights`, and the project changes and
close guard in :mod:`.project_guard`. Background threads are in :mod:`.worker`.

Events are merely *buffered* for the plots and the progress bar, which redraw on timers (so the
GUI's cost does not grow with the step rate). While a run is active the document is locked
(``document.set_locked(True)``) so the graph cannot change under the trainer. Settings live in
``document.training`` (saved with the project); each change is an undo command.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from netbuilder.core.errors import UserError
from netbuilder.core.train.data import Dataset
from netbuilder.core.train.trainer import TrainConfig, Trainer
from netbuilder.gui import theme
from netbuilder.gui.editor.commands import MISSING, SetTrainingSettings
from netbuilder.gui.training.checkpoints import CHECKPOINT_SUFFIX, CheckpointActions
from netbuilder.gui.training.compat import CompatCheck
from netbuilder.gui.training.data_section import DataSection
from netbuilder.gui.training.datasets import DatasetKey, DatasetLoader, default_data_folder, remember_data_dir
from netbuilder.gui.training.plots import TrainingPlots
from netbuilder.gui.training.project_guard import ProjectGuard
from netbuilder.gui.training.results import ResultsView
from netbuilder.gui.training.run_controls import RunControls
from netbuilder.gui.training.run_display import RunDisplay
from netbuilder.gui.training.session import TrainingSession
from netbuilder.gui.training.settings_form import SettingsForm
from netbuilder.gui.training.starting_weights import StartingWeights
from netbuilder.gui.training.try_it import TryItView
from netbuilder.gui.training.worker import TaskSlot
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from netbuilder.gui.editor.document import Document
    from netbuilder.gui.window import AppWindow

TASK_EXIT_WAIT_MS = 35_000  # at exit: longer than a stalled download's socket timeout (30 s)


class TrainingPanel(QWidget):
    """Dataset, settings, Start/Pause/Stop, live curves, results, Try it, checkpoints.

    Signals: :attr:`event_received` (every train event, in order), :attr:`trainer_changed` (the live
    :class:`Trainer`, or None), :attr:`run_started`, :attr:`run_finished` (the final event, once the
    panel shows the outcome), :attr:`running_changed` and :attr:`dataset_ready`. The views that follow
    the model subscribe to :attr:`session`. Call :meth:`install` to dock it into the main window."""

    event_received = Signal(object)
    trainer_changed = Signal(object)
    run_started = Signal()
    run_finished = Signal(object)
    running_changed = Signal(bool)
    dataset_ready = Signal(object)

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("training_panel")
        self.document = document
        self.session = TrainingSession(self)
        self.tasks = TaskSlot()
        self.loader = DatasetLoader(self.tasks, self)
        self.form = SettingsForm(self)
        self.checkpoints = CheckpointActions(self)
        self.compat = CompatCheck(self)
        self.starting = StartingWeights(self.show_message)
        self.display = RunDisplay(self.session, self)
        self.run = RunControls(self)
        self._window: AppWindow | None = None
        self.train_actions: dict[str, QAction] = {}  # Tools ▸ Train; not ``actions``: QWidget.actions()

        self.data = DataSection(self)
        self.guard = ProjectGuard(self)
        self._build()
        self.session.event_received.connect(self.event_received)
        self.session.trainer_changed.connect(self._on_trainer_changed)
        self.form.edited.connect(self._on_setting_edited)
        self.settings_from_document()
        document.inferred.connect(self._on_inferred)
        document.locked_changed.connect(lambda _l: self.update_controls())
        self._dataset_timer = QTimer(self)
        self._dataset_timer.setSingleShot(True)
        self._dataset_timer.setInterval(300)
        self._dataset_timer.timeout.connect(self.data.ensure)
        self._dataset_timer.start()
        self.update_controls()

    # ================================================================== construction
    def _build(self) -> None:
        run = self.run
        self.start_button, self.pause_button, self.stop_button = run.start_button, run.pause_button, run.stop_button
        self.new_run_button, self.lock_label = run.new_run_button, run.lock_label
        self.progress = self.display.bar
        self.progress_text = self.display.text
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setVisible(False)
        # persistent: new runs start from imported/opened weights until cleared or another project opens
        self.weights_frame = self.starting.frame
        self.weights_label = self.starting.label
        self.weights_clear = self.starting.clear_button

        ck = self.checkpoints
        self.save_ckpt_button, self.load_ckpt_button = ck.save_button, ck.load_button
        self.offer_frame, self.offer_label, self.offer_load = ck.offer_frame, ck.offer_label, ck.offer_load

        # ---- left column: the run's controls and state, pinned above the scrolling settings
        pinned = QWidget()
        pinned.setObjectName("training_controls")
        pl = QVBoxLayout(pinned)
        pl.setContentsMargins(4, 4, 4, 0)
        pl.addLayout(run.buttons())
        for w in (self.progress, self.progress_text, self.weights_frame, self.lock_label, self.message,
                  self.data.offer.frame, self.offer_frame):
            pl.addWidget(w)
        ck_row = QHBoxLayout()
        ck_row.addWidget(self.save_ckpt_button)
        ck_row.addWidget(self.load_ckpt_button)
        form = QWidget()
        ll = QVBoxLayout(form)
        ll.setContentsMargins(4, 0, 4, 4)
        ll.addWidget(_heading("Data"))
        ll.addLayout(self.data.layout())
        ll.addWidget(_heading("Hyperparameters"))
        ll.addLayout(self.form.hyperparameter_layout())
        ll.addWidget(_heading("Checkpoint"))
        ll.addLayout(ck_row)
        ll.addStretch(1)
        self.settings_area = QScrollArea()
        self.settings_area.setWidgetResizable(True)
        self.settings_area.setWidget(form)
        self.settings_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        form.setMinimumWidth(330)
        self.settings_area.setMinimumWidth(330 + self.settings_area.verticalScrollBar().sizeHint().width() + 4)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(pinned)
        left_layout.addWidget(self.settings_area, 1)
        self.controls_area = pinned

        # ---- right: curves, results, try it
        self.plots = TrainingPlots()
        self.results = ResultsView()
        self.try_it = TryItView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.plots, "Curves")
        self.tabs.addTab(self.results, "Results")
        self.tabs.addTab(self.try_it, "Try it")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([360, 900])
        self.splitter = split
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

        self.tabs.currentChanged.connect(lambda _i: self.plots.flush())

    # ================================================================== public API
    @property
    def trainer(self) -> Trainer | None:
        """The current run's trainer (live while training; kept after it ends), or None."""
        return self.session.trainer

    def is_running(self) -> bool:
        """True while a run's thread is alive."""
        return self.session.is_running()

    @property
    def active(self) -> bool:
        """True from Start until the run's end has been handled (the document is locked meanwhile)."""
        return self.session.active

    def install(self, window: AppWindow) -> QDockWidget:
        """Dock the panel into ``window`` (bottom area), add Tools ▸ Train actions and a close guard."""
        self._window = window
        self.guard.watch(window.widget())
        dock = window.add_panel(self, "Training", Qt.DockWidgetArea.BottomDockWidgetArea, "TrainingDock")
        sub = window.menu("Tools").addMenu("Train")
        for key, text, slot, shortcut in (
            ("start", "Start / Continue training", self.start, "F5"),
            ("pause", "Pause / Resume", self.run.toggle_pause, "F6"),
            ("stop", "Stop training", lambda: self.stop(), "Shift+F5"),
            ("save", "Save checkpoint…", lambda: self.save_checkpoint(), None),
            ("load", "Load checkpoint…", lambda: self.load_checkpoint(), None),
            ("new", "New run", self.new_run, None),
        ):
            act = QAction(text, window.widget())
            if shortcut:
                act.setShortcut(shortcut)
            act.triggered.connect(partial(self._run_action, dock, slot))
            sub.addAction(act)
            self.train_actions[key] = act
        window.close_guards.append(self.confirm_close)
        self.update_controls()
        if self.document.path is not None:
            self.guard.on_path_changed(self.document.path)
        return dock

    @staticmethod
    def _run_action(dock: QDockWidget, slot: Callable[[], object], _checked: bool = False) -> None:
        dock.show()
        dock.raise_()
        slot()

    def config(self) -> TrainConfig:
        """The settings as shown (validated; :class:`UserError` naming the field)."""
        return TrainConfig.from_dict(self.form.settings_dict(self.document.training))

    # ------------------------------------------------------------------ settings <-> document
    def settings_from_document(self) -> None:
        """Show ``document.training`` in the widgets (defaults for what it lacks)."""
        self.guard.training_id = id(self.document.training)
        raw = {k: v for k, v in self.document.training.items() if k in TrainConfig.__dataclass_fields__}
        try:
            cfg = TrainConfig.from_dict(raw)
        except UserError as e:
            self.show_message(f"The project's training settings were not usable ({e}); the defaults are shown.",
                              "warning")
            cfg = TrainConfig()
        self.form.show(cfg)
        self.data.update()
        self.compat.update()
        self.update_controls()

    def _on_setting_edited(self, name: str) -> None:
        new = self.form.value(name)
        old = self.document.training.get(name, MISSING)
        if (getattr(TrainConfig(), name) if old is MISSING else old) == new:
            return
        self.document.undo_stack.push(SetTrainingSettings(self.document, {name: (old, new)},
                                                          self.settings_from_document))
        if name == "data_dir" and new:
            remember_data_dir(str(new))  # the default of every project that names no folder
        if name in ("dataset", "data_dir"):
            self._dataset_timer.start()

    # ================================================================== data
    def dataset_key(self) -> DatasetKey:
        """The chosen dataset's name and folder."""
        name = str(self.form.value("dataset"))
        if name == "sample":
            return name, None
        folder = self.form.value("data_dir")
        return name, (default_data_folder() if folder is None else str(folder))

    def dataset(self) -> Dataset | None:
        """The loaded dataset for the chosen name and folder, if loaded."""
        return self.loader.get(self.dataset_key())

    def download(self) -> None:
        """Download the chosen dataset (progress bar; a clear error offline)."""
        self.data.download()

    def is_downloading(self) -> bool:
        """True while a dataset download runs (it can be cancelled)."""
        return self.loader.is_downloading()

    def cancel_download(self, wait_ms: int = 0) -> bool:
        """Cancel the running download (see :meth:`DatasetLoader.cancel`); True when none is left."""
        return self.data.cancel(wait_ms)

    def schedule_dataset(self) -> None:
        """Load the chosen dataset shortly (settings edits come in bursts)."""
        self._dataset_timer.start()

    def on_dataset_ready(self, key: DatasetKey, ds: Dataset) -> None:
        """Called by the Data section once ``key`` is loaded: start the run waiting for it."""
        self.dataset_ready.emit(ds)
        if self.run.start_after_load and key == self.dataset_key():
            self.run.start_after_load = False
            self.start()
        elif key != self.dataset_key():
            self._dataset_timer.start()

    def on_dataset_missing(self, key: DatasetKey) -> None:
        """Called by the Data section when ``key`` could not be loaded."""
        if self.run.start_after_load:
            self.run.start_after_load = False
            self.run.data_missing(key[0])
        self.update_controls()
        if key != self.dataset_key():
            self._dataset_timer.start()

    # ================================================================== compatibility
    def _on_inferred(self, _result: object) -> None:
        self.compat.update()
        self.update_controls()

    def compat_problem(self) -> str | None:
        """Why the network's Input does not take the chosen data (None when it does)."""
        return self.compat.problem()

    # ================================================================== running
    def start(self) -> bool:
        """Start a run (or continue the stopped/loaded one); False with a message if it cannot start."""
        return self.run.start()

    def pause(self) -> None:
        """Pause the run (between steps)."""
        self.run.pause()

    def resume(self) -> None:
        """Resume the paused run."""
        self.run.resume()

    def stop(self, wait_ms: int = 0) -> bool:
        """Ask the run to stop; with ``wait_ms`` > 0 wait for it (see :meth:`RunControls.stop`)."""
        return self.run.stop(wait_ms)

    def new_run(self) -> None:
        """Forget the current trainer and its curves (the next Start begins afresh)."""
        self.run.new_run()

    @property
    def initial_weights(self) -> dict[str, torch.Tensor] | None:
        """The weights new runs start from (see :class:`StartingWeights`), or None for random ones."""
        return self.starting.state

    def set_initial_weights(self, state_dict: dict[str, torch.Tensor] | None, source: str = "") -> None:
        """Start new runs of the current project from ``state_dict`` (where names and shapes fit) instead
        of random weights; forgets the current run so that Start begins afresh with them.

        The weights belong to the project open now (call this after loading it): opening, creating or
        restoring another project drops them."""
        self.starting.set(state_dict, self.document.training, source)
        self.new_run()
        self.starting.show_notice(announce=True)

    def clear_initial_weights(self) -> None:
        """New runs start from random weights again."""
        self.starting.clear()

    def _on_trainer_changed(self, trainer: Trainer | None) -> None:
        self.trainer_changed.emit(trainer)
        self.update_controls()

    # ================================================================== checkpoints
    def save_checkpoint(self, path: str | Path | None = None) -> Path | None:
        """Save the current run (see :meth:`CheckpointActions.save`); the path, or None."""
        return self.checkpoints.save(path)

    def load_checkpoint(self, path: str | Path | None = None) -> bool:
        """Load a checkpoint to continue or inspect (see :meth:`CheckpointActions.load`)."""
        return self.checkpoints.load(path)

    # ================================================================== closing
    def confirm_close(self, closing: bool | None = None) -> bool:
        """Close guard (see :meth:`ProjectGuard.confirm_close`): False cancels the close/New/Open."""
        return self.guard.confirm_close(closing)

    def shutdown(self) -> None:
        """Stop every background thread (used at exit and by tests)."""
        self.run.start_after_load = False
        if self.session.active:
            self.stop(30_000)
        worker = self.tasks.worker
        if worker is not None and self.loader.downloading:
            worker.cancel()
        self.tasks.shutdown(TASK_EXIT_WAIT_MS)
        self.loader.loading_key, self.loader.downloading = None, False
        self.display.timer.stop()
        self._dataset_timer.stop()

    # ================================================================== dialogs (patchable in tests)
    def ask(self, title: str, text: str, buttons: list[str]) -> str | None:
        """A question with the given buttons; returns the chosen text (None if closed)."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=self)
        made = [box.addButton(b, QMessageBox.ButtonRole.RejectRole if b == "Cancel"
                              else QMessageBox.ButtonRole.AcceptRole) for b in buttons]
        box.setDefaultButton(made[0])
        box.exec()
        clicked = box.clickedButton()
        for b, text_ in zip(made, buttons, strict=True):
            if b is clicked:
                return text_
        return None

    def choose_save_path(self, title: str, start: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, title, start, f"Checkpoints (*{CHECKPOINT_SUFFIX});;All files (*)")
        return path or None

    def choose_open_path(self, title: str, start: str) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, title, start, f"Checkpoints (*{CHECKPOINT_SUFFIX});;All files (*)")
        return path or None

    def choose_directory(self, title: str, start: str) -> str | None:
        return QFileDialog.getExistingDirectory(self, title, start) or None

    # ================================================================== look
    def status(self, text: str) -> None:
        """Show ``text`` in the window's status bar (once installed)."""
        if self._window is not None:
            self._window.status(text)

    def show_message(self, text: str, kind: str = "info") -> None:
        """Show ``text`` above the settings; ``kind`` is "info", "warning" or "error"."""
        self.message.setText(text)
        theme.set_tone(self.message, f"{kind if kind in ('error', 'warning') else 'info'}-box")
        self.message.setVisible(True)
        if kind == "error":
            self.status(text.split("\n")[0][:200])

    def hide_message(self) -> None:
        self.message.setVisible(False)

    def update_controls(self) -> None:
        """Enable what can be done now (running, paused, a background task, a trainer to continue)."""
        active, busy = self.active, self.tasks.busy
        self.run.update_controls(busy)
        self.checkpoints.update_controls(busy)
        self.form.set_enabled(not active, self.dataset_key()[0] == "sample")
        for b in self.compat.fix_buttons:
            b.setEnabled(not active)
        self.data.download_button.setEnabled(not busy and not active)
        for key, enabled in (("start", self.start_button.isEnabled()), ("pause", self.pause_button.isEnabled()),
                             ("stop", active), ("save", self.save_ckpt_button.isEnabled()),
                             ("load", self.load_ckpt_button.isEnabled()), ("new", self.new_run_button.isEnabled())):
            if key in self.train_actions:
                self.train_actions[key].setEnabled(enabled)


def _heading(text: str) -> QLabel:
    label = QLabel(f"<b>{text}</b>")
    label.setContentsMargins(0, 8, 0, 0)
    return label


__all__ = ["TrainingPanel"]
