"""Layered automatic layout and the groups of repeated blocks.

Each node's layer is its longest distance from a source; nodes within a layer are ordered by the
barycentre of their neighbours (sweeps down and up to reduce crossings) with the members of a
group kept together, and each node sits as close as it can to its parents' height. Long networks
are wrapped into rows of layers like lines of text, breaking rows between groups where possible.

Groups come from module paths: the importer names nodes after them (``layer1.0.conv1`` becomes the
id ``layer1_0_conv1``), so :func:`derived_group` reads the block (``layer1.0``) back from the id.
"""

from __future__ import annotations

import math

from netbuilder.core.model.graph import Graph, kahn_order

X_GAP = 304.0  # a node card plus room for the shape label on its edge
Y_GAP = 120.0
ROW_GAP = 70.0
WRAP_LAYERS = 40  # more layers than this are wrapped into rows
SWEEPS = 4


def derived_group(node_id: str) -> str | None:
    """The block a node id names by its module path, or None.

    The path is cut after its first numeric part (a ``Sequential`` index: ``layer1_0_conv1`` →
    ``layer1.0``, ``features_3_conv_0_0`` → ``features.3``); without one, after the last inner part
    that ends in a digit (``features_denseblock1_denselayer3_conv1`` →
    ``features.denseblock1.denselayer3``)."""
    parts = node_id.split("_")
    inner = parts[:-1]
    for i, p in enumerate(inner):
        if p.isdigit():
            return ".".join(parts[: i + 1]) if i > 0 else None
    for i in range(len(inner) - 1, 0, -1):
        if inner[i][-1:].isdigit():
            return ".".join(parts[: i + 1])
    return None


def node_groups(graph: Graph) -> dict[str, str]:
    """Each grouped node's group (groups of one node are dropped).

    A merge without a path of its own (a functional ``add`` or ``cat``: several inputs, no ``_``
    in its id) joins the group of its consumers when that group also feeds it or it merges many
    inputs (a DenseNet concat joins the layer it feeds), else the group of its deepest input (a
    residual add ends its block)."""
    group = {n.id: g for n in graph.nodes if not n.spec.is_input and (g := derived_group(n.id)) is not None}
    order = _topological(graph)
    rank = {n: i for i, n in enumerate(order)}
    parents: dict[str, list[str]] = {n: [] for n in rank}
    children: dict[str, list[str]] = {n: [] for n in rank}
    for e in graph.edges:
        parents[e.dst].append(e.src)
        children[e.src].append(e.dst)
    for nid in order:
        ins = parents[nid]
        if nid in group or "_" in nid or len(ins) < 2:
            continue
        succ = {group.get(c) for c in children[nid]}
        deepest = group.get(max(ins, key=rank.__getitem__))
        mine = {group.get(p) for p in ins}
        if len(succ) == 1 and None not in succ and (succ & mine or len(ins) >= 3 or deepest is None):
            group[nid] = next(g for g in succ if g is not None)
        elif deepest is not None:
            group[nid] = deepest
    sizes: dict[str, int] = {}
    for g in group.values():
        sizes[g] = sizes.get(g, 0) + 1
    return {nid: g for nid, g in group.items() if sizes[g] > 1}


def _topological(graph: Graph) -> list[str]:
    """Nodes in topological order (Kahn); nodes on a cycle come last, in insertion order."""
    indeg = {n.id: 0 for n in graph.nodes}
    children: dict[str, list[str]] = {n: [] for n in indeg}
    for e in graph.edges:
        indeg[e.dst] += 1
        children[e.src].append(e.dst)
    out = kahn_order(indeg, indeg, children)
    seen = set(out)
    return out + [n for n in indeg if n not in seen]


def layer_ranks(graph: Graph) -> dict[str, tuple[int, float]]:
    """Each node's layer (longest path from a source) and its height inside the layer, in rows."""
    parents: dict[str, list[str]] = {n.id: [] for n in graph.nodes}
    children: dict[str, list[str]] = {n.id: [] for n in graph.nodes}
    for e in graph.edges:
        parents[e.dst].append(e.src)
        children[e.src].append(e.dst)
    depth: dict[str, int] = {}
    for n in _topological(graph):
        depth[n] = 1 + max((depth[p] for p in parents[n] if p in depth), default=-1)
    layers: dict[int, list[str]] = {}
    for n in parents:
        layers.setdefault(depth[n], []).append(n)
    groups = node_groups(graph)
    ks = sorted(layers)
    index: dict[str, float] = {}
    for k in ks:
        for j, n in enumerate(layers[k]):
            index[n] = float(j)
    # barycentre sweeps: down (by parents), up (by children), ...
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        for k in ks if down else reversed(ks):
            nbrs = parents if down else children
            _order_layer(layers[k], nbrs, index, groups)
    height: dict[str, float] = {}
    for k in ks:
        _place_layer(layers[k], parents, height)
    return {n: (depth[n], height[n]) for n in parents}


def _order_layer(members: list[str], nbrs: dict[str, list[str]], index: dict[str, float],
                 groups: dict[str, str]) -> None:
    """Sort one layer by neighbour barycentre, keeping each group's members next to each other."""
    bary = {n: (sum(index[p] for p in nbrs[n]) / len(nbrs[n]) if nbrs[n] else index[n]) for n in members}
    by_group: dict[str, list[float]] = {}
    for n in members:
        by_group.setdefault(groups.get(n, n), []).append(bary[n])
    group_bary = {g: sum(v) / len(v) for g, v in by_group.items()}

    def key(n: str) -> tuple[float, str, float]:
        g = groups.get(n, n)
        return group_bary[g], g, bary[n]

    members.sort(key=key)
    for j, n in enumerate(members):
        index[n] = float(j)


