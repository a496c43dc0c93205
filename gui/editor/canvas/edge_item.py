"""An edge on the canvas: a bezier curve from an output port to an input port, labelled with the
tensor shape it carries, red when the layer it feeds cannot accept it."""

from __future__ import annotations

from collections.abc import Callable

from netbuilder.core.model.graph import Edge
from netbuilder.gui import theme
from netbuilder.gui.editor.canvas.groups import GroupItem
from netbuilder.gui.editor.canvas.node_item import HEADER, WIDTH, NodeItem
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QStyleOptionGraphicsItem, QWidget

Obstacles = Callable[[QRectF], list[QRectF]]


def edge_path(a: QPointF, b: QPointF, src_rect: QRectF | None = None, dst_rect: QRectF | None = None,
              lane: int = 0, obstacles: Obstacles | None = None) -> tuple[QPainterPath, QPointF]:
    """The curve from ``a`` (an output port) to ``b`` (an input port) and where its label goes.

    Forward edges are an S-shaped bezier; one that would cross other nodes (``obstacles`` gives the
    node rectangles inside a scene rectangle: a skip connection over its block) runs along a lane
    just below or above them. Edges going back to the left (wrapped rows) are routed around the
    nodes through the gap between their rows instead of crossing them."""
    path = QPainterPath(a)
    dx = b.x() - a.x()
    if dx >= 30 or src_rect is None or dst_rect is None:
        lane_y = _skip_lane(a, b, lane, obstacles) if obstacles is not None and dx > 60 else None
        if lane_y is not None:
            x1, x2 = a.x() + 28, b.x() - 28
            pts = [a, QPointF(x1, a.y()), QPointF(x1, lane_y), QPointF(x2, lane_y), QPointF(x2, b.y()), b]
            _rounded_polyline(path, pts, 14.0)
            return path, QPointF((x1 + x2) / 2, lane_y)
        c = max(40.0, abs(dx) * 0.5)
        path.cubicTo(QPointF(a.x() + c, a.y()), QPointF(b.x() - c, b.y()), b)
        return path, path.pointAtPercent(0.5)
    below = dst_rect.top() >= src_rect.bottom() - 1
    if below:
        # run along the gap just above the target's row (a skip over several rows then stays
        # clear of the rows in between); ``lane`` separates edges sharing that gap
        mid_y = max(src_rect.bottom() + 14, dst_rect.top() - 26 + 9 * lane)
    elif dst_rect.bottom() <= src_rect.top() + 1:
        mid_y = (dst_rect.bottom() + src_rect.top()) / 2
    else:  # overlapping rows: go under both
        mid_y = max(src_rect.bottom(), dst_rect.bottom()) + 30
    r = 14.0
    x1 = a.x() + 28
    x2 = b.x() - 28
    pts = [a, QPointF(x1, a.y()), QPointF(x1, mid_y), QPointF(x2, mid_y), QPointF(x2, b.y()), b]
    _rounded_polyline(path, pts, r)
    return path, QPointF((x1 + x2) / 2, mid_y)


def _skip_lane(a: QPointF, b: QPointF, lane: int, obstacles: Obstacles) -> float | None:
    """The height of a clear horizontal lane from ``a`` to ``b``, or None when the direct curve
    crosses no node. Tries below the nodes in the way, then above, a few times each."""
    x1, x2 = a.x() + 28, b.x() - 28
    band = QRectF(x1, min(a.y(), b.y()) - 8, x2 - x1, abs(b.y() - a.y()) + 16)
    hits = obstacles(band)
    if not hits:
        return None
    best: float | None = None
    for down in (True, False):
        y = (max(r.bottom() for r in hits) + 18 + 9 * lane) if down else (min(r.top() for r in hits) - 18 - 9 * lane)
        for _ in range(6):
            more = obstacles(QRectF(x1, y - 10, x2 - x1, 20))
            if not more:
                break
            y = (max(r.bottom() for r in more) + 18) if down else (min(r.top() for r in more) - 18)
        else:
            continue
        if best is None or abs(y - a.y()) < abs(best - a.y()):
            best = y
    return best


def _rounded_polyline(path: QPainterPath, pts: list[QPointF], r: float) -> None:
    for i in range(1, len(pts) - 1):
        p0, p1, p2 = pts[i - 1], pts[i], pts[i + 1]
        d1 = _unit(p0, p1)
        d2 = _unit(p1, p2)
        l1 = min(r, _dist(p0, p1) / 2)
        l2 = min(r, _dist(p1, p2) / 2)
        path.lineTo(QPointF(p1.x() - d1.x() * l1, p1.y() - d1.y() * l1))
        path.quadTo(p1, QPointF(p1.x() + d2.x() * l2, p1.y() + d2.y() * l2))
    path.lineTo(pts[-1])


