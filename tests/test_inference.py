"""Whole-graph inference: shapes, counts and every graph-level error, with messages naming the node."""

from __future__ import annotations

import itertools

from netbuilder.core.model.graph import Edge, Graph
from netbuilder.core.model.inference import infer
from netbuilder.core.model.project import load_preset


def chain(*layers: tuple[str, str, dict[str, object]], shape: list[int] | None = None) -> Graph:
    g = Graph()
    g.add_node("Input", "input", {"shape": shape or [1, 28, 28]})
    prev = "input"
    for t, i, p in layers:
        g.add_node(t, i, p)
        g.connect(prev, i)
        prev = i
    return g


def test_lenet5_preset_shapes_and_totals() -> None:
    r = infer(load_preset("lenet5-mnist").graph)
    assert r.ok, r.error_text()
    shapes = {n: r.nodes[n].output_shape for n in r.order}
    assert shapes["conv1"] == (6, 28, 28) and shapes["pool2"] == (16, 5, 5) and shapes["fc3"] == (10,)
    assert r.total_params == 61_706
    assert r.nodes["fc1"].resolved["in_features"] == 400
    assert r.output_id == "fc3" and r.input_id == "input"


def test_no_input_and_two_inputs() -> None:
    g = Graph()
    g.add_node("ReLU", "r")
    r = infer(g)
    assert not r.ok and any("no Input" in e.message for e in r.errors)
    g.add_node("Input", "a", {"shape": [4]})
    g.add_node("Input", "b", {"shape": [4]})
    r = infer(g)
    assert r.errors_for("b") and "second Input" in r.errors_for("b")[0]


def test_cycle_names_its_nodes() -> None:
    g = chain(("ReLU", "r1", {}), ("Add", "add", {}), ("ReLU", "r2", {}))
    g.connect("r2", "add", 1, check_cycle=False)
    g.add_node("ReLU", "out")
    g.connect("r2", "out")
    r = infer(g)
    msgs = " ".join(e.message for e in r.errors)
    assert "cycle (add → r2 → add)" in msgs or "cycle (r2 → add → r2)" in msgs
    assert set(e.node for e in r.errors if "cycle" in e.message) == {"add", "r2"}


def test_several_outputs_and_unconnected_nodes() -> None:
    g = chain(("ReLU", "r1", {}), ("ReLU", "r2", {}))
    g.add_node("Sigmoid", "extra")
    g.connect("r1", "extra")
    g.add_node("Tanh", "lonely")
    r = infer(g)
    assert any("second output" in m for m in r.errors_for("extra"))
    # a stray node is a warning (issue 13): it cannot change the output, so it must not block training
    assert r.errors_for("lonely") == []
    assert [(w.node, w.message) for w in r.warnings] == [
        ("lonely", "Tanh 'lonely' is not connected to the output: ignored by training and export")]


def test_stray_nodes_are_warnings_that_leave_the_network_valid() -> None:
    from netbuilder.core.model.codegen import generate

    g = load_preset("lenet5-mnist").graph
    before = infer(g)
    g.add_node("Dropout", "dropout1")
    g.add_node("ReLU", "relu_stray")
    r = infer(g)
    assert r.ok and r.errors == []
    assert r.unused == {"dropout1", "relu_stray"}
    assert r.nodes["dropout1"].warning == "Dropout 'dropout1' is not connected to the output: ignored by training " \
                                          "and export"
    assert r.order == before.order and r.output_id == before.output_id
    assert generate(g, r).source == generate(load_preset("lenet5-mnist").graph).source
    # a connected piece is part of the network: one feeding it, or a chain of its own, stays an error
    g.connect("dropout1", "relu_stray")
    assert infer(g).errors_for("dropout1") == ["Dropout 'dropout1' has no input; connect a layer to it or delete it"]
    g2 = load_preset("lenet5-mnist").graph
    g2.add_node("Tanh", "t")
    g2.add_node("Add", "add")
    g2.connect("t", "add", 0)
    g2.connect("pool2", "add", 1)
    r2 = infer(g2)
    assert r2.errors_for("t") == ["Tanh 't' has no input; connect a layer to it or delete it"]
    assert r2.unused == set()


def test_add_with_mismatched_and_missing_inputs() -> None:
    g = chain(("Conv2d", "c1", {"out_channels": 4, "kernel_size": 3}), ("Add", "add", {}))
    r = infer(g)
    assert r.errors_for("add") == ["Add 'add' needs at least 2 inputs but has 1; connect another branch to it"]
    g.connect("input", "add", 1)
    r = infer(g)
    assert "needs inputs of the same shape but input 0 is N×4×26×26 and input 1 is N×1×28×28" in r.errors_for("add")[0]
    g2 = chain(("ReLU", "r", {}), ("Add", "add", {}))
    e = g2.in_edges("add")[0]
    g2.disconnect(e)
    g2.connect("r", "add", 1)
    g2.connect("input", "add", 2)
    assert "input 0 unconnected" in infer(g2).errors_for("add")[0]


def test_linear_fed_4d_tensor_suggests_flatten() -> None:
    g = chain(("Conv2d", "c", {"out_channels": 16, "kernel_size": 5}), ("Linear", "fc", {"out_features": 10}),
              shape=[1, 9, 9])
    msg = infer(g).errors_for("fc")[0]
    assert msg.startswith("Linear 'fc' receives a 4-D tensor N×16×5×5") and "add a Flatten before it" in msg
    assert "400 = 16×5×5" in msg


