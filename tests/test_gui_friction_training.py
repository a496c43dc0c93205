"""What a new user trips over in training (issue 13, points 1–4), driven as a user would: wheel events
over unfocused fields, a scrolled settings form, the first run without data, New run vs Continue."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("pytestqt")

from netbuilder.core.model.graph import Graph
from netbuilder.core.model.layers import input_spec
from netbuilder.core.model.project import load_preset, presets_dir
from netbuilder.core.train.events import EpochEvent, FinishedEvent, StepEvent
from netbuilder.gui.editor.document import Document
from netbuilder.gui.editor.inspector import Inspector
from netbuilder.gui.training.panel import TrainingPanel
from netbuilder.gui.widgets import install_wheel_guard
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QAbstractScrollArea, QApplication, QPushButton, QSpinBox, QWidget

RUN_TIMEOUT_MS = 180_000  # a safety net against hangs, not a speed requirement
SHARED_MNIST = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "mnist"
FAST = {"dataset": "sample", "epochs": 1, "limit_steps": 5, "schedule": "none", "lr": 0.05, "threads": 1,
        "stats_every": 0}

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _guard(qtbot):
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    install_wheel_guard(app)  # as gui/app.py does at start-up


@pytest.fixture
def panels(qtbot):
    made: list[TrainingPanel] = []

    def factory(size: tuple[int, int] = (1300, 700), wait: bool = True, **training: object) -> TrainingPanel:
        doc = Document(load_preset("lenet5-mnist").graph)
        doc.training = dict(training)
        panel = TrainingPanel(doc)
        qtbot.addWidget(panel)
        panel.resize(*size)
        panel.show()
        made.append(panel)
        if wait:
            qtbot.waitUntil(lambda: panel.dataset() is not None, timeout=RUN_TIMEOUT_MS)
        return panel

    yield factory
    for p in made:
        p.shutdown()
        p.document.undo_stack.clear()


def wheel(widget: QWidget, ticks: int = -1) -> None:
    """One real wheel event per tick over ``widget``'s centre (negative: scroll down)."""
    centre = widget.rect().center()
    for _ in range(abs(ticks)):
        ev = QWheelEvent(QPointF(centre), QPointF(widget.mapToGlobal(centre)), QPoint(0, 0),
                         QPoint(0, 120 if ticks > 0 else -120), Qt.MouseButton.NoButton,
                         Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(widget, ev)


def focus(qtbot, widget: QWidget) -> None:
    widget.window().activateWindow()
    qtbot.waitUntil(lambda: widget.window().isActiveWindow())
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)  # a click gives a StrongFocus field focus
    qtbot.waitUntil(widget.hasFocus)


def visible_buttons(panel: QWidget, word: str) -> list[QPushButton]:
    return [b for b in panel.findChildren(QPushButton) if b.isVisibleTo(panel) and word in b.text()]


# ---------------------------------------------------------------------------- 1: the wheel
def test_wheel_over_unfocused_training_fields_scrolls_the_form(qtbot, panels):
    panel = panels(size=(1300, 320), dataset="sample", batch_size=64, lr=0.05)
    form, bar = panel.form, panel.settings_area.verticalScrollBar()
    assert bar.maximum() > 0  # the form scrolls at this height
    assert form.batch_spin.focusPolicy() == Qt.FocusPolicy.StrongFocus  # the wheel gives no focus
    wheel(form.batch_spin, -3)
    wheel(form.lr_spin, -1)
    wheel(form.optimizer_box, -1)
    assert form.batch_spin.value() == 64 and form.lr_spin.value() == pytest.approx(0.05)
    assert form.optimizer_box.currentText() == "sgd"
    assert bar.value() > 0  # the form scrolled instead
    assert panel.document.undo_stack.count() == 0
    # once the user clicked into it, the wheel edits the field as before
    focus(qtbot, form.batch_spin)
    moved = bar.value()
    wheel(form.batch_spin, 1)
    assert form.batch_spin.value() == 65 and bar.value() == moved


def test_wheel_over_unfocused_inspector_fields_scrolls_the_inspector(qtbot):
    g = Graph("Net")
    g.add_node(input_spec().type_name, "input", {"shape": [1, 28, 28]})
    g.add_node("Conv2d", "conv", {"in_channels": 1, "out_channels": 6, "kernel_size": 5})
    doc = Document(g)
    inspector = Inspector(doc)
    qtbot.addWidget(inspector)
    inspector.resize(320, 160)
    inspector.show()
    doc.select_nodes(["conv"])
    area: QAbstractScrollArea = inspector.scroll_area
    bar = area.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    spin = next(s for s in inspector.findChildren(QSpinBox) if s.isVisibleTo(inspector))
    before = spin.value()
    wheel(spin, -2)
    assert spin.value() == before and bar.value() > 0
    focus(qtbot, spin)
    wheel(spin, 1)
    assert spin.value() == before + 1
    doc.undo_stack.clear()


