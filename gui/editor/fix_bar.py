"""One-click fixes: a row of buttons under an error, one per mechanical fix.

The fixes come from :func:`netbuilder.core.model.fixes.suggest_fixes` (each one verified on a copy
of the graph); a click makes the edit through an undo command, so it is one Ctrl+Z away.
"""

from __future__ import annotations

from netbuilder.core.model.fixes import Fix, SetParamsAction, suggest_fixes
from netbuilder.core.model.graph import GraphError
from netbuilder.core.model.inference import InferenceResult
from netbuilder.gui.editor import commands
from netbuilder.gui.editor.document import Document
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QBoxLayout, QPushButton, QWidget


def fix_command(doc: Document, fix: Fix) -> commands.Command:
    """The undo command that makes ``fix``'s edit, named by its label in Edit ▸ History."""
    action = fix.action
    if isinstance(action, SetParamsAction):
        return commands.SetParams(doc, action.node, dict(action.changes), merge=False, text=fix.label)
    cmd = commands.InsertOnEdge(doc, action.edge, action.type_name, action.position, dict(action.params),
                                action.node_id)
    cmd.setText(fix.label)
    return cmd


class FixBar(QWidget):
    """The fix buttons for one node's errors; hidden when it has none. Follows the document:
    after every inference it offers the fixes that are still needed, and it is disabled while
    training locks the graph."""

    applied = Signal(str)  # the fix's label, after its edit was made
    failed = Signal(str)  # why the graph refused the edit

    def __init__(self, doc: Document, orientation: Qt.Orientation = Qt.Orientation.Horizontal,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.node_id: str | None = None
        self._first_error = False
        self.fixes: list[Fix] = []
        self.buttons: list[QPushButton] = []
        vertical = orientation == Qt.Orientation.Vertical
        self._layout = QBoxLayout(QBoxLayout.Direction.TopToBottom if vertical else QBoxLayout.Direction.LeftToRight,
                                  self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        if not vertical:
            self._layout.addStretch(1)  # buttons gather on the left, before it
        doc.inferred.connect(self._on_inferred)
        doc.locked_changed.connect(self._on_locked_changed)
        self.setEnabled(not doc.locked)
        self.hide()

    def show_for(self, node_id: str | None) -> None:
        """Offer the fixes of ``node_id``'s errors (None: none)."""
        self._first_error = False
        self.node_id = node_id
        self._rebuild(self.doc.result)

    def show_first_error(self) -> None:
        """Offer, after every inference, the fixes of the first error's node (the status bar's
        error button shows that error)."""
        self._first_error = True
        self._on_inferred(self.doc.result)

    def _on_inferred(self, result: InferenceResult) -> None:
        if self._first_error:
            self.node_id = next((e.node for e in result.errors if e.node is not None), None)
        self._rebuild(result)

    def _on_locked_changed(self, locked: bool) -> None:
        self.setEnabled(not locked)

    def _rebuild(self, result: InferenceResult) -> None:
        nid = self.node_id
        found = suggest_fixes(self.doc.graph, result, [nid]) if nid is not None and nid in self.doc.graph else {}
        self.fixes = found.get(nid, []) if nid is not None else []
        for b in self.buttons:  # deleteLater: the clicked button may be the one running this
            b.hide()
            b.deleteLater()
        self.buttons = []
        for i, fix in enumerate(self.fixes):
            b = QPushButton(fix.label, self)
            b.setToolTip(f"{fix.label} (one step in Edit ▸ Undo)")
            b.setCursor(Qt.CursorShape.PointingHandCursor)
            b.clicked.connect(lambda _checked=False, f=fix: self._apply(f))
            self._layout.insertWidget(i, b)
            self.buttons.append(b)
        self.setVisible(bool(self.fixes))

    def _apply(self, fix: Fix) -> None:
        try:
            commands.execute(self.doc, fix_command(self.doc, fix))
        except GraphError as e:
            self.failed.emit(str(e))
            return
        self.doc.flush()  # show the result (and the fixes still needed) at once
        self.applied.emit(fix.label)
