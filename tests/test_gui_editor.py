"""The node editor, driven like a user: palette drops, port drags, the inspector, undo/redo."""
# ruff: noqa: F811  (pytest fixtures imported from _helpers_editor are shadowed by parameters)

from __future__ import annotations

import itertools

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from _helpers_editor import cfg_dir, drop_layer, make_window, port_drag, select, win  # noqa: F401
from netbuilder.core.model.codegen import generate
from netbuilder.core.model.graph import Edge
from netbuilder.core.model.inference import infer
from netbuilder.core.model.project import load_preset, presets_dir
from netbuilder.core.model.shapes import fmt_shape
from netbuilder.gui import theme
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

LENET_PARAMS = 61_706


def _edit(win, node_id: str, name: str, value) -> None:
    """Change a parameter through the inspector's own editor widgets."""
    select(win, [node_id])
    ed = win.inspector.editors[name]
    kind = ed.spec.kind
    if kind in ("int", "optional_int"):
        if ed.auto is not None and ed.auto.isChecked():
            ed.auto.setChecked(False)
        ed.spin.setValue(value)
    elif kind in ("pair", "padding", "optional_pair"):
        ed.h.setValue(value)
    elif kind == "shape":
        ed.edit.setText(value)
        ed.edit.editingFinished.emit()
    else:
        raise AssertionError(kind)
    win.document.flush()


def _rename(win, node_id: str, new: str) -> None:
    select(win, [node_id])
    win.inspector.id_edit.setText(new)
    win.inspector.id_edit.editingFinished.emit()


def build_lenet(win) -> None:
    """Assemble LeNet-5 on an empty canvas: palette drops at the preset's positions, ids and
    parameters through the inspector, edges by port drags."""
    preset = load_preset("lenet5-mnist").graph
    for node in preset.nodes:
        x, y = node.position
        new_id = drop_layer(win, node.type, QPointF(x + 90, y + 13))
        if new_id != node.id:
            _rename(win, new_id, node.id)
        assert node.id in win.document.graph
        spec = node.spec
        for name, value in node.params.items():
            current = spec.full_params(win.document.graph.node(node.id).params)[name]
            if current == value or (isinstance(value, list) and list(current) == value):
                continue
            _edit(win, node.id, name, value)
        got = {k: v for k, v in win.document.graph.node(node.id).params.items() if v != "auto"}
        assert got == node.params, (node.id, got)
    for edge in preset.edges:
        port_drag(win, edge.src, edge.dst, edge.port)
    win.document.flush()


def test_build_lenet_from_empty_canvas(win):
    assert len(win.document.graph) == 0
    assert len(win.scene.nodes) == 0
    build_lenet(win)
    doc = win.document
    preset = load_preset("lenet5-mnist").graph
    assert sorted(doc.graph.edges, key=str) == sorted(preset.edges, key=str)
    # every edge is labelled with the shape it carries
    ref = infer(preset)
    for edge in preset.edges:
        item = win.scene.edge_item(edge)
        assert item is not None
        assert item.label.text == fmt_shape(ref.nodes[edge.src].output_shape)
        assert item.error is None
    assert win.scene.edge_item(Edge("input", "conv1")).label.text == "N×1×28×28"
    assert win.scene.edge_item(Edge("pool2", "flatten")).label.text == "N×16×5×5"
    assert doc.result.ok
    assert doc.result.total_params == LENET_PARAMS
    assert "61,706" in win.summary.totals.text()
    assert "61,706 parameters" in win.params_label.text()
    # the generated code is the preset's (its docstring names the graph, which differs)
    want = generate(preset).source.splitlines()[1:]
    assert doc.code is not None
    assert doc.code.source.splitlines()[1:] == want
    assert win.code.editor.toPlainText() == doc.code.source
    # the summary follows topological order
    assert win.summary.row_ids() == ref.order

    # undo the whole construction back to an empty canvas, then redo it
    stack = doc.undo_stack
    n = stack.count()
    assert n >= len(preset.nodes) + len(preset.edges)
    while stack.canUndo():
        stack.undo()
    doc.flush()
    assert len(doc.graph) == 0 and not doc.graph.edges
    assert not win.scene.nodes and not win.scene.edges
    assert [i for i in win.scene.items()] == []
    while stack.canRedo():
        stack.redo()
    doc.flush()
    assert doc.result.total_params == LENET_PARAMS
    assert doc.code.source.splitlines()[1:] == want
    assert len(win.scene.nodes) == len(preset.nodes)
    assert len(win.scene.edges) == len(preset.edges)


