"""GUI responsiveness on a 300-node graph: one parameter change → re-inference + scene update +
summary/code/inspector refresh + a full repaint of the canvas. Target: under 50 ms.

Prints the median and worst of N edits, split into the core part (inference + codegen) and the Qt
part, so a regression can be located. Run: ``python bench/gui_edit.py [--nodes 300] [--reps 30]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NETBUILDER_CONFIG_DIR", str(Path("/tmp") / f"netbuilder-bench-{os.getpid()}"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build_graph(n: int):
    """A deep conv net with residual blocks: Input, then blocks of conv→bn→relu (+ skip Add)."""
    from netbuilder.core.model.graph import Graph

    g = Graph("bench")
    g.add_node("Input", "input", {"shape": [8, 32, 32]})
    prev = "input"
    i = 0
    while len(g) < n - 3:
        i += 1
        c = g.add_node("Conv2d", f"conv{i}", {"out_channels": 8, "kernel_size": 3, "padding": 1}).id
        b = g.add_node("BatchNorm2d", f"bn{i}").id
        r = g.add_node("ReLU", f"relu{i}").id
        a = g.add_node("Add", f"add{i}").id
        g.connect(prev, c)
        g.connect(c, b)
        g.connect(b, r)
        g.connect(r, a)
        g.connect(prev, a)
        prev = a
    f = g.add_node("Flatten", "flatten").id
    g.connect(prev, f)
    fc = g.add_node("Linear", "fc", {"out_features": 10}).id
    g.connect(f, fc)
    return g


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=300)
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args()

    from netbuilder.core.model.codegen import generate
    from netbuilder.core.model.inference import infer
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from netbuilder.gui import theme
    from netbuilder.gui.editor import commands
    from netbuilder.gui.editor.canvas import arrange
    from netbuilder.gui.editor.document import Document
    from netbuilder.gui.editor.main_window import MainWindow

    gc.freeze()
    theme.apply(False)
    g = build_graph(args.nodes)
    for nid, pos in arrange.wrapped(g).items():
        g.move_node(nid, pos)
    doc = Document(g)
    win = MainWindow(doc)
    win.resize(1600, 1000)
    win.show()
    app.processEvents()
    win.view.fit()
    app.processEvents()
    assert doc.result.ok, doc.result.error_text()
    n_nodes, n_edges = len(g), len(g.edges)

    core_ms, total_ms, full_ms = [], [], []
    target = "conv1"
    img = QImage(win.view.viewport().size(), QImage.Format.Format_ARGB32)
    for rep in range(args.reps):
        t0 = time.perf_counter()
        # toggling the bias changes parameter counts, the summary and the code, not the shapes
        commands.execute(doc, commands.SetParams(doc, target, {"bias": bool(rep % 2)}))
        doc.flush()  # inference + codegen + every view's slot (scene items, summary, code, inspector)
        app.processEvents()  # the event loop repaints what changed, as on screen
        t1 = time.perf_counter()
        total_ms.append((t1 - t0) * 1000)
        p = QPainter(img)
        win.view.render(p)  # worst case: repaint every visible node and edge
        p.end()
        full_ms.append((time.perf_counter() - t1) * 1000)
        c0 = time.perf_counter()
        generate(g, infer(g))
        core_ms.append((time.perf_counter() - c0) * 1000)

    def fmt(xs: list[float]) -> str:
        return f"median {statistics.median(xs):6.1f} ms   worst {max(xs):6.1f} ms"

    print(f"graph: {n_nodes} nodes, {n_edges} edges; {args.reps} parameter edits")
    print(f"  core only (infer + codegen):               {fmt(core_ms)}")
    print(f"  edit → views updated → canvas repainted:   {fmt(total_ms)}")
    print(f"  (extra: full repaint of the fitted canvas: {fmt(full_ms)})")
    gui_part = [t - c for t, c in zip(total_ms, core_ms, strict=True)]
    print(f"  GUI share (total − core):                  {fmt(gui_part)}")
    med = statistics.median(total_ms)
    print(f"  target < 50 ms: {'OK' if med < 50 else 'MISSED'} (ratio {med / 50:.2f} of budget)")
    win.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
