"""The main window, the editor's shell: the canvas in the middle, the palette, inspector, summary,
code and history docks around it, the menus, toolbar and status bar, autosave and the saved layout.

The File menu's commands live in :mod:`netbuilder.gui.editor.file_commands`, the Edit menu's in
:mod:`netbuilder.gui.editor.edit_actions`. Other panels use the window through
:class:`netbuilder.gui.window.AppWindow` (``document``, ``scene``, ``view``, ``close_guards``,
``node_menu_providers``, ``menu()``, ``add_panel()``, ``status()``, ``widget()``); while
``document.locked`` is True (a training run) every edit is refused and visibly marked.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial

from netbuilder.core import __version__
from netbuilder.gui import theme
from netbuilder.gui.editor.autosave import Autosaver
from netbuilder.gui.editor.canvas import GraphScene, GraphView
from netbuilder.gui.editor.code_dock import CodeDock
from netbuilder.gui.editor.document import Document
from netbuilder.gui.editor.edit_actions import EditActions
from netbuilder.gui.editor.empty_hint import EmptyCanvasHint
from netbuilder.gui.editor.file_commands import FileCommands, settings
from netbuilder.gui.editor.fix_bar import FixBar
from netbuilder.gui.editor.help_text import GETTING_STARTED
from netbuilder.gui.editor.inspector import Inspector
from netbuilder.gui.editor.palette import Palette
from netbuilder.gui.editor.summary_dock import SummaryDock
from PySide6.QtCore import QByteArray, QPoint, Qt
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QStyle,
    QToolBar,
    QToolButton,
    QUndoView,
    QWidget,
)

MENU_NAMES = ("File", "Edit", "View", "Tools", "Help")
MAX_DOCK_MIN = (760, 260)  # a panel whose minimum size is larger gets a scroll area
HISTORY_SIZE = (340, 460)  # Edit ▸ History's window, at least


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
        self.edits = EditActions(self)
        self._docks_by_area: dict[Qt.DockWidgetArea, list[QDockWidget]] = {}
        self._closed = False
        self.setObjectName("MainWindow")
        self.setDockNestingEnabled(True)
        self.resize(1480, 920)

        self.scene = GraphScene(self.document, self)
        self.view = GraphView(self.scene, self)
        self.setCentralWidget(self.view)
        # (the name hides QWidget.palette(); kept, as the editor's tests and helpers use it)
        self.palette: Palette = Palette()  # type: ignore[assignment]
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
        # a window of its own (a column beside the palette squeezed both)
        self.history_dock = self.add_panel(self.history_view, "History", Qt.DockWidgetArea.RightDockWidgetArea,
                                           "HistoryDock", tabify=False)
        self.history_dock.setFloating(True)
        self.history_dock.hide()
        self.empty_hint = EmptyCanvasHint(self.view, self.document)
        self.resizeDocks([self.palette_dock], [262], Qt.Orientation.Horizontal)
        self.resizeDocks([self.inspector_dock], [350], Qt.Orientation.Horizontal)
        self.resizeDocks([self.summary_dock, self.code_dock], [560, 640], Qt.Orientation.Horizontal)
        self.resizeDocks([self.summary_dock], [270], Qt.Orientation.Vertical)
        d = self.document
        d.modified_changed.connect(self._update_title)
        d.path_changed.connect(self._update_title)
        d.reset.connect(self._update_title)
        d.undo_stack.indexChanged.connect(self._update_title)  # the project name is an undoable edit
        d.locked_changed.connect(self._on_locked)
        d.inferred.connect(self._on_inferred)
        d.selection_changed.connect(self._on_selection)
        self.scene.message.connect(self.status)
        self.scene.node_activated.connect(self._on_node_activated)
        self.scene.context_menu.connect(self.edits.context_menu)
        self.inspector.message.connect(self.status)
        self.palette.activated.connect(self.edits.add_next_to_selection)
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
        """The window itself, the parent of dialogs and tool windows (:class:`~netbuilder.gui.window.AppWindow`)."""
        return self

    def status(self, text: str, error: bool = False) -> None:
        """Show ``text`` in the status bar (red when ``error``)."""
        t = theme.current()
        self.statusBar().setStyleSheet(f"QStatusBar {{ color: {t.error if error else t.text}; }}")
        self.statusBar().showMessage(text, 12000 if error else 5000)

    # === file and edit commands (see FileCommands and EditActions) ===============================
    def open_path(self, path: str | os.PathLike[str]) -> bool:
        """Load a project (a bad file is refused with a dialog, keeping the current document)."""
        return self.files.open_path(path)

    def open_template(self, path: str | os.PathLike[str]) -> bool:
        """Start a new untitled document from a preset."""
        return self.files.open_template(path)

    def save_to(self, path: str | os.PathLike[str]) -> bool:
        """Save atomically to ``path``."""
        return self.files.save_to(path)

    def project_loaded(self) -> None:
        """Called by :class:`FileCommands` after the document was replaced by another project."""
        self.edits.paste_count = 0
        self._update_title()
        self.view.fit()

    def delete_selection(self) -> None:
        """Delete the selected layers and connections (one undo step)."""
        self.edits.delete_selection()

    def copy(self) -> bool:
        """Copy the selected layers to the clipboard."""
        return self.edits.copy()

    def paste(self) -> None:
        """Paste layers from the clipboard, offset from the copied ones."""
        self.edits.paste()

    def arrange(self, mode: str = "auto") -> None:
        """Auto-layout as one undoable step: ``auto``, ``LR``, ``TB`` or ``wrap``."""
        self.edits.arrange(mode)


    # === actions, menus, toolbar ===================================================================
    def add_action(self, menu: str | None, text: str, slot: Callable[[], object], shortcut=None, tip: str = "",
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
        self.files = FileCommands(self)

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
        self.act_cut = self.add_action(e, "Cu&t", self.edits.cut, K.Cut, "Cut the selected layers", edit=True)
        self.act_copy = self.add_action(e, "&Copy", self.edits.copy, K.Copy, "Copy the selected layers")
        self.act_paste = self.add_action(e, "&Paste", self.edits.paste, K.Paste, "Paste layers", edit=True)
        self.act_duplicate = self.add_action(e, "D&uplicate", self.edits.duplicate, "Ctrl+D",
                                             "Duplicate the selected layers", edit=True)
        self.act_delete = self.add_action(e, "&Delete", self.edits.delete_selection, [K.Delete, "Backspace"],
                                    "Delete the selected layers or connections", edit=True)
        self._menus[e].addSeparator()
        self.act_rename = self.add_action(e, "Re&name…", self.edits.rename_selected, "F2", "Rename the selected layer",
                                          edit=True)
        self.act_disconnect = self.add_action(e, "Dis&connect", self.edits.disconnect_selection, "Ctrl+Shift+D",
                                        "Remove the connections of the selected layers", edit=True)
        self.act_select_all = self.add_action(e, "Select &All", self.edits.select_all, K.SelectAll)
        self._menus[e].addSeparator()
        self.act_history = self.add_action(e, "&History", self._toggle_history, "Ctrl+H", "Show the undo history")
        self.act_history.setCheckable(True)

        v = "View"
        self.act_fit = self.add_action(v, "&Fit to Window", self.view.fit, "F", "Show the whole network")
        self.act_zoom_in = self.add_action(v, "Zoom &In", lambda: self.view.zoom_by(1.25), K.ZoomIn)
        self.act_zoom_out = self.add_action(v, "Zoom &Out", lambda: self.view.zoom_by(0.8), K.ZoomOut)
        self.act_zoom_reset = self.add_action(v, "&Actual Size", lambda: self.view.set_zoom(1.0), "Ctrl+0")
        self._menus[v].addSeparator()
        self.act_grid = self.add_action(v, "Show &Grid", self._toggle_grid)
        self.act_grid.setCheckable(True)
        self.act_grid.setChecked(True)
        self.act_snap = self.add_action(v, "&Snap to Grid", self._toggle_snap)
        self.act_snap.setCheckable(True)
        self.act_snap.setChecked(True)
        self._menus[v].addSeparator()
        arr = self._menus[v].addMenu("A&rrange")
        self.act_layout = self.add_action(None, "&Auto-layout", lambda: self.edits.arrange("auto"), "Ctrl+L",
                                          "Arrange the layers automatically (undoable)", edit=True)
        arr.addAction(self.act_layout)
        for text, mode in (("&Left to Right", "LR"), ("&Top to Bottom", "TB"), ("Wrapped &Rows", "wrap")):
            a = self.add_action(None, text, partial(self.edits.arrange, mode), edit=True)
            arr.addAction(a)
        self.add_action(v, "&Collapse All Groups", lambda: self.scene.set_all_collapsed(True), None,
                        "Show each block (module path, e.g. layer1.0) as one card")
        self.add_action(v, "&Expand All Groups", lambda: self.scene.set_all_collapsed(False), None,
                        "Show every layer of every block")
        self._menus[v].addSeparator()
        self._menus[v].addMenu(self._panels_menu)
        th = self._menus[v].addMenu("&Theme")
        group = QActionGroup(self)  # exclusive: the check mark shows the one in use
        self.theme_actions: dict[theme.Mode, QAction] = {}
        for mode, text in theme.MODES:
            a = th.addAction(text)
            a.setCheckable(True)
            a.setToolTip("Use the light or dark colours of the system, and switch when it does"
                         if mode == "system" else f"Always use the {text.lower()} colours")
            group.addAction(a)
            a.triggered.connect(partial(self._choose_theme, mode))
            self.theme_actions[mode] = a
        theme.hub().changed.connect(self._sync_theme_menu)  # bound: dropped with the window

        t = "Tools"
        self.act_copy_summary = self.add_action(t, "Copy &Summary Table", self.edits.copy_summary,
                                          tip="Copy the torchinfo-style summary as text")
        self.act_goto_error = self.add_action(t, "Go to Next &Error", self.edits.goto_error, "Ctrl+Shift+E",
                                        "Select the next layer with an error")

        h = "Help"
        self.add_action(h, "&Getting Started", self._help, K.HelpContents)
        self.add_action(h, "&About NetBuilder", self.about)

        tb = QToolBar("Main toolbar", self)
        tb.setObjectName("MainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in (self.files.act_new, self.files.act_open, self.files.act_save):
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.act_undo)
        tb.addAction(self.act_redo)
        for a in (self.act_undo, self.act_redo):  # their text names the command: keep the bar steady
            button = tb.widgetForAction(a)
            if isinstance(button, QToolButton):
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
        self.error_button.clicked.connect(self.edits.goto_error)
        self.params_label = QLabel()
        self.zoom_label = QLabel("100%")
        self.zoom_label.setToolTip("Zoom (wheel, Ctrl+/−, F to fit)")
        sb.addPermanentWidget(self.error_button)
        self.fix_bar = FixBar(self.document)  # the first error's fixes beside its count
        sb.addPermanentWidget(self.fix_bar)
        self.fix_bar.show_first_error()
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
        for a in (self.files.act_new, self.files.act_open):
            a.setEnabled(True)

    # === reactions ===============================================================================
    def _update_title(self, *_: object) -> None:
        """``file.json — Project name — NetBuilder``; the name is left out while it is the default
        "untitled" or the file's own stem (File ▸ Project Name… sets it)."""
        d = self.document
        where = d.path.name if d.path else "Untitled"
        name = d.graph.name.strip()
        named = name and name.lower() != "untitled" and (d.path is None or name != d.path.stem)
        self.setWindowTitle(f"{where}[*] — {name} — NetBuilder" if named else f"{where}[*] — NetBuilder")
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

    def _toggle_history(self) -> None:
        dock = self.history_dock
        if dock.isVisible():
            dock.hide()
        else:
            if dock.isFloating() and (dock.width() < HISTORY_SIZE[0] or dock.height() < HISTORY_SIZE[1]):
                dock.resize(*HISTORY_SIZE)
                dock.move(self.mapToGlobal(QPoint(max(0, self.width() - HISTORY_SIZE[0] - 40), 90)))
            dock.show()
            dock.raise_()
        self.act_history.setChecked(dock.isVisible())

    def _toggle_grid(self) -> None:
        self.scene.show_grid = self.act_grid.isChecked()
        self.scene.update()

    def _toggle_snap(self) -> None:
        self.scene.snap = self.act_snap.isChecked()

    def about(self) -> None:
        QMessageBox.about(
            self, "About NetBuilder",
            f"<h3>NetBuilder {__version__}</h3>"
            "<p>Build PyTorch networks by drag-and-drop, with live shapes, parameter counts and code; "
            "train them, look inside them and export them as plain Python.</p>"
            "<p>Qt for Python (PySide6), PyTorch and pyqtgraph. MIT licence.</p>",
        )

    def _help(self) -> None:
        QMessageBox.information(self, "Getting started", GETTING_STARTED)

    # === settings and closing =====================================================================
    def _choose_theme(self, mode: theme.Mode, _checked: bool = False) -> None:
        theme.choose(mode, settings())
        self._sync_theme_menu()

    def _sync_theme_menu(self, *_: object) -> None:
        self.theme_actions[theme.mode()].setChecked(True)

    def _restore_settings(self) -> None:
        s = settings()
        theme.restore(s)
        self._sync_theme_menu()
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
        if not self._closed and not self.files.confirm_discard():
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
        self.history_view.setStack(None)  # type: ignore[arg-type]  # Qt takes None: detach the stack
        self.document.undo_stack.clear()
        self.scene.close()
        # The views connected to the document die with this window: silence it so a late signal
        # (e.g. from the undo stack's destructor at exit) cannot reach a deleted widget.
        self.document.undo_stack.blockSignals(True)
        self.document.blockSignals(True)
        self.document.graph.events.changed.disconnect(self.document._pending.start)