def _place_layer(members: list[str], parents: dict[str, list[str]], height: dict[str, float]) -> None:
    """Heights for one ordered layer: each near its parents' mean, one row apart at least."""
    # only parents already placed count: on a cycle a node's parent may lie in a later layer
    placed = [[height[p] for p in parents[n] if p in height] for n in members]
    want = [sum(h) / len(h) if h else 0.0 for h in placed]
    ys: list[float] = []
    for w in want:
        ys.append(w if not ys else max(w, ys[-1] + 1.0))
    shift = sum(w - y for w, y in zip(want, ys, strict=True)) / max(1, len(ys))
    for n, y in zip(members, ys, strict=True):
        height[n] = round((y + shift) * 2) / 2  # half rows keep a row of cards aligned


def layered_positions(graph: Graph, direction: str = "LR") -> dict[str, tuple[float, float]]:
    """Positions for every node: layers left-to-right (``"LR"``) or top-to-bottom (``"TB"``)."""
    pos: dict[str, tuple[float, float]] = {}
    for n, (k, off) in layer_ranks(graph).items():
        pos[n] = (k * X_GAP, off * Y_GAP) if direction == "LR" else (off * X_GAP, k * Y_GAP)
    return pos


def row_breaks(ranks: dict[str, tuple[int, float]], groups: dict[str, str], columns: int) -> list[int]:
    """First layer of each row when ``columns`` layers make a row: a row ends where no group
    continues into the next layer, if there is such a place near its end."""
    n_layers = max((k for k, _ in ranks.values()), default=-1) + 1
    in_layer: dict[int, set[str]] = {}
    for n, (k, _) in ranks.items():
        if n in groups:
            in_layer.setdefault(k, set()).add(groups[n])

    def clean(b: int) -> bool:
        return not (in_layer.get(b - 1, set()) & in_layer.get(b, set()))

    starts = [0]
    while starts[-1] + columns < n_layers:
        s, target = starts[-1], starts[-1] + columns
        options = [b for b in range(s + max(1, columns * 2 // 3), min(n_layers, s + columns * 4 // 3) + 1) if clean(b)]
        starts.append(min(options, key=lambda b: (abs(b - target), -b)) if options else target)
    return starts


def best_columns(n_layers: int, row_height: float, aspect: float = 1.6) -> int:
    """How many layers per row make the wrapped layout closest to ``aspect`` (width / height)."""
    best, best_err = max(1, n_layers), math.inf
    for cols in range(1, max(1, n_layers) + 1):
        rows = math.ceil(n_layers / cols)
        err = abs(math.log((cols * X_GAP) / (rows * row_height) / aspect))
        if err < best_err:
            best, best_err = cols, err
    return best


def wrapped_positions(graph: Graph, columns: int | None = None) -> dict[str, tuple[float, float]]:
    """Layers left-to-right, wrapped into rows (``columns`` layers each, or chosen for a 1.6
    aspect ratio), rows stacked top to bottom."""
    ranks = layer_ranks(graph)
    if not ranks:
        return {}
    n_layers = max(k for k, _ in ranks.values()) + 1
    spread = max(off for _, off in ranks.values()) - min(off for _, off in ranks.values())
    cols = columns or best_columns(n_layers, Y_GAP * (1 + min(spread, 4)) + ROW_GAP)
    starts = row_breaks(ranks, node_groups(graph), cols)
    row_of = {}
    for r, s in enumerate(starts):
        end = starts[r + 1] if r + 1 < len(starts) else n_layers
        for k in range(s, end):
            row_of[k] = r
    rows: dict[int, list[tuple[str, int, float]]] = {}
    for n, (k, off) in ranks.items():
        rows.setdefault(row_of[k], []).append((n, k - starts[row_of[k]], off))
    out: dict[str, tuple[float, float]] = {}
    y = 0.0
    for r in sorted(rows):
        lo = min(off for _, _, off in rows[r])
        hi = max(off for _, _, off in rows[r])
        for n, col, off in rows[r]:
            out[n] = (col * X_GAP, y + (off - lo) * Y_GAP)
        y += (hi - lo) * Y_GAP + Y_GAP + ROW_GAP
    return out


def auto_positions(graph: Graph) -> dict[str, tuple[float, float]]:
    """The default arrangement: one left-to-right band, wrapped into rows when it is long."""
    ranks = layer_ranks(graph)
    n_layers = max((k for k, _ in ranks.values()), default=-1) + 1
    return wrapped_positions(graph) if n_layers > WRAP_LAYERS else layered_positions(graph, "LR")


def apply_layout(graph: Graph, direction: str = "LR") -> dict[str, tuple[float, float]]:
    """Move every node to its automatic position (long networks wrapped into rows, see
    :func:`auto_positions`; ``direction="TB"``: one top-to-bottom band); returns the old positions
    (for undo)."""
    old = {n.id: n.position for n in graph.nodes}
    new = auto_positions(graph) if direction == "LR" else layered_positions(graph, direction)
    for nid, p in new.items():
        graph.move_node(nid, p)
    return old
