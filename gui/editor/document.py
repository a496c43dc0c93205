"""The open document: the core graph plus what every view shares (Qt side).

This is the thin adapter between :mod:`core` and the views. It turns core graph events into Qt
signals, re-runs inference and code generation after each change (once per event-loop turn,
however many events a command emits), holds the undo stack, the selection, the file path and
the training settings, and the "locked while training" flag. Views read from it and edit only
through undo commands (``gui.commands``) that call core methods.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netbuilder.core.model.codegen import CodegenError, GeneratedCode, generate
from netbuilder.core.model.graph import Edge, Graph, Node
from netbuilder.core.model.inference import InferenceResult, infer
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack


class Document(QObject):
    """One project open in the window."""

    # core events, re-emitted as Qt signals (same arguments)
    node_added = Signal(object)  # Node
    node_removed = Signal(object)  # Node
    edge_added = Signal(object)  # Edge
    edge_removed = Signal(object)  # Edge
    params_changed = Signal(str)
    node_renamed = Signal(str, str)
    node_moved = Signal(str, object)
    reset = Signal()
    # derived state
    inferred = Signal(object)  # InferenceResult, after every structural/param change
    code_changed = Signal(object)  # GeneratedCode or None when the graph has errors
    selection_changed = Signal(list)  # list of node ids
    locked_changed = Signal(bool)
    path_changed = Signal(object)  # Path | None
    modified_changed = Signal(bool)

    def __init__(self, graph: Graph | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.graph = graph or Graph()
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self.path: Path | None = None
        self.training: dict[str, Any] = {}
        self.result: InferenceResult = infer(self.graph)
        self.code: GeneratedCode | None = None
        self.code_error: str | None = None
        self._selection: list[str] = []
        self._locked = False
        self._pending = QTimer(self)
        self._pending.setSingleShot(True)
        self._pending.setInterval(0)
        self._pending.timeout.connect(self.refresh)
        ev = self.graph.events
        ev.node_added.connect(self.node_added.emit)
        ev.node_removed.connect(self._on_node_removed)
        ev.edge_added.connect(self.edge_added.emit)
        ev.edge_removed.connect(self.edge_removed.emit)
        ev.params_changed.connect(self.params_changed.emit)
        ev.node_renamed.connect(self._on_node_renamed)
        ev.node_moved.connect(self.node_moved.emit)
        ev.reset.connect(self._on_reset)
        ev.changed.connect(self._pending.start)
        self.refresh()

    def _on_clean_changed(self, clean: bool) -> None:
        self.modified_changed.emit(not clean)

    # --- derived state --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-run inference and code generation now and tell the views."""
        self._pending.stop()
        self._recompute()
        self.inferred.emit(self.result)
        self.code_changed.emit(self.code)

    def _recompute(self) -> None:
        self.result = infer(self.graph)
        try:
            self.code = generate(self.graph, self.result) if self.result.ok else None
            self.code_error = None if self.code else (self.result.error_text() or "the network has no output")
        except CodegenError as e:
            self.code, self.code_error = None, str(e)

    def flush(self) -> None:
        """Apply a pending refresh immediately (tests and commands that need fresh results)."""
        if self._pending.isActive():
            self.refresh()

    # --- selection ------------------------------------------------------------------------------
    def selected_ids(self) -> list[str]:
        return list(self._selection)

    def select_nodes(self, ids: list[str]) -> None:
        """Select exactly ``ids`` (unknown ids are dropped). Every view follows."""
        ids = [i for i in ids if i in self.graph]
        if ids != self._selection:
            self._selection = ids
            self.selection_changed.emit(list(ids))

    def _on_node_removed(self, node: Node) -> None:
        self.node_removed.emit(node)
        if node.id in self._selection:
            self.select_nodes([i for i in self._selection if i != node.id])

    def _on_node_renamed(self, old: str, new: str) -> None:
        self.node_renamed.emit(old, new)
        if old in self._selection:
            self._selection = [new if i == old else i for i in self._selection]
            self.selection_changed.emit(list(self._selection))

    def _on_reset(self) -> None:
        # Views that rebuild on reset read ``result``/``code``: make them match the new graph now
        # (the signals follow on the next event-loop turn, as for any change).
        self._recompute()
        self._selection = []
        self.reset.emit()
        self.selection_changed.emit([])

    # --- training lock --------------------------------------------------------------------------
    @property
    def locked(self) -> bool:
        """True while a training run owns the graph: edits are refused."""
        return self._locked

    def set_locked(self, locked: bool) -> None:
        if locked != self._locked:
            self._locked = locked
            self.locked_changed.emit(locked)

    # --- file state -----------------------------------------------------------------------------
    def set_path(self, path: Path | None) -> None:
        self.path = path
        self.path_changed.emit(path)

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    def edges(self) -> list[Edge]:
        return self.graph.edges