def _dist(a: QPointF, b: QPointF) -> float:
    return float(((a.x() - b.x()) ** 2 + (a.y() - b.y()) ** 2) ** 0.5)


def _unit(a: QPointF, b: QPointF) -> QPointF:
    d = _dist(a, b) or 1.0
    return QPointF((b.x() - a.x()) / d, (b.y() - a.y()) / d)


def _arrow_head(path: QPainterPath) -> QPainterPath:
    """The arrow head at the end of ``path`` (at the input port)."""
    end = path.pointAtPercent(1.0)
    before = path.pointAtPercent(max(0.0, 1.0 - 8.0 / max(path.length(), 8.0)))
    d = _unit(before, end)
    n = QPointF(-d.y(), d.x())
    s = 7.0
    tip = QPointF(end.x() - d.x() * 6, end.y() - d.y() * 6)
    head = QPainterPath(tip)
    head.lineTo(QPointF(tip.x() - d.x() * s + n.x() * s * 0.55, tip.y() - d.y() * s + n.y() * s * 0.55))
    head.lineTo(QPointF(tip.x() - d.x() * s - n.x() * s * 0.55, tip.y() - d.y() * s - n.y() * s * 0.55))
    head.closeSubpath()
    return head


def label_font() -> QFont:
    f = QFont()
    f.setPointSizeF(8.0)
    return f


class EdgeLabel(QGraphicsItem):
    """The shape text in a rounded box at the middle of an edge."""

    def __init__(self, parent: EdgeItem) -> None:
        super().__init__(parent)
        self.text = ""
        self.error = False
        self.setZValue(1)
        self._rect = QRectF()

    def set_text(self, text: str, error: bool) -> None:
        if (text, error) == (self.text, self.error):
            return
        self.prepareGeometryChange()
        self.text, self.error = text, error
        fm = QFontMetricsF(label_font())
        w = fm.horizontalAdvance(text) + 12
        h = fm.height() + 4
        self._rect = QRectF(-w / 2, -h / 2, w, h)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-1, -1, 1, 1)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if not self.text or option.levelOfDetailFromTransform(painter.worldTransform()) < 0.35:
            return  # unreadable when zoomed far out; skipping it keeps big graphs fluid
        t = theme.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        border = QColor(t.error) if self.error else QColor(t.node_border)
        painter.setPen(QPen(border, 1))
        painter.setBrush(QBrush(QColor(t.error_bg) if self.error else QColor(t.edge_label_bg)))
        painter.drawRoundedRect(self._rect, self._rect.height() / 2, self._rect.height() / 2)
        painter.setFont(label_font())
        painter.setPen(QColor(t.error) if self.error else QColor(t.edge_label_text))
        painter.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, self.text)


