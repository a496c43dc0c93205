"""Checkpoints in the training panel: offer the project's checkpoint when it opens, load one (in the
background, explaining how its network differs from the canvas), and save the current run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netbuilder.core.errors import UserError
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.project import to_dict
from netbuilder.core.train.checkpoint import load_checkpoint
from netbuilder.core.train.data import Dataset, load_dataset
from netbuilder.core.train.events import EpochEvent
from netbuilder.core.train.trainer import Evaluation, TrainConfig, Trainer
from netbuilder.gui.editor.commands import MISSING, ReplaceGraph, SetTrainingSettings
from netbuilder.gui.training.datasets import DatasetKey
from netbuilder.gui.training.settings_form import EDITED
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

if TYPE_CHECKING:
    from netbuilder.gui.training.panel import TrainingPanel

CHECKPOINT_SUFFIX = ".ckpt"


def checkpoint_path_for(project: Path) -> Path:
    """Where a project's checkpoint is saved by default: beside it, ``<name>.ckpt``."""
    return project.with_suffix(CHECKPOINT_SUFFIX)


def graph_diff(canvas: Graph, other: Graph) -> list[str]:
    """How ``other`` differs from ``canvas``, node by node (positions ignored): one line per node added,
    removed or changed, then the connections. Empty when they build the same network."""
    a, b = to_dict(canvas), to_dict(other)
    na = {n["id"]: n for n in a["nodes"]}
    nb = {n["id"]: n for n in b["nodes"]}
    lines: list[str] = []
    for nid, n in nb.items():
        if nid not in na:
            lines.append(f"'{nid}' ({n['type']}) is in the checkpoint but not on the canvas")
    for nid, n in na.items():
        if nid not in nb:
            lines.append(f"'{nid}' ({n['type']}) is on the canvas but not in the checkpoint")
    for nid in na.keys() & nb.keys():
        x, y = na[nid], nb[nid]
        if x["type"] != y["type"]:
            lines.append(f"'{nid}' is a {x['type']} on the canvas but a {y['type']} in the checkpoint")
            continue
        px, py = x.get("params", {}), y.get("params", {})
        changes = [f"{k} {px.get(k, 'default')} on the canvas, {py.get(k, 'default')} in the checkpoint"
                   for k in sorted(px.keys() | py.keys()) if px.get(k) != py.get(k)]
        if changes:
            lines.append(f"'{nid}' ({x['type']}): " + "; ".join(changes))

    def edges(d: dict[str, Any]) -> set[str]:
        out = set()
        for e in d["edges"]:
            port = e.get("port")
            out.add(f"{e['src']} → {e['dst']}" + (f" (input {port})" if port is not None else ""))
        return out

    ea, eb = edges(a), edges(b)
    for e in sorted(eb - ea):
        lines.append(f"connection {e} is only in the checkpoint")
    for e in sorted(ea - eb):
        lines.append(f"connection {e} is only on the canvas")
    return lines