def test_invalid_port_drop_snaps_back_with_reason(win):
    a = drop_layer(win, "Input", QPointF(0, 0))
    b = drop_layer(win, "Conv2d", QPointF(300, 0))
    c = drop_layer(win, "ReLU", QPointF(600, 0))
    port_drag(win, a, b)
    port_drag(win, b, c)
    n_items = len(win.scene.items())
    count = win.document.undo_stack.count()
    # a cycle: c → b is refused by the core; nothing changes and the status bar says why
    port_drag(win, c, b)
    assert win.document.undo_stack.count() == count
    assert len(win.document.graph.edges) == 2
    msg = win.statusBar().currentMessage()
    assert "input 0" in msg or "cycle" in msg
    # drop on empty canvas: the rubber edge disappears
    from _helpers_editor import drag

    drag(win.view, win.scene.node_item(c).out_port.scenePos(), QPointF(2000, 2000))
    assert len(win.scene.items()) == n_items
    # into an Input: refused with the core's reason
    port_drag_to_node = win.scene.node_item(a).sceneBoundingRect().center()
    drag(win.view, win.scene.node_item(c).out_port.scenePos(), port_drag_to_node)
    assert "takes no inputs" in win.statusBar().currentMessage()
    assert len(win.document.graph.edges) == 2


def test_shape_error_badge_and_fix_in_inspector(win):
    win.open_template(presets_dir() / "lenet5-mnist.json")
    doc = win.document
    assert doc.result.ok and not doc.modified
    _edit(win, "conv2", "kernel_size", 20)  # pool1 gives 14×14: a 20×20 kernel cannot fit
    QApplication.processEvents()
    item = win.scene.node_item("conv2")
    assert item.error and "conv2" in item.error
    assert "conv2" in item.toolTip() and "Error" in item.toolTip()
    edge = win.scene.edge_item(Edge("pool1", "conv2"))
    assert edge.error == item.error
    assert edge.pen().color().name() == theme.current().error  # the theme's error red
    assert "conv2" in win.statusBar().currentMessage()
    assert win.error_button.isVisible() and "1 error" in win.error_button.text()
    assert win.inspector.node_error.isVisible() and "conv2" in win.inspector.node_error.text()
    assert doc.code is None and not win.code.banner.isHidden()
    # downstream shapes are unknown, shown as "?"
    assert win.scene.edge_item(Edge("conv2", "relu2")).label.text == "?"
    _edit(win, "conv2", "kernel_size", 5)
    QApplication.processEvents()
    assert item.error is None and edge.error is None
    assert doc.result.total_params == LENET_PARAMS
    assert doc.code is not None and win.code.banner.isHidden()
    assert not win.error_button.isVisible()
    assert not win.inspector.node_error.isVisible()


