"""Mechanical fixes for inference errors, offered as one-click buttons.

:func:`suggest_fixes` reads the graph and its :class:`InferenceResult` and proposes, per node in
error, the edits that make that error go away. Suggestions come from the layer specs, not from
type names: a parameter with an :class:`~netbuilder.core.model.layers.Inferred` rule that
disagrees with the input (set it to the computed value, or to ``auto``), a window (``kernel_size``
with ``padding``) larger than the padded input (the padding that makes it fit), and a layer whose
error asks for a flat input (insert the spec that ``flattens`` on its input edge). Every
suggestion is tried on a copy of the graph and kept only if the node's error is gone there, so a
button never offers a fix that does not fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from netbuilder.core.model.graph import Edge, Graph, GraphError
from netbuilder.core.model.inference import InferenceResult, infer
from netbuilder.core.model.layers import AUTO, REGISTRY, LayerSpec, ParamError
from netbuilder.core.model.shapes import Shape


@dataclass(frozen=True)
class SetParamsAction:
    """Set ``changes`` on node ``node`` (other parameters keep their values)."""

    node: str
    changes: Mapping[str, Any]


@dataclass(frozen=True)
class InsertNodeAction:
    """Put a new ``type_name`` node (id ``node_id``) into ``edge``: ``edge.src`` feeds the new node's
    input 0 and the new node feeds ``edge.dst`` on the edge's port."""

    edge: Edge
    type_name: str
    node_id: str
    params: Mapping[str, Any]
    position: tuple[float, float]


FixAction = SetParamsAction | InsertNodeAction


@dataclass(frozen=True)
class Fix:
    """One suggestion: ``label`` is the button's text, ``action`` the edit it makes."""

    label: str
    action: FixAction


def apply_fix(graph: Graph, fix: Fix) -> None:
    """Make ``fix``'s edit on ``graph`` (GraphError if the graph refuses it)."""
    action = fix.action
    if isinstance(action, SetParamsAction):
        graph.set_params(action.node, action.changes)
        return
    e = action.edge
    graph.disconnect(e)
    graph.add_node(action.type_name, action.node_id, action.params, action.position)
    graph.connect(e.src, action.node_id, 0, src_port=e.src_port)
    graph.connect(action.node_id, e.dst, e.port)


def suggest_fixes(graph: Graph, result: InferenceResult, nodes: Iterable[str] | None = None) -> dict[str, list[Fix]]:
    """The verified fixes for each node in error (or for those of ``nodes``: each check re-runs
    inference on a copy, so a view asks only for what it shows), by node id; nodes without a fix
    are left out."""
    out: dict[str, list[Fix]] = {}
    wanted = None if nodes is None else set(nodes)
    for nid in dict.fromkeys(e.node for e in result.errors if e.node is not None):
        if wanted is not None and nid not in wanted:
            continue
        info = result.nodes.get(nid)
        if nid not in graph or info is None or not info.input_shapes:
            continue  # graph-level problems (no input, cycles) have no mechanical fix
        messages = result.errors_for(nid)
        fixes = [f for f in _candidates(graph, nid, info.input_shapes, messages) if _fixes(graph, nid, f)]
        if fixes:
            out[nid] = fixes
    return out


def _candidates(graph: Graph, nid: str, ins: Sequence[Shape], messages: Sequence[str]) -> Iterator[Fix]:
    node = graph.node(nid)
    spec = node.spec
    full = spec.full_params(node.params)
    yield from _inferred_fixes(nid, spec, full, ins[0])
    yield from _window_fixes(nid, spec, full, ins[0])
    yield from _flatten_fixes(graph, nid, ins[0], messages)


def _inferred_fixes(nid: str, spec: LayerSpec, full: Mapping[str, Any], x: Shape) -> Iterator[Fix]:
    """A size given by hand that its ``auto`` rule would compute differently from the input."""
    for p in spec.params:
        value = full.get(p.name)
        if p.inferred is None or value == AUTO:
            continue
        try:
            computed = p.inferred.compute(x)
        except (IndexError, ValueError):
            continue
        if computed != value:
            yield Fix(f"Set {p.name} to {computed}", SetParamsAction(nid, {p.name: computed}))
            yield Fix(f"Set {p.name} to auto", SetParamsAction(nid, {p.name: AUTO}))


def _per_dim(value: Any, n: int) -> list[int]:
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)] * n


def _window_fixes(nid: str, spec: LayerSpec, full: Mapping[str, Any], x: Shape) -> Iterator[Fix]:
    """A window wider than its padded input: the least padding that makes it fit (output ≥ 1)."""
    names = {p.name for p in spec.params}
    padding = full.get("padding")
    if not {"kernel_size", "padding"} <= names or len(x) < 2 or padding == "same":
        return
    size = list(x[1:])
    n = len(size)
    try:
        kernel = _per_dim(full["kernel_size"], n)
        dilation = _per_dim(full.get("dilation", 1), n)
        current = [0] * n if isinstance(padding, str) else _per_dim(padding, n)
    except (TypeError, ValueError):
        return
    if not len(kernel) == len(dilation) == len(current) == n:
        return
    span = [(k - 1) * d + 1 for k, d in zip(kernel, dilation, strict=True)]
    need = [max(c, math.ceil((w - s) / 2)) for w, s, c in zip(span, size, current, strict=True)]
    if need == current:
        return
    value: int | tuple[int, ...] = need[0] if len(set(need)) == 1 else tuple(need)
    shown = "×".join(map(str, need)) if isinstance(value, tuple) else str(value)
    label = f"Add padding {shown}" if not any(current) else f"Set padding to {shown}"
    yield Fix(label, SetParamsAction(nid, {"padding": value}))


def _flatten_fixes(graph: Graph, nid: str, x: Shape, messages: Sequence[str]) -> Iterator[Fix]:
    """A layer whose error asks for a flat input: insert a flattening layer on its first input."""
    if len(x) < 2:
        return
    edge = next((e for e in graph.in_edges(nid) if e.port == 0), None)
    if edge is None:
        return
    for spec in REGISTRY.values():
        if not spec.flattens or not any(spec.type_name in m for m in messages):
            continue
        a, b = graph.node(edge.src).position, graph.node(nid).position
        position = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        action = InsertNodeAction(edge, spec.type_name, graph.unique_id(spec.node_base_id), spec.defaults(), position)
        yield Fix(f"Insert {spec.type_name} before {nid}", action)


def _fixes(graph: Graph, nid: str, fix: Fix) -> bool:
    """True when ``fix`` applied to a copy of ``graph`` leaves node ``nid`` without an error."""
    trial = graph.copy()
    try:
        apply_fix(trial, fix)
    except (GraphError, ParamError):
        return False
    return not infer(trial).errors_for(nid)
