"""The autograd graph: checked against torch's own grad_fn graph, the layer mapping, exports, CLI."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from netbuilder.core.cli import autograd as autograd_cli
from netbuilder.core.cli.main import main
from netbuilder.core.errors import UserError
from netbuilder.core.inspect.autograd import (
    AutogradError,
    autograd_graph,
    layered_layout,
    main_path,
    record_outputs,
)
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.project import load_preset, presets_dir

torch.set_num_threads(1)


def direct_walk(loss: torch.Tensor) -> tuple[Counter[str], int]:
    """Every node reachable from loss.grad_fn: class-name multiset and number of (fn, next) pairs."""
    seen: set[Any] = set()
    names: Counter[str] = Counter()
    edges = 0
    stack = [loss.grad_fn]
    seen.add(loss.grad_fn)
    while stack:
        fn = stack.pop()
        names[type(fn).__name__] += 1
        for nxt, _ in fn.next_functions:
            if nxt is None:
                continue
            edges += 1
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return names, edges


def chain_graph() -> Graph:
    """input → conv → relu → (a: conv, b: conv) → concat → conv → add(3 inputs) → flatten → linear."""
    g = Graph("branches")
    g.add_node("Input", "input", {"shape": [2, 8, 8]})
    g.add_node("Conv2d", "c0", {"out_channels": 4, "kernel_size": 3, "padding": 1})
    g.add_node("ReLU", "r0")
    g.add_node("Conv2d", "a", {"out_channels": 3, "kernel_size": 1})
    g.add_node("Conv2d", "b", {"out_channels": 5, "kernel_size": 3, "padding": 1})
    g.add_node("Concat", "cat", {"dim": 1})
    g.add_node("Conv2d", "mix", {"out_channels": 4, "kernel_size": 1, "bias": False})
    g.add_node("Add", "sum3")
    g.add_node("Flatten", "flat")
    g.add_node("Linear", "fc", {"out_features": 3})
    for s, d in [("input", "c0"), ("c0", "r0"), ("r0", "a"), ("r0", "b"), ("a", "cat"), ("b", "cat"),
                 ("cat", "mix"), ("mix", "sum3"), ("r0", "sum3"), ("c0", "sum3"), ("sum3", "flat"),
                 ("flat", "fc")]:
        g.connect(s, d)
    return g


@pytest.mark.parametrize("preset", ["lenet-tutorial", "resnet-tiny", "lenet5-mnist", "mlp-mnist"])
def test_record_outputs_equals_the_generated_forward(preset: str) -> None:
    graph = load_preset(preset).graph
    torch.manual_seed(0)
    model, _ = build_model(graph)
    model.eval()  # dropout off so both passes are deterministic
    x = torch.randn(3, *model.input_shape)
    with torch.no_grad():
        outs = record_outputs(graph, model, x)
        expected = model(x)
    last = list(outs)[-1]
    assert torch.equal(outs[last], expected)
    assert set(outs) == {n.id for n in graph.nodes}


@pytest.mark.parametrize("preset", ["lenet-tutorial", "resnet-tiny"])
def test_names_and_edges_equal_a_direct_walk_of_grad_fn(preset: str) -> None:
    graph = load_preset(preset).graph
    torch.manual_seed(0)
    model, _ = build_model(graph)
    x = torch.randn(1, *model.input_shape)
    out = model(x)  # the generated forward, as a user would call it
    loss = F.mse_loss(out, torch.randn_like(out))
    names, edges = direct_walk(loss)

    ag = autograd_graph(graph, model, x)
    assert Counter(n.name for n in ag.nodes) == names
    assert len(ag.edges) == edges
    assert ag.nodes[0].name == "MseLossBackward0"
    # Every parameter appears once, with its shape.
    params = {n.param: n.shape for n in ag.nodes if n.param}
    assert params == {k: list(p.shape) for k, p in model.named_parameters()}


def test_tutorial_network_matches_the_tutorial() -> None:
    ag = autograd_graph(load_preset("lenet-tutorial").graph)
    names = Counter(n.name for n in ag.nodes)
    assert names["ConvolutionBackward0"] == 2
    assert names["AddmmBackward0"] == 3
    assert names["ReluBackward0"] == 4
    assert names["MaxPool2DWithIndicesBackward0"] == 2
    assert names["AccumulateGrad"] == 10
    conv1w = next(n for n in ag.nodes if n.param == "conv1.weight")
    assert conv1w.shape == [6, 1, 5, 5] and conv1w.layer == "conv1" and conv1w.label == "conv1.weight [6, 1, 5, 5]"
    # The tutorial's printout.
    assert [c.name for c in ag.chain] == ["MseLossBackward0", "AddmmBackward0", "AccumulateGrad"]
    assert ag.chain[2].expression == "loss.grad_fn.next_functions[0][0].next_functions[0][0]"


def test_layer_mapping_lenet() -> None:
    ag = autograd_graph(load_preset("lenet-tutorial").graph)
    by_layer = {layer: Counter(ag.nodes[i].name for i in ag.nodes_of_layer(layer)) for layer in ag.layers()}
    assert by_layer["conv1"] == Counter({"ConvolutionBackward0": 1, "AccumulateGrad": 2})
    assert by_layer["fc1"] == Counter({"AddmmBackward0": 1, "TBackward0": 1, "AccumulateGrad": 2})
    assert by_layer["pool1"] == Counter({"MaxPool2DWithIndicesBackward0": 1})
    for r in ("relu1", "relu2", "relu3", "relu4"):
        assert by_layer[r] == Counter({"ReluBackward0": 1})
    assert by_layer["flatten"] == Counter({"ViewBackward0": 1})
    assert [ag.nodes[i].name for i in ag.nodes_of_layer(None)] == ["MseLossBackward0"]
    assert "input" not in by_layer
    # Every backward node except the loss is mapped.
    assert all(n.layer is not None for n in ag.nodes[1:])


def test_layer_mapping_follows_the_real_tensors_in_branches() -> None:
    """Each backward node's layer is checked against the grad_fn of that layer's own output tensor."""
    graph = chain_graph()
    torch.manual_seed(1)
    model, _ = build_model(graph)
    x = torch.randn(2, 2, 8, 8)
    ag = autograd_graph(graph, model, x)
    names = Counter(n.name for n in ag.nodes)
    assert names["AddBackward0"] == 2  # a + b + c is two additions, both in sum3
    assert [ag.nodes[i].name for i in ag.nodes_of_layer("sum3")] == ["AddBackward0", "AddBackward0"]
    assert [ag.nodes[i].name for i in ag.nodes_of_layer("cat")] == ["CatBackward0"]
    assert Counter(ag.nodes[i].name for i in ag.nodes_of_layer("mix")) == Counter(
        {"ConvolutionBackward0": 1, "AccumulateGrad": 1})
    # The output grad_fn of every layer maps to that layer.
    outs = record_outputs(graph, model, x)
    loss = F.mse_loss(outs["fc"], torch.randn_like(outs["fc"]))
    from netbuilder.core.inspect.autograd import _bfs

    _, index, _, _ = _bfs(loss.grad_fn)
    for nid, t in outs.items():
        if t.grad_fn is not None:
            assert ag.nodes[index[t.grad_fn]].layer == nid


def test_resnet_mapping_and_skip_edge() -> None:
    ag = autograd_graph(load_preset("resnet-tiny").graph)
    add = ag.nodes_of_layer("add1")
    assert [ag.nodes[i].name for i in add] == ["AddBackward0"]
    kids = {ag.nodes[k].layer for k in ag.children(add[0])}
    assert kids == {"bn2", "relu0"}  # the residual join has the main branch and the shortcut
    assert Counter(ag.nodes[i].name for i in ag.nodes_of_layer("bn1")) == Counter(
        {"NativeBatchNormBackward0": 1, "AccumulateGrad": 2})
    assert [ag.nodes[i].name for i in ag.nodes_of_layer("gap")] == ["MeanBackward1"]


def test_model_left_untouched() -> None:
    graph = load_preset("resnet-tiny").graph
    model, _ = build_model(graph)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    autograd_graph(graph, model, torch.randn(4, 1, 28, 28) * 3 + 1)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())


def test_cross_entropy_loss_nodes_are_the_loss() -> None:
    ag = autograd_graph(load_preset("lenet5-mnist").graph, loss="cross-entropy", batch_size=4)
    loss_names = [ag.nodes[i].name for i in ag.nodes_of_layer(None)]
    assert loss_names == ["NllLossBackward0", "LogSoftmaxBackward0"]
    assert ag.loss_name == "cross-entropy" and ag.loss_value > 0


def test_batchnorm1d_with_batch_of_one_still_works() -> None:
    g = Graph()
    g.add_node("Input", "input", {"shape": [5]})
    g.add_node("Linear", "fc", {"out_features": 4})
    g.add_node("BatchNorm1d", "bn")
    for s, d in [("input", "fc"), ("fc", "bn")]:
        g.connect(s, d)
    ag = autograd_graph(g)
    assert {n.layer for n in ag.nodes} == {None, "fc", "bn"}


def test_invalid_graph_and_bad_batch() -> None:
    g = Graph()
    g.add_node("Input", "input", {"shape": [1, 28, 28]})
    g.add_node("Linear", "fc", {"out_features": 4})
    g.connect("input", "fc")
    with pytest.raises(AutogradError, match="Flatten"):
        autograd_graph(g)
    with pytest.raises(AutogradError, match="Input expects"):
        autograd_graph(load_preset("lenet-tutorial").graph, batch=torch.zeros(1, 1, 28, 28))


def test_json_dot_and_layout() -> None:
    ag = autograd_graph(load_preset("lenet-tutorial").graph)
    data = json.loads(json.dumps(ag.to_json()))
    assert set(data) == {"nodes", "edges"}
    assert data["nodes"][0] == {"id": 0, "name": "MseLossBackward0"}
    acc = [n for n in data["nodes"] if n["name"] == "AccumulateGrad"]
    assert all(set(n) == {"id", "name", "param", "shape", "layer"} for n in acc)
    assert all(len(e) == 2 for e in data["edges"]) and len(data["edges"]) == len(ag.edges)

    dot = ag.to_dot("t")
    assert dot.startswith("digraph autograd {")
    assert "conv1.weight" in dot and "[6, 1, 5, 5]" in dot
    assert 'label="conv1 (Conv2d)"' in dot and "cluster_loss" in dot
    assert dot.count(" -> ") == len(ag.edges)

    pos = layered_layout(ag)
    assert set(pos) == {n.id for n in ag.nodes}
    assert len(set(pos.values())) == len(pos)
    for a, b in ag.edges:
        assert pos[b][1] > pos[a][1]  # every edge points down: loss on top, parameters below


def test_main_path_expressions_evaluate_to_the_named_nodes() -> None:
    graph = load_preset("resnet-tiny").graph
    torch.manual_seed(0)
    model, _ = build_model(graph)
    x = torch.randn(1, 1, 28, 28)
    outs = record_outputs(graph, model, x)
    loss = F.mse_loss(outs["fc"], torch.zeros(1, 10))
    from netbuilder.core.inspect.autograd import walk

    ag = walk(loss)
    path = main_path(ag)
    assert path[-1].name == "AccumulateGrad" and len(path) > 10
    for entry in [*path, *ag.chain]:
        fn = eval(entry.expression, {"loss": loss})  # the expressions are what a learner would type
        assert type(fn).__name__ == entry.name


# --- CLI --------------------------------------------------------------------------------------

LENET = str(presets_dir() / "lenet-tutorial.json")


def test_cli_json_and_dot(tmp_path: Any, capsys: Any) -> None:
    out = tmp_path / "g.json"
    assert main(["autograd", LENET, "-o", str(out), "--chain"]) == 0
    data = json.loads(out.read_text())
    assert len(data["nodes"]) == 26 and len(data["edges"]) == 25
    assert "loss.grad_fn.next_functions[0][0]  # AddmmBackward0" in capsys.readouterr().out
    dot = tmp_path / "g.dot"
    assert main(["autograd", LENET, "-o", str(dot)]) == 0
    assert dot.read_text().startswith("digraph")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_cli_renders_svg_and_png(tmp_path: Any) -> None:
    svg, png = tmp_path / "g.svg", tmp_path / "g.png"
    assert main(["autograd", LENET, "-o", str(svg)]) == 0
    assert "<svg" in svg.read_text() and "conv1.weight" in svg.read_text()
    assert main(["autograd", LENET, "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_without_graphviz_says_how_to_install(tmp_path: Any, monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setattr(autograd_cli.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="apt install graphviz"):
        autograd_cli.render("digraph {}", tmp_path / "x.svg")
    assert main(["autograd", LENET, "-o", str(tmp_path / "g.png")]) == 1
    err = capsys.readouterr().err
    assert "Graphviz" in err and "brew install graphviz" in err and ".json" in err
    assert not (tmp_path / "g.png").exists()
    # DOT and JSON need no Graphviz.
    assert main(["autograd", LENET, "-o", str(tmp_path / "g.dot")]) == 0


def test_cli_errors(tmp_path: Any, capsys: Any) -> None:
    assert main(["autograd", LENET, "-o", str(tmp_path / "g.txt")]) == 1
    assert "extension" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    g = load_preset("lenet-tutorial")
    from netbuilder.core.model.project import save_project

    g.graph.set_params("fc1", {"in_features": 256})
    save_project(bad, g.graph)
    assert main(["autograd", str(bad), "-o", str(tmp_path / "g.json")]) == 1
    assert "in_features" in capsys.readouterr().err


def test_cli_with_a_real_batch(tmp_path: Any, capsys: Any) -> None:
    out = tmp_path / "g.json"
    assert main(["autograd", LENET, "-o", str(out), "--input", "sample", "--batch-size", "4"]) == 1
    assert "--fit-input pad" in capsys.readouterr().err  # 28×28 sample images, 32×32 Input
    assert main(["autograd", LENET, "-o", str(out), "--input", "sample", "--batch-size", "4",
                 "--fit-input", "pad"]) == 0
    data = json.loads(out.read_text())
    assert [n["name"] for n in data["nodes"][:2]] == ["NllLossBackward0", "LogSoftmaxBackward0"]
    assert "layer" not in data["nodes"][0] and data["nodes"][2]["layer"] == "fc3"


def test_cli_with_checkpoint_weights(tmp_path: Any, capsys: Any) -> None:
    checkpoint = pytest.importorskip("netbuilder.core.train.checkpoint")
    graph = load_preset("lenet-tutorial").graph
    model, _ = build_model(graph)
    path = tmp_path / "run.ckpt"
    checkpoint.save_checkpoint(path, graph=graph, state_dict=model.state_dict(), optimizer_state={}, rng={},
                               epoch=1, global_step=1, history={}, config={})
    assert main(["autograd", LENET, "-o", str(tmp_path / "g.json"), "--checkpoint", str(path)]) == 0
    other, _ = build_model(load_preset("mlp-mnist").graph)
    checkpoint.save_checkpoint(path, graph=graph, state_dict=other.state_dict(), optimizer_state={}, rng={},
                               epoch=1, global_step=1, history={}, config={})
    assert main(["autograd", LENET, "-o", str(tmp_path / "g.json"), "--checkpoint", str(path)]) == 1
    assert "does not fit this network" in capsys.readouterr().err


def test_global_rng_is_left_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    autograd_graph(load_preset("lenet-tutorial").graph, seed=5)
    assert torch.equal(torch.rand(3), expected)
    a = autograd_graph(load_preset("lenet-tutorial").graph, seed=5)
    b = autograd_graph(load_preset("lenet-tutorial").graph, seed=5)
    assert a.loss_value == b.loss_value  # seeded: the same weights, input and target
