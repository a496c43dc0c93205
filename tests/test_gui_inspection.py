"""The inspection views (issue 6, GUI half): autograd graph, gradients, weights and feature maps.

Each view is checked against torch or core computed directly, not against numbers written here."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from netbuilder.core.inspect.autograd import autograd_graph
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.project import load_preset
from netbuilder.core.train.events import GradStatsEvent, HistogramEvent
from netbuilder.gui.editor.document import Document
from netbuilder.gui.inspect.autograd_view import AutogradView
from netbuilder.gui.inspect.gradient_scale import fmt
from netbuilder.gui.inspect.gradient_view import ROLE_VALUE
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor

from tests._graphs import sigmoid_mlp
from tests._helpers_editor import FakeTrainingSource

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
    from netbuilder.core.train.data import load_dataset

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


# --- gradients -----------------------------------------------------------------------------------



@pytest.fixture(scope="module")
def sample() -> Any:
    from netbuilder.core.train.data import load_dataset

    return load_dataset("sample")


def run_trainer(graph: Graph, dataset: Any, steps: int, check: Any = None, **cfg: Any) -> tuple[Any, list[Any]]:
    """Real training steps with statistics every step; ``check(trainer, event)`` sees each
    GradStatsEvent while the model still holds that step's gradients."""
    from netbuilder.core.train.trainer import TrainConfig, Trainer

    config = TrainConfig(dataset="sample", epochs=1, limit_steps=steps, stats_every=1, histogram_every=2,
                         schedule="none", eval_batch_size=1000, **cfg)
    trainer = Trainer(graph, config, dataset)
    events = []
    for ev in trainer:
        events.append(ev)
        if isinstance(ev, GradStatsEvent) and check is not None:
            check(trainer, ev)
    return trainer, events


def test_gradient_numbers_equal_p_grad_norm(qtbot: Any, docs: Any, sample: Any) -> None:
    from netbuilder.gui.inspect.gradient_view import GradientView

    doc = docs(load_preset("lenet5-mnist").graph)
    view = GradientView(doc)
    qtbot.addWidget(view)
    checked = []

    def check(trainer: Any, ev: GradStatsEvent) -> None:
        view.on_event(ev)
        direct = {n: p.grad.norm().item() for n, p in trainer.model.named_parameters()}
        shown = {view.table.item(i, 0).text(): view.table.item(i, 3) for i in range(view.table.rowCount())}
        assert set(shown) == set(direct)
        for name, item in shown.items():
            value = item.data(ROLE_VALUE)
            assert value == pytest.approx(direct[name], rel=1e-5)
            assert item.text() == fmt(value)
            assert float(item.text()) == pytest.approx(direct[name], rel=1e-3)
        checked.append(ev.global_step)

    run_trainer(doc.graph, sample, 3, check)
    assert checked == [1, 2, 3]
    # collapsed: one row per layer, norm = sqrt(weight² + bias²)
    view.collapse_box.setChecked(True)
    rows = {r.name: r for r in view.visible_rows()}
    assert list(rows) == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    last = view.last
    assert last is not None
    g = dict(zip(last.names, last.grad_norms, strict=True))
    assert rows["conv1"].grad == pytest.approx(math.hypot(g["conv1.weight"], g["conv1.bias"]))
    assert view.table.rowCount() == 5
    # the flow chart has one line per layer with one point per statistics step
    assert sorted(view.flow_curves) == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert len(view.flow_curves["fc1"].getData()[0]) == 3


def test_gradient_filter_collapse_sort(qtbot: Any, docs: Any) -> None:
    from netbuilder.gui.inspect.gradient_view import GradientView

    doc = docs(load_preset("lenet5-mnist").graph)
    view = GradientView(doc)
    qtbot.addWidget(view)
    names = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias"]
    layers = [n.split(".")[0] for n in names]
    norms = [0.5, 0.01, 2.0, 0.2, 1e-3, 3.0]
    view.on_event(GradStatsEvent(20, names, layers, norms, [1.0] * 6, [1e-3] * 6))
    assert [r.name for r in view.visible_rows()] == names
    view.filter_edit.setText("conv2")
    assert [r.name for r in view.visible_rows()] == ["conv2.weight", "conv2.bias"]
    assert sorted(view.flow_curves) == ["conv2"]
    view.filter_edit.setText("")
    view.sort_box.setCurrentIndex(view.sort_box.findData("norm"))
    assert [r.grad for r in view.visible_rows()] == sorted(norms, reverse=True)
    view.sort_box.setCurrentIndex(view.sort_box.findData("name"))
    assert [r.name for r in view.visible_rows()] == sorted(names)
    view.collapse_box.setChecked(True)
    assert [r.name for r in view.visible_rows()] == ["conv1", "conv2", "fc1"]
    view.sort_box.setCurrentIndex(view.sort_box.findData("norm_up"))
    assert [r.name for r in view.visible_rows()] == ["conv1", "conv2", "fc1"]  # 0.50, 2.01, 3.00
    view.sort_box.setCurrentIndex(view.sort_box.findData("norm"))
    assert [r.name for r in view.visible_rows()] == ["fc1", "conv2", "conv1"]


