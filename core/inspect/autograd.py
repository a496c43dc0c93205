"""The autograd graph of the current network, as plain data linked to the canvas.

One forward pass (a real batch, or a random input with a random target as in the PyTorch "Neural
Networks" tutorial) gives a loss. :func:`autograd_graph` walks ``loss.grad_fn.next_functions`` into
an :class:`AutogradGraph`: backward nodes (``MseLossBackward0``, ``AddmmBackward0``,
``ConvolutionBackward0``, ``AccumulateGrad`` …) and edges ``[a, b]`` meaning *b is one of a's
next_functions* (the gradient flows from a to b, from the loss towards the parameters).

How backward nodes are mapped to canvas nodes
---------------------------------------------
:func:`record_outputs` runs the compiled model node by node, in topological order, using the model's
own submodules for module layers and the spec's functional call (``F.relu``, ``torch.flatten`` …),
the merge's :class:`Combine` for the others: exactly the operations, in the same order and with the same
arguments, that the generated ``forward`` performs (a test checks the outputs are identical). That
gives each canvas node's output tensor, so its ``grad_fn``. A backward node belongs to canvas node
L when it is reachable from L's output ``grad_fn`` without passing through the ``grad_fn`` of one of
L's inputs. ``AccumulateGrad`` nodes belong to the layer that owns their parameter (the module
attribute named in ``GeneratedCode.attr_names``). What is left, the loss's own nodes, has ``layer``
None.
"""

from __future__ import annotations

import html
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from netbuilder.core.errors import UserError
from netbuilder.core.model.codegen import GeneratedCode, generate
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Edge, Graph
from netbuilder.core.model.inference import InferenceResult, infer
from netbuilder.core.model.layers import get_spec
from netbuilder.core.model.torch_names import torch_function
from torch import nn

LOSSES = ("mse", "cross-entropy")


class AutogradError(UserError):
    """The autograd graph cannot be built (invalid network, wrong batch shape...)."""


# --- node-by-node forward ---------------------------------------------------------------------

def record_outputs(
    graph: Graph, model: nn.Module, x: torch.Tensor, result: InferenceResult | None = None,
    code: GeneratedCode | None = None,
) -> dict[str, torch.Tensor]:
    """Run ``model`` (built from ``graph``) on ``x`` node by node; return every node's output tensor.

    Module layers call the model's own submodule; other layers call the spec's functional with the
    resolved parameters, or the merge's :attr:`Combine.apply` in port order, as the generated
    ``forward`` does, so the last entry equals ``model(x)`` and autograd records the same graph.
    Runs under the caller's grad mode and the model's current train/eval mode.
    """
    result = result or infer(graph)
    if not result.ok:
        first = result.errors[0].message if result.errors else "the graph has no output"
        raise AutogradError(f"the network is not valid yet: {first}")
    code = code or generate(graph, result)
    outs: dict[str, torch.Tensor] = {}
    ports: dict[str, list[torch.Tensor]] = {}  # every output port's tensor; outs holds port 0's
    in_edges: dict[str, list[Edge]] = {nid: [] for nid in result.order}
    for e in graph.edges:
        in_edges[e.dst].append(e)
    for nid in result.order:
        spec = get_spec(graph.node(nid).type)
        if spec.is_input:
            outs[nid] = x
            ports[nid] = [x]
            continue
        srcs = [ports[e.src][e.src_port] for e in sorted(in_edges[nid], key=lambda e: e.port)]
        params = result.nodes[nid].resolved
        if "attribute" in spec.extra:  # a layer holding its tensor (Parameter): the model's attribute
            assert spec.combine is not None
            y = spec.combine.apply([getattr(model, code.attr_names[nid]), *srcs], params)
        elif spec.module:
            y = getattr(model, code.attr_names[nid])(srcs[0])
        elif spec.combine is not None:
            y = spec.combine.apply(srcs, params)
        else:
            assert spec.functional is not None
            kwargs = {name: params[name] for name in spec.functional_args}
            y = torch_function(spec.functional)(srcs[0], **kwargs)
        ports[nid] = spec.port_values(y)
        outs[nid] = ports[nid][0]
    return outs


