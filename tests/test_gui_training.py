"""The training panel (issue 5): runs in a worker thread, live plots, results, pause/resume/stop,
close guard, NaN runs, settings stored in the project, compatibility fixes, checkpoints."""

from __future__ import annotations

import threading

import pytest
import torch

pytest.importorskip("pytestqt")

from netbuilder.core.model.project import load_preset, to_dict
from netbuilder.core.train.checkpoint import load_checkpoint
from netbuilder.core.train.events import (
    EpochEvent,
    FailedEvent,
    FinishedEvent,
    GradStatsEvent,
    StepEvent,
    StoppedEvent,
)
from netbuilder.gui.editor.document import Document
from netbuilder.gui.training.checkpoints import graph_diff
from netbuilder.gui.training.panel import TrainingPanel
from netbuilder.gui.training.worker import choose_threads
from PySide6.QtWidgets import QMainWindow

RUN_TIMEOUT_MS = 180_000  # a safety net against hangs, not a speed requirement

torch.set_num_threads(1)


def make_panel(qtbot, **training) -> TrainingPanel:
    project = load_preset("lenet5-mnist")
    doc = Document(project.graph)
    doc.training = {"dataset": "sample", "epochs": 3, "schedule": "none", "lr": 0.05, "threads": 1,
                    "stats_every": 20, **training}
    panel = TrainingPanel(doc)
    qtbot.addWidget(panel)
    panel.resize(1300, 700)
    panel.show()
    qtbot.waitUntil(lambda: panel.dataset() is not None, timeout=RUN_TIMEOUT_MS)
    return panel


@pytest.fixture
def panels(qtbot):
    made: list[TrainingPanel] = []

    def factory(**training) -> TrainingPanel:
        p = make_panel(qtbot, **training)
        made.append(p)
        return p

    yield factory
    for p in made:
        p.shutdown()
        p.document.undo_stack.clear()


def wait_steps(qtbot, panel: TrainingPanel, n: int) -> None:
    qtbot.waitUntil(lambda: len(panel.plots.steps) >= n, timeout=RUN_TIMEOUT_MS)


def test_training_on_sample_fills_plots_results_and_unlocks(qtbot, panels):
    panel = panels()
    events: list[object] = []
    trainers: list[object] = []
    panel.event_received.connect(events.append)
    panel.trainer_changed.connect(trainers.append)
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as done:
        assert panel.start()
        assert panel.document.locked  # editing is locked while the run is active
        assert panel.lock_label.isVisibleTo(panel)
    final = done.args[0]
    assert isinstance(final, FinishedEvent), getattr(final, "message", final)
    steps = [e for e in events if isinstance(e, StepEvent)]
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    assert len(steps) == 3 * 94 and len(epochs) == 3  # 6000 samples / 64 = 94 steps per epoch
    assert any(isinstance(e, GradStatsEvent) for e in events)  # other views get every event
    counts = panel.plots.point_counts()
    assert counts["loss"] == counts["smoothed"] == counts["lr"] == 282
    assert counts["train_accuracy"] == counts["test_accuracy"] == counts["test_loss"] == 3
    assert panel.plots.redraw_count > 0
    assert final.test_accuracy > 0.5  # chance is 0.1
    assert epochs[-1].test_accuracy > epochs[0].test_accuracy or epochs[0].test_accuracy > 0.9
    # results: confusion matrix over the 1000 test images, gallery of the mistakes with labels
    m = panel.results.matrix.matrix
    assert m.shape == (10, 10) and int(m.sum()) == 1000
    wrong = int(m.sum() - m.trace())
    gallery = panel.results.gallery
    assert gallery.count() == min(wrong, 200) and wrong > 0
    text = gallery.item(0).text()
    idx, true, pred = gallery.entries[0]
    assert text == f"{true} → {pred}" and true != pred
    assert int(panel.trainer.dataset.test_y[idx]) == true
    # the run is over: unlocked, the trainer is kept for Try it and checkpoints
    assert not panel.document.locked and not panel.is_running()
    assert trainers and trainers[-1] is panel.trainer and panel.trainer.epoch == 3
    assert "95" in panel.progress.text() or "test accuracy" in panel.progress.text()


