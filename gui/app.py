"""Application start-up: ``netbuilder [FILE] [--screenshot OUT.png]``.

Without a file the LeNet-5 preset opens (as an untitled project, so Save asks where). After a crash
the autosaved work is offered for restore. ``--screenshot`` renders the window offscreen to a PNG
and exits.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netbuilder.gui.editor.main_window import MainWindow
    from netbuilder.gui.panels import Panels
    from PySide6.QtWidgets import QApplication

DEFAULT_PRESET = "lenet5-mnist"


def run(file: str | None, screenshot: str | None = None) -> int:
    """Open the main window (or render it to ``screenshot``); returns the exit code."""
    if screenshot and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import netbuilder.core.model.codegen  # noqa: F401  (imports torch: the heavy part)
    from netbuilder.core.errors import UserError
    from netbuilder.core.model.project import load_project, presets_dir
    from netbuilder.gui import theme
    from netbuilder.gui.editor.autosave import find_recoveries
    from netbuilder.gui.editor.main_window import MainWindow
    from netbuilder.gui.panels import install_all
    from netbuilder.gui.widgets import install_wheel_guard
    from PySide6.QtWidgets import QApplication, QMessageBox

    # Everything imported so far lives for the whole session: keep it out of the collector so full
    # collections (150–190 ms with torch loaded) do not stall the GUI.
    gc.freeze()

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("NetBuilder")
    app.setOrganizationName("NetBuilder")
    app.setApplicationDisplayName("NetBuilder")
    install_wheel_guard(app)  # before any widget exists, so every spin and combo box is polished by it
    theme.apply(None)
    theme.follow_system()

    if file:
        if not Path(file).exists():
            raise UserError(f"{file}: no such file")
        if screenshot:
            load_project(file)  # offscreen nobody can answer an error dialog: fail as a command
    window = MainWindow()
    if screenshot:
        window.resize(1600, 1000)  # before the docks go in, so no tab bar keeps a stale geometry
    panels = install_all(window)
    if file:
        if not window.open_path(file):
            window.shutdown()
            return 1
    else:
        window.open_template(presets_dir() / f"{DEFAULT_PRESET}.json")
        if not screenshot:
            for rec in find_recoveries()[:1]:
                answer = QMessageBox.question(
                    window, "Restore unsaved work?",
                    f"NetBuilder did not close properly last time.\n\nRestore {rec.describe()}?",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Discard,
                    QMessageBox.StandardButton.Yes,
                )
                if answer == QMessageBox.StandardButton.Yes:
                    window.files.restore_recovery(rec)
                else:
                    rec.file.unlink(missing_ok=True)

    window.show()
    if screenshot:
        return _screenshot(app, window, screenshot, panels)
    window.view.fit()
    code = app.exec()
    panels.training.shutdown()
    window.shutdown()
    return int(code)


def _screenshot(app: QApplication, window: MainWindow, out: str, panels: Panels) -> int:
    for _ in range(5):
        app.processEvents()
    window.view.fit()
    app.processEvents()
    ok = window.grab().save(out)
    panels.training.shutdown()
    window.shutdown()
    window.deleteLater()
    app.processEvents()
    if not ok:
        print(f"netbuilder: error: could not write {out}", file=sys.stderr)
        return 1
    print(f"wrote {out}", file=sys.stderr)
    return 0
