"""The hint on an empty canvas: "Drag a layer here, or double-click one in the Layers list", centred.

A label over the view's viewport, transparent to the mouse (drops and clicks reach the canvas through it),
shown while the graph has no node. It is a child of the view, not of its viewport: scrolling the canvas
moves the viewport's children, which carried a hint there out of sight.
"""

from __future__ import annotations

from netbuilder.gui.editor.document import Document
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractScrollArea, QLabel

HINT = "Drag a layer here, or double-click one in the Layers list"


class EmptyCanvasHint(QLabel):
    """Centred on ``view``'s viewport while ``document``'s graph is empty."""

    def __init__(self, view: QAbstractScrollArea, document: Document) -> None:
        super().__init__(HINT, view)
        self._viewport = view.viewport()
        self.setObjectName("emptyCanvasHint")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setStyleSheet("QLabel#emptyCanvasHint { font-size: 15pt; color: palette(placeholder-text);"
                           " background: transparent; }")
        self._doc = document
        view.viewport().installEventFilter(self)
        for signal in (document.node_added, document.node_removed, document.inferred):
            signal.connect(self.sync)
        document.reset.connect(self.sync)
        self.sync()

    def sync(self, *_: object) -> None:
        self.setVisible(len(self._doc.graph) == 0)
        self._centre()

    def _centre(self) -> None:
        area = self._viewport.geometry()
        width = max(min(area.width() - 40, 720), 100)
        self.resize(width, self.heightForWidth(width))
        self.move(area.center() - self.rect().center())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self._centre()
        return False
