"""Importing nn.Module files with torch.fx: round trips, hand-written models, and clean errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from netbuilder.core.cli.main import main as cli_main
from netbuilder.core.interop.importer import ModelImportError, import_model, import_module_file
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.layers import REGISTRY
from netbuilder.core.model.project import load_project, presets_dir

from tests._helpers_export import PRESETS, load_script


def _summary(capsys: pytest.CaptureFixture[str], path: Path) -> dict[str, Any]:
    capsys.readouterr()
    assert cli_main(["summary", str(path), "--json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def _write(tmp_path: Path, name: str, code: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return path


@pytest.mark.parametrize("preset", PRESETS)
def test_export_import_round_trip_gives_the_same_summary(tmp_path: Path, preset: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    src = presets_dir() / f"{preset}.json"
    assert cli_main(["export", str(src), "-o", str(tmp_path / "net.py")]) == 0
    assert cli_main(["import", str(tmp_path / "net.py"), "-o", str(tmp_path / "back.json")]) == 0
    before, after = _summary(capsys, src), _summary(capsys, tmp_path / "back.json")

    def rows(d: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(n["type"], n["output_shape"], n["params"], n["macs"]) for n in d["nodes"]]

    assert rows(after) == rows(before)
    assert (after["total_params"], after["total_macs"]) == (before["total_params"], before["total_macs"])
    if preset.startswith("lenet"):  # module attributes and numbered functional ids come back as they were
        assert [n["id"] for n in after["nodes"]] == [n["id"] for n in before["nodes"]]
    # the automatic layout spreads the nodes out left to right
    graph = load_project(tmp_path / "back.json").graph
    xs = [graph.node(n["id"]).position[0] for n in after["nodes"]]
    assert len({graph.node(n.id).position for n in graph.nodes}) == len(graph.nodes)
    assert xs[-1] > xs[0]


RESNET = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class BasicBlock(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += identity
            return self.relu(out)


    class ResNet(nn.Module):
        input_shape = (3, 32, 32)

        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
            self.layer1 = BasicBlock(16)
            self.branch = nn.Conv2d(16, 8, 1)
            self.pool = nn.AdaptiveAvgPool2d((1, 1))
            self.drop = nn.Dropout(0.25)
            self.fc = nn.Linear(24, 10)

        def forward(self, x):
            x = self.stem(x)
            x = self.layer1(x)
            x = torch.cat([x, self.branch(x)], dim=1)
            x = F.max_pool2d(x, kernel_size=2, stride=2)
            x = self.pool(x)
            x = x.view(x.size(0), -1)
            x = self.drop(x)
            return F.log_softmax(self.fc(x), dim=1)
"""


def test_hand_written_residual_network(tmp_path: Path) -> None:
    path = _write(tmp_path, "resnet.py", RESNET)
    imported = import_model(path)
    graph = imported.graph
    types = {n.id: n.type for n in graph.nodes}
    assert types["stem_0"] == "Conv2d" and types["stem_1"] == "BatchNorm2d" and types["stem_2"] == "ReLU"
    assert types["layer1_conv1"] == "Conv2d" and types["fc"] == "Linear" and types["drop"] == "Dropout"
    assert sorted(types.values()).count("Add") == 1 and "Concat" in types.values()
    assert graph.node("stem_0").params == {"in_channels": 3, "out_channels": 16, "kernel_size": 3, "stride": 2,
                                           "padding": 1}
    assert graph.node("layer1_conv2").params["bias"] is False
    assert graph.node("pool").params == {"output_size": 1}
    assert graph.node("drop").params == {"p": 0.25}
    add = next(n.id for n in graph.nodes if n.type == "Add")
    # the skip connection: the block's input (the stem's ReLU) feeds the Add's second port
    assert {(e.src, e.port) for e in graph.in_edges(add)} == {("layer1_bn2", 0), ("stem_2", 1)}
    # the reused parameter-free self.relu becomes two nodes
    assert [n.id for n in graph.nodes if n.id.startswith("layer1_relu")] == ["layer1_relu", "layer1_relu_2"]
    # weights came along and the rebuilt model computes the same function
    assert imported.max_abs_diff is not None and imported.max_abs_diff < 1e-5 and not imported.notes
    model, _ = build_model(graph)
    model.load_state_dict(imported.state_dict)
    original = load_script(path).ResNet()
    original.load_state_dict({k.replace("stem_", "stem.").replace("layer1_", "layer1."): v
                              for k, v in imported.state_dict.items()})
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    original.eval()
    with torch.no_grad():
        assert torch.allclose(model(x), original(x), atol=1e-5)