def test_inspector_refuses_invalid_values_inline(win):
    a = drop_layer(win, "Input", QPointF(0, 0))
    b = drop_layer(win, "Dropout", QPointF(300, 0))
    port_drag(win, a, b)
    count = win.document.undo_stack.count()
    select(win, [b])
    ed = win.inspector.editors["p"]
    ed.edit.setText("1.5")
    ed.edit.editingFinished.emit()
    err = win.inspector.errors["p"]
    assert not err.isHidden() and "between 0 and 1" in err.text()
    assert win.document.graph.node(b).params.get("p", 0.5) == 0.5
    assert win.document.undo_stack.count() == count
    ed.edit.setText("0.25")
    ed.edit.editingFinished.emit()
    assert err.isHidden()
    assert win.document.graph.node(b).params["p"] == 0.25
    # shape field: a bad shape is refused with the reason
    select(win, [a])
    win.inspector.editors["shape"].edit.setText("1, 0, 28")
    win.inspector.editors["shape"].edit.editingFinished.emit()
    assert "positive" in win.inspector.errors["shape"].text()
    # ids stay unique and legal
    select(win, [b])
    win.inspector.id_edit.setText(a)
    win.inspector.id_edit.editingFinished.emit()
    assert "already exists" in win.inspector.errors["id"].text()
    win.inspector.id_edit.setText("a" * 65)  # any readable text is an id since format 2, up to 64 characters
    win.inspector.id_edit.editingFinished.emit()
    assert "not allowed" in win.inspector.errors["id"].text()
    assert "at most 64 characters" in win.inspector.errors["id"].text()
    assert b in win.document.graph
    _rename(win, b, "drop")
    assert "drop" in win.document.graph and win.scene.node_item("drop") is not None
    assert win.inspector.errors["id"].isHidden()


def test_auto_toggle_shows_inferred_size(win):
    a = drop_layer(win, "Input", QPointF(0, 0))
    c = drop_layer(win, "Conv2d", QPointF(300, 0))
    port_drag(win, a, c)
    _edit(win, a, "shape", "3, 32, 32")
    select(win, [c])
    ed = win.inspector.editors["in_channels"]
    assert ed.auto.isChecked() and not ed.spin.isEnabled()
    assert ed.spin.value() == 3  # the inferred value, greyed
    ed.auto.setChecked(False)
    win.document.flush()
    assert win.document.graph.node(c).params["in_channels"] == 3
    ed.spin.setValue(4)
    win.document.flush()
    assert win.scene.node_item(c).error  # 4 channels expected, 3 given
    ed.auto.setChecked(True)
    win.document.flush()
    assert win.document.graph.node(c).params["in_channels"] == "auto"
    assert win.scene.node_item(c).error is None


def test_palette_double_click_adds_and_connects(win):
    win.palette.activated.emit("Input")
    first = win.document.selected_ids()[0]
    for t in ("Flatten", "Linear", "ReLU"):
        win.palette.activated.emit(t)
    doc = win.document
    doc.flush()
    assert len(doc.graph) == 4 and len(doc.graph.edges) == 3
    assert doc.result.ok
    ids = [n.id for n in doc.graph.nodes]
    assert ids[0] == first
    assert [(e.src, e.dst) for e in doc.graph.edges] == list(itertools.pairwise(ids))
    # placed to the right of the previous one
    xs = [n.position[0] for n in doc.graph.nodes]
    assert xs == sorted(xs) and len(set(xs)) == 4
    # search + Enter in the palette adds the first hit
    win.palette.search.setText("softm")  # names first; layers whose description says softmax follow
    assert win.palette.visible_types()[:2] == ["Softmax", "LogSoftmax"]
    win.palette.search.setText("tmax")
    assert {"Softmax", "LogSoftmax"} <= set(win.palette.visible_types())
    win.palette.search.setText("logsoft")
    win.palette.search.returnPressed.emit()  # the name that starts with the search, not the first shown
    assert doc.graph.nodes[-1].type == "LogSoftmax"
    win.palette.search.setText("softm")
    win.palette.search.returnPressed.emit()
    assert doc.graph.nodes[-1].type == "Softmax"
    assert doc.graph.edges[-1].dst == doc.graph.nodes[-1].id


def test_palette_lists_registry_by_category_with_tooltips(win):
    from netbuilder.core.model.layers import REGISTRY, by_category

    assert set(win.palette.items) == set(REGISTRY)
    for cat, specs in by_category().items():
        if specs:
            group = win.palette.groups[cat]
            assert [group.child(i).text(0) for i in range(group.childCount())] == [s.type_name for s in specs]
    tip = win.palette.items["Conv2d"].toolTip(0)
    assert REGISTRY["Conv2d"].explanation[:40] in tip


