"""Real networks through the importer: torchvision's models (``weights=None``, nothing is
downloaded) and hand-written sequence, text, UNet and Transformer models.

Each import is checked three ways against the test's own instance of the original: the exported
class has as many parameters, the original's state_dict loads into it (strict; keys renamed from
module paths to node ids), and it computes the same outputs in eval mode. Inputs are small
(32×32 where the model allows it) to keep the file fast.
"""

from __future__ import annotations

import re
import runpy
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn as nn
from netbuilder.core.interop.importer import ImportedModel, ModelImportError, import_model
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import infer
from netbuilder.core.model.layers import REGISTRY


def _missing(*types: str) -> list[str]:
    return [t for t in types if t not in REGISTRY]


def _linear_takes_sequences() -> bool:
    g = Graph("probe")
    g.add_node("Input", "input", {"shape": [5, 8]})
    g.add_node("Linear", "fc", {"in_features": 8, "out_features": 2})
    g.connect("input", "fc")
    return infer(g).ok


def needs(*types: str, linear_on_sequences: bool = False) -> pytest.MarkDecorator:
    """Skip until the layer types (being added in the same issue) are registered."""
    missing = _missing(*types) + ([] if not linear_on_sequences or _linear_takes_sequences()
                                  else ["Linear on N×T×F"])
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)}")


def _write(tmp_path: Path, code: str, name: str = "model.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return path


def _wrapper(tmp_path: Path, expr: str, shape: tuple[int, ...]) -> Path:
    return _write(tmp_path, f"""
        import torch.nn as nn
        import torchvision


        class Wrap(nn.Module):
            input_shape = {shape!r}

            def __init__(self):
                super().__init__()
                self.m = {expr}

            def forward(self, x):
                return self.m(x)
    """)


def _ident(path: str) -> str:
    return re.sub(r"\W", "_", path)


def _renamed(state: dict[str, torch.Tensor], imported: ImportedModel) -> dict[str, torch.Tensor]:
    """The original's state_dict under the exported class's names: a module's path becomes its
    node id (``m.features.0.weight`` → ``m_features_0.weight``; a layer's own submodules keep
    theirs, ``layer1.self_attn.in_proj_weight``), a tensor used directly its own."""
    keys = set(imported.state_dict)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")  # the module path may end anywhere: layer1.self_attn.in_proj_weight
        for name in [_ident(key)] + [f"{_ident('.'.join(parts[:i]))}.{'.'.join(parts[i:])}"
                                     for i in range(len(parts) - 1, 0, -1)]:
            if name in keys:
                out[name] = value
                break
        else:
            raise AssertionError(f"{key} of the original has no counterpart in the import")
    return out


def check_import(path: Path, cls_name: str, x: torch.Tensor, **kwargs: Any) -> ImportedModel:
    """Import ``path``; compare parameters, strict state_dict loading and eval outputs on ``x``."""
    imported = import_model(path, **kwargs)
    assert not imported.notes, imported.notes
    exported, _ = build_model(imported.graph)
    torch.manual_seed(1)
    original: nn.Module = runpy.run_path(str(path))[cls_name]()
    assert sum(p.numel() for p in exported.parameters()) == sum(p.numel() for p in original.parameters())
    exported.load_state_dict(_renamed(original.state_dict(), imported), strict=True)
    exported.eval()
    original.eval()
    with torch.no_grad():
        want, got = original(x), exported(x)
    assert want.shape == got.shape
    assert torch.allclose(want, got, atol=1e-4, rtol=1e-4), float((want - got).abs().max())
    return imported


IMAGE = (3, 32, 32)

TORCHVISION = [
    pytest.param("torchvision.models.resnet18(weights=None)", id="resnet18"),
    pytest.param("torchvision.models.mobilenet_v2(weights=None)", id="mobilenet_v2"),
    pytest.param("torchvision.models.mobilenet_v3_small(weights=None)", id="mobilenet_v3_small"),
    pytest.param("torchvision.models.regnet_y_400mf(weights=None)", id="regnet_y_400mf"),
    pytest.param("torchvision.models.mnasnet0_5(weights=None)", id="mnasnet0_5"),
    pytest.param("torchvision.models.shufflenet_v2_x0_5(weights=None)", id="shufflenet_v2_x0_5"),
    pytest.param("torchvision.models.efficientnet_b0(weights=None)", id="efficientnet_b0",
                 marks=needs("StochasticDepth")),
    pytest.param("torchvision.models.densenet121(weights=None)", id="densenet121", marks=pytest.mark.slow),
    pytest.param("torchvision.models.convnext_tiny(weights=None)", id="convnext_tiny",
                 marks=[pytest.mark.slow, needs("StochasticDepth", linear_on_sequences=True)]),
]


@pytest.mark.parametrize("expr", TORCHVISION)
def test_torchvision_model_imports_exactly(tmp_path: Path, expr: str) -> None:
    check_import(_wrapper(tmp_path, expr, IMAGE), "Wrap", torch.randn(2, *IMAGE))


@pytest.mark.slow
@needs("MultiheadAttention", linear_on_sequences=True)
def test_vit_b_16_imports_with_its_class_token_and_position_embedding(tmp_path: Path) -> None:
    # ViT-B/16 itself (12 layers, 768 wide), on 32×32 images: 2×2 patches and the class token
    path = _wrapper(tmp_path, "torchvision.models.vit_b_16(weights=None, image_size=32)", IMAGE)
    imported = check_import(path, "Wrap", torch.randn(2, *IMAGE))
    params = {n.id: n.params for n in imported.graph.nodes if n.type == "Parameter"}
    assert params["m_class_token"]["shape"] in ((1, 1, 768), [1, 1, 768])
    assert params["m_encoder_pos_embedding"]["shape"] in ((1, 5, 768), [1, 5, 768])
    types = [n.type for n in imported.graph.nodes]
    assert types.count("MultiheadAttention") == 12 and "Expand" not in types  # the expand folds into the token


def test_swin_is_refused_naming_the_function_and_the_module_path(tmp_path: Path) -> None:
    tiny = ("torchvision.models.SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[1, 1], num_heads=[1, 1], "
            "window_size=[4, 4])")
    with pytest.raises(ModelImportError) as info:
        import_model(_wrapper(tmp_path, tiny, IMAGE))
    msg = str(info.value)
    assert ("m.features.1.0.attn (ShiftedWindowAttention): "
            "torchvision.models.swin_transformer.shifted_window_attention() is not supported") in msg
    assert "self.m.features" not in msg  # its weights are not reported as tensors used directly


LSTM = """
    import torch.nn as nn


    class LSTMClassifier(nn.Module):
        input_shape = (28, 28)  # MNIST read row by row

        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(28, 32, num_layers=2, batch_first=True)
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            out, (h, c) = self.lstm(x)
            return self.fc(out[:, -1])
"""

TEXT_CNN = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class TextCNN(nn.Module):
        input_shape = (20,)
        input_dtype = "long"

        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(100, 16)
            self.conv = nn.Conv1d(16, 24, 3, padding=1)
            self.pool = nn.AdaptiveMaxPool1d(1)
            self.fc = nn.Linear(24, 2)

        def forward(self, x):
            x = self.embed(x).transpose(1, 2)
            x = self.pool(F.relu(self.conv(x)))
            return self.fc(x.squeeze(-1))
"""

UNET = """
    import torch
    import torch.nn as nn


    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


    class UNet(nn.Module):
        input_shape = (1, 32, 32)

        def __init__(self):
            super().__init__()
            self.down1 = block(1, 8)
            self.down2 = block(8, 16)
            self.pool = nn.MaxPool2d(2)
            self.mid = block(16, 32)
            self.up2 = nn.ConvTranspose2d(32, 16, 2, stride=2)
            self.dec2 = block(32, 16)
            self.up1 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.dec1 = block(24, 8)
            self.out = nn.Conv2d(8, 2, 1)

        def forward(self, x):
            d1 = self.down1(x)
            d2 = self.down2(self.pool(d1))
            m = self.mid(self.pool(d2))
            u2 = self.dec2(torch.cat([self.up2(m), d2], dim=1))
            u1 = self.dec1(torch.cat([self.up1(u2), d1], dim=1))
            return self.out(u1)
"""

ENCODER = """
    import torch.nn as nn


    class Encoder(nn.Module):
        input_shape = (12, 32)

        def __init__(self):
            super().__init__()
            self.pos = nn.Parameter(torch.zeros(1, 12, 32))
            self.layer1 = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.1, batch_first=True)
            self.layer2 = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, batch_first=True, norm_first=True)
            self.head = nn.Linear(32, 5)

        def forward(self, x):
            x = self.layer2(self.layer1(x + self.pos))
            return self.head(x.mean(1))
