"""The training engine: an iterator of plain event dataclasses (:mod:`core.train_events`), no Qt.

Speed comes from keeping the whole dataset in memory as uint8 and batching by indexing with a seeded
``randperm`` per epoch (no DataLoader, no PIL, no worker processes); each batch is converted and
normalised in one go on the training device. Observation is cheap: gradient norms of every parameter
tensor are computed with one fused ``torch._foreach_norm`` per step and stay on the device; they are
read back together with the loss (one sync per step, which also catches non-finite gradients), and
weight norms, update/weight ratios and a histogram are computed only every few steps.

Runs are reproducible on the CPU: the weights are initialised after ``torch.manual_seed(seed)`` and
epoch ``e`` is shuffled with a generator seeded from ``(seed, e)``, so a run resumed from a checkpoint
(which also restores the global RNG, used by dropout) continues exactly where it stopped.

``stop()``, ``pause()`` and ``resume()`` may be called from any thread; they set
:class:`threading.Event` flags checked between steps. Each optimisation step with its bookkeeping, and
each end-of-epoch evaluation, runs under a lock that :meth:`Trainer.save_checkpoint`,
:meth:`Trainer.evaluate` and :meth:`Trainer.predict` also take: a checkpoint saved from another thread
(say right after ``pause()``, while the current step is still running) always holds weights, optimizer
state and counters of one and the same step.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from netbuilder.core.errors import UserError
from netbuilder.core.model.codegen import GeneratedCode
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import infer
from netbuilder.core.model.shapes import fmt_shape
from netbuilder.core.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from netbuilder.core.train.data import (
    DATASETS,
    FIT_INPUTS,
    Dataset,
    check_compat,
    load_dataset,
    normalise_name,
    prepare_images,
)
from netbuilder.core.train.events import (
    EpochEvent,
    FailedEvent,
    FinishedEvent,
    GradStatsEvent,
    HistogramEvent,
    StepEvent,
    StoppedEvent,
    TrainEvent,
    WarningEvent,
)

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw", "rmsprop")
LOSSES: tuple[str, ...] = ("cross-entropy", "nll", "mse")
SCHEDULES: tuple[str, ...] = ("none", "step", "cosine")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
MAX_MISCLASSIFIED = 500
HISTOGRAM_BINS = 30


class TrainError(UserError):
    """Training cannot start: the network, the data or the settings do not fit. ``node`` names the
    canvas node at fault, ``field`` the setting."""


@dataclass
class TrainConfig:
    """Training settings; every field has a default. Stored as the project file's ``training`` object.

    ``limit_steps`` caps the optimisation steps per epoch (for quick tries); ``stats_every`` is how often
    gradient statistics are read back (0 turns them off); ``step_size`` is the epochs between the
    ``step`` schedule's multiplications by ``gamma`` (default: a third of the epochs)."""

    dataset: str = "mnist"
    data_dir: str | None = None
    epochs: int = 5
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    nesterov: bool = False
    loss: str = "cross-entropy"
    schedule: str = "cosine"
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    limit_steps: int | None = None
    fit_input: str = "none"
    stats_every: int = 20
    histogram_every: int = 100
    histogram_param: str | None = None
    eval_batch_size: int = 1000
    step_size: int | None = None
    gamma: float = 0.1
    channels_last: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Build and validate a config; unknown keys are ignored (newer files), bad values raise
        :class:`TrainError` naming the field."""
        if not isinstance(d, Mapping):
            raise TrainError("training settings must be an object")
        known = {f.name for f in fields(cls)}
        cfg = cls(**{k: v for k, v in d.items() if k in known})
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Check every field (types, ranges, choices); :class:`TrainError` naming the first bad one."""

        def bad(name: str, why: str) -> TrainError:
            return TrainError(f"training setting '{name}' {why} (got {getattr(self, name)!r})", field=name)

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        try:
            self.dataset = normalise_name(str(self.dataset))
        except UserError:
            raise bad("dataset", f"must be one of {', '.join(DATASETS)}") from None
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            raise bad("data_dir", "must be a folder path or null")
        for name, lo, hi in (("epochs", 1, 100_000), ("batch_size", 1, 1_000_000), ("eval_batch_size", 1, 1_000_000),
                             ("stats_every", 0, 10**9), ("histogram_every", 0, 10**9), ("seed", 0, 2**63 - 1)):
            v = getattr(self, name)
            if not is_int(v) or not lo <= v <= hi:
                raise bad(name, f"must be a whole number from {lo} to {hi}")
        for name, lo in (("threads", 1), ("limit_steps", 1), ("step_size", 1)):
            v = getattr(self, name)
            if v is not None and (not is_int(v) or v < lo):
                raise bad(name, f"must be a whole number ≥ {lo}, or null")
        if not is_num(self.lr) or not 0 < self.lr <= 100:
            raise bad("lr", "must be a number above 0 (and at most 100)")
        for name in ("momentum", "weight_decay", "gamma"):
            v = getattr(self, name)
            if not is_num(v) or v < 0 or (name != "weight_decay" and v > 1):
                raise bad(name, "must be a number from 0 to 1" if name != "weight_decay" else "must be ≥ 0")
        for name in ("nesterov", "channels_last"):
            if not isinstance(getattr(self, name), bool):
                raise bad(name, "must be true or false")
        for name, choices in (("optimizer", OPTIMIZERS), ("loss", LOSSES), ("schedule", SCHEDULES),
                              ("device", DEVICES), ("fit_input", FIT_INPUTS)):
            v = getattr(self, name)
            if isinstance(v, str):
                v = v.strip().lower().replace("_", "-")
                if name == "loss":
                    v = {"ce": "cross-entropy", "crossentropy": "cross-entropy", "cross-entropy-loss":
                         "cross-entropy", "nll-loss": "nll", "mse-loss": "mse"}.get(v, v)
                setattr(self, name, v)
            if v not in choices:
                raise bad(name, f"must be one of {', '.join(choices)}")
        if self.nesterov and self.optimizer == "sgd" and self.momentum == 0:
            raise bad("nesterov", "needs momentum above 0")
        if self.histogram_param is not None and not isinstance(self.histogram_param, str):
            raise bad("histogram_param", "must be a parameter name such as 'conv1.weight', or null")


