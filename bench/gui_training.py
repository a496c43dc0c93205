"""Training from the GUI against the headless engine, side by side, and the GUI's responsiveness.

Run: python bench/gui_training.py [--steps 300] [--repeats 2] [--dataset mnist|sample]

Both sides train LeNet-5 with the same settings (batch 64, SGD, the same torch thread count the GUI
picks: cores − 1, so 1 on a 2-core machine) on the same in-memory dataset, alternating
headless / GUI runs so machine noise hits both. The GUI side is the real training panel, shown,
with its live plots redrawing. Printed: seconds per epoch (the engine's own epoch timing, and wall
time from Start to the end event), the GUI/headless ratio (target ≤ 1.05), and the GUI thread's
event-loop latency while training, from a 5 ms QTimer probe: how late each tick fires (targets:
p99 < 50 ms, worst < 100 ms). ``--steps`` caps the steps per epoch so a run takes seconds.

``--screenshots DIR`` instead trains LeNet-5 on the real MNIST for one epoch in the main window (run
it under Xvfb) and saves training-running.png, training-done.png and try-it.png into DIR.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "datasets" / "mnist"
if "NETBUILDER_DATA" not in os.environ and SHARED.is_dir():
    os.environ["NETBUILDER_DATA"] = str(SHARED)


def settings(dataset: str, steps: int | None, threads: int) -> dict:
    return {"dataset": dataset, "epochs": 1, "batch_size": 64, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9,
            "schedule": "none", "seed": 0, "threads": threads, "limit_steps": steps}


def headless(graph, cfg_dict: dict, ds) -> dict:
    from netbuilder.core.train.events import FinishedEvent
    from netbuilder.core.train.trainer import TrainConfig, Trainer

    t0 = time.perf_counter()
    trainer = Trainer(graph, TrainConfig.from_dict(cfg_dict), ds)
    final = trainer.run()
    wall = time.perf_counter() - t0
    assert isinstance(final, FinishedEvent), final
    return {"epoch_s": trainer.history["epoch_seconds"][-1], "wall_s": wall, "acc": final.test_accuracy}


def gui_run(app, graph, cfg_dict: dict, ds, probe_ms: int = 5) -> dict:
    from netbuilder.core.train.events import FinishedEvent
    from netbuilder.gui.editor.document import Document
    from netbuilder.gui.training.panel import TrainingPanel
    from PySide6.QtCore import QEventLoop, QTimer

    doc = Document(graph.copy())
    doc.training = dict(cfg_dict)
    panel = TrainingPanel(doc)
    panel.loader.datasets[panel.dataset_key()] = ds  # the same in-memory data as the headless side
    panel.resize(1400, 800)
    panel.show()
    for _ in range(20):
        app.processEvents()
    lateness: list[float] = []
    last = [0.0]

    def tick() -> None:
        now = time.perf_counter()
        if last[0]:
            lateness.append(max(0.0, now - last[0] - probe_ms / 1000))
        last[0] = now

    probe = QTimer()
    probe.setTimerType(probe.timerType().PreciseTimer)
    probe.setInterval(probe_ms)
    probe.timeout.connect(tick)
    done: list[object] = []
    loop = QEventLoop()
    panel.run_finished.connect(done.append)
    panel.run_finished.connect(loop.quit)
    t0 = time.perf_counter()
    assert panel.start()
    probe.start()
    loop.exec()  # the GUI thread waits for events exactly as the application's exec() does
    wall = time.perf_counter() - t0
    probe.stop()
    final = done[0]
    assert isinstance(final, FinishedEvent), final
    trainer = panel.trainer
    result = {"epoch_s": trainer.history["epoch_seconds"][-1], "wall_s": wall, "acc": final.test_accuracy,
              "lateness": lateness, "redraws": panel.plots.redraw_count}
    panel.shutdown()
    panel.close()
    doc.undo_stack.clear()
    panel.deleteLater()
    app.processEvents()
    return result


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def bench(args: argparse.Namespace) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from netbuilder.core.model.project import load_preset
    from netbuilder.core.train.data import load_dataset
    from netbuilder.gui.training.worker import choose_threads, prepare_process
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    ds = load_dataset(args.dataset)
    graph = load_preset("lenet5-mnist").graph
    threads = choose_threads()
    cfg = settings(args.dataset, args.steps, threads)
    prepare_process()  # the app does this at start-up; headless runs see the same interpreter state
    steps = min(args.steps or 10**9, -(-len(ds.train_y) // 64))
    print(f"LeNet-5 on {args.dataset}: {steps} steps of 64 per epoch, {threads} torch thread(s), "
          f"{os.cpu_count()} cores, {args.repeats} alternating repeats, load average {os.getloadavg()[0]:.1f}")
    h_runs, g_runs = [], []
    for r in range(args.repeats):
        h_runs.append(headless(graph, cfg, ds))
        g_runs.append(gui_run(app, graph, cfg, ds))
        h, g = h_runs[-1]["epoch_s"], g_runs[-1]["epoch_s"]
        print(f"  repeat {r + 1}: headless {h:.2f} s/epoch, GUI {g:.2f} s/epoch")
    best = min(x["epoch_s"] for x in g_runs) / min(x["epoch_s"] for x in h_runs)
    h_epoch = statistics.median(x["epoch_s"] for x in h_runs)
    g_epoch = statistics.median(x["epoch_s"] for x in g_runs)
    h_wall = statistics.median(x["wall_s"] for x in h_runs)
    g_wall = statistics.median(x["wall_s"] for x in g_runs)
    late = [v * 1000 for x in g_runs for v in x["lateness"]]
    print()
    print(f"{'':28}{'headless':>10}{'GUI':>10}{'GUI/headless':>14}")
    print(f"{'seconds per epoch (engine)':28}{h_epoch:10.2f}{g_epoch:10.2f}{g_epoch / h_epoch:14.3f}")
    print(f"{'wall seconds, start to end':28}{h_wall:10.2f}{g_wall:10.2f}{g_wall / h_wall:14.3f}")
    print(f"{'fastest run (engine)':28}{min(x['epoch_s'] for x in h_runs):10.2f}"
          f"{min(x['epoch_s'] for x in g_runs):10.2f}{best:14.3f}")
    print(f"{'test accuracy':28}{h_runs[-1]['acc']:10.4f}{g_runs[-1]['acc']:10.4f}")
    print()
    print(f"GUI event-loop lateness while training ({len(late)} ticks of a 5 ms timer): "
          f"median {statistics.median(late):.1f} ms, p99 {pct(late, 0.99):.1f} ms, worst {max(late):.1f} ms "
          f"(targets: p99 < 50, worst < 100); plot redraws per run: {g_runs[-1]['redraws']}")
    ok = g_epoch / h_epoch <= 1.05 and pct(late, 0.99) < 50 and max(late) < 100
    print("targets met" if ok else "TARGETS MISSED")
    return 0


def screenshots(args: argparse.Namespace) -> int:
    """One epoch of LeNet-5 on MNIST in the real main window; three PNGs."""
    import netbuilder.core.model.codegen  # noqa: F401  (torch)
    from netbuilder.core.model.project import load_preset
    from netbuilder.gui import theme
    from netbuilder.gui.editor.main_window import MainWindow
    from netbuilder.gui.training.panel import TrainingPanel
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    out = Path(args.screenshots)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    theme.apply(False)
    window = MainWindow(autosave_ms=10**9)
    project = load_preset("lenet5-mnist")
    window._load(project.graph, {"dataset": "mnist", "epochs": 1, "limit_steps": args.steps}, None)
    panel = TrainingPanel(window.document)
    dock = panel.install(window)
    window.resize(1600, 1000)
    window.show()
    if getattr(window, "summary_dock", None) is not None:
        window.summary_dock.hide()  # give the training panel the whole bottom row
    dock.show()
    dock.raise_()
    window.resizeDocks([dock], [580], Qt.Orientation.Vertical)
    t_end = time.time() + 30
    while panel.dataset() is None and time.time() < t_end:
        app.processEvents()
        time.sleep(0.01)
    done: list[object] = []
    panel.run_finished.connect(done.append)
    shots: dict[str, bool] = {}

    def grab(name: str) -> None:
        app.processEvents()
        panel.plots.flush()
        app.processEvents()
        window.grab().save(str(out / name))
        shots[name] = True
        print("saved", out / name)

    t0 = time.perf_counter()
    panel.start()
    QTimer.singleShot(0, lambda: None)
    while not done:
        app.processEvents()
        time.sleep(0.002)
        trainer = panel.trainer
        if "training-running.png" not in shots and trainer is not None and trainer.global_step >= 0.45 * max(
                1, trainer.steps_per_epoch):
            grab("training-running.png")
    wall = time.perf_counter() - t0
    final = done[0]
    print("final:", type(final).__name__, getattr(final, "test_accuracy", getattr(final, "message", "")),
          f"wall {wall:.1f} s, engine epoch {panel.trainer.history['epoch_seconds'][-1]:.1f} s")
    panel.tabs.setCurrentWidget(panel.plots)
    grab("training-done.png")
    panel.tabs.setCurrentWidget(panel.results)
    grab("training-results.png")
    panel.tabs.setCurrentWidget(panel.try_it)
    # a hand-drawn "7": a top bar then a slanted stroke down
    panel.try_it.draw_stroke([(70, 60), (120, 58), (170, 56), (210, 58)] + [(205 - i * 9, 70 + i * 19)
                                                                            for i in range(10)])
    grab("try-it.png")
    panel.shutdown()
    window.shutdown()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300, help="steps per epoch (cap); 0 = the whole epoch")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--screenshots", metavar="DIR")
    args = ap.parse_args()
    args.steps = args.steps or None
    return screenshots(args) if args.screenshots else bench(args)


if __name__ == "__main__":
    raise SystemExit(main())
