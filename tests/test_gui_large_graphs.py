"""Large graphs on the canvas: a layered, wrapped layout of a ~200-node network of repeated blocks,
groups read from module-path ids, and group boxes that collapse to one card and expand again."""

# ruff: noqa: F811  (pytest fixtures imported from _helpers_editor are shadowed by parameters)
from __future__ import annotations

import itertools

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from _helpers_editor import cfg_dir, make_window, win  # noqa: F401
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.layout import apply_layout, derived_group, layer_ranks, node_groups
from netbuilder.core.model.project import save_project
from netbuilder.gui.editor.canvas.node_item import MIN_HEIGHT, WIDTH
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

BLOCKS = 28  # 7 nodes each: 200 nodes with the stem and the head


def blocks_graph() -> Graph:
    """Stem, then residual blocks ``stage{s}_{i}_*`` (conv, bn, relu, conv, bn, add, relu), then a
    head: ids named like an import of a ResNet, so each block is a group."""
    g = Graph("blocks")
    g.add_node("Input", "input", {"shape": [8, 16, 16]})
    g.add_node("Conv2d", "stem", {"out_channels": 8, "kernel_size": 3, "padding": 1})
    g.connect("input", "stem")
    prev = "stem"
    for b in range(BLOCKS):
        p = f"stage{b // 7 + 1}_{b % 7}_"
        chain = [("Conv2d", "conv1"), ("BatchNorm2d", "bn1"), ("ReLU", "relu1"), ("Conv2d", "conv2"),
                 ("BatchNorm2d", "bn2"), ("Add", "add"), ("ReLU", "relu2")]
        last = prev
        for type_name, name in chain:
            params = {"out_channels": 8, "kernel_size": 3, "padding": 1} if type_name == "Conv2d" else {}
            g.add_node(type_name, p + name, params)
            g.connect(last, p + name)
            last = p + name
        g.connect(prev, p + "add", 1)  # the skip connection
        prev = last
    g.add_node("Flatten", "flatten")
    g.connect(prev, "flatten")
    g.add_node("Linear", "fc", {"out_features": 10})
    g.connect("flatten", "fc")
    return g


def test_groups_come_from_module_paths():
    assert derived_group("m_layer1_0_conv1") == "m.layer1.0"
    assert derived_group("m_layer1_0_downsample_0") == "m.layer1.0"
    assert derived_group("features_denseblock1_denselayer3_conv1") == "features.denseblock1.denselayer3"
    assert derived_group("features_3_conv_0_0") == "features.3"
    assert derived_group("conv1") is None and derived_group("m_fc") is None
    g = blocks_graph()
    groups = node_groups(g)
    assert len(set(groups.values())) == BLOCKS
    assert groups["stage1_0_add"] == "stage1.0" and "stem" not in groups and "fc" not in groups


def test_layout_is_layered_without_overlaps():
    g = blocks_graph()
    assert len(g) == 200
    apply_layout(g)
    ranks = layer_ranks(g)
    pos = {n.id: n.position for n in g.nodes}
    # no two cards overlap
    for a, b in itertools.combinations(pos.values(), 2):
        assert abs(a[0] - b[0]) >= WIDTH or abs(a[1] - b[1]) >= MIN_HEIGHT + 8, (a, b)
    # every edge goes forward: to a later layer, and on the canvas to the right or to a later row
    for e in g.edges:
        assert ranks[e.dst][0] > ranks[e.src][0]
        (sx, sy), (dx, dy) = pos[e.src], pos[e.dst]
        assert dx > sx or dy > sy + MIN_HEIGHT, e
    # wrapped into rows: not one long strip
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    assert (max(xs) - min(xs)) < 4 * (max(ys) - min(ys))
    # rows break between blocks: no group spans two rows
    groups = node_groups(g)
    for name in set(groups.values()):
        assert len({pos[n][1] for n, gr in groups.items() if gr == name}) <= 2  # main line and skip lane