def test_pause_resume_stop_and_continue_the_same_curves(qtbot, panels):
    panel = panels(epochs=50)
    panel.start()
    wait_steps(qtbot, panel, 20)
    panel.pause()
    assert panel.trainer.paused and panel.pause_button.text() == "Resume"
    qtbot.wait(300)  # let the step that was running and its queued events arrive
    held = len(panel.plots.steps)
    qtbot.wait(500)
    assert len(panel.plots.steps) == held  # nothing moves while paused
    assert panel.is_running() and panel.document.locked
    assert panel.try_it.sample_button.isEnabled()  # the model can be tried while paused
    panel.resume()
    wait_steps(qtbot, panel, held + 10)
    stopped: list[object] = []
    panel.run_finished.connect(stopped.append)
    assert panel.stop(wait_ms=1000)  # the thread has ended within a second
    assert not panel.is_running() and not panel.active
    assert stopped and isinstance(stopped[0], StoppedEvent)
    assert not panel.document.locked
    n = len(panel.plots.steps)
    assert panel.plots.steps == [float(i) for i in range(1, n + 1)]
    assert panel.start_button.text().startswith("▶ Continue")
    # Start continues the same run: the curve goes on from the next step
    panel.start()
    wait_steps(qtbot, panel, n + 5)
    assert panel.stop(wait_ms=1000)
    steps = panel.plots.steps
    assert steps[: n + 5] == [float(i) for i in range(1, n + 6)]


def test_close_guard_asks_saves_a_checkpoint_and_leaves_no_thread(qtbot, panels, tmp_path, monkeypatch):
    before = {t.ident for t in threading.enumerate()}
    panel = panels(epochs=50)
    window = QMainWindow()
    window.close_guards = []  # the documented MainWindow API, standalone
    window.add_panel = lambda w, title, area, name: window.setCentralWidget(w)
    from PySide6.QtWidgets import QMenu

    tools = QMenu("Tools", window)
    window.menu = lambda name: tools
    window.widget = lambda: window
    window.status = lambda text, error=False: None
    panel.install(window)
    assert "start" in panel.train_actions and window.close_guards == [panel.confirm_close]
    project = tmp_path / "lenet.netbuilder"
    panel.document.set_path(project)
    panel.start()
    wait_steps(qtbot, panel, 10)
    asked: list[tuple[str, list[str]]] = []

    def answer(choice_index: int):
        def ask(title, text, buttons):
            asked.append((text, buttons))
            return buttons[choice_index]
        return ask

    monkeypatch.setattr(panel, "ask", answer(2))  # Cancel: keep training
    assert window.close_guards[0]() is False
    assert panel.is_running()
    monkeypatch.setattr(panel, "ask", answer(0))  # save a checkpoint and stop
    assert window.close_guards[0]() is True
    assert "lenet.ckpt" in asked[-1][1][0]
    assert not panel.is_running() and not panel.active and not panel.document.locked
    assert not panel.active
    ck = load_checkpoint(str(tmp_path / "lenet.ckpt"))
    assert ck.global_step == panel.trainer.global_step >= 10
    assert ck.history["step_loss"] == panel.trainer.history["step_loss"]  # nothing lost
    leftover = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()
                and not isinstance(t, threading._DummyThread)]
    assert leftover == []
    panel.shutdown()
    window.setCentralWidget(QMainWindow())  # release the panel before the window goes


def test_nan_run_shows_a_message_and_reenables_editing(qtbot, panels):
    panel = panels(lr=100.0, momentum=0.99, epochs=2)
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as done:
        panel.start()
    final = done.args[0]
    assert isinstance(final, FailedEvent)
    assert panel.message.isVisibleTo(panel)
    assert "training stopped" in panel.message.text() and "learning rate" in panel.message.text()
    if final.node:
        assert panel.document.selected_ids() == [final.node]  # the layer at fault is shown
    assert not panel.document.locked
    assert panel.start_button.isEnabled() and panel.start_button.text() == "▶ Start"
    assert all(w.isEnabled() for n, w in panel.form.widgets.items() if n != "data_dir")


