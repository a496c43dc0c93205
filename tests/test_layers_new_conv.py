"""The layer types of MobileNet, EfficientNet, UNet and text CNNs: the padding check of point 7
against real torch, depthwise convolution, counts of the transposed convolution, and imports of
real models written with their module and functional forms (outputs equal)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn
from netbuilder.core.interop.importer import import_model
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import infer
from netbuilder.core.model.layers import get_spec


def _one(shape: list[int], type_name: str, params: dict[str, object]) -> Graph:
    g = Graph()
    g.add_node("Input", "input", {"shape": shape})
    g.add_node(type_name, "n", params)
    g.connect("input", "n")
    return g


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("mode", ["reflect", "circular", "replicate", "zeros"])
def test_same_padding_with_a_border_mode_is_refused_where_torch_refuses(mode: str) -> None:
    """padding='same' pads d·(k − 1) in all; reflect needs less than the map per side, circular at most it."""
    for k in range(1, 8):
        for d in (1, 2):
            for n in range(1, 6):
                for conv, shape in ((nn.Conv2d, [1, n, n + 1]), (nn.Conv1d, [1, n])):
                    layer = conv(1, 1, k, padding="same", padding_mode=mode, dilation=d)
                    try:
                        layer(torch.zeros(1, *shape))
                        torch_ok = True
                    except RuntimeError:
                        torch_ok = False
                    r = infer(_one(shape, conv.__name__, {"out_channels": 1, "kernel_size": k, "padding": "same",
                                                          "padding_mode": mode, "dilation": d}))
                    assert r.ok == torch_ok, (conv.__name__, mode, k, d, shape, r.error_text())
                    if not torch_ok:
                        text = r.error_text()
                        assert f"padding_mode='{mode}'" in text and "use padding_mode='zeros'" in text


def test_depthwise_conv_counts_like_torch() -> None:
    """MobileNet's depthwise 3×3 (groups = channels) then pointwise 1×1."""
    g = Graph()
    g.add_node("Input", "input", {"shape": [32, 14, 14]})
    g.add_node("Conv2d", "dw", {"out_channels": 32, "kernel_size": 3, "padding": 1, "groups": 32, "bias": False})
    g.add_node("ReLU6", "act")
    g.add_node("Conv2d", "pw", {"out_channels": 64, "kernel_size": 1, "bias": False})
    g.connect("input", "dw")
    g.connect("dw", "act")
    g.connect("act", "pw")
    r = infer(g)
    assert r.ok, r.error_text()
    assert r.nodes["dw"].params == nn.Conv2d(32, 32, 3, groups=32, bias=False).weight.numel() == 32 * 9
    assert r.nodes["dw"].macs == 32 * 14 * 14 * 9 and r.nodes["pw"].macs == 64 * 14 * 14 * 32
    bad = infer(_one([32, 14, 14], "Conv2d", {"out_channels": 48, "kernel_size": 3, "groups": 32}))
    assert "must divide in_channels=32 and out_channels=48" in bad.error_text()


def test_conv_transpose_counts() -> None:
    spec = get_spec("ConvTranspose2d")
    r = infer(_one([8, 5, 7], "ConvTranspose2d", {"out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1,
                                                  "output_padding": 1, "groups": 2}))
    assert r.ok, r.error_text()
    info = r.nodes["n"]
    real = nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert info.output_shape == tuple(real(torch.zeros(1, 8, 5, 7)).shape[1:]) == (6, 10, 14)
    assert info.params == sum(t.numel() for t in real.parameters())
    assert info.macs == 5 * 7 * 8 * (6 // 2) * 9  # fvcore: input pixels × the weights each is multiplied by
    assert spec.has_parameters


IMAGE_MODEL = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Image(nn.Module):
    input_shape = (3, 16, 16)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.act = nn.ReLU6()
        self.hs = nn.Hardswish()
        self.prelu = nn.PReLU(8, init=0.1)
        self.gn = nn.GroupNorm(4, 8)
        self.inorm = nn.InstanceNorm2d(8, affine=True)
        self.drop = nn.Dropout2d(0.1)
        self.down = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.resize = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.elu = nn.ELU(alpha=0.5)
        self.mish = nn.Mish()
        self.ln = nn.LayerNorm(8)
        self.gmp = nn.AdaptiveMaxPool2d(1)

    def forward(self, x):
        x = self.act(self.dw(self.conv(x)))
        x = F.hardsigmoid(self.hs(x))
        x = self.drop(self.inorm(self.gn(self.prelu(x))))
        x = self.up(F.silu(self.down(x)))
        x = self.resize(x)
        x = F.interpolate(x, size=(8, 8))
        x = F.softplus(self.mish(self.elu(x)), beta=2.0)
        x = self.ln(F.interpolate(x, scale_factor=1.0))
        return self.gmp(x)
'''

SIGNAL_MODEL = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Signal(nn.Module):
    input_shape = (4, 32)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 8, 5, padding="same", padding_mode="reflect")
        self.pool = nn.MaxPool1d(2)
        self.avg = nn.AvgPool1d(3, stride=1, padding=1, count_include_pad=False)
        self.gap = nn.AdaptiveAvgPool1d(4)
        self.gmp = nn.AdaptiveMaxPool1d(1)

    def forward(self, x):
        x = self.avg(self.pool(F.relu6(self.conv(x))))
        x = F.max_pool1d(x, 2, ceil_mode=True)
        x = F.layer_norm(self.gap(x), (4,))
        return self.gmp(F.group_norm(x, 2))
'''


@pytest.mark.parametrize("source, types", [
    (IMAGE_MODEL, ["Conv2d", "Conv2d", "ReLU6", "Hardswish", "Hardsigmoid", "PReLU", "GroupNorm", "InstanceNorm2d",
                   "Dropout2d", "Conv2d", "SiLU", "ConvTranspose2d", "Upsample", "Upsample", "ELU", "Mish", "Softplus",
                   "Upsample", "LayerNorm", "AdaptiveMaxPool2d"]),
    (SIGNAL_MODEL, ["Conv1d", "ReLU6", "MaxPool1d", "AvgPool1d", "MaxPool1d", "AdaptiveAvgPool1d", "LayerNorm",
                    "GroupNorm", "AdaptiveMaxPool1d"]),
])
def test_real_models_import_with_equal_outputs(source: str, types: list[str], tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text(source)
    imported = import_model(path)
    assert [n.type for n in imported.graph.nodes][1:] == types
    assert imported.max_abs_diff is not None and imported.max_abs_diff < 1e-5
    namespace: dict[str, object] = {}
    exec(compile(source, str(path), "exec"), namespace)
    original = next(v for k, v in namespace.items() if k in ("Image", "Signal"))
    params = sum(t.numel() for t in original().parameters())  # type: ignore[operator]
    assert infer(imported.graph).total_params == params
