"""Gradient health: real gradients on real MNIST images (the bundled sample)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from netbuilder.core.inspect.health import (
    HealthMonitor,
    check_model,
    dead_relu_report,
    grad_norms,
    is_exploding,
    is_vanishing,
    layer_norms,
)
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.project import load_preset
from netbuilder.core.train.data import load_dataset, prepare_images
from netbuilder.core.train.events import GradStatsEvent
from torch import nn

from tests._graphs import sigmoid_mlp

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    ds = load_dataset("sample")
    return prepare_images(ds.train_x[:64], ds, (1, 28, 28), "none"), ds.train_y[:64]




def train_events(graph: Graph, batch: tuple[torch.Tensor, torch.Tensor], steps: int, lr: float = 0.01,
                 scale: float = 1.0) -> list[GradStatsEvent]:
    """Real SGD steps; one GradStatsEvent per step built as the trainer does (names, layers, norms)."""
    torch.manual_seed(0)
    model, code = build_model(graph)
    if scale != 1.0:
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n.endswith("weight"):
                    p.mul_(scale)
    owner = {a: nid for nid, a in code.attr_names.items()}
    x, y = batch
    events = []
    for step in range(1, steps + 1):
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        norms = grad_norms(model)
        names = list(norms)
        events.append(GradStatsEvent(step, names, [owner[n.rsplit(".", 1)[0]] for n in names],
                                     [norms[n] for n in names], [0.0] * len(names), [0.0] * len(names)))
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
    return events


def test_grad_norms_equal_p_grad_norm(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    torch.manual_seed(0)
    model, _ = build_model(load_preset("lenet5-mnist").graph)
    F.cross_entropy(model(batch[0]), batch[1]).backward()
    norms = grad_norms(model)
    assert list(norms) == [n for n, _ in model.named_parameters()]
    for n, p in model.named_parameters():
        assert p.grad is not None
        assert norms[n] == p.grad.norm().item()
        assert norms[n] > 0


def test_vanishing_fires_on_a_deep_sigmoid_mlp(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    mon = HealthMonitor(k=3)
    found = [w for e in train_events(sigmoid_mlp(), batch, 4) for w in mon.update(e)]
    kinds = {(w.kind, w.layer) for w in found}
    assert ("vanishing", "fc1") in kinds
    assert all(w.kind == "vanishing" for w in found)
    w = next(w for w in found if w.layer == "fc1")
    assert w.step == 3  # after K = 3 consecutive checks, not before
    assert "'fc1'" in w.message and "1e-07" in w.message
    assert w.value < 1e-7 and w.params == ["fc1.weight", "fc1.bias"]
    # The last layers learn fine.
    assert ("vanishing", "fc10") not in kinds and ("vanishing", "fc9") not in kinds
    assert mon.active["fc1"] == {"vanishing"}


def test_vanishing_does_not_fire_on_lenet5(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    mon = HealthMonitor(k=3)
    found = [w for e in train_events(load_preset("lenet5-mnist").graph, batch, 4) for w in mon.update(e)]
    assert found == []


def test_exploding_fires_when_weights_are_scaled_up(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    graph = load_preset("lenet5-mnist").graph
    normal = [w for e in train_events(graph, batch, 1) for w in HealthMonitor().update(e)]
    assert normal == []
    mon = HealthMonitor()
    found = [w for e in train_events(graph, batch, 2, scale=10.0) for w in mon.update(e)]
    assert found and all(w.kind == "exploding" for w in found)
    layers = {w.layer for w in found}
    assert "conv1" in layers
    w = next(w for w in found if w.layer == "conv1")
    assert "'conv1'" in w.message and ("not finite" in w.message or w.value > 1e3)


def test_monitor_reports_once_and_again_after_recovery() -> None:
    mon = HealthMonitor(k=2)

    def ev(step: int, norm: float) -> GradStatsEvent:
        return GradStatsEvent(step, ["a.weight", "a.bias"], ["a", "a"], [norm, 0.0], [1.0, 1.0], [0.0, 0.0])

    assert mon.update(ev(1, 1e-9)) == []  # one low check is not yet K
    assert [w.kind for w in mon.update(ev(2, 1e-9))] == ["vanishing"]
    assert mon.update(ev(3, 1e-9)) == []  # still vanishing: no repeat
    assert mon.update(ev(4, 0.5)) == [] and mon.active["a"] == set()
    assert mon.update(ev(5, 1e-9)) == []
    assert [w.kind for w in mon.update(ev(6, 1e-9))] == ["vanishing"]
    nan = mon.update(ev(7, float("nan")))
    assert [w.kind for w in nan] == ["exploding"] and "not finite" in nan[0].message
    assert nan[0].to_event().node == "a"
    assert mon.update(ev(8, math.inf)) == []
    assert [w.kind for w in mon.update(ev(9, 5e3))] == []  # still exploding (active), no repeat
    mon.reset()
    assert [w.kind for w in mon.update(ev(10, 5e3))] == ["exploding"]


def test_pure_checks() -> None:
    assert is_vanishing([1.0, 1e-8, 1e-8, 1e-8], k=3)
    assert not is_vanishing([1e-8, 1e-8], k=3)
    assert not is_vanishing([1e-8, 1.0, 1e-8], k=3)
    assert not is_vanishing([1e-8, math.nan, 1e-8], k=3)
    assert is_exploding(1e4) and is_exploding(math.nan) and is_exploding(-math.inf) and not is_exploding(999.0)
    norms = layer_norms(["a.w", "a.b", "b.w"], ["a", "a", "b"], [3.0, 4.0, 1.0])
    assert norms == {"a": 5.0, "b": 1.0}


def test_check_model_one_shot(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    torch.manual_seed(0)
    model, _ = build_model(sigmoid_mlp())
    F.cross_entropy(model(batch[0]), batch[1]).backward()
    found = check_model(model)
    assert "fc1" in {w.layer for w in found if w.kind == "vanishing"}


def test_dead_relu_fires_when_biases_are_very_negative(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    graph = load_preset("lenet5-mnist").graph
    torch.manual_seed(0)
    model, _ = build_model(graph)
    healthy = dead_relu_report(model, batch[0], graph=graph)
    assert [s.node for s in healthy.stats] == ["relu1", "relu2", "relu3", "relu4"]
    assert healthy.warnings == []
    assert all(0.0 < s.zero_fraction < 0.9 for s in healthy.stats)
    with torch.no_grad():
        model.conv2.bias.fill_(-100.0)
    report = dead_relu_report(model, batch[0], graph=graph)
    assert [w.layer for w in report.warnings] == ["relu2"]
    s = next(s for s in report.stats if s.node == "relu2")
    assert s.zero_fraction == 1.0 and s.dead_units == s.units == 16 and s.shape == (16, 10, 10)
    assert "'relu2'" in report.warnings[0].message and "100%" in report.warnings[0].message
    assert model.training  # restored


def test_dead_relu_from_a_graph_and_from_a_plain_model(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    report = dead_relu_report(load_preset("mlp-mnist").graph, batch[0])
    assert [s.node for s in report.stats] == ["relu1", "relu2"]
    assert [s.units for s in report.stats] == [256, 128]
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    with torch.no_grad():
        net[1].bias.fill_(-50.0)
    plain = dead_relu_report(net, batch[0])
    assert [(s.node, s.dead) for s in plain.stats] == [("2", True)]
    assert [w.layer for w in plain.warnings] == ["2"]