def test_delete_multi_and_undo_is_one_step(win):
    win.open_template(presets_dir() / "lenet5-mnist.json")
    doc = win.document
    before = {n.id: n for n in doc.graph.nodes}
    edges_before = doc.graph.edges
    select(win, ["conv2", "relu2", "pool2"])
    win.act_delete.trigger()
    assert doc.undo_stack.count() == 1
    assert "conv2" not in doc.graph and "pool2" not in doc.graph
    assert win.scene.node_item("relu2") is None
    doc.undo_stack.undo()
    doc.flush()
    assert set(n.id for n in doc.graph.nodes) == set(before)
    assert sorted(doc.graph.edges, key=str) == sorted(edges_before, key=str)
    assert doc.result.total_params == LENET_PARAMS


def test_copy_paste_duplicate_keep_internal_edges(win):
    win.open_template(presets_dir() / "lenet5-mnist.json")
    doc = win.document
    n0, e0 = len(doc.graph), len(doc.graph.edges)
    select(win, ["conv1", "relu1", "pool1"])
    assert win.copy()
    mime = QApplication.clipboard().mimeData()
    from netbuilder.gui.editor.commands import CLIPBOARD_MIME

    assert mime.hasFormat(CLIPBOARD_MIME)
    assert '"conv1"' in mime.text()  # JSON, not pickle
    win.paste()
    assert len(doc.graph) == n0 + 3
    assert len(doc.graph.edges) == e0 + 2  # the two edges inside the selection
    pasted = doc.selected_ids()
    assert len(pasted) == 3 and not set(pasted) & {"conv1", "relu1", "pool1"}
    assert doc.graph.node(pasted[0]).params == doc.graph.node("conv1").params
    assert doc.undo_stack.count() == 1  # paste is one step
    doc.undo_stack.undo()
    assert len(doc.graph) == n0 and len(doc.graph.edges) == e0
    select(win, ["fc1", "relu3"])
    win.act_duplicate.trigger()
    assert len(doc.graph) == n0 + 2 and len(doc.graph.edges) == e0 + 1
    select(win, ["fc2"])
    win.act_cut.trigger()
    assert "fc2" not in doc.graph
    win.paste()
    assert "fc2" in doc.graph  # the id was free again
    win.paste()
    assert len([n for n in doc.graph.nodes if n.type == "Linear"]) == 5
    # garbage on the clipboard is refused with a message
    QApplication.clipboard().setText("not nodes")
    win.paste()
    assert "clipboard" in win.statusBar().currentMessage()


def test_move_rename_layout_undo(win):
    win.open_template(presets_dir() / "lenet5-mnist.json")
    doc = win.document
    item = win.scene.node_item("conv1")
    old = doc.graph.node("conv1").position
    from _helpers_editor import drag

    start = item.mapToScene(QPointF(60, 12))
    drag(win.view, start, QPointF(start.x() + 100, start.y() + 60))
    new = doc.graph.node("conv1").position
    assert new != old and new[0] % 20 == 0 and new[1] % 20 == 0  # snapped to the grid
    assert doc.undo_stack.count() == 1 and doc.modified
    assert "*" not in win.windowTitle() or win.isWindowModified()
    assert win.isWindowModified()
    doc.undo_stack.undo()
    assert doc.graph.node("conv1").position == old
    assert (item.pos().x(), item.pos().y()) == old
    assert not win.isWindowModified()
    # rename through the context-menu command keeps edges
    win.arrange("LR")
    assert len({n.position[1] for n in doc.graph.nodes}) == 1
    doc.undo_stack.undo()
    assert doc.graph.node("conv1").position == old
    _rename(win, "conv1", "features1")
    assert Edge("input", "features1") in doc.graph.edges
    assert win.scene.edge_item(Edge("input", "features1")) is not None
    doc.undo_stack.undo()
    assert Edge("input", "conv1") in doc.graph.edges


def test_disconnect_and_context_actions(win):
    win.open_template(presets_dir() / "lenet5-mnist.json")
    doc = win.document
    select(win, ["relu1"])
    win.act_disconnect.trigger()
    assert not doc.graph.in_edges("relu1") and not doc.graph.out_edges("relu1")
    doc.flush()
    assert win.scene.node_item("pool1").error  # no input any more
    doc.undo_stack.undo()
    doc.flush()
    assert doc.result.ok


