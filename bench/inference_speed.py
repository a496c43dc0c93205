"""Inference (and code generation) time on a 500-node graph, printed in milliseconds.

Run: python bench/inference_speed.py [--nodes 500] [--repeat 20]
The graph is a stack of residual blocks (conv → bn → relu → conv → bn → add → relu), the kind
of graph that is slowest to infer because every block has a branch and a join.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

from netbuilder.core.model.codegen import generate
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import infer


def residual_graph(n_nodes: int) -> Graph:
    g = Graph("bench")
    g.add_node("Input", "input", {"shape": [16, 32, 32]})
    prev, i = "input", 0
    while len(g) + 7 <= n_nodes:
        i += 1
        ids = [f"c{i}a", f"b{i}a", f"r{i}a", f"c{i}b", f"b{i}b", f"add{i}", f"r{i}b"]
        g.add_node("Conv2d", ids[0], {"out_channels": 16, "kernel_size": 3, "padding": 1})
        g.add_node("BatchNorm2d", ids[1], {})
        g.add_node("ReLU", ids[2], {})
        g.add_node("Conv2d", ids[3], {"out_channels": 16, "kernel_size": 3, "padding": 1})
        g.add_node("BatchNorm2d", ids[4], {})
        g.add_node("Add", ids[5], {})
        g.add_node("ReLU", ids[6], {})
        for a, b in itertools.pairwise(ids):
            g.connect(a, b, 0 if b == ids[5] else None)
        g.connect(prev, ids[0])
        g.connect(prev, ids[5], 1)
        prev = ids[6]
    while len(g) < n_nodes:
        nid = f"tail{len(g)}"
        g.add_node("ReLU", nid, {})
        g.connect(prev, nid)
        prev = nid
    return g


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    g = residual_graph(a.nodes)
    r = infer(g)
    assert r.ok, r.error_text()
    inf = timed(lambda: infer(g), a.repeat)
    gen = timed(lambda: generate(g, r), a.repeat)
    print(f"graph: {len(g)} nodes, {len(g.edges)} edges, {r.total_params:,} params")
    print(f"inference:       median {statistics.median(inf):6.2f} ms   max {max(inf):6.2f} ms")
    print(f"code generation: median {statistics.median(gen):6.2f} ms   max {max(gen):6.2f} ms")


if __name__ == "__main__":
    main()
