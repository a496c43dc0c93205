"""The File menu: New, Open, Open Recent, New from Template, Save, Save As, Project Name, Export Python
(stating how to feed the model), and the import/export commands beyond project files (PyTorch model
import, checkpoint to edit; the training script, weights, ONNX, autograd graph and summary table are in
:mod:`netbuilder.gui.editor.export_commands`). Every file dialog starts in the folder last used.

Each command is a method taking an explicit path (what the tests call) behind a small dialog
wrapper. The work is done by core: project files (:mod:`netbuilder.core.model.project`), the
training script (:mod:`netbuilder.core.interop.script_export`), weights and ONNX
(:mod:`netbuilder.core.interop.weights`), the autograd graph (:mod:`netbuilder.core.inspect.autograd`),
the summary (:mod:`netbuilder.core.model.summary`) and the torch.fx import
(:mod:`netbuilder.core.interop.importer`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netbuilder.core.errors import UserError
from netbuilder.core.interop.exporter import export_python
from netbuilder.core.model.graph import Graph, GraphError
from netbuilder.core.model.project import ProjectError, load_project, presets_dir, save_project
from netbuilder.gui.editor.canvas import arrange
from netbuilder.gui.editor.commands import execute
from netbuilder.gui.editor.export_commands import ExportCommands
from netbuilder.gui.editor.name_dialog import NameDialog, SetProjectName
from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu, QMessageBox, QStyle

if TYPE_CHECKING:
    from netbuilder.gui.editor.autosave import Recovery
    from netbuilder.gui.editor.main_window import MainWindow
    from netbuilder.gui.window import TrainingSource

FILE_FILTER = "NetBuilder projects (*.json);;All files (*)"
MAX_RECENT = 8


def settings() -> QSettings:
    """The app's settings; under ``$NETBUILDER_CONFIG_DIR`` when set (tests never touch the real
    user's configuration)."""
    env = os.environ.get("NETBUILDER_CONFIG_DIR")
    if env:
        Path(env).mkdir(parents=True, exist_ok=True)
        return QSettings(str(Path(env) / "netbuilder.ini"), QSettings.Format.IniFormat)
    return QSettings("NetBuilder", "NetBuilder")


def preset_templates() -> list[tuple[str, Path]]:
    """(display name, path) of the bundled presets, LeNet-5 first."""
    out = []
    for p in sorted(presets_dir().glob("*.json"), key=lambda p: (p.stem != "lenet5-mnist", p.stem)):
        try:
            name = load_project(p).graph.name
        except ProjectError:
            continue
        out.append((name, p))
    return out


