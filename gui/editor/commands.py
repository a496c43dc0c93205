"""Undo commands: every user edit is one of these, and each calls a core :class:`Graph` method.

Commands are *executed before they are pushed* (:func:`execute`): the core method runs first, so a
refused edit (``GraphError``) never reaches the undo stack and its message can be shown to the
user. The first ``redo()`` that ``QUndoStack.push`` makes is then skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from netbuilder.core.model.graph import Edge, Graph, GraphError, Node
from netbuilder.core.model.project import ProjectError, from_dict, to_dict
from PySide6.QtGui import QUndoCommand

if TYPE_CHECKING:
    from netbuilder.gui.editor.document import Document

CLIPBOARD_MIME = "application/x-netbuilder-fragment"
_MERGE_PARAMS = 4101


class LockedError(GraphError):
    """The document is locked while training."""


class Command(QUndoCommand):
    """Base: ``apply`` does the edit (may raise GraphError), ``revert`` undoes it."""

    def __init__(self, doc: Document, text: str) -> None:
        super().__init__(text)
        self.doc = doc
        self._skip_redo = False

    @property
    def graph(self) -> Graph:
        return self.doc.graph

    def apply(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def revert(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def redo(self) -> None:
        if self._skip_redo:
            self._skip_redo = False
            return
        self.apply()

    def undo(self) -> None:
        self.revert()


def execute(doc: Document, cmd: Command) -> None:
    """Run ``cmd`` now and push it onto the undo stack. Raises GraphError (nothing pushed) if the
    edit is refused, or :class:`LockedError` while training."""
    if doc.locked:
        raise LockedError("editing is locked while training; stop the run to edit the network")
    cmd.apply()
    cmd._skip_redo = True
    doc.undo_stack.push(cmd)


class AddNode(Command):
    """Add one node, optionally connected from ``connect_from`` (one undo step)."""

    def __init__(self, doc: Document, type_name: str, position: tuple[float, float],
                 params: dict[str, Any] | None = None, node_id: str | None = None,
                 connect_from: str | None = None) -> None:
        super().__init__(doc, f"Add {type_name}")
        self.type_name, self.position, self.params = type_name, position, params
        self.node_id = node_id
        self.connect_from = connect_from
        self.edge: Edge | None = None
        self.connect_error: str | None = None

    def apply(self) -> None:
        node = self.graph.add_node(self.type_name, self.node_id, self.params, self.position)
        self.node_id = node.id
        self.params = dict(node.params)
        self.connect_error = None
        if self.connect_from is not None:
            try:
                self.edge = self.graph.connect(self.connect_from, node.id)
            except GraphError as e:  # keep the node; the caller shows why it is not connected
                self.edge, self.connect_from, self.connect_error = None, None, str(e)
        if self.edge is not None:
            self.setText(f"Add {self.type_name} after '{self.edge.src}'")

    def revert(self) -> None:
        assert self.node_id is not None
        self.graph.remove_node(self.node_id)


class InsertOnEdge(Command):
    """Put a new node into ``edge`` (one undo step): the edge is removed, the node added, its
    source feeds the node's input 0 and the node feeds the edge's old target on the same port.
    Undo removes the node and restores the edge."""

    def __init__(self, doc: Document, edge: Edge, type_name: str, position: tuple[float, float],
                 params: dict[str, Any] | None = None, node_id: str | None = None) -> None:
        super().__init__(doc, f"Insert {type_name} between '{edge.src}' and '{edge.dst}'")
        self.edge, self.type_name, self.position, self.params = edge, type_name, position, params
        self.node_id = node_id

    def apply(self) -> None:
        g, e = self.graph, self.edge
        g.disconnect(e)
        try:
            node = g.add_node(self.type_name, self.node_id, self.params, self.position)
        except GraphError:
            g.connect(e.src, e.dst, e.port, check_cycle=False, src_port=e.src_port)
            raise
        try:
            g.connect(e.src, node.id, 0, src_port=e.src_port)
            g.connect(node.id, e.dst, e.port)
        except GraphError:  # leave the graph as it was: refused edits never reach the undo stack
            g.remove_node(node.id)
            g.connect(e.src, e.dst, e.port, check_cycle=False, src_port=e.src_port)
            raise
        self.node_id, self.params = node.id, dict(node.params)

    def revert(self) -> None:
        assert self.node_id is not None
        e = self.edge
        self.graph.remove_node(self.node_id)
        self.graph.connect(e.src, e.dst, e.port, check_cycle=False, src_port=e.src_port)


class RemoveNodes(Command):
    """Delete several nodes and every edge touching them as one step."""

    def __init__(self, doc: Document, ids: Iterable[str]) -> None:
        ids = list(dict.fromkeys(ids))
        super().__init__(doc, f"Delete {ids[0]}" if len(ids) == 1 else f"Delete {len(ids)} nodes")
        self.ids = ids
        self.removed: list[Node] = []
        self.edges: list[Edge] = []
        self.order: list[str] = []

    def apply(self) -> None:
        self.order = [n.id for n in self.graph.nodes]
        self.removed, self.edges = [], []
        edge_order = self.graph.edges
        for nid in self.ids:
            node, edges = self.graph.remove_node(nid)
            self.removed.append(node)
            self.edges.extend(e for e in edges if e not in self.edges)
        self.edges.sort(key=edge_order.index)

    def revert(self) -> None:
        for node in self.removed:
            self.graph.add_node(node.type, node.id, node.params, node.position)
        for e in self.edges:
            self.graph.connect(e.src, e.dst, e.port, check_cycle=False, src_port=e.src_port)


class Connect(Command):
    """Connect output ``src_port`` of ``src`` (a Chunk's second piece, an LSTM's ``h``) to input
    ``port`` of ``dst`` (the first free one if None)."""

    def __init__(self, doc: Document, src: str, dst: str, port: int | None = None, src_port: int = 0) -> None:
        super().__init__(doc, f"Connect {src} → {dst}")
        self.src, self.dst, self.port, self.src_port = src, dst, port, src_port
        self.edge: Edge | None = None

    def apply(self) -> None:
        self.edge = self.graph.connect(self.src, self.dst, self.port, src_port=self.src_port)
        self.port = self.edge.port

    def revert(self) -> None:
        assert self.edge is not None
        self.graph.disconnect(self.edge)


class Disconnect(Command):
    def __init__(self, doc: Document, edges: Iterable[Edge], text: str | None = None) -> None:
        self.edges = list(dict.fromkeys(edges))
        if text is None:
            e = self.edges[0] if self.edges else None
            one = len(self.edges) == 1 and e is not None
            text = f"Disconnect {e.src} → {e.dst}" if one and e else f"Disconnect {len(self.edges)} edges"
        super().__init__(doc, text)

    def apply(self) -> None:
        if not self.edges:
            raise GraphError("nothing to disconnect")
        for e in self.edges:
            self.graph.disconnect(e)

    def revert(self) -> None:
        for e in self.edges:
            self.graph.connect(e.src, e.dst, e.port, check_cycle=False, src_port=e.src_port)


class MoveNodes(Command):
    """Positions before/after a drag (or a layout) for several nodes."""

    def __init__(self, doc: Document, old: dict[str, tuple[float, float]], new: dict[str, tuple[float, float]],
                 text: str | None = None) -> None:
        super().__init__(doc, text or (f"Move {next(iter(new))}" if len(new) == 1 else f"Move {len(new)} nodes"))
        self.old, self.new = dict(old), dict(new)

    def apply(self) -> None:
        for nid, pos in self.new.items():
            self.graph.move_node(nid, pos)

    def revert(self) -> None:
        for nid, pos in self.old.items():
            self.graph.move_node(nid, pos)


class Rename(Command):
    def __init__(self, doc: Document, old: str, new: str) -> None:
        super().__init__(doc, f"Rename {old} → {new}")
        self.old, self.new = old, new

    def apply(self) -> None:
        if self.new == self.old:
            raise GraphError("the id is unchanged", self.old, "id")
        self.graph.rename_node(self.old, self.new)

    def revert(self) -> None:
        self.graph.rename_node(self.new, self.old)


class SetParams(Command):
    """Change parameters of one node. Consecutive changes of the same field merge (spin boxes),
    unless ``merge`` is False (a one-click fix is its own undo step); ``text`` names the step."""

    def __init__(self, doc: Document, node_id: str, changes: dict[str, Any], *, merge: bool = True,
                 text: str | None = None) -> None:
        names = ", ".join(changes)
        super().__init__(doc, text or f"Set {node_id}.{names}")
        self.node_id, self.changes = node_id, dict(changes)
        self.merge = merge
        self.old: dict[str, Any] | None = None
        self.new: dict[str, Any] | None = None

    def apply(self) -> None:
        if self.new is not None:  # redo after undo: restore exactly what we had
            self.graph.replace_params(self.node_id, self.new)
            return
        self.old = self.graph.set_params(self.node_id, self.changes)
        self.new = dict(self.graph.node(self.node_id).params)

    def revert(self) -> None:
        assert self.old is not None
        self.graph.replace_params(self.node_id, self.old)

    def id(self) -> int:
        return _MERGE_PARAMS if self.merge else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetParams) or other.node_id != self.node_id or set(other.changes) != set(self.changes):
            return False
        self.changes = other.changes
        self.new = other.new
        return True


class AddFragment(Command):
    """Paste/duplicate: nodes (renamed if their ids are taken) and the edges among them."""

    def __init__(self, doc: Document, fragment: Graph, offset: tuple[float, float], text: str = "Paste") -> None:
        super().__init__(doc, text)
        self.fragment, self.offset = fragment, offset
        self.ids: list[str] = []
        self.mapping: dict[str, str] = {}

    def apply(self) -> None:
        g = self.graph
        if not self.mapping:
            for n in self.fragment.nodes:
                new_id = n.id if n.id not in g and n.id not in self.mapping.values() else g.unique_id(n.id)
                while new_id in self.mapping.values():
                    new_id = g.unique_id(new_id + "_")
                self.mapping[n.id] = new_id
        added: list[str] = []
        try:
            for n in self.fragment.nodes:
                pos = (n.position[0] + self.offset[0], n.position[1] + self.offset[1])
                g.add_node(n.type, self.mapping[n.id], n.params, pos)
                added.append(self.mapping[n.id])
            for e in self.fragment.edges:
                g.connect(self.mapping[e.src], self.mapping[e.dst], e.port, check_cycle=False, src_port=e.src_port)
        except GraphError:
            for nid in reversed(added):
                g.remove_node(nid)
            raise
        self.ids = added

    def revert(self) -> None:
        for nid in reversed(self.ids):
            self.graph.remove_node(nid)


# --- clipboard serialisation (JSON, never pickle) -------------------------------------------------

def fragment_of(graph: Graph, ids: Iterable[str]) -> Graph:
    """The sub-graph of ``ids`` with the edges among them."""
    keep = [i for i in dict.fromkeys(ids) if i in graph]
    frag = Graph("fragment")
    for nid in keep:
        n = graph.node(nid)
        frag.add_node(n.type, n.id, n.params, n.position)
    for e in graph.edges:
        if e.src in frag and e.dst in frag:
            frag.connect(e.src, e.dst, e.port, check_cycle=False, src_port=e.src_port)
    return frag


def fragment_to_json(frag: Graph) -> str:
    return json.dumps(to_dict(frag), ensure_ascii=False)


def fragment_from_json(text: str) -> Graph:
    """Parse clipboard JSON (validated like a project file). Raises GraphError for anything else."""
    try:
        data = json.loads(text)
        return from_dict(data).graph
    except (ValueError, ProjectError) as e:
        raise GraphError(f"the clipboard does not hold NetBuilder nodes ({e})") from None


# ---------------------------------------------------------------------- training panel commands
class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


#: The "old value" of a training setting the project did not have (undo removes it again).
MISSING: Any = _Missing()


class SetTrainingSettings(QUndoCommand):
    """Change training settings in ``document.training`` (undoable; marks the project modified).
    Consecutive changes of the same setting merge, so a spin box makes one undo step.

    Not a :class:`Command`: it never touches the graph, so the training lock does not refuse it.
    ``on_applied`` runs after every redo and undo (the panel shows the settings again)."""

    MERGE_ID = 5101

    def __init__(self, document: Document, changes: dict[str, tuple[Any, Any]],
                 on_applied: Callable[[], None]) -> None:
        names = ", ".join(k.replace("_", " ") for k in changes)
        super().__init__(f"Training setting: {names}")
        self.document = document
        self.on_applied = on_applied
        self.changes = dict(changes)  # name → (old, new); MISSING when the project lacked it

    def _apply(self, which: int) -> None:
        training = self.document.training
        for k, pair in self.changes.items():
            v = pair[which]
            if v is MISSING:
                training.pop(k, None)
            else:
                training[k] = v
        self.on_applied()

    def redo(self) -> None:
        self._apply(1)

    def undo(self) -> None:
        self._apply(0)

    def id(self) -> int:
        return self.MERGE_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetTrainingSettings) or other.changes.keys() != self.changes.keys():
            return False
        self.changes = {k: (self.changes[k][0], other.changes[k][1]) for k in self.changes}
        return True


class ReplaceGraph(QUndoCommand):
    """Replace the canvas network with another (a checkpoint's), as one undo step."""

    def __init__(self, document: Document, new: Graph, text: str) -> None:
        super().__init__(text)
        self.document = document
        self.old = document.graph.copy()
        self.new = new.copy()

    def redo(self) -> None:
        self.document.graph.load_from(self.new.copy())

    def undo(self) -> None:
        self.document.graph.load_from(self.old.copy())