def random_input(input_shape: Sequence[int], batch_size: int = 1, seed: int | None = 0,
                 device: torch.device | str = "cpu", vocab_size: int | None = None) -> torch.Tensor:
    """``torch.randn(batch_size, *input_shape)`` (seeded when ``seed`` is not None), as in the tutorial;
    with ``vocab_size`` (an Input of token ids), random ids in [0, vocab_size) instead."""
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    if vocab_size is not None:
        return torch.randint(0, vocab_size, (batch_size, *input_shape), generator=gen).to(device)
    return torch.randn(batch_size, *input_shape, generator=gen).to(device)


# --- the plain-data DAG -----------------------------------------------------------------------

@dataclass
class BackwardNode:
    """One node of the backward graph. ``param``/``shape`` are set for ``AccumulateGrad`` of a
    parameter; ``layer`` is the canvas node id it belongs to (None for the loss)."""

    id: int
    name: str
    param: str | None = None
    shape: list[int] | None = None
    layer: str | None = None

    @property
    def label(self) -> str:
        """``"conv1.weight [6, 1, 5, 5]"`` for parameters, else the class name."""
        if self.param is not None:
            return f"{self.param} {self.shape}"
        return self.name

    def to_dict(self) -> dict[str, Any]:
        """``{id, name, param?, shape?, layer?}`` (absent keys are left out)."""
        d: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.param is not None:
            d["param"] = self.param
        if self.shape is not None:
            d["shape"] = list(self.shape)
        if self.layer is not None:
            d["layer"] = self.layer
        return d


@dataclass
class ChainEntry:
    """One line of the tutorial's printout: ``expression`` evaluates to the node ``node``."""

    expression: str
    name: str
    node: int


@dataclass
class AutogradGraph:
    """The backward DAG of one loss. ``nodes[i].id == i``; node 0 is ``loss.grad_fn``.

    ``edges`` holds ``(a, b)`` for every non-None entry b of ``a.next_functions``, in order,
    duplicates included (``x + x`` lists its input twice)."""

    nodes: list[BackwardNode]
    edges: list[tuple[int, int]]
    loss_name: str = "mse"
    loss_value: float = float("nan")
    layer_types: dict[str, str] = field(default_factory=dict)  # canvas node id → layer type
    chain: list[ChainEntry] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)  # per edge: its index in a's next_functions

    def children(self, node_id: int) -> list[int]:
        """The ``next_functions`` of ``node_id`` (ids, in order)."""
        return [b for a, b in self.edges if a == node_id]

    def nodes_of_layer(self, layer: str | None) -> list[int]:
        """Ids of the backward nodes mapped to canvas node ``layer`` (None: the loss's nodes)."""
        return [n.id for n in self.nodes if n.layer == layer]

    def layers(self) -> list[str]:
        """Canvas node ids that own at least one backward node, in order of first appearance."""
        seen: dict[str, None] = {}
        for n in self.nodes:
            if n.layer is not None:
                seen.setdefault(n.layer)
        return list(seen)

    def to_json(self) -> dict[str, Any]:
        """``{nodes: [{id, name, param?, shape?, layer?}], edges: [[from, to]]}``."""
        return {"nodes": [n.to_dict() for n in self.nodes], "edges": [[a, b] for a, b in self.edges]}

    def chain_text(self) -> str:
        """The tutorial's printout, one ``expression  # Name`` line per chain entry."""
        return "\n".join(f"{c.expression}  # {c.name}" for c in self.chain)

    def to_dot(self, title: str | None = None) -> str:
        """Graphviz source: one cluster per canvas layer, parameters in blue boxes with their shape,
        the loss in orange; edges point the way gradients flow (loss at the top)."""
        return to_dot(self, title)

    def layout(self, x_gap: float = 220.0, y_gap: float = 90.0) -> dict[int, tuple[float, float]]:
        """Positions for a GUI: see :func:`layered_layout`."""
        return layered_layout(self, x_gap, y_gap)


def walk(loss: torch.Tensor, param_names: Mapping[int, str] | None = None,
         param_layers: Mapping[str, str] | None = None) -> AutogradGraph:
    """Walk ``loss.grad_fn.next_functions`` breadth first into an :class:`AutogradGraph`.

    ``param_names`` maps ``id(parameter)`` to its name (``"conv1.weight"``) and ``param_layers``
    maps that name to its canvas node; layers of other nodes are set by :func:`assign_layers`."""
    if loss.grad_fn is None:
        raise AutogradError("the loss does not depend on any parameter (no grad_fn); the network has "
                            "nothing to learn")
    names = param_names or {}
    order, index, edges, slots = _bfs(loss.grad_fn)
    nodes: list[BackwardNode] = []
    for i, fn in enumerate(order):
        node = BackwardNode(i, type(fn).__name__)
        var = getattr(fn, "variable", None)
        if isinstance(var, torch.Tensor):
            node.shape = list(var.shape)
            node.param = names.get(id(var))
            if node.param is not None and param_layers:
                node.layer = param_layers.get(node.param)
        nodes.append(node)
    return AutogradGraph(nodes, edges, chain=_chain(loss.grad_fn, index), slots=slots)


