"""The graph scene: one item per core node and edge, kept in step with the :class:`Document`.

Items are created, removed and updated only from document signals. User gestures (drags, port
drags, deletes) become undo commands via :func:`gui.commands.execute`; the graph's events then
update the items. A refused gesture emits :attr:`GraphScene.message` with the core's reason and
leaves the items as they were (a dragged edge snaps back).

A little over 500 lines: drops (palette, onto a wire, into a free spot) and port drags share the
scene's item lookups and hover state; groups and routing already live in their own modules.
"""

from __future__ import annotations

import contextlib

import shiboken6
from netbuilder.core.model.graph import Edge, GraphError, Node
from netbuilder.core.model.inference import InferenceResult
from netbuilder.core.model.shapes import fmt_shape
from netbuilder.gui import theme
from netbuilder.gui.editor import commands
from netbuilder.gui.editor.canvas.edge_item import EdgeItem, edge_path
from netbuilder.gui.editor.canvas.groups import GroupItem, GroupLayer
from netbuilder.gui.editor.canvas.node_item import MIN_HEIGHT, WIDTH, NodeItem
from netbuilder.gui.editor.canvas.port_item import PortItem
from netbuilder.gui.editor.document import Document
from PySide6.QtCore import QLineF, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSceneContextMenuEvent,
    QGraphicsSceneMouseEvent,
)

GRID = 20.0


