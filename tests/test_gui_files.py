"""Files in the GUI: save/open round trip, corrupt files, unsaved-changes prompts, autosave
recovery, recent files and settings in a temporary location, Export Python, --screenshot."""
# ruff: noqa: F811  (pytest fixtures imported from _helpers_editor are shadowed by parameters)

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from _helpers_editor import cfg_dir, graph_dict, make_window, select, win  # noqa: F401
from netbuilder.core.model.project import load_preset, load_project, presets_dir
from PySide6.QtWidgets import QMessageBox

LENET = presets_dir() / "lenet5-mnist.json"


class Boxes:
    """Records QMessageBox calls instead of showing modal dialogs; answers ``answer``."""

    def __init__(self, monkeypatch, answer=QMessageBox.StandardButton.Discard):
        self.calls: list[tuple[str, str, str]] = []
        self.answer = answer
        for kind in ("critical", "warning", "question", "information"):
            monkeypatch.setattr(QMessageBox, kind, self._make(kind))

    def _make(self, kind):
        def box(parent, title, text, *args, **kwargs):
            self.calls.append((kind, title, text))
            return self.answer
        return staticmethod(box)


def test_save_open_round_trip_keeps_graph_and_training(win, tmp_path):
    win.open_template(LENET)
    doc = win.document
    doc.training = {"epochs": 3, "optimizer": {"name": "SGD", "lr": 0.01}}
    select(win, ["fc1"])
    win.inspector.editors["out_features"].spin.setValue(100)
    assert doc.modified and win.isWindowModified()
    assert "[*]" in win.windowTitle()
    path = tmp_path / "mine.json"
    assert win.save_to(path)
    assert not doc.modified and not win.isWindowModified()
    assert doc.path == path.resolve()
    assert win.windowTitle().startswith("mine.json")
    assert not list(tmp_path.glob(".mine.json.*"))  # the atomic save left no temp file
    on_disk = load_project(path)
    assert on_disk.training == doc.training
    assert graph_dict(on_disk.graph) == graph_dict(doc.graph)
    # open it in another window
    from _helpers_editor import make_window as _  # noqa: F401

    win.files.new()
    assert len(doc.graph) == 0
    assert win.open_path(path)
    assert doc.training == {"epochs": 3, "optimizer": {"name": "SGD", "lr": 0.01}}
    assert graph_dict(doc.graph) == graph_dict(on_disk.graph)
    assert doc.graph.node("fc1").params["out_features"] == 100
    assert not doc.modified and doc.undo_stack.count() == 0
    assert len(win.scene.nodes) == len(doc.graph)
    assert str(path.resolve()) in win.files.recent()


def test_corrupt_file_is_refused_and_current_document_kept(win, tmp_path, monkeypatch):
    boxes = Boxes(monkeypatch)
    win.open_template(LENET)
    select(win, ["conv1"])
    win.inspector.editors["out_channels"].spin.setValue(8)
    before = graph_dict(win.document.graph)
    bad = tmp_path / "bad.json"
    for content in ("{not json", json.dumps({"format": "netbuilder-project", "version": 1, "nodes": [
            {"id": "a", "type": "Conv9d"}]}), "\x00\xff"):
        bad.write_text(content, encoding="latin-1")
        assert not win.open_path(bad)
        kind, _title, text = boxes.calls[-1]
        assert kind == "critical" and "bad.json" in text and "unchanged" in text
        assert graph_dict(win.document.graph) == before
        assert win.document.modified  # the edit is still there, still unsaved
        assert win.document.path is None
    assert "Conv9d" in boxes.calls[1][2]


def test_unsaved_changes_prompt_on_new_and_close(win, monkeypatch):
    win.open_template(LENET)
    select(win, ["conv1"])
    win.act_delete.trigger()
    boxes = Boxes(monkeypatch, QMessageBox.StandardButton.Cancel)
    assert not win.files.new()
    assert boxes.calls[-1][0] == "question" and "conv1" not in win.document.graph
    assert len(win.document.graph) == 12  # cancelled: nothing changed
    boxes.answer = QMessageBox.StandardButton.Discard
    assert win.files.new()
    assert len(win.document.graph) == 0
    # close guards (e.g. a running training) can veto
    asked = []
    win.close_guards.append(lambda: asked.append(1) or False)
    assert not win.files.confirm_discard()
    assert asked == [1]
    win.close_guards.clear()
    assert win.files.confirm_discard()