def test_construction_errors_arrive_as_messages(qtbot, panels):
    panel = panels()
    g = panel.document.graph
    g.set_params("fc3", {"out_features": 7})  # 7 outputs for 10 classes
    panel.document.flush()
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as done:
        panel.start()
    assert isinstance(done.args[0], FailedEvent)
    assert "10 classes" in panel.message.text() and "fc3" in panel.message.text()
    assert panel.document.selected_ids() == ["fc3"]  # the node at fault is shown
    assert not panel.document.locked


def test_settings_are_stored_in_the_project_and_undoable(qtbot, panels):
    panel = panels()
    doc = panel.document
    assert panel.config().lr == 0.05 and panel.config().dataset == "sample"
    panel.form.lr_spin.setValue(0.02)
    panel.form.epochs_spin.setValue(7)
    panel.form.optimizer_box.setCurrentText("adam")
    assert doc.training["lr"] == 0.02 and doc.training["epochs"] == 7 and doc.training["optimizer"] == "adam"
    assert doc.modified
    assert doc.training["threads"] == 1  # settings the panel does not show are kept
    doc.undo_stack.undo()
    assert doc.training["optimizer"] == "sgd" if "optimizer" in doc.training else True
    assert panel.form.optimizer_box.currentText() == "sgd"
    doc.undo_stack.undo()
    assert panel.form.epochs_spin.value() == 3 and doc.training["epochs"] == 3
    # a project opened later shows its own settings
    doc.training = {"dataset": "sample", "lr": 0.3, "batch_size": 32}
    doc.graph.load_from(doc.graph.copy())
    qtbot.waitUntil(lambda: panel.form.lr_spin.value() == 0.3)
    assert panel.form.batch_spin.value() == 32


def test_compatibility_check_offers_fixes(qtbot, panels):
    panel = panels()
    doc = panel.document
    doc.graph.set_params("input", {"shape": (1, 32, 32)})
    doc.flush()
    assert panel.compat_problem() is not None
    assert panel.compat.label.text().startswith("✗")
    labels = [b.text() for b in panel.compat.fix_buttons]
    assert "Pad images" in labels and "Resize images" in labels and "Set Input to 1×28×28" in labels
    next(b for b in panel.compat.fix_buttons if b.text() == "Pad images").click()
    assert doc.training["fit_input"] == "pad" and panel.compat_problem() is None
    assert panel.compat.label.text().startswith("✓")
    doc.undo_stack.undo()
    assert panel.compat_problem() is not None
    next(b for b in panel.compat.fix_buttons if b.text().startswith("Set Input")).click()
    assert tuple(doc.graph.node("input").params["shape"]) == (1, 28, 28)
    assert panel.compat_problem() is None
    doc.undo_stack.undo()  # the shape change is an ordinary undoable edit
    doc.flush()
    assert tuple(doc.graph.node("input").params["shape"]) == (1, 32, 32)
    # Start refuses a mismatch with the explanation instead of failing later
    assert panel.start() is False and "32" in panel.message.text() and not doc.locked


def test_offline_download_names_the_folder_and_the_files(qtbot, panels, tmp_path):
    panel = panels()
    empty = tmp_path / "nodata"
    empty.mkdir()
    panel.form.data_dir_edit.setText(str(empty))
    panel.form.data_dir_edit.editingFinished.emit()
    panel.form.dataset_box.setCurrentIndex(panel.form.dataset_box.findData("mnist"))
    qtbot.waitUntil(lambda: "not found" in panel.data.status.text(), timeout=RUN_TIMEOUT_MS)
    assert panel.data.download_button.isVisibleTo(panel)
    panel.download()
    qtbot.waitUntil(lambda: "Could not download" in panel.data.status.text(), timeout=RUN_TIMEOUT_MS)
    text = panel.data.status.text()
    assert str(empty) in text and "train-images-idx3-ubyte.gz" in text and "t10k-labels-idx1-ubyte.gz" in text
    assert panel.start() is False and "not available" in panel.message.text()
    assert not panel.document.locked


