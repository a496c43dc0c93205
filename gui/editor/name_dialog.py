"""Naming things: a dialog that stays open while the name is refused, and the project name as an undoable edit.

A layer's id and the project's name (``Graph.name``, the project file's ``name`` field) are both asked for
with :class:`NameDialog`: a refused name keeps the dialog open with the reason under the field, until a
name is accepted or the user cancels.
"""

from __future__ import annotations

from collections.abc import Callable

from netbuilder.core.model.graph import GraphError
from netbuilder.gui import theme
from netbuilder.gui.editor.commands import Command
from netbuilder.gui.editor.document import Document
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLineEdit, QVBoxLayout, QWidget


class NameDialog(QDialog):
    """Asks for a name; ``apply(name)`` applies it and returns None, or returns why it was refused (the
    dialog then stays open and shows the reason)."""

    def __init__(self, parent: QWidget | None, title: str, prompt: str, text: str,
                 apply: Callable[[str], str | None]) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self._apply = apply
        self.prompt = QLabel(prompt)
        self.prompt.setWordWrap(True)
        self.edit = QLineEdit(text)
        self.edit.selectAll()
        self.reason = QLabel()
        self.reason.setObjectName("NameDialogReason")
        self.reason.setWordWrap(True)
        self.reason.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._try)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        for w in (self.prompt, self.edit, self.reason, self.buttons):
            lay.addWidget(w)
        self.setMinimumWidth(380)

    def _try(self) -> None:
        why = self._apply(self.edit.text().strip())
        if why is None:
            self.accept()
            return
        self.reason.setStyleSheet(f"color: {theme.current().error};")
        self.reason.setText(why)
        self.reason.show()
        self.edit.setFocus()
        self.edit.selectAll()


class SetProjectName(Command):
    """Rename the project (``Graph.name``): one undo step; the generated code's docstring follows."""

    def __init__(self, doc: Document, new: str) -> None:
        super().__init__(doc, f"Name the project “{new}”")
        self.old, self.new = doc.graph.name, new

    def apply(self) -> None:
        if not self.new:
            raise GraphError("the project name is empty")
        if self.new == self.old:
            raise GraphError("the project already has that name")
        self._set(self.new)

    def revert(self) -> None:
        self._set(self.old)

    def _set(self, name: str) -> None:
        self.graph.name = name
        self.doc.refresh()
