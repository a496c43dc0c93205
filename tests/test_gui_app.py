"""The assembled application: every panel installed and wired, the node context menu's extras,
and the File menu's import/export commands (driven through their path-taking methods)."""

from __future__ import annotations

import ast
import csv
import io
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from netbuilder.core.model.project import load_preset, presets_dir
from PySide6.QtWidgets import QApplication, QDockWidget, QMenu

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app_window(qtbot, tmp_path, monkeypatch):
    """A main window with every panel installed (as `netbuilder` builds it), LeNet-5 loaded."""
    monkeypatch.setenv("NETBUILDER_CONFIG_DIR", str(tmp_path / "config"))
    from netbuilder.gui import theme
    from netbuilder.gui.editor.main_window import MainWindow
    from netbuilder.gui.panels import install_all

    theme.apply(False)
    w = MainWindow()
    panels = install_all(w)
    w.resize(1400, 900)
    w.show()
    w.open_template(presets_dir() / "lenet5-mnist.json")
    QApplication.processEvents()
    yield w, panels
    panels.training.shutdown()
    w.shutdown()
    w.close()
    w.deleteLater()
    QApplication.processEvents()


def test_every_panel_is_docked_and_fits_a_laptop_screen(app_window) -> None:
    w, _ = app_window
    names = {d.objectName() for d in w.findChildren(QDockWidget)}
    assert {"PaletteDock", "InspectorDock", "SummaryDock", "CodeDock", "TrainingDock", "AutogradDock",
            "GradientsDock", "WeightsDock", "ExplainDock", "StepThroughDock"} <= names
    assert w.minimumSizeHint().width() <= 1366 and w.minimumSizeHint().height() <= 768
    assert w.view.height() > 0.4 * w.height()  # the canvas stays the main view
    training = next(d for d in w.findChildren(QDockWidget) if d.objectName() == "TrainingDock")
    training.raise_()
    for _ in range(3):
        QApplication.processEvents()
    assert training.height() >= 0.4 * w.height()  # the plots get room when their tab is shown


def test_conv_walk_offered_in_a_conv_nodes_context_menu_only(app_window) -> None:
    w, _ = app_window

    def extras(ids: list[str]) -> list[str]:
        menu = QMenu()
        for provider in w.node_menu_providers:
            provider(menu, ids)
        return [a.text() for a in menu.actions()]

    assert extras(["conv1"]) == ["Open convolution walk-through"]
    assert extras(["fc1"]) == []
    assert extras(["conv1", "conv2"]) == []


def test_export_training_script_and_summary(app_window, tmp_path: Path) -> None:
    w, _ = app_window
    fa = w.files
    script = tmp_path / "train_net.py"
    assert fa.export_training_script(str(script))
    tree = ast.parse(script.read_text())
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    assert {"Net", "train", "test", "main"} <= names
    assert fa.export_summary(str(tmp_path / "s.csv"))
    rows = list(csv.reader(io.StringIO((tmp_path / "s.csv").read_text())))
    assert rows[0] == ["id", "type", "output shape", "params", "MACs"]
    assert rows[2][:4] == ["conv1", "Conv2d", "N×6×28×28", "156"]
    assert rows[-1][0] == "total" and rows[-1][3] == "61706"
    assert fa.export_summary(str(tmp_path / "s.md"))
    md = (tmp_path / "s.md").read_text()
    assert "| conv1 | Conv2d | N×6×28×28 | 156 | 117,600 |" in md and "**61,706**" in md


