"""Canvas layouts built on :mod:`netbuilder.core.model.layout` (layers, barycentre ordering,
groups kept together), spaced for NodeItem cards and shape labels, plus the wrapped-rows layout
that keeps long chains (presets, imported networks) readable."""

from __future__ import annotations

from netbuilder.core.model.graph import Graph
from netbuilder.core.model.layout import layer_ranks, wrapped_positions
from netbuilder.gui.editor.canvas.node_item import MIN_HEIGHT, WIDTH

STEP_X = WIDTH + 120.0  # room for a shape label between cards
STEP_Y = MIN_HEIGHT + 48.0


def layered(graph: Graph, direction: str = "LR") -> dict[str, tuple[float, float]]:
    """Layered layout, left-to-right (``"LR"``) or top-to-bottom (``"TB"``)."""
    out = {}
    for nid, (k, off) in layer_ranks(graph).items():
        if direction == "LR":
            out[nid] = (k * STEP_X, off * STEP_Y)
        else:
            out[nid] = (off * STEP_X, k * (STEP_Y + 20))
    return out


def wrapped(graph: Graph, columns: int | None = None) -> dict[str, tuple[float, float]]:
    """Layers left-to-right, wrapped into rows of ``columns`` layers like lines of text (rows
    break between groups where possible)."""
    return wrapped_positions(graph, columns)


def auto(graph: Graph) -> dict[str, tuple[float, float]]:
    """The default arrangement: left-to-right for short networks, wrapped rows for long ones."""
    n_layers = max((k for k, _ in layer_ranks(graph).values()), default=-1) + 1
    return wrapped(graph) if n_layers > 6 else layered(graph, "LR")


def is_single_long_row(graph: Graph, threshold: float = 4.0) -> bool:
    """True when the saved positions form a strip much wider than tall (hard to read when fitted)."""
    if len(graph) < 7:
        return False
    xs = [n.position[0] for n in graph.nodes]
    ys = [n.position[1] for n in graph.nodes]
    width = max(xs) - min(xs) + WIDTH
    height = max(ys) - min(ys) + MIN_HEIGHT
    return width / height > threshold * 4
