"""Shared fixtures and input simulation for the node-editor GUI tests."""

from __future__ import annotations

import pytest
from netbuilder.core.model.graph import Graph
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication


@pytest.fixture
def cfg_dir(tmp_path, monkeypatch):
    """Settings and recovery files go to a temporary folder, never the user's config."""
    d = tmp_path / "config"
    monkeypatch.setenv("NETBUILDER_CONFIG_DIR", str(d))
    return d


@pytest.fixture
def make_window(qtbot, cfg_dir):
    """Factory for main windows; the fixture holds them (qtbot keeps weak refs) and shuts them down
    (autosave, undo stack, scene) after the test; conftest's ``_dispose_windows`` then deletes them."""
    from netbuilder.gui import theme
    from netbuilder.gui.editor.main_window import MainWindow

    theme.apply(False)
    windows = []

    def make(document=None):
        # Not qtbot.addWidget: pytest-qt closes registered widgets before fixture teardown, and
        # closing a modified window asks "Save changes?" in a modal dialog. This fixture holds the
        # windows and shuts them down itself.
        w = MainWindow(document)
        w.resize(1400, 900)
        w.show()
        QApplication.processEvents()
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.shutdown()
        w.close()


@pytest.fixture
def win(make_window):
    return make_window()


def drop_layer(win, type_name: str, scene_pos: QPointF) -> str:
    """Drag ``type_name`` from the palette onto the canvas at ``scene_pos`` with real drag events
    built from the palette's own mime data; returns the new node's id."""
    view = win.view
    vp = view.viewport()
    mime = win.palette.tree.mimeData([win.palette.items[type_name]])
    before = {n.id for n in win.document.graph.nodes}
    pt = view.mapFromScene(scene_pos)
    enter = QDragEnterEvent(pt, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(pt, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, move)
    assert move.isAccepted()
    drop = QDropEvent(QPointF(pt), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, drop)
    assert drop.isAccepted()
    new = [n.id for n in win.document.graph.nodes if n.id not in before]
    assert len(new) == 1
    return new[0]


def mouse(view, kind, scene_pt: QPointF, button=Qt.MouseButton.LeftButton, buttons=None, mods=None) -> None:
    vp = view.viewport()
    local = QPointF(view.mapFromScene(scene_pt))
    if buttons is None:
        buttons = Qt.MouseButton.NoButton if kind == QMouseEvent.Type.MouseButtonRelease else button
    if kind == QMouseEvent.Type.MouseMove:
        button = Qt.MouseButton.NoButton
    ev = QMouseEvent(kind, local, QPointF(vp.mapToGlobal(local.toPoint())), button, buttons,
                     mods or Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, ev)


def drag(view, a: QPointF, b: QPointF, steps: int = 4, button=Qt.MouseButton.LeftButton) -> None:
    """Press at ``a``, move in steps to ``b`` with the button held, release."""
    mouse(view, QMouseEvent.Type.MouseButtonPress, a, button)
    for i in range(1, steps + 1):
        p = QPointF(a.x() + (b.x() - a.x()) * i / steps, a.y() + (b.y() - a.y()) * i / steps)
        mouse(view, QMouseEvent.Type.MouseMove, p, button, buttons=button)
    mouse(view, QMouseEvent.Type.MouseButtonRelease, b, button)


def port_drag(win, src: str, dst: str, port: int = 0, src_port: int = 0) -> None:
    """Draw an edge from ``src``'s output ``src_port`` to ``dst``'s input ``port`` with the mouse."""
    s = win.scene.node_item(src).out_port_at(src_port).scenePos()
    d = win.scene.node_item(dst).in_port(port).scenePos()
    drag(win.view, s, d)


def select(win, ids) -> None:
    win.document.select_nodes(list(ids))
    QApplication.processEvents()


def graph_dict(graph: Graph) -> dict:
    from netbuilder.core.model.project import to_dict

    d = to_dict(graph)
    d.pop("name", None)
    return d


class FakeTrainingSource(QObject):
    """A stand-in for the training session: the signals and live values of ``TrainingSource``."""

    event_received = Signal(object)
    model_available = Signal(object)
    model_cleared = Signal()
    live_model = None
    live_dataset = None