@pytest.fixture
def big(win, tmp_path):
    g = blocks_graph()
    apply_layout(g)
    path = tmp_path / "blocks.json"
    save_project(path, g)
    assert win.open_path(path)
    QApplication.processEvents()
    return win


def test_collapse_and_expand_a_group(big):
    scene = big.view.graph_scene
    assert len(scene.groups) == BLOCKS
    box = scene.groups["stage1.3"]
    members = {n for n, g in scene.group_of.items() if g == "stage1.3"}
    assert len(members) == 7
    edges_before = {e: (item.isVisible(), item.path().elementAt(0)) for e, item in scene.edges.items()}
    scene.set_collapsed("stage1.3", True)
    assert box.collapsed and box.isVisible()
    assert all(not scene.nodes[n].isVisible() for n in members)
    boundary = [it for e, it in scene.edges.items() if (e.src in members) != (e.dst in members)]
    inner = [it for e, it in scene.edges.items() if e.src in members and e.dst in members]
    assert len(boundary) == 4  # into conv1 and the add, out of relu2 to the next block's conv1 and add
    assert all(it.isVisible() and box in (it.src_box, it.dst_box) for it in boundary)
    assert all(it.label.text == "N×8×16×16" for it in boundary)  # shapes on the boundary
    assert all(not it.isVisible() for it in inner)
    # the boundary edges end on the card
    into = [it for it in boundary if it.dst_box is box]
    assert all(abs(it.path().pointAtPercent(1).x() - box.in_anchor().x()) < 1 for it in into)
    # not an edit: nothing to undo, the graph is unchanged
    assert not big.document.undo_stack.canUndo()
    scene.set_collapsed("stage1.3", False)
    assert not box.collapsed
    assert all(scene.nodes[n].isVisible() for n in members)
    after = {e: (item.isVisible(), item.path().elementAt(0)) for e, item in scene.edges.items()}
    assert {e: v for e, (v, _) in after.items()} == {e: v for e, (v, _) in edges_before.items()}
    assert all(it.src_box is None and it.dst_box is None for it in scene.edges.values())


def test_click_on_group_header_toggles(big, qtbot):
    view, scene = big.view, big.view.graph_scene
    box = scene.groups["stage2.1"]
    view.resetTransform()
    view.centerOn(box.header_rect().center())
    QApplication.processEvents()

    def click_header() -> None:
        r = box.header_rect()
        pt = view.mapFromScene(QPointF(r.left() + 40, r.center().y()))
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pt)
        QApplication.processEvents()

    click_header()
    assert box.collapsed
    assert not scene.nodes["stage2_1_conv1"].isVisible()
    click_header()
    assert not box.collapsed
    assert scene.nodes["stage2_1_conv1"].isVisible()
    # a click inside an open box, on a node, selects the node, not the group
    node = scene.nodes["stage2_1_bn1"]
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.mapFromScene(node.pos() + QPointF(WIDTH / 2, 40)))
    assert big.document.selected_ids() == ["stage2_1_bn1"] and not box.collapsed


def test_selecting_a_hidden_node_expands_its_group(big):
    scene = big.view.graph_scene
    scene.set_collapsed("stage3.2", True)
    big.document.select_nodes(["stage3_2_conv2"])
    assert not scene.groups["stage3.2"].collapsed
    assert scene.nodes["stage3_2_conv2"].isVisible()


def test_view_menu_collapses_and_expands_every_group(qtbot) -> None:
    from netbuilder.core.model.project import load_preset
    from netbuilder.gui.editor.document import Document
    from netbuilder.gui.editor.main_window import MainWindow

    win = MainWindow(Document(load_preset("mobilenet-block-mnist").graph))
    qtbot.addWidget(win)
    acts = {a.text().replace("&", ""): a for a in win.menu("View").actions()}
    assert win.scene.groups, "the preset's blocks form groups"
    acts["Collapse All Groups"].trigger()
    assert win.scene.collapsed_groups == set(win.scene.groups)
    acts["Expand All Groups"].trigger()
    assert not win.scene.collapsed_groups
    win.shutdown()
