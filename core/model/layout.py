"""Layered automatic layout: each node's layer is its longest distance from a source, nodes within
a layer are ordered to follow their parents (barycentre), and layers are spaced evenly."""

from __future__ import annotations

from netbuilder.core.model.graph import Graph

X_GAP = 230.0
Y_GAP = 130.0


def layered_positions(graph: Graph, direction: str = "LR") -> dict[str, tuple[float, float]]:
    """Positions for every node: layers left-to-right (``"LR"``) or top-to-bottom (``"TB"``)."""
    ids = [n.id for n in graph.nodes]
    parents: dict[str, list[str]] = {i: [] for i in ids}
    for e in graph.edges:
        parents[e.dst].append(e.src)
    depth: dict[str, int] = {}

    def d(n: str, stack: frozenset[str] = frozenset()) -> int:
        if n in depth:
            return depth[n]
        if n in stack:  # a cycle: lay it out anyway
            return 0
        depth[n] = 1 + max((d(p, stack | {n}) for p in parents[n]), default=-1)
        return depth[n]

    for i in ids:
        d(i)
    layers: dict[int, list[str]] = {}
    for i in ids:
        layers.setdefault(depth[i], []).append(i)
    rank: dict[str, float] = {}
    pos: dict[str, tuple[float, float]] = {}
    for k in sorted(layers):
        members = layers[k]
        members.sort(key=lambda n: sum(rank.get(p, 0) for p in parents[n]) / max(1, len(parents[n])))
        for j, n in enumerate(members):
            offset = j - (len(members) - 1) / 2
            rank[n] = offset
            main, cross = k * X_GAP, offset * Y_GAP
            pos[n] = (main, cross) if direction == "LR" else (cross * 1.6, k * Y_GAP)
    return pos


def apply_layout(graph: Graph, direction: str = "LR") -> dict[str, tuple[float, float]]:
    """Move every node to its layered position; returns the old positions (for undo)."""
    old = {n.id: n.position for n in graph.nodes}
    for nid, p in layered_positions(graph, direction).items():
        graph.move_node(nid, p)
    return old
