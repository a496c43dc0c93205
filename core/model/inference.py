"""Shape inference over the whole graph.

One topological pass gives each node its resolved parameters (``auto`` sizes filled in), output
shape, parameter count and multiply-adds, or an error naming the node and the fix. Graph-level
problems (no Input, several, a cycle, several outputs, unconnected nodes, missing inputs) are
reported the same way, as :class:`NodeError`. A stray node with no connection at all is only a
warning: the network is built without it (``unused``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from netbuilder.core.model.graph import Edge, Graph, kahn_order, paused_gc
from netbuilder.core.model.layers import AUTO
from netbuilder.core.model.shapes import Shape, ShapeError, fmt_shape


@dataclass(frozen=True)
class NodeError:
    """A user-facing problem. ``node`` is None for problems of the whole graph."""

    node: str | None
    message: str


@dataclass
class NodeInfo:
    """What inference found for one node. ``output_shape`` is None when the node or something
    upstream has an error (then ``error`` is set for the node at fault only). ``output_shapes``
    holds one shape per output port (``output_shape`` is port 0's), named by ``output_names``.
    ``dtype`` is what the output holds: ``"float"`` values or ``"long"`` token ids (from a long
    Input up to an Embedding); ``vocab_size`` is then the Input's, the ids' upper bound."""

    id: str
    type: str
    input_shapes: list[Shape] = field(default_factory=list)
    output_shape: Shape | None = None
    output_shapes: list[Shape] = field(default_factory=list)
    output_names: tuple[str, ...] = ("output",)
    params: int = 0
    macs: int = 0
    resolved: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    explicit_inferable: list[str] = field(default_factory=list)
    note: str | None = None
    dtype: str = "float"
    vocab_size: int | None = None
    warning: str | None = None


@dataclass
class InferenceResult:
    """Per-node results plus every error found. ``order`` holds the network's nodes in topological
    order; stray nodes cut off from it are left out of ``order`` and named in ``warnings``."""

    nodes: dict[str, NodeInfo]
    order: list[str]
    errors: list[NodeError]
    input_id: str | None = None
    output_id: str | None = None
    warnings: list[NodeError] = field(default_factory=list)

    @property
    def unused(self) -> set[str]:
        """Ids of the stray nodes that training and export ignore."""
        return {w.node for w in self.warnings if w.node is not None}

    @property
    def ok(self) -> bool:
        """True when the graph is valid end to end and can be compiled."""
        return not self.errors and self.output_id is not None

    @property
    def total_params(self) -> int:
        return sum(i.params for i in self.nodes.values())

    @property
    def total_macs(self) -> int:
        return sum(i.macs for i in self.nodes.values())

    def edge_shape(self, edge: Edge) -> Shape | None:
        """The tensor shape carried by ``edge`` (its source's output port), or None."""
        info = self.nodes.get(edge.src)
        if info is None or edge.src_port >= len(info.output_shapes):
            return None
        return info.output_shapes[edge.src_port]

    @property
    def input_vocab(self) -> int | None:
        """The vocabulary size when the Input holds integer token ids (dtype long), else None."""
        info = self.nodes.get(self.input_id) if self.input_id is not None else None
        return info.vocab_size if info is not None and info.dtype == "long" else None

    def errors_for(self, node_id: str) -> list[str]:
        """Messages concerning ``node_id``."""
        return [e.message for e in self.errors if e.node == node_id]

    def error_text(self) -> str:
        """All errors, one per line."""
        return "\n".join(e.message for e in self.errors)


def _label(graph: Graph, node_id: str) -> str:
    return f"{graph.node(node_id).type} '{node_id}'"


def infer(graph: Graph) -> InferenceResult:
    """Run inference on ``graph``. Never raises for a user mistake: problems are in ``errors``."""
    with paused_gc():
        return _infer(graph)


def _infer(graph: Graph) -> InferenceResult:
    nodes = graph.nodes
    ids = [n.id for n in nodes]
    ins: dict[str, list[Edge]] = {i: [] for i in ids}
    outs: dict[str, list[str]] = {i: [] for i in ids}
    for e in graph.edges:
        ins[e.dst].append(e)
        outs[e.src].append(e.dst)
    for lst in ins.values():
        lst.sort(key=lambda e: e.port)

    errors: list[NodeError] = []
    infos = {n.id: NodeInfo(n.id, n.type) for n in nodes}

    def fail(node_id: str | None, message: str) -> None:
        errors.append(NodeError(node_id, message))
        if node_id is not None and infos[node_id].error is None:
            infos[node_id].error = message

    # Exactly one Input.
    inputs = [n.id for n in nodes if n.spec.is_input]
    if not inputs:
        errors.append(NodeError(None, "the network has no Input node; add one from the palette's Input group"))
    elif len(inputs) > 1:
        for extra in inputs[1:]:
            fail(extra, f"Input '{extra}' is a second Input; a network has exactly one — delete it "
                 f"or connect its layers to '{inputs[0]}'")

    # Topological order (Kahn, stable in insertion order); leftover nodes lie on or after a cycle.
    order = kahn_order(ids, {i: len(ins[i]) for i in ids}, outs)
    on_cycle: set[str] = set()
    if len(order) < len(ids):
        ordered = set(order)
        stuck = [i for i in ids if i not in ordered]
        for cyc in _cycles(stuck, outs):
            # the loop is entered where a node outside it feeds it: the edge back into that node
            # is the one to remove
            entry = next((k for k, c in enumerate(cyc) if any(e.src in ordered for e in ins[c])), 0)
            cyc = cyc[entry:] + cyc[:entry]
            path = " → ".join([*cyc, cyc[0]])
            back = f"'{cyc[-1]}' → '{cyc[0]}'"
            for c in cyc:
                fail(c, f"{_label(graph, c)} is part of a cycle ({path}); networks must flow one way — "
                     f"remove the connection {back}")
            on_cycle.update(cyc)
        order += stuck

    # Stray nodes: a layer dropped and never connected cannot change the output, so it must not
    # block training. Only nodes with no edge at all: a connected piece cut off from the Input is
    # part of the network being built (a removed Flatten), and training the stub before the cut
    # would be a silent surprise.
    stray = {i for i in ids if not ins[i] and not outs[i] and i not in inputs} \
        if inputs and outs[inputs[0]] else set()
    warnings = [NodeError(i, f"{_label(graph, i)} is not connected to the output: ignored by training and export")
                for i in ids if i in stray]
    for w in warnings:
        assert w.node is not None
        infos[w.node].warning = w.message

    # Inputs present on the right ports.
    for n in nodes:
        spec = n.spec
        ports = [e.port for e in ins[n.id]]  # sorted by port
        if spec.is_input or n.id in stray:
            continue
        if not ports:
            fail(n.id, f"{_label(graph, n.id)} has no input; connect a layer to it or delete it")
            continue
        if len(ports) < spec.min_inputs:
            fail(n.id, f"{_label(graph, n.id)} needs at least {spec.min_inputs} inputs but has {len(ports)}; "
                 "connect another branch to it")
        elif ports != list(range(len(ports))):
            missing = min(set(range(max(ports) + 1)) - set(ports))
            fail(n.id, f"{_label(graph, n.id)} has input {missing} unconnected; connect it or reconnect "
                 "the inputs in order")

    # One output, everything connected to it.
    sinks = [i for i in ids if not outs[i]]
    output_id: str | None = None
    if inputs and len(nodes) > 0:
        reach = _reachable(inputs[0], outs)
        live = [s for s in sinks if s in reach]
        if len(live) == 1:
            output_id = live[0]
        elif len(live) > 1:
            names = ", ".join(f"'{s}'" for s in live)
            for s in live[1:]:
                fail(s, f"{_label(graph, s)} is a second output (outputs: {names}); a network ends in one "
                     "output — connect it onward (e.g. into an Add or Concat) or delete it")
            output_id = live[0]
        for s in sinks:
            if s not in reach and s not in inputs and s not in stray and not infos[s].error:
                fail(s, f"{_label(graph, s)} is not connected to the output; connect it or delete it")

    # Shapes, in order.
    notes: dict[str, str | None] = {}
    order = [i for i in order if i not in stray]
    for nid in order:
        info = infos[nid]
        node = graph.node(nid)
        nspec = node.spec
        if nid in on_cycle:
            continue
        in_shapes: list[Shape] = []
        blocked = False
        for e in ins[nid]:
            src_info = infos[e.src]
            if src_info.output_shape is None:
                blocked = True
                break
            if e.src_port >= len(src_info.output_shapes):
                fail(nid, f"{_label(graph, nid)} is connected to output {e.src_port} of {_label(graph, e.src)}, "
                     f"which has {len(src_info.output_shapes)} output(s); reconnect it to one of them")
                blocked = True
                break
            in_shapes.append(src_info.output_shapes[e.src_port])
        if blocked or (info.error and not nspec.is_input):
            continue
        info.input_shapes = in_shapes
        srcs = [(infos[e.src], e.src_port) for e in ins[nid]]
        problem = _batch_second_problem(graph, srcs) or _dtype_problem(graph, nid, srcs)
        if problem:
            fail(nid, problem)
            continue
        full = nspec.full_params(node.params)
        info.explicit_inferable = [p.name for p in nspec.params
                                   if p.inferred and full[p.name] != AUTO and p.name in node.params]
        resolved = nspec.resolve_inferred(full, in_shapes[0] if in_shapes else None)
        info.resolved = resolved
        try:
            out = nspec.shape_fn(resolved, in_shapes, [notes.get(e.src) for e in ins[nid]])
            shapes = [tuple(int(d) for d in o) for o in out] if isinstance(out, list) else [tuple(int(d) for d in out)]
            info.output_names = nspec.output_names(resolved, len(shapes))
            if len(shapes) != len(info.output_names):
                raise AssertionError(f"the shape rule gave {len(shapes)} shapes for {len(info.output_names)} outputs")
            _set_dtype(info, nspec.is_input, nspec.input_dtype, resolved, srcs)
        except ShapeError as ex:
            fail(nid, f"{_label(graph, nid)} {ex}")
            continue
        except Exception as ex:  # a bug in a shape rule must not take the editor down
            fail(nid, f"{_label(graph, nid)} could not be checked ({type(ex).__name__}: {ex})")
            continue
        if nid == output_id and len(shapes) > 1:
            fail(nid, f"{_label(graph, nid)} ends the network but has {len(shapes)} outputs "
                 f"({', '.join(info.output_names)}); a network ends in one tensor — connect the outputs onward")
            continue
        info.output_shapes = shapes
        info.output_shape = shapes[0]
        info.params = nspec.param_count(resolved, in_shapes, info.output_shape)
        info.macs = nspec.macs(resolved, in_shapes, info.output_shape)
        x = in_shapes[0] if in_shapes else ()
        # a flat output holding every input value (Flatten, a Reshape to [-1]) is noted as their layout;
        # a Select or Mean that drops a dim keeps fewer values and is not
        if nspec.flattens or (len(in_shapes) == 1 and len(x) > len(info.output_shape)
                              and math.prod(x) == math.prod(info.output_shape)):
            info.note = f"{math.prod(x)} = {'×'.join(map(str, x))}" if len(info.output_shape) == 1 else None
        notes[nid] = info.note

    return InferenceResult(infos, order, errors, inputs[0] if inputs else None, output_id, warnings)


def _batch_second_problem(graph: Graph, srcs: list[tuple[NodeInfo, int]]) -> str | None:
    """Why an input comes from a port whose tensor holds the batch in dim 1 (an LSTM's h), or None."""
    for src, port in srcs:
        name = src.output_names[port] if port < len(src.output_names) else ""
        if name in graph.node(src.id).spec.batch_second:
            return (f"takes output {name!r} of {_label(graph, src.id)}, which holds the batch in dim 1 "
                    f"((layers × directions)×N×H, as torch returns it) while NetBuilder's layers take it in dim 0; "
                    f"connect its 'output' port instead (Select dim 1, index -1 takes the last step)")
    return None


def _dtype_problem(graph: Graph, nid: str, srcs: list[tuple[NodeInfo, int]]) -> str | None:
    """Why the node cannot take its inputs' dtype (token ids where values are needed, or the
    reverse), or None."""
    spec = graph.node(nid).spec
    label = _label(graph, nid)
    dtypes = {src.dtype for src, _ in srcs}
    if spec.input_dtype == "long" and dtypes != {"long"}:
        return (f"{label} takes integer token ids but its input holds float values; set the Input's dtype to "
                f"long (with its vocab_size), and connect the {spec.type_name} straight after it")
    if spec.input_dtype == "float" and "long" in dtypes:
        return (f"{label} takes float values but its input holds integer token ids (the Input's dtype is "
                f"long); put an Embedding before it to turn the ids into vectors, or set the Input's dtype "
                f"to float")
    if spec.input_dtype == "any" and len(dtypes) > 1:
        return f"{label} joins float values with integer token ids; give its inputs one dtype"
    if spec.input_dtype == "long":
        vocab = next((src.vocab_size for src, _ in srcs if src.vocab_size is not None), None)
        rows = graph.node(nid).params.get("num_embeddings")
        if vocab is not None and isinstance(rows, int) and rows < vocab:
            return (f"{label} has num_embeddings {rows} but the Input's token ids go up to {vocab - 1} "
                    f"(vocab_size {vocab}); set num_embeddings to at least {vocab}")
    return None


def _set_dtype(info: NodeInfo, is_input: bool, takes: str, resolved: dict[str, Any],
               srcs: list[tuple[NodeInfo, int]]) -> None:
    """Fill ``info.dtype`` (and ``vocab_size``) of a node whose inputs passed :func:`_dtype_problem`;
    ShapeError for a long Input without a vocabulary size."""
    if is_input:
        info.dtype = str(resolved.get("dtype", "float"))
        if info.dtype == "long":
            if resolved.get("vocab_size") is None:
                raise ShapeError("has dtype long but no vocab_size; set vocab_size to the number of distinct "
                                 "token ids (ids are 0 to vocab_size - 1)")
            info.vocab_size = int(resolved["vocab_size"])
    elif takes == "any" and srcs:
        info.dtype, info.vocab_size = srcs[0][0].dtype, srcs[0][0].vocab_size


def _reachable(start: str, outs: dict[str, list[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for m in outs[stack.pop()]:
            if m not in seen:
                seen.add(m)
                stack.append(m)
    return seen


def _cycles(stuck: list[str], outs: dict[str, list[str]]) -> list[list[str]]:
    """One real cycle, in edge order, per strongly connected group of the ``stuck`` nodes (those
    Kahn's algorithm could not order: cycles and whatever lies downstream of them). Tarjan's
    algorithm, iterative, in linear time."""
    members = set(stuck)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in stuck:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            n, k = work.pop()
            if k == 0:
                index[n] = low[n] = len(index)
                stack.append(n)
                on_stack.add(n)
            succ = outs[n]
            while k < len(succ) and (succ[k] not in members or succ[k] in index):
                m = succ[k]
                if m in on_stack:
                    low[n] = min(low[n], index[m])
                k += 1
            if k < len(succ):
                work += [(n, k + 1), (succ[k], 0)]
                continue
            if low[n] == index[n]:
                group: set[str] = set()
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    group.add(m)
                    if m == n:
                        break
                if len(group) > 1 or n in outs[n]:
                    found.append(_walk(n, group, outs))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[n])
    order = {n: i for i, n in enumerate(stuck)}
    return sorted(found, key=lambda c: min(order[n] for n in c))


def _walk(start: str, group: set[str], outs: dict[str, list[str]]) -> list[str]:
    """A cycle through the strongly connected ``group``: every member has a successor in it, so
    following them from ``start`` must come back to a node already on the path."""
    path: list[str] = []
    pos: dict[str, int] = {}
    n = start
    while n not in pos:
        pos[n] = len(path)
        path.append(n)
        n = next(m for m in outs[n] if m in group)
    return path[pos[n]:]


def describe(info: NodeInfo) -> str:
    """``N×6×28×28`` or ``?`` for a node's output."""
    return fmt_shape(info.output_shape) if info.output_shape is not None else "?"
