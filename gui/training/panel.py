"""The training panel: choose data and settings, train in a background thread while watching live
curves, read the results, try the model on a drawing, and save or resume runs.

Threading: a run is a :class:`gui.training_worker.TrainingWorker` in its own ``QThread``; every
:mod:`core.train_events` object comes back over a queued signal, is re-emitted as
:attr:`TrainingPanel.event_received` for other views, and is merely *buffered* for the plots and the
progress bar, which redraw on timers (so the GUI's cost does not grow with the step rate). Stopping
sets the trainer's flag; the thread is never terminated. While a run is active the document is
locked (``document.set_locked(True)``) so the graph cannot change under the trainer.

Settings live in ``document.training`` (the project's ``training`` object, saved with the project);
each change is an undo command, so it marks the project modified and can be undone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from netbuilder.core.errors import UserError
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.layers import get_spec
from netbuilder.core.model.project import to_dict
from netbuilder.core.model.shapes import fmt_shape
from netbuilder.core.model.summary import fmt_duration
from netbuilder.core.train.checkpoint import load_checkpoint
from netbuilder.core.train.data import (
    CIFAR_DIR,
    CIFAR_TAR,
    DATASETS,
    IDX_FILES,
    Dataset,
    check_compat,
    default_data_dir,
    load_dataset,
)
from netbuilder.core.train.events import EpochEvent, FailedEvent, FinishedEvent, StepEvent, StoppedEvent, WarningEvent
from netbuilder.core.train.trainer import LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig, Trainer, resolve_device
from netbuilder.gui.training.plots import TrainingPlots
from netbuilder.gui.training.results import ResultsView
from netbuilder.gui.training.try_it import TryItView
from netbuilder.gui.training.worker import (
    TaskCancelled,
    TaskWorker,
    TrainingWorker,
    WorkerThread,
    choose_threads,
    prepare_process,
)
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QUndoCommand
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from netbuilder.gui.editor.document import Document

DATASET_LABELS = {
    "sample": "MNIST sample (bundled: 6,000 + 1,000 images)",
    "mnist": "MNIST digits (60,000 + 10,000)",
    "fashion-mnist": "Fashion-MNIST clothes (60,000 + 10,000)",
    "cifar10": "CIFAR-10 photos (50,000 + 10,000)",
}
KNOWN_SHAPES = {"sample": (1, 28, 28), "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
PRETTY = {"sample": "the MNIST sample", "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
CHECKPOINT_SUFFIX = ".ckpt"
STOP_WAIT_MS = 1000
CANCEL_WAIT_MS = 3000  # a cancelled download stops at its next chunk; the close waits this long for it
TASK_EXIT_WAIT_MS = 35_000  # at exit: longer than a stalled download's socket timeout (30 s)
# settings the panel edits; the rest of TrainConfig is kept as found in the project file
EDITED = ("dataset", "data_dir", "optimizer", "lr", "momentum", "weight_decay", "batch_size", "epochs", "loss",
          "schedule", "seed", "device", "limit_steps", "fit_input")


def checkpoint_path_for(project: Path) -> Path:
    """Where a project's checkpoint is saved by default: beside it, ``<name>.ckpt``."""
    return project.with_suffix(CHECKPOINT_SUFFIX)


def graph_diff(canvas: Graph, other: Graph) -> list[str]:
    """How ``other`` differs from ``canvas``, node by node (positions ignored): one line per node added,
    removed or changed, then the connections. Empty when they build the same network."""
    a, b = to_dict(canvas), to_dict(other)
    na = {n["id"]: n for n in a["nodes"]}
    nb = {n["id"]: n for n in b["nodes"]}
    lines: list[str] = []
    for nid, n in nb.items():
        if nid not in na:
            lines.append(f"'{nid}' ({n['type']}) is in the checkpoint but not on the canvas")
    for nid, n in na.items():
        if nid not in nb:
            lines.append(f"'{nid}' ({n['type']}) is on the canvas but not in the checkpoint")
    for nid in na.keys() & nb.keys():
        x, y = na[nid], nb[nid]
        if x["type"] != y["type"]:
            lines.append(f"'{nid}' is a {x['type']} on the canvas but a {y['type']} in the checkpoint")
            continue
        px, py = x.get("params", {}), y.get("params", {})
        changes = [f"{k} {px.get(k, 'default')} on the canvas, {py.get(k, 'default')} in the checkpoint"
                   for k in sorted(px.keys() | py.keys()) if px.get(k) != py.get(k)]
        if changes:
            lines.append(f"'{nid}' ({x['type']}): " + "; ".join(changes))

    def edges(d: dict[str, Any]) -> set[str]:
        out = set()
        for e in d["edges"]:
            port = e.get("port")
            out.add(f"{e['src']} → {e['dst']}" + (f" (input {port})" if port is not None else ""))
        return out

    ea, eb = edges(a), edges(b)
    for e in sorted(eb - ea):
        lines.append(f"connection {e} is only in the checkpoint")
    for e in sorted(ea - eb):
        lines.append(f"connection {e} is only on the canvas")
    return lines


class SetTrainingSettings(QUndoCommand):
    """Change training settings in ``document.training`` (undoable; marks the project modified).
    Consecutive changes of the same setting merge, so a spin box makes one undo step."""

    MERGE_ID = 5101

    def __init__(self, panel: TrainingPanel, changes: dict[str, tuple[Any, Any]]) -> None:
        names = ", ".join(k.replace("_", " ") for k in changes)
        super().__init__(f"Training setting: {names}")
        self.panel = panel
        self.changes = dict(changes)  # name → (old, new)

    def _apply(self, which: int) -> None:
        training = self.panel.document.training
        for k, pair in self.changes.items():
            v = pair[which]
            if v is _MISSING:
                training.pop(k, None)
            else:
                training[k] = v
        self.panel.settings_from_document()

    def redo(self) -> None:
        self._apply(1)

    def undo(self) -> None:
        self._apply(0)

    def id(self) -> int:
        return self.MERGE_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetTrainingSettings) or other.changes.keys() != self.changes.keys():
            return False
        self.changes = {k: (self.changes[k][0], other.changes[k][1]) for k in self.changes}
        return True


class ReplaceGraph(QUndoCommand):
    """Replace the canvas network with another (a checkpoint's), as one undo step."""

    def __init__(self, document: Document, new: Graph, text: str) -> None:
        super().__init__(text)
        self.document = document
        self.old = document.graph.copy()
        self.new = new.copy()

    def redo(self) -> None:
        self.document.graph.load_from(self.new.copy())

    def undo(self) -> None:
        self.document.graph.load_from(self.old.copy())


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


class _Job(QObject):
    """One background job: its worker, its thread, and the GUI-thread callbacks for its signals.

    Worker signals are connected to this object's slots (it lives in the GUI thread), so they are
    queued and every callback runs in the GUI thread; a lambda connected directly would run in the
    worker's thread."""

    def __init__(self, worker: QObject, end_signals: list[Any], name: str) -> None:
        super().__init__()
        self.handle = WorkerThread(worker, end_signals, name)
        self.worker = worker
        self.callbacks: dict[str, Callable[..., None]] = {}

    def on(self, name: str, signal: Any, callback: Callable[..., None]) -> None:
        self.callbacks[name] = callback
        signal.connect(getattr(self, "_" + name))

    @Slot(object)
    def _done(self, value: object) -> None:
        self.callbacks["done"](value)

    @Slot(object)
    def _finished(self, value: object) -> None:
        self.callbacks["finished"](value)

    @Slot(str, object)
    def _failed(self, message: str, exc: object) -> None:
        self.callbacks["failed"](message, exc)