TUTORIAL = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
            x = F.max_pool2d(self.conv2(x).relu(), 2)
            x = torch.flatten(x, 1)
            x = torch.sigmoid(self.fc1(x))
            x = self.fc2(x).tanh()
            x = F.leaky_relu(x, 0.2) + torch.relu(x)
            x = F.dropout(x, p=0.1, training=self.training)
            return F.softmax(self.fc3(x), dim=-1)

    net = Net()  # top-level code runs on import
    if __name__ == "__main__":
        raise SystemExit("must not run")
"""


def test_pytorch_tutorial_style_functional_forms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "tutorial.py", TUTORIAL)
    out = tmp_path / "tutorial.json"
    assert cli_main(["import", str(path), "--input-shape", "1,32,32", "-o", str(out), "--weights",
                     str(tmp_path / "w.pt")]) == 0
    err = capsys.readouterr().err
    assert "61,706 parameters" in err and "same outputs" in err
    graph = load_project(out).graph
    types = [graph.node(n["id"]).type for n in _summary(capsys, out)["nodes"]]
    assert types == ["Input", "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear",
                     "Sigmoid", "Linear", "Tanh", "LeakyReLU", "ReLU", "Add", "Dropout", "Linear", "Softmax"]
    assert graph.node("input").params == {"shape": [1, 32, 32]} or graph.node("input").params == {
        "shape": (1, 32, 32)}
    pools = [n for n in graph.nodes if n.type == "MaxPool2d"]
    assert [p.params for p in pools] == [{"kernel_size": 2}, {"kernel_size": 2}]
    assert next(n for n in graph.nodes if n.type == "LeakyReLU").params == {"negative_slope": 0.2}
    assert next(n for n in graph.nodes if n.type == "Softmax").params == {"dim": -1}
    assert next(n for n in graph.nodes if n.type == "Dropout").params == {"p": 0.1}
    model, _ = build_model(graph)
    model.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))


def test_unsupported_operations_are_listed_with_their_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "odd.py", """
        import torch
        import torch.nn as nn


        class Odd(nn.Module):
            input_shape = (1, 28, 28)

            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 4, 3)
                self.scale = 2
                self.lstm_like = nn.PixelShuffle(1)
                self.fc = nn.Linear(4 * 26 * 26, 10)

            def forward(self, x):
                x = torch.cumsum(self.conv(x), 1)
                x = self.lstm_like(x)
                x = x.view(x.size(0), -1)
                y = self.fc(x)
                return torch.remainder(y, self.scale) - torch.fmod(y, 3)
    """)
    with pytest.raises(ModelImportError) as info:
        import_model(path)
    msg = str(info.value)
    assert "4 unsupported operations" in msg
    assert "odd.py, line 17 `x = torch.cumsum(self.conv(x), 1)` — torch.cumsum() is not supported" in msg
    assert "odd.py, line 18 `x = self.lstm_like(x)` — nn.PixelShuffle (self.lstm_like) is not a NetBuilder layer" in msg
    assert "line 21 `return torch.remainder(y, self.scale) - torch.fmod(y, 3)` — torch.remainder()" in msg
    assert msg.count("line 21") == 2  # remainder and fmod; the subtraction of the two is not reported again
    assert "Supported:" in msg and "nn.Conv2d" in msg


def test_data_dependent_control_flow_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "branchy.py", """
        import torch.nn as nn


        class Branchy(nn.Module):
            input_shape = (4,)

            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)

            def forward(self, x):
                if x.sum() > 0:
                    x = -x
                return self.fc(x)
    """)
    with pytest.raises(ModelImportError, match=r"branchy.py, line 13 `if x.sum\(\) > 0:`.*control flow"):
        import_model(path)


@pytest.mark.parametrize(("code", "kwargs", "expected"), [
    ("class Broken(:\n    pass\n", {}, r"line 1: syntax error"),
    ("import torch\nx = 1\n", {}, r"defines no nn.Module class"),
    ("import torch.nn as nn\nclass A(nn.Module):\n    pass\nclass B(nn.Module):\n    pass\n", {},
     r"several nn.Module classes \(A, B\); choose one with --class"),
    ("import torch.nn as nn\nclass A(nn.Module):\n    pass\n", {"class_name": "Nope"}, r"no nn.Module class 'Nope'"),
    ("import torch.nn as nn\nclass A(nn.Module):\n    def __init__(self, width):\n        super().__init__()\n", {},
     r"A\(\) cannot be created without arguments"),
    ("import torch.nn as nn\nclass A(nn.Module):\n    def forward(self, x):\n        return x\n", {},
     r"no input_shape attribute; give the input shape"),
    ("import torch.nn as nn\nclass A(nn.Module):\n    def forward(self, x):\n        return x\n",
     {"input_shape": "1,a,3"}, r"must be numbers separated by commas"),
    ("import torch.nn as nn\nclass A(nn.Module):\n    def forward(self, x):\n        return x\n",
     {"input_shape": "1,0,3"}, r"positive integers"),
    ("raise RuntimeError('boom')\n", {}, r"running the file failed at bad.py, line 1 .*RuntimeError: boom"),
    ("import torch.nn as nn\nclass A(nn.Module):\n    input_shape = (1, 28, 28)\n    def __init__(self):\n"
     "        super().__init__()\n        self.fc = nn.Linear(10, 2)\n    def forward(self, x):\n"
     "        return self.fc(x)\n", {}, r"running A on an input of shape N×1×28×28 failed at bad.py, line 8"),
])
def test_bad_files_give_clean_errors(tmp_path: Path, code: str, kwargs: dict[str, Any], expected: str) -> None:
    path = tmp_path / "bad.py"
    path.write_text(code)
    with pytest.raises(ModelImportError, match=expected):
        import_model(path, **kwargs)


def test_missing_file_and_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ModelImportError, match="no such file"):
        import_module_file(tmp_path / "absent.py")
    assert cli_main(["import", str(tmp_path / "absent.py"), "-o", str(tmp_path / "p.json")]) == 1
    assert "netbuilder: error:" in capsys.readouterr().err and not (tmp_path / "p.json").exists()
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli_main(["import", "--help"])
    assert "executed" in capsys.readouterr().out.lower()


def test_block_classes_are_not_candidates_and_shared_weights_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "shared.py", """
        import torch.nn as nn


        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 8)

            def forward(self, x):
                return self.fc(x)


        class Tied(nn.Module):
            input_shape = (8,)

            def __init__(self):
                super().__init__()
                self.block = Block()

            def forward(self, x):
                return self.block(self.block(x))
    """)
    with pytest.raises(ModelImportError, match=r"self.block.fc is called 2 times \(shared weights\)"):
        import_model(path)  # Tied is chosen: Block is only a part of it
    block = import_model(path, class_name="Block", input_shape=(8,)).graph
    assert block.node("fc").params == {"in_features": 8, "out_features": 8}


def test_dotted_module_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "mymodels"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "small.py").write_text("import torch.nn as nn\nclass Small(nn.Module):\n    input_shape = (3,)\n"
                                  "    def __init__(self):\n        super().__init__()\n"
                                  "        self.fc = nn.Linear(3, 2)\n"
                                  "    def forward(self, x):\n        return self.fc(x)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = import_module_file("mymodels.small")
    assert [n.type for n in graph.nodes] == ["Input", "Linear"]
    with pytest.raises(ModelImportError, match="no such file or importable module"):
        import_module_file("mymodels.nothing_here")


NEW_OPS = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class Ops(nn.Module):
        input_shape = (4, 8, 8)

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 8, 1)
            self.scale = nn.Parameter(torch.full((8, 1, 1), 0.5))

        def forward(self, x):
            x = F.relu6(self.conv(x))
            x = F.hardsigmoid(F.silu(x)) * F.hardswish(x)
            g = x.mean((2, 3), keepdim=True)
            x = x * g - g
            a, b = x.chunk(2, dim=1)
            x = torch.cat([b, a], 1)
            n, c, h, w = x.size()
            x = x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, -1, h, w)
            x = F.layer_norm(x.permute(0, 2, 3, 1), (8,)).permute(0, 3, 1, 2)
            x = self.scale * F.mish(F.softplus(F.elu(x)))
            x = torch.flatten(x, 2).unsqueeze(1).squeeze(1)
            return F.gelu(x[:, 0])
"""


