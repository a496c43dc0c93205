"""The graph model: validation of edits and the events they emit."""

from __future__ import annotations

import pytest
from netbuilder.core.model.graph import Edge, Graph, GraphError


def make() -> Graph:
    g = Graph()
    g.add_node("Input", "input", {"shape": [1, 28, 28]})
    g.add_node("Conv2d", "conv1", {"out_channels": 6, "kernel_size": 5})
    g.add_node("ReLU", "relu1")
    g.connect("input", "conv1")
    g.connect("conv1", "relu1")
    return g


def test_every_mutation_emits_its_event() -> None:
    g = Graph()
    log: list[tuple[str, object]] = []
    for name in ("node_added", "node_removed", "edge_added", "edge_removed", "params_changed",
                 "node_renamed", "node_moved", "changed"):
        getattr(g.events, name).connect(lambda *a, n=name: log.append((n, a)))
    g.add_node("Input", "input", {"shape": [3, 8, 8]})
    g.add_node("ReLU", "r")
    e = g.connect("input", "r")
    g.set_params("input", {"shape": [1, 8, 8]})
    g.rename_node("r", "act")
    g.move_node("act", (10, 20))
    g.disconnect(Edge("input", "act", 0))
    g.remove_node("act")
    names = [n for n, _ in log if n != "changed"]
    assert names == ["node_added", "node_added", "edge_added", "params_changed", "node_renamed", "node_moved",
                     "edge_removed", "node_removed"]
    assert ("edge_added", (e,)) in log
    assert sum(1 for n, _ in log if n == "changed") == 7  # moves don't need re-inference


def test_remove_and_reinsert_restores_edges() -> None:
    g = make()
    node, edges = g.remove_node("conv1")
    assert [n.id for n in g.nodes] == ["input", "relu1"] and not g.edges
    g.insert_node(node, edges)
    assert {(e.src, e.dst) for e in g.edges} == {("input", "conv1"), ("conv1", "relu1")}


def test_refuses_cycles_duplicates_and_bad_ports() -> None:
    g = make()
    with pytest.raises(GraphError, match="cycle"):
        g.connect("relu1", "relu1")
    with pytest.raises(GraphError, match="already has its 1 input"):
        g.connect("input", "relu1")
    with pytest.raises(GraphError, match="takes no inputs"):
        g.connect("relu1", "input")
    with pytest.raises(GraphError, match="already exists"):
        g.add_node("ReLU", "relu1")
    g.add_node("Add", "add")
    g.connect("relu1", "add")
    with pytest.raises(GraphError, match="already connected"):
        g.connect("conv1", "add", 0)
    with pytest.raises(GraphError, match="would create a cycle"):
        g.add_node("ReLU", "loop")
        g.connect("add", "loop")
        g.connect("loop", "conv1")


@pytest.mark.parametrize(("bad", "rule", "proposed"), [
    ("", "must not be empty", "node"),
    ("a" * 65, "at most 64 characters", "a" * 64),
    ("conv\n1", "control characters", "conv_1"),
    (" conv", "start or end with a space", "conv"),
])
def test_illegal_ids_are_refused_with_the_rule_and_a_legal_name(bad: str, rule: str, proposed: str) -> None:
    g = make()
    with pytest.raises(GraphError, match="not allowed") as err:
        g.add_node("ReLU", bad)
    assert rule in str(err.value) and repr(proposed) in str(err.value)
    with pytest.raises(GraphError):
        g.rename_node("relu1", bad)


@pytest.mark.parametrize("name", ["1abc", "a b", "x\"); import os", "class", "in", "input-1", "conv 1"])
def test_ids_that_are_not_python_names_are_accepted(name: str) -> None:
    # the format promises any readable id; code generation derives legal names (test_codegen)
    g = make()
    g.add_node("ReLU", name)
    g.rename_node(name, name + "2")
    assert name + "2" in g


def test_params_are_validated_with_reasons() -> None:
    g = make()
    with pytest.raises(GraphError, match="out_channels must be between 1 and 4096, not 0"):
        g.set_params("conv1", {"out_channels": 0})
    with pytest.raises(GraphError, match="unknown parameter 'kernel'"):
        g.set_params("conv1", {"kernel": 3})
    with pytest.raises(GraphError, match="padding must be a number, a pair or one of"):
        g.set_params("conv1", {"padding": "full"})
    with pytest.raises(GraphError, match="must be true or false"):
        g.set_params("conv1", {"bias": "yes"})
    assert g.node("conv1").params["out_channels"] == 6  # nothing changed
    old = g.set_params("conv1", {"padding": [2, 2], "in_channels": None})
    assert g.node("conv1").params["padding"] == 2 and g.node("conv1").params["in_channels"] == "auto"
    g.replace_params("conv1", old)
    assert "padding" not in g.node("conv1").params


def test_rename_keeps_edges_and_unique_id() -> None:
    g = make()
    g.rename_node("conv1", "features")
    assert {(e.src, e.dst) for e in g.edges} == {("input", "features"), ("features", "relu1")}
    assert g.unique_id("Conv2d") == "conv2d1"
    g.add_node("Conv2d", "conv2d1", {"out_channels": 1, "kernel_size": 1})
    assert g.unique_id("Conv2d") == "conv2d2"
