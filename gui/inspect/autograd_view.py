"""The autograd graph viewer: the backward DAG of one loss, linked to the canvas.

:func:`netbuilder.core.inspect.autograd.autograd_graph` does the work (a forward pass on a random input with a random
target, as in the PyTorch tutorial, or on a real test batch when a trained model is given); this
module only draws its result. Each backward node is a box in a layered top-to-bottom layout (the loss
at the top, the parameters' ``AccumulateGrad`` at the bottom), coloured per canvas layer and captioned
with the layer it belongs to. Clicking a box selects that layer on the canvas (which also highlights
its code lines); selecting canvas nodes highlights their backward nodes. The side pane prints the
chain the way the tutorial does (``loss.grad_fn``, ``.next_functions[0][0]`` …).

(Over 500 lines: the graph items, their layered drawing and the viewer that links them to the canvas
belong together; the graph itself comes from :mod:`netbuilder.core.inspect.autograd`.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from netbuilder.core.inspect.autograd import AutogradGraph, BackwardNode, autograd_graph, main_path
from netbuilder.core.model.layers import REGISTRY
from netbuilder.gui import theme
from netbuilder.gui.editor.document import Document
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
    QResizeEvent,
    QShowEvent,
    QTextCursor,
    QTextOption,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStyleOptionGraphicsItem,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from netbuilder.core.train.data import Dataset
    from netbuilder.gui.window import AppWindow, TrainingSource

NODE_W = 230.0
NODE_H = 46.0
X_GAP = NODE_W + 30.0
Y_GAP = NODE_H + 42.0
MIN_ZOOM, MAX_ZOOM = 0.1, 4.0
# Distinct light fills so neighbouring layers differ even when they share a category colour.
LAYER_FILLS = ("#dbe8fb", "#fdf0c8", "#d9f0df", "#fbdcd8", "#eadcf8", "#d2eff2", "#ffe4c4", "#e4efcf",
               "#f3d9e7", "#dde3ea")
LOSS_FILL = "#fbd7a8"


def layer_colour(index: int) -> QColor:
    """The fill of the ``index``-th layer (cycling through :data:`LAYER_FILLS`)."""
    return QColor(LAYER_FILLS[index % len(LAYER_FILLS)])


class BackwardNodeItem(QGraphicsItem):
    """One backward node: its class name on the first line, then the parameter and shape
    (``conv1.weight [6, 1, 5, 5]``) for ``AccumulateGrad``, or the canvas layer it belongs to."""

    def __init__(self, node: BackwardNode, fill: QColor, stripe: QColor, layer_type: str | None) -> None:
        super().__init__()
        self.node = node
        self.fill = fill
        self.stripe = stripe
        self.highlighted = False
        self.current = False  # the one the user clicked
        if node.param is not None:
            self.caption = f"{node.param} {node.shape}"
        elif node.layer is not None:
            self.caption = f"from {node.layer}" + (f" ({layer_type})" if layer_type else "")
        else:
            self.caption = "the loss"
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        tip = [node.name, self.caption]
        if node.layer is not None:
            tip.append("Click to select this layer on the canvas.")
        self.setToolTip("\n".join(tip))

    def boundingRect(self) -> QRectF:
        return QRectF(-NODE_W / 2 - 3, -NODE_H / 2 - 3, NODE_W + 6, NODE_H + 6)

    def set_highlighted(self, on: bool, current: bool = False) -> None:
        if on != self.highlighted or current != self.current:
            self.highlighted, self.current = on, current
            self.update()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        t = theme.current()
        r = QRectF(-NODE_W / 2, -NODE_H / 2, NODE_W, NODE_H)
        fill = QColor(self.fill)
        if t.dark:
            fill = fill.darker(310)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        border = QColor(t.accent) if self.highlighted else QColor(t.node_border)
        painter.setPen(QPen(border, 3.0 if self.current else (2.2 if self.highlighted else 1.0)))
        painter.setBrush(QBrush(fill))
        painter.drawRoundedRect(r, 6, 6)
        stripe = QRectF(r.left() + 1, r.top() + 5, 5, r.height() - 10)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(self.stripe))
        painter.drawRoundedRect(stripe, 2, 2)
        text = QColor(t.text)
        f = QFont(painter.font())
        f.setPointSizeF(9.5)
        f.setBold(True)
        painter.setFont(f)
        painter.setPen(text)
        inner = r.adjusted(12, 4, -6, -4)
        fm = QFontMetricsF(f)
        painter.drawText(QRectF(inner.left(), inner.top(), inner.width(), inner.height() / 2),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(self.node.name, Qt.TextElideMode.ElideRight, inner.width()))
        f.setBold(False)
        f.setPointSizeF(8.5)
        painter.setFont(f)
        painter.setPen(QColor(t.subtext) if self.node.param is None else text)
        fm = QFontMetricsF(f)
        painter.drawText(QRectF(inner.left(), inner.center().y(), inner.width(), inner.height() / 2),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(self.caption, Qt.TextElideMode.ElideMiddle, inner.width()))


def _edge_path(a: QPointF, b: QPointF, bend: float = 0.0, horizontal: bool = False) -> QPainterPath:
    """A smooth curve from ``a``'s bottom (right side when ``horizontal``) to ``b``'s top (left side);
    ``bend`` separates duplicate edges (``x + x``)."""
    if horizontal:
        start = QPointF(a.x() + NODE_W / 2, a.y() + bend)
        end = QPointF(b.x() - NODE_W / 2 - 6, b.y() + bend)
        d = max(20.0, (end.x() - start.x()) / 2)
        c1, c2 = QPointF(start.x() + d, start.y()), QPointF(end.x() - d, end.y())
    else:
        start = QPointF(a.x() + bend, a.y() + NODE_H / 2)
        end = QPointF(b.x() + bend, b.y() - NODE_H / 2 - 6)
        d = max(20.0, (end.y() - start.y()) / 2)
        c1, c2 = QPointF(start.x(), start.y() + d), QPointF(end.x(), end.y() - d)
    path = QPainterPath(start)
    path.cubicTo(c1, c2, end)
    return path


class AutogradGraphView(QGraphicsView):
    """The drawing: wheel zooms under the cursor, dragging the background pans, a click on a node
    reports it through :attr:`node_clicked`. After :meth:`fit` the whole graph stays fitted while the
    view is resized, until the user zooms."""

    node_clicked = Signal(int)  # backward node id
    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.items_by_id: dict[int, BackwardNodeItem] = {}
        self.edge_items: list[QGraphicsPathItem] = []
        self.fitted = False  # True from fit() until the user zooms: resizing refits

    def zoom(self) -> float:
        return float(self.transform().m11())

    def set_zoom(self, z: float) -> None:
        z = max(MIN_ZOOM, min(MAX_ZOOM, z))
        f = z / self.zoom()
        self.scale(f, f)
        self.zoom_changed.emit(self.zoom())

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.fitted = False
            self.set_zoom(self.zoom() * 1.15 ** (delta / 120))
        event.accept()

    def fit(self) -> None:
        """Show the whole graph, however small that makes it, but never enlarge beyond 100% (small
        graphs stay at their natural size)."""
        if self.scene().itemsBoundingRect().isEmpty():
            return
        # The scene rect holds every item plus a margin: fitting it leaves nothing for the scroll bars,
        # whose appearance would shrink the viewport and clip the graph again.
        self.resetTransform()
        self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > 1.0:
            self.resetTransform()
        self.fitted = True
        self.zoom_changed.emit(self.zoom())

    def start_readable(self) -> None:
        """The first view of a new graph: fitted when that keeps the labels readable (60% or more),
        otherwise at 60% from the loss's corner."""
        self.fit()
        r = self.scene().itemsBoundingRect()
        if r.isEmpty() or self.zoom() >= 0.6:
            return
        self.fitted = False
        self.resetTransform()
        self.scale(0.6, 0.6)
        vw, vh = self.viewport().width() / 0.6, self.viewport().height() / 0.6
        self.centerOn(min(r.center().x(), r.left() + vw / 2), min(r.center().y(), r.top() + vh / 2))
        self.zoom_changed.emit(self.zoom())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.fitted:
            self.fit()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            item = self.itemAt(event.position().toPoint())
            while item is not None and not isinstance(item, BackwardNodeItem):
                item = item.parentItem()
            if isinstance(item, BackwardNodeItem):
                self.node_clicked.emit(item.node.id)
                event.accept()
                return
        super().mousePressEvent(event)

    def show_graph(self, graph: AutogradGraph, horizontal: bool = False) -> None:
        """Replace the drawing with ``graph``: loss at the top (or on the left when ``horizontal``)."""
        sc = self.scene()
        sc.clear()
        self.items_by_id = {}
        self.edge_items = []
        t = theme.current()
        layer_index = {layer: i for i, layer in enumerate(graph.layers())}
        if horizontal:  # rows become columns: suits a wide, short dock
            pos = {i: (y, x) for i, (x, y) in graph.layout(Y_GAP, X_GAP + 40).items()}
        else:
            pos = graph.layout(X_GAP, Y_GAP)
        for n in graph.nodes:
            kind = graph.layer_types.get(n.layer) if n.layer is not None else None
            spec = REGISTRY.get(kind) if kind else None
            if n.layer is None:
                fill, stripe = QColor(LOSS_FILL), QColor("#e37400")
            else:
                fill = layer_colour(layer_index[n.layer])
                stripe = t.category(spec.category) if spec is not None else QColor(t.node_border)
            item = BackwardNodeItem(n, fill, stripe, kind)
            x, y = pos[n.id]
            item.setPos(x, y)
            item.setZValue(1)
            sc.addItem(item)
            self.items_by_id[n.id] = item
        pen = QPen(QColor(t.edge), 1.3)
        seen: dict[tuple[int, int], int] = {}
        for a, b in graph.edges:
            k = seen.get((a, b), 0)
            seen[(a, b)] = k + 1
            pa, pb = self.items_by_id[a].pos(), self.items_by_id[b].pos()
            path = _edge_path(pa, pb, 10.0 * k, horizontal)
            edge = QGraphicsPathItem(path)
            edge.setPen(pen)
            sc.addItem(edge)
            end = path.pointAtPercent(1.0)
            if horizontal:
                head = QPolygonF([end + QPointF(6, 0), end + QPointF(-3, -5), end + QPointF(-3, 5)])
            else:
                head = QPolygonF([end + QPointF(0, 6), end + QPointF(-5, -3), end + QPointF(5, -3)])
            arrow = sc.addPolygon(head, pen, QBrush(QColor(t.edge)))
            arrow.setParentItem(edge)
            edge.setZValue(0)
            self.edge_items.append(edge)
        sc.setSceneRect(sc.itemsBoundingRect().adjusted(-60, -60, 60, 60))