def _bfs(root: Any) -> tuple[list[Any], dict[Any, int], list[tuple[int, int]], list[int]]:
    """Breadth-first walk of ``next_functions``: functions in visiting order, fn → index, edges and
    each edge's slot in ``next_functions`` (None entries, inputs that need no gradient, are skipped)."""
    index: dict[Any, int] = {root: 0}
    order: list[Any] = [root]
    edges: list[tuple[int, int]] = []
    slots: list[int] = []
    queue: deque[Any] = deque([root])
    while queue:
        fn = queue.popleft()
        for slot, (nxt, _) in enumerate(fn.next_functions):
            if nxt is None:
                continue
            if nxt not in index:
                index[nxt] = len(order)
                order.append(nxt)
                queue.append(nxt)
            edges.append((index[fn], index[nxt]))
            slots.append(slot)
    return order, index, edges, slots


def _chain(root: Any, index: Mapping[Any, int]) -> list[ChainEntry]:
    """``loss.grad_fn``, ``loss.grad_fn.next_functions[0][0]``, ... following the first entry, as the
    tutorial prints it, until a node without next functions."""
    expr, fn = "loss.grad_fn", root
    out = [ChainEntry(expr, type(fn).__name__, index[fn])]
    while fn.next_functions and fn.next_functions[0][0] is not None:
        fn = fn.next_functions[0][0]
        expr += ".next_functions[0][0]"
        out.append(ChainEntry(expr, type(fn).__name__, index[fn]))
    return out


def main_path(graph: AutogradGraph) -> list[ChainEntry]:
    """Like the tutorial's chain, but at each step follow the first next function that is not an
    ``AccumulateGrad`` (a parameter), so the printout goes down the network to the first layer."""
    if not graph.nodes:
        return []
    expr, cur = "loss.grad_fn", 0
    out = [ChainEntry(expr, graph.nodes[0].name, 0)]
    seen = {0}
    slots = graph.slots or list(range(len(graph.edges)))
    while True:
        kids = [(slots[k], b) for k, (a, b) in enumerate(graph.edges) if a == cur]
        pick = next(((s, c) for s, c in kids if graph.nodes[c].name != "AccumulateGrad"), None)
        if pick is None:
            if not kids:
                break
            pick = kids[0]
        slot, cur = pick
        if cur in seen:
            break
        seen.add(cur)
        expr += f".next_functions[{slot}][0]"
        out.append(ChainEntry(expr, graph.nodes[cur].name, cur))
        if graph.nodes[cur].name == "AccumulateGrad":
            break
    return out


def assign_layers(graph: AutogradGraph, loss: torch.Tensor, outputs: Mapping[str, torch.Tensor],
                  order: Sequence[str], inputs_of: Mapping[str, Sequence[str]]) -> None:
    """Set ``layer`` on every backward node produced by a canvas node (see the module docstring).

    ``outputs`` are the recorded outputs of :func:`record_outputs`, ``inputs_of`` each canvas node's
    source nodes. The walk from a node's output ``grad_fn`` stops at its inputs' ``grad_fn``."""
    assert loss.grad_fn is not None
    _, index, _, _ = _bfs(loss.grad_fn)
    for nid in order:
        out_fn = outputs[nid].grad_fn
        if out_fn is None or out_fn not in index:
            continue
        stops = {outputs[s].grad_fn for s in inputs_of.get(nid, ())} - {None}
        stack = [out_fn]
        while stack:
            fn = stack.pop()
            if fn in stops:
                continue
            node = graph.nodes[index[fn]]
            if node.layer is not None:
                continue
            if node.name == "AccumulateGrad" and node.param is not None:
                continue  # parameters belong to the layer that owns them (set by walk)
            node.layer = nid
            stack.extend(n for n, _ in fn.next_functions if n is not None)