def test_histogram_event_is_shown(qtbot: Any, docs: Any) -> None:
    from netbuilder.gui.inspect.gradient_view import GradientView

    doc = docs(load_preset("lenet5-mnist").graph)
    view = GradientView(doc)
    qtbot.addWidget(view)
    view.on_event(HistogramEvent(100, "conv1.weight", [1, 5, 2], [-0.1, 0.0, 0.1, 0.2]))
    items = [it for it in view.hist_plot.getPlotItem().items if type(it).__name__ == "BarGraphItem"]
    assert len(items) == 1
    assert "conv1.weight at step 100" in view.hist_label.text() and "8 values" in view.hist_label.text()


def test_vanishing_warning_for_sigmoid_mlp_not_lenet(qtbot: Any, docs: Any, sample: Any) -> None:
    from netbuilder.gui.inspect.gradient_view import GradientView

    for graph, expect in ((sigmoid_mlp(), True), (load_preset("lenet5-mnist").graph, False)):
        doc = docs(graph)
        view = GradientView(doc)
        qtbot.addWidget(view)
        _, events = run_trainer(graph, sample, 4)
        for ev in events:
            view.on_event(ev)
        texts = [view.warning_list.item(i).text() for i in range(view.warning_list.count())]
        vanishing = [w for w in view.warnings if w.kind == "vanishing"]
        if expect:
            assert any(w.layer == "fc1" for w in vanishing)
            assert any("'fc1'" in t and "Vanishing" in t for t in texts)
            assert "Health (" in view.tabs.tabText(2)
            row = next(i for i in range(view.warning_list.count()) if "'fc1'" in view.warning_list.item(i).text())
            view._on_warning_clicked(view.warning_list.item(row))
            assert doc.selected_ids() == ["fc1"]
        else:
            assert vanishing == [] and view.warnings == []
            assert texts and texts[0].startswith("No problems")


class FakeScene:
    def __init__(self) -> None:
        self.tints: dict[str, QColor | None] = {}

    def set_node_tint(self, node_id: str, color: QColor | None) -> None:
        self.tints[node_id] = color


def test_tint_toggle_colours_the_canvas(qtbot: Any, docs: Any) -> None:
    from netbuilder.gui.inspect.gradient_scale import norm_colour
    from netbuilder.gui.inspect.gradient_view import GradientView

    doc = docs(load_preset("lenet5-mnist").graph)
    view = GradientView(doc)
    qtbot.addWidget(view)
    scene = FakeScene()
    view.set_scene(scene)
    names = ["conv1.weight", "conv1.bias", "fc1.weight"]
    view.on_event(GradStatsEvent(5, names, ["conv1", "conv1", "fc1"], [3e-9, 4e-9, 5e3], [1.0] * 3, [0.0] * 3))
    assert scene.tints == {}  # off by default
    view.tint_box.setChecked(True)
    assert set(scene.tints) == {"conv1", "fc1"}
    conv1, fc1 = scene.tints["conv1"], scene.tints["fc1"]
    assert conv1 is not None and fc1 is not None
    assert conv1 == norm_colour(5e-9) and fc1 == norm_colour(5e3)
    assert conv1.blue() > conv1.red() and fc1.red() > fc1.blue()  # vanishing blue, exploding red
    view.tint_box.setChecked(False)
    assert scene.tints == {"conv1": None, "fc1": None}


def test_tint_on_the_real_canvas_scene_with_legend(qtbot: Any, docs: Any) -> None:
    canvas = pytest.importorskip("netbuilder.gui.editor.canvas.view")
    from netbuilder.gui.editor.canvas.scene import GraphScene
    from netbuilder.gui.inspect.gradient_view import GradientView

    doc = docs(load_preset("lenet5-mnist").graph)
    scene = GraphScene(doc)
    cview = canvas.GraphView(scene)
    qtbot.addWidget(cview)
    view = GradientView(doc)
    qtbot.addWidget(view)
    view.set_scene(scene)
    view.set_canvas_view(cview)
    view.on_event(GradStatsEvent(5, ["fc1.weight"], ["fc1"], [0.3], [1.0], [0.0]))
    view.tint_box.setChecked(True)
    assert scene.nodes["fc1"].tint is not None and scene.nodes["conv1"].tint is None
    assert cview.legend() is view.legend
    view.tint_box.setChecked(False)
    assert scene.nodes["fc1"].tint is None and cview.legend() is None
    scene.clear()