def test_errors_do_not_cascade_downstream() -> None:
    g = chain(("Conv2d", "c", {"out_channels": 4, "kernel_size": 40}), ("ReLU", "r", {}), ("Flatten", "f", {}))
    r = infer(g)
    assert [e.node for e in r.errors] == ["c"]
    assert r.nodes["r"].output_shape is None and r.nodes["f"].output_shape is None


def test_explicit_inferable_values_are_reported() -> None:
    g = chain(("Flatten", "f", {}), ("Linear", "fc", {"in_features": 784, "out_features": 10}))
    r = infer(g)
    assert r.ok and r.nodes["fc"].explicit_inferable == ["in_features"]


def test_inference_of_a_500_node_chain_matches_torch() -> None:
    """Every inferred shape and the parameter total of a long chain equal torch's (the time this
    takes is measured by bench/inference_speed.py)."""
    import torch

    layers: list[tuple[str, str, dict[str, object]]] = [("Flatten", "flat", {})]
    modules: list[torch.nn.Module] = [torch.nn.Flatten()]
    width = 24  # 2 × 3 × 4 features after the flatten
    for i in range(498):
        if i % 2 == 0:
            out = 4 + i % 7
            layers.append(("Linear", f"fc{i}", {"out_features": out}))
            modules.append(torch.nn.Linear(width, out))
            width = out
        else:
            layers.append(("ReLU", f"r{i}", {}))
            modules.append(torch.nn.ReLU())
    r = infer(chain(*layers, shape=[2, 3, 4]))
    assert r.ok, r.error_text()
    assert len(r.order) == 500 and r.order[0] == "input" and r.output_id == layers[-1][1]
    x = torch.zeros(1, 2, 3, 4)
    for (_type, nid, _params), module in zip(layers, modules, strict=True):
        x = module(x)
        assert r.nodes[nid].output_shape == tuple(x.shape[1:]), nid
    assert r.total_params == sum(p.numel() for m in modules for p in m.parameters())


def test_a_network_cut_in_two_stays_an_error() -> None:
    g = load_preset("lenet5-mnist").graph
    g.disconnect(Edge("conv1", "relu1"))
    g.disconnect(Edge("relu1", "pool1"))
    r = infer(g)  # training the stub input → conv1 would be a silent surprise
    assert not r.ok and r.unused == {"relu1"}  # left with no edge at all: only relu1 is a stray
    assert r.errors_for("pool1") == ["MaxPool2d 'pool1' has no input; connect a layer to it or delete it"]


def _cycle_paths(r: object) -> list[list[str]]:
    import re

    from netbuilder.core.model.inference import InferenceResult
    assert isinstance(r, InferenceResult)
    found = {m.group(1) for e in r.errors if (m := re.search(r"cycle \(([^)]*)\)", e.message))}
    return [p.split(" → ") for p in sorted(found)]


def _assert_real_cycle(g: Graph, path: list[str]) -> None:
    edges = {(e.src, e.dst) for e in g.edges}
    assert path[0] == path[-1] and len(set(path[:-1])) == len(path) - 1, path
    assert all((a, b) in edges for a, b in itertools.pairwise(path)), f"{path} names an edge that does not exist"


def test_cycle_through_add_with_dead_ends_reports_one_real_cycle_in_order() -> None:
    # every cycle node's first successor is a dead end downstream: the old walk gave up and listed
    # every stuck node alphabetically, naming edges such as a → add1 that do not exist
    g = Graph()
    g.add_node("Input", "input", {"shape": [4]})
    for i in ("add1", "a", "b", "c", "d", "e"):
        g.add_node("Add" if i == "add1" else "ReLU", i)
    g.connect("input", "add1", 0)
    g.connect("add1", "c")
    g.connect("add1", "a")
    g.connect("a", "d")
    g.connect("a", "b")
    g.connect("b", "e")
    g.connect("b", "add1", 1, check_cycle=False)
    r = infer(g)
    paths = _cycle_paths(r)
    assert len(paths) == 1, paths
    _assert_real_cycle(g, paths[0])
    assert paths[0] == ["add1", "a", "b", "add1"]
    msgs = r.errors_for("add1")
    assert any("cycle (add1 → a → b → add1)" in m and "'b' → 'add1'" in m for m in msgs), msgs
    assert not any("cycle" in m for n in ("c", "d", "e") for m in r.errors_for(n))


def test_two_separate_cycles_are_each_reported_with_real_edges() -> None:
    g = chain(("Add", "add", {}), ("ReLU", "r1", {}), ("Add", "add2", {}), ("ReLU", "r2", {}))
    g.connect("r1", "add", 1, check_cycle=False)
    g.connect("r2", "add2", 1, check_cycle=False)
    r = infer(g)
    paths = _cycle_paths(r)
    assert len(paths) == 2, paths
    for p in paths:
        _assert_real_cycle(g, p)
    assert {frozenset(p) for p in paths} == {frozenset({"add", "r1"}), frozenset({"add2", "r2"})}


def test_a_cycle_through_an_add_still_lays_out() -> None:
    from netbuilder.core.model.layout import auto_positions

    g = chain(("Add", "add1", {}), ("ReLU", "a", {}), ("ReLU", "b", {}))
    g.connect("b", "add1", 1, check_cycle=False)
    assert set(auto_positions(g)) == {"input", "add1", "a", "b"}