def _loss(output: torch.Tensor, target: torch.Tensor | None, loss: str, seed: int | None) -> torch.Tensor:
    if loss == "mse":
        if target is None or target.shape != output.shape:
            gen = torch.Generator().manual_seed(seed + 1) if seed is not None else None
            target = torch.randn(output.shape, generator=gen).to(output.device).view_as(output)
        return F.mse_loss(output, target.to(output.dtype))
    if loss == "cross-entropy":
        if output.dim() != 2:
            raise AutogradError(f"cross-entropy needs an output N×classes but the network gives "
                                f"{tuple(output.shape)}; use --loss mse or end the network with Linear")
        if target is None:
            gen = torch.Generator().manual_seed(seed + 1) if seed is not None else None
            target = torch.randint(0, output.shape[1], (output.shape[0],), generator=gen).to(output.device)
        return F.cross_entropy(output, target.long())
    raise AutogradError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")


def autograd_graph(
    graph: Graph, model: nn.Module | None = None, batch: torch.Tensor | None = None,
    target: torch.Tensor | None = None, *, loss: str = "mse", seed: int | None = 0,
    result: InferenceResult | None = None, batch_size: int = 1,
) -> AutogradGraph:
    """Build ``graph``'s model (or use ``model``, compiled from it), run ``batch`` (default: a random
    input of the Input shape) and return the backward DAG of the loss, mapped to canvas nodes.

    ``loss`` is ``"mse"`` (against ``target``, default a random tensor of the output's shape, as in
    the tutorial) or ``"cross-entropy"`` (``target`` class indices, default random). No gradient is
    computed and the model's buffers (BatchNorm running statistics) are restored afterwards, so a
    trained model is left exactly as it was."""
    result = result or infer(graph)
    if not result.ok:
        first = result.errors[0].message if result.errors else "the graph has no output"
        raise AutogradError(f"the network is not valid yet: {first}")
    code = generate(graph, result)
    if model is None:
        with torch.random.fork_rng(devices=[]):  # seeded weights without disturbing the caller's RNG
            if seed is not None:
                torch.manual_seed(seed)
            model, code = build_model(graph, result)
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    assert result.input_id is not None and result.output_id is not None
    in_shape = result.nodes[result.input_id].output_shape
    assert in_shape is not None
    if batch is None:
        batch = random_input(in_shape, batch_size, seed, device, result.input_vocab)
    elif tuple(batch.shape[1:]) != tuple(in_shape):
        raise AutogradError(f"the batch has shape {tuple(batch.shape)} but the Input expects N×"
                            f"{'×'.join(map(str, in_shape))}")
    batch = batch.to(device)
    saved = {k: b.detach().clone() for k, b in model.named_buffers()}
    try:
        with torch.enable_grad(), torch.random.fork_rng(devices=[]):  # Dropout draws must not move the caller's RNG
            try:
                outs = record_outputs(graph, model, batch, result, code)
            except ValueError as e:
                if batch.shape[0] == 1 and "more than 1 value per channel" in str(e):
                    # BatchNorm in training mode needs two samples; the tutorial's batch of one can't do.
                    batch = torch.cat([batch, random_input(in_shape, 1, None if seed is None else seed + 7,
                                                           device, result.input_vocab)])
                    outs = record_outputs(graph, model, batch, result, code)
                else:
                    raise AutogradError(f"the forward pass failed: {e}") from e
            out = outs[result.output_id]
            loss_t = _loss(out, target, loss, seed)
    finally:
        with torch.no_grad():
            for k, b in model.named_buffers():
                if k in saved:
                    b.copy_(saved[k])
    return graph_from_loss(graph, result, code, model, outs, loss_t, loss)


def graph_from_loss(
    graph: Graph, result: InferenceResult, code: GeneratedCode, model: nn.Module,
    outputs: Mapping[str, torch.Tensor], loss: torch.Tensor, loss_name: str = "mse",
) -> AutogradGraph:
    """The mapped :class:`AutogradGraph` of ``loss``, computed from ``outputs`` of
    :func:`record_outputs` (for callers that run the forward pass themselves)."""
    names = {id(p): n for n, p in model.named_parameters()}
    attr_to_node = {a: nid for nid, a in code.attr_names.items()}
    param_layers = {n: attr_to_node.get(n.rsplit(".", 1)[0], "") for n in names.values()}
    g = walk(loss, names, {k: v for k, v in param_layers.items() if v})
    inputs_of = {nid: [e.src for e in graph.in_edges(nid)] for nid in result.order}
    assign_layers(g, loss, outputs, result.order, inputs_of)
    g.loss_name = loss_name
    g.loss_value = float(loss.detach())
    g.layer_types = {nid: result.nodes[nid].type for nid in result.order}
    return g


