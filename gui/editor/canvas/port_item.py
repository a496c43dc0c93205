"""Input and output ports: the handles that edges are drawn from and to."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from netbuilder.gui import theme
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsSceneHoverEvent,
    QGraphicsSceneMouseEvent,
    QStyleOptionGraphicsItem,
    QWidget,
)

if TYPE_CHECKING:
    from netbuilder.gui.editor.canvas.node_item import NodeItem
    from netbuilder.gui.editor.canvas.scene import GraphScene

RADIUS = 6.0


class PortItem(QGraphicsItem):
    """A port of a node: ``kind`` is ``"in"`` (with an input ``index``) or ``"out"``."""

    def __init__(self, node: NodeItem, kind: str, index: int = 0) -> None:
        super().__init__(node)
        self.node = node
        self.kind = kind
        self.index = index
        self.connected = False
        self._hover = False
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setZValue(2)

    @property
    def node_id(self) -> str:
        return self.node.node_id

    def boundingRect(self) -> QRectF:
        r = RADIUS + 4  # a larger hit area than what is drawn
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        t = theme.current()
        color = t.category(self.node.spec.category)
        r = RADIUS + (1.5 if self._hover else 0)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(color.darker(120) if not t.dark else color.lighter(130), 1.6))
        painter.setBrush(QBrush(color if self.connected or self._hover else QColor(t.node_body)))
        painter.drawEllipse(QPointF(0, 0), r, r)

    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self._hover = False
        self.update()

    def set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            self.update()

    # Port drags draw a new edge; the scene validates it through the core graph.
    def _graph_scene(self) -> GraphScene | None:
        # Ports only ever live in a GraphScene; Qt's scene() is typed as the base class.
        return cast("GraphScene | None", self.scene())

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        scene = self._graph_scene()
        if event.button() == Qt.MouseButton.LeftButton and scene is not None and scene.begin_link(self):
            event.accept()
        else:
            event.ignore()

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        scene = self._graph_scene()
        if scene is not None:
            scene.move_link(event.scenePos())

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        scene = self._graph_scene()
        if scene is not None:
            scene.end_link(event.scenePos())
