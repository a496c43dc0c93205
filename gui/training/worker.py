"""Background work for the training panel: the training run and dataset loading/downloads.

Each job runs in a worker ``QObject`` moved to its own ``QThread``; results cross back to the GUI
thread over queued signals carrying the plain :mod:`netbuilder.core.train.events` objects. A run is stopped by
setting the trainer's flag (:meth:`netbuilder.core.train.trainer.Trainer.stop`), never with ``QThread.terminate()``:
the trainer checks the flag between steps, so stopping takes one step (milliseconds), or the rest of
a test-set evaluation when it comes during one.

Two process-wide settings keep the window responsive while the worker computes (measured on a 2-core
machine, see docs): torch gets ``cores - 1`` compute threads (1 on 2 cores) so the GUI thread keeps a
core, and :func:`prepare_process` calls ``gc.freeze()`` after the heavy imports so Python's full
garbage collections, which otherwise stall the GUI thread for 150–190 ms, skip the frozen objects.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import Generic, TypeVar

import torch
from netbuilder.core.errors import UserError
from netbuilder.core.model.graph import Graph
from netbuilder.core.train.data import Dataset
from netbuilder.core.train.events import FailedEvent, FinishedEvent, StoppedEvent, TrainEvent, WarningEvent
from netbuilder.core.train.trainer import TrainConfig, Trainer
from PySide6.QtCore import QObject, Qt, QThread, Signal, SignalInstance, Slot

FINAL_EVENTS = (FinishedEvent, StoppedEvent, FailedEvent)
#: A task's progress callback: ``progress(done, total, text)``.
Progress = Callable[[int, int, str], None]
T = TypeVar("T")


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def choose_threads(cores: int | None = None) -> int:
    """Torch compute threads for a run beside the GUI: leave the GUI thread one core (1 on 2 cores)."""
    cores = usable_cores() if cores is None else cores
    return max(1, cores - 1)


_prepared = False


def prepare_process() -> None:
    """Once per process, before the first run: move every object allocated so far (Qt bindings, torch,
    numpy, pyqtgraph) out of the garbage collector's reach, so collections stay short."""
    global _prepared
    if not _prepared:
        gc.collect()
        gc.freeze()
        _prepared = True


def apply_threads(config: TrainConfig) -> int:
    """Set torch's intra-op threads for ``config`` (``threads`` if given, else :func:`choose_threads`)."""
    n = config.threads or choose_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


class TrainingWorker(QObject):
    """Runs one training run in its thread: builds the :class:`Trainer` (unless given one to continue)
    and iterates it, emitting every event.

    Signals: ``trainer_ready(trainer)`` once the trainer exists (built or continued), ``train_event(ev)`` for
    each event, ``done(final)`` last with the :class:`FinishedEvent`, :class:`StoppedEvent` or
    :class:`FailedEvent`. Errors never escape: a trainer that cannot be built ends with a FailedEvent
    naming the node at fault."""

    trainer_ready = Signal(object)
    train_event = Signal(object)  # not ``event``: that would hide QObject.event()
    done = Signal(object)

    def __init__(self, graph: Graph | None = None, config: TrainConfig | None = None,
                 dataset: Dataset | None = None, trainer: Trainer | None = None,
                 initial_state: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        self._initial_state = initial_state
        if trainer is None and (graph is None or config is None):
            raise ValueError("give a trainer to continue, or a graph and a config")
        self._graph = graph.copy() if graph is not None else None
        self._config = config
        self._dataset = dataset
        self.trainer: Trainer | None = trainer
        self._stop_requested = False
        self.threads = 0

    def stop(self) -> None:
        """Ask the run to stop (any thread); takes effect between steps."""
        self._stop_requested = True
        if self.trainer is not None:
            self.trainer.stop()

    @Slot()
    def run(self) -> None:
        final: TrainEvent | None = None
        try:
            cfg = self.trainer.config if self.trainer is not None else self._config
            assert cfg is not None
            self.threads = apply_threads(cfg)  # this thread's pool (torch keeps the count per thread)
            if self.trainer is None:
                assert self._graph is not None and self._config is not None
                self.trainer = Trainer(self._graph, self._config, self._dataset)
                if self._initial_state:
                    # weights of a checkpoint or an imported model, kept where name and shape still fit
                    from netbuilder.core.interop.weights import transfer_weights

                    report = transfer_weights(self._initial_state, self.trainer.model)
                    self.train_event.emit(WarningEvent("Starting from earlier weights: " + report.describe()))
            if self._stop_requested:  # stopped while the trainer was being built
                self.trainer.stop()
            self.trainer_ready.emit(self.trainer)
            for ev in self.trainer:
                self.train_event.emit(ev)
                if isinstance(ev, FINAL_EVENTS):
                    final = ev
        except UserError as e:
            final = FailedEvent(str(e), getattr(e, "node", None), {"field": getattr(e, "field", None)})
            self.train_event.emit(final)
        except Exception as e:  # a bug or the machine: report it in the panel, never crash the GUI
            final = FailedEvent(f"training failed: {type(e).__name__}: {e}", None,
                                {"traceback": traceback.format_exc()})
            self.train_event.emit(final)
        if final is None:
            final = StoppedEvent(self.trainer.epoch if self.trainer else 0,
                                 self.trainer.global_step if self.trainer else 0)
        self.done.emit(final)


class TaskCancelled(Exception):
    """Raised inside a task (from its ``progress`` callback) once :meth:`TaskWorker.cancel` was called.

    Not an ``OSError``: a download's mirror loop must not take it for a failed mirror and try the next."""


class TaskWorker(QObject, Generic[T]):
    """Runs ``fn(progress)`` in a thread (dataset loading, downloads). ``progress(done, total, text)``
    may be called from the job; it becomes the ``progress`` signal. Ends with ``finished(result)`` or
    ``failed(message, exception)``; a cancelled task fails with a :class:`TaskCancelled` exception.

    :meth:`cancel` (any thread) takes effect at the job's next ``progress`` call: a download checks
    it after every chunk, so it stops within one chunk (or the socket timeout when the network stalls)."""

    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str, object)

    def __init__(self, fn: Callable[[Progress], T]) -> None:
        super().__init__()
        self._fn = fn
        self._last_progress = 0.0
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next progress report (from any thread)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, done: int, total: int, text: str) -> None:
        if self._cancel.is_set():
            raise TaskCancelled("cancelled")
        now = time.monotonic()
        if now - self._last_progress >= 0.05 or (total and done >= total):  # ≤ 20 updates/s
            self._last_progress = now
            self.progress.emit(int(done), int(total), str(text))

    @Slot()
    def run(self) -> None:
        try:
            if self._cancel.is_set():
                raise TaskCancelled("cancelled")
            result = self._fn(self._progress)
        except TaskCancelled as e:
            self.failed.emit("cancelled", e)
            return
        except UserError as e:
            self.failed.emit(str(e), e)
            return
        except Exception as e:
            self.failed.emit(f"{type(e).__name__}: {e}", e)
            return
        self.finished.emit(result)