# --- layout and export ------------------------------------------------------------------------

def layered_layout(graph: AutogradGraph, x_gap: float = 220.0, y_gap: float = 90.0
                   ) -> dict[int, tuple[float, float]]:
    """Top-to-bottom layered positions: the loss at row 0, each node on the row of its longest path
    from the loss (so every edge points down), nodes in a row ordered by their parents' mean column
    (barycentre) and centred on x = 0. Returns ``{node id: (x, y)}``."""
    n = len(graph.nodes)
    parents: list[list[int]] = [[] for _ in range(n)]
    kids: list[list[int]] = [[] for _ in range(n)]
    for a, b in graph.edges:
        parents[b].append(a)
        kids[a].append(b)
    # Longest path from the root via a topological order (Kahn) — no recursion, deep nets are fine.
    indeg = [len(set(p)) for p in parents]
    depth = [0] * n
    queue = deque(i for i in range(n) if indeg[i] == 0)
    seen_edge: set[tuple[int, int]] = set()
    while queue:
        a = queue.popleft()
        for b in kids[a]:
            if (a, b) in seen_edge:
                continue
            seen_edge.add((a, b))
            depth[b] = max(depth[b], depth[a] + 1)
            indeg[b] -= 1
            if indeg[b] == 0:
                queue.append(b)
    rows: dict[int, list[int]] = {}
    for i in range(n):
        rows.setdefault(depth[i], []).append(i)
    col: dict[int, float] = {}
    pos: dict[int, tuple[float, float]] = {}
    for r in sorted(rows):
        members = rows[r]
        members.sort(key=lambda i: (sum(col.get(p, 0.0) for p in parents[i]) / max(1, len(parents[i])), i))
        for j, i in enumerate(members):
            col[i] = j - (len(members) - 1) / 2
            pos[i] = (col[i] * x_gap, r * y_gap)
    return pos


_PALETTE = ("#e8f0fe", "#fef7e0", "#e6f4ea", "#fce8e6", "#f3e8fd", "#e0f7fa", "#fff3e0", "#f1f8e9")


def _q(text: str) -> str:
    """A DOT double-quoted string body."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(graph: AutogradGraph, title: str | None = None) -> str:
    """Graphviz DOT for ``graph`` (see :meth:`AutogradGraph.to_dot`)."""
    lines = [
        "digraph autograd {",
        '  graph [rankdir=TB, fontname="Helvetica", fontsize=12, labelloc=t'
        + (f', label="{_q(title)}"' if title else "") + "];",
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica", fontsize=11];',
        '  edge [color="#5f6368", arrowsize=0.7];',
    ]

    def node_line(n: BackwardNode, indent: str) -> str:
        if n.param is not None:
            label = f"<<b>{html.escape(n.param)}</b><br/>{html.escape(str(n.shape))}>"
            return f'{indent}n{n.id} [label={label}, fillcolor="#c6dafc", shape=box, style="filled"];'
        if n.layer is None:
            return f'{indent}n{n.id} [label="{_q(n.name)}", fillcolor="#fbd7a8"];'
        return f'{indent}n{n.id} [label="{_q(n.name)}"];'

    for i, layer in enumerate(graph.layers()):
        kind = graph.layer_types.get(layer, "")
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f'    label="{_q(layer)}' + (f" ({_q(kind)})" if kind else "") + '";')
        lines.append(f'    style="rounded,filled"; fillcolor="{_PALETTE[i % len(_PALETTE)]}"; color="#9aa0a6";')
        lines.extend(node_line(graph.nodes[j], "    ") for j in graph.nodes_of_layer(layer))
        lines.append("  }")
    loss_nodes = graph.nodes_of_layer(None)
    if loss_nodes:
        lines.append("  subgraph cluster_loss {")
        lines.append(f'    label="loss ({_q(graph.loss_name)})"; style="rounded"; color="#e37400";')
        lines.extend(node_line(graph.nodes[j], "    ") for j in loss_nodes)
        lines.append("  }")
    lines.extend(f"  n{a} -> n{b};" for a, b in graph.edges)
    lines.append("}")
    return "\n".join(lines) + "\n"