def test_autosave_and_restore_after_crash(make_window, tmp_path):
    from netbuilder.gui.editor import autosave

    w = make_window()
    w.open_template(LENET)
    select(w, ["fc2"])
    w.inspector.editors["out_features"].spin.setValue(64)
    assert w.autosaver.save_now()
    rec_file = w.autosaver.file
    assert rec_file.exists() and rec_file.parent.is_relative_to(os.environ["NETBUILDER_CONFIG_DIR"])
    # our own (live) recovery file is not offered
    assert autosave.find_recoveries() == []
    # pretend the process died: give the file the pid of a finished process
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    crashed = rec_file.with_name(f"recovery-{dead.pid}.json")
    rec_file.rename(crashed)
    found = autosave.find_recoveries()
    assert [r.file for r in found] == [crashed]
    assert "autosaved" in found[0].describe()
    w2 = make_window()
    w2.files.restore_recovery(found[0])
    assert w2.document.graph.node("fc2").params["out_features"] == 64
    assert w2.document.modified and w2.isWindowModified()
    assert not crashed.exists()
    # a clean shutdown removes the recovery file; an unmodified document writes none
    w2.autosaver.save_now()
    assert w2.autosaver.file.exists()
    w2.shutdown()
    assert not w2.autosaver.file.exists()
    w3 = make_window()
    assert not w3.autosaver.save_now() and not w3.autosaver.file.exists()


def test_corrupt_recovery_file_is_dropped(cfg_dir):
    from netbuilder.gui.editor import autosave

    d = autosave.state_dir()
    junk = d / "recovery-999999999.json"
    junk.write_text("{garbage")
    assert autosave.find_recoveries() == []
    assert not junk.exists()


def test_settings_live_in_the_temporary_config_dir(make_window, cfg_dir, tmp_path):
    w = make_window()
    p = tmp_path / "a.json"
    assert w.save_to(p)
    w.save_settings()
    ini = cfg_dir / "netbuilder.ini"
    assert ini.exists()
    assert "a.json" in ini.read_text()
    w.shutdown()
    w2 = make_window()
    assert str(p.resolve()) in w2.files.recent()
    names = [a.text() for a in w2.files.recent_menu.actions()]
    assert "a.json" in names


def test_export_python_writes_the_generated_module(win, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    win.open_template(LENET)
    out = tmp_path / "lenet.py"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "")))
    assert win.files.export_python_dialog()
    # the file holds the very class the app compiles, with how to feed it around it
    source = win.document.code.source
    assert source[source.index("class Net"):source.index('if __name__ == "__main__":')] in out.read_text()
    ns: dict = {}
    exec(compile(out.read_text(), str(out), "exec"), ns)
    assert ns["Net"].input_shape == (1, 28, 28)


def test_file_export_python_states_how_to_feed_the_model(win, tmp_path, monkeypatch):
    import torch
    from netbuilder.core.train.data import load_dataset
    from netbuilder.core.train.fit import prepare_images
    from PySide6.QtWidgets import QFileDialog

    win.open_template(LENET)
    win.document.training = {"dataset": "sample"}
    out = tmp_path / "lenet.py"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "")))
    win.files.act_export.trigger()  # File ▸ Export Python… (Ctrl+E)
    ns: dict = {}
    exec(compile(out.read_text(), str(out), "exec"), ns)
    ds = load_dataset("sample")
    assert ns["INPUT_SHAPE"] == (1, 28, 28) and ns["INPUT_DTYPE"] is torch.float32
    assert (ns["MEAN"], ns["STD"]) == (ds.mean, ds.std)
    assert "preprocess(images)" in ns["__doc__"]
    x = ds.test_x[:16]
    assert torch.equal(ns["preprocess"](x), prepare_images(x, ds, (1, 28, 28), "none"))


def test_templates_open_readable_and_unmodified(win):
    from netbuilder.gui.editor.file_commands import preset_templates

    names = [n for n, _ in preset_templates()]
    assert names[0] == "LeNet-5 (MNIST)" and len(names) >= 3
    win.open_template(LENET)
    doc = win.document
    assert not doc.modified and doc.path is None
    assert doc.result.total_params == 61_706
    # the preset's single 2,800-px row is wrapped into rows for reading
    ys = {n.position[1] for n in doc.graph.nodes}
    assert len(ys) > 1
    assert graph_dict(doc.graph)["edges"] == graph_dict(load_preset("lenet5-mnist").graph)["edges"]
    # Fit shows everything at a readable zoom
    win.view.fit()
    assert win.view.zoom() > 0.6


@pytest.mark.slow
def test_screenshot_command_renders_offscreen(tmp_path):
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", NETBUILDER_CONFIG_DIR=str(tmp_path / "cfg"))
    r = subprocess.run([sys.executable, "-m", "netbuilder.core.cli", "--screenshot", str(out)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    assert img.width() == 1600 and img.height() == 1000
    # not a blank image: the canvas and nodes have several colours
    colours = {img.pixel(x, y) for x in range(0, 1600, 37) for y in range(0, 1000, 29)}
    assert len(colours) > 20
    bad = subprocess.run([sys.executable, "-m", "netbuilder.core.cli", str(tmp_path / "missing.json"), "--screenshot",
                          str(out)], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "no such file" in bad.stderr