def test_exported_training_script_uses_the_loaded_datasets_statistics(app_window, tmp_path: Path,
                                                                      monkeypatch) -> None:
    from types import SimpleNamespace

    w, _ = app_window
    loaded = SimpleNamespace(name="mnist", mean=(0.25,), std=(0.5,))  # what the session's dataset computed
    monkeypatch.setattr(w.files, "_training", SimpleNamespace(live_dataset=loaded))
    script = tmp_path / "train_net.py"
    assert w.files.export_training_script(str(script))
    stats = next(n for n in ast.parse(script.read_text()).body
                 if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") == "STATS")
    assert ast.literal_eval(stats.value)["mnist"] == ((0.25,), (0.5,))


def test_export_autograd_graph_json_and_dot(app_window, tmp_path: Path) -> None:
    w, _ = app_window
    fa = w.files
    assert fa.export_autograd(str(tmp_path / "a.json"))
    data = json.loads((tmp_path / "a.json").read_text())
    names = [n["name"] for n in data["nodes"]]
    assert names.count("ConvolutionBackward0") == 2 and "MseLossBackward0" in names
    assert {n.get("param") for n in data["nodes"]} >= {"conv1.weight", "fc3.bias"}
    assert fa.export_autograd(str(tmp_path / "a.dot"))
    assert (tmp_path / "a.dot").read_text().startswith("digraph")
    if shutil.which("dot"):
        assert fa.export_autograd(str(tmp_path / "a.svg"))
        assert "<svg" in (tmp_path / "a.svg").read_text()
    messages: list[str] = []
    w.status = lambda text, error=False: messages.append(text)  # type: ignore[method-assign]
    import netbuilder.gui.editor.file_commands as fam

    fam.QMessageBox.warning = staticmethod(lambda *a, **k: None)  # type: ignore[method-assign]
    assert not fa.export_autograd(str(tmp_path / "a.txt"))
    assert "choose a .dot, .svg, .png or .json file" in messages[-1]


def test_weights_need_a_trained_model_then_load_into_the_exported_class(app_window, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import netbuilder.gui.editor.file_commands as fam
    from netbuilder.core.interop.exporter import export_python
    from netbuilder.core.model.compiler import build_model

    w, panels = app_window
    fa = w.files
    warnings: list[str] = []
    monkeypatch.setattr(fam.QMessageBox, "warning", lambda _w, _t, text: warnings.append(text))
    assert not fa.export_weights(str(tmp_path / "w.pt"))
    assert "train the network" in warnings[-1]

    model, _ = build_model(w.document.graph)

    monkeypatch.setattr(type(panels.session), "live_model", property(lambda self: model))
    assert fa.export_weights(str(tmp_path / "w.pt"))
    export_python(w.document.graph, tmp_path / "net.py")
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(f"""
            import torch, importlib.util
            spec = importlib.util.spec_from_file_location("net", r"{tmp_path / 'net.py'}")
            mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
            net = mod.Net(); net.load_state_dict(torch.load(r"{tmp_path / 'w.pt'}", weights_only=True))
            torch.manual_seed(0); x = torch.randn(2, 1, 28, 28)
            torch.save(net(x).detach(), r"{tmp_path / 'y.pt'}")
        """)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    torch.manual_seed(0)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x), torch.load(tmp_path / "y.pt", weights_only=True))