# ---------------------------------------------------------------------------- 2: pinned controls
def test_run_controls_stay_visible_and_clickable_with_the_form_scrolled_down(qtbot, panels):
    panel = panels(size=(1300, 360), **{**FAST, "epochs": 50, "limit_steps": None})
    bar = panel.settings_area.verticalScrollBar()
    assert bar.maximum() > 0
    wheel(panel.settings_area.viewport(), -30)  # the user scrolls the settings to the bottom
    assert bar.value() == bar.maximum()
    for w in (panel.start_button, panel.pause_button, panel.stop_button, panel.progress):
        assert w.isVisibleTo(panel) and not w.visibleRegion().isEmpty(), w
        top_left = w.mapTo(panel, QPoint(0, 0))
        assert panel.rect().contains(top_left) and panel.rect().contains(top_left + w.rect().bottomRight())
    assert "F5" in panel.start_button.toolTip() and "F6" in panel.pause_button.toolTip()
    assert "Shift+F5" in panel.stop_button.toolTip()
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.active
    qtbot.waitUntil(lambda: panel.pause_button.isEnabled(), timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert not panel.active


# ---------------------------------------------------------------------------- 3: the first run
@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """A fresh install: empty settings, no NETBUILDER_DATA, nothing in the per-user cache."""
    monkeypatch.setenv("NETBUILDER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("NETBUILDER_DATA", raising=False)
    return tmp_path


def test_first_launch_without_data_offers_three_ways_and_f5_trains_on_the_sample(qtbot, no_data):
    from netbuilder.gui import theme
    from netbuilder.gui.editor.main_window import MainWindow
    from netbuilder.gui.panels import install_all

    theme.apply(False)
    w = MainWindow()
    panels_ = install_all(w)
    panel = panels_.training
    try:
        w.resize(1400, 900)
        w.show()
        w.open_template(presets_dir() / "lenet5-mnist.json")
        offer = panel.data.offer
        qtbot.waitUntil(lambda: offer.frame.isVisibleTo(panel), timeout=RUN_TIMEOUT_MS)
        assert [b.text() for b in offer.buttons() if b.isVisibleTo(panel)] == \
            ["Download", "Choose folder…", "Use the bundled sample"]
        w.activateWindow()
        qtbot.waitUntil(w.isActiveWindow)
        qtbot.keyClick(w, Qt.Key.Key_F5)
        assert not panel.active and "not available" in panel.message.text()
        qtbot.mouseClick(offer.sample_button, Qt.MouseButton.LeftButton)  # the one click that trains
        qtbot.waitUntil(lambda: panel.active, timeout=RUN_TIMEOUT_MS)
        assert panel.dataset_key() == ("sample", None) and not offer.frame.isVisibleTo(panel)
        qtbot.waitUntil(lambda: len(panel.plots.steps) >= 3, timeout=RUN_TIMEOUT_MS)
        panel.stop(wait_ms=30_000)
        # and again with F5 alone, now that the sample is chosen
        with qtbot.waitSignal(panel.run_started, timeout=RUN_TIMEOUT_MS):
            qtbot.keyClick(w, Qt.Key.Key_F5)
            qtbot.keyClick(w, Qt.Key.Key_F5)  # the stopped run continues, or a new one starts
        panel.stop(wait_ms=30_000)
    finally:  # as tests/test_gui_app.py's window fixture ends
        panel.shutdown()
        w.shutdown()
        w.close()
        w.deleteLater()
        QApplication.processEvents()


def test_the_chosen_data_folder_is_the_default_of_the_next_project_and_session(qtbot, panels, no_data):
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("the real MNIST is not beside the checkout")
    first = panels(wait=False)
    offer = first.data.offer
    qtbot.waitUntil(lambda: offer.frame.isVisibleTo(first), timeout=RUN_TIMEOUT_MS)
    first.choose_directory = lambda _title, _start: str(SHARED_MNIST)  # type: ignore[method-assign]
    qtbot.mouseClick(offer.choose_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: first.dataset() is not None, timeout=RUN_TIMEOUT_MS)
    assert not offer.frame.isVisibleTo(first)
    # a new project (and a new session: a new panel reads the settings afresh) names no folder
    second = panels(wait=False)
    assert second.document.training.get("data_dir") is None
    assert second.dataset_key() == ("mnist", str(SHARED_MNIST))
    assert second.form.data_dir_edit.placeholderText() == str(SHARED_MNIST)
    qtbot.waitUntil(lambda: second.dataset() is not None, timeout=RUN_TIMEOUT_MS)


def test_netbuilder_data_wins_over_the_remembered_folder(qtbot, panels, no_data, monkeypatch):
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("the real MNIST is not beside the checkout")
    from netbuilder.gui.training.datasets import remember_data_dir

    empty = no_data / "empty"
    empty.mkdir()
    remember_data_dir(str(empty))
    monkeypatch.setenv("NETBUILDER_DATA", str(SHARED_MNIST))
    panel = panels(wait=False)
    assert panel.form.data_dir_edit.placeholderText() == str(SHARED_MNIST)
    qtbot.waitUntil(lambda: panel.dataset() is not None, timeout=RUN_TIMEOUT_MS)
    assert not panel.data.offer.frame.isVisibleTo(panel)


# ---------------------------------------------------------------------------- 4: New run vs Continue
def test_after_a_run_new_run_starts_afresh_and_continue_adds_epochs(qtbot, panels):
    panel = panels(**{**FAST, "schedule": "step"})
    events: list[object] = []
    panel.event_received.connect(events.append)
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as done:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert isinstance(done.args[0], FinishedEvent)
    first = panel.trainer
    assert first is not None
    trained = first.model.state_dict()
    name = next(iter(trained))
    w1 = trained[name].detach().clone()
    # both ways on are offered, visibly; the count is stated as added epochs
    assert panel.new_run_button.isVisibleTo(panel) and panel.run.continue_button.isVisibleTo(panel)
    assert panel.run.continue_button.text() == "Continue for 1 more epoch"
    assert not panel.start_button.isVisibleTo(panel)  # no third button that guesses

    events.clear()
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(panel.run.continue_button, Qt.MouseButton.LeftButton)
    assert panel.trainer is first and first.epoch == 2  # the same weights, trained on
    assert [e.epoch for e in events if isinstance(e, EpochEvent)] == [2]
    lrs = {round(e.lr, 9) for e in events if isinstance(e, StepEvent)}
    assert lrs == {round(0.05 * 0.1, 9)}  # the step schedule went on, not back to 0.05
    assert panel.plots.steps == [float(i) for i in range(1, 11)]  # the curves go on
    assert not torch.equal(first.model.state_dict()[name], w1)
    assert panel.run.continue_button.isVisibleTo(panel)

    events.clear()
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(panel.new_run_button, Qt.MouseButton.LeftButton)
    fresh = panel.trainer
    assert fresh is not None and fresh is not first and fresh.epoch == 1
    assert [e.epoch for e in events if isinstance(e, EpochEvent)] == [1]
    assert panel.plots.steps == [float(i) for i in range(1, 6)]
    # re-initialised: the same seed from new random weights gives the first run's weights again
    assert torch.allclose(fresh.model.state_dict()[name], w1)


def test_f5_after_a_finished_run_is_a_new_run_even_with_more_epochs(qtbot, panels):
    panel = panels(**FAST)
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS):
        panel.start()
    first = panel.trainer
    panel.form.epochs_spin.setValue(2)  # Epochs is no total to top up: it is the new run's length
    assert panel.run.continue_button.text() == "Continue for 2 more epochs"
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS):
        panel.start()
    assert panel.trainer is not first and panel.trainer is not None and panel.trainer.epoch == 2


