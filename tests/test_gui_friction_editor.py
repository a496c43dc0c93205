"""Dialog and layout friction in the editor (issue 13, point 10), each driven as a user would: file dialogs
in the last-used folder, a sensible title and a project name, a rename dialog that stays open on a refused
name, a bottom row that keeps its size across tabs, wrapped inspector errors, History in its own window,
the empty-canvas hint and a Getting Started that covers training."""
# ruff: noqa: F811  (pytest fixtures imported from _helpers_editor are shadowed by parameters)

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from _helpers_editor import cfg_dir, drop_layer, make_window, select, win  # noqa: F401
from netbuilder.core.model.project import presets_dir
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox, QTabBar

LENET = presets_dir() / "lenet5-mnist.json"
CTRL = Qt.KeyboardModifier.ControlModifier


def _activate(qtbot, w) -> None:
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)


def _in_dialog(qtbot, steps: Callable[[QDialog], None]) -> list[BaseException]:
    """Run ``steps`` on the next modal dialog once it shows (the opening call blocks in ``exec``)."""
    errors: list[BaseException] = []

    def go() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QDialog) or not dialog.isVisible():
            QTimer.singleShot(20, go)
            return
        try:
            steps(dialog)
        except BaseException as e:  # reported by the test once exec returns
            errors.append(e)
            dialog.reject()

    QTimer.singleShot(0, go)
    return errors


def _ok(qtbot, dialog, text: str) -> None:
    dialog.edit.selectAll()
    qtbot.keyClicks(dialog.edit, text)
    qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Ok), Qt.MouseButton.LeftButton)


def test_file_dialogs_start_in_the_last_used_folder(qtbot, make_window, tmp_path, monkeypatch):
    folder = tmp_path / "projects"
    folder.mkdir()
    (folder / "mine.json").write_bytes(LENET.read_bytes())
    starts: list[str] = []

    def fake_open(parent, title, start, filters):
        starts.append(start)
        return str(folder / "mine.json"), ""

    def fake_save(parent, title, start, filters):
        starts.append(start)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(fake_open))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake_save))
    w = make_window()
    _activate(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_O, CTRL)  # File ▸ Open…: the first time, home
    qtbot.keyClick(w, Qt.Key.Key_N, CTRL)  # File ▸ New: a project without a folder of its own
    qtbot.keyClick(w, Qt.Key.Key_E, CTRL)  # File ▸ Export Python… starts where the project was opened
    assert starts[1].startswith(str(folder))
    w.shutdown()
    w2 = make_window()  # and so does the next session
    _activate(qtbot, w2)
    qtbot.keyClick(w2, Qt.Key.Key_O, CTRL)
    assert starts[2] == str(folder)


def test_title_shows_file_and_project_name_which_the_file_menu_sets(qtbot, win, tmp_path):
    _activate(qtbot, win)
    qtbot.keyClick(win, Qt.Key.Key_N, CTRL)
    assert win.windowTitle() == "Untitled[*] — NetBuilder"  # not "Untitled — untitled"
    assert win.save_to(tmp_path / "mylenet.json")
    assert win.windowTitle() == "mylenet.json[*] — NetBuilder"
    errors = _in_dialog(qtbot, lambda d: _ok(qtbot, d, "My LeNet"))
    win.files.act_project_name.trigger()  # File ▸ Project Name…
    assert not errors, errors
    assert win.document.graph.name == "My LeNet" and win.document.modified
    assert win.windowTitle() == "mylenet.json[*] — My LeNet — NetBuilder"
    _activate(qtbot, win)
    qtbot.keyClick(win, Qt.Key.Key_Z, CTRL)  # one undo step
    assert win.document.graph.name == "untitled" and win.windowTitle() == "mylenet.json[*] — NetBuilder"


def test_rename_dialog_stays_open_with_the_reason_until_a_valid_id(qtbot, win):
    win.open_template(LENET)
    select(win, ["conv1"])
    _activate(qtbot, win)
    seen: dict[str, object] = {}

    def steps(dialog):
        _ok(qtbot, dialog, "conv2")  # taken
        seen["open"] = dialog.isVisible()
        seen["reason"] = dialog.reason.text() if dialog.reason.isVisible() else ""
        _ok(qtbot, dialog, "features")

    errors = _in_dialog(qtbot, steps)
    qtbot.keyClick(win, Qt.Key.Key_F2)  # Edit ▸ Rename…
    assert not errors, errors
    assert seen["open"] is True and "conv2" in str(seen["reason"])
    ids = {n.id for n in win.document.graph.nodes}
    assert "features" in ids and "conv1" not in ids