def test_summary_row_selects_node_and_code_highlights_its_lines(win):
    win.open_template(presets_dir() / "lenet5-mnist.json")
    doc = win.document
    row = win.summary.row_ids().index("conv2")
    win.summary.table.selectRow(row)
    assert doc.selected_ids() == ["conv2"]
    assert win.scene.node_item("conv2").isSelected()
    assert win.inspector.node_id == "conv2"
    assert win.code.highlighted_lines() == doc.code.lines_of("conv2")
    assert len(win.code.highlighted_lines()) == 2  # __init__ and forward
    line = doc.code.lines_of("fc1")[0]
    win.code.select_line(line)
    assert doc.selected_ids() == ["fc1"]


def test_locked_document_refuses_edits_visibly(win):
    from netbuilder.gui.editor.commands import AddNode, LockedError, execute

    win.open_template(presets_dir() / "lenet5-mnist.json")
    doc = win.document
    doc.set_locked(True)
    assert win.view.banner_visible()
    assert not win.palette.isEnabled()
    assert not win.inspector.body.isEnabled()
    assert not win.act_delete.isEnabled() and not win.act_paste.isEnabled()
    with pytest.raises(LockedError):
        execute(doc, AddNode(doc, "ReLU", (0, 0)))
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QDragEnterEvent

    mime = win.palette.mime_for("ReLU")
    ev = QDragEnterEvent(win.view.viewport().rect().center(), Qt.DropAction.CopyAction, mime,
                         Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win.view.viewport(), ev)
    assert not ev.isAccepted()
    n = len(doc.graph.edges)
    port_drag(win, "relu4", "fc3")
    assert len(doc.graph.edges) == n
    select(win, ["conv1"])
    win.delete_selection()
    assert "conv1" in doc.graph
    doc.set_locked(False)
    assert not win.view.banner_visible()
    assert win.palette.isEnabled() and win.inspector.body.isEnabled()
    win.delete_selection()
    assert "conv1" not in doc.graph


def test_scene_tint_and_legend_api(win):
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QLabel

    win.open_template(presets_dir() / "lenet5-mnist.json")
    win.scene.set_node_tint("conv1", QColor("#ff0000"))
    assert win.scene.node_item("conv1").tint == QColor("#ff0000")
    win.document.refresh()  # inference updates keep the tint
    assert win.scene.node_item("conv1").tint == QColor("#ff0000")
    win.scene.clear_tints()
    assert win.scene.node_item("conv1").tint is None
    legend = QLabel("legend")
    win.view.set_legend(legend)
    assert win.view.legend() is legend and legend.parent() is win.view.viewport()
    win.view.set_legend(None)
    dock = win.add_panel(QLabel("x"), "Extra Panel")
    assert dock.objectName() == "ExtraPanelDock"
    assert dock.toggleViewAction() in win._panels_menu.actions()
    assert win.menu("Tools").title() == "&Tools"


def test_zoom_and_fit(win):
    win.open_template(presets_dir() / "lenet5-mnist.json")
    win.view.fit()
    z = win.view.zoom()
    bounds = win.scene.items_bounds()
    visible = win.view.mapToScene(win.view.viewport().rect()).boundingRect()
    assert visible.contains(bounds)
    win.view.zoom_by(2.0)
    assert win.view.zoom() == pytest.approx(min(3.0, z * 2))
    win.act_fit.trigger()
    assert win.view.zoom() == pytest.approx(z)
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtGui import QWheelEvent

    vp = win.view.viewport()
    ev = QWheelEvent(QPointF(100, 100), QPointF(vp.mapToGlobal(QPoint(100, 100))), QPoint(0, 0), QPoint(0, 120),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, ev)
    assert win.view.zoom() > z
    # middle-drag pans
    from _helpers_editor import drag

    c0 = win.view.center_of_view()
    drag(win.view, QPointF(c0.x(), c0.y()), QPointF(c0.x() + 50, c0.y()), button=Qt.MouseButton.MiddleButton)
    assert win.view.center_of_view().x() < c0.x() - 10


