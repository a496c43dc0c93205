"""Canvas details met by a new user (issue 13, point 9), driven with real drag events: shape pills
on short wires, drops onto cards and wires, stray nodes, long type names."""
# ruff: noqa: F811  (pytest fixtures imported from _helpers_editor are shadowed by parameters)

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from _helpers_editor import cfg_dir, drop_layer, graph_dict, make_window, port_drag, win  # noqa: F401
from netbuilder.core.model.graph import Edge
from netbuilder.core.model.project import presets_dir
from netbuilder.gui.editor.canvas.edge_item import label_font
from netbuilder.gui.editor.canvas.node_item import HEADER, WIDTH, NodeItem, _fonts
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QFontMetricsF
from PySide6.QtWidgets import QApplication


def card(item: NodeItem) -> QRectF:
    return QRectF(item.pos().x(), item.pos().y(), WIDTH, item.height)


def hover_layer(win, type_name: str, scene_pos: QPointF) -> None:
    """Drag ``type_name`` from the palette over ``scene_pos`` without dropping it."""
    vp = win.view.viewport()
    mime = win.palette.tree.mimeData([win.palette.items[type_name]])
    pt = win.view.mapFromScene(scene_pos)
    for cls in (QDragEnterEvent, QDragMoveEvent):
        ev = cls(pt, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(vp, ev)
        assert ev.isAccepted()


def test_shape_pill_on_a_short_wire_is_shown_whole(win):
    a = drop_layer(win, "Input", QPointF(WIDTH / 2, HEADER / 2))
    b = drop_layer(win, "Conv2d", QPointF(WIDTH + 40 + WIDTH / 2, HEADER / 2))  # a 40 px gap
    port_drag(win, a, b)
    win.document.flush()
    edge = win.scene.edge_item(Edge(a, b))
    label = edge.label
    text_w = QFontMetricsF(label_font()).horizontalAdvance(label.text)
    assert label.text == "N×1×28×28"
    assert label.boundingRect().width() >= text_w
    pill = label.sceneBoundingRect()
    for nid in (a, b):
        assert not pill.intersects(card(win.scene.node_item(nid))), nid


def test_a_drop_onto_a_card_lands_beside_it(win):
    first = drop_layer(win, "ReLU", QPointF(300, 200))
    second = drop_layer(win, "ReLU", QPointF(300, 200))  # right on top of the first
    third = drop_layer(win, "Tanh", QPointF(320, 210))
    items = [win.scene.node_item(n) for n in (first, second, third)]
    for i, it in enumerate(items):
        for other in items[i + 1:]:
            assert not card(it).intersects(card(other)), (it.node_id, other.node_id)


def test_a_drop_onto_a_wire_inserts_the_layer_in_one_undo_step(win):
    win.open_template(presets_dir() / "lenet5-mnist.json")
    doc = win.document
    before = graph_dict(doc.graph)
    before_edges = set(doc.graph.edges)
    wire = win.scene.edge_item(Edge("conv1", "relu1"))
    on_wire = wire.path().pointAtPercent(0.5)
    hover_layer(win, "BatchNorm2d", on_wire)
    assert wire.drop_target and wire.pen().widthF() > 4  # the user sees where it will go
    hover_layer(win, "BatchNorm2d", on_wire + QPointF(0, 200))  # moved off the wire: no longer lit
    assert not wire.drop_target

    new = drop_layer(win, "BatchNorm2d", on_wire)
    doc.flush()
    g = doc.graph
    assert not wire.drop_target
    assert Edge("conv1", "relu1") not in g.edges
    assert Edge("conv1", new) in g.edges and Edge(new, "relu1") in g.edges
    assert doc.result.ok
    assert doc.result.nodes[new].output_shape == doc.result.nodes["conv1"].output_shape == (6, 28, 28)
    item = win.scene.node_item(new)
    assert all(not card(item).intersects(card(o)) for o in win.scene.nodes.values() if o is not item)
    assert doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    doc.flush()
    after = graph_dict(doc.graph)
    assert set(doc.graph.edges) == before_edges  # the wire is back (last in the list: order is not meaning)
    assert {k: v for k, v in after.items() if k != "edges"} == {k: v for k, v in before.items() if k != "edges"}
    assert new not in doc.graph


def test_a_stray_node_is_a_warning_and_does_not_block_training(win):
    win.open_template(presets_dir() / "lenet5-mnist.json")
    stray = drop_layer(win, "Dropout", QPointF(400, 400))
    doc = win.document
    doc.flush()
    assert doc.result.ok
    assert [w.node for w in doc.result.warnings] == [stray]
    assert doc.code is not None  # the network still compiles, without it
    item = win.scene.node_item(stray)
    assert item.error is None and item.warning
    assert "not connected to the output: ignored by training and export" in item.toolTip()


def test_a_long_type_name_leaves_room_for_the_id(win):
    nid = drop_layer(win, "TransformerEncoderLayer", QPointF(300, 200))
    title, type_text = win.scene.node_item(nid).header_texts()
    # the id stays readable (it was only "…"); the type gives way, to ~45% of the card
    assert len(title.rstrip("…")) >= 8 and nid.startswith(title.rstrip("…"))
    assert type_text.endswith("…") and "TransformerEncoderLayer".startswith(type_text.rstrip("…"))
    assert QFontMetricsF(_fonts()[1]).horizontalAdvance(type_text) <= WIDTH * 0.46
    short = win.scene.node_item(drop_layer(win, "ReLU", QPointF(300, 500)))
    assert short.header_texts() == (short.node_id, "ReLU")  # short names are not touched


def test_training_starts_with_a_stray_node_on_the_canvas(qtbot, win):
    import torch
    from netbuilder.core.train.events import FinishedEvent
    from netbuilder.gui.training.panel import TrainingPanel

    torch.set_num_threads(1)
    win.open_template(presets_dir() / "lenet5-mnist.json")
    drop_layer(win, "Dropout", QPointF(400, 400))  # dropped and forgotten
    doc = win.document
    doc.flush()
    doc.training = {"dataset": "sample", "epochs": 1, "schedule": "none", "lr": 0.05, "threads": 1}
    panel = TrainingPanel(doc)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.dataset() is not None, timeout=180_000)
    try:
        with qtbot.waitSignal(panel.run_finished, timeout=180_000) as done:
            qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        assert isinstance(done.args[0], FinishedEvent), getattr(done.args[0], "message", done.args[0])
        assert "dropout1" not in dict(panel.trainer.model.named_modules())
    finally:
        panel.shutdown()