class AutogradView(QWidget):
    """The autograd graph panel for ``document``.

    ``refresh()`` recomputes the graph on the document's current network. With a trained model
    (:meth:`set_model`) the "Input" choice can use a real test batch and the trained weights; otherwise a
    random input and a random target, as in the tutorial. Errors are shown in the panel, never raised."""

    refreshed = Signal()

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.graph: AutogradGraph | None = None
        self.error: str | None = None
        self._model: torch.nn.Module | None = None
        self._dataset: Dataset | None = None
        self._syncing = False
        self._current: int | None = None
        self._chain_lines: list[int | None] = []  # text line → backward node id

        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Run one forward pass and rebuild the backward graph of the loss")
        self.refresh_button.clicked.connect(self.refresh)
        self.input_box = QComboBox()
        self.input_box.addItem("Random input, random target (tutorial)", "random")
        self.input_box.setToolTip("What to feed the network to get a loss")
        self.input_box.currentIndexChanged.connect(lambda _i: self.refresh())
        self.loss_box = QComboBox()
        self.loss_box.addItem("MSE loss", "mse")
        self.loss_box.addItem("Cross-entropy loss", "cross-entropy")
        self.loss_box.currentIndexChanged.connect(lambda _i: self.refresh())
        self.auto_box = QCheckBox("Auto")
        self.auto_box.setChecked(True)
        self.auto_box.setToolTip("Rebuild the graph whenever the network changes")
        self.orient_box = QComboBox()
        self.orient_box.addItem("Left → right", "LR")
        self.orient_box.addItem("Top → bottom", "TB")
        self.orient_box.setToolTip("Direction of the drawing: from the loss to the parameters")
        self.orient_box.currentIndexChanged.connect(lambda _i: self._redraw())
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Zoom to show the whole graph")
        self.zoom_label = QLabel("100%")
        self.zoom_label.setObjectName("muted")
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        for w in (self.refresh_button, self.input_box, self.loss_box, self.auto_box):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.orient_box)
        top.addWidget(self.zoom_label)
        top.addWidget(self.fit_button)

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info = QLabel()
        self.info.setObjectName("muted")
        self.info.setWordWrap(True)

        self.view = AutogradGraphView()
        self.view.node_clicked.connect(self.select_backward_node)
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.fit_button.clicked.connect(self.view.fit)
        self.chain = QPlainTextEdit()
        self.chain.setReadOnly(True)
        # wrapped: the pane is narrow beside the graph, and every line must be readable without scrolling
        self.chain.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.chain.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        mono = QFont("DejaVu Sans Mono")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        mono.setPointSizeF(9)
        self.chain.setFont(mono)
        self.chain.cursorPositionChanged.connect(self._on_chain_cursor)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.view)
        split.addWidget(self.chain)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([900, 380])
        self.splitter = split
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.info)
        lay.addWidget(self.message)
        lay.addWidget(split, 1)
        self.message.hide()

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(400)
        self._timer.timeout.connect(self._auto_refresh)
        document.inferred.connect(self._on_inferred)
        document.selection_changed.connect(self._on_selection)
        self._stale = True

    # --- inputs ---------------------------------------------------------------------------------
    def set_model(self, model: torch.nn.Module | None, dataset: Dataset | None = None) -> None:
        """Use a trained model (and its dataset's test images for a real batch). None forgets it."""
        self._model, self._dataset = model, dataset
        have_batch = model is not None and dataset is not None
        idx = self.input_box.findData("batch")
        self.input_box.blockSignals(True)
        if have_batch and idx < 0:
            self.input_box.addItem("Trained model, real test batch", "batch")
            self.input_box.setCurrentIndex(self.input_box.count() - 1)
            self.loss_box.setCurrentIndex(self.loss_box.findData("cross-entropy"))
        elif not have_batch and idx >= 0:
            self.input_box.removeItem(idx)
        self.input_box.blockSignals(False)
        self.refresh()

    def _batch(self) -> tuple[torch.nn.Module | None, torch.Tensor | None, torch.Tensor | None]:
        """(model, batch, target) for the chosen input: Nones for the tutorial's random input."""
        if self.input_box.currentData() != "batch" or self._model is None or self._dataset is None:
            return None, None, None
        from netbuilder.core.train.data import prepare_images

        result = self.document.result
        shape = result.nodes[result.input_id].output_shape if result.input_id else None
        ds = self._dataset
        fit = str(self.document.training.get("fit_input", "none"))
        x = prepare_images(ds.test_x[:8], ds, tuple(shape or ds.shape), fit, "cpu")
        param = next(self._model.parameters(), None)
        if param is not None:
            x = x.to(param.device)
        return self._model, x, ds.test_y[:8]

    # --- computing ------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Recompute on the current network. Returns False (and shows why) when it cannot."""
        self._timer.stop()
        self._stale = False
        self.document.flush()
        try:
            model, batch, target = self._batch()
            g = autograd_graph(self.document.graph, model, batch, target, loss=self.loss_box.currentData(),
                               result=self.document.result)
        except Exception as e:  # a user-caused error or an unexpected one: show it, keep the app alive
            self._show_error(str(e) or type(e).__name__)
            return False
        self.error = None
        self.message.hide()
        self.graph = g
        self._redraw()
        self._write_chain(g)
        n_params = sum(1 for n in g.nodes if n.param is not None)
        src = "8 real test images, trained weights" if batch is not None else "random input and target"
        self.info.setText(
            f"{len(g.nodes)} backward nodes ({n_params} parameters), {len(g.edges)} edges · "
            f"{g.loss_name} loss = {g.loss_value:.4g} ({src}) · gradients flow along the arrows, from the loss "
            "to the parameters · click a node to select its layer")
        self._on_selection(self.document.selected_ids())
        self.refreshed.emit()
        return True

    def _redraw(self) -> None:
        if self.graph is not None:
            self.view.show_graph(self.graph, horizontal=self.orient_box.currentData() == "LR")
            self.view.start_readable()
            self._on_selection(self.document.selected_ids())

    def _show_error(self, text: str) -> None:
        self.error = text
        self.graph = None
        self.view.scene().clear()
        self.view.items_by_id = {}
        self.view.edge_items = []
        self.chain.setPlainText("")
        self._chain_lines = []
        self.info.setText("")
        t = theme.current()
        self.message.setStyleSheet(f"color: {t.error};")
        self.message.setText(f"Cannot build the autograd graph: {text}")
        self.message.show()

    def _on_inferred(self, _result: object) -> None:
        self._stale = True
        if self.auto_box.isChecked() and self.isVisible():
            self._timer.start()

    def _auto_refresh(self) -> None:
        if self.auto_box.isChecked():
            self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._timer.start()

    # --- the text pane --------------------------------------------------------------------------
    def _write_chain(self, g: AutogradGraph) -> None:
        lines: list[str] = []
        ids: list[int | None] = []

        def add(text: str, node: int | None = None) -> None:
            lines.append(text)
            ids.append(node)

        def where(node_id: int) -> str:
            n = g.nodes[node_id]
            return n.label if n.param else (n.layer or "loss")

        add("# As the PyTorch tutorial prints it:")
        add("# (follows next_functions[0][0] each time)")
        for c in g.chain:
            add(f"print({c.expression})", c.node)
            add(f"#   <{c.name} ...>   ({where(c.node)})", c.node)
        add("")
        add("# Down the network to the first layer")
        add("# (at each step, the first input that is not a parameter):")
        path = main_path(g)
        for i, c in enumerate(path):
            step = "loss.grad_fn" if i == 0 else "fn" + c.expression[len(path[i - 1].expression):]
            add(f"fn = {step:<28} # {c.name}  ({where(c.node)})", c.node)
        add("")
        add("# Parameters (AccumulateGrad):")
        for n in g.nodes:
            if n.param is not None:
                add(f"#   {n.param} {n.shape}  ({n.layer})", n.id)
        self._chain_lines = ids
        self.chain.blockSignals(True)
        self.chain.setPlainText("\n".join(lines))
        self.chain.blockSignals(False)

    def _on_chain_cursor(self) -> None:
        if self._syncing:
            return
        line = self.chain.textCursor().blockNumber()
        if 0 <= line < len(self._chain_lines) and self._chain_lines[line] is not None:
            node = self._chain_lines[line]
            assert node is not None
            self.select_backward_node(node)

    def _mark_chain(self, node_ids: set[int]) -> None:
        t = theme.current()
        sels = []
        for line, nid in enumerate(self._chain_lines):
            if nid is not None and nid in node_ids:
                sel = QTextEdit.ExtraSelection()
                sel.format.setBackground(QColor(t.code_line))
                sel.format.setProperty(0x06000, True)  # QTextFormat.FullWidthSelection
                cur = QTextCursor(self.chain.document().findBlockByNumber(line))
                sel.cursor = cur
                sels.append(sel)
        self.chain.setExtraSelections(sels)

    # --- selection both ways --------------------------------------------------------------------
    def select_backward_node(self, node_id: int) -> None:
        """Make ``node_id`` current and select its canvas layer (the loss selects nothing)."""
        if self.graph is None or not 0 <= node_id < len(self.graph.nodes):
            return
        self._current = node_id
        layer = self.graph.nodes[node_id].layer
        self.document.select_nodes([layer] if layer is not None else [])
        self._on_selection(self.document.selected_ids())

    def highlighted_ids(self) -> list[int]:
        """Backward node ids now highlighted (those of the selected canvas nodes)."""
        return [i for i, it in self.view.items_by_id.items() if it.highlighted]

    def _on_selection(self, ids: list[str]) -> None:
        if self.graph is None:
            return
        chosen = set(ids)
        if self._current is not None:
            layer = self.graph.nodes[self._current].layer
            if not (layer in chosen or (layer is None and not ids)):  # selection moved elsewhere
                self._current = None
        marked: set[int] = set()
        for nid, item in self.view.items_by_id.items():
            on = item.node.layer in chosen or nid == self._current
            item.set_highlighted(on, nid == self._current)
            if on:
                marked.add(nid)
        self._syncing = True
        try:
            self._mark_chain(marked)
        finally:
            self._syncing = False
        if marked and self.isVisible():
            items = [self.view.items_by_id[i] for i in marked]
            r = items[0].sceneBoundingRect()
            for it in items[1:]:
                r = r.united(it.sceneBoundingRect())
            self.view.ensureVisible(r, 40, 40)


def install(window: AppWindow, training: TrainingSource | None = None) -> AutogradView:
    """Dock an :class:`AutogradView` in ``window``; with a training source, the trained (or loaded)
    model becomes available as an input, and is forgotten with a new project or run."""
    view = AutogradView(window.document)
    window.add_panel(view, "Autograd graph", Qt.DockWidgetArea.BottomDockWidgetArea, "AutogradDock")
    if training is not None:
        training.model_available.connect(lambda ctx: view.set_model(ctx.model, ctx.dataset))
        training.model_cleared.connect(lambda: view.set_model(None))
    return view