class FileCommands(QObject, ExportCommands):
    """The File menu of one main window: project files, recent files, templates, import and export.

    Signal :attr:`weights_loaded` ``(state_dict, source)``: an imported model or a checkpoint opened
    for editing brought weights that the next training run should start from (the assembly code in
    :mod:`netbuilder.gui.panels` connects it to the training panel). :meth:`follow` gives the model
    whose weights File ▸ Export ▸ Trained weights and ONNX write."""

    weights_loaded = Signal(object, str)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.document = window.document
        self._training: TrainingSource | None = None
        self._build_menu()

    def follow(self, training: TrainingSource) -> None:
        """Export the weights of ``training``'s model (the run in progress, finished or loaded)."""
        self._training = training

    # ------------------------------------------------------------------ the menu
    def _build_menu(self) -> None:
        w = self.window
        sp = QStyle.StandardPixmap
        k = QKeySequence.StandardKey
        f = "File"
        self.act_new = w.add_action(f, "&New", self.new, k.New, "Start an empty project", sp.SP_FileIcon)
        tmpl = w.menu(f).addMenu("New from &Template")
        for name, path in preset_templates():
            a = tmpl.addAction(name)
            a.setToolTip(str(path))
            a.triggered.connect(lambda _=False, p=path: self._new_from_template(p))
        self.act_open = w.add_action(f, "&Open…", self.open_dialog, k.Open, "Open a project file",
                                     sp.SP_DialogOpenButton)
        self.recent_menu = w.menu(f).addMenu("Open &Recent")
        self._rebuild_recent_menu()
        w.menu(f).addSeparator()
        self.act_save = w.add_action(f, "&Save", self.save, k.Save, "Save the project", sp.SP_DialogSaveButton)
        self.act_save_as = w.add_action(f, "Save &As…", self.save_as, k.SaveAs, "Save under a new name")
        self.act_project_name = w.add_action(f, "Pro&ject Name…", self.project_name_dialog,
                                             tip="Name the project (shown in the title and the exported code)")
        w.menu(f).addSeparator()
        self.act_export = w.add_action(f, "Export &Python…", self.export_python_dialog, "Ctrl+E",
                                       "Write the network as a standalone PyTorch module")
        w.menu(f).addSeparator()
        self._build_import_export(w.menu(f))
        w.menu(f).addSeparator()
        self.act_quit = w.add_action(f, "&Quit", w.close, k.Quit, "Quit NetBuilder")

    def _build_import_export(self, file_menu: QMenu) -> None:
        imp = file_menu.addAction("&Import PyTorch model… (runs the file)")
        imp.setToolTip("Trace an nn.Module from a .py file with torch.fx into a project; the file is executed")
        imp.triggered.connect(lambda _=False: self.import_dialog())
        ck = file_menu.addAction("Open &checkpoint to edit…")
        ck.setToolTip("Edit a trained network; training again keeps the weights of unchanged layers")
        ck.triggered.connect(lambda _=False: self.checkpoint_dialog())
        sub = file_menu.addMenu("E&xport")
        exports: tuple[tuple[str, str, str, Callable[[str], bool]], ...] = (
            ("Training &script…", "_train.py", "Python files (*.py)", self.export_training_script),
            ("Trained &weights…", ".pt", "State dict (*.pt);;safetensors (*.safetensors)", self.export_weights),
            ("&ONNX…", ".onnx", "ONNX (*.onnx)", self.export_onnx),
            ("&Autograd graph…", "_autograd.svg", "SVG (*.svg);;PNG (*.png);;Graphviz DOT (*.dot);;JSON (*.json)",
             self.export_autograd),
            ("Summary &table…", "_summary.md", "Markdown (*.md);;CSV (*.csv)", self.export_summary),
        )
        for text, suffix, filters, fn in exports:
            a = sub.addAction(text)
            a.triggered.connect(lambda _=False, t=text, s=suffix, fl=filters, g=fn: self._dialog_export(
                t.replace("&", "").rstrip("…"), s, fl, g))

    # ------------------------------------------------------------------ project files
    def maybe_save(self) -> bool:
        """Ask about unsaved changes: True when it is fine to discard the document now."""
        if not self.document.modified:
            return True
        name = self.document.path.name if self.document.path else "this project"
        answer = QMessageBox.question(
            self.window, "Unsaved changes", f"Save the changes to {name} before continuing?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def confirm_discard(self) -> bool:
        """Close guards (e.g. a running training) then unsaved changes."""
        return all(guard() for guard in list(self.window.close_guards)) and self.maybe_save()

    def open_path(self, path: str | os.PathLike[str]) -> bool:
        """Load a project into the document. A bad file is refused with a dialog; the current
        document stays as it was."""
        p = Path(path)
        try:
            project = load_project(p)
        except ProjectError as e:
            QMessageBox.critical(self.window, "Cannot open project", f"{e}\n\nThe current project was left unchanged.")
            self.window.status(f"Could not open {p.name}", True)
            return False
        self._load(project.graph, project.training, p.resolve())
        self._add_recent(p.resolve())
        self.remember_folder(p)
        self.window.status(f"Opened {p}")
        return True

    def open_template(self, path: str | os.PathLike[str]) -> bool:
        """Start a new untitled document from a preset (laid out for reading, not modified)."""
        try:
            project = load_project(path)
        except ProjectError as e:
            QMessageBox.critical(self.window, "Cannot open template", str(e))
            return False
        if arrange.is_single_long_row(project.graph):
            for nid, pos in arrange.auto(project.graph).items():
                project.graph.move_node(nid, pos)
        self._load(project.graph, project.training, None)
        self.window.status(f"New project from template “{project.graph.name}”")
        return True

    def save_to(self, path: str | os.PathLike[str]) -> bool:
        """Save atomically to ``path`` (with the training settings); the document becomes clean."""
        p = Path(path)
        try:
            save_project(p, self.document.graph, self.document.training)
        except OSError as e:
            QMessageBox.critical(self.window, "Cannot save", f"Could not write {p}:\n{e.strerror or e}")
            return False
        self.document.undo_stack.setClean()
        self.document.set_path(p.resolve())
        self._add_recent(p.resolve())
        self.window.autosaver.discard()
        self.window.status(f"Saved {p}")
        return True

    def load_graph(self, graph: Graph, training: dict[str, Any] | None = None, path: Path | None = None,
                   modified: bool = False) -> None:
        """Replace the document with ``graph`` (undo history cleared). ``modified`` marks it unsaved,
        for networks that come from somewhere other than a project file (import, checkpoint)."""
        self._load(graph, dict(training or {}), path)
        if modified:
            self.document.undo_stack.resetClean()
            self.window.project_loaded()

    def _load(self, graph: Graph, training: dict[str, Any], path: Path | None) -> None:
        d = self.document
        d.select_nodes([])
        d.undo_stack.clear()
        d.graph.load_from(graph)
        d.training = dict(training)
        d.set_path(path)
        d.flush()
        d.undo_stack.setClean()
        self.window.project_loaded()
        QTimer.singleShot(0, self.window.view.fit)

    def new(self) -> bool:
        """File ▸ New: an empty untitled project (after the close guards and unsaved changes)."""
        if not self.confirm_discard():
            return False
        self._load(Graph("untitled"), {}, None)
        self.window.status("New project: drag layers from the palette, starting with an Input")
        return True

    def open_dialog(self) -> bool:
        if not self.confirm_discard():
            return False
        path = self._ask_open("Open project", FILE_FILTER)
        return bool(path) and self.open_path(path)

    def _open_recent(self, path: str) -> None:
        if self.confirm_discard():
            self.open_path(path)

    def _new_from_template(self, path: Path) -> None:
        if self.confirm_discard():
            self.open_template(path)

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self.save_to(self.document.path)

    def save_as(self) -> bool:
        d = self.document
        path = self._ask_save("Save project as", d.path.name if d.path else _slug(d.graph.name) + ".json",
                              FILE_FILTER)
        if not path:
            return False
        if not path.endswith(".json") and "." not in Path(path).name:
            path += ".json"
        return self.save_to(path)

    def project_name_dialog(self) -> None:
        """File ▸ Project Name…: a refused name keeps the dialog open with the reason."""
        NameDialog(self.window, "Project name", "The project's name (the title bar and the exported code's "
                   "docstring show it):", self.graph.name, self.set_project_name).exec()

    def set_project_name(self, name: str) -> str | None:
        """Name the project (one undo step); why the name was refused, or None."""
        if name == self.graph.name:
            return None
        try:
            execute(self.document, SetProjectName(self.document, name))
        except GraphError as e:
            return str(e)
        return None

    def export_python_dialog(self) -> bool:
        d = self.document
        path = self._ask_save("Export Python", (d.path.stem if d.path else _slug(d.graph.name)) + ".py",
                              "Python files (*.py)")
        if not path:
            return False
        try:
            export_python(d.graph, path, feed=self.feed())
        except (UserError, OSError) as e:
            QMessageBox.warning(self.window, "Cannot export", str(e))
            return False
        self.window.status(f"Exported {path}")
        return True

    def restore_recovery(self, rec: Recovery) -> None:
        """Load an autosaved project; it stays marked modified until saved."""
        self._load(rec.project.graph, rec.project.training, rec.path)
        self.document.undo_stack.resetClean()
        self.window.autosaver.save_now()  # a second crash within the next minute must not lose it
        rec.file.unlink(missing_ok=True)
        self.window.project_loaded()
        self.window.status("Restored unsaved work from the autosave — save it to keep it")

    # ------------------------------------------------------------------ recent files
    def recent(self) -> list[str]:
        """The recently opened or saved project paths, newest first."""
        value = settings().value("recentFiles", [])
        if isinstance(value, str):  # QSettings gives a single entry as a plain string
            value = [value]
        return [str(v) for v in value] if isinstance(value, list) else []

    def _add_recent(self, path: Path) -> None:
        items = [str(path), *[r for r in self.recent() if r != str(path)]][:MAX_RECENT]
        s = settings()
        s.setValue("recentFiles", items)
        s.sync()
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        items = [r for r in self.recent() if Path(r).exists()]
        for r in items:
            a = self.recent_menu.addAction(Path(r).name)
            a.setToolTip(r)
            a.triggered.connect(lambda _=False, r=r: self._open_recent(r))
        if not items:
            a = self.recent_menu.addAction("No recent files")
            a.setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            clear = self.recent_menu.addAction("Clear Menu")
            clear.triggered.connect(self._clear_recent)

    def _clear_recent(self) -> None:
        settings().setValue("recentFiles", [])
        self._rebuild_recent_menu()

    # ------------------------------------------------------------------ import/export helpers
    def _save_path(self, title: str, suffix: str, filters: str) -> str | None:
        d = self.document
        return self._ask_save(title, (d.path.stem if d.path else "network") + suffix, filters) or None

    # The dialogs start in the folder last used for any file (kept in the settings, so across sessions),
    # else the project's folder, else home.
    def start_folder(self) -> Path:
        remembered = str(settings().value("files/lastFolder", "") or "")
        if remembered and Path(remembered).is_dir():
            return Path(remembered)
        return self.document.path.parent if self.document.path else Path.home()

    def remember_folder(self, path: str | os.PathLike[str]) -> None:
        s = settings()
        s.setValue("files/lastFolder", str(Path(path).resolve().parent))
        s.sync()

    def _ask_open(self, title: str, filters: str) -> str:
        path, _ = QFileDialog.getOpenFileName(self.window, title, str(self.start_folder()), filters)
        if path:
            self.remember_folder(path)
        return path

    def _ask_save(self, title: str, name: str, filters: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self.window, title, str(self.start_folder() / name), filters)
        if path:
            self.remember_folder(path)
        return path

    # ------------------------------------------------------------------ imports
    def import_model(self, path: str, class_name: str | None = None, input_shape: str | None = None) -> bool:
        """Import an ``nn.Module`` file (executing it) as a new, unsaved project; its weights become
        the starting weights of the next training run."""
        from netbuilder.core.interop.importer import import_model

        if not self.confirm_discard():
            return False
        try:
            imported = import_model(path, class_name=class_name, input_shape=input_shape)
        except UserError as e:
            return self._fail("Cannot import the model", e)
        self.load_graph(imported.graph, {}, None, modified=True)
        self.weights_loaded.emit(imported.state_dict, f"{imported.class_name} in {Path(path).name}")
        notes = "; ".join(imported.notes)
        self.window.status(f"Imported {imported.class_name} from {Path(path).name} "
                           f"({len(imported.graph)} nodes){': ' + notes if notes else ''}")
        return True

    def open_checkpoint_for_editing(self, path: str) -> bool:
        """Open a checkpoint's network to edit; its weights seed the next run where shapes still fit."""
        from netbuilder.core.interop.weights import weights_from_checkpoint

        if not self.confirm_discard():
            return False
        try:
            graph, state = weights_from_checkpoint(path)
        except UserError as e:
            return self._fail("Cannot open the checkpoint", e)
        self.load_graph(graph, self.document.training, None, modified=True)
        self.weights_loaded.emit(state, Path(path).name)
        self.window.status(f"Opened the network of {Path(path).name}: edit it, then Train — weights are kept "
                           "for every layer whose shape is unchanged")
        return True

    # ------------------------------------------------------------------ dialogs
    def _dialog_export(self, title: str, suffix: str, filters: str, fn: Callable[[str], bool]) -> None:
        path = self._save_path(title, suffix, filters)
        if path:
            fn(path)

    def import_dialog(self) -> None:
        answer = QMessageBox.question(
            self.window, "Import a PyTorch model",
            "Importing runs the Python file to get its nn.Module class, with your permissions.\n\n"
            "Only import files you trust. Continue?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return
        path = self._ask_open("Import PyTorch model (runs the file)", "Python files (*.py)")
        if not path:
            return
        shape, ok = QInputDialog.getText(
            self.window, "Input shape", "Input shape without the batch (C,H,W or features); empty = the "
            "class's input_shape attribute:", text="1,28,28")
        if ok:
            self.import_model(path, None, shape.strip() or None)

    def checkpoint_dialog(self) -> None:
        path = self._ask_open("Open checkpoint to edit", "Checkpoints (*.ckpt *.pt);;All files (*)")
        if path:
            self.open_checkpoint_for_editing(path)


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()
    return s or "untitled"