class WorkerThread:
    """A worker object and the QThread it lives in, wired so the thread quits when the job is done.

    ``end_signal`` is the worker's last signal (``done`` / ``finished``...); connect your own slots to
    the worker's signals before :meth:`start`."""

    def __init__(self, worker: QObject, end_signals: list[SignalInstance], name: str = "netbuilder-worker") -> None:
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName(name)
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)  # type: ignore[attr-defined]
        for sig in end_signals:
            # direct: quit() is thread-safe, and a GUI thread blocked in wait() could not run a queued one
            sig.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)

    def start(self) -> None:
        self.thread.start()

    def is_running(self) -> bool:
        return self.thread.isRunning()

    def wait(self, ms: int) -> bool:
        """Wait for the thread to end; True if it has."""
        if not self.thread.isRunning():
            return True
        return bool(self.thread.wait(ms))


class Job(QObject):
    """One background job: its worker, its thread, and the GUI-thread callbacks for its signals.

    Worker signals are connected to this object's slots (it lives in the GUI thread), so they are
    queued and every callback runs in the GUI thread; a lambda connected directly would run in the
    worker's thread."""

    def __init__(self, worker: QObject, end_signals: list[SignalInstance], name: str) -> None:
        super().__init__()
        self.handle = WorkerThread(worker, end_signals, name)
        self.worker = worker
        self.callbacks: dict[str, Callable[..., None]] = {}

    def on(self, name: str, signal: SignalInstance, callback: Callable[..., None]) -> None:
        """Run ``callback`` in the GUI thread for ``signal`` (``name``: "done", "finished" or "failed")."""
        self.callbacks[name] = callback
        signal.connect(getattr(self, "_" + name))

    @Slot(object)
    def _done(self, value: object) -> None:
        self.callbacks["done"](value)

    @Slot(object)
    def _finished(self, value: object) -> None:
        self.callbacks["finished"](value)

    @Slot(str, object)
    def _failed(self, message: str, exc: object) -> None:
        self.callbacks["failed"](message, exc)


class TaskSlot(QObject):
    """The one background task the panel runs at a time (a dataset load or download, a checkpoint
    load): waiting for one to start another would freeze the window for a whole download.

    An ended task whose thread is still winding down is kept (a QThread destroyed while running
    aborts the process) until its thread has finished."""

    def __init__(self) -> None:
        super().__init__()
        self.job: Job | None = None
        self._retired: list[Job] = []

    @property
    def busy(self) -> bool:
        """True while a task runs."""
        return self.job is not None

    def start(self, fn: Callable[[Progress], T], name: str, on_finished: Callable[[T], None],
              on_failed: Callable[[str, object], None]) -> TaskWorker[T]:
        """Run ``fn(progress)`` in a thread; the callbacks run in the GUI thread. Returns the worker
        (for its ``progress`` signal and :meth:`TaskWorker.cancel`)."""
        assert self.job is None, "one background task at a time"
        worker = TaskWorker(fn)
        job = Job(worker, [worker.finished, worker.failed], name)
        job.on("finished", worker.finished, on_finished)
        job.on("failed", worker.failed, on_failed)
        self.job = job
        job.handle.start()
        return worker

    @property
    def worker(self) -> TaskWorker[object] | None:
        """The running task's worker, or None."""
        if self.job is None:
            return None
        assert isinstance(self.job.worker, TaskWorker)
        return self.job.worker

    def end(self) -> None:
        """Let go of the current task (after its last signal)."""
        job, self.job = self.job, None
        if job is None or job.handle.wait(200):  # normally the thread is past its last signal and ends at once
            return
        self._retired.append(job)
        job.handle.thread.finished.connect(self._reap)  # queued to this (GUI) thread

    def wait(self, ms: int) -> bool:
        """Wait for the current task's thread to end; True if it has (or there is none)."""
        return self.job is None or self.job.handle.wait(ms)

    def shutdown(self, ms: int) -> None:
        """Wait up to ``ms`` for every thread, the current task's and the retired ones."""
        if self.job is not None:
            self.job.handle.wait(ms)
            self.end()
        for j in self._retired:
            j.handle.wait(ms)
        self._reap()

    @Slot()
    def _reap(self) -> None:
        self._retired = [j for j in self._retired if not j.handle.wait(1000)]

