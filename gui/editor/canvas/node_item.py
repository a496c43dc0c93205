"""A layer on the canvas: a card with the id, type, key parameters, ports and an error badge.

Everything it shows comes from the layer spec (category colour, summary text, port count), the
core node and the latest inference result; it never looks at the type name.
"""

from __future__ import annotations

from netbuilder.core.model.graph import Node
from netbuilder.core.model.inference import NodeInfo
from netbuilder.core.model.layers import LayerSpec, get_spec
from netbuilder.gui import theme
from netbuilder.gui.editor.canvas.port_item import PortItem
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyle, QStyleOptionGraphicsItem, QWidget

WIDTH = 184.0
HEADER = 26.0
MIN_HEIGHT = 72.0
PORT_GAP = 20.0
RADIUS = 7.0
BADGE = 9.0
HEADER_PAD = 10.0
TYPE_SHARE = 0.45  # the most of the header's width the type name may take


def _fonts() -> tuple[QFont, QFont, QFont]:
    title = QFont()
    title.setPointSizeF(9.5)
    title.setBold(True)
    small = QFont()
    small.setPointSizeF(8.0)
    body = QFont()
    body.setPointSizeF(9.0)
    return title, small, body


class NodeItem(QGraphicsItem):
    """The canvas item for one core node (looked up by id; renames update ``node_id``)."""

    def __init__(self, node: Node) -> None:
        super().__init__()
        self.node_id = node.id
        self.type_name = node.type
        self.spec: LayerSpec = get_spec(node.type)
        self.summary = ""
        self.detail = ""
        self.error: str | None = None
        self.warning: str | None = None  # a stray node: ignored by training and export
        self.tint: QColor | None = None
        self.in_ports: list[PortItem] = []
        self.out_ports: list[PortItem] = []
        self.out_names: tuple[str, ...] = ()
        self.height = MIN_HEIGHT
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
        )
        self.setAcceptHoverEvents(True)
        self.setZValue(2)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        if self.spec.max_inputs != 0:
            self.set_input_count(max(1, self.spec.min_inputs))
        names = self.spec.output_names(self.spec.full_params(node.params)) if self.spec.outputs is not None else ()
        self.set_output_names(names or ("output",))
        self.setPos(QPointF(*node.position))
        self.update_from(node, None)

    # --- content ------------------------------------------------------------------------------
    def update_from(self, node: Node, info: NodeInfo | None) -> None:
        """Refresh the texts and output ports from the core node and its inference info; repaint
        only on change."""
        if info is not None and info.output_shapes:
            self.set_output_names(info.output_names)
        params = info.resolved if info is not None and info.resolved else self.spec.full_params(node.params)
        try:
            summary = self.spec.summary(params)
        except Exception:  # a summary must never break painting
            summary = ""
        if info is not None and info.output_shape is not None:
            detail = f"{info.params:,} params" if info.params else ("" if not self.spec.has_parameters else "0 params")
        else:
            detail = ""
        error = info.error if info is not None else None
        warning = info.warning if info is not None else None
        if (summary, detail, error, warning, node.id) != (self.summary, self.detail, self.error, self.warning,
                                                          self.node_id):
            self.summary, self.detail, self.error, self.warning = summary, detail, error, warning
            self.node_id = node.id
            self.setToolTip(self._tooltip())
            self.update()

    def _tooltip(self) -> str:
        lines = [f"<b>{self.node_id}</b> — {self.type_name}"]
        if self.summary:
            lines.append(self.summary)
        t = theme.current()
        if self.error:
            lines.append(f"<span style='color:{t.error}'><b>Error:</b> {_esc(self.error)}</span>")
        elif self.warning:
            lines.append(f"<span style='color:{t.warning}'><b>Warning:</b> not connected to the output: "
                         "ignored by training and export</span>")
        return "<br>".join(lines)

    def header_texts(self) -> tuple[str, str]:
        """The id and type as the header shows them: the type takes at most ~45% of the card and is
        elided first, so a long type name (TransformerEncoderLayer) still leaves room for the id."""
        title_font, small_font, _body = _fonts()
        fm_small, fm_title = QFontMetricsF(small_font), QFontMetricsF(title_font)
        type_room = min(fm_small.horizontalAdvance(self.type_name), WIDTH * TYPE_SHARE)
        type_text = fm_small.elidedText(self.type_name, Qt.TextElideMode.ElideRight, type_room + 0.5)
        title_room = WIDTH - 2 * HEADER_PAD - fm_small.horizontalAdvance(type_text) - 8
        return fm_title.elidedText(self.node_id, Qt.TextElideMode.ElideRight, title_room), type_text

    def set_tint(self, color: QColor | None) -> None:
        self.tint = QColor(color) if color is not None else None
        self.update()

    # --- ports --------------------------------------------------------------------------------
    def set_input_count(self, n: int) -> None:
        """Show ``n`` input ports (variadic merges grow one free port as they are connected)."""
        if self.spec.max_inputs is not None:
            n = min(n, self.spec.max_inputs)
        if n == len(self.in_ports):
            return
        while len(self.in_ports) > n:
            port = self.in_ports.pop()
            port.setParentItem(None)  # type: ignore[arg-type]  # detaches; the stubs omit None
            if port.scene() is not None:
                port.scene().removeItem(port)
        while len(self.in_ports) < n:
            self.in_ports.append(PortItem(self, "in", len(self.in_ports)))
        self._resize()

    def set_output_names(self, names: tuple[str, ...]) -> None:
        """Show one output port per name (labelled when there are several: Chunk's pieces, an
        LSTM's output, h and c)."""
        if names == self.out_names:
            return
        self.out_names = names
        while len(self.out_ports) > len(names):
            port = self.out_ports.pop()
            port.setParentItem(None)  # type: ignore[arg-type]  # detaches; the stubs omit None
            if port.scene() is not None:
                port.scene().removeItem(port)
        while len(self.out_ports) < len(names):
            self.out_ports.append(PortItem(self, "out", len(self.out_ports)))
        for port, name in zip(self.out_ports, names, strict=True):
            port.set_label(name if len(names) > 1 else "")
        self._resize()

    def _resize(self) -> None:
        self.prepareGeometryChange()
        self.height = max(MIN_HEIGHT, HEADER + 14 + PORT_GAP * max(len(self.in_ports), len(self.out_ports)))
        self._layout_ports()
        self.update()

    @property
    def out_port(self) -> PortItem | None:
        """Output port 0 (the only one of most layers)."""
        return self.out_ports[0] if self.out_ports else None

    def out_port_at(self, index: int) -> PortItem | None:
        """Output port ``index``; port 0 when there is no such port (yet: a count known only after
        inference)."""
        return self.out_ports[index] if 0 <= index < len(self.out_ports) else self.out_port

    def _layout_ports(self) -> None:
        body_mid = HEADER + (self.height - HEADER) / 2
        for ports, x in ((self.in_ports, 0.0), (self.out_ports, WIDTH)):
            n = len(ports)
            for i, port in enumerate(ports):
                port.setPos(x, body_mid + (i - (n - 1) / 2) * PORT_GAP)

    def in_port(self, index: int) -> PortItem | None:
        return self.in_ports[index] if 0 <= index < len(self.in_ports) else None

    # --- geometry and painting ------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return QRectF(-2, -BADGE - 2, WIDTH + BADGE + 4, self.height + BADGE + 4)

    def shape(self) -> QPainterPath:
        p = QPainterPath()
        p.addRoundedRect(QRectF(0, 0, WIDTH, self.height), RADIUS, RADIUS)
        return p

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        t = theme.current()
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        rect = QRectF(0, 0, WIDTH, self.height)
        cat = t.category(self.spec.category)

        # body
        body = QColor(t.node_body)
        if self.tint is not None:
            body = self.tint
        border = QColor(t.error) if self.error else (QColor(t.accent) if selected else QColor(t.node_border))
        pen = QPen(border, 2.4 if (selected or self.error) else 1.0)
        if self.warning and not self.error and not selected:
            pen = QPen(QColor(t.warning), 1.6, Qt.PenStyle.DashLine)  # visibly set aside, not broken
        painter.setPen(pen)
        painter.setBrush(QBrush(body))
        painter.drawRoundedRect(rect, RADIUS, RADIUS)

        # header: category colour, id left, type right
        header = QPainterPath()
        header.setFillRule(Qt.FillRule.WindingFill)
        hr = QRectF(0.5, 0.5, WIDTH - 1, HEADER)
        header.addRoundedRect(hr, RADIUS - 0.5, RADIUS - 0.5)
        header.addRect(QRectF(0.5, HEADER / 2, WIDTH - 1, HEADER / 2 + 0.5))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(cat))
        painter.drawPath(header.simplified())

        title_font, small_font, body_font = _fonts()
        pad = HEADER_PAD
        fm_small = QFontMetricsF(small_font)
        title, type_text = self.header_texts()
        type_w = fm_small.horizontalAdvance(type_text)
        painter.setFont(small_font)
        painter.setPen(QColor(255, 255, 255, 200))
        painter.drawText(QRectF(WIDTH - pad - type_w, 0, type_w + 1, HEADER), Qt.AlignmentFlag.AlignVCenter,
                         type_text)
        painter.setFont(title_font)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(QRectF(pad, 0, WIDTH - 2 * pad - type_w - 8, HEADER), Qt.AlignmentFlag.AlignVCenter, title)

        # body text: key parameters, then parameter count
        body_text_color = QColor(t.text)
        if self.tint is not None and self.tint.lightness() < 110:
            body_text_color = QColor("#ffffff")
        painter.setFont(body_font)
        painter.setPen(body_text_color)
        fm_body = QFontMetricsF(body_font)
        text_rect = QRectF(pad + 4, HEADER + 6, WIDTH - 2 * pad - 8, fm_body.height())
        summary = self.summary
        if not summary:
            summary = "no parameters"
            painter.setPen(QColor(t.subtext))
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         fm_body.elidedText(summary, Qt.TextElideMode.ElideRight, text_rect.width()))
        if self.detail:
            painter.setFont(small_font)
            sub = QColor(t.subtext) if self.tint is None else QColor(body_text_color)
            painter.setPen(sub)
            painter.drawText(QRectF(pad + 4, HEADER + 8 + fm_body.height(), WIDTH - 2 * pad - 8, fm_small.height()),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.detail)

        # badge: red "!" for an error, amber "–" for a stray node that training ignores
        if self.error or self.warning:
            c = QPointF(WIDTH - 2, -1)
            painter.setPen(QPen(QColor(t.node_body), 2))
            painter.setBrush(QBrush(QColor(t.error if self.error else t.warning)))
            painter.drawEllipse(c, BADGE, BADGE)
            f = QFont(title_font)
            f.setPointSizeF(9)
            painter.setFont(f)
            painter.setPen(QColor("#ffffff") if self.error else QColor(t.on_warning))
            badge = QRectF(c.x() - BADGE, c.y() - BADGE, 2 * BADGE, 2 * BADGE)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "!" if self.error else "–")

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: object) -> object:
        scene = self.scene()
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionChange and scene is not None:
            return scene.snap_point(value)  # type: ignore[attr-defined]
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged and scene is not None:
            scene.node_geometry_changed(self)  # type: ignore[attr-defined]
        return super().itemChange(change, value)

    def mouseDoubleClickEvent(self, event) -> None:
        scene = self.scene()
        if scene is not None:
            scene.node_activated.emit(self.node_id)  # type: ignore[attr-defined]


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