class GraphScene(GroupLayer, QGraphicsScene):
    """The node editor scene for ``document``.

    Extension points: :meth:`node_item`, :meth:`set_node_tint` / :meth:`clear_tints` (the gradient
    view colours nodes by a statistic), :attr:`message` (status text), :attr:`node_activated`
    (double-click), :attr:`context_menu` (ids under the cursor, screen position).

    Repeated blocks (groups read from the node ids' module paths) get a box each; :meth:`toggle_group`
    / :meth:`set_collapsed` collapse one to a single card (a view state, not an edit)."""

    message = Signal(str, bool)  # text, is_error
    node_activated = Signal(str)
    context_menu = Signal(list, object, object)  # node ids, QPoint (screen), Edge | None

    def __init__(self, document: Document, parent=None) -> None:
        super().__init__(parent)
        self.doc = document
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[Edge, EdgeItem] = {}
        self.snap = True
        self.show_grid = True
        self._syncing_selection = False
        self._link_from: PortItem | None = None
        self._link_item: QGraphicsPathItem | None = None
        self._press_positions: dict[str, tuple[float, float]] = {}
        self.groups: dict[str, GroupItem] = {}
        self.group_of: dict[str, str] = {}
        self.collapsed_groups: set[str] = set()
        self._rebuilding = False
        self._cards: tuple[list[QRectF], list[float]] | None = None  # see obstacles()
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.setSceneRect(QRectF(-5000, -5000, 10000, 10000))
        d = document
        d.node_added.connect(self._on_node_added)
        d.node_removed.connect(self._on_node_removed)
        d.edge_added.connect(self._on_edge_added)
        d.edge_removed.connect(self._on_edge_removed)
        d.params_changed.connect(self._on_params_changed)
        d.node_renamed.connect(self._on_node_renamed)
        d.node_moved.connect(self._on_node_moved)
        d.reset.connect(self.rebuild)
        d.inferred.connect(self._on_inferred)
        d.selection_changed.connect(self._on_doc_selection)
        d.locked_changed.connect(self._on_locked)
        self.selectionChanged.connect(self._on_scene_selection)
        theme.hub().changed.connect(self._on_theme)  # bound: dies with this object
        self.rebuild()

    # --- public API ---------------------------------------------------------------------------
    def node_item(self, node_id: str) -> NodeItem | None:
        """The item showing ``node_id`` (None if absent)."""
        return self.nodes.get(node_id)

    def edge_item(self, edge: Edge) -> EdgeItem | None:
        return self.edges.get(edge)

    def set_node_tint(self, node_id: str, color: QColor | None) -> None:
        """Fill ``node_id``'s body with ``color`` (None: back to normal). Used by overlays such as
        the gradient view; survives inference updates, cleared by :meth:`clear_tints`."""
        item = self.nodes.get(node_id)
        if item is not None:
            item.set_tint(color)

    def clear_tints(self) -> None:
        for item in self.nodes.values():
            if item.tint is not None:
                item.set_tint(None)

    def items_bounds(self) -> QRectF:
        """Bounding rectangle of all nodes (with their labels), or an empty rect."""
        r = QRectF()
        for item in self.nodes.values():
            r = r.united(item.sceneBoundingRect())
        return r

    def snap_point(self, value: object) -> QPointF:
        p = QPointF(value)  # type: ignore[call-overload]
        if self.snap:
            return QPointF(round(p.x() / GRID) * GRID, round(p.y() / GRID) * GRID)
        return p

    def free_spot(self, pos: QPointF, gap: float = 40.0) -> QPointF:
        """The grid point nearest ``pos`` where a new card (of the smallest height) overlaps no other
        card, searched ring by ring: a drop onto an existing card lands beside it, ``gap`` away (room
        for a wire and its shape label in between)."""
        cards = [it.sceneBoundingRect().adjusted(-gap, -gap, gap, gap) for it in self.nodes.values()]
        step = GRID if self.snap else GRID / 2

        def free(p: QPointF) -> bool:
            r = QRectF(p.x(), p.y(), WIDTH, MIN_HEIGHT)
            return not any(r.intersects(c) for c in cards)

        if free(pos):
            return pos
        for ring in range(1, 200):
            spots = [QPointF(pos.x() + dx * step, pos.y() + dy * step)
                     for dx in range(-ring, ring + 1) for dy in range(-ring, ring + 1)
                     if max(abs(dx), abs(dy)) == ring]
            spots.sort(key=lambda p: (p - pos).manhattanLength())
            for p in spots:
                if free(p):
                    return p
        return pos

    def edge_at(self, pos: QPointF) -> EdgeItem | None:
        """The wire (or its shape label) under ``pos`` where no card is: a palette drop there
        inserts the layer into it."""
        for item in self.items(QRectF(pos.x() - 4, pos.y() - 4, 8, 8)):
            if not item.isVisible():
                continue
            if isinstance(item, (NodeItem, PortItem, GroupItem)):
                return None
            owner = item if isinstance(item, EdgeItem) else item.parentItem()
            if isinstance(owner, EdgeItem):
                return owner
        return None

    def set_drop_edge(self, edge: EdgeItem | None) -> None:
        """Highlight ``edge`` as the one a drop will insert into (None: no highlight)."""
        for e in self.edges.values():
            e.set_drop_target(e is edge)

    def rebuild(self) -> None:
        """Recreate every item from the graph (after a reset: open, new, restore)."""
        self._cancel_link()
        for item in list(self.nodes.values()):
            self.removeItem(item)
        for e in list(self.edges.values()):
            self.removeItem(e)
        self.nodes.clear()
        self.edges.clear()
        self._rebuilding = True
        try:
            for node in self.doc.graph.nodes:
                self._on_node_added(node)
            for edge in self.doc.graph.edges:
                self._on_edge_added(edge)
            ins: dict[str, list[Edge]] = {nid: [] for nid in self.nodes}
            outs: dict[str, list[Edge]] = {nid: [] for nid in self.nodes}
            for edge in self.edges:
                ins[edge.dst].append(edge)
                outs[edge.src].append(edge)
            for nid, node_item in self.nodes.items():
                self._update_ports(node_item, ins[nid], outs[nid])
        finally:
            self._rebuilding = False
        for e in self.edges.values():  # routed once all ports exist (not once per edge added)
            e.update_path()
        self.collapsed_groups.clear()  # another graph: its own groups, all open
        self.refresh_groups()
        self._on_inferred(self.doc.result)
        self._on_locked(self.doc.locked)

    def close(self) -> None:
        """Drop every item (teardown: avoids destructor crashes at interpreter exit)."""
        self._cancel_link()
        with contextlib.suppress(RuntimeError, TypeError):
            theme.hub().changed.disconnect(self._on_theme)
        self.nodes.clear()
        self.edges.clear()
        self.groups.clear()
        self.clear()

    # --- model → items ------------------------------------------------------------------------
    def _on_node_added(self, node: Node) -> None:
        item = NodeItem(node)
        item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable, not self.doc.locked)
        self.nodes[node.id] = item
        self.addItem(item)
        self._structure_changed()

    def _on_node_removed(self, node: Node) -> None:
        item = self.nodes.pop(node.id, None)
        if item is not None:
            self.removeItem(item)
        self._structure_changed()

    def _on_edge_added(self, edge: Edge) -> None:
        src, dst = self.nodes.get(edge.src), self.nodes.get(edge.dst)
        if src is None or dst is None:
            return
        if not self._rebuilding:  # rebuild() sets every node's ports once at the end
            self._update_ports(dst)
        item = EdgeItem(edge, src, dst)
        self.edges[edge] = item
        self.addItem(item)
        if not self._rebuilding:
            self._update_ports(src)
            self._structure_changed()
            item.update_path()  # once in the scene: routed around the nodes in its way

    def _on_edge_removed(self, edge: Edge) -> None:
        item = self.edges.pop(edge, None)
        if item is not None:
            self.removeItem(item)
        self._structure_changed()
        for nid in (edge.src, edge.dst):
            if nid in self.nodes:
                self._update_ports(self.nodes[nid])

    def _update_ports(self, item: NodeItem, ins: list[Edge] | None = None, outs: list[Edge] | None = None) -> None:
        """Port count and connected dots of ``item`` from its edges (given by rebuild(), which
        collects them in one pass: asking the graph per node is quadratic on 1,000 edges)."""
        g = self.doc.graph
        if item.node_id not in g:
            return
        ins = g.in_edges(item.node_id) if ins is None else ins
        spec = item.spec
        if spec.max_inputs != 0:
            used = max((e.port for e in ins), default=-1) + 1
            want = max(spec.min_inputs, 1, used + (1 if spec.max_inputs is None else 0))
            item.set_input_count(want)
        taken = {e.port for e in ins}
        for p in item.in_ports:
            p.set_connected(p.index in taken)
        used_out = {e.src_port for e in (g.out_edges(item.node_id) if outs is None else outs)}
        for p in item.out_ports:
            p.set_connected(p.index in used_out)
        if self._rebuilding:
            return  # rebuild() routes every edge once at the end
        for e in self.edges.values():
            if e.dst is item or e.src is item:
                e.update_path()

    def _on_params_changed(self, node_id: str) -> None:
        item = self.nodes.get(node_id)
        if item is not None:
            item.update_from(self.doc.graph.node(node_id), self.doc.result.nodes.get(node_id))

    def _on_node_renamed(self, old: str, new: str) -> None:
        item = self.nodes.pop(old, None)
        if item is None:
            return
        item.node_id = new
        self.nodes[new] = item
        for edge, e_item in list(self.edges.items()):
            if old in (edge.src, edge.dst):
                del self.edges[edge]
                new_edge = Edge(new if edge.src == old else edge.src, new if edge.dst == old else edge.dst, edge.port,
                                edge.src_port)
                e_item.edge = new_edge
                self.edges[new_edge] = e_item
        item.setToolTip(item._tooltip())
        item.update()
        self._structure_changed()

    def _on_node_moved(self, node_id: str, pos: tuple[float, float]) -> None:
        item = self.nodes.get(node_id)
        if item is not None and (item.pos().x(), item.pos().y()) != tuple(pos):
            was = self.snap
            self.snap = False  # the model's position is the truth
            item.setPos(QPointF(*pos))
            self.snap = was

    def node_geometry_changed(self, item: NodeItem) -> None:
        self._cards = None
        group = self.groups.get(self.group_of.get(item.node_id, ""))
        if group is not None:
            group.update_geometry()
        for e in self.edges.values():
            if e.src is item or e.dst is item:
                e.update_path()

    # --- groups -------------------------------------------------------------------------------
    def _structure_changed(self) -> None:
        self._cards = None
        if not self._rebuilding:
            self.refresh_groups()

    def _on_inferred(self, result: InferenceResult) -> None:
        g = self.doc.graph
        for nid, item in self.nodes.items():
            if nid in g:
                ports = len(item.out_ports)
                item.update_from(g.node(nid), result.nodes.get(nid))
                if len(item.out_ports) != ports:  # a Split's pieces follow its input
                    self._update_ports(item)
        for edge, e_item in self.edges.items():
            shape = result.edge_shape(edge)
            text = fmt_shape(shape) if shape is not None else "?"
            dst_info = result.nodes.get(edge.dst)
            error = dst_info.error if dst_info is not None and shape is not None else None
            e_item.set_state(text, error)
        for box in self.groups.values():
            total = sum(info.params for m in box.members if (info := result.nodes.get(m.node_id)) is not None)
            text = f"{total:,} params" if total else ""
            if text != box.params_text:
                box.params_text = text
                box.update()

    def _on_theme(self, *_: object) -> None:
        if not shiboken6.isValid(self):  # a scene deleted on the C++ side without close()
            return
        for item in self.nodes.values():
            if shiboken6.isValid(item):
                item.update()
        for e in self.edges.values():
            if shiboken6.isValid(e):
                e.update_style()
                e.label.update()
        self.update()

    def _on_locked(self, locked: bool) -> None:
        for item in self.nodes.values():
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable, not locked)
        if locked:
            self._cancel_link()

    # --- selection ----------------------------------------------------------------------------
    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_edges(self) -> list[Edge]:
        return [i.edge for i in self.selectedItems() if isinstance(i, EdgeItem)]

    def _on_scene_selection(self) -> None:
        if self._syncing_selection:
            return
        # keep the document's order stable: previously selected first, then new ones
        ids = self.selected_node_ids()
        prev = [i for i in self.doc.selected_ids() if i in ids]
        self.doc.select_nodes(prev + [i for i in ids if i not in prev])

    def _on_doc_selection(self, ids: list[str]) -> None:
        if set(ids) == set(self.selected_node_ids()):
            return
        for nid in ids:  # a node chosen elsewhere (summary, search) is shown
            group = self.group_of.get(nid)
            if group in self.collapsed_groups:
                self.set_collapsed(group, False)
        self._syncing_selection = True
        try:
            self.clearSelection()
            for nid in ids:
                item = self.nodes.get(nid)
                if item is not None:
                    item.setSelected(True)
        finally:
            self._syncing_selection = False

    # --- interactive edges ----------------------------------------------------------------------
    def begin_link(self, port: PortItem) -> bool:
        """Start dragging a new edge from ``port``; False while locked."""
        if self.doc.locked:
            self.message.emit("Editing is locked while training", True)
            return False
        self._cancel_link()
        self._link_from = port
        self._link_item = QGraphicsPathItem()
        pen = QPen(QColor(theme.current().accent), 2, Qt.PenStyle.DashLine)
        self._link_item.setPen(pen)
        self._link_item.setZValue(5)
        self.addItem(self._link_item)
        self.move_link(port.scenePos())
        return True

    def move_link(self, pos: QPointF) -> None:
        if self._link_from is None or self._link_item is None:
            return
        a = self._link_from.scenePos()
        path: QPainterPath
        if self._link_from.kind == "out":
            path, _ = edge_path(a, pos)
        else:
            path, _ = edge_path(pos, a)
        self._link_item.setPath(path)

    def end_link(self, pos: QPointF) -> bool:
        """Finish the drag at ``pos``: connect through the core graph or snap back with the reason."""
        start = self._link_from
        self._cancel_link()
        if start is None:
            return False
        target = self._target_at(pos, exclude=start.node)
        if target is None:
            return False
        node, port = target
        if start.kind == "out":
            idx = port.index if port is not None and port.kind == "in" else None
            src, dst, src_port = start.node_id, node.node_id, start.index
            if port is not None and port.kind == "out":
                self.message.emit(f"Connect an output to an input: drop on the left side of '{dst}'", True)
                return False
        else:
            if port is not None and port.kind == "in":
                self.message.emit(f"Connect an input to an output: drop on the right side of '{node.node_id}'",
                                  True)
                return False
            src, dst, idx = node.node_id, start.node_id, start.index
            src_port = port.index if port is not None else 0
        try:
            commands.execute(self.doc, commands.Connect(self.doc, src, dst, idx, src_port))
        except GraphError as e:
            self.message.emit(str(e), True)
            return False
        self.message.emit(f"Connected {src} → {dst}", False)
        return True

    def _target_at(self, pos: QPointF, exclude: NodeItem) -> tuple[NodeItem, PortItem | None] | None:
        for item in self.items(pos):
            if isinstance(item, PortItem) and item.node is not exclude:
                return item.node, item
            if isinstance(item, NodeItem) and item is not exclude:
                return item, None
        # forgiving drop: a port within 18 px counts
        best, best_d = None, 18.0
        for node in self.nodes.values():
            if node is exclude:
                continue
            for p in [*node.in_ports, *node.out_ports]:
                d = (p.scenePos() - pos).manhattanLength()
                if d < best_d:
                    best, best_d = p, d
        return (best.node, best) if best is not None else None

    def _cancel_link(self) -> None:
        if self._link_item is not None:
            self.removeItem(self._link_item)
        self._link_item = None
        self._link_from = None

    # --- moves ----------------------------------------------------------------------------------
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mousePressEvent(event)
        self._press_positions = {nid: (it.pos().x(), it.pos().y()) for nid, it in self.nodes.items()
                                 if it.isSelected()}

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        self.commit_moves()

    def commit_moves(self) -> None:
        """Turn item drags into one undoable move (the model is updated on release)."""
        g = self.doc.graph
        old: dict[str, tuple[float, float]] = {}
        new: dict[str, tuple[float, float]] = {}
        for nid, item in self.nodes.items():
            if nid not in g:
                continue
            pos = (item.pos().x(), item.pos().y())
            if pos != g.node(nid).position:
                old[nid], new[nid] = g.node(nid).position, pos
        if new:
            try:
                commands.execute(self.doc, commands.MoveNodes(self.doc, old, new))
            except GraphError as e:
                for nid, p in old.items():
                    self.nodes[nid].setPos(QPointF(*p))
                self.message.emit(str(e), True)

    def contextMenuEvent(self, event: QGraphicsSceneContextMenuEvent) -> None:
        edge = None
        ids: list[str] = []
        for item in self.items(event.scenePos()):
            if isinstance(item, PortItem):
                item = item.node
            if isinstance(item, NodeItem):
                if not item.isSelected():
                    self.doc.select_nodes([item.node_id])
                ids = self.doc.selected_ids()
                break
            owner = item if isinstance(item, EdgeItem) else item.parentItem()
            if isinstance(owner, EdgeItem):
                edge = owner.edge
                break
        self.context_menu.emit(ids, event.screenPos(), edge)
        event.accept()

    # --- background grid ------------------------------------------------------------------------
    def drawBackground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        t = theme.current()
        painter.fillRect(rect, QColor(t.canvas))
        if not self.show_grid:
            return
        scale = painter.worldTransform().m11()
        step = GRID if scale >= 0.6 else GRID * 5
        left = int(rect.left() // step) * step
        top = int(rect.top() // step) * step
        minor, major = QColor(t.grid_minor), QColor(t.grid_major)
        lines_minor: list[QLineF] = []
        lines_major: list[QLineF] = []
        x = left
        while x < rect.right():
            (lines_major if round(x / step) % 5 == 0 else lines_minor).append(QLineF(x, rect.top(), x, rect.bottom()))
            x += step
        y = top
        while y < rect.bottom():
            (lines_major if round(y / step) % 5 == 0 else lines_minor).append(QLineF(rect.left(), y, rect.right(), y))
            y += step
        painter.setPen(QPen(minor, 0))
        painter.drawLines(lines_minor)
        painter.setPen(QPen(major, 0))
        painter.drawLines(lines_major)