def test_switching_bottom_tabs_keeps_the_canvas_size(qtbot, cfg_dir):
    from netbuilder.gui import theme
    from netbuilder.gui.editor.main_window import MainWindow
    from netbuilder.gui.panels import install_all

    theme.apply(False)
    w = MainWindow()
    panels = install_all(w)
    try:
        w.resize(1400, 900)
        w.show()
        w.open_template(LENET)
        qtbot.wait(50)
        canvas = w.view.height()
        assert canvas > 0.4 * w.height()  # the canvas is the main view
        bars = [b for b in w.findChildren(QTabBar) if any(b.tabText(i) == "Training" for i in range(b.count()))]
        assert bars
        bar = bars[0]
        for name in ("Training", "Gradients", "Summary"):
            i = next(i for i in range(bar.count()) if bar.tabText(i) == name)
            qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(i).center())
            qtbot.wait(30)
            assert bar.currentIndex() == i
            assert w.view.height() == canvas, name
    finally:  # as tests/test_gui_app.py's window fixture ends
        panels.training.shutdown()
        w.shutdown()
        w.close()
        w.deleteLater()
        QApplication.processEvents()


def test_kernel_too_big_message_wraps_inside_the_inspector(qtbot, win):
    win.open_template(LENET)
    select(win, ["conv2"])
    spin = win.inspector.editors["kernel_size"].h
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "20")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    win.document.flush()
    label = win.inspector.node_error
    assert label.isVisible() and "kernel" in label.text()
    win.resizeDocks([win.inspector_dock], [220], Qt.Orientation.Horizontal)  # the user narrows the dock
    qtbot.wait(30)
    viewport = win.inspector.scroll_area.viewport()
    right = label.mapTo(viewport, QPoint(label.width(), 0)).x()
    assert label.wordWrap() and right <= viewport.width()
    assert label.height() >= label.heightForWidth(label.width())  # every wrapped line shows


def test_history_opens_in_a_window_of_its_own(qtbot, win):
    win.open_template(LENET)
    palette_height = win.palette_dock.height()
    _activate(qtbot, win)
    qtbot.keyClick(win, Qt.Key.Key_H, CTRL)  # Edit ▸ History
    dock = win.history_dock
    assert dock.isVisible() and win.act_history.isChecked()
    assert dock.isFloating() or win.dockWidgetArea(dock) != Qt.DockWidgetArea.LeftDockWidgetArea
    assert dock.width() >= 300 and dock.height() >= 360
    assert win.palette_dock.height() == palette_height  # the palette column keeps its room
    qtbot.keyClick(win, Qt.Key.Key_H, CTRL)
    assert not dock.isVisible()


def test_empty_canvas_shows_a_hint_until_a_layer_is_added(qtbot, win):
    win.open_template(LENET)
    hint = win.empty_hint
    assert not hint.isVisible()
    _activate(qtbot, win)
    qtbot.keyClick(win, Qt.Key.Key_N, CTRL)  # File ▸ New
    assert hint.isVisible() and hint.text() == "Drag a layer here, or double-click one in the Layers list"
    viewport = win.view.viewport()
    centre = viewport.mapFromGlobal(hint.mapToGlobal(hint.rect().center()))
    assert abs(centre.x() - viewport.width() / 2) <= 2 and abs(centre.y() - viewport.height() / 2) <= 2
    win.view.zoom_by(1.25)
    win.view.horizontalScrollBar().setValue(win.view.horizontalScrollBar().value() + 200)  # scrolling keeps it
    QApplication.processEvents()
    assert viewport.mapFromGlobal(hint.mapToGlobal(hint.rect().center())) == centre
    drop_layer(win, "Input", win.view.mapToScene(viewport.rect().center()) + QPointF(0, 0))
    assert not hint.isVisible()
    qtbot.keyClick(win, Qt.Key.Key_Z, CTRL)
    win.document.flush()
    assert hint.isVisible()


def test_getting_started_covers_training_the_data_folder_and_export(qtbot, win, monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "information",
                        staticmethod(lambda parent, title, text, *a, **k: shown.append(text)))
    _activate(qtbot, win)
    qtbot.keyClick(win, Qt.Key.Key_F1)  # Help ▸ Getting Started
    assert len(shown) == 1
    text = shown[0]
    for words in ("F5", "F6", "Shift+F5", "Data folder", "bundled MNIST", "Export", "preprocess", "Inspect"):
        assert words in text, words
