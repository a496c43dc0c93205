"""Input and output ports: the handles that edges are drawn from and to."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from netbuilder.gui import theme
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen
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
LABEL_W = 44.0  # room for an output port's name


class PortItem(QGraphicsItem):
    """A port of a node: ``kind`` is ``"in"`` or ``"out"``, ``index`` its input or output port
    number; an output of a layer with several has a ``label`` (its name) drawn inside the card."""

    def __init__(self, node: NodeItem, kind: str, index: int = 0) -> None:
        super().__init__(node)
        self.node = node
        self.kind = kind
        self.index = index
        self.connected = False
        self.label = ""
        self._hover = False
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setZValue(2)

    @property
    def node_id(self) -> str:
        return self.node.node_id

    def set_label(self, label: str) -> None:
        if label != self.label:
            self.prepareGeometryChange()
            self.label = label
            self.setToolTip(f"output {label}" if label else "")
            self.update()

    def boundingRect(self) -> QRectF:
        r = RADIUS + 4  # a larger hit area than what is drawn
        if self.label:  # the name sits left of the port, inside the card
            return QRectF(-r - LABEL_W, -r, 2 * r + LABEL_W, 2 * r)
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if option.levelOfDetailFromTransform(painter.worldTransform()) < 0.3:
            return  # a port is under two pixels wide at this zoom; skipping keeps big graphs fluid
        t = theme.current()
        color = t.category(self.node.spec.category)
        r = RADIUS + (1.5 if self._hover else 0)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(color.darker(120) if not t.dark else color.lighter(130), 1.6))
        painter.setBrush(QBrush(color if self.connected or self._hover else QColor(t.node_body)))
        painter.drawEllipse(QPointF(0, 0), r, r)
        if self.label:
            font = QFont()
            font.setPointSizeF(7.5)
            painter.setFont(font)
            painter.setPen(QColor(t.subtext))
            text = QFontMetricsF(font).elidedText(self.label, Qt.TextElideMode.ElideLeft, LABEL_W - 4)
            painter.drawText(QRectF(-RADIUS - LABEL_W, -RADIUS - 2, LABEL_W, 2 * RADIUS + 4),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)

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
