"""Kernels and feature maps with real shapes, fresh, after training, and from a checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from netbuilder.core.inspect.model_view import (
    InspectError,
    feature_maps,
    grid_shape,
    kernel_grids,
    model_from_checkpoint,
    model_from_state_dict,
)
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.project import load_preset
from netbuilder.core.train.data import load_dataset, prepare_images

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ds = load_dataset("sample")
    x = prepare_images(ds.train_x[:256], ds, (1, 28, 28), "none")
    image = prepare_images(ds.test_x[:1], ds, (1, 28, 28), "none")[0]
    return x, ds.train_y[:256], image


def trained_lenet(x: torch.Tensor, y: torch.Tensor) -> tuple[Graph, torch.nn.Module]:
    graph = load_preset("lenet5-mnist").graph
    torch.manual_seed(0)
    model, _ = build_model(graph)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for i in range(0, 256, 32):
        opt.zero_grad()
        F.cross_entropy(model(x[i:i + 32]), y[i:i + 32]).backward()
        opt.step()
    return graph, model


def test_grid_shape() -> None:
    assert grid_shape(6) == (2, 3) and grid_shape(16) == (4, 4) and grid_shape(1) == (1, 1)
    assert grid_shape(0) == (0, 0) and grid_shape(10, max_cols=3) == (4, 3)


def test_lenet5_kernel_grids() -> None:
    graph = load_preset("lenet5-mnist").graph
    torch.manual_seed(0)
    model, _ = build_model(graph)
    grids = kernel_grids(graph, model)
    assert [(g.node, g.param, g.shape) for g in grids] == [
        ("conv1", "conv1.weight", (6, 1, 5, 5)), ("conv2", "conv2.weight", (16, 6, 5, 5))]
    c1, c2 = grids
    assert c1.layout() == (2, 3) and len(c1.positions()) == 6  # 6 tiles of 5×5
    assert c1.tiles.shape == (6, 1, 5, 5) and c1.tiles.dtype == np.float32
    w = model.conv1.weight.detach().numpy()
    m = np.abs(w).max()
    np.testing.assert_allclose(c1.tiles, w / (2 * m) + 0.5, rtol=1e-6)
    assert c1.tiles.min() >= 0 and c1.tiles.max() <= 1 and (c1.tiles.min() == 0 or c1.tiles.max() == 1)
    assert c1.raw_min == pytest.approx(float(w.min())) and c1.rgb is None
    assert c1.mosaic().shape == (2 * 6 - 1, 3 * 6 - 1)
    assert c2.layout() == (16, 6) and c2.mosaic(gap=2).shape == (16 * 7 - 2, 6 * 7 - 2)
    np.testing.assert_array_equal(c1.mosaic()[6:11, 0:5], c1.tiles[3, 0])  # filter 3 is row 1, column 0
    tiled = kernel_grids(graph, model, "tile")[0]
    for t in tiled.tiles.reshape(6, -1):
        assert t.min() == 0.0 and t.max() == 1.0
    with pytest.raises(InspectError):
        kernel_grids(graph, model, "nope")


def test_rgb_filters() -> None:
    g = Graph()
    g.add_node("Input", "input", {"shape": [3, 8, 8]})
    g.add_node("Conv2d", "c", {"out_channels": 5, "kernel_size": 3})
    g.connect("input", "c")
    model, _ = build_model(g)
    (grid,) = kernel_grids(g, model)
    assert grid.rgb is not None and grid.rgb.shape == (5, 3, 3, 3)
    np.testing.assert_allclose(grid.rgb[2, 1, 0], grid.tiles[2, :, 1, 0])


def test_feature_maps_of_a_test_image(data: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> None:
    graph = load_preset("lenet5-mnist").graph
    torch.manual_seed(0)
    model, _ = build_model(graph)
    fm = feature_maps(graph, model, data[2])
    shapes = {f.node: f.shape for f in fm}
    assert shapes == {
        "input": (1, 28, 28), "conv1": (6, 28, 28), "relu1": (6, 28, 28), "pool1": (6, 14, 14),
        "conv2": (16, 10, 10), "relu2": (16, 10, 10), "pool2": (16, 5, 5), "flatten": (400,),
        "fc1": (120,), "relu3": (120,), "fc2": (84,), "relu4": (84,), "fc3": (10,),
    }
    by = {f.node: f for f in fm}
    with torch.no_grad():
        c1 = model.conv1(data[2][None])[0].numpy()
        p1 = F.max_pool2d(F.relu(model.conv1(data[2][None])), 2)[0].numpy()
    np.testing.assert_allclose(by["conv1"].raw, c1, rtol=1e-6)
    np.testing.assert_allclose(by["pool1"].raw, p1, rtol=1e-6)
    conv1 = by["conv1"]
    assert conv1.is_image and conv1.layout() == (2, 3) and conv1.maps.shape == (6, 28, 28)
    for ch in conv1.maps:
        assert ch.min() == 0.0 and ch.max() == pytest.approx(1.0)
    assert by["relu1"].raw.min() >= 0
    assert not by["fc3"].is_image and by["fc3"].mosaic().shape == (1, 10)
    assert by["pool2"].mosaic().shape == (4 * 6 - 1, 4 * 6 - 1)
    node_norm = feature_maps(graph, model, data[2][None], normalisation="node")
    assert node_norm[1].maps.max() == pytest.approx(1.0) and node_norm[1].maps.min() == 0.0
    with pytest.raises(InspectError, match="Input expects"):
        feature_maps(graph, model, torch.zeros(1, 32, 32))


def test_after_training_and_from_a_checkpoint(data: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                                              tmp_path: Path) -> None:
    graph, model = trained_lenet(data[0], data[1])
    fresh_graph = load_preset("lenet5-mnist").graph
    torch.manual_seed(0)
    fresh, _ = build_model(fresh_graph)
    trained_grid = kernel_grids(graph, model)[0]
    assert not np.allclose(trained_grid.tiles, kernel_grids(fresh_graph, fresh)[0].tiles)
    loaded = model_from_state_dict(graph, model.state_dict())
    np.testing.assert_array_equal(kernel_grids(graph, loaded)[0].tiles, trained_grid.tiles)
    a = feature_maps(graph, model, data[2])
    b = feature_maps(graph, loaded, data[2])
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa.raw, fb.raw)

    checkpoint = pytest.importorskip("netbuilder.core.train.checkpoint")
    path = tmp_path / "run.ckpt"
    checkpoint.save_checkpoint(path, graph=graph, state_dict=model.state_dict(), optimizer_state={}, rng={},
                               epoch=1, global_step=8, history={}, config={})
    g2, m2, ckpt = model_from_checkpoint(path)
    assert [n.id for n in g2.nodes] == [n.id for n in graph.nodes] and ckpt.global_step == 8
    np.testing.assert_array_equal(kernel_grids(g2, m2)[1].tiles, kernel_grids(graph, model)[1].tiles)
    np.testing.assert_array_equal(feature_maps(g2, m2, data[2])[4].raw, a[4].raw)


def test_weights_of_another_network_are_refused() -> None:
    lenet = load_preset("lenet5-mnist").graph
    other, _ = build_model(load_preset("mlp-mnist").graph)
    with pytest.raises(InspectError, match="do not fit") as e:
        model_from_state_dict(lenet, other.state_dict())
    assert "missing conv1.weight" in str(e.value)
    tutorial, _ = build_model(load_preset("lenet-tutorial").graph)
    graph = load_preset("lenet5-mnist").graph
    graph.set_params("fc1", {"out_features": 100})
    graph.set_params("fc2", {"in_features": "auto"})
    with pytest.raises(InspectError, match=r"wrong shape fc1\.weight"):
        model_from_state_dict(graph, tutorial.state_dict())
