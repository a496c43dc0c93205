"""The presets that show the new layer language: MobileNet-style blocks (depthwise conv, ReLU6,
squeeze-excitation through Mul), a small UNet (ConvTranspose2d, Upsample, skip Concat) and a tiny
Vision Transformer (patchify conv, class token and position embedding as Parameter nodes,
TransformerEncoderLayer). Each loads, infers, exports Python that compiles and runs with the right
output shape; the trainable ones learn on the bundled sample."""

from __future__ import annotations

import importlib.util
import math
from collections import Counter
from pathlib import Path

import pytest
import torch
from netbuilder.core.inspect.autograd import autograd_graph, record_outputs
from netbuilder.core.interop.exporter import export_python
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.inference import infer
from netbuilder.core.model.project import load_preset
from netbuilder.core.train.data import load_dataset
from netbuilder.core.train.events import FinishedEvent
from netbuilder.core.train.trainer import TrainConfig, Trainer

# preset → (output shape per sample, whether it trains on MNIST)
PRESETS = {
    "mobilenet-block-mnist": ((10,), True),
    "unet-small": ((2, 28, 28), False),
    "vit-tiny-mnist": ((10,), True),
}
TRAINABLE = [name for name, (_, trains) in PRESETS.items() if trains]


@pytest.fixture(autouse=True)
def _one_thread():  # type: ignore[no-untyped-def]
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _types(name: str) -> Counter[str]:
    return Counter(n.type for n in load_preset(name).graph.nodes)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_infers_exports_and_runs(name: str, tmp_path: Path) -> None:
    graph = load_preset(name).graph
    result = infer(graph)
    assert result.ok, result.error_text()
    assert result.output_id is not None
    out_shape, _ = PRESETS[name]
    assert tuple(result.nodes[result.output_id].output_shape or ()) == out_shape
    path = tmp_path / "net.py"
    export_python(graph, path)
    compile(path.read_text(), str(path), "exec")
    spec = importlib.util.spec_from_file_location(f"preset_{name.replace('-', '_')}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.Net().eval()
    with torch.no_grad():
        y = net(torch.randn(3, 1, 28, 28))
    assert tuple(y.shape) == (3, *out_shape)


@pytest.mark.parametrize("name", PRESETS)
def test_inspection_views_run_the_preset(name: str) -> None:
    """The node-by-node run (Weights and activations, Training step) equals the generated forward,
    and the autograd graph maps every parameter to its node."""
    graph = load_preset(name).graph
    torch.manual_seed(0)
    model, _ = build_model(graph)
    model.eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        outs = record_outputs(graph, model, x)
        expected = model(x)
    assert set(outs) == {n.id for n in graph.nodes}
    assert torch.equal(outs[list(outs)[-1]], expected)
    ag = autograd_graph(graph, model, x[:1])
    assert {n.param for n in ag.nodes if n.param} == {p for p, _ in model.named_parameters()}


def test_mobilenet_blocks_use_the_new_language() -> None:
    graph = load_preset("mobilenet-block-mnist").graph
    types = _types("mobilenet-block-mnist")
    assert types["ReLU6"] >= 3 and types["Hardsigmoid"] == types["Mul"] >= 2 and types["Add"] >= 1
    depthwise = [n for n in graph.nodes if n.type == "Conv2d" and n.params.get("groups", 1) > 1]
    assert depthwise and all(n.params["groups"] == n.params["out_channels"] for n in depthwise)
    result = infer(graph)
    for mul in (n for n in graph.nodes if n.type == "Mul"):  # the SE gate scales N×C×H×W by N×C×1×1
        gate, features = sorted((result.edge_shape(e) or () for e in graph.in_edges(mul.id)), key=math.prod)
        assert gate == (features[0], 1, 1) and len(features) == 3


def test_unet_has_both_ups_and_channel_skips() -> None:
    graph = load_preset("unet-small").graph
    types = _types("unet-small")
    assert types["MaxPool2d"] == 2 and types["ConvTranspose2d"] == 1 and types["Upsample"] == 1
    cats = [n for n in graph.nodes if n.type == "Concat"]
    assert len(cats) == 2 and all(n.params["dim"] == 1 for n in cats)
    assert "export only" in graph.name  # no segmentation dataset: the name says so


def test_vit_tokens_class_token_and_position_embedding() -> None:
    graph = load_preset("vit-tiny-mnist").graph
    result = infer(graph)
    by_type: dict[str, list[str]] = {}
    for n in graph.nodes:
        by_type.setdefault(n.type, []).append(n.id)
    assert len(by_type["Parameter"]) == 2 and len(by_type["TransformerEncoderLayer"]) == 2
    (cat,) = by_type["Concat"]
    assert graph.node(cat).params["dim"] == 1 and result.nodes[cat].output_shape == (17, 64)
    (sel,) = by_type["Select"]
    assert (graph.node(sel).params["dim"], graph.node(sel).params["index"]) == (1, 0)
    assert result.nodes[sel].output_shape == (64,)


@pytest.fixture(scope="module")
def sample():  # type: ignore[no-untyped-def]
    return load_dataset("sample")


@pytest.mark.parametrize("name", TRAINABLE)
def test_trainable_preset_learns_on_the_sample(name: str, sample) -> None:  # type: ignore[no-untyped-def]
    project = load_preset(name)
    # the preset's own settings, ~200 steps on the bundled 6,000 digits (94 steps an epoch)
    config = TrainConfig.from_dict({**project.training, "dataset": "sample", "device": "cpu", "epochs": 2,
                                    "stats_every": 0, "histogram_every": 0})
    events = list(Trainer(project.graph, config, sample))
    fin = events[-1]
    assert isinstance(fin, FinishedEvent), fin
    assert len(fin.history["step_loss"]) == 188
    assert fin.test_accuracy >= 0.6  # chance is 0.1