def test_checkpoint_resume_continues_curves_and_explains_graph_differences(qtbot, panels, tmp_path, monkeypatch):
    panel = panels(epochs=1, limit_steps=30)
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS):
        panel.start()
    path = panel.save_checkpoint(tmp_path / "run.ckpt")
    assert path is not None and path.is_file()
    history = {k: list(v) for k, v in panel.trainer.history.items()}
    panel.new_run()
    assert panel.plots.point_counts()["loss"] == 0 and panel.trainer is None
    # the canvas now differs: loading explains how, node by node, and can be cancelled
    doc = panel.document
    doc.graph.set_params("fc1", {"out_features": 100})
    doc.flush()
    asked: list[str] = []
    monkeypatch.setattr(panel, "ask", lambda t, text, b: asked.append(text) or "Cancel")
    assert panel.load_checkpoint(path) is False
    assert "'fc1' (Linear): out_features 100 on the canvas, 120 in the checkpoint" in asked[0]
    monkeypatch.setattr(panel, "ask", lambda t, text, b: b[0])
    assert panel.load_checkpoint(path) is True
    qtbot.waitUntil(lambda: panel.trainer is not None, timeout=RUN_TIMEOUT_MS)
    assert doc.graph.node("fc1").params["out_features"] == 120  # the checkpoint's network is on the canvas
    assert panel.plots.point_counts()["loss"] == 30 and panel.plots.losses == history["step_loss"]
    assert panel.results.matrix.matrix.sum() == 1000
    assert panel.try_it.sample_button.isEnabled()
    # raise the epochs: Start continues the loaded run, the curves go on from step 31
    panel.form.epochs_spin.setValue(2)
    assert panel.start_button.text().startswith("▶ Continue")
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as done:
        panel.start()
    assert isinstance(done.args[0], FinishedEvent)
    assert panel.plots.steps == [float(i) for i in range(1, 61)]
    assert panel.plots.losses[:30] == history["step_loss"]
    assert panel.plots.point_counts()["test_accuracy"] == 2


def test_offer_checkpoint_when_a_project_is_opened(qtbot, panels, tmp_path):
    panel = panels(epochs=1, limit_steps=5)
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS):
        panel.start()
    panel.save_checkpoint(tmp_path / "proj.ckpt")
    panel.new_run()
    panel.document.set_path(tmp_path / "proj.netbuilder")
    assert panel.offer_frame.isVisibleTo(panel)
    assert "proj.ckpt" in panel.offer_label.text() and "epoch 1" in panel.offer_label.text()
    panel.offer_load.click()
    qtbot.waitUntil(lambda: panel.trainer is not None, timeout=RUN_TIMEOUT_MS)
    assert panel.trainer.global_step == 5


def test_graph_diff_lists_added_removed_and_changed_nodes():
    a = load_preset("lenet5-mnist").graph
    b = a.copy()
    assert graph_diff(a, b) == []
    b.set_params("conv1", {"out_channels": 8})
    b.move_node("conv2", (999, 999))  # positions do not count
    b.add_node("Dropout", node_id="drop")
    lines = graph_diff(a, b)
    assert "'conv1' (Conv2d): out_channels 6 on the canvas, 8 in the checkpoint" in lines
    assert "'drop' (Dropout) is in the checkpoint but not on the canvas" in lines
    b.remove_node("drop")
    b.remove_node("relu4")
    lines = graph_diff(a, b)
    assert "'relu4' (ReLU) is on the canvas but not in the checkpoint" in lines
    assert any(line.startswith("connection fc2 → relu4") for line in lines)
    assert to_dict(a) != to_dict(b)


def test_thread_choice_leaves_the_gui_a_core():
    assert choose_threads(2) == 1
    assert choose_threads(1) == 1
    assert choose_threads(8) == 7