def test_rubber_band_and_ctrl_click_selection(win):
    from _helpers_editor import drag, mouse
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QMouseEvent

    win.open_template(presets_dir() / "lenet5-mnist.json")
    r1 = win.scene.node_item("input").sceneBoundingRect()
    r2 = win.scene.node_item("relu1").sceneBoundingRect()
    drag(win.view, QPointF(r1.left() - 20, r1.top() - 30), QPointF(r2.right() + 10, r2.bottom() + 10), steps=6)
    assert set(win.document.selected_ids()) == {"input", "conv1", "relu1"}
    p = win.scene.node_item("fc1").mapToScene(QPointF(60, 12))
    mouse(win.view, QMouseEvent.Type.MouseButtonPress, p, mods=Qt.KeyboardModifier.ControlModifier)
    mouse(win.view, QMouseEvent.Type.MouseButtonRelease, p, mods=Qt.KeyboardModifier.ControlModifier)
    assert set(win.document.selected_ids()) == {"input", "conv1", "relu1", "fc1"}


def test_painting_many_times_does_not_crash(win):
    """Render the whole scene repeatedly while it changes: a PySide6 with the 6.12 none_dealloc bug
    (a reference to None dropped by every void call such as QPainter.setPen) dies here."""
    from PySide6.QtGui import QImage, QPainter

    win.open_template(presets_dir() / "resnet-tiny.json")
    img = QImage(800, 500, QImage.Format.Format_ARGB32)
    for i in range(150):
        if i % 10 == 0:
            _edit(win, "fc", "out_features", 8 + i // 10)
        if i == 60:
            _edit(win, "stem", "out_channels", 8)  # breaks the residual Add: paint the error state too
            assert win.scene.node_item("add1").error
        if i == 120:
            _edit(win, "stem", "out_channels", 16)
        img.fill(0)
        p = QPainter(img)
        win.scene.render(p)
        p.end()
        win.view.viewport().repaint()
    assert not img.isNull()
    assert win.document.result.ok


def test_a_deleted_window_leaves_no_theme_listeners(qtbot, cfg_dir):
    """Theme changes reach live views only: a window's scene and docks stop listening when it goes
    (what conftest's ``_dispose_windows`` relies on to keep later theme changes cheap)."""
    from netbuilder.gui.editor.main_window import MainWindow
    from PySide6.QtCore import SIGNAL, QEvent

    hub = theme.hub()

    def listeners() -> int:
        return hub.receivers(SIGNAL("changed(PyObject)"))

    before = listeners()
    w = MainWindow(None)
    assert listeners() > before  # the scene, the palette and the code and summary docks
    w.shutdown()
    w.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    assert listeners() == before


def test_multi_output_ports_are_labelled_and_edges_start_at_theirs(win):
    a = drop_layer(win, "Input", QPointF(0, 0))
    _edit(win, a, "shape", "4, 8, 8")
    c = drop_layer(win, "Chunk", QPointF(300, 0))
    s = drop_layer(win, "Add", QPointF(600, 0))
    port_drag(win, a, c)
    item = win.scene.node_item(c)
    assert [p.label for p in item.out_ports] == ["0", "1"]
    assert win.scene.node_item(a).out_ports[0].label == ""  # one output: no label
    port_drag(win, c, s, 0, src_port=1)
    port_drag(win, c, s, 1, src_port=0)
    win.document.flush()
    QApplication.processEvents()
    assert Edge(c, s, 0, 1) in win.document.graph.edges and Edge(c, s, 1, 0) in win.document.graph.edges
    e_item = win.scene.edge_item(Edge(c, s, 0, 1))
    assert e_item.path().pointAtPercent(0) == item.out_ports[1].scenePos()
    assert e_item.label.text == fmt_shape((2, 8, 8))
    assert all(p.connected for p in item.out_ports)
    win.document.undo_stack.undo()  # the second edge goes, through the document's undo stack
    assert Edge(c, s, 1, 0) not in win.document.graph.edges
    _edit(win, c, "chunks", 4)  # four pieces: four ports
    win.document.flush()
    QApplication.processEvents()
    assert len(item.out_ports) == 4
