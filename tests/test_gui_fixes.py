"""One-click fixes in the GUI (issue 13, point 11): the button fixes the graph as one undo step."""

from __future__ import annotations

import pytest
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.project import load_preset
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget


class FixWindow(QWidget):
    """The inspector's error box in miniature: the node's error, its fix bar, and Edit ▸ Undo."""

    def __init__(self, graph: Graph, node_id: str) -> None:
        from netbuilder.gui.editor.document import Document
        from netbuilder.gui.editor.fix_bar import FixBar

        super().__init__()
        self.doc = Document(graph)
        self.node_id = node_id
        lay = QVBoxLayout(self)
        self.error = QLabel()
        self.error.setWordWrap(True)
        lay.addWidget(self.error)
        self.bar = FixBar(self.doc)
        lay.addWidget(self.bar)
        self.undo = self.doc.undo_stack.createUndoAction(self)
        self.undo.setShortcut(QKeySequence.StandardKey.Undo)
        self.addAction(self.undo)
        self.doc.inferred.connect(self._show_error)
        self._show_error()
        self.bar.show_for(node_id)

    def _show_error(self, *_: object) -> None:
        self.error.setText("\n".join(self.doc.result.errors_for(self.node_id)))

    def shutdown(self) -> None:
        self.doc.undo_stack.clear()


@pytest.fixture
def make(qtbot):
    windows: list[FixWindow] = []

    def build(graph: Graph, node_id: str) -> FixWindow:
        w = FixWindow(graph, node_id)
        w.resize(600, 200)
        w.show()
        qtbot.waitExposed(w)
        w.activateWindow()
        QApplication.processEvents()
        windows.append(w)
        return w

    yield build
    for w in windows:
        w.shutdown()


def _lenet() -> Graph:
    return load_preset("lenet5-mnist").graph


def _click(qtbot, w: FixWindow, label: str) -> None:
    button = next(b for b in w.bar.buttons if b.text() == label)
    assert button.isVisible() and button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    QApplication.processEvents()


def _ctrl_z(qtbot, w: FixWindow) -> None:
    qtbot.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    w.doc.flush()
    QApplication.processEvents()


def test_in_features_fix_is_one_undo_step(qtbot, make):
    from netbuilder.gui.editor import commands

    w = make(_lenet(), "fc1")
    assert w.doc.result.ok and not w.bar.isVisible()
    # the user types 300 into in_features (as the inspector does): the bar offers both fixes
    commands.execute(w.doc, commands.SetParams(w.doc, "fc1", {"in_features": 300}))
    w.doc.flush()
    assert w.bar.isVisible()
    assert [b.text() for b in w.bar.buttons] == ["Set in_features to 400", "Set in_features to auto"]
    assert "set in_features to 400 or to auto" in w.error.text()

    _click(qtbot, w, "Set in_features to 400")
    assert w.doc.result.ok
    assert w.doc.graph.node("fc1").params["in_features"] == 400
    assert w.doc.undo_stack.count() == 2  # the typing and the fix: never merged
    assert w.doc.undo_stack.undoText() == "Set in_features to 400"
    assert not w.bar.isVisible() and w.error.text() == ""

    _ctrl_z(qtbot, w)
    assert w.doc.graph.node("fc1").params["in_features"] == 300
    assert not w.doc.result.ok and w.doc.result.errors_for("fc1")
    assert [b.text() for b in w.bar.buttons] == ["Set in_features to 400", "Set in_features to auto"]

    _click(qtbot, w, "Set in_features to auto")
    assert w.doc.result.ok and w.doc.graph.node("fc1").params["in_features"] == "auto"