def test_document_locked_mid_run_refuses_edits(qtbot, panels):
    from netbuilder.gui.editor import commands

    panel = panels(epochs=50)
    panel.start()
    wait_steps(qtbot, panel, 3)
    doc = panel.document
    with pytest.raises(commands.LockedError):
        commands.execute(doc, commands.SetParams(doc, "fc1", {"out_features": 50}))
    assert not panel.form.lr_spin.isEnabled()
    assert panel.stop(wait_ms=1000)
    assert not doc.locked and panel.form.lr_spin.isEnabled()


def test_results_view_filters_mistakes_by_cell(qtbot):
    from netbuilder.core.train.data import load_dataset
    from netbuilder.gui.training.results import ResultsView

    ds = load_dataset("sample")
    view = ResultsView()
    qtbot.addWidget(view)
    conf = [[0] * 10 for _ in range(10)]
    y = ds.test_y.tolist()
    mis, preds = [], []
    for i, t in enumerate(y[:50]):
        p = (t + 1) % 10
        conf[t][p] += 1
        mis.append(i)
        preds.append(p)
    for t in y[50:]:
        conf[t][t] += 1
    view.show_epoch(EpochEvent(1, 0.5, 0.9, 0.4, 0.95, 1.0, conf, mis, preds), ds)
    assert view.gallery.count() == 50
    t0, p0 = y[0], (y[0] + 1) % 10
    view.matrix.cell_clicked.emit(t0, p0)
    expected = sum(1 for t in y[:50] if t == t0)
    assert view.gallery.count() == expected
    assert f"{t0} taken for {p0}" in view.gallery_label.text()
    assert "95.00 %" in view.heading.text()


def test_plots_redraw_on_a_timer_not_per_event(qtbot):
    from netbuilder.gui.training.plots import TrainingPlots, ema

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.show()
    start = plots.redraw_count
    for i in range(1, 2001):  # far more events than redraws
        plots.add_event(StepEvent(1, i, 2000, i, 2000, 2.0 / i, 0.1, 1000.0, 1.0))
    assert plots.redraw_count == start  # buffered only
    qtbot.waitUntil(lambda: plots.point_counts()["loss"] == 2000)
    assert plots.redraw_count - start <= 3
    assert plots.smoothed == pytest.approx(ema(plots.losses))
    text = plots.loss_plot.readout_at(10.2)
    assert text.startswith("step 10:") and "loss 0.2000" in text and "smoothed" in text


def test_opening_another_project_mid_run_asks_stops_and_resets(qtbot, panels, monkeypatch):
    from netbuilder.gui.editor.main_window import MainWindow

    panel = panels(epochs=50)
    window = MainWindow(panel.document, autosave_ms=10**9)
    try:
        panel.install(window)
        panel.start()
        wait_steps(qtbot, panel, 5)
        monkeypatch.setattr(panel, "ask", lambda t, text, b: "Cancel")
        assert window.files.new() is False and panel.is_running()  # cancelled: the run goes on
        monkeypatch.setattr(panel, "ask", lambda t, text, b: "Stop without saving")
        assert window.files.new() is not False
        qtbot.waitUntil(lambda: panel.trainer is None)
        assert not panel.is_running() and not panel.document.locked
        assert panel.plots.point_counts()["loss"] == 0
    finally:
        panel.shutdown()
        window.shutdown()


# ---------------------------------------------------------------- background tasks, starting weights, saves
def fake_download(monkeypatch, calls: list[str]):
    """Replace the panel's dataset loader: the sample loads for real, other datasets are "not found"
    without download and download "forever" (reporting progress) with it, until cancelled."""
    import time as _time

    import netbuilder.gui.training.datasets as tp
    from netbuilder.core.train.data import DataError

    real = tp.load_dataset

    def load(name, folder=None, download=False, progress=None):
        if name == "sample":
            return real(name, folder)
        if not download:
            raise DataError(f"{name} not found")
        calls.append("download")
        done = 0
        deadline = _time.monotonic() + 60  # never reached when cancelling works
        while _time.monotonic() < deadline:
            done += 1 << 16
            progress(done, 10 << 20, "train-images-idx3-ubyte.gz")  # raises once cancelled
            _time.sleep(0.01)
        calls.append("ran out")
        raise DataError("fake download ran out")

    monkeypatch.setattr(tp, "load_dataset", load)


