"""Large imported graphs in the GUI: ResNet-50 (~175 nodes) and DenseNet-121 (~430 nodes).

For each model: ``netbuilder import`` of torchvision's model (``weights=None``; the project JSON is
cached in a temp folder, the import takes half a minute), then, in the full main window with every
panel, the median of N runs of

* **open**: load the file → laid out (groups found, edges routed) → painted, and
* **edit**: change a parameter of a node in the middle → inference, every view updated → the
  canvas repainted by the event loop (what changed); a full repaint of the fitted canvas is
  reported apart.

Run: ``python bench/gui_large_graphs.py [--reps 5] [--edits 20] [--editor-only] [--cache DIR]``.
Targets (DenseNet-121, 2 cores): open under ~2 s, edits under ~100 ms.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NETBUILDER_CONFIG_DIR", str(Path(tempfile.gettempdir()) / f"netbuilder-bench-{os.getpid()}"))

MODELS = ("resnet50", "densenet121")
WRAPPER = """import torch.nn as nn
import torchvision


class Net(nn.Module):
    input_shape = (3, 224, 224)

    def __init__(self):
        super().__init__()
        self.m = torchvision.models.{name}(weights=None)

    def forward(self, x):
        return self.m(x)
"""


def imported(name: str, cache: Path) -> Path:
    """The project file of torchvision's ``name``, imported once with ``netbuilder import``."""
    out = cache / f"{name}.json"
    if not out.exists():
        src = cache / f"{name}_model.py"
        src.write_text(WRAPPER.format(name=name))
        t0 = time.perf_counter()
        cli = str(Path(sys.executable).with_name("netbuilder"))
        subprocess.run([cli, "import", str(src), "-o", str(out)], check=True, stdout=subprocess.DEVNULL)
        print(f"  imported {name} in {time.perf_counter() - t0:.1f} s (cached in {out})")
    return out


def measure(app, win, name: str, path: Path, reps: int, n_edits: int) -> None:
    """Print the median open time and edit latency of ``path`` in ``win``."""
    from netbuilder.gui.editor import commands

    vp = win.view.viewport()
    opens = []
    for _ in range(reps):
        t0 = time.perf_counter()
        assert win.open_path(path)
        app.processEvents()  # the fit queued by the load, and the views' deferred refreshes
        vp.repaint()  # painted: every visible node and edge
        opens.append(time.perf_counter() - t0)
    doc, scene = win.document, win.view.graph_scene
    convs = [n for n in doc.graph.nodes if "bias" in {p.name for p in n.spec.params}]
    target = convs[len(convs) // 2].id  # a node in the middle
    edits, repaints = [], []
    for rep in range(n_edits):
        t0 = time.perf_counter()
        commands.execute(doc, commands.SetParams(doc, target, {"bias": bool(rep % 2 == 0)}))
        doc.flush()  # inference + codegen + every view's slot
        app.processEvents()  # the event loop repaints what changed, as on screen
        t1 = time.perf_counter()
        edits.append((t1 - t0) * 1000)
        vp.repaint()  # worst case: every node and edge of the fitted canvas
        repaints.append((time.perf_counter() - t1) * 1000)
    t0 = time.perf_counter()
    scene.set_all_collapsed(True)
    app.processEvents()
    vp.repaint()
    collapse = (time.perf_counter() - t0) * 1000
    scene.set_all_collapsed(False)
    print(f"{name}: {len(doc.graph)} nodes, {len(doc.graph.edges)} edges, {len(scene.groups)} groups")
    print(f"  open (load → laid out → painted): median {statistics.median(opens):.2f} s, worst {max(opens):.2f} s")
    print(f"  edit {target}.bias → all views repainted: median {statistics.median(edits):.0f} ms, "
          f"worst {max(edits):.0f} ms")
    print(f"  (extra: full repaint of the fitted canvas: median {statistics.median(repaints):.0f} ms)")
    print(f"  collapse every group → repainted: {collapse:.0f} ms")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5, help="opens per model")
    ap.add_argument("--edits", type=int, default=20, help="parameter edits per model")
    ap.add_argument("--editor-only", action="store_true", help="skip the run with every panel installed")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "netbuilder-bench-large")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    files = {m: imported(m, args.cache) for m in MODELS}

    import netbuilder.core.model.codegen  # noqa: F401  (torch, as the app imports it first)
    from netbuilder.gui import theme
    from netbuilder.gui.editor.main_window import MainWindow
    from netbuilder.gui.panels import install_all
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    gc.freeze()  # as the app does: torch's objects stay out of the collector
    theme.apply(False)
    for panels in (False,) if args.editor_only else (False, True):
        win = MainWindow()
        win.resize(1600, 1000)
        if panels:
            install_all(win)
        win.show()
        app.processEvents()
        print(f"--- {'the app: every panel (inspection, step-through, training)' if panels else 'editor only'} ---")
        for name, path in files.items():
            measure(app, win, name, path, args.reps, args.edits)
        win.document.undo_stack.setClean()
        win.shutdown()
        win.close()
        app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