def test_import_a_model_file_as_an_unsaved_project_with_its_weights(app_window, tmp_path: Path) -> None:
    w, panels = app_window
    src = tmp_path / "mynet.py"
    src.write_text(textwrap.dedent("""
        import torch.nn as nn
        import torch.nn.functional as F

        class Small(nn.Module):
            input_shape = (1, 28, 28)

            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 4, 3)
                self.fc = nn.Linear(4 * 13 * 13, 10)

            def forward(self, x):
                x = F.max_pool2d(F.relu(self.conv(x)), 2)
                return self.fc(x.flatten(1))
    """))
    assert w.files.import_model(str(src))
    g = w.document.graph
    assert [n.type for n in g.nodes] == ["Input", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    assert w.document.result.ok and w.document.result.total_params == 4 * 9 + 4 + 676 * 10 + 10
    assert w.document.modified and w.document.path is None
    assert set(panels.training.initial_weights) == {"conv.weight", "conv.bias", "fc.weight", "fc.bias"}


def test_import_errors_keep_the_current_document(app_window, tmp_path: Path, monkeypatch) -> None:
    import netbuilder.gui.editor.file_commands as fam

    w, _ = app_window
    shown: list[str] = []
    monkeypatch.setattr(fam.QMessageBox, "warning", lambda _w, _t, text: shown.append(text))
    bad = tmp_path / "bad.py"
    bad.write_text("def broken(:\n")
    before = [n.id for n in w.document.graph.nodes]
    assert not w.files.import_model(str(bad))
    assert "bad.py" in shown[-1]
    assert [n.id for n in w.document.graph.nodes] == before


def test_checkpoint_opened_for_editing_seeds_the_next_run(app_window, tmp_path: Path) -> None:
    from netbuilder.core.train.data import load_dataset
    from netbuilder.core.train.events import WarningEvent
    from netbuilder.core.train.trainer import TrainConfig, Trainer
    from netbuilder.gui.training.worker import TrainingWorker

    w, panels = app_window
    graph = load_preset("lenet5-mnist").graph
    cfg = TrainConfig(dataset="sample", epochs=1, limit_steps=3, threads=1)
    trainer = Trainer(graph, cfg)
    trainer.run()
    trainer.save_checkpoint(str(tmp_path / "run.ckpt"))
    assert w.files.open_checkpoint_for_editing(str(tmp_path / "run.ckpt"))
    assert w.document.graph.node("fc1").params["out_features"] == 120
    # Edit the network: fc2 gets a new width, so fc2 and fc3 start fresh and everything else is kept.
    w.document.graph.set_params("fc2", {"out_features": 50})
    state = panels.training.initial_weights
    assert state is not None and torch.equal(state["conv1.weight"], trainer.model.state_dict()["conv1.weight"])
    worker = TrainingWorker(w.document.graph, TrainConfig(dataset="sample", epochs=1, limit_steps=1, threads=1),
                            load_dataset("sample"), initial_state=state)
    events: list[object] = []
    worker.train_event.connect(events.append)
    worker.run()
    notes = [e.message for e in events if isinstance(e, WarningEvent)]
    assert notes and notes[0].startswith("Starting from earlier weights")
    assert "fc2" in notes[0]


def test_screenshot_command_renders_the_whole_app(tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    env = {**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen", "NETBUILDER_CONFIG_DIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "netbuilder.core.cli", "--screenshot", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    assert img.width() >= 1200 and img.height() >= 800


def test_history_view_obeys_the_training_lock(app_window) -> None:
    w, _ = app_window
    from netbuilder.gui.editor import commands

    commands.execute(w.document, commands.SetParams(w.document, "conv1", {"out_channels": 8}))
    w.document.set_locked(True)
    assert not w.history_view.isEnabled()  # a click on a row would undo past the lock
    w.document.set_locked(False)
    assert w.history_view.isEnabled()


def test_views_forget_the_previous_model_on_a_new_project(app_window) -> None:
    from netbuilder.core.train.trainer import TrainConfig, Trainer

    w, panels = app_window
    trainer = Trainer(w.document.graph, TrainConfig(dataset="sample", threads=1))
    panels.session.loaded(trainer)  # as after a loaded checkpoint (a finished run offers its model alike)
    assert panels.weights.model is trainer.model and panels.stepthrough.input_box.findData("trained") >= 0
    assert panels.autograd.input_box.findData("batch") >= 0
    w.open_template(presets_dir() / "lenet-tutorial.json")
    for _ in range(3):
        QApplication.processEvents()
    assert panels.training.trainer is None
    assert panels.autograd.input_box.findData("batch") < 0
    assert panels.weights.model is None and panels.session.live_model is None
    assert panels.stepthrough.input_box.findData("trained") < 0
    assert panels.autograd.refresh()  # the 32×32 network works with a random input again


def test_screenshot_of_a_corrupt_file_fails_fast(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    env = {**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen", "NETBUILDER_CONFIG_DIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "netbuilder.core.cli", "--screenshot", str(tmp_path / "x.png"), str(bad)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "invalid JSON" in r.stderr and not (tmp_path / "x.png").exists()


def test_opening_a_project_offers_its_checkpoint(app_window, tmp_path: Path) -> None:
    from netbuilder.core.model.project import save_project
    from netbuilder.core.train.trainer import TrainConfig, Trainer
    from netbuilder.gui.training.checkpoints import checkpoint_path_for

    w, panels = app_window
    project = tmp_path / "lenet.json"
    graph = load_preset("lenet5-mnist").graph
    save_project(project, graph)
    trainer = Trainer(graph, TrainConfig(dataset="sample", epochs=1, limit_steps=2, threads=1))
    trainer.run()
    trainer.save_checkpoint(str(checkpoint_path_for(project)))
    assert w.open_path(str(project))
    for _ in range(5):
        QApplication.processEvents()
    assert panels.training.offer_frame.isVisibleTo(panels.training)
