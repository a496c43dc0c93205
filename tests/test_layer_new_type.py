"""Adding a layer type is one spec: a throwaway ReLU6, registered for the test only, infers,
generates code, imports back (module and functional forms), explains and is health-checked with
no other change anywhere (the claim of docs/adding-a-layer.md). ReLU6 is built in now, so the test
takes the built-in one out first and puts the registry back exactly as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from netbuilder.core.inspect.health import dead_relu_report
from netbuilder.core.interop.importer import import_model, supported_operations
from netbuilder.core.learn.explain import explain
from netbuilder.core.model import shapes
from netbuilder.core.model.codegen import generate
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import infer
from netbuilder.core.model.layers import REGISTRY, ImportAlias, LayerSpec, by_category, registered, unregister
from netbuilder.core.model.summary import summary_table

RELU6 = LayerSpec(
    "ReLU6", "Activation",
    "ReLU6(x) = min(max(0, x), 6): a ReLU capped at 6, as in MobileNet. No parameters.",
    (), shapes.same, lambda p: "", functional="F.relu6", torch_class="ReLU6", zeroes_negatives=True,
    aliases=(ImportAlias(("F.relu6",)),),
)

FILE = '''
import torch.nn as nn
import torch.nn.functional as F


class Small(nn.Module):
    input_shape = (16,)

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 8)
        self.act = nn.ReLU6()

    def forward(self, x):
        return F.relu6(self.act(self.fc(x)))
'''


@pytest.fixture(autouse=True)
def _without_builtin_relu6():
    saved = dict(REGISTRY)
    if "ReLU6" in REGISTRY:
        unregister("ReLU6")
    yield
    REGISTRY.clear()
    REGISTRY.update(saved)


def net() -> Graph:
    g = Graph("Net")
    g.add_node("Input", "input", {"shape": [16]})
    g.add_node("Linear", "fc", {"out_features": 8})
    g.add_node("ReLU6", "relu6")
    g.connect("input", "fc")
    g.connect("fc", "relu6")
    return g


def test_one_spec_is_all_a_new_layer_needs(tmp_path: Path) -> None:
    before = list(REGISTRY)
    with registered(RELU6):
        assert RELU6 in by_category()["Activation"]  # the palette lists it
        g = net()
        result = infer(g)
        assert result.ok and result.nodes["relu6"].output_shape == (8,)
        code = generate(g, result)
        assert "x = F.relu6(x)  # N×8" in code.source

        path = tmp_path / "exported.py"
        path.write_text(code.source)
        back = import_model(path)
        assert generate(back.graph).source == code.source
        assert summary_table(back.graph) == summary_table(g)

        (tmp_path / "small.py").write_text(FILE)
        small = import_model(tmp_path / "small.py")
        assert [n.type for n in small.graph.nodes] == ["Input", "Linear", "ReLU6", "ReLU6"]
        assert small.max_abs_diff is not None and small.max_abs_diff < 1e-6
        assert "nn.ReLU6" in supported_operations() and "relu6" in supported_operations()

        entry = explain(g).entry("relu6")
        assert entry.text.startswith("relu6 — ReLU6: ReLU6(x) = min(max(0, x), 6):")
        assert "shape unchanged: N×8" in entry.text and not entry.notes

        report = dead_relu_report(g, torch.randn(4, 16))
        assert [s.node for s in report.stats] == ["relu6"]
    assert list(REGISTRY) == before
