"""The Edit menu's commands on the canvas: add after the selection, delete, disconnect, rename,
copy/cut/paste/duplicate through the clipboard, select all and auto-layout; and the Tools menu's
Go to Next Error and Copy Summary Table.

Every change goes through :func:`netbuilder.gui.editor.commands.execute` as one undo step; a refused
edit (an invalid graph, the training lock) is reported in the status bar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netbuilder.core.model.graph import Edge, Graph, GraphError
from netbuilder.core.model.layers import get_spec
from netbuilder.core.model.summary import summary_table
from netbuilder.gui.editor import commands
from netbuilder.gui.editor.canvas import arrange
from netbuilder.gui.editor.canvas.node_item import WIDTH
from netbuilder.gui.editor.name_dialog import NameDialog
from PySide6.QtCore import QByteArray, QMimeData, QPoint, QPointF
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMenu

if TYPE_CHECKING:
    from netbuilder.gui.editor.main_window import MainWindow


class EditActions:
    """The editing commands of one main window."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.document = window.document
        self.paste_count = 0  # successive pastes of one copy are offset further each time

    def run(self, cmd: commands.Command) -> bool:
        try:
            commands.execute(self.document, cmd)
        except GraphError as e:
            self.window.status(str(e), True)
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
            c = self.window.view.center_of_view()
            p = self.window.scene.snap_point(QPointF(c.x() - WIDTH / 2, c.y() - 36))
            pos = (p.x(), p.y())
        connect = anchor if anchor is not None and get_spec(type_name).max_inputs != 0 else None
        cmd = commands.AddNode(d, type_name, pos, connect_from=connect)
        if not self.run(cmd):
            return None
        assert cmd.node_id is not None
        d.select_nodes([cmd.node_id])
        if cmd.connect_error:
            self.window.status(f"Added '{cmd.node_id}' but did not connect it: {cmd.connect_error}", True)
        elif cmd.edge is not None:
            self.window.status(f"Added {type_name} '{cmd.node_id}' after '{cmd.edge.src}'")
        else:
            self.window.status(f"Added {type_name} '{cmd.node_id}'")
        item = self.window.scene.node_item(cmd.node_id)
        if item is not None:
            self.window.view.ensureVisible(item, 60, 60)
        return cmd.node_id

    def delete_selection(self) -> None:
        ids = self.window.scene.selected_node_ids()
        edges = [e for e in self.window.scene.selected_edges() if e.src not in ids and e.dst not in ids]
        if not ids and not edges:
            return
        stack = self.document.undo_stack
        stack.beginMacro("Delete") if ids and edges else None
        try:
            if edges:
                self.run(commands.Disconnect(self.document, edges))
            if ids:
                self.run(commands.RemoveNodes(self.document, ids))
        finally:
            if ids and edges:
                stack.endMacro()

    def disconnect_selection(self, edge: Edge | None = None) -> None:
        g = self.document.graph
        if edge is not None:
            edges = [edge]
        else:
            ids = set(self.document.selected_ids())
            edges = [e for e in g.edges if e.src in ids or e.dst in ids] + self.window.scene.selected_edges()
        if not edges:
            self.window.status("Nothing to disconnect", True)
            return
        self.run(commands.Disconnect(self.document, edges))

    def rename_selected(self) -> None:
        ids = self.document.selected_ids()
        if len(ids) != 1:
            self.window.status("Select one layer to rename", True)
            return
        old = ids[0]
        # a refused id keeps the dialog open with the reason, until a valid id or Cancel
        NameDialog(self.window, "Rename layer", f"New id for '{old}':", old,
                   lambda new: self._rename(old, new)).exec()

    def _rename(self, old: str, new: str) -> str | None:
        """Rename ``old`` to ``new`` (one undo step); why it was refused, or None."""
        if new == old:
            return None
        try:
            commands.execute(self.document, commands.Rename(self.document, old, new))
        except GraphError as e:
            return str(e)
        self.window.status(f"Renamed {old} → {new}")
        return None

    def context_menu(self, ids: list[str], screen_pos: QPoint, edge: Edge | None) -> None:
        """The canvas's context menu: for the selected layers (with the panels' extra entries), a
        connection, or the empty canvas."""
        w = self.window
        m = QMenu(w)
        if ids:
            m.addActions([w.act_rename, w.act_duplicate, w.act_disconnect])
            m.addSeparator()
            m.addActions([w.act_copy, w.act_cut, w.act_delete])
            extra = QMenu(m)
            for provider in w.node_menu_providers:
                provider(extra, list(ids))
            if extra.actions():
                m.addSeparator()
                for a in extra.actions():
                    m.addAction(a)
        elif edge is not None:
            act = m.addAction(f"Disconnect {edge.src} → {edge.dst}")
            act.setEnabled(not self.document.locked)
            act.triggered.connect(lambda _=False: self.disconnect_selection(edge))
        else:
            m.addAction(w.act_paste)
            m.addSeparator()
            m.addAction(w.act_layout)
            m.addAction(w.act_fit)
        m.popup(screen_pos)
        self._menu = m  # kept alive while it shows

    def copy(self) -> bool:
        ids = self.document.selected_ids()
        if not ids:
            self.window.status("Select layers to copy", True)
            return False
        frag = commands.fragment_of(self.document.graph, ids)
        text = commands.fragment_to_json(frag)
        mime = QMimeData()
        mime.setData(commands.CLIPBOARD_MIME, QByteArray(text.encode("utf-8")))
        mime.setText(text)
        QApplication.clipboard().setMimeData(mime)
        self.paste_count = 0
        self.window.status(f"Copied {len(frag)} layer{'s' if len(frag) != 1 else ''}")
        return True

    def cut(self) -> None:
        if self.copy():
            ids = self.document.selected_ids()
            self.run(commands.RemoveNodes(self.document, ids))
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
            self.window.status(str(e), True)
            return
        self.paste_count += 1
        off = 40.0 * self.paste_count
        self._add_fragment(frag, (off, off), "Paste")

    def duplicate(self) -> None:
        ids = self.document.selected_ids()
        if not ids:
            self.window.status("Select layers to duplicate", True)
            return
        frag = commands.fragment_of(self.document.graph, ids)
        self._add_fragment(frag, (40.0, 40.0), "Duplicate")

    def _add_fragment(self, frag: Graph, offset: tuple[float, float], verb: str) -> None:
        n = len(frag)
        cmd = commands.AddFragment(self.document, frag, offset, f"{verb} {n} layer{'s' if n != 1 else ''}")
        if self.run(cmd):
            self.document.select_nodes(cmd.ids)
            self.window.status(f"{verb}d {n} layer{'s' if n != 1 else ''}" if verb.endswith("e") else f"{verb} done")

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
            self.window.view.fit()
            return
        names = {"auto": "Auto-layout", "LR": "Layout left to right", "TB": "Layout top to bottom",
                 "wrap": "Layout in rows"}
        if self.run(commands.MoveNodes(self.document, {k: old[k] for k in changed}, changed, names[mode])):
            self.window.view.fit()

    def goto_error(self) -> None:
        """Tools ▸ Go to Next Error: select the next layer with an error and show it."""
        errs = [e for e in self.document.result.errors if e.node]
        if not errs:
            if self.document.result.errors:
                self.window.status(self.document.result.errors[0].message, True)
            return
        cur = self.document.selected_ids()
        ids = [e.node for e in errs]
        nxt = ids[(ids.index(cur[0]) + 1) % len(ids)] if len(cur) == 1 and cur[0] in ids else ids[0]
        assert nxt is not None
        self.document.select_nodes([nxt])
        item = self.window.scene.node_item(nxt)
        if item is not None:
            self.window.view.ensureVisible(item, 80, 80)
        self.window.status(self.document.result.errors_for(nxt)[0], True)

    def copy_summary(self) -> None:
        """Tools ▸ Copy Summary Table: the torchinfo-style summary as text, to the clipboard."""
        if not self.document.result.ok:
            self.window.status("Fix the errors first: " + self.document.result.errors[0].message
                        if self.document.result.errors else "The network is empty", True)
            return
        QGuiApplication.clipboard().setText(summary_table(self.document.graph, self.document.result))
        self.window.status("Summary copied to the clipboard")
