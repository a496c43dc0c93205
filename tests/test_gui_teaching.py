"""The three teaching views: the Explain panel, the convolution walk-through and the training-step
walk-through. Numbers are checked against torch computed independently in the test."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

import torch
from netbuilder.core.inspect.autograd import record_outputs
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.inference import infer
from netbuilder.core.model.project import load_preset
from netbuilder.core.model.shapes import fmt_shape
from netbuilder.gui.editor.document import Document
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu

from tests._helpers_editor import FakeTrainingSource

torch.set_num_threads(1)


@pytest.fixture
def make_doc():
    docs: list[Document] = []

    def make(preset: str = "lenet5-mnist") -> Document:
        d = Document(load_preset(preset).graph)
        docs.append(d)
        return d

    yield make
    for d in docs:
        d.undo_stack.clear()


def _truth(graph):
    """Per node: output shape (batch excluded) and parameter count, straight from torch."""
    torch.manual_seed(0)
    model, code = build_model(graph)
    res = infer(graph)
    x = torch.randn(2, *res.nodes[res.input_id].output_shape)
    with torch.no_grad():
        outs = record_outputs(graph, model, x, res, code)
    counts = {nid: 0 for nid in res.order}
    owner = {attr: nid for nid, attr in code.attr_names.items()}
    for name, p in model.named_parameters():
        counts[owner[name.rsplit(".", 1)[0]]] += p.numel()
    return {nid: (tuple(outs[nid].shape[1:]), counts[nid]) for nid in res.order}


# --- Explain panel ------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", ["lenet5-mnist", "lenet-tutorial"])
def test_explain_sizes_and_parameter_counts_match_torch(qtbot, make_doc, preset):
    from netbuilder.gui.learn.explain_panel import ExplainPanel

    doc = make_doc(preset)
    panel = ExplainPanel(doc)
    qtbot.addWidget(panel)
    truth = _truth(doc.graph)
    assert set(panel.cards) == set(truth)
    for nid, (shape, count) in truth.items():
        text = panel.entry_text(nid)
        assert text.startswith(f"{nid} — "), text
        assert fmt_shape(shape) in text, (nid, text)
        if doc.graph.node(nid).type == "Input":
            continue
        if count:
            assert f"{count:,} parameters" in text, (nid, text)
        else:
            assert "no parameters" in text, (nid, text)
    assert f"{sum(c for _, c in truth.values()):,} parameters" in panel.summary.text()
    whole = panel.plain_text()
    assert "input → conv2d → relu → maxpool2d → conv2d" in whole
    assert whole.splitlines()[1].endswith("linear → loss")


def test_explain_shows_the_arithmetic_with_actual_numbers(qtbot, make_doc):
    from netbuilder.gui.learn.explain_panel import ExplainPanel

    tut = ExplainPanel(make_doc("lenet-tutorial"))
    qtbot.addWidget(tut)
    assert "Output N×6×28×28: (32 − 5)/1 + 1 = 28" in tut.entry_text("conv1")
    assert "Parameters: 6 × (1 × 5 × 5) + 6 = 156" in tut.entry_text("conv1")
    assert "(28 − 2)/2 + 1 = 14" in tut.entry_text("pool1")
    assert "16 × 5 × 5 = 400" in tut.entry_text("flatten")
    le = ExplainPanel(make_doc("lenet5-mnist"))
    qtbot.addWidget(le)
    assert "(28 + 2·2 − 5)/1 + 1 = 28" in le.entry_text("conv1")


def test_explain_updates_after_an_edit_and_notes_a_linear_that_no_longer_fits(qtbot, make_doc):
    from netbuilder.gui.learn.explain_panel import ExplainPanel

    doc = make_doc("lenet-tutorial")
    panel = ExplainPanel(doc)
    qtbot.addWidget(panel)
    panel.show()
    assert "6 output channels" in panel.cards["conv1"].body.text()
    doc.graph.set_params("conv1", {"out_channels": 10})
    qtbot.waitUntil(lambda: "10 output channels" in panel.cards["conv1"].body.text())
    assert "260 parameters" in panel.entry_text("conv1")  # 10·(1·5·5) + 10
    assert "10 input channels" in panel.entry_text("conv2")
    assert "4,016 parameters" in panel.entry_text("conv2")  # 16·(10·5·5) + 16

    doc.graph.set_params("fc1", {"in_features": 400})  # by hand, equal to what inference gives
    qtbot.waitUntil(lambda: bool(panel.cards["fc1"].entry.notes))
    assert "would be inferred" in panel.entry_text("fc1")
    doc.graph.set_params("conv2", {"out_channels": 8})  # now 8·5·5 = 200 features reach fc1
    qtbot.waitUntil(lambda: "no longer fits" in panel.entry_text("fc1"))
    assert "200" in panel.entry_text("fc1")


def test_clicking_an_entry_selects_the_node_and_selection_highlights_the_entry(qtbot, make_doc):
    from netbuilder.gui.learn.explain_panel import ExplainPanel

    doc = make_doc()
    panel = ExplainPanel(doc)
    qtbot.addWidget(panel)
    panel.resize(420, 300)
    panel.show()
    QTest.mouseClick(panel.cards["conv2"], Qt.MouseButton.LeftButton)
    assert doc.selected_ids() == ["conv2"]
    assert panel.highlighted_ids() == ["conv2"]
    QTest.mouseClick(panel.cards["fc1"], Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier)
    assert doc.selected_ids() == ["conv2", "fc1"]

    doc.select_nodes(["fc3"])  # selected elsewhere (the canvas): the panel follows and scrolls there
    assert panel.highlighted_ids() == ["fc3"]
    bar = panel.scroll_area.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.value() > 0)
    card = panel.cards["fc3"]
    top = card.mapTo(panel.scroll_area.viewport(), card.rect().topLeft()).y()
    assert 0 <= top < panel.scroll_area.viewport().height()

    panel._on_pipeline_link("node:pool1")
    assert doc.selected_ids() == ["pool1"]


# --- Convolution walk-through -------------------------------------------------------------------

def _torch_conv(walk, stride, padding):
    import torch.nn.functional as F

    return F.conv2d(walk.input[None], walk.weight, walk.bias if walk.has_bias else None, stride, padding)[0]


def test_conv_walk_classic_example_played_to_the_end_equals_torch(qtbot):
    from netbuilder.gui.learn.conv_walk_widget import ConvWalkView

    view = ConvWalkView()
    qtbot.addWidget(view)
    view.show()
    assert {k: sb.value() for k, sb in view.spins.items()} == {
        "C": 3, "H": 5, "W": 5, "k": 3, "stride": 1, "padding": 0, "M": 4}
    assert view.walk.out_shape == (4, 3, 3) and len(view.walk) == 36
    assert view.walk.weight.shape == (4, 3, 3, 3)
    # small integers, so a learner can check by hand
    assert torch.equal(view.walk.input, view.walk.input.round()) and view.walk.weight.abs().max() <= 1
    view.speed.setValue(view.speed.maximum())
    QTest.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
    assert view.playing
    qtbot.waitUntil(lambda: not view.playing, timeout=20_000)
    assert view.index == 35
    assert torch.equal(view.output(), _torch_conv(view.walk, 1, 0))
    assert not view.step_button.isEnabled() and view.play_button.isEnabled()


def test_conv_walk_padded_strided_case_equals_torch(qtbot):
    from netbuilder.gui.learn.conv_walk_widget import ConvWalkView

    view = ConvWalkView()
    qtbot.addWidget(view)
    for key, v in (("C", 2), ("H", 7), ("W", 6), ("k", 3), ("stride", 2), ("padding", 1), ("M", 3)):
        view.spins[key].setValue(v)
    view.values.setCurrentIndex(view.values.findData("random"))
    w = view.walk
    assert w.out_shape == (3, 4, 3)  # (7 + 2 − 3)/2 + 1 = 4, ⌊(6 + 2 − 3)/2⌋ + 1 = 3
    assert bool(w.border[0].all()) and not bool(w.border[1, 1])  # the padding ring
    QTest.mouseClick(view.finish_button, Qt.MouseButton.LeftButton)
    assert torch.allclose(view.output(), _torch_conv(w, 2, 1), atol=1e-12)
    # one position's shown arithmetic: products of every slice with its channel, sums, bias
    s = view.walk.step_at(5)
    view.go_to(5)
    assert view.current_step().index == 5
    assert torch.allclose(s.products, s.patch * w.weight[s.m])
    assert s.value == pytest.approx(float(s.products.sum()) + float(w.bias[s.m]))
    assert f"output[{s.m + 1}][{s.i + 1}, {s.j + 1}]" in view.arith.text()
    assert torch.isnan(view.output()[s.m, s.i, s.j + 1:]).all()  # later cells emptied again


def test_conv_walk_step_play_pause_back_and_click_controls(qtbot):
    from netbuilder.gui.learn.conv_walk_widget import ConvWalkView

    view = ConvWalkView()
    qtbot.addWidget(view)
    view.resize(1300, 800)
    view.show()
    assert view.index == -1 and not view.pause_button.isEnabled()
    for _ in range(3):
        QTest.mouseClick(view.step_button, Qt.MouseButton.LeftButton)
    assert view.index == 2
    assert int((~torch.isnan(view.output())).sum()) == 3
    assert "Step 3 of 36" in view.position.text()
    QTest.mouseClick(view.back_button, Qt.MouseButton.LeftButton)
    assert view.index == 1 and torch.isnan(view.output()[0, 0, 2])

    view.speed.setValue(view.SPEEDS.index(30))
    QTest.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.index >= 4, timeout=10_000)
    QTest.mouseClick(view.pause_button, Qt.MouseButton.LeftButton)
    assert not view.playing
    stopped = view.index
    qtbot.wait(200)
    assert view.index == stopped

    # clicking output cell (filter 3, row 2, column 1) shows its computation
    r = view.canvas.output_cell_rect(2, 1, 0)
    QTest.mouseClick(view.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, r.center().toPoint())
    assert view.index == 2 * 9 + 1 * 3 + 0
    QTest.mouseClick(view.restart_button, Qt.MouseButton.LeftButton)
    assert view.index == -1 and torch.isnan(view.output()).all()


def test_conv_walk_bad_sizes_say_why(qtbot):
    from netbuilder.gui.learn.conv_walk_widget import ConvWalkView

    view = ConvWalkView()
    qtbot.addWidget(view)
    view.spins["k"].setValue(7)
    assert view.walk is None and not view.error.isHidden()
    assert "does not fit" in view.error.text()
    assert not view.step_button.isEnabled()
    view.spins["padding"].setValue(1)
    assert view.walk is not None and view.walk.out_shape == (4, 1, 1)


def test_conv_walk_from_layer_sizes_and_real_weights_on_a_real_image(qtbot, make_doc):
    from netbuilder.core.learn.conv_walk import ConvWalkError
    from netbuilder.core.model.layers import get_spec
    from netbuilder.core.train.data import load_dataset, prepare_images
    from netbuilder.gui.learn.conv_walk_widget import ConvWalkView, is_convolution

    assert is_convolution(get_spec("Conv2d"))
    assert not any(is_convolution(get_spec(t)) for t in ("Linear", "MaxPool2d", "ReLU", "Input", "BatchNorm2d"))
    doc = make_doc("lenet5-mnist")
    sizes = ConvWalkView.from_layer(doc, "conv2")
    qtbot.addWidget(sizes)
    assert {k: sb.value() for k, sb in sizes.spins.items()} == {
        "C": 6, "H": 14, "W": 14, "k": 5, "stride": 1, "padding": 0, "M": 16}
    assert sizes.walk.out_shape == (16, 10, 10)
    with pytest.raises(ConvWalkError):
        ConvWalkView.from_layer(doc, "pool1")

    torch.manual_seed(0)
    model, _code = build_model(doc.graph)
    ds = load_dataset("sample")
    image = prepare_images(ds.test_x[:1], ds, (1, 28, 28), "none")
    view = ConvWalkView.from_layer(doc, "conv1", model, image)
    qtbot.addWidget(view)
    assert view.values.currentData() == "real"
    assert not view.spins["C"].isEnabled()
    assert {k: sb.value() for k, sb in view.spins.items()} == {
        "C": 1, "H": 28, "W": 28, "k": 5, "stride": 1, "padding": 2, "M": 6}
    assert torch.equal(view.walk.input[0], image[0, 0].double())
    assert torch.equal(view.walk.weight, model.conv1.weight.detach().double())
    view.finish()
    with torch.no_grad():
        expected = model.conv1(image)[0].double()
    assert torch.allclose(view.output(), expected, atol=1e-5)
    # the second layer sees what the first layers make of the image
    view2 = ConvWalkView.from_layer(doc, "conv2", model, image)
    qtbot.addWidget(view2)
    with torch.no_grad():
        reaching = record_outputs(doc.graph, model, image)["pool1"][0]
    assert torch.allclose(view2.walk.input, reaching.double())
    view.values.setCurrentIndex(0)  # back to small integers with the layer's sizes
    assert view.spins["C"].isEnabled() and view.walk.out_shape == (6, 28, 28)


# --- Training-step walk-through ---------------------------------------------------------------

CODE_LINES = [
    "net.zero_grad()",
    "output = net(input)",
    "loss = criterion(output, target)",
    "loss.backward()",
    "for f in net.parameters(): f.data.sub_(f.grad.data * learning_rate)",
]


def test_step_through_narrative_code_lines_and_conv1_bias_grad(qtbot, make_doc):
    from netbuilder.gui.learn.stepthrough_view import StepThroughView, autograd_key

    doc = make_doc("lenet-tutorial")
    view = StepThroughView(doc)
    qtbot.addWidget(view)
    assert view.code_lines()[2:] == CODE_LINES
    assert view.param_name == "conv1.bias"
    assert view.grad_caption.text() == "conv1.bias.grad" and view.grad_value.text() == "None"
    keys_seen: list[list[str]] = []
    view.autograd_highlight.connect(keys_seen.append)
    canvas_seen: list[list[str]] = []
    view.canvas_highlight.connect(canvas_seen.append)

    infos = []
    for k in range(5):
        QTest.mouseClick(view.next_button, Qt.MouseButton.LeftButton)
        info = view.last
        infos.append(info)
        assert info.number == k + 1 and info.code == CODE_LINES[k]
        assert view.code_lines()[k + 2] == CODE_LINES[k]
        marked = view.code_list.item(k + 2).text()
        assert marked.startswith("▶") and all(not view.code_list.item(i).text().startswith("▶")
                                               for i in range(view.code_list.count()) if i != k + 2)
        assert view.title.text() == info.title and info.narrative and view.narrative.text() == info.narrative
        assert doc.selected_ids() == [n for n in info.canvas_nodes if n in doc.graph]
        assert canvas_seen[-1] == info.canvas_nodes
        if k < 3:  # before backward: no gradient yet
            assert view.grad_value.text() == "None", k
            assert "None" in view.table.item(0, 2).text()
        if k == 3:
            assert info.grad_before is None and info.grad_after is not None
            assert view.grad_value.text().startswith("None  →  tensor([")
            assert view.table.item(0, 2).text() != "None"
    assert [i.state for i in infos] == ["zero_grad", "forward", "loss", "backward", "update"]
    assert set(infos[0].canvas_nodes) == {"conv1", "conv2", "fc1", "fc2", "fc3"}
    assert infos[2].loss is not None and f"{infos[2].loss:.4f}" in infos[2].narrative

    # autograd nodes involved: backward ids of the recorded graph, and keys any viewer can match
    g = view.autograd_graph
    assert g is not None and len(keys_seen) == 5
    assert keys_seen[3] == [autograd_key(g.nodes[i]) for i in infos[3].autograd_nodes]
    assert "conv1.bias" in keys_seen[4] and "conv1:ConvolutionBackward0" in keys_seen[3]
    assert any(k.startswith("loss:") for k in keys_seen[2])

    # the update shown equals p − lr·grad, for the watched tensor and in the table
    upd = infos[4]
    lr = view.stepper.lr
    assert lr == pytest.approx(0.01)
    expected = upd.value_before - lr * upd.grad_after
    assert torch.allclose(upd.value_after, expected, atol=1e-7)
    p = dict(view.stepper.net.named_parameters())["conv1.bias"].detach()
    assert torch.equal(p, upd.value_after)
    assert not view.table.isColumnHidden(4)
    for r in range(view.table.rowCount()):
        shown = float(view.table.item(r, 4).text().replace("−", "-"))
        assert shown == pytest.approx(float(expected[r]), abs=1e-8)
        step = float(view.table.item(r, 3).text().replace("−", "-"))
        assert step == pytest.approx(lr * float(upd.grad_after[r]), abs=1e-8)

    # a sixth click starts the next iteration at step 1: zero_grad clears the gradient again
    QTest.mouseClick(view.next_button, Qt.MouseButton.LeftButton)
    assert view.last.number == 1 and view.last.iteration == 2
    assert view.grad_value.text().endswith("None")


def test_step_through_watched_parameter_and_settings_restart(qtbot, make_doc):
    from netbuilder.gui.learn.stepthrough_view import StepThroughView

    doc = make_doc("lenet5-mnist")
    view = StepThroughView(doc)
    qtbot.addWidget(view)
    view.show()
    names = [view.param_box.itemData(i) for i in range(view.param_box.count())]
    assert names[:2] == ["conv1.weight", "conv1.bias"] and "fc3.bias" in names
    view.param_box.setCurrentIndex(view.param_box.findData("fc2.weight"))
    assert view.stepper.param == "fc2.weight" and view.stepper.number == 0
    view.lr_box.setValue(0.5)
    infos = [view.next_step() for _ in range(5)]
    assert infos[-1].param == "fc2.weight"
    assert "first 8 of 10,080 values" in view.table_caption.text()
    assert torch.allclose(infos[-1].value_after, infos[-1].value_before - 0.5 * infos[-1].grad_after, atol=1e-6)

    # editing the network starts over on the new network
    doc.graph.set_params("fc2", {"out_features": 50})
    qtbot.waitUntil(lambda: view.stepper is not None and view.stepper.number == 0
                    and dict(view.stepper.net.named_parameters())["fc2.weight"].shape == (50, 120))
    # an invalid network: the button is off and the reason is shown
    doc.graph.set_params("fc3", {"in_features": 7})
    qtbot.waitUntil(lambda: not view.next_button.isEnabled())
    assert not view.error.isHidden() and "fc3" in view.error.text()


def test_step_through_with_trained_weights_leaves_the_model_alone(qtbot, make_doc):
    from netbuilder.core.train.data import load_dataset
    from netbuilder.gui.learn.stepthrough_view import StepThroughView

    doc = make_doc("lenet5-mnist")
    view = StepThroughView(doc)
    qtbot.addWidget(view)
    torch.manual_seed(3)
    model, _ = build_model(doc.graph)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    view.set_model(model, load_dataset("sample"))
    assert view.input_box.currentData() == "trained"
    assert view.loss_box.currentData() == "cross-entropy"  # a real image has a real label
    assert torch.equal(dict(view.stepper.net.named_parameters())["conv1.bias"], model.conv1.bias)
    assert view.stepper.input.shape == (1, 1, 28, 28)
    ds = load_dataset("sample")
    view.image_box.setValue(5)  # another test image, with its own label as the target
    from netbuilder.core.train.data import prepare_images

    assert torch.equal(view.stepper.input, prepare_images(ds.test_x[5:6], ds, (1, 28, 28), "none"))
    assert torch.equal(view.stepper.target, ds.test_y[5:6])
    for _ in range(5):
        view.next_step()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert not torch.equal(dict(view.stepper.net.named_parameters())["conv1.bias"], model.conv1.bias)


# --- In the main window -------------------------------------------------------------------------

def test_install_in_main_window_and_open_conv_walk_from_a_node(qtbot, tmp_path, monkeypatch):
    pytest.importorskip("netbuilder.gui.editor.main_window")
    from netbuilder.gui import theme
    from netbuilder.gui.editor.main_window import MainWindow
    from netbuilder.gui.inspect import autograd_view
    from netbuilder.gui.learn import conv_walk_view, explain_panel, stepthrough_view

    monkeypatch.setenv("NETBUILDER_CONFIG_DIR", str(tmp_path / "config"))
    theme.apply(False)
    win = MainWindow(Document(load_preset("lenet5-mnist").graph))
    qtbot.addWidget(win)
    try:
        win.show()
        autograd = autograd_view.install(win)
        panel = explain_panel.install(win)
        conv_walk_view.install(win)
        steps = stepthrough_view.install(win, autograd=autograd)  # as the app's panel wiring does
        assert panel.dock.isAncestorOf(panel) and steps.dock.isAncestorOf(steps)  # big panels scroll
        helps = [a.text() for a in win.menu("Help").actions()]
        assert any("explain the network" in t for t in helps) and any("training step" in t for t in helps)
        assert any("Convolution walk-through" in a.text() for a in win.menu("Tools").actions())

        view = conv_walk_view.open_conv_walk(win, "conv2")
        assert view is not None and view.isWindow() and view.walk.out_shape == (16, 10, 10)
        assert conv_walk_view.open_conv_walk(win, "fc1") is None
        assert "not a convolution" in win.statusBar().currentMessage()
        assert conv_walk_view.is_convolution_node(win.document, "conv1")
        view.close()

        # the step's autograd nodes light up in the autograd viewer
        autograd.refresh()
        steps.canvas_box.setChecked(False)  # only the autograd link is under test here
        for _ in range(3):  # up to the loss: only the loss's own backward nodes are involved
            steps.next_step()
        lit = {stepthrough_view.autograd_key(autograd.graph.nodes[i]) for i in autograd.highlighted_ids()}
        assert lit == {stepthrough_view.autograd_key(steps.autograd_graph.nodes[i])
                       for i in steps.last.autograd_nodes}
        assert lit and all(k.startswith("loss:") for k in lit)
        assert len(autograd.highlighted_ids()) < len(autograd.graph.nodes)
    finally:
        win.shutdown()  # conftest's _dispose_windows deletes it


class FakeWindow(QMainWindow):
    """The part of ``AppWindow`` the install functions use."""

    def __init__(self, document):
        super().__init__()
        self.document = document
        self.messages = []
        self.menus = {name: QMenu(name, self) for name in ("View", "Tools", "Help")}

    def status(self, text, error=False):
        self.messages.append(text)

    def menu(self, name):
        return self.menus[name]

    def add_panel(self, widget, title, area, object_name=None):
        dock = QDockWidget(title, self)
        dock.setObjectName(object_name or title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def widget(self):
        return self


def test_views_follow_a_finished_training_run(qtbot, make_doc):
    from netbuilder.core.train.data import load_dataset, prepare_images
    from netbuilder.core.train.events import FinishedEvent
    from netbuilder.gui.learn import conv_walk_view, stepthrough_view
    from netbuilder.gui.window import ModelContext

    class FakeTrainer:  # read by the training-step view until it subscribes to model_available
        def __init__(self, model, dataset):
            self.model, self.dataset, self.input_shape = model, dataset, (1, 28, 28)
            self.config = type("Cfg", (), {"fit_input": "none"})()

    doc = make_doc("lenet5-mnist")
    torch.manual_seed(1)
    model, _ = build_model(doc.graph)
    ds = load_dataset("sample")
    training, win = FakeTrainingSource(), FakeWindow(doc)
    qtbot.addWidget(win)
    training.trainer = FakeTrainer(model, ds)
    conv_walk_view.install(win, training)
    steps = stepthrough_view.install(win, training)
    assert steps.input_box.findData("trained") < 0
    sample = prepare_images(ds.test_x[:1], ds, (1, 28, 28), "none")
    # What the session emits when a run finishes: the event, then the model with its test image.
    training.event_received.emit(FinishedEvent({}, 0.9, 0.3, 1.0, 100.0))
    training.model_available.emit(ModelContext(model, ds, doc.graph.copy(), (1, 28, 28), "none", sample,
                                               "the finished run"))
    assert steps.input_box.currentData() == "trained"

    view = conv_walk_view.open_conv_walk(win, "conv1")  # what the canvas context menu calls
    assert view.values.currentData() == "real"
    assert view.isWindow() and view.parent() is win
    assert torch.equal(view.walk.weight, model.conv1.weight.detach().double())
    assert sample.shape == (1, 1, 28, 28)
    assert torch.equal(view.walk.input[0], sample[0, 0].double())
    assert "the test image" in view.title.text()
    view.close()

    # A new project or run: the walk-through forgets the model and shows the sizes only.
    training.model_cleared.emit()
    sizes = conv_walk_view.open_conv_walk(win, "conv1")
    assert sizes.values.findData("real") < 0 and sizes.walk.out_shape == (6, 28, 28)
    sizes.close()
