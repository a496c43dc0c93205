"""Large graphs in linear time (issue 14, point 6): edits touch only a node's own edges, and
inference and codegen grow linearly, measured by counting work or by a ratio, never an absolute time."""

from __future__ import annotations

import time

import pytest
from netbuilder.core.model import graph as graph_mod
from netbuilder.core.model.codegen import generate
from netbuilder.core.model.graph import Edge, Graph
from netbuilder.core.model.inference import infer


def relu_chain(n: int) -> Graph:
    g = Graph()
    g.add_node("Input", "input", {"shape": [8]})
    prev = "input"
    for i in range(n):
        g.add_node("ReLU", f"r{i}")
        g.connect(prev, f"r{i}")
        prev = f"r{i}"
    return g


class _CountingEdge(Edge):
    """An Edge that counts reads of its fields: a scan of all edges reads each edge's fields."""

    reads = 0

    def __getattribute__(self, name: str) -> object:
        if name in ("src", "dst", "port", "src_port"):
            type(self).reads += 1
        return super().__getattribute__(name)


@pytest.mark.parametrize("n", [200, 2000])
def test_edits_touch_only_the_nodes_own_edges(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    monkeypatch.setattr(graph_mod, "Edge", _CountingEdge)
    g = relu_chain(n)
    _CountingEdge.reads = 0
    g.add_node("Add", "tail")
    g.connect(f"r{n - 1}", "tail")  # free port, taken-port check and cycle check (from a sink)
    g.connect(f"r{n - 2}", "tail", 1)
    assert g.free_port("tail") == 2
    assert [e.dst for e in g.out_edges(f"r{n - 1}")] == ["tail"]
    assert [e.src for e in g.in_edges("tail")] == [f"r{n - 1}", f"r{n - 2}"]
    g.disconnect(g.in_edges("tail")[1])
    g.remove_node("tail")
    assert _CountingEdge.reads < 100, f"{_CountingEdge.reads} edge field reads for one node's edits"
    assert len(g.edges) == n and (g.edges[-1].src, g.edges[-1].dst) == (f"r{n - 2}", f"r{n - 1}")


def test_index_follows_every_mutation_and_keeps_edge_order() -> None:
    g = relu_chain(3)
    g.add_node("Add", "add")
    g.connect("r0", "add")
    g.connect("r2", "add")
    g.rename_node("r0", "first")
    assert [e.src for e in g.in_edges("add")] == ["first", "r2"]
    assert [e.dst for e in g.out_edges("first")] == ["r1", "add"]
    assert [(e.src, e.dst) for e in g.edges] == [("input", "first"), ("first", "r1"), ("r1", "r2"),
                                                 ("first", "add"), ("r2", "add")]
    g.remove_node("r1")
    assert g.in_edges("r2") == [] and [e.dst for e in g.out_edges("first")] == ["add"]
    assert g.free_port("r2") == 0
    c = g.copy()
    g.clear()
    assert [e.port for e in c.in_edges("add")] == [0, 1] and g.edges == []
    g.load_from(c)
    assert [e.src for e in g.in_edges("add")] == ["first", "r2"]
    with pytest.raises(Exception, match="already connected"):
        g.connect("input", "add", 1)


def _elapsed(fn: object, *args: object) -> float:
    assert callable(fn)
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def test_build_and_whole_graph_passes_grow_linearly() -> None:
    """10× more nodes cost well under 30× more (quadratic code gives about 100×): a ratio measured
    in one process, with the best of two runs against noise, never an absolute time."""
    def work(n: int) -> float:
        t = time.perf_counter()
        g = relu_chain(n)
        r = infer(g)
        assert r.ok, r.error_text()
        generate(g, r)
        return time.perf_counter() - t

    small = min(work(1000) for _ in range(2))
    big = min(work(10_000) for _ in range(2))
    assert big / small < 30, f"1,000 nodes {small:.3f} s, 10,000 nodes {big:.3f} s: ratio {big / small:.0f}"
