"""One-click fixes (issue 13, point 11): each suggestion is derived from the specs and verified."""

from __future__ import annotations

from netbuilder.core.model.fixes import InsertNodeAction, SetParamsAction, apply_fix, suggest_fixes
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import infer
from netbuilder.core.model.project import load_preset


def _lenet(in_features: int) -> Graph:
    g = load_preset("lenet5-mnist").graph
    g.set_params("fc1", {"in_features": in_features})
    return g


def _applied(g: Graph, fix) -> Graph:
    trial = g.copy()
    apply_fix(trial, fix)
    return trial


def test_lenet_wrong_in_features_offers_value_and_auto():
    g = _lenet(300)
    fixes = suggest_fixes(g, infer(g))
    assert list(fixes) == ["fc1"]
    assert [f.label for f in fixes["fc1"]] == ["Set in_features to 400", "Set in_features to auto"]
    assert [f.action for f in fixes["fc1"]] == [SetParamsAction("fc1", {"in_features": 400}),
                                                 SetParamsAction("fc1", {"in_features": "auto"})]
    for fix in fixes["fc1"]:
        assert infer(_applied(g, fix)).ok


def test_kernel_larger_than_map_offers_padding():
    g = Graph()
    g.add_node("Input", "input", {"shape": [3, 5, 5]})
    g.add_node("Conv2d", "conv", {"out_channels": 4, "kernel_size": 9})
    g.connect("input", "conv")
    result = infer(g)
    assert "9×9 kernel window" in result.errors_for("conv")[0]
    fixes = suggest_fixes(g, result)
    assert [f.label for f in fixes["conv"]] == ["Add padding 2"]
    fixed = _applied(g, fixes["conv"][0])
    assert fixed.node("conv").params["padding"] == 2
    assert infer(fixed).ok


def test_pool_window_too_big_offers_no_padding_torch_refuses():
    # a 2×2 pool takes at most padding 1; on a 1×1 map it still fits, but a 5×5 pool on 1×1 needs 2
    g = Graph()
    g.add_node("Input", "input", {"shape": [1, 1, 1]})
    g.add_node("MaxPool2d", "pool", {"kernel_size": 5})
    g.connect("input", "pool")
    fixes = suggest_fixes(g, infer(g))
    assert [f.label for f in fixes["pool"]] == ["Add padding 2"]
    assert infer(_applied(g, fixes["pool"][0])).ok


def test_linear_after_conv_offers_insert_flatten():
    g = Graph()
    g.add_node("Input", "input", {"shape": [1, 28, 28]}, (0, 0))
    g.add_node("Conv2d", "conv1", {"out_channels": 6, "kernel_size": 5}, (200, 0))
    g.add_node("Linear", "fc1", {"out_features": 10}, (400, 0))
    g.connect("input", "conv1")
    g.connect("conv1", "fc1")
    fixes = suggest_fixes(g, infer(g))
    assert [f.label for f in fixes["fc1"]] == ["Insert Flatten before fc1"]
    action = fixes["fc1"][0].action
    assert isinstance(action, InsertNodeAction) and action.type_name == "Flatten"
    assert action.position == (300, 0)
    fixed = _applied(g, fixes["fc1"][0])
    assert infer(fixed).ok
    assert {(e.src, e.dst) for e in fixed.edges} == {("input", "conv1"), ("conv1", action.node_id),
                                                   (action.node_id, "fc1")}


def test_errors_without_a_mechanical_fix_offer_nothing():
    g = Graph()
    g.add_node("Input", "input", {"shape": [1, 28, 28]})
    g.add_node("ReLU", "relu")  # no input: connecting it is the user's choice
    g.add_node("Conv2d", "conv", {"out_channels": 3, "kernel_size": 3, "groups": 2})  # groups must divide
    g.connect("input", "conv")
    result = infer(g)
    assert result.unused == {"relu"} and result.errors_for("conv")  # a stray node is only a warning
    assert suggest_fixes(g, result) == {}
    assert suggest_fixes(Graph(), infer(Graph())) == {}  # "no Input" is about the whole graph