def test_functional_forms_of_the_new_layer_types(tmp_path: Path) -> None:
    imported = import_model(_write(tmp_path, "ops.py", NEW_OPS))
    assert imported.max_abs_diff is not None and imported.max_abs_diff < 1e-5 and not imported.notes
    types = [n.type for n in imported.graph.nodes]
    for t in ("ReLU6", "Hardsigmoid", "SiLU", "Hardswish", "Mean", "Sub", "Chunk", "Concat", "Reshape", "Transpose",
              "Permute", "LayerNorm", "ELU", "Softplus", "Mish", "Parameter", "Flatten", "Unsqueeze", "Squeeze",
              "Select", "GELU"):
        assert t in types, t
    assert types.count("Mul") == 3 and types.count("Reshape") == 2
    reshapes = [n.params["shape"] for n in imported.graph.nodes if n.type == "Reshape"]
    assert [tuple(s) for s in reshapes] == [(2, 4, 8, 8), (-1, 8, 8)]  # computed sizes take their traced values
    scale = next(n for n in imported.graph.nodes if n.type == "Parameter")
    assert scale.id == "scale" and scale.params["batch_dim"] is False and tuple(scale.params["shape"]) == (8, 1, 1)
    assert scale.params["init"] == "ones" and scale.params["scale"] == 0.5
    assert torch.equal(imported.state_dict["scale"], torch.full((8, 1, 1), 0.5))
    cat = next(n for n in imported.graph.nodes if n.type == "Concat")
    chunk = next(n for n in imported.graph.nodes if n.type == "Chunk")
    assert [(e.src, e.src_port) for e in imported.graph.in_edges(cat.id)] == [(chunk.id, 1), (chunk.id, 0)]


