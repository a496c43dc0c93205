"""Canvas layouts built on :func:`core.layout.layered_positions`, spaced for NodeItem cards and
shape labels, plus a wrapped-rows layout that keeps long chains (like the presets) readable."""

from __future__ import annotations

import math

from netbuilder.core.model.graph import Graph
from netbuilder.core.model.layout import X_GAP, Y_GAP, layered_positions
from netbuilder.gui.editor.canvas.node_item import MIN_HEIGHT, WIDTH

STEP_X = WIDTH + 120.0  # room for a shape label between cards
STEP_Y = MIN_HEIGHT + 48.0
ROW_GAP = 70.0


def _ranks(graph: Graph) -> dict[str, tuple[int, float]]:
    """Each node's layer index and its offset inside the layer (in rows of cards)."""
    pos = layered_positions(graph, "LR")
    return {nid: (round(x / X_GAP), y / Y_GAP) for nid, (x, y) in pos.items()}


def layered(graph: Graph, direction: str = "LR") -> dict[str, tuple[float, float]]:
    """Layered layout, left-to-right (``"LR"``) or top-to-bottom (``"TB"``)."""
    out = {}
    for nid, (k, off) in _ranks(graph).items():
        if direction == "LR":
            out[nid] = (k * STEP_X, off * STEP_Y)
        else:
            out[nid] = (off * STEP_X, k * (STEP_Y + 20))
    return out


def best_columns(n_layers: int, aspect: float = 1.6) -> int:
    """How many layers per row make the wrapped layout closest to ``aspect`` (width / height)."""
    best, best_err = max(1, n_layers), math.inf
    for cols in range(1, max(1, n_layers) + 1):
        rows = math.ceil(n_layers / cols)
        ratio = (cols * STEP_X) / (rows * (STEP_Y + ROW_GAP))
        err = abs(math.log(ratio / aspect))
        if err < best_err:
            best, best_err = cols, err
    return best


def wrapped(graph: Graph, columns: int | None = None) -> dict[str, tuple[float, float]]:
    """Layers left-to-right, wrapped into rows of ``columns`` layers like lines of text."""
    ranks = _ranks(graph)
    if not ranks:
        return {}
    n_layers = max(k for k, _ in ranks.values()) + 1
    cols = columns or best_columns(n_layers)
    rows: dict[int, list[tuple[str, int, float]]] = {}
    for nid, (k, off) in ranks.items():
        rows.setdefault(k // cols, []).append((nid, k % cols, off))
    out: dict[str, tuple[float, float]] = {}
    y = 0.0
    for r in sorted(rows):
        members = rows[r]
        lo = min(off for _, _, off in members)
        hi = max(off for _, _, off in members)
        for nid, col, off in members:
            out[nid] = (col * STEP_X, y + (off - lo) * STEP_Y)
        y += (hi - lo) * STEP_Y + STEP_Y + ROW_GAP
    return out


def auto(graph: Graph) -> dict[str, tuple[float, float]]:
    """The default arrangement: left-to-right for short networks, wrapped rows for long ones."""
    ranks = _ranks(graph)
    n_layers = max((k for k, _ in ranks.values()), default=-1) + 1
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
