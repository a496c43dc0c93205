"""Group boxes: the repeated blocks of a network (``layer1.0``, ``features.denseblock1.denselayer3``)
drawn as a labelled box around their nodes, collapsible to a single card.

Groups come from :func:`netbuilder.core.model.layout.node_groups` (module paths in the node ids).
Collapsing is a view state, not an edit: nothing in the graph changes and it is not undoable. A
click on a box's header toggles it; while collapsed, its nodes and inner edges are hidden and the
edges that cross its boundary end on the card, still labelled with their shapes.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from netbuilder.core.model.layout import node_groups
from netbuilder.gui import theme
from netbuilder.gui.editor.canvas.node_item import MIN_HEIGHT, RADIUS, WIDTH, NodeItem
from PySide6.QtCore import QPointF, QRectF, Qt, SignalInstance
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsSceneMouseEvent, QStyleOptionGraphicsItem, QWidget

if TYPE_CHECKING:
    from netbuilder.core.model.graph import Edge
    from netbuilder.gui.editor.canvas.edge_item import EdgeItem
    from netbuilder.gui.editor.document import Document

HEADER_H = 22.0
PAD = 12.0


class GroupItem(QGraphicsItem):
    """The box of group ``name`` around ``members``; ``collapsed`` shows one card instead."""

    def __init__(self, name: str, members: list[NodeItem]) -> None:
        super().__init__()
        self.name = name
        self.members = members
        self.collapsed = False
        self.params_text = ""
        self._rect = QRectF()
        self.setZValue(-1)  # behind nodes and edges
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self.setToolTip(f"{name}: {len(members)} layers — click the header to collapse or expand")
        self.update_geometry()

    # --- geometry -------------------------------------------------------------------------------
    def update_geometry(self) -> None:
        """Follow the members (after a move) or, collapsed, sit where the first of them is."""
        self.prepareGeometryChange()
        if self.collapsed:
            x = min(m.pos().x() for m in self.members)
            y = min(m.pos().y() for m in self.members)
            self._rect = QRectF(x, y, WIDTH, MIN_HEIGHT)
        else:
            r = QRectF()
            for m in self.members:
                r = r.united(QRectF(m.pos(), QPointF(m.pos().x() + WIDTH, m.pos().y() + m.height)))
            self._rect = r.adjusted(-PAD, -PAD - HEADER_H, PAD, PAD)
        self.update()

    def header_rect(self) -> QRectF:
        """The clickable title strip (scene coordinates)."""
        return QRectF(self._rect.left(), self._rect.top(), self._rect.width(), HEADER_H)

    def in_anchor(self) -> QPointF:
        """Where edges into the collapsed card end (its left side)."""
        return QPointF(self._rect.left(), self._rect.top() + (HEADER_H + self._rect.height()) / 2)

    def out_anchor(self) -> QPointF:
        """Where edges out of the collapsed card start (its right side)."""
        return QPointF(self._rect.right(), self._rect.top() + (HEADER_H + self._rect.height()) / 2)

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-2, -2, 2, 2)

    def shape(self) -> QPainterPath:
        # expanded, only the header takes clicks: the nodes and the canvas inside stay usable
        p = QPainterPath()
        p.addRect(self._rect if self.collapsed else self.header_rect())
        return p

    # --- painting -----------------------------------------------------------------------------
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        t = theme.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        accent = QColor(t.accent)
        font = QFont()
        font.setPointSizeF(8.5)
        font.setBold(True)
        painter.setFont(font)
        fm = QFontMetricsF(font)
        arrow = "▸" if self.collapsed else "▾"
        title = f"{arrow} {self.name}"
        if self.collapsed:
            painter.setPen(QPen(accent, 1.6))
            painter.setBrush(QBrush(QColor(t.node_body)))
            painter.drawRoundedRect(self._rect, RADIUS, RADIUS)
            head = QRectF(self._rect.left(), self._rect.top(), self._rect.width(), HEADER_H)
            fill = QColor(accent)
            fill.setAlpha(60)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawRoundedRect(head, RADIUS, RADIUS)
            painter.setPen(QColor(t.text))
            painter.drawText(head.adjusted(8, 0, -8, 0), Qt.AlignmentFlag.AlignVCenter,
                             fm.elidedText(title, Qt.TextElideMode.ElideMiddle, head.width() - 16))
            small = QFont()
            small.setPointSizeF(8.5)
            painter.setFont(small)
            painter.setPen(QColor(t.subtext))
            body = QRectF(self._rect.left() + 10, self._rect.top() + HEADER_H + 4, self._rect.width() - 20,
                          self._rect.height() - HEADER_H - 8)
            text = f"{len(self.members)} layers" + (f"\n{self.params_text}" if self.params_text else "")
            painter.drawText(body, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, text)
            return
        fill = QColor(accent)
        fill.setAlpha(18)
        far = option.levelOfDetailFromTransform(painter.worldTransform()) < 0.3
        # rounded dashed borders and a title too small to read cost much of a zoomed-out repaint
        painter.setBrush(fill)
        if far:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            painter.setPen(QPen(QColor(accent), 0))
            painter.drawRect(self._rect)
            return
        painter.setPen(QPen(QColor(accent), 1.2, Qt.PenStyle.DashLine))
        painter.drawRoundedRect(self._rect, RADIUS + 3, RADIUS + 3)
        head = self.header_rect()
        painter.setPen(QColor(t.subtext))
        painter.drawText(head.adjusted(10, 0, -10, 0), Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(f"{title}  ·  {len(self.members)} layers", Qt.TextElideMode.ElideMiddle,
                                       head.width() - 20))

    # --- interaction --------------------------------------------------------------------------
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self.header_rect().contains(event.scenePos()) or self.collapsed:
            scene = self.scene()
            if scene is not None:
                scene.toggle_group(self.name)  # type: ignore[attr-defined]
            event.accept()
            return
        event.ignore()


class GroupLayer:
    """The group boxes of :class:`netbuilder.gui.editor.canvas.scene.GraphScene` (a mixin: the
    scene owns the state, initialised in its constructor)."""

    doc: Document
    nodes: dict[str, NodeItem]
    edges: dict[Edge, EdgeItem]
    groups: dict[str, GroupItem]
    group_of: dict[str, str]
    collapsed_groups: set[str]
    _cards: tuple[list[QRectF], list[float]] | None

    message: SignalInstance

    if TYPE_CHECKING:  # QGraphicsScene's; declared here only for the type checker
        def addItem(self, item: QGraphicsItem) -> None: ...
        def removeItem(self, item: QGraphicsItem) -> None: ...

    def refresh_groups(self) -> None:
        """Recreate the group boxes from the graph (groups can change with any structural edit);
        collapsed groups that still exist stay collapsed."""
        for g in self.groups.values():
            self.removeItem(g)
        self.groups.clear()
        self.group_of = node_groups(self.doc.graph)
        members: dict[str, list[NodeItem]] = {}
        for nid, name in self.group_of.items():
            if nid in self.nodes:
                members.setdefault(name, []).append(self.nodes[nid])
        for name, items in members.items():
            box = GroupItem(name, items)
            self.groups[name] = box
            self.addItem(box)
        self.collapsed_groups &= set(self.groups)
        for name in self.collapsed_groups:
            self.groups[name].collapsed = True
            self.groups[name].update_geometry()
        self._apply_collapse()

    def toggle_group(self, name: str) -> None:
        """Collapse group ``name`` if it is open, else open it."""
        self.set_collapsed(name, name not in self.collapsed_groups)

    def set_collapsed(self, name: str, collapsed: bool) -> None:
        """Show group ``name`` as one card (True) or as its nodes (False). Not an edit: no undo."""
        box = self.groups.get(name)
        if box is None or box.collapsed == collapsed:
            return
        (self.collapsed_groups.add if collapsed else self.collapsed_groups.discard)(name)
        box.collapsed = collapsed
        box.update_geometry()
        self._apply_collapse()
        self.message.emit(f"{'Collapsed' if collapsed else 'Expanded'} {name}", False)

    def set_all_collapsed(self, collapsed: bool) -> None:
        """Collapse (or expand) every group."""
        for name, box in self.groups.items():
            (self.collapsed_groups.add if collapsed else self.collapsed_groups.discard)(name)
            if box.collapsed != collapsed:
                box.collapsed = collapsed
                box.update_geometry()
        self._apply_collapse()

    def _apply_collapse(self) -> None:
        """Hide the nodes of collapsed groups and end their boundary edges on the cards."""
        hidden = {nid for nid, g in self.group_of.items() if g in self.collapsed_groups}
        self._cards = None
        for nid, item in self.nodes.items():
            show = nid not in hidden
            if item.isVisible() != show:
                if not show:
                    item.setSelected(False)
                item.setVisible(show)
        for e in self.edges.values():
            src_box = self.groups[self.group_of[e.edge.src]] if e.edge.src in hidden else None
            dst_box = self.groups[self.group_of[e.edge.dst]] if e.edge.dst in hidden else None
            inner = src_box is not None and src_box is dst_box
            e.setVisible(not inner)
            if (src_box, dst_box) != (e.src_box, e.dst_box):
                e.src_box, e.dst_box = src_box, dst_box
                if not inner:
                    e.update_path()

    def obstacles(self, rect: QRectF) -> list[QRectF]:
        """The cards (visible nodes, collapsed groups) inside ``rect``: what edges route around.

        Answered from a list sorted by x, rebuilt after moves and collapses: ``QGraphicsScene.items``
        over every item of a 400-node graph made opening one take seconds."""
        if self._cards is None:
            cards = [QRectF(it.pos().x(), it.pos().y(), WIDTH, it.height) for it in self.nodes.values()
                     if it.isVisible()]
            cards += [g.sceneBoundingRect() for g in self.groups.values() if g.collapsed]
            cards.sort(key=QRectF.left)
            self._cards = (cards, [c.left() for c in cards])
        cards, lefts = self._cards
        lo = bisect.bisect_left(lefts, rect.left() - WIDTH - 20)  # collapsed cards are as wide as nodes
        hi = bisect.bisect_right(lefts, rect.right())
        return [c for c in cards[lo:hi] if c.intersects(rect)]

