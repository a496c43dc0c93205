"""The main window: canvas in the middle, palette, inspector, summary and code docks, menus,
files (atomic saves, recent files, templates, autosave), clipboard and undo.

Extension points for other panels (the lead wires them in)
------------------------------------------------------------
``MainWindow(document: Document | None = None)``
    ``window.document`` (the shared :class:`gui.document.Document`), ``window.scene``
    (:class:`gui.canvas.GraphScene`), ``window.view`` (:class:`gui.canvas.GraphView`).
``window.add_panel(widget, title, area=Qt.RightDockWidgetArea, object_name=None) -> QDockWidget``
    Docks ``widget``, tabified with the docks already in ``area``; adds a View-menu toggle. The
    object name (default derived from the title) keys the saved window layout.
``window.menu(name) -> QMenu``
    The "File", "Edit", "View", "Tools" or "Help" menu, to add actions (File ▸ Export…, Tools ▸ Train).
``window.open_path(path) -> bool``, ``window.save_to(path) -> bool``, ``window.maybe_save() -> bool``
    Open a project (a corrupt file is refused with a dialog, keeping the current document), save
    atomically, and ask about unsaved changes (True = go ahead).
``window.close_guards: list[Callable[[], bool]]``
    Consulted before close, New and Open; a guard returning False cancels (e.g. "stop training?").
``window.scene.set_node_tint(node_id, QColor | None)``, ``window.scene.clear_tints()``,
``window.scene.node_item(node_id)``, ``window.view.set_legend(widget | None)``
    Colour nodes by a statistic and show a legend over the canvas corner.
``document.locked`` / ``document.set_locked(bool)``
    While True all edits are refused and visibly marked (banner, disabled palette and inspector).
``document.training``
    The project's training settings; saved with the project and restored on open.
``window.status(text, error=False)``
    Show a message in the status bar.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from netbuilder.core import __version__
from netbuilder.core.interop.exporter import export_python
from netbuilder.core.model.codegen import CodegenError
from netbuilder.core.model.graph import Edge, Graph, GraphError
from netbuilder.core.model.layers import get_spec
from netbuilder.core.model.project import ProjectError, load_project, presets_dir, save_project
from netbuilder.core.model.summary import summary_table
from netbuilder.gui import theme
from netbuilder.gui.editor import commands
from netbuilder.gui.editor.autosave import Autosaver, Recovery
from netbuilder.gui.editor.canvas import GraphScene, GraphView, arrange
from netbuilder.gui.editor.canvas.node_item import WIDTH
from netbuilder.gui.editor.code_dock import CodeDock
from netbuilder.gui.editor.document import Document
from netbuilder.gui.editor.inspector import Inspector
from netbuilder.gui.editor.palette import Palette
from netbuilder.gui.editor.summary_dock import SummaryDock
from PySide6.QtCore import QByteArray, QMimeData, QPointF, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QFrame,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QStyle,
    QToolBar,
    QUndoView,
    QWidget,
)

FILE_FILTER = "NetBuilder projects (*.json);;All files (*)"
MAX_RECENT = 8
MENU_NAMES = ("File", "Edit", "View", "Tools", "Help")


MAX_DOCK_MIN = (760, 260)  # a panel whose minimum size is larger gets a scroll area


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


class MainWindow(QMainWindow):
    """The NetBuilder editor window (see the module docstring for the extension API)."""

    def __init__(self, document: Document | None = None, autosave_ms: int | None = None) -> None:
        super().__init__()
        self.document = document or Document()
        self.close_guards: list[Callable[[], bool]] = []
        # Extra entries for a node's context menu: provider(menu, selected_ids) adds actions (panels use
        # this, e.g. the convolution walk-through, without the canvas knowing about them).
        self.node_menu_providers: list[Callable[[QMenu, list[str]], None]] = []
        self._menus: dict[str, QMenu] = {}
        self._docks_by_area: dict[Qt.DockWidgetArea, list[QDockWidget]] = {}
        self._paste_count = 0
        self._closed = False
        self.setObjectName("MainWindow")
        self.setDockNestingEnabled(True)
        self.resize(1480, 920)

        self.scene = GraphScene(self.document, self)
        self.view = GraphView(self.scene, self)
        self.setCentralWidget(self.view)
        self.palette = Palette()
        self.inspector = Inspector(self.document)
        self.summary = SummaryDock(self.document)
        self.code = CodeDock(self.document)

        for name in MENU_NAMES:
            self._menus[name] = self.menuBar().addMenu(f"&{name}")
        self._panels_menu = QMenu("&Panels", self)
        self._build_actions()
        self._build_status_bar()

        self.palette_dock = self.add_panel(self.palette, "Layers", Qt.DockWidgetArea.LeftDockWidgetArea, "PaletteDock")
        self.inspector_dock = self.add_panel(self.inspector, "Inspector", Qt.DockWidgetArea.RightDockWidgetArea,
                                             "InspectorDock")
        self.summary_dock = self.add_panel(self.summary, "Summary", Qt.DockWidgetArea.BottomDockWidgetArea,
                                           "SummaryDock")
        self.code_dock = self.add_panel(self.code, "Code", Qt.DockWidgetArea.BottomDockWidgetArea, "CodeDock",
                                        tabify=False)
        self.splitDockWidget(self.summary_dock, self.code_dock, Qt.Orientation.Horizontal)
        self.history_view = QUndoView(self.document.undo_stack)
        self.history_view.setEmptyLabel("<opened>")
        self.history_dock = self.add_panel(self.history_view, "History", Qt.DockWidgetArea.LeftDockWidgetArea,
                                           "HistoryDock", tabify=False)
        self.splitDockWidget(self.palette_dock, self.history_dock, Qt.Orientation.Vertical)
        self.history_dock.hide()
        self.resizeDocks([self.palette_dock], [262], Qt.Orientation.Horizontal)
        self.resizeDocks([self.inspector_dock], [350], Qt.Orientation.Horizontal)
        self.resizeDocks([self.summary_dock, self.code_dock], [560, 640], Qt.Orientation.Horizontal)
        self.resizeDocks([self.summary_dock], [270], Qt.Orientation.Vertical)
        d = self.document
        d.modified_changed.connect(self._update_title)
        d.path_changed.connect(self._update_title)
        d.reset.connect(self._update_title)
        d.locked_changed.connect(self._on_locked)
        d.inferred.connect(self._on_inferred)
        d.selection_changed.connect(self._on_selection)
        self.scene.message.connect(self.status)
        self.scene.node_activated.connect(self._on_node_activated)
        self.scene.context_menu.connect(self._on_context_menu)
        self.inspector.message.connect(self.status)
        self.palette.activated.connect(self.add_next_to_selection)
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        QApplication.clipboard().dataChanged.connect(self._update_actions)

        self.autosaver = Autosaver(self.document, autosave_ms or 60_000, self)
        self._restore_settings()
        self._update_title()
        self._on_inferred(d.result)
        self._on_locked(d.locked)
        self._update_actions()

    # === extension API ==============================================================================
    def menu(self, name: str) -> QMenu:
        """The top-level menu ``name`` ("File", "Edit", "View", "Tools", "Help")."""
        return self._menus[name]

    def add_panel(self, widget: QWidget, title: str, area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
                  object_name: str | None = None, tabify: bool = True) -> QDockWidget:
        """Dock ``widget`` in ``area`` (tabified with the docks there) with a View-menu toggle."""
        dock = QDockWidget(title, self)
        dock.setObjectName(object_name or (title.replace(" ", "") + "Dock"))
        hint = widget.minimumSizeHint()
        if hint.height() > MAX_DOCK_MIN[1] or hint.width() > MAX_DOCK_MIN[0]:
            # A big panel would force its whole dock area (and the window) to its minimum size;
            # in a scroll area it shrinks with the window instead.
            scroll = QScrollArea(dock)
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setWidget(widget)
            dock.setWidget(scroll)
        else:
            dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        existing = self._docks_by_area.setdefault(area, [])
        self.addDockWidget(area, dock)
        if existing and tabify:
            self.tabifyDockWidget(existing[-1], dock)
        existing.append(dock)
        action = dock.toggleViewAction()
        self._panels_menu.addAction(action)
        return dock

    def widget(self) -> QWidget:
        """The window itself, as the parent of dialogs and tool windows (see :class:`gui.window.AppWindow`)."""
        return self

    def status(self, text: str, error: bool = False) -> None:
        """Show ``text`` in the status bar (red when ``error``)."""
        t = theme.current()
        self.statusBar().setStyleSheet(f"QStatusBar {{ color: {t.error if error else t.text}; }}")
        self.statusBar().showMessage(text, 12000 if error else 5000)

    def maybe_save(self) -> bool:
        """Ask about unsaved changes: True when it is fine to discard the document now."""
        if not self.document.modified:
            return True
        name = self.document.path.name if self.document.path else "this project"
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {name} before continuing?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def confirm_discard(self) -> bool:
        """Close guards (e.g. a running training) then unsaved changes."""
        return all(guard() for guard in list(self.close_guards)) and self.maybe_save()

    def open_path(self, path: str | os.PathLike[str]) -> bool:
        """Load a project into the document. A bad file is refused with a dialog; the current
        document stays as it was."""
        p = Path(path)
        try:
            project = load_project(p)
        except ProjectError as e:
            QMessageBox.critical(self, "Cannot open project", f"{e}\n\nThe current project was left unchanged.")
            self.status(f"Could not open {p.name}", True)
            return False
        self._load(project.graph, project.training, p.resolve())
        self._add_recent(p.resolve())
        self.status(f"Opened {p}")
        return True

    def open_template(self, path: str | os.PathLike[str]) -> bool:
        """Start a new untitled document from a preset (laid out for reading, not modified)."""
        try:
            project = load_project(path)
        except ProjectError as e:
            QMessageBox.critical(self, "Cannot open template", str(e))
            return False
        if arrange.is_single_long_row(project.graph):
            for nid, pos in arrange.auto(project.graph).items():
                project.graph.move_node(nid, pos)
        self._load(project.graph, project.training, None)
        self.status(f"New project from template “{project.graph.name}”")
        return True

    def save_to(self, path: str | os.PathLike[str]) -> bool:
        """Save atomically to ``path`` (with the training settings); the document becomes clean."""
        p = Path(path)
        try:
            save_project(p, self.document.graph, self.document.training)
        except OSError as e:
            QMessageBox.critical(self, "Cannot save", f"Could not write {p}:\n{e.strerror or e}")
            return False
        self.document.undo_stack.setClean()
        self.document.set_path(p.resolve())
        self._add_recent(p.resolve())
        self.autosaver.discard()
        self.status(f"Saved {p}")
        return True

    # === files =================================================================================
    def load_graph(self, graph: Graph, training: dict | None = None, path: Path | None = None,
                   modified: bool = False) -> None:
        """Replace the document with ``graph`` (undo history cleared). ``modified`` marks it unsaved,
        for networks that come from somewhere other than a project file (import, checkpoint)."""
        self._load(graph, dict(training or {}), path)
        if modified:
            self.document.undo_stack.resetClean()
            self._update_title()

    def _load(self, graph: Graph, training: dict, path: Path | None) -> None:
        d = self.document
        d.select_nodes([])
        d.undo_stack.clear()
        d.graph.load_from(graph)
        d.training = dict(training)
        d.set_path(path)
        d.flush()
        d.undo_stack.setClean()
        self._paste_count = 0
        self._update_title()
        QTimer.singleShot(0, self.view.fit)
        self.view.fit()

    def new(self) -> bool:
        if not self.confirm_discard():
            return False
        self._load(Graph("untitled"), {}, None)
        self.status("New project: drag layers from the palette, starting with an Input")
        return True

    def open_dialog(self) -> bool:
        if not self.confirm_discard():
            return False
        start = str(self.document.path.parent) if self.document.path else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open project", start, FILE_FILTER)
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
        suggested = str(d.path) if d.path else str(Path.home() / (_slug(d.graph.name) + ".json"))
        path, _ = QFileDialog.getSaveFileName(self, "Save project as", suggested, FILE_FILTER)
        if not path:
            return False
        if not path.endswith(".json") and "." not in Path(path).name:
            path += ".json"
        return self.save_to(path)

    def export_python_dialog(self) -> bool:
        d = self.document
        base = d.path.with_suffix(".py") if d.path else Path.home() / (_slug(d.graph.name) + ".py")
        path, _ = QFileDialog.getSaveFileName(self, "Export Python", str(base), "Python files (*.py)")
        if not path:
            return False
        try:
            export_python(d.graph, path)
        except (CodegenError, OSError) as e:
            QMessageBox.warning(self, "Cannot export", str(e))
            return False
        self.status(f"Exported {path}")
        return True

    def restore_recovery(self, rec: Recovery) -> None:
        """Load an autosaved project; it stays marked modified until saved."""
        self._load(rec.project.graph, rec.project.training, rec.path)
        self.document.undo_stack.resetClean()
        self.autosaver.save_now()  # a second crash within the next minute must not lose it
        rec.file.unlink(missing_ok=True)
        self._update_title()
        self.status("Restored unsaved work from the autosave — save it to keep it")

    def _recent(self) -> list[str]:
        value = settings().value("recentFiles", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: Path) -> None:
        items = [str(path), *[r for r in self._recent() if r != str(path)]][:MAX_RECENT]
        s = settings()
        s.setValue("recentFiles", items)
        s.sync()
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        items = [r for r in self._recent() if Path(r).exists()]
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

    # === editing ===============================================================================
    def _run(self, cmd: commands.Command) -> bool:
        try:
            commands.execute(self.document, cmd)
        except GraphError as e:
            self.status(str(e), True)
            return False
        return True

    def add_next_to_selection(self, type_name: str) -> str | None:
        """Palette double-click/Enter: add ``type_name`` right of the selected node (or the current
        output) and connect it; on an empty canvas, at the view centre."""
        d = self.document
        g = d.graph
        sel = [i for i in d.selected_ids() if i in g]
        anchor = sel[-1] if sel else (d.result.output_id if d.result.output_id in g else None)
        if anchor is not None:
            ax, ay = g.node(anchor).position
            pos = (ax + arrange.STEP_X, ay)
            taken = {(round(n.position[0]), round(n.position[1])) for n in g.nodes}
            while (round(pos[0]), round(pos[1])) in taken:
                pos = (pos[0], pos[1] + arrange.STEP_Y + 20)
        else:
            c = self.view.center_of_view()
            p = self.scene.snap_point(QPointF(c.x() - WIDTH / 2, c.y() - 36))
            pos = (p.x(), p.y())
        connect = anchor if anchor is not None and get_spec(type_name).max_inputs != 0 else None
        cmd = commands.AddNode(d, type_name, pos, connect_from=connect)
        if not self._run(cmd):
            return None
        assert cmd.node_id is not None
        d.select_nodes([cmd.node_id])
        if cmd.connect_error:
            self.status(f"Added '{cmd.node_id}' but did not connect it: {cmd.connect_error}", True)
        elif cmd.edge is not None:
            self.status(f"Added {type_name} '{cmd.node_id}' after '{cmd.edge.src}'")
        else:
            self.status(f"Added {type_name} '{cmd.node_id}'")
        item = self.scene.node_item(cmd.node_id)
        if item is not None:
            self.view.ensureVisible(item, 60, 60)
        return cmd.node_id

    def delete_selection(self) -> None:
        ids = self.scene.selected_node_ids()
        edges = [e for e in self.scene.selected_edges() if e.src not in ids and e.dst not in ids]
        if not ids and not edges:
            return
        stack = self.document.undo_stack
        stack.beginMacro("Delete") if ids and edges else None
        try:
            if edges:
                self._run(commands.Disconnect(self.document, edges))
            if ids:
                self._run(commands.RemoveNodes(self.document, ids))
        finally:
            if ids and edges:
                stack.endMacro()

    def disconnect_selection(self, edge: Edge | None = None) -> None:
        g = self.document.graph
        if edge is not None:
            edges = [edge]
        else:
            ids = set(self.document.selected_ids())
            edges = [e for e in g.edges if e.src in ids or e.dst in ids] + self.scene.selected_edges()
        if not edges:
            self.status("Nothing to disconnect", True)
            return
        self._run(commands.Disconnect(self.document, edges))

    def rename_selected(self) -> None:
        ids = self.document.selected_ids()
        if len(ids) != 1:
            self.status("Select one layer to rename", True)
            return
        old = ids[0]
        new, ok = QInputDialog.getText(self, "Rename layer", f"New id for '{old}':", text=old)
        if ok and new.strip() and new.strip() != old and not self._run(
                commands.Rename(self.document, old, new.strip())):
                QMessageBox.warning(self, "Cannot rename", self.statusBar().currentMessage())

    def copy(self) -> bool:
        ids = self.document.selected_ids()
        if not ids:
            self.status("Select layers to copy", True)
            return False
        frag = commands.fragment_of(self.document.graph, ids)
        text = commands.fragment_to_json(frag)
        mime = QMimeData()
        mime.setData(commands.CLIPBOARD_MIME, QByteArray(text.encode("utf-8")))
        mime.setText(text)
        QApplication.clipboard().setMimeData(mime)
        self._paste_count = 0
        self.status(f"Copied {len(frag)} layer{'s' if len(frag) != 1 else ''}")
        return True

    def cut(self) -> None:
        if self.copy():
            ids = self.document.selected_ids()
            self._run(commands.RemoveNodes(self.document, ids))
            self.document.undo_stack.command(self.document.undo_stack.index() - 1).setText(
                f"Cut {len(ids)} layer{'s' if len(ids) != 1 else ''}")

    def paste(self) -> None:
        mime = QApplication.clipboard().mimeData()
        if mime is None:
            return
        if mime.hasFormat(commands.CLIPBOARD_MIME):
            text = bytes(mime.data(commands.CLIPBOARD_MIME).data()).decode("utf-8")
        else:
            text = mime.text()
        try:
            frag = commands.fragment_from_json(text)
        except GraphError as e:
            self.status(str(e), True)
            return
        self._paste_count += 1
        off = 40.0 * self._paste_count
        self._add_fragment(frag, (off, off), "Paste")

    def duplicate(self) -> None:
        ids = self.document.selected_ids()
        if not ids:
            self.status("Select layers to duplicate", True)
            return
        frag = commands.fragment_of(self.document.graph, ids)
        self._add_fragment(frag, (40.0, 40.0), "Duplicate")

    def _add_fragment(self, frag: Graph, offset: tuple[float, float], verb: str) -> None:
        n = len(frag)
        cmd = commands.AddFragment(self.document, frag, offset, f"{verb} {n} layer{'s' if n != 1 else ''}")
        if self._run(cmd):
            self.document.select_nodes(cmd.ids)
            self.status(f"{verb}d {n} layer{'s' if n != 1 else ''}" if verb.endswith("e") else f"{verb} done")

    def select_all(self) -> None:
        self.document.select_nodes([n.id for n in self.document.graph.nodes])

    def arrange(self, mode: str = "auto") -> None:
        """Auto-layout as one undoable step: ``auto``, ``LR``, ``TB`` or ``wrap``."""
        g = self.document.graph
        if not len(g):
            return
        if mode == "auto":
            new = arrange.auto(g)
        elif mode == "wrap":
            new = arrange.wrapped(g)
        else:
            new = arrange.layered(g, mode)
        old = {nid: g.node(nid).position for nid in new}
        changed = {nid: p for nid, p in new.items() if p != old[nid]}
        if not changed:
            self.view.fit()
            return
        names = {"auto": "Auto-layout", "LR": "Layout left to right", "TB": "Layout top to bottom",
                 "wrap": "Layout in rows"}
        if self._run(commands.MoveNodes(self.document, {k: old[k] for k in changed}, changed, names[mode])):
            self.view.fit()

    # === actions, menus, toolbar ===================================================================
    def _act(self, menu: str | None, text: str, slot: Callable[[], object], shortcut=None, tip: str = "",
             icon: QStyle.StandardPixmap | None = None, edit: bool = False) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                a.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(tip)
        if icon is not None:
            a.setIcon(self.style().standardIcon(icon))
        a.triggered.connect(lambda _=False: slot())
        if menu:
            self._menus[menu].addAction(a)
        if edit:
            self._edit_actions.append(a)
        self.addAction(a)
        return a

    def _build_actions(self) -> None:
        SP = QStyle.StandardPixmap
        K = QKeySequence.StandardKey
        self._edit_actions: list[QAction] = []
        f = "File"
        self.act_new = self._act(f, "&New", self.new, K.New, "Start an empty project", SP.SP_FileIcon)
        tmpl = self._menus[f].addMenu("New from &Template")
        for name, path in preset_templates():
            a = tmpl.addAction(name)
            a.setToolTip(str(path))
            a.triggered.connect(lambda _=False, p=path: self._new_from_template(p))
        self.act_open = self._act(f, "&Open…", self.open_dialog, K.Open, "Open a project file", SP.SP_DialogOpenButton)
        self.recent_menu = self._menus[f].addMenu("Open &Recent")
        self._rebuild_recent_menu()
        self._menus[f].addSeparator()
        self.act_save = self._act(f, "&Save", self.save, K.Save, "Save the project", SP.SP_DialogSaveButton)
        self.act_save_as = self._act(f, "Save &As…", self.save_as, K.SaveAs, "Save under a new name")
        self._menus[f].addSeparator()
        self.act_export = self._act(f, "Export &Python…", self.export_python_dialog, "Ctrl+E",
                                    "Write the network as a standalone PyTorch module")
        self._menus[f].addSeparator()
        self.act_quit = self._act(f, "&Quit", self.close, K.Quit, "Quit NetBuilder")

        e = "Edit"
        stack = self.document.undo_stack
        self.act_undo = stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(K.Undo)
        self.act_undo.setIcon(self.style().standardIcon(SP.SP_ArrowBack))
        self.act_redo = stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence(K.Redo), QKeySequence("Ctrl+Y")])
        self.act_redo.setIcon(self.style().standardIcon(SP.SP_ArrowForward))
        self._menus[e].addAction(self.act_undo)
        self._menus[e].addAction(self.act_redo)
        self.addAction(self.act_undo)
        self.addAction(self.act_redo)
        self._menus[e].addSeparator()
        self.act_cut = self._act(e, "Cu&t", self.cut, K.Cut, "Cut the selected layers", edit=True)
        self.act_copy = self._act(e, "&Copy", self.copy, K.Copy, "Copy the selected layers")
        self.act_paste = self._act(e, "&Paste", self.paste, K.Paste, "Paste layers", edit=True)
        self.act_duplicate = self._act(e, "D&uplicate", self.duplicate, "Ctrl+D", "Duplicate the selected layers",
                                       edit=True)
        self.act_delete = self._act(e, "&Delete", self.delete_selection, [K.Delete, "Backspace"],
                                    "Delete the selected layers or connections", edit=True)
        self._menus[e].addSeparator()
        self.act_rename = self._act(e, "Re&name…", self.rename_selected, "F2", "Rename the selected layer", edit=True)
        self.act_disconnect = self._act(e, "Dis&connect", self.disconnect_selection, "Ctrl+Shift+D",
                                        "Remove the connections of the selected layers", edit=True)
        self.act_select_all = self._act(e, "Select &All", self.select_all, K.SelectAll)
        self._menus[e].addSeparator()
        self.act_history = self._act(e, "&History", self._toggle_history, "Ctrl+H", "Show the undo history")
        self.act_history.setCheckable(True)

        v = "View"
        self.act_fit = self._act(v, "&Fit to Window", self.view.fit, "F", "Show the whole network")
        self.act_zoom_in = self._act(v, "Zoom &In", lambda: self.view.zoom_by(1.25), K.ZoomIn)
        self.act_zoom_out = self._act(v, "Zoom &Out", lambda: self.view.zoom_by(0.8), K.ZoomOut)
        self.act_zoom_reset = self._act(v, "&Actual Size", lambda: self.view.set_zoom(1.0), "Ctrl+0")
        self._menus[v].addSeparator()
        self.act_grid = self._act(v, "Show &Grid", self._toggle_grid)
        self.act_grid.setCheckable(True)
        self.act_grid.setChecked(True)
        self.act_snap = self._act(v, "&Snap to Grid", self._toggle_snap)
        self.act_snap.setCheckable(True)
        self.act_snap.setChecked(True)
        self._menus[v].addSeparator()
        arr = self._menus[v].addMenu("A&rrange")
        self.act_layout = self._act(None, "&Auto-layout", lambda: self.arrange("auto"), "Ctrl+L",
                                    "Arrange the layers automatically (undoable)", edit=True)
        arr.addAction(self.act_layout)
        for text, mode in (("&Left to Right", "LR"), ("&Top to Bottom", "TB"), ("Wrapped &Rows", "wrap")):
            a = self._act(None, text, lambda m=mode: self.arrange(m), edit=True)
            arr.addAction(a)
        self._menus[v].addSeparator()
        self._menus[v].addMenu(self._panels_menu)
        th = self._menus[v].addMenu("&Theme")
        for text, dark in (("Follow System", None), ("Light", False), ("Dark", True)):
            a = th.addAction(text)
            a.triggered.connect(lambda _=False, dk=dark: theme.apply(dk))

        t = "Tools"
        self.act_copy_summary = self._act(t, "Copy &Summary Table", self._copy_summary,
                                          tip="Copy the torchinfo-style summary as text")
        self.act_goto_error = self._act(t, "Go to Next &Error", self.goto_error, "Ctrl+Shift+E",
                                        "Select the next layer with an error")

        h = "Help"
        self._act(h, "&Getting Started", self._help, K.HelpContents)
        self._act(h, "&About NetBuilder", self.about)

        tb = QToolBar("Main toolbar", self)
        tb.setObjectName("MainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in (self.act_new, self.act_open, self.act_save):
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.act_undo)
        tb.addAction(self.act_redo)
        for a in (self.act_undo, self.act_redo):  # their text names the command: keep the bar steady
            button = tb.widgetForAction(a)
            if button is not None:
                button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        tb.addSeparator()
        tb.addAction(self.act_fit)
        tb.addAction(self.act_layout)
        self.addToolBar(tb)
        self.toolbar = tb
        self._edit_actions += [self.act_undo, self.act_redo]
        # bound methods (not lambdas): Qt drops these connections when the window is destroyed
        self.document.undo_stack.canUndoChanged.connect(self._update_actions)
        self.document.undo_stack.canRedoChanged.connect(self._update_actions)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        sb.messageChanged.connect(lambda m: sb.setStyleSheet("") if not m else None)
        self.error_button = QPushButton()
        self.error_button.setFlat(True)
        self.error_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.error_button.clicked.connect(self.goto_error)
        self.params_label = QLabel()
        self.zoom_label = QLabel("100%")
        self.zoom_label.setToolTip("Zoom (wheel, Ctrl+/−, F to fit)")
        sb.addPermanentWidget(self.error_button)
        sb.addPermanentWidget(self.params_label)
        sb.addPermanentWidget(self.zoom_label)

    def _update_actions(self, *_: object) -> None:
        locked = self.document.locked
        has_sel = bool(self.document.selected_ids())
        for a in self._edit_actions:
            a.setEnabled(not locked)
        if not locked:
            self.act_undo.setEnabled(self.document.undo_stack.canUndo())
            self.act_redo.setEnabled(self.document.undo_stack.canRedo())
            for a in (self.act_cut, self.act_duplicate, self.act_rename, self.act_disconnect):
                a.setEnabled(has_sel)
        self.act_copy.setEnabled(has_sel)
        for a in (self.act_new, self.act_open):
            a.setEnabled(True)

    # === reactions ===============================================================================
    def _update_title(self, *_: object) -> None:
        d = self.document
        where = d.path.name if d.path else "Untitled"
        self.setWindowTitle(f"{where}[*] — {d.graph.name} — NetBuilder")
        self.setWindowModified(d.modified)

    def _on_inferred(self, result) -> None:
        t = theme.current()
        n = len(result.errors) if len(self.document.graph) else 0  # an empty canvas is not an error
        if n:
            first = result.errors[0].message
            self.error_button.setText(f"⚠ {n} error{'s' if n > 1 else ''}")
            self.error_button.setToolTip(result.error_text() + "\n\nClick to select the layer (Ctrl+Shift+E)")
            self.error_button.setStyleSheet(f"color: {t.error}; font-weight: bold; padding: 0 8px;")
            self.error_button.show()
            if first != getattr(self, "_last_error", None):
                self.status(first, True)
        else:
            self.error_button.hide()
            if getattr(self, "_last_error", None):
                self.status("The network is valid")
        self._last_error = result.errors[0].message if n else None
        self.params_label.setText(f"{result.total_params:,} parameters" if len(self.document.graph) else "")

    def _on_selection(self, ids: list[str]) -> None:
        self._update_actions()
        if len(ids) == 1:
            msgs = self.document.result.errors_for(ids[0])
            if msgs:
                self.status(msgs[0], True)

    def _on_locked(self, locked: bool) -> None:
        self.palette.setEnabled(not locked)
        # clicking a History row calls setIndex() directly, past commands.execute's lock check
        self.history_view.setEnabled(not locked)
        self._update_actions()
        if locked:
            self.status("Editing is locked while training")

    def _on_node_activated(self, node_id: str) -> None:
        self.document.select_nodes([node_id])
        self.inspector_dock.show()
        self.inspector_dock.raise_()
        self.inspector.focus_id()

    def _on_context_menu(self, ids: list[str], screen_pos, edge: Edge | None) -> None:
        m = QMenu(self)
        if ids:
            m.addAction(self.act_rename)
            m.addAction(self.act_duplicate)
            m.addAction(self.act_disconnect)
            m.addSeparator()
            m.addAction(self.act_copy)
            m.addAction(self.act_cut)
            m.addAction(self.act_delete)
            extra = QMenu(m)
            for provider in self.node_menu_providers:
                provider(extra, list(ids))
            if extra.actions():
                m.addSeparator()
                for a in extra.actions():
                    m.addAction(a)
        elif edge is not None:
            a = m.addAction(f"Disconnect {edge.src} → {edge.dst}")
            a.setEnabled(not self.document.locked)
            a.triggered.connect(lambda _=False: self.disconnect_selection(edge))
        else:
            m.addAction(self.act_paste)
            m.addSeparator()
            m.addAction(self.act_layout)
            m.addAction(self.act_fit)
        m.popup(screen_pos)
        self._context_menu = m

    def goto_error(self) -> None:
        errs = [e for e in self.document.result.errors if e.node]
        if not errs:
            if self.document.result.errors:
                self.status(self.document.result.errors[0].message, True)
            return
        cur = self.document.selected_ids()
        ids = [e.node for e in errs]
        nxt = ids[(ids.index(cur[0]) + 1) % len(ids)] if len(cur) == 1 and cur[0] in ids else ids[0]
        assert nxt is not None
        self.document.select_nodes([nxt])
        item = self.scene.node_item(nxt)
        if item is not None:
            self.view.ensureVisible(item, 80, 80)
        self.status(self.document.result.errors_for(nxt)[0], True)

    def _toggle_history(self) -> None:
        self.history_dock.setVisible(not self.history_dock.isVisible())
        self.act_history.setChecked(self.history_dock.isVisible())

    def _toggle_grid(self) -> None:
        self.scene.show_grid = self.act_grid.isChecked()
        self.scene.update()

    def _toggle_snap(self) -> None:
        self.scene.snap = self.act_snap.isChecked()

    def _copy_summary(self) -> None:
        if not self.document.result.ok:
            self.status("Fix the errors first: " + self.document.result.errors[0].message
                        if self.document.result.errors else "The network is empty", True)
            return
        QGuiApplication.clipboard().setText(summary_table(self.document.graph, self.document.result))
        self.status("Summary copied to the clipboard")

    def about(self) -> None:
        QMessageBox.about(
            self, "About NetBuilder",
            f"<h3>NetBuilder {__version__}</h3>"
            "<p>Build PyTorch networks by drag-and-drop, with live shapes, parameter counts and code; "
            "train them, look inside them and export them as plain Python.</p>"
            "<p>Qt for Python (PySide6), PyTorch and pyqtgraph. MIT licence.</p>",
        )

    def _help(self) -> None:
        QMessageBox.information(
            self, "Getting started",
            "<p><b>Add layers</b>: drag them from the Layers panel, or double-click one to append it after "
            "the selected layer.</p>"
            "<p><b>Connect</b>: drag from a layer's output port (right) to another's input port (left). "
            "Every connection shows the tensor shape it carries.</p>"
            "<p><b>Edit</b>: select a layer and change its parameters in the Inspector. Errors appear as red "
            "badges; hover for the fix.</p>"
            "<p><b>Navigate</b>: wheel to zoom, middle-drag or Space-drag to pan, F to fit, Ctrl+L to "
            "arrange.</p>",
        )

    # === settings and closing =====================================================================
    def _restore_settings(self) -> None:
        s = settings()
        geo = s.value("window/geometry")
        state = s.value("window/state")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self.act_history.setChecked(not self.history_dock.isHidden())

    def save_settings(self) -> None:
        s = settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closed and not self.confirm_discard():
            event.ignore()
            return
        self.save_settings()
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop autosave (deleting the recovery file) and drop the undo history and scene items.
        Clearing them explicitly avoids destructor-order crashes at interpreter exit."""
        if self._closed:
            return
        self._closed = True
        self.autosaver.stop()
        self.history_view.setStack(None)
        self.document.undo_stack.clear()
        self.scene.close()
        # The views connected to the document die with this window: silence it so a late signal
        # (e.g. from the undo stack's destructor at exit) cannot reach a deleted widget.
        self.document.undo_stack.blockSignals(True)
        self.document.blockSignals(True)
        self.document.graph.events.changed.disconnect(self.document._pending.start)


def _slug(name: str) -> str:
    import re

    s = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()
    return s or "untitled"
