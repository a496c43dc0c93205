"""The inspection views (issue 6, GUI half): autograd graph, gradients, weights and feature maps.

Each view is checked against torch or core computed directly, not against numbers written here."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from PySide6.QtCore import QPoint, Qt

from core.autograd import autograd_graph
from core.compiler import build_model
from core.graph import Graph
from core.project import load_preset
from gui.autograd_view import AutogradView
from gui.document import Document

torch.set_num_threads(1)


@pytest.fixture
def docs() -> Any:
    """Documents created by a test; their undo stacks are cleared at teardown (destructor order)."""
    made: list[Document] = []

    def make(graph: Graph) -> Document:
        d = Document(graph)
        made.append(d)
        return d

    yield make
    for d in made:
        d.undo_stack.clear()


def click(view: Any, item: Any) -> None:
    """A real left click on ``item`` of a QGraphicsView."""
    from PySide6.QtTest import QTest

    view.ensureVisible(item)
    pt: QPoint = view.mapFromScene(item.sceneBoundingRect().center())
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pt)


# --- autograd graph ------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", ["lenet-tutorial", "resnet-tiny"])
def test_autograd_view_draws_cores_dag(qtbot: Any, docs: Any, preset: str) -> None:
    doc = docs(load_preset(preset).graph)
    view = AutogradView(doc)
    qtbot.addWidget(view)
    assert view.refresh(), view.error
    expected = autograd_graph(doc.graph, loss="mse")
    items = view.view.items_by_id
    assert len(items) == len(expected.nodes)
    assert sorted(it.node.name for it in items.values()) == sorted(n.name for n in expected.nodes)
    assert len(view.view.edge_items) == len(expected.edges)
    params = {it.caption for it in items.values() if it.node.name == "AccumulateGrad"}
    assert params == {f"{n}.{k} {list(p.shape)}" for n, m in build_model(doc.graph)[0].named_children()
                      for k, p in m.named_parameters(recurse=False)}
    text = view.chain.toPlainText()
    assert "print(loss.grad_fn)" in text and ".next_functions[0][0]" in text
    assert expected.nodes[0].name in text


def test_autograd_view_tutorial_labels(qtbot: Any, docs: Any) -> None:
    doc = docs(load_preset("lenet-tutorial").graph)
    view = AutogradView(doc)
    qtbot.addWidget(view)
    view.refresh()
    captions = {it.caption for it in view.view.items_by_id.values()}
    assert "conv1.weight [6, 1, 5, 5]" in captions
    names = {it.node.name for it in view.view.items_by_id.values()}
    assert {"MseLossBackward0", "AddmmBackward0", "ReluBackward0", "MaxPool2DWithIndicesBackward0",
            "ConvolutionBackward0", "AccumulateGrad"} <= names


def test_click_backward_node_selects_canvas_node_and_reverse(qtbot: Any, docs: Any) -> None:
    doc = docs(load_preset("lenet-tutorial").graph)
    view = AutogradView(doc)
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    qtbot.waitExposed(view)
    view.refresh()
    conv1 = [it for it in view.view.items_by_id.values()
             if it.node.name == "ConvolutionBackward0" and it.node.layer == "conv1"]
    assert len(conv1) == 1
    click(view.view, conv1[0])
    assert doc.selected_ids() == ["conv1"]
    # its parameters' AccumulateGrad are highlighted with it, nothing of other layers
    lit = {view.graph.nodes[i].layer for i in view.highlighted_ids()}
    assert lit == {"conv1"}
    assert len(view.highlighted_ids()) == 3  # ConvolutionBackward0 + weight + bias

    # the reverse: selecting a canvas node highlights its backward nodes
    doc.select_nodes(["fc2"])
    got = sorted(view.graph.nodes[i].name for i in view.highlighted_ids())
    assert got == sorted(n.name for n in view.graph.nodes if n.layer == "fc2")
    assert "AddmmBackward0" in got
    doc.select_nodes([])
    assert view.highlighted_ids() == []


def test_autograd_view_shows_errors_instead_of_crashing(qtbot: Any, docs: Any) -> None:
    g = load_preset("lenet-tutorial").graph
    g.remove_node("flatten")  # fc1 now has no input
    doc = docs(g)
    view = AutogradView(doc)
    qtbot.addWidget(view)
    assert not view.refresh()
    assert view.error and "not valid" in view.error
    assert "Cannot build the autograd graph" in view.message.text()
    assert view.view.items_by_id == {}


def test_autograd_view_real_batch_with_trained_model(qtbot: Any, docs: Any) -> None:
    from core.data import load_dataset

    ds = load_dataset("sample")
    doc = docs(load_preset("lenet5-mnist").graph)
    view = AutogradView(doc)
    qtbot.addWidget(view)
    model, _ = build_model(doc.graph)
    view.set_model(model, ds)
    assert view.input_box.currentData() == "batch"
    assert view.graph is not None and view.graph.loss_name == "cross-entropy"
    assert "real test images" in view.info.text()
    assert view.graph.nodes[0].name == "NllLossBackward0"
