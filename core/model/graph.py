"""The graph model: nodes, edges and the events that every mutation emits.

The graph is the only model. Views (the canvas, the summary, the code dock) observe it through
:class:`GraphEvents` and never change it except through these methods, which the GUI wraps in undo
commands.
"""

from __future__ import annotations

import gc
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from netbuilder.core.errors import UserError
from netbuilder.core.events import Signal
from netbuilder.core.model.layers import AUTO, LayerSpec, ParamError, get_spec

MAX_ID = 64


def kahn_order(ids: Iterable[str], indegree: Mapping[str, int], children: Mapping[str, Iterable[str]]) -> list[str]:
    """Kahn's topological order of ``ids``, stable in their order: a node once all its parents are
    out. Nodes on (or after) a cycle are left out; callers report or append them."""
    indeg = dict(indegree)
    queue = deque(i for i in ids if indeg[i] == 0)
    order: list[str] = []
    while queue:
        cur = queue.popleft()
        order.append(cur)
        for m in children[cur]:
            indeg[m] -= 1
            if indeg[m] == 0:
                queue.append(m)
    return order


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold the cyclic garbage collector during a whole-graph pass. Such a pass allocates objects
    by the hundred thousand and frees none, so each collection it triggers walks them all for
    nothing: on 50,000 nodes that is a third to half of loading and inference."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class GraphError(UserError, ValueError):
    """An edit was refused. ``node`` names the node concerned, when there is one."""


@dataclass
class Node:
    """A layer instance: a unique ``id``, a registered ``type``, the ``params`` the user set (others
    take torch's defaults) and a canvas ``position``."""

    id: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    position: tuple[float, float] = (0.0, 0.0)

    @property
    def spec(self) -> LayerSpec:
        """The node's :class:`netbuilder.core.model.layers.LayerSpec`."""
        return get_spec(self.type)


@dataclass(frozen=True)
class Edge:
    """Output port ``src_port`` of ``src`` feeding input slot ``port`` of ``dst``."""

    src: str
    dst: str
    port: int = 0
    src_port: int = 0


class GraphEvents:
    """Signals the graph emits after each mutation."""

    def __init__(self) -> None:
        self.node_added = Signal("node_added")  # (node)
        self.node_removed = Signal("node_removed")  # (node)
        self.edge_added = Signal("edge_added")  # (edge)
        self.edge_removed = Signal("edge_removed")  # (edge)
        self.params_changed = Signal("params_changed")  # (node_id)
        self.node_renamed = Signal("node_renamed")  # (old_id, new_id)
        self.node_moved = Signal("node_moved")  # (node_id, position)
        self.reset = Signal("reset")  # () whole graph replaced
        self.changed = Signal("changed")  # () after any structural or parameter change


def suggest_id(node_id: str) -> str:
    """A legal id close to ``node_id`` (proposed when one is refused)."""
    text = "".join(c if c.isprintable() else "_" for c in node_id)
    return text.strip()[:MAX_ID].strip() or "node"


def check_id(node_id: object) -> None:
    """Raise :class:`GraphError` unless ``node_id`` is a legal id.

    An id is any text of 1 to 64 printable characters without leading or trailing spaces, so ids
    such as ``in``, ``class``, ``input-1`` or ``conv 1`` are fine: code generation derives a legal
    Python name from each (``in_``, ``input_1``). The message names the rule that failed and
    proposes a legal id."""
    if not isinstance(node_id, str):
        raise GraphError(f"id {node_id!r} is not allowed: an id must be text", field="id")
    rule = None
    if not node_id.strip():
        rule = "an id must not be empty or only spaces"
    elif len(node_id) > MAX_ID:
        rule = f"an id has at most {MAX_ID} characters, this one has {len(node_id)}"
    elif not node_id.isprintable():
        rule = "an id must not contain control characters (tabs, new lines)"
    elif node_id != node_id.strip():
        rule = "an id must not start or end with a space"
    if rule is not None:
        raise GraphError(f"id {node_id!r} is not allowed: {rule}; use {suggest_id(node_id)!r}",
                         node=node_id, field="id")