def start_fake_download(qtbot, panel) -> None:
    panel.form.dataset_box.setCurrentIndex(panel.form.dataset_box.findData("mnist"))
    qtbot.waitUntil(lambda: "not found" in panel.data.status.text(), timeout=RUN_TIMEOUT_MS)
    panel.download()
    qtbot.waitUntil(lambda: panel.data.download_bar.maximum() == 1000, timeout=RUN_TIMEOUT_MS)  # progress arrives
    assert panel.is_downloading() and panel.data.cancel_button.isVisibleTo(panel)


def test_download_blocks_checkpoint_loading_and_can_be_cancelled(qtbot, panels, monkeypatch, tmp_path):
    panel = panels(epochs=1, limit_steps=3)
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS):
        panel.start()
    ck = panel.save_checkpoint(tmp_path / "proj.ckpt")
    panel.new_run()
    calls: list[str] = []
    fake_download(monkeypatch, calls)
    panel.document.set_path(tmp_path / "proj.netbuilder")
    assert panel.offer_frame.isVisibleTo(panel)
    start_fake_download(qtbot, panel)
    # loading a checkpoint now used to wait, give up and drop the running thread (the process aborted)
    assert not panel.offer_load.isEnabled() and not panel.load_ckpt_button.isEnabled()
    assert panel.load_checkpoint(ck) is False
    assert "download" in panel.message.text()
    assert panel.is_downloading() and panel.trainer is None
    assert panel.cancel_download(wait_ms=10_000)
    assert not panel.is_downloading() and not panel.tasks.busy
    assert "cancelled" in panel.data.status.text() and "Download" not in panel.progress.text()
    assert calls == ["download"]
    assert panel.offer_load.isEnabled()  # the offer works again once the task has ended
    panel.offer_load.click()
    qtbot.waitUntil(lambda: panel.trainer is not None, timeout=RUN_TIMEOUT_MS)


def test_closing_the_window_mid_download_asks_and_cancels_it(qtbot, panels, monkeypatch):
    from netbuilder.gui.editor.main_window import MainWindow

    before = {t.ident for t in threading.enumerate()}
    panel = panels()
    window = MainWindow(panel.document, autosave_ms=10**9)
    try:
        panel.install(window)
        window.show()
        calls: list[str] = []
        fake_download(monkeypatch, calls)
        start_fake_download(qtbot, panel)
        panel.document.undo_stack.setClean()  # no "save changes?" dialog for the dataset choice
        asked: list[list[str]] = []
        monkeypatch.setattr(panel, "ask", lambda t, text, b: asked.append(b) or "Keep downloading")
        assert window.files.new() is not False  # New/Open do not touch a download (it belongs to no project)
        assert asked == [] and panel.is_downloading()
        window.close()
        assert asked and window.isVisible() and panel.is_downloading()  # kept: the close was cancelled
        monkeypatch.setattr(panel, "ask", lambda t, text, b: asked.append(b) or "Cancel the download and close")
        window.close()
        assert not window.isVisible()
        assert not panel.is_downloading() and "ran out" not in calls
        panel.shutdown()
        leftover = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()
                    and not isinstance(t, threading._DummyThread)]
        assert leftover == []
    finally:
        panel.shutdown()
        window.shutdown()


def test_cancelling_a_real_fetch_stops_without_trying_other_mirrors(tmp_path, monkeypatch):
    import netbuilder.core.train.data as data
    import netbuilder.core.train.download as download
    from netbuilder.gui.training.worker import TaskCancelled, TaskWorker

    src = tmp_path / "mirror"
    src.mkdir()
    (src / "train-images-idx3-ubyte.gz").write_bytes(b"x" * (2 << 20))  # 32 chunks of 64 KiB
    mirror = src.as_uri() + "/"
    monkeypatch.setattr(download, "_resources",
                        lambda name: ([mirror, mirror], [("train-images-idx3-ubyte.gz", "0" * 32)]))
    reports: list[int] = []
    outcome: list[object] = []

    def job(progress):
        def counting(done, total, name):
            reports.append(done)
            if len(reports) == 3:
                worker.cancel()
            progress(done, total, name)
        return data.load_dataset("mnist", tmp_path / "root", download=True, progress=counting)

    worker = TaskWorker(job)
    worker.failed.connect(lambda msg, exc: outcome.append(exc))
    worker.finished.connect(outcome.append)
    worker.run()  # in this thread: signals are delivered directly
    assert len(outcome) == 1 and isinstance(outcome[0], TaskCancelled)
    assert len(reports) == 3  # stopped at once; a second mirror was not tried
    left = [p.name for p in (tmp_path / "root").rglob("*") if p.is_file()]
    assert left == []  # the partial file is removed


