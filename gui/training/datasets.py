"""Dataset loading and downloading for the training panel, in the background, without widgets.

:class:`DatasetLoader` keeps the datasets loaded so far (keyed by name and folder), loads or
downloads one at a time in the panel's :class:`~netbuilder.gui.training.worker.TaskSlot`, and says
what happened with signals; the panel shows it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from netbuilder.core.train.data import CIFAR_DIR, CIFAR_TAR, IDX_FILES, Dataset, default_data_dir, load_dataset
from netbuilder.gui.editor.file_commands import settings
from netbuilder.gui.training.worker import TaskCancelled, TaskSlot
from PySide6.QtCore import QCoreApplication, QObject, Signal

KNOWN_SHAPES = {"sample": (1, 28, 28), "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
PRETTY = {"sample": "the MNIST sample", "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
#: A dataset's name and folder (None: the default folder, and always for the bundled sample).
DatasetKey = tuple[str, str | None]
DATA_FOLDER_KEY = "training/dataFolder"


def remembered_data_dir() -> str | None:
    """The data folder last chosen in any project (None before one was chosen)."""
    value = settings().value(DATA_FOLDER_KEY)
    return str(value) if value else None


def remember_data_dir(folder: str) -> None:
    """Make ``folder`` the default data folder of every project that names none, now and next time."""
    settings().setValue(DATA_FOLDER_KEY, folder)


def default_data_folder() -> str | None:
    """The folder to look in when the project names none: None where ``$NETBUILDER_DATA`` is set (core
    looks there first), else the remembered folder (None: core's per-user default)."""
    return None if os.environ.get("NETBUILDER_DATA") else remembered_data_dir()


class DatasetLoader(QObject):
    """Loads (and downloads) datasets in the background, one task at a time.

    Signals: :attr:`progress` ``(done, total, text)`` of a download; :attr:`finished` ``(key, dataset)``;
    :attr:`failed` ``(key, text)`` with a text that says what to do; :attr:`cancelled` ``(key)`` when
    the user cancelled the download (:attr:`error` then holds the text to show)."""

    progress = Signal(int, int, str)
    finished = Signal(object, object)
    failed = Signal(object, str)
    cancelled = Signal(object)

    def __init__(self, tasks: TaskSlot, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.datasets: dict[DatasetKey, Dataset] = {}
        #: The last failure: (key, text to show).
        self.error: tuple[DatasetKey, str] | None = None
        self.loading_key: DatasetKey | None = None
        self.cancelled_key: DatasetKey | None = None  # its download was cancelled by the user
        self.downloading = False  # the running task downloads

    def get(self, key: DatasetKey) -> Dataset | None:
        """The dataset loaded for ``key``, if loaded."""
        return self.datasets.get(key)

    def error_for(self, key: DatasetKey) -> str | None:
        """The text of ``key``'s last failure, if that is the last failure."""
        return self.error[1] if self.error is not None and self.error[0] == key else None

    def is_downloading(self) -> bool:
        """True while a dataset download runs (it can be cancelled)."""
        return self.tasks.busy and self.downloading

    def load(self, key: DatasetKey, download: bool = False) -> bool:
        """Load ``key`` in the background (downloading first if asked); False when nothing was started
        (already loaded, another task running, or the last attempt failed and no download is asked)."""
        if key in self.datasets or self.tasks.busy:
            return False
        if self.error_for(key) is not None and not download:
            return False
        self.error = None
        self.loading_key = key
        self.downloading = download
        name, folder = key

        def job(progress: Callable[[int, int, str], None]) -> Dataset:
            return load_dataset(name, folder, download=download, progress=progress)

        def finished(ds: Dataset) -> None:
            self._on_loaded(key, ds)

        def failed(message: str, exc: object) -> None:
            self._on_failed(key, message, download, exc)

        worker = self.tasks.start(job, "netbuilder-data", finished, failed)
        worker.progress.connect(self._on_progress)
        return True

    def cancel(self, wait_ms: int = 0) -> bool:
        """Cancel the running download: it stops at its next chunk and the partial file is removed.
        With ``wait_ms`` > 0, wait that long for its thread to end; True when no download is left."""
        worker = self.tasks.worker
        if worker is None or not self.downloading:
            return True
        worker.cancel()
        if wait_ms <= 0 or not self.tasks.wait(wait_ms):
            return False
        job = self.tasks.job
        QCoreApplication.sendPostedEvents(None, 0)  # deliver its "failed" now, which ends the task
        if self.tasks.job is job:
            self._end()
        return True

    def _end(self) -> None:
        self.loading_key = None
        self.downloading = False
        self.tasks.end()

    def _on_progress(self, done: int, total: int, text: str) -> None:
        if self.tasks.busy and self.downloading:  # not a late report of an ended task
            self.progress.emit(done, total, text)

    def _on_loaded(self, key: DatasetKey, ds: Dataset) -> None:
        self._end()
        self.datasets[key] = ds
        self.finished.emit(key, ds)

    def _on_failed(self, key: DatasetKey, message: str, downloaded: bool, exc: object) -> None:
        self._end()
        name, folder = key
        cancelled = isinstance(exc, TaskCancelled)
        if cancelled:
            text = f"Download of {PRETTY[name]} cancelled. {self.missing_files_text(name, folder)}"
        elif name == "sample":
            text = message
        elif downloaded:
            text = f"Could not download {PRETTY[name]} (are you offline?). {self.missing_files_text(name, folder)}" \
                   f"\n\nDetails: {message}"
        else:
            text = f"{PRETTY[name]} was not found. {self.missing_files_text(name, folder)}\n\nDetails: {message}"
        self.error = (key, text)
        self.cancelled_key = key if cancelled else None
        if cancelled:
            self.cancelled.emit(key)
        else:
            self.failed.emit(key, text)

    @staticmethod
    def default_dir_text(name: str) -> str:
        """Where ``name``'s files are looked for when no folder is chosen."""
        return os.environ.get("NETBUILDER_DATA") or remembered_data_dir() or str(default_data_dir(name))

    def missing_files_text(self, name: str, folder: str | None) -> str:
        """Which files to put where (or to click Download), for a dataset that was not found."""
        where = folder or self.default_dir_text(name)
        if name == "cifar10":
            files = f"{CIFAR_TAR} (or its unpacked {CIFAR_DIR}/ folder)"
        else:
            files = ", ".join(f"{f}.gz" for f in IDX_FILES)
        return (f"Put these files into {where} (or choose the folder that holds them above): {files}. "
                f"Or click Download (needs internet).")


def shape_probe(name: str) -> Dataset:
    """An empty dataset with the known image shape, to check compatibility before loading."""
    c, h, w = KNOWN_SHAPES[name]
    empty = torch.zeros((0, c, h, w), dtype=torch.uint8)
    labels = torch.zeros(0, dtype=torch.int64)
    return Dataset(name, empty, labels, empty, labels, [str(i) for i in range(10)], (0.5,) * c, (0.5,) * c, "")