def validate_params(node_id: str, type_name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Check every given parameter against the layer spec and return them normalised."""
    spec = get_spec(type_name)
    known = {p.name for p in spec.params}
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name not in known:
            hint = f"; {type_name} takes {', '.join(sorted(known))}" if known else f"; {type_name} takes none"
            raise GraphError(f"{type_name} '{node_id}' has unknown parameter {name!r}{hint}", node_id, name)
        try:
            out[name] = spec.param(name).validate(value)
        except ParamError as e:
            raise GraphError(f"{type_name} '{node_id}': {e}", node_id, name) from None
    for p in spec.params:
        if p.required and p.name not in out:
            raise GraphError(f"{type_name} '{node_id}' is missing required parameter {p.name!r}", node_id, p.name)
    return out


class Graph:
    """A directed graph of layers. All mutations go through methods that validate and emit events."""

    def __init__(self, name: str = "untitled") -> None:
        self.name = name
        self._nodes: dict[str, Node] = {}
        # Edges in insertion order, each with its sequence number (a dict: O(1) removal, and a
        # node's edges sort back into that order), and per-node indices so that edits cost a node's
        # degree, not the graph's size: inputs by port, outputs in order.
        self._edges: dict[Edge, int] = {}
        self._seq = 0
        self._in: dict[str, dict[int, Edge]] = {}
        self._out: dict[str, dict[Edge, None]] = {}
        self.events = GraphEvents()

    def _index(self, nodes: dict[str, Node], edges: Iterable[Edge]) -> None:
        """Replace the content with ``nodes`` and ``edges`` and rebuild the indices."""
        self._nodes = nodes
        self._edges = {e: i for i, e in enumerate(edges)}
        self._seq = len(self._edges)
        self._in = {i: {} for i in nodes}
        self._out = {i: {} for i in nodes}
        for e in self._edges:
            self._in[e.dst][e.port] = e
            self._out[e.src][e] = None

    # --- queries --------------------------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        """Nodes in insertion order."""
        return list(self._nodes.values())

    @property
    def edges(self) -> list[Edge]:
        """Edges in insertion order."""
        return list(self._edges)

    def node(self, node_id: str) -> Node:
        """The node with id ``node_id``; GraphError if absent."""
        try:
            return self._nodes[node_id]
        except KeyError:
            raise GraphError(f"there is no node {node_id!r}", node_id) from None

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __iter__(self) -> Iterator[Node]:
        return iter(list(self._nodes.values()))

    def __len__(self) -> int:
        return len(self._nodes)

    def in_edges(self, node_id: str) -> list[Edge]:
        """Edges into ``node_id`` sorted by port."""
        return [e for _, e in sorted(self._in[node_id].items())] if node_id in self._in else []

    def out_edges(self, node_id: str) -> list[Edge]:
        """Edges out of ``node_id``."""
        return list(self._out.get(node_id, ()))

    def unique_id(self, base: str) -> str:
        """``base`` made legal and unused: ``conv`` → ``conv1``, ``conv2``, …"""
        stem = re.sub(r"\W", "_", base).strip("_").lower() or "node"
        if not stem[0].isalpha():
            stem = "n_" + stem
        stem = re.sub(r"\d+$", "", stem) or stem
        stem = stem[:60]
        i = 1
        while f"{stem}{i}" in self._nodes:
            i += 1
        return f"{stem}{i}"

    def would_create_cycle(self, src: str, dst: str) -> bool:
        """True if an edge src→dst closes a cycle (dst already reaches src)."""
        if src == dst:
            return True
        stack, seen = [dst], set()
        while stack:
            n = stack.pop()
            if n == src:
                return True
            if n in seen:
                continue
            seen.add(n)
            stack.extend(e.dst for e in self._out[n])
        return False

    def free_port(self, node_id: str) -> int | None:
        """The lowest unused input port of ``node_id``, or None when its inputs are full."""
        spec = self.node(node_id).spec
        used = self._in[node_id]
        port = 0
        while port in used:
            port += 1
        if spec.max_inputs is not None and port >= spec.max_inputs:
            return None
        return port

    # --- mutations ------------------------------------------------------------------------------
    def add_node(
        self, type_name: str, node_id: str | None = None, params: Mapping[str, Any] | None = None,
        position: tuple[float, float] = (0.0, 0.0),
    ) -> Node:
        """Add a node of ``type_name``. Missing ``params`` start at the spec's defaults."""
        spec = get_spec(type_name)
        node_id = self.unique_id(type_name) if node_id is None else node_id
        check_id(node_id)
        if node_id in self._nodes:
            raise GraphError(f"a node called {node_id!r} already exists; choose another id", node_id, "id")
        given = spec.defaults() if params is None else dict(params)
        pos = (float(position[0]), float(position[1]))
        node = Node(node_id, type_name, validate_params(node_id, type_name, given), pos)
        self._nodes[node_id] = node
        self._in[node_id], self._out[node_id] = {}, {}
        self.events.node_added.emit(node)
        self.events.changed.emit()
        return node

    def insert_node(self, node: Node, edges: Iterable[Edge] = ()) -> None:
        """Re-insert a node (and edges) removed earlier, as undo does."""
        self.add_node(node.type, node.id, node.params, node.position)
        for e in edges:
            self.connect(e.src, e.dst, e.port, check_cycle=False, src_port=e.src_port)

    def remove_node(self, node_id: str) -> tuple[Node, list[Edge]]:
        """Remove a node and its edges; returns both so that undo can restore them."""
        node = self.node(node_id)
        touching = {**dict.fromkeys(self._in[node_id].values()), **self._out[node_id]}
        removed = sorted(touching, key=self._edges.__getitem__)
        for e in removed:
            self._unlink(e)
            self.events.edge_removed.emit(e)
        del self._nodes[node_id], self._in[node_id], self._out[node_id]
        self.events.node_removed.emit(node)
        self.events.changed.emit()
        return node, removed

    def connect(
        self, src: str, dst: str, port: int | None = None, check_cycle: bool = True, src_port: int = 0,
    ) -> Edge:
        """Connect output ``src_port`` of ``src`` to input ``port`` of ``dst`` (the first free one if
        None).

        Refuses unknown nodes, an output port the source does not have, an Input as target, a full
        or taken port and, with ``check_cycle``, an edge that would close a cycle."""
        s, d = self.node(src), self.node(dst)
        spec = d.spec
        if src_port:
            # a count known only after inference (Split) is checked there
            names = s.spec.output_names(s.spec.full_params(s.params))
            if src_port < 0 or (names and src_port >= len(names)):
                raise GraphError(f"{s.type} '{src}' has no output port {src_port}", src, "src_port")
        if spec.max_inputs == 0:
            raise GraphError(f"{d.type} '{dst}' takes no inputs; connect it to the next layer instead", dst)
        if check_cycle and self.would_create_cycle(src, dst):
            raise GraphError(
                f"connecting '{s.id}' → '{dst}' would create a cycle; networks must flow one way", dst
            )
        if port is None:
            port = self.free_port(dst)
            if port is None:
                raise GraphError(
                    f"{d.type} '{dst}' already has its {spec.max_inputs} input(s); disconnect one first", dst
                )
        if port < 0 or (spec.max_inputs is not None and port >= spec.max_inputs):
            raise GraphError(f"{d.type} '{dst}' has no input port {port}", dst, "port")
        if port in self._in[dst]:
            raise GraphError(f"input {port} of {d.type} '{dst}' is already connected; disconnect it first", dst)
        edge = Edge(src, dst, port, src_port)
        self._edges[edge] = self._seq
        self._seq += 1
        self._in[dst][port] = edge
        self._out[src][edge] = None
        self.events.edge_added.emit(edge)
        self.events.changed.emit()
        return edge

    def disconnect(self, edge: Edge) -> None:
        """Remove ``edge``; GraphError if it is not in the graph."""
        if edge not in self._edges:
            raise GraphError(f"there is no edge {edge.src} → {edge.dst} (port {edge.port})", edge.dst)
        self._unlink(edge)
        self.events.edge_removed.emit(edge)
        self.events.changed.emit()

    def _unlink(self, edge: Edge) -> None:
        del self._edges[edge], self._in[edge.dst][edge.port], self._out[edge.src][edge]

    def set_params(self, node_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Set several parameters at once (validated; ``None`` removes one so it takes torch's default
        unless it is required). Returns the previous parameter dict for undo."""
        node = self.node(node_id)
        old = dict(node.params)
        new = dict(node.params)
        for k, v in params.items():
            spec_p = node.spec.param(k) if k in {p.name for p in node.spec.params} else None
            if v is None and spec_p is not None and spec_p.kind not in ("optional_pair", "optional_int"):
                if spec_p.inferred:
                    new[k] = AUTO
                else:
                    new.pop(k, None)
            else:
                new[k] = v
        node.params = validate_params(node_id, node.type, new)
        self.events.params_changed.emit(node_id)
        self.events.changed.emit()
        return old

    def replace_params(self, node_id: str, params: Mapping[str, Any]) -> None:
        """Replace the whole parameter dict (used by undo)."""
        node = self.node(node_id)
        node.params = validate_params(node_id, node.type, params)
        self.events.params_changed.emit(node_id)
        self.events.changed.emit()

    def rename_node(self, old: str, new: str) -> None:
        """Give node ``old`` the id ``new`` (legal and unused); edges follow."""
        node = self.node(old)
        if new == old:
            return
        check_id(new)
        if new in self._nodes:
            raise GraphError(f"a node called {new!r} already exists; choose another id", old, "id")
        node.id = new
        # a rename rebuilds the ordered containers once: O(nodes + edges), like the canvas's redraw
        self._index({(new if k == old else k): v for k, v in self._nodes.items()},
                    [Edge(new if e.src == old else e.src, new if e.dst == old else e.dst, e.port, e.src_port)
                     for e in self._edges])
        self.events.node_renamed.emit(old, new)
        self.events.changed.emit()

    def move_node(self, node_id: str, position: tuple[float, float]) -> None:
        """Move a node on the canvas (no re-inference needed, so ``changed`` is not emitted)."""
        node = self.node(node_id)
        node.position = (float(position[0]), float(position[1]))
        self.events.node_moved.emit(node_id, node.position)

    def clear(self) -> None:
        """Remove everything."""
        self._index({}, ())
        self.events.reset.emit()
        self.events.changed.emit()

    def load_from(self, other: Graph) -> None:
        """Replace this graph's content with ``other``'s, keeping this object (and its observers)."""
        self.name = other.name
        self._index({n.id: Node(n.id, n.type, dict(n.params), n.position) for n in other.nodes}, other.edges)
        self.events.reset.emit()
        self.events.changed.emit()

    def copy(self) -> Graph:
        """A deep copy without observers."""
        g = Graph(self.name)
        g._index({n.id: Node(n.id, n.type, dict(n.params), n.position) for n in self.nodes}, self._edges)
        return g