class CheckpointActions:
    """Save, load and offer checkpoints for one :class:`TrainingPanel`: the Save and Load buttons and
    the banner that offers the project's checkpoint (the panel lays them out)."""

    def __init__(self, panel: TrainingPanel) -> None:
        self.panel = panel
        self.document = panel.document
        self.session = panel.session
        self.last: Path | None = None  # the last checkpoint saved or loaded
        self._offered: Path | None = None
        self.save_button = QPushButton("Save checkpoint…")
        self.save_button.setToolTip("Save the weights, optimizer state, curves and settings to resume later")
        self.load_button = QPushButton("Load checkpoint…")
        self.offer_frame = QFrame()
        self.offer_frame.setFrameShape(QFrame.Shape.StyledPanel)
        self.offer_label = QLabel()
        self.offer_label.setWordWrap(True)
        self.offer_load = QPushButton("Load it")
        offer_dismiss = QPushButton("Dismiss")
        ol = QHBoxLayout(self.offer_frame)
        ol.addWidget(self.offer_label, 1)
        ol.addWidget(self.offer_load)
        ol.addWidget(offer_dismiss)
        self.offer_frame.setVisible(False)
        self.save_button.clicked.connect(lambda: self.save())
        self.load_button.clicked.connect(lambda: self.load())
        self.offer_load.clicked.connect(self.load_offered)
        offer_dismiss.clicked.connect(lambda: self.offer_frame.setVisible(False))

    def update_controls(self, busy: bool) -> None:
        """Enable Save when there is a run to save (paused, not mid-evaluation) and Load when nothing
        runs (``busy``: a background task)."""
        s = self.session
        # paused during a test-set evaluation, the trainer finishes it first: saving would wait for it
        self.save_button.setEnabled(s.trainer is not None and (not s.active or (s.paused and not s.evaluating)))
        self.load_button.setEnabled(not s.active and not busy)
        self.offer_load.setEnabled(not s.active and not busy)
        self.offer_load.setToolTip("" if self.offer_load.isEnabled() else
                                   "Wait for the dataset download or loading to end (or stop the run)")

    def default_path(self) -> Path | None:
        """The project's own checkpoint path (None while the project is untitled)."""
        p = self.document.path
        return checkpoint_path_for(Path(p)) if p is not None else None

    def save(self, path: str | Path | None = None) -> Path | None:
        """Save the current run (weights, optimizer, curves, settings). Asks where when ``path`` is None
        and the project is untitled. Returns the path, or None if nothing was saved."""
        panel, t = self.panel, self.session.trainer
        if t is None:
            panel.show_message("Nothing to save yet: train first.", "info")
            return None
        if self.session.active and not t.paused:
            panel.show_message("Pause or stop the run before saving a checkpoint.", "info")
            return None
        if self.session.active and self.session.evaluating:
            panel.show_message("The run pauses after the test-set evaluation it is doing; save once it has.", "info")
            return None
        if path is None:
            default = self.default_path()
            chosen = panel.choose_save_path("Save checkpoint", str(default or Path.home() / f"run{CHECKPOINT_SUFFIX}"))
            if not chosen:
                return None
            path = chosen
        p = Path(path)
        try:
            t.save_checkpoint(str(p))
        except (OSError, UserError) as e:
            panel.show_message(f"Could not save the checkpoint to {p}: {e}", "error")
            return None
        self.last = p
        panel.status(f"Checkpoint saved: {p}")
        panel.show_message(f"Checkpoint saved to {p} (epoch {t.epoch}, step {t.global_step}).", "info")
        return p

    def load(self, path: str | Path | None = None) -> bool:
        """Load a checkpoint to continue or inspect it. If its network differs from the canvas, say how
        and offer to put the checkpoint's network on the canvas. True when loading has begun."""
        panel = self.panel
        if self.session.active:
            panel.show_message("Stop the run before loading a checkpoint.", "info")
            return False
        if panel.tasks.busy:
            # one background task at a time; waiting here would freeze the window for a whole download
            what = ("the download to finish (or cancel it)" if panel.loader.downloading
                    else "the dataset to finish loading")
            panel.show_message(f"Wait for {what} before loading a checkpoint.", "info")
            return False
        if path is None:
            chosen = panel.choose_open_path("Load checkpoint", str(self.default_path() or Path.home()))
            if not chosen:
                return False
            path = chosen
        p = Path(path)
        try:
            ck = load_checkpoint(str(p))
        except UserError as e:
            panel.show_message(f"Could not load the checkpoint: {e}", "error")
            return False
        diff = graph_diff(self.document.graph, ck.graph)
        if diff:
            shown = diff[:12] + ([f"… and {len(diff) - 12} more"] if len(diff) > 12 else [])
            answer = panel.ask(
                "The checkpoint's network differs",
                f"The network saved in {p.name} is not the one on the canvas:\n\n• " + "\n• ".join(shown)
                + "\n\nThe weights only fit the checkpoint's network. Put that network on the canvas "
                  "(undoable) and load the run?",
                ["Use the checkpoint's network", "Cancel"])
            if answer != "Use the checkpoint's network":
                return False
            self.document.undo_stack.push(ReplaceGraph(self.document, ck.graph, f"Network from {p.name}"))
            self.document.flush()
        try:
            cfg = TrainConfig.from_dict(ck.config)
        except UserError as e:
            panel.show_message(f"The checkpoint's settings are not usable: {e}", "error")
            return False
        key: DatasetKey = (cfg.dataset, None if cfg.dataset == "sample" else cfg.data_dir)
        cached = panel.loader.get(key)
        if cached is None and cfg.dataset != "sample" and cfg.data_dir is None:
            folder = panel.form.value("data_dir")
            cached = panel.loader.get((cfg.dataset, str(folder) if folder else None))

        def job(_progress: Callable[[int, int, str], None]) -> tuple[Trainer, Evaluation | None, Dataset]:
            ds = cached if cached is not None else load_dataset(cfg.dataset, cfg.data_dir)
            trainer = Trainer.from_checkpoint(str(p), dataset=ds)
            ev = trainer.evaluate() if trainer.epoch > 0 or trainer.global_step > 0 else None
            return trainer, ev, ds

        def finished(res: tuple[Trainer, Evaluation | None, Dataset]) -> None:
            self._on_loaded(p, key, *res)

        def failed(message: str, _exc: object) -> None:
            self._on_failed(p, message)

        panel.tasks.start(job, "netbuilder-checkpoint", finished, failed)
        panel.progress.setFormat(f"loading {p.name}…")
        panel.update_controls()
        return True

    def _on_failed(self, path: Path, message: str) -> None:
        self.panel.tasks.end()
        self.panel.progress.setFormat("not started")
        self.panel.show_message(f"Could not load the checkpoint {path}: {message}", "error")
        self.panel.update_controls()

    def _on_loaded(self, path: Path, key: DatasetKey, trainer: Trainer, ev: Evaluation | None, ds: Dataset) -> None:
        panel = self.panel
        panel.tasks.end()
        panel.loader.datasets.setdefault(key, ds)
        # the run's own settings become the project's (one undo step)
        new = trainer.config.to_dict()
        changes = {k: (self.document.training.get(k, MISSING), new[k]) for k in EDITED
                   if self.document.training.get(k, MISSING) != new[k]}
        if changes:
            self.document.undo_stack.push(SetTrainingSettings(self.document, changes, panel.settings_from_document))
        self.session.loaded(trainer)
        panel.plots.load_history(trainer.history)
        panel.results.clear()
        if ev is not None:
            h = trainer.history
            panel.results.show_epoch(EpochEvent(trainer.epoch, h["train_loss"][-1] if h["train_loss"] else float("nan"),
                                                h["train_accuracy"][-1] if h["train_accuracy"] else 0.0,
                                                ev.loss, ev.accuracy, 0.0, ev.confusion, ev.misclassified,
                                                ev.predictions), ds)
        total = trainer.steps_per_epoch * trainer.config.epochs
        panel.progress.setValue(int(1000 * trainer.global_step / max(1, total)))
        panel.progress.setFormat(f"loaded {path.name}: epoch {trainer.epoch}/{trainer.config.epochs}, "
                                 f"step {trainer.global_step}")
        acc = f", test accuracy {100 * ev.accuracy:.2f} %" if ev is not None else ""
        panel.progress_text.setText(f"Checkpoint {path.name}{acc}. Start continues the run"
                                    + (" (raise Epochs to train further)." if trainer.epoch >= trainer.config.epochs
                                       else "."))
        self.last = path
        self.offer_frame.setVisible(False)
        panel.run.enable_try_it()
        panel.data.update()
        panel.compat.update()
        panel.update_controls()

    def offer(self, path: str | Path) -> bool:
        """Offer (a banner with Load / Dismiss) to load the checkpoint at ``path``; False if none is there."""
        p = Path(path)
        if not p.is_file() or self.session.active:
            return False
        try:
            ck = load_checkpoint(str(p))
            hist = ck.history.get("test_accuracy", [])
            acc = f", test accuracy {100 * hist[-1]:.2f} %" if hist else ""
            when = datetime.fromtimestamp(p.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            what = f"epoch {ck.epoch}, step {ck.global_step}{acc}, saved {when}"
        except (UserError, OSError) as e:
            what = f"it could not be read: {e}"
        self._offered = p
        self.offer_label.setText(f"This project has a training checkpoint: {p.name} ({what}). Load it to "
                                       f"see its curves and results, try the model, or continue training.")
        self.offer_frame.setVisible(True)
        return True

    def load_offered(self) -> None:
        """The banner's Load button."""
        if self._offered is not None and self.load(self._offered):
            self.offer_frame.setVisible(False)  # kept (with the reason shown) when loading was refused
