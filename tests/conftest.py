"""Test configuration: Qt runs offscreen, torch uses the CPU threads it is given, nothing downloads."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NETBUILDER_NO_DOWNLOAD", "1")

ROOT = Path(__file__).resolve().parent.parent

# Decoded-dataset caches and app settings go to a per-run temporary folder, never the user's home.
_TMP = Path(tempfile.mkdtemp(prefix="netbuilder-tests-"))
os.environ.setdefault("NETBUILDER_CACHE", str(_TMP / "cache"))
os.environ.setdefault("NETBUILDER_CONFIG_DIR", str(_TMP / "config"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The real MNIST (IDX .gz files) lies beside the checkout on the development and CI machines.
SHARED_MNIST = ROOT.parent / "shared" / "datasets" / "mnist"
if "NETBUILDER_DATA" not in os.environ and SHARED_MNIST.is_dir():
    os.environ["NETBUILDER_DATA"] = str(SHARED_MNIST)


def _qt_application():
    """The running QApplication, or None when no test has started Qt (the core tests never do)."""
    if "PySide6.QtWidgets" not in sys.modules:
        return None
    from PySide6.QtWidgets import QApplication

    return QApplication.instance()


def _address(obj: object) -> int:
    """The C++ object's address: stable while it lives, unlike the id of a transient Python wrapper."""
    import shiboken6

    return int(shiboken6.getCppPointer(obj)[0])


@pytest.fixture(autouse=True)
def _dispose_windows():
    """Really delete the top-level widgets a test created, once every other fixture is done.

    ``deleteLater()`` followed by ``processEvents()`` never deletes anything outside an event loop,
    so without this every window of every test stays alive and each theme change later restyles
    thousands of dead widgets. Windows with a ``shutdown()`` (the main window, the training panel)
    are shut down and hidden rather than closed: closing saves settings into the shared config
    folder and may ask "Save changes?"; the others are closed so their close handlers run."""
    app = _qt_application()
    before = {_address(w) for w in app.topLevelWidgets()} if app is not None else set()
    yield
    app = _qt_application()
    if app is None:
        return
    from PySide6.QtCore import QEvent

    for w in app.topLevelWidgets():
        if _address(w) in before or w.parentWidget() is not None:
            continue  # older than the test, or a child window that goes with its parent
        shutdown = getattr(w, "shutdown", None)
        if callable(shutdown):
            shutdown()
            w.hide()
        else:
            w.close()
        w.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