def test_starting_weights_belong_to_their_project(qtbot, panels):
    from netbuilder.gui.editor.main_window import MainWindow

    panel = panels()
    window = MainWindow(panel.document, autosave_ms=10**9)
    try:
        panel.install(window)
        state = {"fc3.weight": torch.zeros(10, 84), "fc3.bias": torch.zeros(10)}
        # what File ▸ Import PyTorch model does: load the network, then hand over its weights
        window.files.load_graph(load_preset("lenet5-mnist").graph, {}, None, modified=True)
        panel.set_initial_weights(state, "Net in model.py")
        qtbot.wait(50)  # the document reset's deferred handling has run
        assert panel.initial_weights is not None
        assert panel.message.isVisibleTo(panel) and "weights of Net in model.py" in panel.message.text()
        assert panel.weights_frame.isVisibleTo(panel) and "Net in model.py" in panel.weights_label.text()
        panel.document.graph.set_params("fc1", {"out_features": 100})  # editing keeps them
        panel.document.flush()
        qtbot.wait(20)
        assert panel.initial_weights is not None
        # another project must not train from the imported weights
        panel.document.undo_stack.setClean()  # no "save changes?" dialog
        assert window.files.new() is not False
        qtbot.waitUntil(lambda: panel.initial_weights is None)
        assert not panel.weights_frame.isVisibleTo(panel)
        window.files.load_graph(load_preset("lenet5-mnist").graph, {}, None, modified=True)
        panel.set_initial_weights(state, "run.ckpt")
        qtbot.wait(50)
        assert panel.weights_frame.isVisibleTo(panel)
        panel.weights_clear.click()  # Start from random weights
        assert panel.initial_weights is None and not panel.weights_frame.isVisibleTo(panel)
    finally:
        panel.shutdown()
        window.shutdown()


def test_save_checkpoint_while_paused_and_not_while_training(qtbot, panels, tmp_path):
    panel = panels(epochs=50)
    panel.start()
    wait_steps(qtbot, panel, 5)
    assert not panel.save_ckpt_button.isEnabled()
    assert panel.save_checkpoint(tmp_path / "busy.ckpt") is None and "Pause or stop" in panel.message.text()
    assert not (tmp_path / "busy.ckpt").exists()
    panel.pause()
    assert panel.save_ckpt_button.isEnabled()
    path = panel.save_checkpoint(tmp_path / "paused.ckpt")
    assert path is not None
    ck = load_checkpoint(str(path))
    t = panel.trainer
    assert ck.global_step == t.global_step and len(ck.history["step_loss"]) == ck.global_step
    # paused during a test-set evaluation, the pause only begins after it: Save waits for that
    spe = t.steps_per_epoch
    panel.session._on_event(StepEvent(1, spe, spe, spe, spe * 50, 1.0, 0.05, 1000.0, 1.0))
    assert not panel.save_ckpt_button.isEnabled()
    assert panel.save_checkpoint(tmp_path / "eval.ckpt") is None and "evaluation" in panel.message.text()
    panel.session._on_event(EpochEvent(1, 1.0, 0.5, 1.0, 0.5, 1.0, [[0] * 10 for _ in range(10)], [], []))
    assert panel.save_ckpt_button.isEnabled()
    panel.resume()
    assert not panel.save_ckpt_button.isEnabled()
    assert panel.stop(wait_ms=1000)