def test_stochastic_depth_is_named_as_torchvision_names_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "sd.py", """
        import torch.nn as nn
        import torchvision


        class Block(nn.Module):
            input_shape = (4, 6, 6)

            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(4, 4, 3, padding=1)

            def forward(self, x):
                return x + torchvision.ops.stochastic_depth(self.conv(x), 0.2, "row", self.training)
    """)
    if "StochasticDepth" in REGISTRY:
        assert "StochasticDepth" in [n.type for n in import_model(path).graph.nodes]
    else:
        with pytest.raises(ModelImportError, match=r"— torchvision\.ops\.stochastic_depth\(\) is not supported"):
            import_model(path)


@pytest.mark.skipif(not {"GRU", "MultiheadAttention"} <= set(REGISTRY), reason="needs the sequence layer types")
def test_tuple_results_of_gru_and_attention_map_to_their_ports(tmp_path: Path) -> None:
    path = _write(tmp_path, "seq.py", """
        import torch
        import torch.nn as nn


        class Seq(nn.Module):
            input_shape = (6, 8)

            def __init__(self):
                super().__init__()
                self.gru = nn.GRU(8, 8, batch_first=True, bidirectional=True)
                self.self_attn = nn.MultiheadAttention(16, 2, batch_first=True)
                self.cross = nn.MultiheadAttention(16, 4, batch_first=True)

            def forward(self, x):
                out, h = self.gru(x)
                y, weights = self.self_attn(out, out, out)
                z = self.cross(y, out, out, need_weights=False)[0]
                return torch.cat([z, weights], 2)
    """)
    imported = import_model(path)
    assert imported.max_abs_diff is not None and imported.max_abs_diff < 1e-5 and not imported.notes
    g = imported.graph
    assert g.node("gru").type == "GRU" and g.node("self_attn").type == "MultiheadAttention"
    assert [(e.src, e.src_port) for e in g.in_edges("self_attn")] == [("gru", 0)]  # self-attention: one input
    assert [(e.src, e.src_port) for e in g.in_edges("cross")] == [("self_attn", 0), ("gru", 0), ("gru", 0)]
    cat = next(n.id for n in g.nodes if n.type == "Concat")
    assert [(e.src, e.src_port) for e in g.in_edges(cat)] == [("cross", 0), ("self_attn", 1)]
