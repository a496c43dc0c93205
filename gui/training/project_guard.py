"""The training panel and the project around it: when another project replaces the open one the
run stops and the panel starts afresh (offering the new project's checkpoint), and closing the
window, New or Open first ask what to do with a run in progress (or, on close, a download).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from netbuilder.gui.training.checkpoints import checkpoint_path_for
from netbuilder.gui.training.datasets import PRETTY
from PySide6.QtCore import QEvent, QObject, QTimer

if TYPE_CHECKING:
    from netbuilder.gui.training.panel import TrainingPanel

STOP_WAIT_MS = 1000
CANCEL_WAIT_MS = 3000  # a cancelled download stops at its next chunk; the close waits this long for it


class ProjectGuard(QObject):
    """Follows the project of one :class:`TrainingPanel` and guards closing the window."""

    def __init__(self, panel: TrainingPanel) -> None:
        super().__init__(panel)
        self.panel = panel
        #: ``id`` of the training dict of the project shown: a new dict means another project.
        self.training_id = id(panel.document.training)
        self.closing = False  # a window close is being decided (see eventFilter)
        self._window: QObject | None = None
        panel.document.reset.connect(self._on_document_reset)
        panel.document.path_changed.connect(self.on_path_changed)

    def watch(self, window: QObject) -> None:
        """Tell a close of ``window`` (stop downloads) from New/Open (keep them)."""
        self._window = window
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.Close:
            # the window's closeEvent consults the close guards right after this, synchronously
            self.closing = True
            QTimer.singleShot(0, self._close_decided)
        return False

    def _close_decided(self) -> None:
        self.closing = False

    def on_path_changed(self, path: object) -> None:
        if path is None or self.panel.trainer is not None:
            return
        self.panel.checkpoints.offer(checkpoint_path_for(Path(str(path))))

    def _on_document_reset(self) -> None:
        # another project replaced this one (or an undo replaced the network): a run keeps training a
        # copy, so nothing breaks, but it no longer belongs here — stop it (the guard asked already)
        QTimer.singleShot(0, self._after_reset)

    def _after_reset(self) -> None:
        if id(self.panel.document.training) == self.training_id:
            self.panel.compat.update()
            self.panel.update_controls()
            return  # same project (an undo/redo replaced the network)
        if self.panel.active:
            self.panel.stop(STOP_WAIT_MS)
        self.panel.starting.forget_unless(self.panel.document.training)  # they came with the previous project
        self.panel.new_run()
        self.panel.offer_frame.setVisible(False)
        if self.panel.document.path is not None:  # the new project's own checkpoint (path_changed came first)
            self.on_path_changed(self.panel.document.path)
        self.panel.settings_from_document()
        # set just after the load that scheduled this (import, checkpoint to edit): announce them again,
        # since new_run() above hid the message
        self.panel.starting.show_notice(announce=True)
        self.panel.schedule_dataset()

    def confirm_close(self, closing: bool | None = None) -> bool:
        """Close guard: if a run is active, ask whether to save a checkpoint, then stop it cleanly; when
        the window closes (``closing``; by default detected) during a download, ask to cancel it.
        False cancels the close/New/Open."""
        closing = self.closing if closing is None else closing
        if closing and self.panel.is_downloading():
            # a download belongs to no project, so New/Open let it go on; closing must end it first
            answer = self.panel.ask("A download is running",
                              f"{PRETTY[(self.panel.loader.loading_key or ('sample', None))[0]]} is still downloading. "
                              "Cancel the download and close? The part downloaded so far is discarded.",
                              ["Cancel the download and close", "Keep downloading"])
            if answer != "Cancel the download and close":
                return False
            if not self.panel.cancel_download(CANCEL_WAIT_MS):
                # still blocked in the network (at most its 30 s timeout): the thread is kept until it
                # ends, and shutdown() waits for it, so closing is safe
                self.panel.status("Waiting for the cancelled download to stop…")
        if not self.panel.active:
            return True
        target = self.panel.checkpoints.default_path()
        save_text = "Save a checkpoint and stop" if target is None else f"Save checkpoint to {target.name} and stop"
        answer = self.panel.ask("Training is running",
                          "A training run is in progress. Stop it first? A checkpoint keeps the weights, the "
                          "curves and the settings so you can continue later."
                          + (f"\n\nThe checkpoint goes to {target}." if target else ""),
                          [save_text, "Stop without saving", "Cancel"])
        if answer not in (save_text, "Stop without saving"):
            return False
        # an evaluation of a big test set can outlast a second; then keep waiting rather than kill it
        if not self.panel.stop(STOP_WAIT_MS) and not self.panel.stop(30_000):
            self.panel.show_message("The run did not stop in time; try again.", "error")
            return False
        if answer == save_text:
            saved = self.panel.save_checkpoint(target)
            if saved is None:
                return self.panel.ask("Checkpoint not saved", "The checkpoint was not saved. Close anyway?",
                                ["Close anyway", "Cancel"]) == "Close anyway"
        return True