# --- weights and feature maps --------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(sample: Any, tmp_path_factory: Any) -> Any:
    """LeNet-5 after a few real steps on the bundled MNIST sample, and its checkpoint file."""
    trainer, _ = run_trainer(load_preset("lenet5-mnist").graph, sample, 5)
    path = tmp_path_factory.mktemp("ckpt") / "lenet.pt"
    trainer.save_checkpoint(str(path))
    return trainer, path


def test_kernel_grid_of_lenet_conv1(qtbot: Any, docs: Any, trained: Any) -> None:
    from netbuilder.gui.inspect.weights_view import WeightsView

    trainer, _ = trained
    doc = docs(load_preset("lenet5-mnist").graph)
    view = WeightsView(doc)
    qtbot.addWidget(view)
    view.set_model(trainer.model, trainer.dataset, trainer.graph)
    assert view.error is None
    conv1 = view.kernel_sections[0]
    assert conv1.grid.node == "conv1" and conv1.tile_count == 6
    assert conv1.grid.shape[2:] == (5, 5)
    assert "6 tiles of 5×5" in conv1.caption
    w = trainer.model.conv1.weight.detach()
    assert conv1.grid.raw_min == pytest.approx(float(w.min())) and conv1.grid.raw_max == pytest.approx(float(w.max()))
    # the painted image: 2×3 tiles of 5×5 one pixel apart, each value `scale` screen pixels
    img = conv1.mosaic.image
    assert (img.width(), img.height()) == (3 * 5 + 2, 2 * 5 + 1)
    assert [s.grid.node for s in view.kernel_sections] == ["conv1", "conv2"]
    assert view.kernel_sections[1].tile_count == 16 * 6


def test_feature_maps_list_every_conv_and_pool_with_shapes(qtbot: Any, docs: Any, trained: Any) -> None:
    from netbuilder.core.model.inference import infer
    from netbuilder.core.model.layers import REGISTRY
    from netbuilder.gui.inspect.weights_view import WeightsView

    trainer, _ = trained
    doc = docs(load_preset("lenet5-mnist").graph)
    view = WeightsView(doc)
    qtbot.addWidget(view)
    view.set_model(trainer.model, trainer.dataset, trainer.graph)
    result = infer(doc.graph)
    expected = [(nid, tuple(result.nodes[nid].output_shape or ())) for nid in result.order
                if REGISTRY[result.nodes[nid].type].category in ("Convolution", "Pooling")]
    got = [(s.fmap.node, s.fmap.shape) for s in view.feature_sections]
    assert got == expected
    assert [n for n, _ in got] == ["conv1", "pool1", "conv2", "pool2"]
    assert "output 6×28×28" in view.feature_sections[0].caption
    assert "output 16×5×5" in view.feature_sections[-1].caption
    # the maps are the model's real activations for that image
    x, label, _ = view._image()
    assert label == int(trainer.dataset.test_y[0])
    with torch.no_grad():
        trainer.model.eval()
        c1 = trainer.model.conv1(x)
        trainer.model.train()
    assert view.feature_sections[0].fmap.raw == pytest.approx(c1[0].numpy(), abs=1e-5)
    view.image_spin.setValue(3)
    assert view._image()[1] == int(trainer.dataset.test_y[3])
    view.all_layers.setChecked(True)
    assert len(view.feature_sections) == len(result.order) - 1  # every node but the Input
    assert "label:" in view.image_label.text() and "predicted:" in view.image_label.text()


def test_weights_from_checkpoint_and_errors(qtbot: Any, docs: Any, trained: Any, tmp_path: Any) -> None:
    from netbuilder.gui.inspect.weights_view import WeightsView

    trainer, path = trained
    doc = docs(Graph())
    view = WeightsView(doc)
    qtbot.addWidget(view)
    assert view.load_checkpoint(path)
    assert "checkpoint lenet.pt" in view.source_label.text() and "epoch 1" in view.source_label.text()
    assert view.kernel_sections[0].tile_count == 6
    w = trainer.model.conv1.weight.detach()
    assert view.kernel_sections[0].grid.raw_max == pytest.approx(float(w.max()))
    assert [s.fmap.node for s in view.feature_sections] == ["conv1", "pool1", "conv2", "pool2"]
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert not view.load_checkpoint(bad)
    assert view.error and "bad.pt" in view.error and view.message.isVisibleTo(view)