"""


@needs("LSTM")
def test_lstm_classifier(tmp_path: Path) -> None:
    imported = check_import(_write(tmp_path, LSTM), "LSTMClassifier", torch.randn(2, 28, 28))
    types = {n.id: n.type for n in imported.graph.nodes}
    assert types["lstm"] == "LSTM" and "Select" in types.values()


@needs("Embedding")
def test_text_cnn_with_integer_tokens(tmp_path: Path) -> None:
    path = _write(tmp_path, TEXT_CNN)
    imported = check_import(path, "TextCNN", torch.randint(0, 100, (2, 20)))
    assert imported.graph.node("input").params["dtype"] == "long"
    assert imported.graph.node("input").params["vocab_size"] == 100


def test_unet_with_transposed_convolution_upsampling_and_skips(tmp_path: Path) -> None:
    imported = check_import(_write(tmp_path, UNET), "UNet", torch.randn(2, 1, 32, 32))
    types = [n.type for n in imported.graph.nodes]
    assert types.count("Concat") == 2 and "ConvTranspose2d" in types and "Upsample" in types


@needs("TransformerEncoderLayer")
def test_transformer_encoder(tmp_path: Path) -> None:
    code = ENCODER.replace("import torch.nn as nn", "import torch\n    import torch.nn as nn", 1)
    imported = check_import(_write(tmp_path, code), "Encoder", torch.randn(2, 12, 32))
    types = [n.type for n in imported.graph.nodes]
    assert types.count("TransformerEncoderLayer") == 2 and "Parameter" in types