@dataclass
class Evaluation:
    """Results of evaluating a whole split."""

    loss: float
    accuracy: float
    confusion: list[list[int]] = field(default_factory=list)  # [true][predicted]
    misclassified: list[int] = field(default_factory=list)
    predictions: list[int] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    """``auto`` → cuda, then mps, then cpu; an explicit device that is not there is a :class:`TrainError`."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError("device 'cuda' is not available here (no NVIDIA GPU, or this torch has no CUDA); "
                         "use device auto or cpu", field="device")
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise TrainError("device 'mps' (Apple GPU) is not available here; use device auto or cpu", field="device")
    return torch.device(name)


def _new_history() -> dict[str, list[float]]:
    return {k: [] for k in ("step_loss", "lr", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
                            "epoch_seconds")}


class Trainer:
    """Trains ``graph`` on a dataset. Iterate over it (or call :meth:`run`) to train; each item is a
    :data:`~core.train_events.TrainEvent`. Construction builds the model and checks that it fits the data
    and the loss, raising :class:`TrainError` (a :class:`UserError`) with the node and the fix."""

    def __init__(self, graph: Graph, config: TrainConfig | None = None, dataset: Dataset | None = None) -> None:
        config = config or TrainConfig()
        config.validate()
        self.config = config
        self.graph = graph.copy()
        self.device = resolve_device(config.device)
        self.dataset = dataset if dataset is not None else load_dataset(config.dataset, config.data_dir)
        self.warnings: list[WarningEvent] = []

        result = infer(self.graph)
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
        self.optimizer = self._make_optimizer()

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
        out_type = self.graph.node(out).type
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
        if loss == "nll" and out_type != "LogSoftmax":
            self.warnings.append(WarningEvent(
                f"the NLL loss expects log-probabilities but the network ends with {self._label(out)}: add a "
                f"LogSoftmax (dim 1) at the end, or use the cross-entropy loss", node=out))
        if loss == "cross-entropy" and out_type == "Softmax":
            self.warnings.append(WarningEvent(
                f"the cross-entropy loss applies log-softmax itself; the final Softmax {self._label(out)} squashes "
                f"the gradients and slows learning: remove it (or use LogSoftmax with the NLL loss)", node=out))

    def _make_optimizer(self) -> torch.optim.Optimizer:
        c = self.config
        params = [p for _, p in self._params]
        if c.optimizer == "sgd":
            return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay,
                                   nesterov=c.nesterov)
        if c.optimizer == "adam":
            return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        if c.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
        return torch.optim.RMSprop(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)

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
        c = self.config
        if c.schedule == "cosine":
            total = max(1, self.steps_per_epoch * c.epochs)
            return c.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
        if c.schedule == "step":
            size = c.step_size or max(1, c.epochs // 3)
            return c.lr * c.gamma ** ((step // self.steps_per_epoch) // size)
        return c.lr

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
        if self.config.loss == "nll":
            return F.nll_loss(out, y, reduction=reduction)
        if self.config.loss == "mse":
            target = F.one_hot(y, out.shape[1]).to(out.dtype)
            return F.mse_loss(out, target, reduction=reduction)
        return F.cross_entropy(out, y, reduction=reduction)

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

    def _events(self) -> Iterator[TrainEvent]:
        c = self.config
        yield from self.warnings
        total_steps = self.steps_per_epoch * c.epochs
        bs = c.batch_size
        params = [p for _, p in self._params]
        names = [n for n, _ in self._params]
        layers = [self.node_of(n) for n in names]
        hist_p = dict(self._params)[self._hist_name]
        run_steps, run_samples, run_active = 0, 0, 0.0
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
                if self._stop.is_set():
                    with self._lock:
                        self._fold_correct()
                        self._acc["seconds"] += time.perf_counter() - t_last
                    self._stop.clear()  # consumed: iterating again continues the run
                    yield StoppedEvent(self.epoch, self.global_step)
                    return
                if not self._running.is_set():
                    self._acc["seconds"] += time.perf_counter() - t_last
                    while not self._running.wait(0.1):  # paused: the lock is free for saves meanwhile
                        pass
                    if self._stop.is_set():
                        with self._lock:
                            self._fold_correct()
                        self._stop.clear()  # consumed: iterating again continues the run
                        yield StoppedEvent(self.epoch, self.global_step)
                        return
                    t_last = time.perf_counter()
                t0 = time.perf_counter()
                events: list[TrainEvent] = []
                # the step and its bookkeeping as one unit: a save from another thread sees all or none of it
                with self._lock:
                    idx = perm[s * bs:(s + 1) * bs]
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
                    values, gnorms = self._readback(loss, params, c.stats_every > 0)
                    if not all(math.isfinite(v) for v in values):
                        failed = self._non_finite(xb, yb, values, ep, s + 1, lr)
                    else:
                        failed = None
                        before = [p.detach().clone() for p in params] if stats_step else None
                        self.optimizer.step()
                        self._correct += (out.detach().argmax(1) == yb).sum()
                        n = len(idx)
                        self._acc["loss_sum"] += values[0] * n
                        self._acc["seen"] += n
                        self.global_step = gstep
                        self._step_in_epoch = s + 1
                        self.history["step_loss"].append(values[0])
                        self.history["lr"].append(lr)
                        now = time.perf_counter()
                        run_active += now - t0
                        run_steps += 1
                        run_samples += n
                        per_step = run_active / run_steps
                        events.append(StepEvent(ep, s + 1, self.steps_per_epoch, gstep, total_steps, values[0], lr,
                                                run_samples / run_active if run_active > 0 else 0.0,
                                                per_step * (total_steps - gstep)))
                        if stats_step and gnorms is not None and before is not None:
                            events.append(self._grad_stats(gstep, names, layers, params, gnorms, before))
                        if c.histogram_every > 0 and gstep % c.histogram_every == 0 and hist_p.grad is not None:
                            events.append(self._histogram(gstep, hist_p.grad))
                if failed is not None:
                    yield failed
                    return
                yield from events
                # time spent by the consumer between steps counts to the epoch, not to throughput
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
            yield EpochEvent(ep, train_loss, train_acc, ev.loss, ev.accuracy, seconds, ev.confusion,
                             ev.misclassified, ev.predictions)
            if self._stop.is_set() and self.epoch < c.epochs:
                self._stop.clear()  # consumed: iterating again continues the run
                yield StoppedEvent(self.epoch, self.global_step)
                return
        h = self.history
        seconds = self._train_seconds
        per_epoch = min(len(self.dataset.train_y), self.steps_per_epoch * bs)
        sps = per_epoch * len(h["epoch_seconds"]) / seconds if seconds > 0 else 0.0
        # a stop that came during the last step or evaluation is moot: the run finished. Clear it, or
        # continuing with more epochs (the GUI's Continue) would stop at once.
        self._stop.clear()
        yield FinishedEvent({k: list(v) for k, v in h.items()}, h["test_accuracy"][-1] if h["test_accuracy"] else 0.0,
                            h["test_loss"][-1] if h["test_loss"] else 0.0, seconds, sps)

    @staticmethod
    def _readback(loss: torch.Tensor, params: Sequence[torch.Tensor],
                  with_norms: bool) -> tuple[list[float], torch.Tensor | None]:
        """The per-step sync: the loss and (with_norms) the sum of all gradient norms, read back in one
        ``tolist()``; the per-tensor norms (one fused ``_foreach_norm``) stay on the device."""
        if not with_norms:
            return loss.detach().float().reshape(1).tolist(), None
        grads = [p.grad for p in params]
        if any(g is None for g in grads):  # a parameter the loss does not reach
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        gnorms = torch.stack(torch._foreach_norm(grads))  # type: ignore[arg-type]
        check = torch.stack([loss.detach().float(), gnorms.sum().float()])
        return check.tolist(), gnorms

    def _grad_stats(self, gstep: int, names: list[str], layers: list[str], params: Sequence[torch.Tensor],
                    gnorms: torch.Tensor, before: list[torch.Tensor]) -> GradStatsEvent:
        with torch.no_grad():
            deltas = torch._foreach_sub([p.detach() for p in params], before)
            dn = torch.stack(torch._foreach_norm(deltas))
            wn = torch.stack(torch._foreach_norm([p.detach() for p in params]))
            ratio = dn / wn.clamp_min(1e-12)
            rows = torch.stack([gnorms.float(), wn.float(), ratio.float()]).tolist()
        return GradStatsEvent(gstep, list(names), list(layers), rows[0], rows[1], rows[2])

    def _histogram(self, gstep: int, grad: torch.Tensor) -> HistogramEvent:
        with torch.no_grad():
            g = grad.detach().float().reshape(-1)
            lo, hi = (float(v) for v in torch.stack([g.min(), g.max()]).tolist())
            if not hi > lo:
                lo, hi = lo - 0.5, hi + 0.5
            counts = torch.histc(g, bins=HISTOGRAM_BINS, min=lo, max=hi).to(torch.int64).tolist()
        step = (hi - lo) / HISTOGRAM_BINS
        return HistogramEvent(gstep, self._hist_name, counts, [lo + i * step for i in range(HISTOGRAM_BINS + 1)])

    def _non_finite(self, xb: torch.Tensor, yb: torch.Tensor, values: list[float], epoch: int, step: int,
                    lr: float) -> FailedEvent:
        """Find the first layer that became non-finite and say so (the weights are left as they were)."""
        where = f"epoch {epoch}, step {step}"
        advice = f"lower the learning rate (now {lr:g}), add normalisation, or check the data"
        details: dict[str, Any] = {"epoch": epoch, "step": step, "loss": values[0]}
        for name, p in self._params:
            if not bool(torch.isfinite(p.detach()).all()):
                node = self.node_of(name)
                return FailedEvent(f"training stopped at {where}: the weights {name} of layer {self._label(node)} "
                                   f"are no longer finite numbers (NaN or infinity); {advice}", node, details)
        if not bool(torch.isfinite(xb).all()):
            return FailedEvent(f"training stopped at {where}: the input batch holds NaN or infinite values; "
                               f"check the data", self.input_id, details)
        first: list[str] = []
        hooks = []

        def hook(name: str) -> Callable[..., None]:
            def fn(_m: nn.Module, _i: Any, out: Any) -> None:
                if not first and isinstance(out, torch.Tensor) and not bool(torch.isfinite(out).all()):
                    first.append(name)
            return fn

        for name, mod in self.model.named_modules():
            if name and "." not in name:
                hooks.append(mod.register_forward_hook(hook(name)))
        try:
            with torch.no_grad():
                out = self.model(xb)
        finally:
            for h in hooks:
                h.remove()
        if first:
            node = self._node_of_attr.get(first[0], first[0])
            return FailedEvent(f"training stopped at {where}: the output of layer {self._label(node)} became "
                               f"non-finite (NaN or infinity) — the first layer to do so; {advice}", node, details)
        if not math.isfinite(values[0]):
            if not bool(torch.isfinite(out).all()):
                node = self.output_id
                return FailedEvent(f"training stopped at {where}: the network's output {self._label(node)} became "
                                   f"non-finite; {advice}", node, details)
            peak = float(out.detach().abs().max())
            return FailedEvent(f"training stopped at {where}: the {self.config.loss} loss became non-finite "
                               f"({values[0]}) although the output of layer {self._label(self.output_id)} is "
                               f"finite (values up to {peak:.3g}); "
                               + ("the NLL loss needs log-probabilities (end with LogSoftmax); "
                                  if self.config.loss == "nll" else "") + advice, self.output_id, details)
        for name, p in self._params:
            if p.grad is None:
                continue
            node = self.node_of(name)
            if not bool(torch.isfinite(p.grad).all()):
                return FailedEvent(f"training stopped at {where}: the gradient of {name} in layer {self._label(node)} "
                                   f"became non-finite — the first such layer; {advice}", node, details)
            if not math.isfinite(float(p.grad.norm())):
                return FailedEvent(f"training stopped at {where}: the gradient of {name} in layer {self._label(node)} "
                                   f"exploded (its norm overflows) — the first such layer; {advice}", node, details)
        return FailedEvent(f"training stopped at {where}: a gradient became non-finite; {advice}", None, details)

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
        k = ds.num_classes
        n = len(y)
        if n == 0:
            return Evaluation(float("nan"), 0.0, [[0] * k for _ in range(k)])
        was_training = self.model.training
        self.model.eval()
        # float64 keeps a 10,000-sample sum exact enough; MPS has no float64
        acc_dtype = torch.float32 if self.device.type == "mps" else torch.float64
        loss_sum = torch.zeros((), dtype=acc_dtype, device=self.device)
        confusion = torch.zeros(k * k, dtype=torch.int64, device=self.device)
        wrong: list[torch.Tensor] = []
        wrong_pred: list[torch.Tensor] = []
        bs = self.config.eval_batch_size
        try:
            with torch.inference_mode():
                for i in range(0, n, bs):
                    yb = y[i:i + bs].to(self.device)
                    out = self.model(self._batch(x[i:i + bs]))
                    loss_sum += self._loss(out, yb, reduction="sum").to(acc_dtype)
                    pred = out.argmax(1)
                    confusion += torch.bincount(yb * k + pred, minlength=k * k)
                    bad = (pred != yb).nonzero().flatten()
                    wrong.append(bad + i)
                    wrong_pred.append(pred[bad])
        finally:
            self.model.train(was_training)
        per = k if self.config.loss == "mse" else 1  # mse averages over classes too
        conf = confusion.view(k, k).cpu()
        loss = float(loss_sum) / (n * per)
        acc = float(conf.diag().sum()) / n
        mis = torch.cat(wrong)[:MAX_MISCLASSIFIED].tolist()
        preds = torch.cat(wrong_pred)[:MAX_MISCLASSIFIED].tolist()
        return Evaluation(loss, acc, conf.tolist(), mis, preds)

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
        """Save everything needed to resume exactly (see :mod:`core.checkpoint`). Safe from another thread
        during a run, paused or not: it waits for the current step to finish, so the weights, optimizer
        state, RNG and counters all belong to the same step."""
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
        trainer._load_optimizer(path, ck.optimizer_state, ck.config.get("optimizer"))
        trainer.epoch, trainer.global_step = ck.epoch, ck.global_step
        trainer.history = {**_new_history(), **{k: [float(v) for v in vs] for k, vs in ck.history.items()}}
        prog = ck.progress
        step_in_epoch = int(prog.get("step_in_epoch", 0))
        if step_in_epoch > 0:
            trainer._check_mid_epoch(path, step_in_epoch, ck.config)
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

    def _load_optimizer(self, path: str, state: dict[str, Any], saved_name: Any) -> None:
        """Restore the optimizer state when it belongs to the same optimizer, else start it afresh with a
        warning. The settings of this run (momentum, weight decay, Nesterov) win over the stored ones."""
        c = self.config
        if isinstance(saved_name, str) and saved_name.strip().lower() != c.optimizer:
            self.warnings.append(WarningEvent(
                f"{path} was trained with the {saved_name} optimizer; its state (momentum buffers, running "
                f"averages) does not carry over to {c.optimizer}, which starts afresh"))
            return
        try:
            self.optimizer.load_state_dict(state)
        except (ValueError, KeyError, RuntimeError, TypeError, AttributeError, IndexError):
            # a failed load can leave the optimizer half-restored: build it again
            self.optimizer = self._make_optimizer()
            self.warnings.append(WarningEvent(
                f"the optimizer state in {path} does not fit the {c.optimizer} optimizer; it starts afresh"))
            return
        # load_state_dict restores the stored param_groups; the learning rate is set every step by the
        # schedule, the other settings come from this run's config
        for g in self.optimizer.param_groups:
            for key in ("momentum", "weight_decay", "nesterov"):
                if key in g:
                    g[key] = getattr(c, key)

    def _check_mid_epoch(self, path: str, step_in_epoch: int, saved: Mapping[str, Any]) -> None:
        """A run stopped inside an epoch continues from its position in that epoch's shuffle, which is
        counted in batches: it needs the same batch size, and the epoch must not already be over."""
        c = self.config
        saved_bs = saved.get("batch_size")
        if saved_bs != c.batch_size:
            raise TrainError(
                f"{path} was saved in the middle of epoch {self.epoch + 1} (after step {step_in_epoch}) with "
                f"batch size {saved_bs}; continue it with batch size {saved_bs}, or change the batch size "
                f"after a checkpoint saved at the end of an epoch", field="batch_size")
        if step_in_epoch > self.steps_per_epoch:
            raise TrainError(
                f"{path} was saved after step {step_in_epoch} of epoch {self.epoch + 1}, but these settings "
                f"allow only {self.steps_per_epoch} step(s) per epoch (limit_steps {c.limit_steps}); raise "
                f"limit_steps to at least {step_in_epoch}, or change it after a checkpoint saved at the end "
                f"of an epoch", field="limit_steps")
