"""Train a project headless: netbuilder train FILE [options].

Settings come from the built-in defaults, then the project file's "training" object, then the
command line (or, with --resume, from the checkpoint, then the command line). Progress goes to stderr;
--json prints one final JSON object on stdout whatever the outcome, with "status" "finished", "stopped"
or "failed" (then "error" holds the message). Ctrl-C (SIGINT) or SIGTERM (what ``kill`` and job
schedulers send) stops after the current step, saves with --save and prints the --json object; a second
one aborts. With --save the checkpoint is also written every --checkpoint-every seconds (default 60) in
the middle of an epoch, atomically, so a kill -9 or a power cut loses at most that much work.

Exit status: 0 finished, 1 failed, 130 stopped by SIGINT, 143 stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from netbuilder.core.errors import UserError
from netbuilder.core.model.summary import fmt_duration
from netbuilder.core.train.config import DATASETS, DEVICES, FIT_INPUTS, LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig
from netbuilder.core.train.events import (
    EpochEvent,
    FailedEvent,
    FinishedEvent,
    StepEvent,
    StoppedEvent,
    TrainEvent,
    WarningEvent,
)

BAR_WIDTH = 24
CHECKPOINT_EVERY = 60.0  # seconds of training a kill -9 may lose at most, with --save
EXIT_STOPPED: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal number, as shells say


def _seconds(text: str) -> float:
    """--checkpoint-every: seconds (a trailing "s" allowed), ≥ 0."""
    try:
        value = float(text.strip().removesuffix("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds ≥ 0")
    return value

# command-line option → TrainConfig field (only options the user actually gave override)
_OPTION_FIELDS = ("dataset", "data_dir", "epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay",
                  "nesterov", "loss", "schedule", "seed", "device", "threads", "limit_steps", "fit_input")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``train`` options to ``p``."""
    d = TrainConfig()
    p.epilog = ("exit status: 0 finished, 1 failed, 130 stopped by Ctrl-C (SIGINT), 143 stopped by SIGTERM; "
                "a stopped run is saved with --save and continues with --resume")
    p.add_argument("file", nargs="?", help="project file (.json); optional with --resume")
    p.add_argument("--dataset", choices=DATASETS, default=None,
                   help=f"sample (bundled MNIST subset), mnist, fashion-mnist or cifar10 (default {d.dataset})")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="folder holding the dataset's original files (default $NETBUILDER_DATA, then "
                        "~/.cache/netbuilder/<dataset>)")
    p.add_argument("--download", action="store_true", help="download the dataset if it is missing (needs internet)")
    p.add_argument("--epochs", type=int, default=None, metavar="N", help=f"default {d.epochs}")
    p.add_argument("--batch-size", type=int, default=None, metavar="B", help=f"default {d.batch_size}")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help=f"default {d.optimizer}")
    p.add_argument("--lr", type=float, default=None, help=f"learning rate (default {d.lr:g})")
    p.add_argument("--momentum", type=float, default=None, help=f"SGD/RMSprop momentum (default {d.momentum:g})")
    p.add_argument("--weight-decay", type=float, default=None, help=f"default {d.weight_decay:g}")
    p.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--loss", choices=LOSSES, default=None,
                   help=f"default {d.loss}; nll expects a LogSoftmax output; mse compares with one-hot targets")
    p.add_argument("--schedule", choices=SCHEDULES, default=None, help=f"learning-rate schedule (default {d.schedule})")
    p.add_argument("--seed", type=int, default=None, metavar="S", help=f"default {d.seed}")
    p.add_argument("--device", choices=DEVICES, default=None, help="default auto: cuda, then mps, then cpu")
    p.add_argument("--threads", type=int, default=None, metavar="T",
                   help="torch CPU threads (default: torch's choice; use 1 on a busy machine)")
    p.add_argument("--limit-steps", type=int, default=None, metavar="N", help="at most N steps per epoch")
    p.add_argument("--fit-input", choices=FIT_INPUTS, default=None,
                   help=f"fit images to the model's Input size by zero padding or resizing (default {d.fit_input})")
    p.add_argument("--save", metavar="CKPT",
                   help="write a checkpoint after every epoch, every --checkpoint-every seconds and at the end "
                        "(also when stopped by Ctrl-C or SIGTERM)")
    p.add_argument("--checkpoint-every", type=_seconds, default=CHECKPOINT_EVERY, metavar="SECONDS",
                   help=f"with --save, also save mid-epoch at most this many seconds apart (default "
                        f"{CHECKPOINT_EVERY:g}; 0: only at epoch ends)")
    p.add_argument("--resume", metavar="CKPT", help="continue the run saved in CKPT")
    p.add_argument("--json", action="store_true", help="print one final JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _config_from(args: argparse.Namespace, base: dict[str, Any]) -> TrainConfig:
    d = dict(base)
    for name in _OPTION_FIELDS:
        value = getattr(args, name, None)
        if value is not None:
            d[name] = value
    return TrainConfig.from_dict(d)


class ProgressBar:
    """A carriage-return progress line on a text stream, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO, epochs: int) -> None:
        self.stream = stream
        self.epochs = epochs
        self._last = 0.0
        self._width = 0

    def step(self, ev: StepEvent) -> None:
        """Redraw for a step (throttled; always draws an epoch's last step)."""
        now = time.monotonic()
        if now - self._last < 0.1 and ev.step != ev.steps_per_epoch:
            return
        self._last = now
        filled = int(BAR_WIDTH * ev.step / max(1, ev.steps_per_epoch))
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        line = (f"epoch {ev.epoch}/{self.epochs} [{bar}] {ev.step}/{ev.steps_per_epoch} loss {ev.loss:.4f} "
                f"{ev.samples_per_second:,.0f} samples/s ETA {fmt_duration(ev.eta_seconds, '--:--')}")
        self._draw(line)

    def _draw(self, line: str) -> None:
        pad = " " * max(0, self._width - len(line))
        self.stream.write("\r" + line + pad)
        self.stream.flush()
        self._width = len(line)

    def line(self, text: str) -> None:
        """Print a whole line, clearing the bar first."""
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        self.stream.write(text + "\n")
        self.stream.flush()


def _check_save_path(save: str) -> None:
    """Refuse a --save path that cannot be written before training, not after a whole epoch."""
    p = Path(save).expanduser()
    folder = p.parent
    if p.is_dir():
        raise UserError(f"--save {save}: that is a folder; give a file name such as {p / 'run.ckpt'}")
    if not folder.is_dir():
        raise UserError(f"--save {save}: the folder {folder} does not exist; create it or save elsewhere")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"--save {save}: the folder {folder} is not writable; save elsewhere")


def _print_json(obj: dict[str, Any]) -> None:
    json.dump(obj, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    """Run ``netbuilder train``; returns the exit status (0 finished, 1 failed, 130 stopped by Ctrl-C,
    143 stopped by SIGTERM).
    With ``--json`` a failure raised as a :class:`UserError` still prints the final object (status
    "failed") before it propagates to the usual error line."""
    try:
        return _run(args)
    except UserError as e:
        if getattr(args, "json", False):
            _print_json({"status": "failed", "error": str(e), "node": getattr(e, "node", None),
                         "field": getattr(e, "field", None)})
        raise


def _run(args: argparse.Namespace) -> int:
    from netbuilder.core.model.project import load_project, to_dict
    from netbuilder.core.train.data import load_dataset
    from netbuilder.core.train.trainer import Trainer

    err = sys.stderr
    if args.save:
        _check_save_path(args.save)
    if args.resume:
        from netbuilder.core.train.checkpoint import load_checkpoint

        ck = load_checkpoint(args.resume)
        config = _config_from(args, ck.config)
        graph = ck.graph
        if args.file:
            given = load_project(args.file).graph

            def structure(g: Any) -> Any:
                d = to_dict(g)
                return ([(n["id"], n["type"], n["params"]) for n in d["nodes"]], d["edges"])

            if structure(given) != structure(graph):
                raise UserError(f"{args.resume} was saved from a different network than {args.file}; resume "
                                f"without FILE to use the checkpoint's network")
    else:
        if not args.file:
            raise UserError("give the project file to train (or --resume CKPT)")
        project = load_project(args.file)
        config = _config_from(args, project.training)
        graph = project.graph

    bar = ProgressBar(err, config.epochs)
    quiet = args.quiet

    def on_download(done: int, total: int, name: str) -> None:
        if not quiet:
            pct = f"{100 * done / total:5.1f}%" if total else f"{done / 1e6:.1f} MB"
            bar._draw(f"downloading {name}: {pct}")

    dataset = load_dataset(config.dataset, config.data_dir, download=args.download, progress=on_download)
    if not quiet and bar._width:
        bar.line(f"downloaded {config.dataset}")
    trainer = Trainer.from_checkpoint(args.resume, dataset, config) if args.resume else Trainer(graph, config, dataset)
    if not quiet:
        bar.line(f"training {graph.name!r} on {dataset.name} ({len(dataset.train_y):,} train / "
                 f"{len(dataset.test_y):,} test, {dataset.source}) on {trainer.device}, {config.epochs} epoch(s), "
                 f"batch {config.batch_size}, {config.optimizer} lr {config.lr:g}, {config.schedule} schedule, "
                 f"seed {config.seed}")

    interrupted: list[int] = []  # the signals received

    def on_signal(sig: int, _frame: Any) -> None:
        interrupted.append(sig)
        if len(interrupted) > 1:
            raise KeyboardInterrupt
        trainer.stop()

    previous = ({sig: signal.signal(sig, on_signal) for sig in EXIT_STOPPED} if _main_thread() else {})
    last: TrainEvent | None = None
    every = args.checkpoint_every
    last_save = time.monotonic()
    try:
        for ev in trainer:
            last = ev
            if isinstance(ev, StepEvent):
                if not quiet:
                    bar.step(ev)
                if args.save and every and time.monotonic() - last_save >= every:
                    trainer.save_checkpoint(args.save)
                    last_save = time.monotonic()
            elif isinstance(ev, EpochEvent):
                if not quiet:
                    bar.line(f"epoch {ev.epoch}/{config.epochs}: train loss {ev.train_loss:.4f} acc "
                             f"{100 * ev.train_accuracy:.2f}% | test loss {ev.test_loss:.4f} acc "
                             f"{100 * ev.test_accuracy:.2f}% | {ev.seconds:.1f} s")
                if args.save:
                    trainer.save_checkpoint(args.save)
                    last_save = time.monotonic()
            elif isinstance(ev, WarningEvent):
                bar.line(f"warning: {ev.message}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def summary(status: str) -> dict[str, Any]:
        h = trainer.history
        return {
            "status": status,
            "epochs": trainer.epoch,
            "global_step": trainer.global_step,
            "history": {k: list(v) for k, v in h.items()},
            "config": config.to_dict(),
            "device": str(trainer.device),
            "dataset": {"name": dataset.name, "source": dataset.source, "train": len(dataset.train_y),
                        "test": len(dataset.test_y)},
            "checkpoint": args.save if args.save and Path(args.save).is_file() else None,
        }

    if isinstance(last, StoppedEvent):
        if args.save:
            trainer.save_checkpoint(args.save)
            bar.line(f"stopped at epoch {last.epoch}, step {last.global_step}; saved {args.save} "
                     f"(continue with --resume {args.save})")
        else:
            bar.line(f"stopped at epoch {last.epoch}, step {last.global_step}")
        if args.json:
            _print_json(summary("stopped"))
        return EXIT_STOPPED.get(interrupted[0], 130) if interrupted else 130
    if isinstance(last, FailedEvent):
        bar.line(f"netbuilder: error: {last.message}")
        if args.json:
            _print_json({**summary("failed"), "error": last.message, "node": last.node})
        return 1
    assert isinstance(last, FinishedEvent)
    if args.save:
        trainer.save_checkpoint(args.save)
    if not quiet:
        bar.line(f"done: test accuracy {100 * last.test_accuracy:.2f}%, test loss {last.test_loss:.4f}, "
                 f"{last.train_seconds:.1f} s, {last.samples_per_second:,.0f} samples/s"
                 + (f"; saved {args.save}" if args.save else ""))
    if args.json:
        _print_json({
            **summary("finished"),
            "test_accuracy": last.test_accuracy,
            "test_loss": last.test_loss,
            "train_seconds": last.train_seconds,
            "samples_per_second": last.samples_per_second,
            "history": last.history,
        })
    return 0


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