class TrainingPanel(QWidget):
    """Dataset, settings, Start/Pause/Stop, live curves, results, Try it, checkpoints.

    Signals: :attr:`event_received` (every train event, in order), :attr:`trainer_changed` (the live
    :class:`Trainer`, or None), :attr:`run_started`, :attr:`run_finished` (the final event) and
    :attr:`running_changed`. Call :meth:`install` to dock it into the main window."""

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
        self._trainer: Trainer | None = None
        # Weights a new run starts from (an opened checkpoint or an imported model), kept where the
        # edited network still has the same tensor names and shapes; None = fresh initialisation.
        self.initial_weights: dict[str, Any] | None = None
        self._weights_for: dict[str, Any] | None = None  # the project (its training dict) they belong to
        self._weights_source = ""
        self._trainer_graph: dict[str, Any] | None = None  # the graph the trainer trains, as to_dict
        self._run: _Job | None = None
        self._task: _Job | None = None
        self._downloading = False  # the current task downloads
        self._cancelled_key: tuple[str, str | None] | None = None  # its download was cancelled by the user
        # ended tasks whose thread is still winding down: a QThread destroyed while running aborts the
        # process, so each is kept until its thread has finished
        self._retired: list[_Job] = []
        self._closing = False  # a window close is being decided (see eventFilter)
        self._final: object | None = None  # last final event of the current trainer
        self._last_step: StepEvent | None = None
        self._progress_dirty = False
        self._evaluating = False
        self._datasets: dict[tuple[str, str | None], Dataset] = {}
        self._dataset_error: tuple[tuple[str, str | None], str] | None = None
        self._loading_key: tuple[str, str | None] | None = None
        self._start_after_load = False
        self._training_dict_id = id(document.training)
        self._populating = False
        self._window: Any = None
        self._offered: Path | None = None
        self.actions: dict[str, QAction] = {}
        self.last_checkpoint: Path | None = None
        self.last_message = ""
        self._run_started_at = 0.0

        self._build()
        self.settings_from_document()
        document.inferred.connect(self._on_inferred)
        document.reset.connect(self._on_document_reset)
        document.path_changed.connect(self._on_path_changed)
        document.locked_changed.connect(lambda _l: self._update_controls())
        self._progress_timer = QTimer(self)
        self._progress_timer.setInterval(100)  # progress text at 10 Hz whatever the step rate
        self._progress_timer.timeout.connect(self._refresh_progress)
        self._progress_timer.start()
        self._dataset_timer = QTimer(self)
        self._dataset_timer.setSingleShot(True)
        self._dataset_timer.setInterval(300)
        self._dataset_timer.timeout.connect(self._ensure_dataset)
        self._dataset_timer.start()
        self._update_controls()

    # ================================================================== construction
    def _build(self) -> None:
        # ---- data
        self.dataset_box = QComboBox()
        for name in DATASETS:
            self.dataset_box.addItem(DATASET_LABELS.get(name, name), name)
        self.dataset_box.setToolTip("The images to train on. The bundled sample needs no download.")
        self.data_dir_edit = QLineEdit()
        self.data_dir_edit.setToolTip("The folder holding the dataset's original files (empty: the default)")
        self.data_dir_button = QToolButton()
        self.data_dir_button.setText("…")
        self.data_dir_button.setToolTip("Choose the data folder")
        self.data_status = QLabel()
        self.data_status.setWordWrap(True)
        self.data_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download the dataset from torchvision's mirrors (needs internet)")
        self.download_bar = QProgressBar()
        self.download_bar.setVisible(False)
        self.cancel_download_button = QPushButton("Cancel download")
        self.cancel_download_button.setVisible(False)
        self.compat_label = QLabel()
        self.compat_label.setWordWrap(True)
        self.fix_buttons: list[QPushButton] = []
        self.fix_row = QHBoxLayout()
        self.fix_row.setContentsMargins(0, 0, 0, 0)

        # ---- hyperparameters
        d = TrainConfig()
        self.optimizer_box = QComboBox()
        self.optimizer_box.addItems(list(OPTIMIZERS))
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(1e-6, 100.0)
        self.lr_spin.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.lr_spin.setToolTip("Learning rate: the size of each optimisation step")
        self.momentum_spin = QDoubleSpinBox()
        self.momentum_spin.setRange(0.0, 1.0)
        self.momentum_spin.setDecimals(3)
        self.momentum_spin.setSingleStep(0.05)
        self.wd_spin = QDoubleSpinBox()
        self.wd_spin.setDecimals(6)
        self.wd_spin.setRange(0.0, 1.0)
        self.wd_spin.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.wd_spin.setToolTip("L2 weight decay (0 = none)")
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 65536)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 10000)
        self.loss_box = QComboBox()
        self.loss_box.addItems(list(LOSSES))
        self.schedule_box = QComboBox()
        self.schedule_box.addItems(list(SCHEDULES))
        self.schedule_box.setToolTip("How the learning rate changes over the run: none, step (×0.1 every third of "
                                     "the epochs) or cosine (smoothly down to 0)")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Random seed: the same seed and settings give the same run")
        self.device_box = QComboBox()
        for dev in ("auto", "cpu", "cuda", "mps"):
            try:
                resolve_device(dev)
                self.device_box.addItem(dev)
            except UserError:
                pass
        self.limit_spin = QSpinBox()
        self.limit_spin.setRange(0, 10_000_000)
        self.limit_spin.setSpecialValueText("all")
        self.limit_spin.setToolTip("Cap the steps per epoch for a quick try (all = the whole training set)")
        self.fit_box = QComboBox()
        self.fit_box.addItem("none: images must match the Input", "none")
        self.fit_box.addItem("pad images to the Input size", "pad")
        self.fit_box.addItem("resize images to the Input size", "resize")
        for box in (self.dataset_box, self.fit_box):  # long item texts must not widen the column
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(14)
        self._setting_widgets: dict[str, QWidget] = {
            "dataset": self.dataset_box, "data_dir": self.data_dir_edit, "optimizer": self.optimizer_box,
            "lr": self.lr_spin, "momentum": self.momentum_spin, "weight_decay": self.wd_spin,
            "batch_size": self.batch_spin, "epochs": self.epochs_spin, "loss": self.loss_box,
            "schedule": self.schedule_box, "seed": self.seed_spin, "device": self.device_box,
            "limit_steps": self.limit_spin, "fit_input": self.fit_box,
        }
        del d

        # ---- controls
        self.start_button = QPushButton("▶ Start")
        self.start_button.setObjectName("train_start")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("■ Stop")
        self.new_run_button = QPushButton("New run")
        self.new_run_button.setToolTip("Forget the current run (curves, weights) and start afresh next time")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("not started")
        self.progress_text = QLabel(" ")
        self.progress_text.setWordWrap(True)
        self.lock_label = QLabel("Editing is locked while training: stop the run to change the network.")
        self.lock_label.setStyleSheet("background: #fff3cd; color: #5c4400; padding: 3px; border-radius: 3px;")
        self.lock_label.setWordWrap(True)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setVisible(False)
        # persistent: new runs start from imported/opened weights until cleared or another project opens
        self.weights_frame = QFrame()
        self.weights_label = QLabel()
        self.weights_label.setWordWrap(True)
        self.weights_clear = QPushButton("Start from random weights")
        self.weights_clear.setToolTip("Forget the loaded weights: new runs start from a fresh random initialisation")
        wl = QHBoxLayout(self.weights_frame)
        wl.setContentsMargins(0, 0, 0, 0)
        wl.addWidget(self.weights_label, 1)
        wl.addWidget(self.weights_clear, 0, Qt.AlignmentFlag.AlignTop)
        self.weights_frame.setVisible(False)

        # ---- checkpoints
        self.save_ckpt_button = QPushButton("Save checkpoint…")
        self.save_ckpt_button.setToolTip("Save the weights, optimizer state, curves and settings to resume later")
        self.load_ckpt_button = QPushButton("Load checkpoint…")
        self.offer_frame = QFrame()
        self.offer_frame.setFrameShape(QFrame.Shape.StyledPanel)
        self.offer_label = QLabel()
        self.offer_label.setWordWrap(True)
        self.offer_load = QPushButton("Load it")
        self.offer_dismiss = QPushButton("Dismiss")
        ol = QHBoxLayout(self.offer_frame)
        ol.addWidget(self.offer_label, 1)
        ol.addWidget(self.offer_load)
        ol.addWidget(self.offer_dismiss)
        self.offer_frame.setVisible(False)

        # ---- left column: everything to set up and control a run
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Dataset", self.dataset_box)
        dir_row = QHBoxLayout()
        dir_row.addWidget(self.data_dir_edit, 1)
        dir_row.addWidget(self.data_dir_button)
        form.addRow("Data folder", dir_row)
        dl_row = QHBoxLayout()
        dl_row.addWidget(self.data_status, 1)
        dl_row.addWidget(self.download_button, 0, Qt.AlignmentFlag.AlignTop)
        dl_row.addWidget(self.cancel_download_button, 0, Qt.AlignmentFlag.AlignTop)
        form.addRow(dl_row)
        form.addRow(self.download_bar)
        form.addRow("Fit images", self.fit_box)
        form.addRow(self.compat_label)
        form.addRow(self.fix_row)
        hp = QFormLayout()
        hp.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        hp.addRow("Optimizer", self.optimizer_box)
        hp.addRow("Learning rate", self.lr_spin)
        hp.addRow("Momentum", self.momentum_spin)
        hp.addRow("Weight decay", self.wd_spin)
        hp.addRow("Batch size", self.batch_spin)
        hp.addRow("Epochs", self.epochs_spin)
        hp.addRow("Steps per epoch", self.limit_spin)
        hp.addRow("Loss", self.loss_box)
        hp.addRow("LR schedule", self.schedule_box)
        hp.addRow("Seed", self.seed_spin)
        hp.addRow("Device", self.device_box)
        controls = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.stop_button):
            controls.addWidget(b)
        ck_row = QHBoxLayout()
        ck_row.addWidget(self.save_ckpt_button)
        ck_row.addWidget(self.load_ckpt_button)
        ck_row.addWidget(self.new_run_button)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(4, 4, 4, 4)
        ll.addLayout(controls)
        ll.addWidget(self.progress)
        ll.addWidget(self.weights_frame)
        ll.addWidget(self.progress_text)
        ll.addWidget(self.lock_label)
        ll.addWidget(self.message)
        ll.addWidget(self.offer_frame)
        ll.addWidget(_heading("Data"))
        ll.addLayout(form)
        ll.addWidget(_heading("Hyperparameters"))
        ll.addLayout(hp)
        ll.addWidget(_heading("Checkpoint"))
        ll.addLayout(ck_row)
        ll.addStretch(1)
        self.settings_area = QScrollArea()
        self.settings_area.setWidgetResizable(True)
        self.settings_area.setWidget(left)
        self.settings_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left.setMinimumWidth(330)
        self.settings_area.setMinimumWidth(330 + self.settings_area.verticalScrollBar().sizeHint().width() + 4)

        # ---- right: curves, results, try it
        self.plots = TrainingPlots()
        self.results = ResultsView()
        self.try_it = TryItView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.plots, "Curves")
        self.tabs.addTab(self.results, "Results")
        self.tabs.addTab(self.try_it, "Try it")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.settings_area)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([360, 900])
        self.splitter = split
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

        # ---- wiring
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(lambda: self.stop())
        self.new_run_button.clicked.connect(self.new_run)
        self.save_ckpt_button.clicked.connect(lambda: self.save_checkpoint())
        self.load_ckpt_button.clicked.connect(lambda: self.load_checkpoint())
        self.offer_load.clicked.connect(self._on_offer_load)
        self.offer_dismiss.clicked.connect(lambda: self.offer_frame.setVisible(False))
        self.download_button.clicked.connect(self.download)
        self.cancel_download_button.clicked.connect(lambda: self.cancel_download())
        self.weights_clear.clicked.connect(self.clear_initial_weights)
        self.data_dir_button.clicked.connect(self._choose_data_dir)
        for name, w in self._setting_widgets.items():
            if isinstance(w, QComboBox):
                w.currentIndexChanged.connect(lambda _i, n=name: self._on_setting_edited(n))
            elif isinstance(w, QLineEdit):
                w.editingFinished.connect(lambda n=name: self._on_setting_edited(n))
            elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
                w.valueChanged.connect(lambda _v, n=name: self._on_setting_edited(n))
        self.tabs.currentChanged.connect(lambda _i: self.plots.flush())

    # ================================================================== public API
    @property
    def trainer(self) -> Trainer | None:
        """The current run's trainer (live while training; kept after it ends), or None."""
        return self._trainer

    def is_running(self) -> bool:
        """True while a run's thread is alive."""
        return self._run is not None and self._run.handle.is_running()

    @property
    def active(self) -> bool:
        """True from Start until the run's end has been handled (the document is locked meanwhile)."""
        return self._run is not None

    def install(self, window: Any) -> Any:
        """Dock the panel into ``window`` (bottom area), add Tools ▸ Train actions and a close guard."""
        self._window = window
        dock = window.add_panel(self, "Training", Qt.DockWidgetArea.BottomDockWidgetArea, "TrainingDock")
        menu = window.menu("Tools")
        sub = menu.addMenu("Train")
        for key, text, slot, shortcut in (
            ("start", "Start / Continue training", self.start, "F5"),
            ("pause", "Pause / Resume", self.toggle_pause, "F6"),
            ("stop", "Stop training", lambda: self.stop(), "Shift+F5"),
            ("save", "Save checkpoint…", lambda: self.save_checkpoint(), None),
            ("load", "Load checkpoint…", lambda: self.load_checkpoint(), None),
            ("new", "New run", self.new_run, None),
        ):
            act = QAction(text, window)
            if shortcut:
                act.setShortcut(shortcut)
            act.triggered.connect(lambda _c=False, s=slot: (dock.show(), dock.raise_(), s()))
            sub.addAction(act)
            self.actions[key] = act
        window.close_guards.append(self.confirm_close)
        window.installEventFilter(self)  # to tell a window close (stop downloads) from New/Open (keep them)
        self._update_controls()
        if self.document.path is not None:
            self._on_path_changed(self.document.path)
        return dock

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.Close:
            # the window's closeEvent consults the close guards right after this, synchronously
            self._closing = True
            QTimer.singleShot(0, self._close_decided)
        return False

    def _close_decided(self) -> None:
        self._closing = False

    def config(self) -> TrainConfig:
        """The settings as shown (validated; :class:`UserError` naming the field)."""
        return TrainConfig.from_dict(self._settings_dict())

    # ------------------------------------------------------------------ settings <-> document
    def _widget_value(self, name: str) -> Any:
        w = self._setting_widgets[name]
        if name == "data_dir":
            text = self.data_dir_edit.text().strip()
            return text or None
        if name == "limit_steps":
            return self.limit_spin.value() or None
        if isinstance(w, QComboBox):
            return w.currentData() if w.currentData() is not None else w.currentText()
        if isinstance(w, QDoubleSpinBox):
            return float(w.value())
        if isinstance(w, QSpinBox):
            return int(w.value())
        raise AssertionError(name)

    def _settings_dict(self) -> dict[str, Any]:
        base = {k: v for k, v in self.document.training.items() if k in TrainConfig.__dataclass_fields__}
        base.update({k: self._widget_value(k) for k in EDITED})
        return base

    def settings_from_document(self) -> None:
        """Show ``document.training`` in the widgets (defaults for what it lacks)."""
        self._training_dict_id = id(self.document.training)
        raw = {k: v for k, v in self.document.training.items() if k in TrainConfig.__dataclass_fields__}
        try:
            cfg = TrainConfig.from_dict(raw)
        except UserError as e:
            self._show_message(f"The project's training settings were not usable ({e}); the defaults are shown.",
                               "warning")
            cfg = TrainConfig()
        self._populating = True
        try:
            _set_combo(self.dataset_box, cfg.dataset)
            self.data_dir_edit.setText(cfg.data_dir or "")
            _set_combo(self.optimizer_box, cfg.optimizer)
            self.lr_spin.setValue(cfg.lr)
            self.momentum_spin.setValue(cfg.momentum)
            self.wd_spin.setValue(cfg.weight_decay)
            self.batch_spin.setValue(cfg.batch_size)
            self.epochs_spin.setValue(cfg.epochs)
            _set_combo(self.loss_box, cfg.loss)
            _set_combo(self.schedule_box, cfg.schedule)
            self.seed_spin.setValue(cfg.seed)
            _set_combo(self.device_box, cfg.device)
            self.limit_spin.setValue(cfg.limit_steps or 0)
            _set_combo(self.fit_box, cfg.fit_input)
        finally:
            self._populating = False
        self._update_data_widgets()
        self._update_compat()
        self._update_controls()

    def _on_setting_edited(self, name: str) -> None:
        if self._populating:
            return
        new = self._widget_value(name)
        training = self.document.training
        old = training.get(name, _MISSING)
        if (getattr(TrainConfig(), name) if old is _MISSING else old) == new:
            return
        changes = {name: (old, new)}
        self.document.undo_stack.push(SetTrainingSettings(self, changes))
        if name in ("dataset", "data_dir"):
            self._dataset_timer.start()

    # ================================================================== data
    def _dataset_key(self) -> tuple[str, str | None]:
        name = str(self._widget_value("dataset"))
        return name, (None if name == "sample" else self._widget_value("data_dir"))

    def dataset(self) -> Dataset | None:
        """The loaded dataset for the chosen name and folder, if loaded."""
        return self._datasets.get(self._dataset_key())

    def _default_dir_text(self, name: str) -> str:
        import os

        env = os.environ.get("NETBUILDER_DATA")
        return env or str(default_data_dir(name))

    def _update_data_widgets(self) -> None:
        name, folder = self._dataset_key()
        sample = name == "sample"
        self.data_dir_edit.setEnabled(not sample and not self.active)
        self.data_dir_button.setEnabled(not sample and not self.active)
        self.data_dir_edit.setPlaceholderText("bundled with NetBuilder" if sample else self._default_dir_text(name))
        ds = self._datasets.get((name, folder))
        downloading = self._task is not None and self._loading_key == (name, folder) and self._downloading
        if ds is not None:
            c, h, w = ds.shape
            self.data_status.setText(f"✓ {PRETTY[name]}: {len(ds.train_y):,} training and {len(ds.test_y):,} test "
                                     f"images of {c}×{h}×{w}, {len(ds.classes)} classes — from {ds.source}")
            self.data_status.setStyleSheet("")
            self.download_button.setVisible(False)
        elif self._dataset_error is not None and self._dataset_error[0] == (name, folder):
            self.data_status.setText(self._dataset_error[1])
            # a download the user cancelled is no error
            self.data_status.setStyleSheet("" if self._cancelled_key == (name, folder) else "color: #b00020;")
            self.download_button.setVisible(not sample)
        elif self._loading_key == (name, folder):
            self.data_status.setText("Downloading…" if downloading else f"Loading {PRETTY[name]}…")
            self.data_status.setStyleSheet("")
            self.download_button.setVisible(False)
        else:
            self.data_status.setText(f"{PRETTY[name]} will be loaded when needed.")
            self.data_status.setStyleSheet("")
            self.download_button.setVisible(not sample)
        self.download_button.setEnabled(self._task is None and not self.active)

    def _missing_files_text(self, name: str, folder: str | None) -> str:
        where = folder or self._default_dir_text(name)
        if name == "cifar10":
            files = f"{CIFAR_TAR} (or its unpacked {CIFAR_DIR}/ folder)"
        else:
            files = ", ".join(f"{f}.gz" for f in IDX_FILES)
        return (f"Put these files into {where} (or choose the folder that holds them above): {files}. "
                f"Or click Download (needs internet).")

    def _ensure_dataset(self, download: bool = False) -> None:
        """Load the chosen dataset in the background (downloading first if asked)."""
        key = self._dataset_key()
        if key in self._datasets or self._task is not None:
            self._update_data_widgets()
            return
        name, folder = key
        if self._dataset_error is not None and self._dataset_error[0] == key and not download:
            self._update_data_widgets()
            return
        self._dataset_error = None
        self._loading_key = key

        def job(progress: Callable[[int, int, str], None]) -> Dataset:
            return load_dataset(name, folder, download=download, progress=progress)

        worker = TaskWorker(job)
        self._task = _Job(worker, [worker.finished, worker.failed], "netbuilder-data")
        self._task.on("finished", worker.finished, lambda ds, k=key: self._on_dataset_loaded(k, ds))
        self._task.on("failed", worker.failed,
                      lambda msg, e, k=key, dl=download: self._on_dataset_failed(k, msg, dl, e))
        worker.progress.connect(self._on_download_progress)
        self._downloading = download
        self.download_bar.setVisible(download)
        self.download_bar.setRange(0, 0)
        self.cancel_download_button.setVisible(download)
        self.cancel_download_button.setEnabled(True)
        self._update_data_widgets()
        self._task.handle.start()
        self._update_controls()

    def download(self) -> None:
        """Download the chosen dataset (progress bar; a clear error offline)."""
        self._dataset_error = None
        self._ensure_dataset(download=True)

    def is_downloading(self) -> bool:
        """True while a dataset download runs (it can be cancelled)."""
        return self._task is not None and self._downloading

    def cancel_download(self, wait_ms: int = 0) -> bool:
        """Cancel the running download: it stops at its next chunk and the partial file is removed.
        With ``wait_ms`` > 0, wait that long for its thread to end; True when no download is left."""
        job = self._task
        if job is None or not self._downloading:
            return True
        assert isinstance(job.worker, TaskWorker)
        job.worker.cancel()
        self.cancel_download_button.setEnabled(False)
        self.download_bar.setFormat("cancelling…")
        if wait_ms <= 0 or not job.handle.wait(wait_ms):
            return False
        from PySide6.QtCore import QCoreApplication

        QCoreApplication.sendPostedEvents(None, 0)  # deliver its "failed" now, which ends the task
        if self._task is job:
            self._end_task()
            self._update_data_widgets()
            self._update_controls()
        return True

    def _on_download_progress(self, done: int, total: int, text: str) -> None:
        if self._task is None or not self._downloading:
            return  # a late report of an ended task
        self.download_bar.setVisible(True)
        if total > 0:
            self.download_bar.setRange(0, 1000)
            self.download_bar.setValue(int(1000 * done / total))
            self.download_bar.setFormat(f"{text}: {done / 1e6:.1f} of {total / 1e6:.1f} MB")
        else:
            self.download_bar.setRange(0, 0)
            self.download_bar.setFormat(f"{text}: {done / 1e6:.1f} MB")

    def _end_task(self) -> None:
        job = self._task
        self._task = None
        self._loading_key = None
        self._downloading = False
        self.download_bar.setVisible(False)
        self.cancel_download_button.setVisible(False)
        if job is not None:
            self._retire(job)
        self._update_controls()

    def _retire(self, job: _Job) -> None:
        """Let go of an ended task, but never of a thread still running: it is kept until it finishes."""
        if job.handle.wait(200):  # normally the thread is past its last signal and ends at once
            return
        self._retired.append(job)
        job.handle.thread.finished.connect(self._reap_tasks)  # queued to this (GUI) thread

    @Slot()
    def _reap_tasks(self) -> None:
        self._retired = [j for j in self._retired if not j.handle.wait(1000)]

    def _on_dataset_loaded(self, key: tuple[str, str | None], ds: Dataset) -> None:
        self._end_task()
        self._datasets[key] = ds
        self._update_data_widgets()
        self._update_compat()
        self.dataset_ready.emit(ds)
        if self._start_after_load and key == self._dataset_key():
            self._start_after_load = False
            self.start()
        elif key != self._dataset_key():
            self._dataset_timer.start()

    def _on_dataset_failed(self, key: tuple[str, str | None], message: str, downloaded: bool,
                           exc: object = None) -> None:
        self._end_task()
        name, folder = key
        if isinstance(exc, TaskCancelled):
            text = f"Download of {PRETTY[name]} cancelled. {self._missing_files_text(name, folder)}"
        elif name == "sample":
            text = message
        elif downloaded:
            text = f"Could not download {PRETTY[name]} (are you offline?). {self._missing_files_text(name, folder)}" \
                   f"\n\nDetails: {message}"
        else:
            text = f"{PRETTY[name]} was not found. {self._missing_files_text(name, folder)}\n\nDetails: {message}"
        self._dataset_error = (key, text)
        self._cancelled_key = key if isinstance(exc, TaskCancelled) else None
        self._update_data_widgets()
        if self._start_after_load:
            self._start_after_load = False
            self._show_message(f"Cannot start: {PRETTY[name]} is not available. See Data below.", "error")
        self._update_controls()
        if key != self._dataset_key():
            self._dataset_timer.start()

    def _choose_data_dir(self) -> None:
        start = self.data_dir_edit.text() or self._default_dir_text(self._dataset_key()[0])
        path = self.choose_directory("Folder with the dataset's files", start)
        if path:
            self.data_dir_edit.setText(path)
            self._on_setting_edited("data_dir")

    # ================================================================== compatibility
    def _input_shape(self) -> tuple[int, ...] | None:
        r = self.document.result
        if not r.ok or r.input_id is None:
            return None
        shape = r.nodes[r.input_id].output_shape
        return tuple(shape) if shape is not None else None

    def _on_inferred(self, _result: object) -> None:
        self._update_compat()
        self._update_controls()

    def compat_problem(self) -> str | None:
        """Why the network's Input does not take the chosen data (None when it does)."""
        r = self.document.result
        if not r.ok:
            err = r.errors[0].message if r.errors else "the network has no output"
            return f"The network has errors to fix first: {err}"
        shape = self._input_shape()
        if shape is None:
            return "The network has no Input node."
        name = self._dataset_key()[0]
        ds = self.dataset()
        probe = ds if ds is not None else _shape_probe(name)
        return check_compat(shape, probe, str(self._widget_value("fit_input")))

    def _update_compat(self) -> None:
        for b in self.fix_buttons:
            self.fix_row.removeWidget(b)
            b.deleteLater()
        self.fix_buttons = []
        problem = self.compat_problem()
        name = self._dataset_key()[0]
        data = self.dataset().shape if self.dataset() is not None else KNOWN_SHAPES[name]  # type: ignore[union-attr]
        shape = self._input_shape()
        if problem is None:
            fit = self._widget_value("fit_input")
            how = "" if fit == "none" or (shape and tuple(shape) == data) else f" after {fit}"
            self.compat_label.setText(f"✓ The network's Input {fmt_shape(shape or ())} takes {PRETTY[name]} "
                                      f"images ({fmt_shape(data)}){how}.")
            self.compat_label.setStyleSheet("color: #1b7a2f;")
            return
        self.compat_label.setText("✗ " + problem[0].upper() + problem[1:])
        self.compat_label.setStyleSheet("color: #b00020;")
        if shape is None or self.active:
            return
        fixes: list[tuple[str, str, Callable[[], None]]] = []
        if len(shape) == 3 and shape[0] == data[0]:
            if shape[1] >= data[1] and shape[2] >= data[2]:
                fixes.append(("Pad images", f"Pad the {fmt_shape(data)} images with zeros to "
                              f"{fmt_shape(shape)}", lambda _c=False: self.set_fit_input("pad")))
            fixes.append(("Resize images", f"Resize the images to {fmt_shape(shape)} (bilinear)",
                          lambda _c=False: self.set_fit_input("resize")))
        if len(shape) == 1:
            flat = (data[0] * data[1] * data[2],)
            fixes.append((f"Set Input to {flat[0]}", "Make the Input take the flattened images",
                          lambda _c=False, s=flat: self.set_input_shape(s)))
        elif tuple(shape) != tuple(data):
            fixes.append((f"Set Input to {'×'.join(map(str, data))}", "Change the Input node's shape to the "
                          "images' shape (undoable)", lambda _c=False, s=data: self.set_input_shape(tuple(s))))
        for text, tip, fn in fixes:
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(fn)
            self.fix_row.addWidget(b)
            self.fix_buttons.append(b)

    def set_fit_input(self, mode: str) -> None:
        """One-click fix: let the trainer pad or resize the images to the Input's size."""
        _set_combo(self.fit_box, mode)  # emits → undo command

    def set_input_shape(self, shape: tuple[int, ...]) -> bool:
        """One-click fix: set the Input node's shape (an undoable edit). False if refused."""
        from netbuilder.gui.editor import commands

        r = self.document.result
        if r.input_id is None:
            return False
        node = self.document.graph.node(r.input_id)
        spec = get_spec(node.type)
        pname = next((p.name for p in spec.params if p.kind == "shape"), None)
        if pname is None:
            self._show_message(f"The Input node '{node.id}' has no shape setting to change.", "error")
            return False
        try:
            commands.execute(self.document, commands.SetParams(self.document, node.id, {pname: tuple(shape)}))
        except Exception as e:  # GraphError / LockedError: show why
            self._show_message(f"Could not set the Input shape: {e}", "error")
            return False
        self.document.flush()
        self._update_compat()
        return True

    # ================================================================== running
    def _resumable(self) -> bool:
        """Whether Start continues the current trainer (same network, unfinished or more epochs wanted)."""
        t = self._trainer
        if t is None or isinstance(self._final, FailedEvent) or self._trainer_graph is None:
            return False
        if _graph_key(to_dict(self.document.graph)) != _graph_key(self._trainer_graph):
            return False
        key = self._dataset_key()
        if t.dataset.name != key[0] or t.config.batch_size != self.batch_spin.value():
            return False
        return t.epoch < self.epochs_spin.value()

    def start(self) -> bool:
        """Start a run (or continue the stopped/loaded one); False with a message if it cannot start."""
        if self.active:
            if self._trainer is not None and self._trainer.paused:
                self.resume()
            return False
        self._hide_message()
        try:
            cfg = self.config()
        except UserError as e:
            self._show_message(f"Cannot start: {e}", "error")
            return False
        resume = self._resumable()
        if resume:
            assert self._trainer is not None
            self._trainer.config.epochs = cfg.epochs
            ignored = [k for k in EDITED if k not in ("epochs", "limit_steps", "data_dir")
                       and getattr(cfg, k) != getattr(self._trainer.config, k)]
            if ignored:
                self._show_message("Continuing the run with its own settings; your changes to "
                                   f"{', '.join(k.replace('_', ' ') for k in ignored)} apply to a New run.", "info")
            worker = TrainingWorker(trainer=self._trainer)
        else:
            problem = self.compat_problem()
            if problem is not None:
                self._show_message("Cannot start: " + problem, "error")
                return False
            ds = self.dataset()
            if ds is None:
                if self._dataset_error is not None and self._dataset_error[0] == self._dataset_key():
                    self._show_message(f"Cannot start: {PRETTY[cfg.dataset]} is not available — see Data "
                                       f"below.", "error")
                    return False
                self._start_after_load = True
                self._ensure_dataset()
                self.progress.setFormat(f"loading {PRETTY[cfg.dataset]}…")
                return True
            self._set_trainer(None)
            self.plots.clear()
            self.results.clear()
            self._final = None
            worker = TrainingWorker(self.document.graph, cfg, ds, initial_state=self.initial_weights)
            self._trainer_graph = to_dict(self.document.graph)
        prepare_process()
        job = _Job(worker, [worker.done], "netbuilder-training")
        worker.trainer_ready.connect(self._on_trainer_ready)
        worker.event.connect(self._on_event)
        job.on("done", worker.done, lambda final, j=job: self._on_done(j, final))
        self._run = job
        self._last_step = None
        self._run_started_at = time.perf_counter()
        self.document.set_locked(True)
        self.try_it.set_predictor(None, None, "Training is running: pause or stop it to try the model.")
        self.progress.setFormat("starting…")
        job.handle.start()
        self._update_controls()
        self.running_changed.emit(True)
        self.run_started.emit()
        return True

    def pause(self) -> None:
        if self._trainer is not None and self.active and not self._trainer.paused:
            self._trainer.pause()
            self._update_controls()
            self._enable_try_it()

    def resume(self) -> None:
        if self._trainer is not None and self.active and self._trainer.paused:
            self._trainer.resume()
            self.try_it.set_predictor(None, None, "Training is running: pause or stop it to try the model.")
            self._update_controls()

    def toggle_pause(self) -> None:
        if self._trainer is not None and self._trainer.paused:
            self.resume()
        else:
            self.pause()

    def stop(self, wait_ms: int = 0) -> bool:
        """Ask the run to stop (it ends after the current step). With ``wait_ms`` > 0, wait that long for
        the thread to end and finish the run's bookkeeping; True when no run is left."""
        job = self._run
        if job is None:
            return True
        assert isinstance(job.worker, TrainingWorker)
        job.worker.stop()
        self.stop_button.setEnabled(False)
        self.progress.setFormat("stopping…")
        if wait_ms <= 0:
            return False
        if not job.handle.wait(wait_ms):
            return False
        # deliver the queued events and the end now, so nothing is lost and the lock is lifted
        from PySide6.QtCore import QCoreApplication

        QCoreApplication.sendPostedEvents(None, 0)
        if self._run is job:  # the done signal did not arrive (no event loop): finish by hand
            self._on_done(job, StoppedEvent(self._trainer.epoch if self._trainer else 0,
                                            self._trainer.global_step if self._trainer else 0))
        return True

    def set_initial_weights(self, state_dict: dict[str, Any] | None, source: str = "") -> None:
        """Start new runs of the current project from ``state_dict`` (where names and shapes fit) instead
        of random weights; forgets the current run so that Start begins afresh with them.

        The weights belong to the project open now (call this after loading it): opening, creating or
        restoring another project drops them."""
        self.initial_weights = dict(state_dict) if state_dict else None
        # the training dict is replaced for every project loaded (MainWindow._load), so it identifies one
        self._weights_for = self.document.training if state_dict else None
        self._weights_source = source or "the loaded model"
        self.new_run()
        self._show_weights_notice(announce=True)

    def clear_initial_weights(self) -> None:
        """New runs start from random weights again."""
        had = self.initial_weights is not None
        self.initial_weights = None
        self._weights_for = None
        self._show_weights_notice()
        if had:
            self._show_message("New runs start from random weights.", "info")

    def _show_weights_notice(self, announce: bool = False) -> None:
        w = self.initial_weights
        self.weights_frame.setVisible(w is not None)
        if w is None:
            return
        self.weights_label.setText(f"New runs start from the weights of {self._weights_source}.")
        self.weights_label.setToolTip(f"{len(w)} tensors; layers whose names or shapes no longer fit start fresh")
        if announce:
            self._show_message(f"The next run starts from the weights of {self._weights_source} "
                               "(layers whose shapes changed start fresh).", "info")

    def new_run(self) -> None:
        """Forget the current trainer and its curves (asks nothing; the next Start begins afresh)."""
        if self.active:
            return
        self._set_trainer(None)
        self._trainer_graph = None
        self._final = None
        self.plots.clear()
        self.results.clear()
        self.progress.setValue(0)
        self.progress.setFormat("not started")
        self.progress_text.setText(" ")
        self._hide_message()
        self.try_it.set_predictor(None, None, "Train a model (or load a checkpoint), then draw a digit.")
        self._update_controls()

    def _set_trainer(self, trainer: Trainer | None) -> None:
        if trainer is not self._trainer:
            self._trainer = trainer
            self.trainer_changed.emit(trainer)

    def _on_trainer_ready(self, trainer: Trainer) -> None:
        self._set_trainer(trainer)
        self._update_controls()

    def _on_event(self, ev: object) -> None:
        self.event_received.emit(ev)
        self.plots.add_event(ev)
        if isinstance(ev, StepEvent):
            self._last_step = ev
            self._set_evaluating(ev.step == ev.steps_per_epoch)
            self._progress_dirty = True
        elif isinstance(ev, EpochEvent):
            self._set_evaluating(False)
            self._progress_dirty = True
            if self._trainer is not None:
                self.results.show_epoch(ev, self._trainer.dataset)
            self.progress_text.setText(
                f"Epoch {ev.epoch}: test accuracy {100 * ev.test_accuracy:.2f} %, train accuracy "
                f"{100 * ev.train_accuracy:.2f} %, {ev.seconds:.1f} s")
        elif isinstance(ev, WarningEvent):
            self._show_message("Warning: " + ev.message, "warning")
        elif isinstance(ev, FailedEvent):
            self._show_message(ev.message, "error")
            if ev.node and ev.node in self.document.graph:
                self.document.select_nodes([ev.node])

    def _set_evaluating(self, evaluating: bool) -> None:
        changed = evaluating != self._evaluating
        self._evaluating = evaluating
        if changed and self._trainer is not None and self._trainer.paused:
            self._update_controls()  # Save waits for the end of an evaluation the pause came during

    def _on_done(self, job: _Job, final: object) -> None:
        if self._run is not job:
            return
        job.handle.wait(10_000)  # the thread is past its last line; make sure it has ended
        self._run = None
        self._final = final
        self._evaluating = False
        self.plots.flush()
        self._refresh_progress(force=True)
        self.document.set_locked(False)
        t = self._trainer
        if isinstance(final, FinishedEvent):
            secs = final.train_seconds / max(1, len(final.history.get("epoch_seconds", [])) or 1)
            self.progress.setValue(1000)
            self.progress.setFormat(f"finished: test accuracy {100 * final.test_accuracy:.2f} %")
            n = t.epoch if t else 0
            self.progress_text.setText(f"Finished {n} epoch{'s' if n != 1 else ''}: test accuracy "
                                       f"{100 * final.test_accuracy:.2f} %, test loss {final.test_loss:.4f}, "
                                       f"{secs:.1f} s per epoch, {final.samples_per_second:,.0f} samples/s")
        elif isinstance(final, StoppedEvent):
            self.progress.setFormat(f"stopped at epoch {final.epoch + (1 if t and t._step_in_epoch else 0)}, "
                                    f"step {final.global_step} — Start continues")
        elif isinstance(final, FailedEvent):
            self.progress.setFormat("failed — see the message above")
            if t is None:
                self._trainer_graph = None
        self._enable_try_it()
        self._update_controls()
        self.running_changed.emit(False)
        self.run_finished.emit(final)

    def _enable_try_it(self) -> None:
        t = self._trainer
        if t is not None and (not self.active or t.paused):
            self.try_it.set_predictor(t.predict, t.dataset)
        elif t is None:
            self.try_it.set_predictor(None, None, "Train a model (or load a checkpoint), then draw a digit.")

    def _refresh_progress(self, force: bool = False) -> None:
        ev = self._last_step
        if ev is None or not (self._progress_dirty or force):
            return
        self._progress_dirty = False
        total = max(1, ev.total_steps)
        self.progress.setValue(int(1000 * ev.global_step / total))
        epochs = max(1, round(ev.total_steps / max(1, ev.steps_per_epoch)))
        paused = self._trainer is not None and self._trainer.paused and self.active
        state = "paused · " if paused else ("evaluating on the test set · " if self._evaluating else "")
        self.progress.setFormat(f"{state}epoch {ev.epoch}/{epochs} · step {ev.step}/{ev.steps_per_epoch}")
        if self.active:
            self.progress_text.setText(f"{ev.samples_per_second:,.0f} samples/s · ETA {fmt_duration(ev.eta_seconds)}"
                                       f" · loss {ev.loss:.4f} · lr {ev.lr:.3g}")

    # ================================================================== checkpoints
    def default_checkpoint_path(self) -> Path | None:
        p = self.document.path
        return checkpoint_path_for(Path(p)) if p is not None else None

    def save_checkpoint(self, path: str | Path | None = None) -> Path | None:
        """Save the current run (weights, optimizer, curves, settings). Asks where when ``path`` is None
        and the project is untitled. Returns the path, or None if nothing was saved."""
        t = self._trainer
        if t is None:
            self._show_message("Nothing to save yet: train first.", "info")
            return None
        if self.active and not t.paused:
            self._show_message("Pause or stop the run before saving a checkpoint.", "info")
            return None
        if self.active and self._evaluating:
            self._show_message("The run pauses after the test-set evaluation it is doing; save once it has.",
                               "info")
            return None
        if path is None:
            default = self.default_checkpoint_path()
            chosen = self.choose_save_path("Save checkpoint", str(default or Path.home() / f"run{CHECKPOINT_SUFFIX}"))
            if not chosen:
                return None
            path = chosen
        p = Path(path)
        try:
            t.save_checkpoint(str(p))
        except (OSError, UserError) as e:
            self._show_message(f"Could not save the checkpoint to {p}: {e}", "error")
            return None
        self.last_checkpoint = p
        self._status(f"Checkpoint saved: {p}")
        self._show_message(f"Checkpoint saved to {p} (epoch {t.epoch}, step {t.global_step}).", "info")
        return p

    def load_checkpoint(self, path: str | Path | None = None) -> bool:
        """Load a checkpoint to continue or inspect it. If its network differs from the canvas, say how
        and offer to put the checkpoint's network on the canvas. True when loading has begun."""
        if self.active:
            self._show_message("Stop the run before loading a checkpoint.", "info")
            return False
        if self._task is not None:
            # one background task at a time; waiting here would freeze the window for a whole download
            what = "the download to finish (or cancel it)" if self._downloading else "the dataset to finish loading"
            self._show_message(f"Wait for {what} before loading a checkpoint.", "info")
            return False
        if path is None:
            chosen = self.choose_open_path("Load checkpoint", str(self.default_checkpoint_path() or Path.home()))
            if not chosen:
                return False
            path = chosen
        p = Path(path)
        try:
            ck = load_checkpoint(str(p))
        except UserError as e:
            self._show_message(f"Could not load the checkpoint: {e}", "error")
            return False
        diff = graph_diff(self.document.graph, ck.graph)
        if diff:
            shown = diff[:12] + ([f"… and {len(diff) - 12} more"] if len(diff) > 12 else [])
            answer = self.ask(
                "The checkpoint's network differs",
                f"The network saved in {p.name} is not the one on the canvas:\n\n• " + "\n• ".join(shown)
                + "\n\nThe weights only fit the checkpoint's network. Put that network on the canvas "
                  "(undoable) and load the run?",
                ["Use the checkpoint's network", "Cancel"])
            if answer != "Use the checkpoint's network":
                return False
            self.document.undo_stack.push(ReplaceGraph(self.document, ck.graph, f"Network from {p.name}"))
            self.document.flush()
        try:
            cfg = TrainConfig.from_dict(ck.config)
        except UserError as e:
            self._show_message(f"The checkpoint's settings are not usable: {e}", "error")
            return False
        key = (cfg.dataset, None if cfg.dataset == "sample" else cfg.data_dir)
        cached = self._datasets.get(key)
        if cached is None and cfg.dataset != "sample" and cfg.data_dir is None:
            cached = self._datasets.get((cfg.dataset, self._widget_value("data_dir")))

        def job(_progress: Callable[[int, int, str], None]) -> tuple[Trainer, Any, Dataset]:
            ds = cached if cached is not None else load_dataset(cfg.dataset, cfg.data_dir)
            trainer = Trainer.from_checkpoint(str(p), dataset=ds)
            ev = trainer.evaluate() if trainer.epoch > 0 or trainer.global_step > 0 else None
            return trainer, ev, ds

        worker = TaskWorker(job)
        self._task = _Job(worker, [worker.finished, worker.failed], "netbuilder-checkpoint")
        self._task.on("finished", worker.finished, lambda res, path=p, k=key: self._on_checkpoint_loaded(path, k, *res))
        self._task.on("failed", worker.failed, lambda msg, _e, path=p: self._on_checkpoint_failed(path, msg))
        self.progress.setFormat(f"loading {p.name}…")
        self._task.handle.start()
        self._update_controls()
        return True

    def _on_checkpoint_failed(self, path: Path, message: str) -> None:
        self._end_task()
        self.progress.setFormat("not started")
        self._show_message(f"Could not load the checkpoint {path}: {message}", "error")
        self._update_controls()

    def _on_checkpoint_loaded(self, path: Path, key: tuple[str, str | None], trainer: Trainer, ev: Any,
                              ds: Dataset) -> None:
        self._end_task()
        self._datasets.setdefault(key, ds)
        # the run's own settings become the project's (one undo step)
        new = trainer.config.to_dict()
        changes = {k: (self.document.training.get(k, _MISSING), new[k]) for k in EDITED
                   if self.document.training.get(k, _MISSING) != new[k]}
        if changes:
            self.document.undo_stack.push(SetTrainingSettings(self, changes))
        self._set_trainer(trainer)
        self._trainer_graph = to_dict(trainer.graph)
        self._final = None
        self.plots.load_history(trainer.history)
        self.results.clear()
        if ev is not None:
            conf = ev.confusion
            self.results.show_epoch(EpochEvent(trainer.epoch, trainer.history["train_loss"][-1] if
                                               trainer.history["train_loss"] else float("nan"),
                                               trainer.history["train_accuracy"][-1] if
                                               trainer.history["train_accuracy"] else 0.0,
                                               ev.loss, ev.accuracy, 0.0, conf, ev.misclassified, ev.predictions),
                                    ds)
        total = trainer.steps_per_epoch * trainer.config.epochs
        self.progress.setValue(int(1000 * trainer.global_step / max(1, total)))
        self.progress.setFormat(f"loaded {path.name}: epoch {trainer.epoch}/{trainer.config.epochs}, "
                                f"step {trainer.global_step}")
        acc = f", test accuracy {100 * ev.accuracy:.2f} %" if ev is not None else ""
        self.progress_text.setText(f"Checkpoint {path.name}{acc}. Start continues the run"
                                   + (" (raise Epochs to train further)." if trainer.epoch >= trainer.config.epochs
                                      else "."))
        self.last_checkpoint = path
        self.offer_frame.setVisible(False)
        self._enable_try_it()
        self._update_data_widgets()
        self._update_compat()
        self._update_controls()

    def offer_checkpoint(self, path: str | Path) -> bool:
        """Offer (a banner with Load / Dismiss) to load the checkpoint at ``path``; False if none is there."""
        p = Path(path)
        if not p.is_file() or self.active:
            return False
        try:
            ck = load_checkpoint(str(p))
            hist = ck.history.get("test_accuracy", [])
            acc = f", test accuracy {100 * hist[-1]:.2f} %" if hist else ""
            when = datetime.fromtimestamp(p.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            what = f"epoch {ck.epoch}, step {ck.global_step}{acc}, saved {when}"
        except (UserError, OSError) as e:
            what = f"it could not be read: {e}"
        self._offered = p
        self.offer_label.setText(f"This project has a training checkpoint: {p.name} ({what}). Load it to see "
                                 f"its curves and results, try the model, or continue training.")
        self.offer_frame.setVisible(True)
        return True

    def _on_offer_load(self) -> None:
        if self._offered is not None and self.load_checkpoint(self._offered):
            self.offer_frame.setVisible(False)  # kept (with the reason shown) when loading was refused

    # ================================================================== project changes and closing
    def _on_path_changed(self, path: object) -> None:
        if path is None or self._trainer is not None:
            return
        self.offer_checkpoint(checkpoint_path_for(Path(str(path))))

    def _on_document_reset(self) -> None:
        # another project replaced this one (or an undo replaced the network): a run keeps training a
        # copy, so nothing breaks, but it no longer belongs here — stop it (the guard asked already)
        QTimer.singleShot(0, self._after_reset)

    def _after_reset(self) -> None:
        if id(self.document.training) == self._training_dict_id:
            self._update_compat()
            self._update_controls()
            return  # same project (an undo/redo replaced the network)
        if self.active:
            self.stop(STOP_WAIT_MS)
        if self.initial_weights is not None and self._weights_for is not self.document.training:
            self.initial_weights = None  # they came with the previous project
            self._weights_for = None
        self.new_run()
        self.offer_frame.setVisible(False)
        if self.document.path is not None:  # the new project's own checkpoint (path_changed came first)
            self._on_path_changed(self.document.path)
        self.settings_from_document()
        # set just after the load that scheduled this (import, checkpoint to edit): announce them again,
        # since new_run() above hid the message
        self._show_weights_notice(announce=True)
        self._dataset_timer.start()

    def confirm_close(self, closing: bool | None = None) -> bool:
        """Close guard: if a run is active, ask whether to save a checkpoint, then stop it cleanly; when
        the window closes (``closing``; by default detected) during a download, ask to cancel it.
        False cancels the close/New/Open."""
        closing = self._closing if closing is None else closing
        if closing and self.is_downloading():
            # a download belongs to no project, so New/Open let it go on; closing must end it first
            answer = self.ask("A download is running",
                              f"{PRETTY[str((self._loading_key or ('sample',))[0])]} is still downloading. "
                              "Cancel the download and close? The part downloaded so far is discarded.",
                              ["Cancel the download and close", "Keep downloading"])
            if answer != "Cancel the download and close":
                return False
            if not self.cancel_download(CANCEL_WAIT_MS):
                # still blocked in the network (at most its 30 s timeout): the thread is kept until it
                # ends, and shutdown() waits for it, so closing is safe
                self._status("Waiting for the cancelled download to stop…")
        if not self.active:
            return True
        target = self.default_checkpoint_path()
        save_text = "Save a checkpoint and stop" if target is None else f"Save checkpoint to {target.name} and stop"
        answer = self.ask("Training is running",
                          "A training run is in progress. Stop it first? A checkpoint keeps the weights, the "
                          "curves and the settings so you can continue later."
                          + (f"\n\nThe checkpoint goes to {target}." if target else ""),
                          [save_text, "Stop without saving", "Cancel"])
        if answer not in (save_text, "Stop without saving"):
            return False
        # an evaluation of a big test set can outlast a second; then keep waiting rather than kill it
        if not self.stop(STOP_WAIT_MS) and not self.stop(30_000):
            self._show_message("The run did not stop in time; try again.", "error")
            return False
        if answer == save_text:
            saved = self.save_checkpoint(target)
            if saved is None:
                return self.ask("Checkpoint not saved", "The checkpoint was not saved. Close anyway?",
                                ["Close anyway", "Cancel"]) == "Close anyway"
        return True

    def shutdown(self) -> None:
        """Stop every background thread (used at exit and by tests)."""
        self._start_after_load = False
        if self._run is not None:
            self.stop(30_000)
        job = self._task
        if job is not None:
            if self._downloading:
                assert isinstance(job.worker, TaskWorker)
                job.worker.cancel()
            job.handle.wait(TASK_EXIT_WAIT_MS)
            self._end_task()
        for j in self._retired:
            j.handle.wait(TASK_EXIT_WAIT_MS)
        self._reap_tasks()
        self._progress_timer.stop()
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
    def _status(self, text: str) -> None:
        if self._window is not None and hasattr(self._window, "status"):
            self._window.status(text)

    def _show_message(self, text: str, kind: str = "info") -> None:
        colors = {"error": ("#fde7e9", "#8a1020"), "warning": ("#fff3cd", "#5c4400"), "info": ("#e7f0fd", "#123d7a")}
        bg, fg = colors.get(kind, colors["info"])
        self.last_message = text
        self.message.setText(text)
        self.message.setStyleSheet(f"background: {bg}; color: {fg}; padding: 4px; border-radius: 3px;")
        self.message.setVisible(True)
        if kind == "error":
            self._status(text.split("\n")[0][:200])

    def _hide_message(self) -> None:
        self.message.setVisible(False)
        self.last_message = ""

    def _update_controls(self) -> None:
        active = self.active
        t = self._trainer
        paused = bool(active and t is not None and t.paused)
        resumable = not active and self._resumable()
        self.start_button.setEnabled((not active and self._task is None) or paused)
        if paused:
            self.start_button.setText("▶ Resume")
        elif resumable and t is not None:
            self.start_button.setText(f"▶ Continue (epoch {t.epoch + (1 if t._step_in_epoch else 0) or 1} "
                                      f"→ {self.epochs_spin.value()})")
        else:
            self.start_button.setText("▶ Start")
        self.start_button.setToolTip("Continue the stopped or loaded run" if resumable else
                                     "Train the network on the canvas with these settings")
        self.pause_button.setEnabled(active and t is not None)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.stop_button.setEnabled(active)
        self.new_run_button.setEnabled(not active and t is not None)
        # paused during a test-set evaluation, the trainer finishes it first: saving would wait for it
        self.save_ckpt_button.setEnabled(t is not None and (not active or (paused and not self._evaluating)))
        self.load_ckpt_button.setEnabled(not active and self._task is None)
        self.offer_load.setEnabled(not active and self._task is None)
        self.offer_load.setToolTip("" if self.offer_load.isEnabled() else
                                   "Wait for the dataset download or loading to end (or stop the run)")
        self.lock_label.setVisible(active)
        for name, w in self._setting_widgets.items():
            w.setEnabled(not active and not (name == "data_dir" and self._dataset_key()[0] == "sample"))
        self.data_dir_button.setEnabled(not active and self._dataset_key()[0] != "sample")
        for b in self.fix_buttons:
            b.setEnabled(not active)
        self.download_button.setEnabled(self._task is None and not active)
        for key, enabled in (("start", self.start_button.isEnabled()), ("pause", self.pause_button.isEnabled()),
                             ("stop", active), ("save", self.save_ckpt_button.isEnabled()),
                             ("load", self.load_ckpt_button.isEnabled()), ("new", self.new_run_button.isEnabled())):
            if key in self.actions:
                self.actions[key].setEnabled(enabled)


# ---------------------------------------------------------------------- helpers
def _heading(text: str) -> QLabel:
    label = QLabel(f"<b>{text}</b>")
    label.setContentsMargins(0, 8, 0, 0)
    return label


def _set_combo(box: QComboBox, value: Any) -> None:
    i = box.findData(value)
    if i < 0:
        i = box.findText(str(value))
    if i >= 0:
        box.setCurrentIndex(i)


def _graph_key(d: dict[str, Any]) -> Any:
    """A graph's network without positions and names, for "is this the same network?"."""
    nodes = sorted((n["id"], n["type"], repr(sorted(n.get("params", {}).items()))) for n in d["nodes"])
    edges = sorted(repr(sorted(e.items())) for e in d["edges"])
    return nodes, edges


def _shape_probe(name: str) -> Dataset:
    """An empty dataset with the known image shape, to check compatibility before loading."""
    c, h, w = KNOWN_SHAPES[name]
    empty = torch.zeros((0, c, h, w), dtype=torch.uint8)
    labels = torch.zeros(0, dtype=torch.int64)
    return Dataset(name, empty, labels, empty, labels, [str(i) for i in range(10)], (0.5,) * c, (0.5,) * c, "")


__all__ = ["ReplaceGraph", "SetTrainingSettings", "TrainingPanel", "checkpoint_path_for", "choose_threads",
           "graph_diff"]
