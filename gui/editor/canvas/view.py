"""The canvas view: zoom, pan, rubber-band selection, palette drops, the lock banner and a legend
slot that overlays a widget in the bottom-right corner (used by the gradient view)."""

from __future__ import annotations

from netbuilder.core.model.graph import GraphError
from netbuilder.core.model.layers import REGISTRY
from netbuilder.gui.editor import commands
from netbuilder.gui.editor.canvas.edge_item import EdgeItem
from netbuilder.gui.editor.canvas.node_item import HEADER, WIDTH
from netbuilder.gui.editor.canvas.scene import GraphScene
from PySide6.QtCore import QMimeData, QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsView, QLabel, QWidget

LAYER_MIME = "application/x-netbuilder-layer"
MIN_ZOOM, MAX_ZOOM = 0.15, 3.0


def layer_type_from_mime(mime: QMimeData) -> str | None:
    """The layer type a palette drag carries, or None."""
    if not mime.hasFormat(LAYER_MIME):
        return None
    name = bytes(mime.data(LAYER_MIME).data()).decode("utf-8", "replace").strip()
    return name if name in REGISTRY else None


class GraphView(QGraphicsView):
    """Shows a :class:`GraphScene`. ``zoom_changed(float)`` reports the scale for the status bar."""

    zoom_changed = Signal(float)

    def __init__(self, scene: GraphScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.graph_scene = scene
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAcceptDrops(True)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from: QPoint | None = None
        self._space = False
        self._banner = QLabel("Editing locked while training — stop the run to edit", self.viewport())
        self._banner.setObjectName("lockBanner")
        self._banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._banner.hide()
        self._legend: QWidget | None = None
        scene.doc.locked_changed.connect(self._on_locked)
        self._on_locked(scene.doc.locked)

    # --- zoom and fit --------------------------------------------------------------------------
    def zoom(self) -> float:
        return float(self.transform().m11())

    def set_zoom(self, z: float) -> None:
        z = max(MIN_ZOOM, min(MAX_ZOOM, z))
        factor = z / self.zoom()
        self.scale(factor, factor)
        self.zoom_changed.emit(self.zoom())

    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self.zoom() * factor)

    def fit(self, margin: float = 40.0, max_zoom: float = 1.25) -> None:
        """Fit every node into the view (F). Never zooms in past ``max_zoom``."""
        rect = self.graph_scene.items_bounds()
        if rect.isNull():
            self.resetTransform()
            self.centerOn(0, 0)
            self.zoom_changed.emit(self.zoom())
            return
        rect = rect.adjusted(-margin, -margin, margin, margin)
        vp = self.viewport().rect()
        z = min(vp.width() / rect.width(), vp.height() / rect.height())
        z = max(MIN_ZOOM, min(max_zoom, z))
        self.resetTransform()
        self.scale(z, z)
        self.centerOn(rect.center())
        self.zoom_changed.emit(self.zoom())

    def center_of_view(self) -> QPointF:
        return self.mapToScene(self.viewport().rect().center())

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.15 ** steps)
        event.accept()

    # --- panning: middle-drag or space-drag ---------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        left = event.button() == Qt.MouseButton.LeftButton
        if event.button() == Qt.MouseButton.MiddleButton or (self._space and left):
            self._pan_from = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position().toPoint() - self._pan_from
            self._pan_from = event.position().toPoint()
            self.pan(delta.x(), delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space else Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def pan(self, dx: float, dy: float) -> None:
        """Scroll the view by (dx, dy) viewport pixels (content follows the mouse)."""
        z = self.zoom()
        c = self.center_of_view()
        self.centerOn(QPointF(c.x() - dx / z, c.y() - dy / z))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().keyReleaseEvent(event)

    # --- palette drops ------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if layer_type_from_mime(event.mimeData()) and not self.graph_scene.doc.locked:
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        type_name = layer_type_from_mime(event.mimeData())
        if type_name and not self.graph_scene.doc.locked:
            # light up the wire the layer would be inserted into
            self.graph_scene.set_drop_edge(self._insert_edge(type_name, event.position().toPoint()))
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.graph_scene.set_drop_edge(None)
        super().dragLeaveEvent(event)

    def _insert_edge(self, type_name: str, at: QPoint) -> EdgeItem | None:
        """The wire under ``at`` a layer of ``type_name`` can be inserted into (it takes an input)."""
        if REGISTRY[type_name].max_inputs == 0:
            return None
        return self.graph_scene.edge_at(self.mapToScene(at))

    def dropEvent(self, event: QDropEvent) -> None:
        self.graph_scene.set_drop_edge(None)
        type_name = layer_type_from_mime(event.mimeData())
        if type_name is None:
            event.ignore()
            return
        doc = self.graph_scene.doc
        at = event.position().toPoint()
        p = self.mapToScene(at)
        # the node's header lands under the cursor, or beside the cards already there
        pos = self.graph_scene.free_spot(self.graph_scene.snap_point(QPointF(p.x() - WIDTH / 2, p.y() - HEADER / 2)))
        wire = self._insert_edge(type_name, at)
        cmd: commands.AddNode | commands.InsertOnEdge
        if wire is not None:
            cmd = commands.InsertOnEdge(doc, wire.edge, type_name, (pos.x(), pos.y()))
        else:
            cmd = commands.AddNode(doc, type_name, (pos.x(), pos.y()))
        try:
            commands.execute(doc, cmd)
        except GraphError as e:
            self.graph_scene.message.emit(str(e), True)
            event.ignore()
            return
        assert cmd.node_id is not None
        doc.select_nodes([cmd.node_id])
        where = f" between '{wire.edge.src}' and '{wire.edge.dst}'" if wire is not None else ""
        self.graph_scene.message.emit(f"Added {type_name} '{cmd.node_id}'{where}", False)
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        self.setFocus()

    # --- overlays: lock banner, empty-canvas hint, legend slot --------------------------------------
    def set_legend(self, widget: QWidget | None) -> None:
        """Show ``widget`` over the canvas's bottom-right corner (None removes it)."""
        if self._legend is not None and self._legend is not widget:
            self._legend.hide()
            self._legend.setParent(None)
        self._legend = widget
        if widget is not None:
            widget.setParent(self.viewport())
            widget.show()
            widget.adjustSize()
        self._place_overlays()

    def legend(self) -> QWidget | None:
        return self._legend

    def _on_locked(self, locked: bool) -> None:
        self._banner.setVisible(locked)
        self.setAcceptDrops(not locked)
        self._place_overlays()

    def banner_visible(self) -> bool:
        return not self._banner.isHidden()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_overlays()

    def _place_overlays(self) -> None:
        vp = self.viewport().rect()
        self._banner.adjustSize()
        self._banner.move((vp.width() - self._banner.width()) // 2, 12)
        if self._legend is not None:
            self._legend.adjustSize()
            self._legend.move(vp.width() - self._legend.width() - 12, vp.height() - self._legend.height() - 12)
        self._banner.raise_()

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        super().drawForeground(painter, rect)
