"""Step-through of the tutorial's training step: each cell does exactly the tutorial's code."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from netbuilder.core.learn.stepthrough import CODE, STATES, StepThroughError, TrainingStep, format_values
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.project import load_preset

torch.set_num_threads(1)

TUTORIAL_LINES = [
    "net.zero_grad()",
    "output = net(input)",
    "loss = criterion(output, target)",
    "loss.backward()",
    "for f in net.parameters(): f.data.sub_(f.grad.data * learning_rate)",
]


def test_the_five_steps_and_their_narrative() -> None:
    ts = TrainingStep(load_preset("lenet-tutorial").graph)
    assert ts.state == "ready" and ts.param == "conv1.bias"
    infos = [ts.step() for _ in range(5)]
    assert [i.state for i in infos] == list(STATES)
    assert [i.number for i in infos] == [1, 2, 3, 4, 5]
    assert [i.code for i in infos] == TUTORIAL_LINES == [CODE[s] for s in STATES]
    for i in infos:
        assert i.title.startswith(f"{i.number}. ") and len(i.narrative) > 60 and i.narrative.endswith(".")
        assert i.param == "conv1.bias" and i.iteration == 1
    zero, fwd, loss, back, upd = infos
    assert "conv1.bias.grad was None" in zero.narrative
    assert "(1, 10)" in fwd.narrative
    assert f"loss = {loss.loss:.4f}" in loss.narrative and "MseLossBackward0" in loss.narrative
    assert "now it is tensor([" in back.narrative
    assert "learning_rate = 0.01" in upd.narrative
    assert ts.state == "update"


def test_grad_is_none_before_the_first_backward_and_has_values_after() -> None:
    ts = TrainingStep(load_preset("lenet-tutorial").graph)
    for _ in range(3):
        info = ts.step()
        assert info.grad_before is None and info.grad_after is None
        assert ts.net.conv1.bias.grad is None
    back = ts.step()
    assert back.watch == "grad" and back.grad_before is None
    assert back.grad_after is not None and back.grad_after.shape == (6,) and back.grad_after.abs().sum() > 0
    assert torch.equal(back.value_before, back.value_after)  # backward does not change the weights


def test_cells_equal_the_tutorial_code_run_directly() -> None:
    graph = load_preset("lenet-tutorial").graph
    torch.manual_seed(0)
    net, _ = build_model(graph)
    reference = copy.deepcopy(net)
    ts = TrainingStep(graph, net, lr=0.05)
    ts.run_all()
    # The tutorial, verbatim, on the copy, with the same input and target.
    input, target, learning_rate = ts.input, ts.target, 0.05
    criterion = torch.nn.MSELoss()
    reference.zero_grad()
    output = reference(input)
    loss = criterion(output, target)
    loss.backward()
    for f in reference.parameters():
        f.data.sub_(f.grad.data * learning_rate)
    for (n, a), (_, b) in zip(net.named_parameters(), reference.named_parameters(), strict=True):
        assert torch.equal(a, b), n
        assert torch.equal(a.grad, b.grad), n
    assert ts.history[2].loss == pytest.approx(loss.item())


def test_update_equals_p_minus_lr_times_grad_exactly() -> None:
    ts = TrainingStep(load_preset("lenet5-mnist").graph, lr=0.1, param="fc2.weight")
    before = {n: p.detach().clone() for n, p in ts.net.named_parameters()}
    for _ in range(4):
        ts.step()
    grads = {n: p.grad.detach().clone() for n, p in ts.net.named_parameters()}
    upd = ts.step()
    assert upd.state == "update" and upd.watch == "value" and upd.param == "fc2.weight"
    for n, p in ts.net.named_parameters():
        assert torch.equal(p.detach(), before[n] - grads[n] * 0.1), n
    assert torch.equal(upd.value_after, before["fc2.weight"] - grads["fc2.weight"] * 0.1)
    assert torch.equal(upd.value_before, before["fc2.weight"])
    assert not torch.equal(upd.value_before, upd.value_after)


def test_canvas_and_autograd_nodes_involved() -> None:
    ts = TrainingStep(load_preset("lenet-tutorial").graph)
    zero, fwd, loss, back, upd = ts.run_all()
    ag = ts.autograd
    assert ag is not None
    assert zero.canvas_nodes == ["conv1", "conv2", "fc1", "fc2", "fc3"] and zero.autograd_nodes == []
    assert fwd.canvas_nodes[0] == "input" and fwd.canvas_nodes[-1] == "fc3"
    assert loss.canvas_nodes == ["fc3"]
    assert back.canvas_nodes[0] == "fc3" and back.canvas_nodes[-1] == "conv1"
    assert [ag.nodes[i].name for i in loss.autograd_nodes] == ["MseLossBackward0"]
    assert sorted(fwd.autograd_nodes + loss.autograd_nodes) == sorted(back.autograd_nodes) == list(range(26))
    assert {ag.nodes[i].name for i in upd.autograd_nodes} == {"AccumulateGrad"} and len(upd.autograd_nodes) == 10
    # Second iteration: zero_grad clears the gradient again, and now names the parameter nodes.
    again = ts.step()
    assert again.state == "zero_grad" and again.iteration == 2 and again.grad_before is not None
    assert again.grad_after is None and ts.net.conv1.bias.grad is None
    assert "is now None." in again.narrative and len(again.autograd_nodes) == 10


def test_cross_entropy_on_a_real_batch_and_parameter_choice() -> None:
    from netbuilder.core.train.data import load_dataset, prepare_images

    ds = load_dataset("sample")
    x = prepare_images(ds.train_x[:8], ds, (1, 28, 28), "none")
    ts = TrainingStep(load_preset("resnet-tiny").graph, input=x, target=ds.train_y[:8], loss="cross-entropy")
    assert ts.param == "stem.bias"
    infos = ts.run_all()
    assert "nn.CrossEntropyLoss()" in infos[2].narrative
    assert infos[2].loss == pytest.approx(F.cross_entropy(ts.output, ds.train_y[:8]).item())
    with pytest.raises(StepThroughError, match=r"stem\.weight"):
        TrainingStep(load_preset("resnet-tiny").graph, param="nope")
    g = Graph()
    g.add_node("Input", "input", {"shape": [4]})
    g.add_node("ReLU", "r")
    g.connect("input", "r")
    with pytest.raises(StepThroughError, match="no parameters"):
        TrainingStep(g)


def test_bias_free_first_layer_watches_its_weight_and_format_values() -> None:
    g = Graph()
    g.add_node("Input", "input", {"shape": [3]})
    g.add_node("Linear", "fc", {"out_features": 2, "bias": False})
    g.connect("input", "fc")
    assert TrainingStep(g).param == "fc.weight"
    assert format_values(None) == "None"
    assert format_values(torch.tensor([1.0, -2.0])) == "tensor([1.0000, -2.0000])"
    assert format_values(torch.arange(10.0), limit=3).endswith("… (10 values)])")
    assert TrainingStep.code_listing(0.5)[1] == "learning_rate = 0.5"
