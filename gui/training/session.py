"""The training session: the trainer, the worker thread of the run in progress and the run state,
without any widget. The training panel drives it; the inspection and teaching views subscribe to it
as a :class:`netbuilder.gui.window.TrainingSource`.

Threading: a run is a :class:`~netbuilder.gui.training.worker.TrainingWorker` moved to its own
``QThread``; every :mod:`netbuilder.core.train.events` object comes back over a queued signal and is
re-emitted as :attr:`TrainingSession.event_received` in the GUI thread. Stopping sets the trainer's
flag; the thread is never terminated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.project import to_dict
from netbuilder.core.train.data import Dataset, prepare_images
from netbuilder.core.train.events import EpochEvent, FailedEvent, FinishedEvent, StepEvent, StoppedEvent
from netbuilder.core.train.trainer import TrainConfig, Trainer
from netbuilder.gui.training.worker import Job, TrainingWorker, prepare_process
from netbuilder.gui.window import ModelContext
from PySide6.QtCore import QCoreApplication, QObject, Signal

if TYPE_CHECKING:
    from netbuilder.core.train.events import TrainEvent

#: The final events of a run, the argument of :attr:`TrainingSession.run_finished`.
FinalEvent = FinishedEvent | StoppedEvent | FailedEvent


class TrainingSession(QObject):
    """Owns the :class:`Trainer` of the current run (live while training, kept after it ends).

    Signals: :attr:`event_received` (every train event, in order), :attr:`trainer_changed` (the
    trainer, or None), :attr:`model_available` (a :class:`ModelContext`: a run finished or stopped,
    or a checkpoint was loaded), :attr:`model_cleared` (new project, new run),
    :attr:`running_changed`, :attr:`evaluating_changed` (a test-set evaluation began or ended) and
    :attr:`run_finished` (the final event, after the run's bookkeeping)."""

    event_received = Signal(object)
    trainer_changed = Signal(object)
    model_available = Signal(object)
    model_cleared = Signal()
    running_changed = Signal(bool)
    evaluating_changed = Signal(bool)
    run_finished = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._trainer: Trainer | None = None
        self._run: Job | None = None
        #: The final event of the current trainer's last run (None before one ended).
        self.final: FinalEvent | None = None
        #: The network the trainer trains, as ``to_dict``, to tell whether Start may continue it.
        self.trainer_graph: dict[str, object] | None = None
        self.evaluating = False

    # ------------------------------------------------------------------ state
    @property
    def trainer(self) -> Trainer | None:
        """The current run's trainer (live while training; kept after it ends), or None."""
        return self._trainer

    @property
    def live_model(self) -> torch.nn.Module | None:
        """The current trainer's model (training while a run is active), or None."""
        return self._trainer.model if self._trainer is not None else None

    @property
    def live_dataset(self) -> Dataset | None:
        """The current trainer's dataset, or None."""
        return self._trainer.dataset if self._trainer is not None else None

    @property
    def active(self) -> bool:
        """True from the start of a run until its end has been handled."""
        return self._run is not None

    def is_running(self) -> bool:
        """True while a run's thread is alive."""
        return self._run is not None and self._run.handle.is_running()

    @property
    def paused(self) -> bool:
        """True while the active run is paused."""
        return self._run is not None and self._trainer is not None and self._trainer.paused

    def set_trainer(self, trainer: Trainer | None) -> None:
        """Make ``trainer`` the current one (None: forget it, and the views forget its model)."""
        if trainer is self._trainer:
            return
        self._trainer = trainer
        self.trainer_changed.emit(trainer)
        if trainer is None:
            self.model_cleared.emit()

    def forget(self) -> None:
        """Forget the current trainer and its run (the next start begins afresh)."""
        self.set_trainer(None)
        self.trainer_graph = None
        self.final = None

    def loaded(self, trainer: Trainer) -> None:
        """A checkpoint was loaded into ``trainer``: it becomes the current one, ready to continue."""
        self.set_trainer(trainer)
        self.trainer_graph = to_dict(trainer.graph)
        self.final = None
        self._offer_model(trainer, "the loaded checkpoint")

    def continuable(self, graph: Graph, dataset_name: str, batch_size: int) -> bool:
        """Whether the current trainer can go on training: the same network, dataset and batch size,
        and a run that did not fail."""
        t = self._trainer
        if t is None or isinstance(self.final, FailedEvent) or self.trainer_graph is None:
            return False
        if _graph_key(to_dict(graph)) != _graph_key(self.trainer_graph):
            return False
        return t.dataset.name == dataset_name and t.config.batch_size == batch_size

    def resumable(self, graph: Graph, dataset_name: str, batch_size: int, epochs: int) -> bool:
        """Whether a start continues the current trainer: it is :meth:`continuable`, its run did not
        finish (a finished run is only extended on request, :meth:`continue_run`), and it has done
        fewer epochs than ``epochs``."""
        t = self._trainer
        if t is None or isinstance(self.final, FinishedEvent):
            return False
        return self.continuable(graph, dataset_name, batch_size) and t.epoch < epochs

    # ------------------------------------------------------------------ running
    def start(self, graph: Graph, config: TrainConfig, dataset: Dataset,
              initial_state: dict[str, torch.Tensor] | None = None) -> None:
        """Start a fresh run of ``graph`` (copied) with ``config`` on ``dataset``, from ``initial_state``
        where names and shapes fit (else random weights)."""
        self.set_trainer(None)
        self.final = None
        self.trainer_graph = to_dict(graph)
        self._launch(TrainingWorker(graph, config, dataset, initial_state=initial_state))

    def resume_run(self, epochs: int) -> None:
        """Continue the current (stopped or loaded) trainer up to ``epochs``."""
        assert self._trainer is not None
        self._trainer.config.epochs = epochs
        self._launch(TrainingWorker(trainer=self._trainer))

    def continue_run(self, added: int) -> None:
        """Train the current (finished) trainer ``added`` more epochs from its weights and optimizer.

        The schedule keeps the span of the run it continues (``schedule_epochs``), so the learning rate
        goes on from where it ended instead of jumping back up: a step schedule keeps stepping, a
        cosine one that has ended stays at its final rate."""
        t = self._trainer
        assert t is not None
        c = t.config
        if c.schedule_epochs is None:
            c.schedule_epochs = c.epochs
        self.final = None
        self.resume_run(t.epoch + added)

    def _launch(self, worker: TrainingWorker) -> None:
        prepare_process()
        job = Job(worker, [worker.done], "netbuilder-training")
        worker.trainer_ready.connect(self.set_trainer)
        worker.train_event.connect(self._on_event)
        job.on("done", worker.done, lambda final, j=job: self._on_done(j, final))
        self._run = job
        job.handle.start()
        self.running_changed.emit(True)

    def pause(self) -> bool:
        """Pause the active run (between steps); True if it was running."""
        if self._trainer is not None and self.active and not self._trainer.paused:
            self._trainer.pause()
            return True
        return False

    def resume(self) -> bool:
        """Resume the paused run; True if it was paused."""
        if self._trainer is not None and self.active and self._trainer.paused:
            self._trainer.resume()
            return True
        return False

    def request_stop(self) -> bool:
        """Ask the run to stop after its current step; False when no run is active."""
        job = self._run
        if job is None:
            return False
        assert isinstance(job.worker, TrainingWorker)
        job.worker.stop()
        return True

    def wait_stopped(self, wait_ms: int) -> bool:
        """Wait up to ``wait_ms`` for the stopping run's thread, then deliver its last events and its
        end now (so nothing is lost); True when no run is left."""
        job = self._run
        if job is None:
            return True
        if not job.handle.wait(wait_ms):
            return False
        QCoreApplication.sendPostedEvents(None, 0)
        if self._run is job:  # the done signal did not arrive (no event loop): finish by hand
            t = self._trainer
            self._on_done(job, StoppedEvent(t.epoch if t else 0, t.global_step if t else 0))
        return True

    def _on_event(self, ev: TrainEvent) -> None:
        if isinstance(ev, StepEvent):
            self._set_evaluating(ev.step == ev.steps_per_epoch)  # the last step of an epoch, then the test set
        elif isinstance(ev, EpochEvent):
            self._set_evaluating(False)
        self.event_received.emit(ev)

    def _set_evaluating(self, evaluating: bool) -> None:
        if evaluating != self.evaluating:
            self.evaluating = evaluating
            self.evaluating_changed.emit(evaluating)

    def _on_done(self, job: Job, final: FinalEvent) -> None:
        if self._run is not job:
            return
        job.handle.wait(10_000)  # the thread is past its last line; make sure it has ended
        self._run = None
        self.final = final
        self.evaluating = False
        if isinstance(final, FailedEvent) and self._trainer is None:
            self.trainer_graph = None
        if self._trainer is not None and isinstance(final, FinishedEvent | StoppedEvent):
            self._offer_model(self._trainer, "the model trained in this session")
        self.running_changed.emit(False)
        self.run_finished.emit(final)

    def _offer_model(self, trainer: Trainer, origin: str) -> None:
        ds = trainer.dataset
        try:
            sample: torch.Tensor | None = prepare_images(ds.test_x[:1], ds, trainer.input_shape,
                                                         trainer.config.fit_input,
                                                         next(trainer.model.parameters()).device)
        except Exception:  # an image that cannot be fitted (or no parameters): views use a random input
            sample = None
        self.model_available.emit(ModelContext(trainer.model, ds, trainer.graph.copy(), tuple(trainer.input_shape),
                                               trainer.config.fit_input, sample, origin))


def _graph_key(d: dict[str, object]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """A graph's network without positions and names, for "is this the same network?"."""
    nodes_raw = d["nodes"]
    edges_raw = d["edges"]
    assert isinstance(nodes_raw, list) and isinstance(edges_raw, list)
    nodes = sorted((n["id"], n["type"], repr(sorted(n.get("params", {}).items()))) for n in nodes_raw)
    edges = sorted(repr(sorted(e.items())) for e in edges_raw)
    return nodes, edges