def test_insert_flatten_fix_and_undo(qtbot, make):
    g = _lenet()
    g.remove_node("flatten")
    g.connect("pool2", "fc1")
    w = make(g, "fc1")
    assert "add a Flatten before it" in w.error.text()
    _click(qtbot, w, "Insert Flatten before fc1")
    doc = w.doc
    assert doc.result.ok
    new = next(n.id for n in doc.graph.nodes if n.type == "Flatten")
    assert {(e.src, e.dst) for e in doc.graph.edges} >= {("pool2", new), (new, "fc1")}
    assert ("pool2", "fc1") not in {(e.src, e.dst) for e in doc.graph.edges}
    assert doc.undo_stack.count() == 1

    _ctrl_z(qtbot, w)
    assert new not in doc.graph and ("pool2", "fc1") in {(e.src, e.dst) for e in doc.graph.edges}
    assert doc.result.errors_for("fc1") and w.bar.isVisible()
    doc.undo_stack.redo()
    doc.flush()
    assert doc.result.ok and new in doc.graph


def test_padding_fix_for_a_kernel_too_big(qtbot, make):
    g = Graph()
    g.add_node("Input", "input", {"shape": [3, 5, 5]})
    g.add_node("Conv2d", "conv", {"out_channels": 4, "kernel_size": 9})
    g.connect("input", "conv")
    w = make(g, "conv")
    assert [b.text() for b in w.bar.buttons] == ["Add padding 2"]
    _click(qtbot, w, "Add padding 2")
    assert w.doc.result.ok and w.doc.graph.node("conv").params["padding"] == 2
    _ctrl_z(qtbot, w)
    assert w.doc.result.errors_for("conv")


def test_no_buttons_without_a_mechanical_fix_and_none_while_training(qtbot, make):
    g = _lenet()
    g.set_params("conv2", {"groups": 4})  # 6 input channels: no groups value follows mechanically
    w = make(g, "conv2")
    assert w.doc.result.errors_for("conv2") and not w.bar.isVisible() and w.bar.buttons == []

    g2 = _lenet()
    g2.set_params("fc1", {"in_features": 300})
    w2 = make(g2, "fc1")
    w2.doc.set_locked(True)
    assert w2.bar.buttons and not w2.bar.buttons[0].isEnabled()
    qtbot.mouseClick(w2.bar.buttons[0], Qt.MouseButton.LeftButton)
    assert w2.doc.graph.node("fc1").params["in_features"] == 300
    w2.doc.set_locked(False)
    assert w2.bar.buttons[0].isEnabled()


def test_status_bar_bar_follows_the_first_error(qtbot, make):
    from netbuilder.gui.editor.fix_bar import FixBar

    g = _lenet()
    g.set_params("fc2", {"in_features": 50})
    w = make(g, "fc2")
    status = FixBar(w.doc)
    w.layout().addWidget(status)
    status.show_first_error()
    assert status.node_id == "fc2" and status.buttons[0].text() == "Set in_features to 120"
    qtbot.mouseClick(status.buttons[1], Qt.MouseButton.LeftButton)  # "Set in_features to auto"
    assert w.doc.result.ok and not status.isVisible() and status.node_id is None
    _ctrl_z(qtbot, w)
    assert status.node_id == "fc2" and status.isVisible()


def test_the_app_offers_the_fix_under_the_inspector_error_and_in_the_status_bar(qtbot, tmp_path, monkeypatch):
    """The real main window: select the broken Linear, click the inspector's fix button; one undo
    brings the error back."""
    from netbuilder.core.model.project import load_preset
    from netbuilder.gui.editor.document import Document
    from netbuilder.gui.editor.main_window import MainWindow
    from PySide6.QtCore import Qt

    g = load_preset("lenet5-mnist").graph
    g.set_params("fc1", {"in_features": 300})
    win = MainWindow(Document(g))
    qtbot.addWidget(win)
    win.show()
    win.document.flush()
    assert not win.document.result.ok
    assert any(b.text() == "Set in_features to 400" for b in win.fix_bar.buttons)
    win.document.select_nodes(["fc1"])
    buttons = [b for b in win.inspector.fix_bar.buttons if b.text() == "Set in_features to 400"]
    assert buttons and buttons[0].isVisible()
    qtbot.mouseClick(buttons[0], Qt.MouseButton.LeftButton)
    win.document.flush()
    assert win.document.result.ok
    win.document.undo_stack.undo()
    win.document.flush()
    assert not win.document.result.ok
    win.shutdown()