def test_install_adds_docks_and_wires_training_panel(qtbot: Any, docs: Any, trained: Any) -> None:
    from netbuilder.core.train.events import FinishedEvent
    from netbuilder.gui.inspect import autograd_view, gradient_view, weights_view
    from netbuilder.gui.window import ModelContext

    class Window:
        def __init__(self, doc: Document) -> None:
            self.document = doc
            self.panels: list[tuple[str, str]] = []
            self.scene = FakeScene()
            self.view = None

        def add_panel(self, widget: Any, title: str, area: Any, object_name: str) -> None:
            self.panels.append((title, object_name))
            qtbot.addWidget(widget)

    trainer, _ = trained
    doc = docs(load_preset("lenet5-mnist").graph)
    win = Window(doc)
    source = FakeTrainingSource()
    source.live_model = trainer.model  # type: ignore[assignment]
    source.live_dataset = trainer.dataset  # type: ignore[assignment]
    av = autograd_view.install(win, source)  # type: ignore[arg-type]
    gv = gradient_view.install(win, source)  # type: ignore[arg-type]
    wv = weights_view.install(win, source)  # type: ignore[arg-type]
    assert [o for _, o in win.panels] == ["AutogradDock", "GradientsDock", "WeightsDock"]
    source.event_received.emit(GradStatsEvent(7, ["conv1.weight"], ["conv1"], [0.25], [1.0], [1e-3]))
    assert gv.last is not None and gv.last.global_step == 7
    gv.tint_box.setChecked(True)
    assert "conv1" in win.scene.tints
    # what the session emits when a run finishes: the event, then the model
    source.event_received.emit(FinishedEvent({}, 0.5, 1.0, 1.0, 1.0))
    source.model_available.emit(ModelContext(trainer.model, trainer.dataset, trainer.graph.copy(),
                                             trainer.input_shape, "none", None, "the finished run"))
    assert wv.model is trainer.model and wv.kernel_sections
    assert av.input_box.currentData() == "batch" and av.graph is not None
    source.model_cleared.emit()  # a new project: every view forgets the model
    assert wv.model is None and av.input_box.findData("batch") < 0 and gv.last is None


# --- issue 13: Fit, the code pane, the Health list --------------------------------------------------

def _graph_inside_viewport(view: Any) -> bool:
    """Whether the whole drawn graph, mapped to the viewport, lies inside it."""
    g = view.view
    drawn = g.mapFromScene(g.scene().itemsBoundingRect()).boundingRect()
    return bool(g.viewport().rect().contains(drawn))