class EdgeItem(QGraphicsPathItem):
    """The canvas item for one core edge."""

    def __init__(self, edge: Edge, src: NodeItem, dst: NodeItem) -> None:
        super().__init__()
        self.edge = edge
        self.src, self.dst = src, dst
        self.shape_text = ""
        self.error: str | None = None
        self.unknown = True
        self.label = EdgeLabel(self)
        # collapsed groups the edge starts or ends on instead of its nodes (set by the scene)
        self.src_box: GroupItem | None = None
        self.dst_box: GroupItem | None = None
        self._head: QPainterPath | None = None  # the arrow head, cached per path
        self._mid = QPointF()
        self._ends = (QRectF(), QRectF())  # the cards (or group boxes) the wire joins
        self._leader: tuple[QPointF, QPointF] | None = None  # wire middle → a pill set aside
        self.setZValue(0)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self._hover = False
        self.drop_target = False  # a palette drag hovers over it: dropping inserts the layer here
        self.update_path()
        self.update_style()

    def update_path(self) -> None:
        """Re-route between the ports (or the collapsed group cards standing in for their nodes)."""
        if self.dst_box is not None:
            b, dst_rect = self.dst_box.in_anchor(), self.dst_box.sceneBoundingRect()
        else:
            port = self.dst.in_port(self.edge.port)
            b = port.scenePos() if port is not None else self.dst.mapToScene(QPointF(0, HEADER + 20))
            dst_rect = self.dst.sceneBoundingRect()
        if self.src_box is not None:
            a, src_rect = self.src_box.out_anchor(), self.src_box.sceneBoundingRect()
        else:
            out = self.src.out_port_at(self.edge.src_port)
            a = out.scenePos() if out is not None else self.src.mapToScene(QPointF(WIDTH, HEADER + 20))
            src_rect = self.src.sceneBoundingRect()
        scene = self.scene()
        obstacles = getattr(scene, "obstacles", None)
        path, mid = edge_path(a, b, src_rect, dst_rect, lane=self.edge.port, obstacles=obstacles)
        self.setPath(path)
        self._head = None
        self._mid, self._ends = mid, (src_rect, dst_rect)
        self._place_label()

    def _place_label(self) -> None:
        """The pill at the wire's middle or, where a card would hide part of it there (cards close
        together), at the point of the wire nearest the middle where it is clear of both cards;
        failing that (a very short wire), just beside the cards, joined to the wire by a leader."""
        mid, (src_rect, dst_rect) = self._mid, self._ends
        pill = self.label.boundingRect()

        def clear(p: QPointF) -> bool:
            r = pill.translated(p)
            return not (r.intersects(src_rect) or r.intersects(dst_rect))

        self.prepareGeometryChange()  # the leader is part of the item's bounds
        self._leader = None
        path = self.path()
        spots = [mid] + [path.pointAtPercent(0.5 + sign * k / 20) for k in range(1, 10) for sign in (-1, 1)]
        at = next((p for p in spots if clear(p)), None)
        if at is None:
            gap_x = (min(src_rect.right(), dst_rect.right()) + max(src_rect.left(), dst_rect.left())) / 2
            x = gap_x if src_rect.right() <= dst_rect.left() or dst_rect.right() <= src_rect.left() else mid.x()
            centre = (src_rect.center().y() + dst_rect.center().y()) / 2
            if mid.y() < centre:  # beside the cards on the wire's side
                at = QPointF(x, min(src_rect.top(), dst_rect.top()) - pill.height() / 2 - 4)
                self._leader = (mid, QPointF(x, at.y() + pill.height() / 2))
            else:
                at = QPointF(x, max(src_rect.bottom(), dst_rect.bottom()) + pill.height() / 2 + 4)
                self._leader = (mid, QPointF(x, at.y() - pill.height() / 2))
        self.label.setPos(at)
        self.update()

    def set_state(self, shape_text: str, error: str | None) -> None:
        if (shape_text, error) == (self.shape_text, self.error):
            return
        self.shape_text, self.error = shape_text, error
        self.unknown = shape_text == "?"
        self.label.set_text(shape_text, error is not None)
        self._place_label()  # a longer text may no longer fit between the cards
        names = self.src.out_names
        src = f"{self.edge.src}.{names[self.edge.src_port]}" if len(names) > 1 and self.edge.src_port < len(names) \
            else self.edge.src
        tip = f"{src} → {self.edge.dst}" + (f" (input {self.edge.port})" if self.edge.port else "")
        tip += f"<br>tensor {shape_text}"
        if error:
            tip += f"<br><span style='color:{theme.current().error}'><b>Error:</b> {error}</span>"
        self.setToolTip(tip)
        self.label.setToolTip(tip)
        self.update_style()

    def update_style(self) -> None:
        t = theme.current()
        if self.drop_target:
            pen = QPen(QColor(t.accent), 5.0)
        elif self.error:
            pen = QPen(QColor(t.error), 2.6)
        elif self.isSelected() or self._hover:
            pen = QPen(QColor(t.accent), 2.6)
        else:
            pen = QPen(QColor(t.edge), 2.0)
            if self.unknown:
                pen.setStyle(Qt.PenStyle.DashLine)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        self.setPen(pen)

    def boundingRect(self) -> QRectF:
        r = super().boundingRect()
        if self._leader is not None:
            r = r.united(QRectF(*self._leader).normalized().adjusted(-2, -2, 2, 2))
        return r

    def set_drop_target(self, on: bool) -> None:
        if on != self.drop_target:
            self.drop_target = on
            self.update_style()

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(12)
        return stroker.createStroke(self.path())

    def hoverEnterEvent(self, event) -> None:
        self._hover = True
        self.update_style()

    def hoverLeaveEvent(self, event) -> None:
        self._hover = False
        self.update_style()

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: object) -> object:
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.update_style()
        return super().itemChange(change, value)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, lod >= 0.3)  # hairlines when far out: cheap
        painter.setPen(self.pen())
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())
        if self._leader is not None and self.label.text:
            leader = QPen(self.pen().color(), 1, Qt.PenStyle.DotLine)
            painter.setPen(leader)
            painter.drawLine(*self._leader)
        if lod < 0.3:
            return  # the head is a dot at this zoom; skipping it keeps big graphs fluid
        if self._head is None:
            self._head = _arrow_head(self.path())
        head = self._head
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.pen().color())
        painter.drawPath(head)