def test_paused_shows_one_resume_button(qtbot, panels):
    panel = panels(**{**FAST, "epochs": 50, "limit_steps": None})
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(panel.plots.steps) >= 3 or bool(panel.session.final), timeout=RUN_TIMEOUT_MS)
    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    assert panel.session.paused
    assert len(visible_buttons(panel, "Resume")) == 1
    qtbot.mouseClick(visible_buttons(panel, "Resume")[0], Qt.MouseButton.LeftButton)
    assert not panel.session.paused
    panel.stop(wait_ms=30_000)


def test_a_sequence_input_gets_a_read_rows_fix_that_makes_mnist_fit(qtbot, tmp_path) -> None:
    """An LSTM's Input [28, 28] on MNIST: the compatibility line offers 'Read rows', and one click
    sets the rows fit, after which the data fits."""
    from netbuilder.core.model.project import load_preset
    from netbuilder.gui.editor.document import Document
    from netbuilder.gui.training.panel import TrainingPanel
    from PySide6.QtCore import Qt

    project = load_preset("lstm-mnist-rows")
    doc = Document(project.graph)
    doc.training = {**project.training, "fit_input": "none", "dataset": "sample"}
    panel = TrainingPanel(doc)
    qtbot.addWidget(panel)
    panel.compat.update()
    assert panel.compat.problem() is not None
    rows = [b for b in panel.compat.fix_buttons if b.text() == "Read rows"]
    assert rows, [b.text() for b in panel.compat.fix_buttons]
    qtbot.mouseClick(rows[0], Qt.MouseButton.LeftButton)
    assert panel.form.value("fit_input") == "rows" and panel.compat.problem() is None