@pytest.mark.parametrize("size", [(1300, 420), (700, 260), (420, 500)])
def test_autograd_fit_shows_the_whole_graph_at_any_size(qtbot: Any, docs: Any, size: tuple[int, int]) -> None:
    doc = docs(load_preset("resnet-tiny").graph)
    view = AutogradView(doc)
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    assert view.refresh(), view.error
    # the user zooms in first, then asks for the whole graph
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    vp = view.view.viewport()
    centre = QPointF(vp.rect().center())
    for _ in range(3):
        wheel = QWheelEvent(centre, vp.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(vp, wheel)
    assert not _graph_inside_viewport(view)
    qtbot.mouseClick(view.fit_button, Qt.MouseButton.LeftButton)
    assert _graph_inside_viewport(view)
    assert view.zoom_label.text() == f"{view.view.zoom() * 100:.0f}%"
    # the dock is resized afterwards: the graph stays fitted
    view.resize(size[0] // 2, size[1] // 2 + 80)
    qtbot.wait(20)
    assert _graph_inside_viewport(view)
    view.resize(size[0] + 300, size[1] + 100)
    qtbot.wait(20)
    assert _graph_inside_viewport(view)


def test_autograd_code_pane_lines_are_all_readable(qtbot: Any, docs: Any) -> None:
    doc = docs(load_preset("lenet5-mnist").graph)
    view = AutogradView(doc)
    qtbot.addWidget(view)
    view.resize(900, 300)
    view.show()
    qtbot.waitExposed(view)
    view.refresh()
    chain = view.chain
    width = chain.viewport().width()
    longest = max(chain.toPlainText().splitlines(), key=len)
    assert chain.fontMetrics().horizontalAdvance(longest) > width  # the pane is narrower than the code
    # the longest line is wrapped to the pane: nothing is cut off and nothing needs a horizontal scroll
    from PySide6.QtGui import QTextCursor

    block = chain.document().findBlockByNumber(chain.toPlainText().splitlines().index(longest))
    chain.setTextCursor(QTextCursor(block))
    chain.ensureCursorVisible()
    qtbot.wait(10)
    layout = block.layout()
    assert layout.lineCount() > 1
    lines = [layout.lineAt(i) for i in range(layout.lineCount())]
    assert "".join(block.text()[ln.textStart():ln.textStart() + ln.textLength()] for ln in lines) == longest
    assert all(ln.naturalTextWidth() <= width + 1 for ln in lines)
    assert chain.horizontalScrollBar().maximum() == 0


def _health_rows(gv: Any) -> list[tuple[str, bool]]:
    """(text, visible) of every row in the Health list as drawn now."""
    lst = gv.warning_list
    rows = []
    for i in range(lst.count()):
        rect = lst.visualItemRect(lst.item(i))
        rows.append((lst.item(i).text(), not lst.item(i).isHidden() and lst.viewport().rect().intersects(rect)))
    return rows


def test_health_placeholder_shows_in_a_fresh_view_and_after_a_new_project(qtbot: Any, docs: Any) -> None:
    from netbuilder.gui.inspect import gradient_view

    class Window:
        def __init__(self, doc: Document) -> None:
            self.document = doc
            self.scene = FakeScene()
            self.view = None

        def add_panel(self, widget: Any, *_: Any) -> None:
            qtbot.addWidget(widget)

    source = FakeTrainingSource()
    gv = gradient_view.install(Window(docs(load_preset("lenet5-mnist").graph)), source)  # type: ignore[arg-type]
    gv.resize(1000, 400)
    gv.show()
    qtbot.waitExposed(gv)
    qtbot.mouseClick(gv.tabs.tabBar(), Qt.MouseButton.LeftButton, pos=gv.tabs.tabBar().tabRect(2).center())
    assert gv.tabs.currentIndex() == 2
    rows = _health_rows(gv)
    assert len(rows) == 1 and rows[0][0].startswith("No problems found so far") and rows[0][1]
    source.model_cleared.emit()  # what a new project, a template or a new run sends
    qtbot.wait(10)
    rows = _health_rows(gv)
    assert len(rows) == 1 and rows[0][0].startswith("No problems found so far") and rows[0][1]


def test_dead_relu_check_results_appear_in_the_health_list(qtbot: Any, docs: Any, trained: Any) -> None:
    from netbuilder.core.inspect.health import dead_relu_report
    from netbuilder.gui.inspect.gradient_view import GradientView

    trainer, _ = trained
    doc = docs(load_preset("lenet5-mnist").graph)
    gv = GradientView(doc)
    qtbot.addWidget(gv)
    gv.resize(1000, 400)
    gv.show()
    qtbot.waitExposed(gv)
    gv.set_model(trainer.model, trainer.dataset)
    qtbot.mouseClick(gv.dead_button, Qt.MouseButton.LeftButton)
    assert gv.tabs.currentIndex() == 2  # the Health tab, right above the button
    texts = [t for t, _ in _health_rows(gv)]
    from netbuilder.core.train.data import prepare_images

    x = prepare_images(trainer.dataset.test_x[:256], trainer.dataset, (1, 28, 28), "none", "cpu")
    report = dead_relu_report(trainer.model, x, graph=doc.graph)
    assert report.stats
    assert any(t.startswith(f"Dead-ReLU check on 256 test images: {len(report.stats)} ReLUs") for t in texts)
    for s in report.stats:
        row = next(t for t in texts if f" {s.node} (" in t)
        assert f"{s.zero_fraction:.0%} of outputs zero" in row
    # a ReLU row selects its layer, as a warning does
    lst = gv.warning_list
    i = next(i for i in range(lst.count()) if f" {report.stats[0].node} (" in lst.item(i).text())
    lst.scrollToItem(lst.item(i))
    qtbot.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=lst.visualItemRect(lst.item(i)).center())
    assert doc.selected_ids() == [report.stats[0].node]
    # the rows take the colours of the theme in use, also after a switch
    from netbuilder.gui import theme

    try:
        theme.apply(True)
        summary = next(lst.item(i) for i in range(lst.count()) if lst.item(i).text().startswith("Dead-ReLU"))
        assert summary.foreground().color().name() == theme.DARK.text
    finally:
        theme.apply(False)
