"""Code generation: the tutorial's exact module, readable code, exec == export, no injection."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
from netbuilder.core.interop.exporter import export_python
from netbuilder.core.model.codegen import CodegenError, generate, legal_name
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.project import ProjectError, load_preset, loads, presets_dir

TUTORIAL_PRINT = """Net(
  (conv1): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))
  (conv2): Conv2d(6, 16, kernel_size=(5, 5), stride=(1, 1))
  (fc1): Linear(in_features=400, out_features=120, bias=True)
  (fc2): Linear(in_features=120, out_features=84, bias=True)
  (fc3): Linear(in_features=84, out_features=10, bias=True)
)"""


def load_file_module(path: Path, name: str = "exported_net"):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tutorial_preset_prints_exactly(tmp_path: Path) -> None:
    graph = load_preset("lenet-tutorial").graph
    export_python(graph, tmp_path / "net.py")
    net = load_file_module(tmp_path / "net.py").Net()
    assert str(net) == TUTORIAL_PRINT
    params = list(net.parameters())
    assert len(params) == 10 and list(params[0].size()) == [6, 1, 5, 5]
    assert sum(p.numel() for p in params) == 61_706


@pytest.mark.parametrize("preset", sorted(p.stem for p in presets_dir().glob("*.json")))
def test_exported_file_equals_compiled_model(preset: str, tmp_path: Path) -> None:
    graph = load_preset(preset).graph
    model, code = build_model(graph)
    path = tmp_path / "net.py"
    export_python(graph, path)
    assert path.read_text() == code.source  # compile executes exactly the exported text
    exported = load_file_module(path, f"exported_{preset.replace('-', '_')}").Net()
    exported.load_state_dict(model.state_dict())
    model.eval()
    exported.eval()
    x = torch.randn(3, *model.input_shape)
    with torch.no_grad():
        assert torch.equal(model(x), exported(x))


def test_generated_code_is_readable() -> None:
    code = generate(load_preset("lenet5-mnist").graph)
    src = code.source
    assert "class Net(nn.Module):" in src
    assert "self.conv1 = nn.Conv2d(1, 6, 5, padding=2)" in src
    assert "x = F.relu(x)  # N×6×28×28" in src
    assert "x = F.max_pool2d(x, 2)  # N×6×14×14" in src
    assert "x = torch.flatten(x, 1)  # N×400" in src
    assert "self.fc1 = nn.Linear(400, 120)" in src
    assert "relu1" not in src.split("def forward")[0]  # parameter-free ops are not attributes
    lines = src.splitlines()
    assert any("self.conv1(" in lines[i - 1] for i in code.lines_of("conv1"))
    assert code.node_at_line(code.lines_of("fc3")[0]) == "fc3"


def test_residual_code_keeps_branches_apart() -> None:
    graph = load_preset("resnet-tiny").graph
    model, code = build_model(graph)
    assert "add1 = " in code.source and " + " in code.source
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_names_are_legal_and_unique() -> None:
    taken: set[str] = set()
    names = [legal_name(n, taken) for n in ["conv", "conv", "1x", "class", "forward", "x", "a-b", "training"]]
    assert names == ["conv", "conv_2", "n_1x", "class_", "forward_", "x_", "a_b", "training_"]
    assert all(n.isidentifier() for n in names)


INJECTIONS = [
    {"id": "r", "type": "ReLU\nimport os"},
    {"id": "c", "type": "Conv2d", "params": {"out_channels": "6); import os; (", "kernel_size": 3}},
    {"id": "c", "type": "Conv2d", "params": {"out_channels": 6, "kernel_size": 3, "padding": "same'); import os"}},
    {"id": "c", "type": "Conv2d", "params": {"out_channels": 6, "kernel_size": 3, "padding_mode": "zeros')#"}},
    {"id": "c", "type": "LeakyReLU", "params": {"negative_slope": "__import__('os')"}},
]
# Ids are free text since format version 2: they load, and reach the code only as sanitised names.
HOSTILE_IDS = ['x"); import os; os.system("touch PWNED"); ("', "__class__", "in", "class", "input-1", "conv 1",
               "input_shape", "forward", "training", "parameters"]


@pytest.mark.parametrize("node", INJECTIONS)
def test_code_injection_is_rejected(node: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    doc = {"format": "netbuilder-project", "version": 1, "nodes": [
        {"id": "input", "type": "Input", "params": {"shape": [1, 8, 8]}}, node],
        "edges": [{"src": "input", "dst": node["id"]}]}
    with pytest.raises(ProjectError):
        loads(json.dumps(doc))
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("node_id", HOSTILE_IDS)
def test_any_id_becomes_a_legal_unique_name(node_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    doc = {"format": "netbuilder-project", "version": 2, "nodes": [
        {"id": "input", "type": "Input", "params": {"shape": [1, 8, 8]}},
        {"id": node_id, "type": "Conv2d", "params": {"out_channels": 2, "kernel_size": 3}},
        {"id": "r", "type": "ReLU"}],
        "edges": [{"src": "input", "dst": node_id}, {"src": node_id, "dst": "r"}]}
    g = loads(json.dumps(doc)).graph
    model, code = build_model(g)
    attr = code.attr_names[node_id]
    assert attr.isidentifier() and attr not in ("input_shape", "forward", "training", "parameters")
    assert isinstance(getattr(model, attr), torch.nn.Conv2d)
    assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 2, 6, 6)
    assert type(model).input_shape == (1, 8, 8)  # the class attribute is not shadowed
    assert not (tmp_path / "PWNED").exists()


def test_python_keyword_and_punctuated_ids_get_the_promised_names() -> None:
    taken: set[str] = set()
    assert [legal_name(n, taken) for n in ["in", "input-1", "conv 1", "input_shape"]] == [
        "in_", "input_1", "conv_1", "input_shape_"]


def test_hostile_graph_name_cannot_break_the_docstring() -> None:
    g = Graph('"""\nimport os\nos.system("echo hi")\n"""')
    g.add_node("Input", "input", {"shape": [4]})
    g.add_node("ReLU", "r")
    g.connect("input", "r")
    import ast

    src = generate(g).source
    tree = ast.parse(src)
    kinds = [type(n).__name__ for n in tree.body]
    assert kinds == ["Expr", "Import", "Import", "Import", "ClassDef", "If"]  # nothing escaped the docstring
    assert '"""' not in (ast.get_docstring(tree) or "")


def test_class_name_is_validated() -> None:
    g = load_preset("mlp-mnist").graph
    with pytest.raises(CodegenError, match="not a legal Python identifier"):
        generate(g, class_name="Net(nn.Module): pass\nimport os\nclass X")
    assert "class MyMLP(nn.Module)" in generate(g, class_name="MyMLP").source


def test_invalid_graph_cannot_generate() -> None:
    g = Graph()
    g.add_node("Input", "input", {"shape": [1, 4, 4]})
    g.add_node("Conv2d", "c", {"out_channels": 2, "kernel_size": 9})
    g.connect("input", "c")
    with pytest.raises(CodegenError, match="Conv2d 'c' has a 9×9 kernel window but receives only 4×4"):
        generate(g)


def test_exported_script_runs_standalone(tmp_path: Path) -> None:
    import subprocess

    path = tmp_path / "net.py"
    export_python(load_preset("lenet5-mnist").graph, path)
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "output shape: (1, 10)" in out.stdout
