"""The training engine: an iterator of plain event dataclasses (:mod:`netbuilder.core.train.events`), no Qt.

Speed comes from keeping the whole dataset in memory as uint8 and batching by indexing with a seeded
``randperm`` per epoch (no DataLoader, no PIL, no worker processes); each batch is converted and
normalised in one go on the training device. Observation is cheap: gradient norms of every parameter
tensor are computed with one fused ``torch._foreach_norm`` per step and stay on the device; they are
read back together with the loss (one sync per step, which also catches non-finite gradients), and
weight norms, update/weight ratios and a histogram are computed only every few steps
(:mod:`netbuilder.core.train.observe`).

Runs are reproducible on the CPU: the weights are initialised after ``torch.manual_seed(seed)`` and
epoch ``e`` is shuffled with a generator seeded from ``(seed, e)``, so a run resumed from a checkpoint
(which also restores the global RNG, used by dropout) continues exactly where it stopped.

``stop()``, ``pause()`` and ``resume()`` may be called from any thread; they set
:class:`threading.Event` flags checked before each step. Each optimisation step with its bookkeeping, and
each end-of-epoch evaluation, runs under a lock that :meth:`Trainer.save_checkpoint`,
:meth:`Trainer.evaluate` and :meth:`Trainer.predict` also take: a checkpoint saved from another thread
(say right after ``pause()``, while the current step is still running) always holds weights, optimizer
state and counters of one and the same step.

The settings and their checks live in :mod:`netbuilder.core.train.config`, the optimizer, schedule and
loss in :mod:`netbuilder.core.train.optim`, scoring in :mod:`netbuilder.core.train.evaluation`; their
public names are re-exported here.

A little over 500 lines: the run loop, its one stop path and the checks before the first step share
the trainer's state; configuration, optimisers, evaluation, observation and resuming are modules of
their own.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn as nn
from netbuilder.core.errors import UserError
from netbuilder.core.model.codegen import GeneratedCode
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import infer
from netbuilder.core.model.layers import get_spec
from netbuilder.core.model.shapes import fmt_shape
from netbuilder.core.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from netbuilder.core.train.config import (
    DATASETS,
    DEVICES,
    FIT_INPUTS,
    LOSSES,
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    TrainError,
)
from netbuilder.core.train.data import Dataset, check_compat, load_dataset, prepare_images
from netbuilder.core.train.device import resolve_device
from netbuilder.core.train.divergence import DivergenceWatch
from netbuilder.core.train.evaluation import MAX_MISCLASSIFIED, Evaluation, evaluate_split
from netbuilder.core.train.events import (
    EpochEvent,
    FailedEvent,
    FinishedEvent,
    StepEvent,
    StoppedEvent,
    TrainEvent,
    WarningEvent,
)
from netbuilder.core.train.fit import TOKENS_UNSUPPORTED
from netbuilder.core.train.observe import (
    HISTOGRAM_BINS,
    RunView,
    diagnose_non_finite,
    grad_stats,
    histogram,
    readback,
)
from netbuilder.core.train.optim import loss_value, lr_at, make_optimizer
from netbuilder.core.train.resume import check_mid_epoch, restore_optimizer


def _new_history() -> dict[str, list[float]]:
    return {k: [] for k in ("step_loss", "lr", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
                            "epoch_seconds")}


class Trainer:
    """Trains ``graph`` on a dataset. Iterate over it (or call :meth:`run`) to train; each item is a
    :data:`~netbuilder.core.train.events.TrainEvent`. Construction builds the model and checks that it fits the data
    and the loss, raising :class:`TrainError` (a :class:`UserError`) with the node and the fix."""

    def __init__(self, graph: Graph, config: TrainConfig | None = None, dataset: Dataset | None = None) -> None:
        config = config or TrainConfig()
        config.validate()
        self.config = config
        self.graph = graph.copy()
        self.device = resolve_device(config.device)
        result = infer(self.graph)
        if result.ok and result.input_vocab is not None:  # token ids: said before any data is looked for
            raise TrainError(TOKENS_UNSUPPORTED, node=result.input_id, field="dataset")
        self.dataset = dataset if dataset is not None else load_dataset(config.dataset, config.data_dir)
        self.warnings: list[WarningEvent] = []

        if not result.ok:
            err = result.errors[0] if result.errors else None
            raise TrainError(f"the network has errors: {err.message if err else 'it has no output'}",
                             node=err.node if err else None)
        assert result.input_id is not None and result.output_id is not None
        self.input_id, self.output_id = result.input_id, result.output_id
        in_shape = result.nodes[self.input_id].output_shape
        assert in_shape is not None
        self.input_shape: tuple[int, ...] = tuple(in_shape)
        problem = check_compat(self.input_shape, self.dataset, config.fit_input)
        if problem:
            raise TrainError(problem, node=self.input_id, field="fit_input")
        self._check_output(result.nodes[self.output_id].output_shape)

        torch.manual_seed(config.seed)  # the weights' initial values
        model, code = build_model(self.graph, result)
        self.code: GeneratedCode = code
        self._node_of_attr = {attr: nid for nid, attr in code.attr_names.items()}
        self._channels_last = (config.channels_last and len(self.input_shape) == 3 and self.device.type == "cpu"
                               and any(isinstance(m, nn.Conv2d) for m in model.modules()))
        self.model: nn.Module = model.to(self.device)
        if self._channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self._params = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        if not self._params:
            raise TrainError("the network has no trainable parameters: add a Linear or Conv2d layer")
        self.optimizer = make_optimizer(config, [p for _, p in self._params])

        ds = self.dataset
        on_device = self.device.type != "cpu"
        self._train_x = ds.train_x.to(self.device) if on_device else ds.train_x
        self._train_y = ds.train_y.to(self.device)
        n = len(ds.train_y)
        if n == 0:
            raise TrainError(f"the dataset {ds.name!r} has no training samples")
        self.steps_per_epoch = math.ceil(n / config.batch_size)
        if config.limit_steps:
            self.steps_per_epoch = min(self.steps_per_epoch, config.limit_steps)

        mean = torch.tensor(ds.mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        std = torch.tensor(ds.std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self._scale = 1.0 / (255.0 * std)
        self._shift = -mean / std
        self._hist_name = self._pick_histogram_param()
        self.history: dict[str, list[float]] = _new_history()
        self.epoch = 0  # completed epochs
        self.global_step = 0
        self._step_in_epoch = 0
        self._acc: dict[str, float] = {"loss_sum": 0.0, "correct": 0.0, "seen": 0.0, "seconds": 0.0}
        self._train_seconds = 0.0
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        # held for each step + its bookkeeping and for evaluation; never while paused or while yielding
        self._lock = threading.RLock()
        self._correct = torch.zeros((), dtype=torch.int64, device=self.device)  # this epoch's, not yet in _acc

    # ------------------------------------------------------------ checks and setup

    def _label(self, node_id: str) -> str:
        node = self.graph.node(node_id)
        return f"'{node_id}' ({node.type})"

    def _check_output(self, shape: tuple[int, ...] | None) -> None:
        k = self.dataset.num_classes
        out = self.output_id
        meaning = get_spec(self.graph.node(out).type).output  # what the last layer's values are
        if shape is not None and len(shape) == 3 and shape[1:] == tuple(self.dataset.shape[1:]):
            # a per-pixel map the size of the images (a UNet): there is no such target to train on
            raise TrainError(
                f"the network's output {self._label(out)} is {fmt_shape(shape)}, a map the size of the images "
                f"(segmentation-style), but {self.dataset.name} has one class label per image and NetBuilder "
                f"trains classifiers: build, inspect and export this network, or end it with a global pooling, "
                f"Flatten and Linear(out_features={k}) to classify", node=out,
            )
        if shape != (k,):
            got = fmt_shape(shape or ())
            hint = (" — add a Flatten before the last Linear layer" if shape is not None and len(shape) > 1
                    else "")
            raise TrainError(
                f"the network's output {self._label(out)} is {got} but {self.dataset.name} has {k} classes, so "
                f"the {self.config.loss} loss needs N×{k}: end the network with a Linear layer with "
                f"out_features {k}{hint}", node=out,
            )
        loss = self.config.loss
        if loss == "nll" and meaning != "log_probabilities":
            self.warnings.append(WarningEvent(
                f"the NLL loss expects log-probabilities but the network ends with {self._label(out)}: add a "
                f"LogSoftmax (dim 1) at the end, or use the cross-entropy loss", node=out))
        if loss == "cross-entropy" and meaning == "probabilities":
            self.warnings.append(WarningEvent(
                f"the cross-entropy loss applies log-softmax itself; the final Softmax {self._label(out)} squashes "
                f"the gradients and slows learning: remove it (or use LogSoftmax with the NLL loss)", node=out))

    def _pick_histogram_param(self) -> str:
        names = [n for n, _ in self._params]
        want = self.config.histogram_param
        if want is not None and want in names:
            return want
        if want is not None:
            self.warnings.append(WarningEvent(f"histogram_param {want!r} is not a parameter of this network "
                                              f"(choices: {', '.join(names)}); showing {names[0]}"))
        return next((n for n in names if n.endswith(".weight")), names[0])

    def node_of(self, param_name: str) -> str:
        """The canvas node id a parameter (``"conv1.weight"``) belongs to."""
        attr = param_name.split(".", 1)[0]
        return self._node_of_attr.get(attr, attr)

    def lr_at(self, step: int) -> float:
        """The learning rate of optimisation step ``step`` (0-based) under the schedule."""
        return lr_at(self.config, step, self.steps_per_epoch)

    def _batch(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8 and tuple(x.shape[1:]) == self.input_shape:
            # fast path, same result as prepare_images: (x/255 − mean)/std as one multiply-add
            xb = torch.addcmul(self._shift, x.to(self.device).float(), self._scale)
        else:
            xb = prepare_images(x, self.dataset, self.input_shape, self.config.fit_input, self.device)
        if self._channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        return xb

    def _loss(self, out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return loss_value(self.config.loss, out, y, reduction)

    def _perm(self, epoch: int) -> torch.Tensor:
        # modulo 2**63: any valid seed works, and small seeds keep the shuffles they always had
        gen = torch.Generator().manual_seed((self.config.seed * 1_000_003 + epoch) % 2**63)
        perm = torch.randperm(len(self.dataset.train_y), generator=gen)
        return perm.to(self.device) if self.device.type != "cpu" else perm

    # ------------------------------------------------------------ control (thread-safe)

    def stop(self) -> None:
        """Ask the run to stop after the current step (from any thread). The state stays resumable."""
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Hold the run between steps until :meth:`resume` or :meth:`stop` (from any thread)."""
        self._running.clear()

    def resume(self) -> None:
        """Continue a paused run (from any thread)."""
        self._running.set()

    @property
    def paused(self) -> bool:
        """True while paused."""
        return not self._running.is_set()

    # ------------------------------------------------------------ the run

    def run(self, on_event: Callable[[TrainEvent], Any] | None = None) -> TrainEvent:
        """Train to the end (or until stopped or failed), passing each event to ``on_event``; returns the
        last event (:class:`FinishedEvent`, :class:`StoppedEvent` or :class:`FailedEvent`)."""
        last: TrainEvent | None = None
        for ev in self:
            if on_event is not None:
                on_event(ev)
            last = ev
        assert last is not None
        return last

    def __iter__(self) -> Iterator[TrainEvent]:
        # torch's thread count is set for the run and put back after it (finished, stopped or failed), so
        # a run with `threads` does not change the rest of the process
        threads_before = torch.get_num_threads()
        if self.config.threads and self.config.threads != threads_before:
            torch.set_num_threads(self.config.threads)
        try:
            yield from self._events()
        except UserError as e:
            yield FailedEvent(str(e), getattr(e, "node", None))
        except Exception as e:  # a bug or the machine (out of memory): report it, never crash the caller
            import traceback

            yield FailedEvent(f"training failed: {type(e).__name__}: {e}",
                              details={"traceback": traceback.format_exc()})
        finally:
            with self._lock:
                self.model.train()
            if torch.get_num_threads() != threads_before:
                torch.set_num_threads(threads_before)

    def _fold_correct(self) -> None:
        """Move this epoch's on-device count of correct predictions into ``_acc`` (one sync)."""
        self._acc["correct"] += float(self._correct)
        self._correct.zero_()

    def _stopped(self, since: float) -> StoppedEvent:
        """The one way a run stops: fold the epoch's counters (the state stays resumable), count the time
        since ``since``, and consume the request so that iterating again continues the run."""
        with self._lock:
            self._fold_correct()
            self._acc["seconds"] += time.perf_counter() - since
        self._stop.clear()
        return StoppedEvent(self.epoch, self.global_step)

    def _events(self) -> Iterator[TrainEvent]:
        c = self.config
        yield from self.warnings
        run = _RunState(self, self.steps_per_epoch * c.epochs)
        with self._lock:
            self.model.train()
        while self.epoch < c.epochs:
            ep = self.epoch + 1
            perm = self._perm(ep)
            with self._lock:
                if self._step_in_epoch == 0:
                    self._acc = {"loss_sum": 0.0, "correct": 0.0, "seen": 0.0, "seconds": 0.0}
                    self._correct.zero_()
            t_last = time.perf_counter()
            for s in range(self._step_in_epoch, self.steps_per_epoch):
                if not self._running.is_set():
                    self._acc["seconds"] += time.perf_counter() - t_last  # paused time is not training time
                    while not self._running.wait(0.1):  # paused: the lock is free for saves meanwhile
                        pass
                    t_last = time.perf_counter()
                # a stop asked during the last epoch's evaluation lands here too, before the next epoch
                if self._stop.is_set():
                    yield self._stopped(t_last)
                    return
                events = self._step(run, perm, ep, s)
                yield from events
                if isinstance(events[-1], FailedEvent):
                    return
                # time spent by the consumer between steps counts to the epoch, not to throughput
            epoch_event = self._end_epoch(ep, t_last)
            yield epoch_event
            warning = run.watch.epoch(ep, self.steps_per_epoch, epoch_event.train_accuracy)
            if warning is not None:
                yield warning
        h = self.history
        seconds = self._train_seconds
        per_epoch = min(len(self.dataset.train_y), self.steps_per_epoch * c.batch_size)
        sps = per_epoch * len(h["epoch_seconds"]) / seconds if seconds > 0 else 0.0
        # a stop that came during the last step or evaluation is moot: the run finished. Clear it, or
        # continuing with more epochs (the GUI's Continue) would stop at once.
        self._stop.clear()
        yield FinishedEvent({k: list(v) for k, v in h.items()}, h["test_accuracy"][-1] if h["test_accuracy"] else 0.0,
                            h["test_loss"][-1] if h["test_loss"] else 0.0, seconds, sps)

    def _step(self, run: _RunState, perm: torch.Tensor, ep: int, s: int) -> list[TrainEvent]:
        """Step ``s`` (0-based) of epoch ``ep`` with its bookkeeping, as one unit under the lock (a save from
        another thread sees all or none of it). Returns its events, a :class:`FailedEvent` last if the
        loss or a gradient went non-finite (the optimizer step is then not taken)."""
        c = self.config
        t0 = time.perf_counter()
        events: list[TrainEvent] = []
        with self._lock:
            idx = perm[s * c.batch_size:(s + 1) * c.batch_size]
            xb = self._batch(self._train_x[idx])
            yb = self._train_y[idx]
            lr = self.lr_at(self.global_step)
            for g in self.optimizer.param_groups:
                g["lr"] = lr
            out = self.model(xb)
            loss = self._loss(out, yb)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            gstep = self.global_step + 1
            stats_step = c.stats_every > 0 and gstep % c.stats_every == 0
            values, gnorms = readback(loss, run.params, c.stats_every > 0)
            if not all(math.isfinite(v) for v in values):
                return [diagnose_non_finite(self._run_view(), xb, values, ep, s + 1, lr)]
            before = [p.detach().clone() for p in run.params] if stats_step else None
            self.optimizer.step()
            self._correct += (out.detach().argmax(1) == yb).sum()
            n = len(idx)
            self._acc["loss_sum"] += values[0] * n
            self._acc["seen"] += n
            self.global_step = gstep
            self._step_in_epoch = s + 1
            self.history["step_loss"].append(values[0])
            self.history["lr"].append(lr)
            run.active += time.perf_counter() - t0
            run.steps += 1
            run.samples += n
            per_step = run.active / run.steps
            events.append(StepEvent(ep, s + 1, self.steps_per_epoch, gstep, run.total_steps, values[0], lr,
                                    run.samples / run.active if run.active > 0 else 0.0,
                                    per_step * (run.total_steps - gstep)))
            warning = run.watch.step(values[0])
            if warning is not None:
                events.append(warning)
            if stats_step and gnorms is not None and before is not None:
                events.append(grad_stats(gstep, run.names, run.layers, run.params, gnorms, before))
            if c.histogram_every > 0 and gstep % c.histogram_every == 0 and run.hist_p.grad is not None:
                events.append(histogram(gstep, self._hist_name, run.hist_p.grad))
        return events

    def _end_epoch(self, ep: int, t_last: float) -> EpochEvent:
        """Evaluate on the test set and record epoch ``ep`` in the history."""
        with self._lock:
            self._fold_correct()
            self._acc["seconds"] += time.perf_counter() - t_last
            t_eval = time.perf_counter()
            ev = self.evaluate()
            seconds = self._acc["seconds"] + time.perf_counter() - t_eval
            seen = max(1.0, self._acc["seen"])
            train_loss, train_acc = self._acc["loss_sum"] / seen, self._acc["correct"] / seen
            self.epoch = ep
            self._step_in_epoch = 0
            self._train_seconds += seconds
            h = self.history
            h["train_loss"].append(train_loss)
            h["train_accuracy"].append(train_acc)
            h["test_loss"].append(ev.loss)
            h["test_accuracy"].append(ev.accuracy)
            h["epoch_seconds"].append(seconds)
        return EpochEvent(ep, train_loss, train_acc, ev.loss, ev.accuracy, seconds, ev.confusion,
                          ev.misclassified, ev.predictions)

    def _run_view(self) -> RunView:
        return RunView(self.model, self._params, self.node_of, self._node_of_attr, self._label, self.input_id,
                       self.output_id, self.config.loss)

    # ------------------------------------------------------------ evaluation and prediction

    def evaluate(self, split: str = "test") -> Evaluation:
        """Loss, accuracy, confusion matrix [true][predicted] and misclassified indices (with their predicted
        classes, at most :data:`MAX_MISCLASSIFIED`) over a whole split, in large batches, in inference mode.
        Safe from another thread during a run: it waits for the current step (it switches the model to eval
        mode, which must not leak into a training step)."""
        with self._lock:
            return self._evaluate(split)

    def _evaluate(self, split: str) -> Evaluation:
        ds = self.dataset
        x, y = (ds.test_x, ds.test_y) if split == "test" else (ds.train_x, ds.train_y)
        return evaluate_split(self.model, self._batch, x, y, ds.num_classes, self.config.loss,
                              self.config.eval_batch_size, self.device)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Class probabilities (softmax, N×K, on the CPU) for images in the dataset's raw scale: uint8
        0..255 or float 0..1, N×C×H×W or one C×H×W image. Fitting and normalisation as in training.
        Safe from another thread during a run (it waits for the current step)."""
        x = images if images.dim() == 4 else images.unsqueeze(0)
        with self._lock:
            was_training = self.model.training
            self.model.eval()
            try:
                with torch.inference_mode():
                    out = self.model(self._batch(x))
            finally:
                self.model.train(was_training)
        return torch.softmax(out.float(), dim=1).cpu()

    # ------------------------------------------------------------ checkpoints

    def _rng_state(self) -> dict[str, Any]:
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return rng

    def save_checkpoint(self, path: str) -> None:
        """Save everything needed to resume exactly (see :mod:`netbuilder.core.train.checkpoint`). Safe from
        another thread during a run, paused or not: it waits for the current step to finish, so the weights,
        optimizer state, RNG and counters all belong to the same step."""
        with self._lock:
            acc = {**self._acc, "correct": self._acc["correct"] + float(self._correct)}
            save_checkpoint(path, graph=self.graph, state_dict=self.model.state_dict(),
                            optimizer_state=self.optimizer.state_dict(), rng=self._rng_state(), epoch=self.epoch,
                            global_step=self.global_step, history=self.history, config=self.config.to_dict(),
                            progress={"step_in_epoch": self._step_in_epoch, "train_seconds": self._train_seconds,
                                      **acc})

    @classmethod
    def from_checkpoint(cls, path: str, dataset: Dataset | None = None, config: TrainConfig | None = None) -> Trainer:
        """A trainer that continues the checkpointed run exactly. ``config`` (e.g. with more epochs) replaces
        the stored settings."""
        ck = load_checkpoint(path)
        cfg = config if config is not None else TrainConfig.from_dict(ck.config)
        trainer = cls(ck.graph, cfg, dataset)
        try:
            trainer.model.load_state_dict(ck.state_dict)
        except RuntimeError as e:
            raise CheckpointError(
                f"{path}: the stored weights do not fit the stored network ({str(e)[:300]})") from None
        trainer.optimizer, warning = restore_optimizer(trainer.optimizer, trainer._params, cfg, path,
                                                       ck.optimizer_state, ck.config.get("optimizer"))
        if warning is not None:
            trainer.warnings.append(warning)
        trainer.epoch, trainer.global_step = ck.epoch, ck.global_step
        trainer.history = {**_new_history(), **{k: [float(v) for v in vs] for k, vs in ck.history.items()}}
        prog = ck.progress
        step_in_epoch = int(prog.get("step_in_epoch", 0))
        if step_in_epoch > 0:
            check_mid_epoch(cfg, path, trainer.epoch, step_in_epoch, trainer.steps_per_epoch, ck.config)
        trainer._step_in_epoch = step_in_epoch
        trainer._train_seconds = float(prog.get("train_seconds", 0.0))
        trainer._acc = {k: float(prog.get(k, 0.0)) for k in ("loss_sum", "correct", "seen", "seconds")}
        rng = ck.rng
        try:
            if isinstance(rng.get("torch"), torch.Tensor):
                torch.set_rng_state(rng["torch"])
            if trainer.device.type == "cuda" and isinstance(rng.get("cuda"), list):
                torch.cuda.set_rng_state_all(rng["cuda"])
        except (RuntimeError, TypeError, ValueError) as e:
            raise CheckpointError(f"{path}: the checkpoint's random-generator state is damaged "
                                  f"({str(e)[:200]})") from None
        return trainer


class _RunState:
    """Per-iteration bookkeeping of a run: the parameter lists a step needs and the throughput counters
    (of this iteration only: a resumed run measures its own speed)."""

    def __init__(self, trainer: Trainer, total_steps: int) -> None:
        self.total_steps = total_steps
        self.params = [p for _, p in trainer._params]
        self.names = [n for n, _ in trainer._params]
        self.layers = [trainer.node_of(n) for n in self.names]
        self.hist_p = dict(trainer._params)[trainer._hist_name]
        self.steps, self.samples, self.active = 0, 0, 0.0
        self.watch = DivergenceWatch(trainer.config, trainer.dataset.num_classes)


__all__ = [
    "DATASETS", "DEVICES", "FIT_INPUTS", "HISTOGRAM_BINS", "LOSSES", "MAX_MISCLASSIFIED", "OPTIMIZERS", "SCHEDULES",
    "Evaluation", "TrainConfig", "TrainError", "Trainer", "resolve_device",
]
