"""Crash recovery: every minute the open project is written to a per-process recovery file; a
clean exit deletes it. At the next start, recovery files left by processes that are no longer
running are offered for restore.

Files live in :func:`state_dir` (``$NETBUILDER_CONFIG_DIR/recovery`` when that variable is set, as
the tests do, otherwise Qt's per-user app data folder).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netbuilder.core.model.project import Project, ProjectError, atomic_write, from_dict, to_dict
from netbuilder.gui.editor.document import Document
from PySide6.QtCore import QObject, QStandardPaths, QTimer

INTERVAL_MS = 60_000
PREFIX = "recovery-"


def state_dir() -> Path:
    env = os.environ.get("NETBUILDER_CONFIG_DIR")
    if env:
        base = Path(env)
    else:
        base = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation) or
                    Path.home() / ".netbuilder")
    d = base / "recovery"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


@dataclass
class Recovery:
    """A recovery file found at start-up."""

    file: Path
    path: Path | None  # the project file it was editing, if any
    saved_at: float
    project: Project

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        what = self.path.name if self.path else "an unsaved project"
        return f"{what} ({self.project.graph.name}, {len(self.project.graph)} layers), autosaved {when}"


class Autosaver(QObject):
    """Writes ``document`` to this process's recovery file every ``interval_ms`` when modified."""

    def __init__(self, document: Document, interval_ms: int = INTERVAL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = document
        self.file = state_dir() / f"{PREFIX}{os.getpid()}.json"
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.save_now)
        self.timer.start()
        self.last_error: str | None = None

    def save_now(self) -> bool:
        """Write the recovery file if the document has unsaved changes (else remove it)."""
        if not self.doc.modified:
            self.discard()
            return False
        data: dict[str, Any] = {
            "netbuilder-recovery": 1,
            "path": str(self.doc.path) if self.doc.path else None,
            "saved_at": time.time(),
            "project": to_dict(self.doc.graph, self.doc.training),
        }
        try:
            atomic_write(self.file, json.dumps(data).encode("utf-8"))
        except OSError as e:
            self.last_error = str(e)
            return False
        return True

    def discard(self) -> None:
        self.file.unlink(missing_ok=True)

    def stop(self) -> None:
        """Clean shutdown: stop the timer and delete the recovery file."""
        self.timer.stop()
        self.discard()


def find_recoveries() -> list[Recovery]:
    """Recovery files left by NetBuilder processes that are no longer running, newest first.
    Unreadable ones are deleted."""
    out: list[Recovery] = []
    for f in state_dir().glob(f"{PREFIX}*.json"):
        try:
            pid = int(f.stem[len(PREFIX):])
        except ValueError:
            continue
        if _pid_alive(pid):
            continue
        try:
            data = json.loads(f.read_text("utf-8"))
            project = from_dict(data["project"])
            path = Path(data["path"]) if data.get("path") else None
            out.append(Recovery(f, path, float(data.get("saved_at", f.stat().st_mtime)), project))
        except (OSError, ValueError, KeyError, TypeError, ProjectError):
            f.unlink(missing_ok=True)
    out.sort(key=lambda r: r.saved_at, reverse=True)
    return out
