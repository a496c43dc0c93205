"""The published contract of ``netbuilder summary`` and of bad input to the headless commands.

* ``summary --json`` prints ``{"errors": [{"node", "field", "message"}]}`` and exits 1 for every
  failure, from a missing file to a cycle, with nothing on stderr;
* the multiply-add convention the summary states (weights only; equal to fvcore on conv and linear
  layers) holds: checked against a count taken from the real torch modules, and against fvcore when
  it is installed;
* hostile files (huge numbers, NaN, pipes, devices, oversized files) give one line and exit 1 on
  ``summary``, ``export`` and ``autograd``.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn as nn
from netbuilder.core.cli.main import main
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Graph, GraphError
from netbuilder.core.model.inference import infer
from netbuilder.core.model.layers import REGISTRY, ParamError, input_spec
from netbuilder.core.model.project import load_preset, presets_dir
from netbuilder.core.model.summary import MACS_CONVENTION, summary_data, summary_table

LENET_PATH = presets_dir() / "lenet5-mnist.json"
LENET: dict[str, Any] = json.loads(LENET_PATH.read_text())


def _variant(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], str]:
    """A case writing LeNet-5 changed by ``change``."""
    def write(tmp: Path) -> str:
        data = copy.deepcopy(LENET)
        change(data)
        (tmp / "p.json").write_text(json.dumps(data))
        return str(tmp / "p.json")
    return write


def _bytes(data: bytes) -> Callable[[Path], str]:
    """A case writing ``data`` as the project file."""
    def write(tmp: Path) -> str:
        (tmp / "p.json").write_bytes(data)
        return str(tmp / "p.json")
    return write


def _text(text: str) -> Callable[[Path], str]:
    return _bytes(text.encode("utf-8"))


def _edited(old: str, new: str) -> Callable[[Path], str]:
    """A case writing LeNet-5's file text with ``old`` (which must be there) replaced by ``new``."""
    text = LENET_PATH.read_text()
    assert old in text, f"the preset no longer contains {old!r}"
    return _text(text.replace(old, new, 1))


def _node(i: int, **changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["nodes"][i].update(changes)


def _cycle(d: dict[str, Any]) -> None:
    d["nodes"] = [{"id": "input", "type": "Input", "params": {"shape": [4]}}, {"id": "add", "type": "Add"},
                  {"id": "relu", "type": "ReLU"}, {"id": "fc", "type": "Linear", "params": {"out_features": 2}}]
    d["edges"] = [{"src": "input", "dst": "add"}, {"src": "relu", "dst": "add", "port": 1},
                  {"src": "add", "dst": "relu"}, {"src": "relu", "dst": "fc"}]


def _set_fc1_in(d: dict[str, Any]) -> None:
    d["nodes"][8]["params"]["in_features"] = 256


def _oversized(tmp: Path) -> str:
    with open(tmp / "big.json", "wb") as f:
        f.truncate(65_000_000)  # sparse: costs no disk
    return str(tmp / "big.json")


# (case, writer, node, field, words in the message)
LOAD_FAILURES: list[tuple[str, Callable[[Path], str], str | None, str | None, str]] = [
    ("missing file", lambda t: str(t / "nope.json"), None, None, "no such file"),
    ("a directory", lambda t: str(t), None, None, "is a folder"),
    ("invalid JSON", _text('{"format": '), None, None, "invalid JSON at line 1"),
    ("not UTF-8", _bytes(b"\xff\xfe{"), None, None, "not UTF-8"),
    ("a foreign JSON file", _text('{"model": "keras"}'), None, "format", "not a NetBuilder project"),
    ("a JSON list", _text("[1, 2]"), None, None, "top level must be a JSON object"),
    ("a newer version", _variant(lambda d: d.update(version=99)), None, "version", "newer NetBuilder"),
    ("a version that is not a number", _variant(lambda d: d.update(version="1")), None, "version", "integer"),
    ("an unknown layer type", _variant(_node(1, type="Conv9d")), "conv1", "type", "unknown type 'Conv9d'"),
    ("a parameter out of range", _variant(_node(1, params={"out_channels": 6, "kernel_size": -3})),
     "conv1", "kernel_size", "kernel_size must be between"),
    ("a parameter of the wrong kind", _variant(_node(1, params={"out_channels": "six", "kernel_size": 5})),
     "conv1", "out_channels", "whole number"),
    ("a file over the size limit", _oversized, None, None, "too large"),
]
GRAPH_FAILURES: list[tuple[str, Callable[[Path], str], str | None, str]] = [
    ("an inference error", _variant(_set_fc1_in), "fc1", "expects 256 input features but receives 400"),
    ("a cycle", _variant(_cycle), "add", "part of a cycle"),
]


def _errors_json(out: str) -> list[dict[str, Any]]:
    """stdout parsed and checked against ``{"errors": [{"node", "field", "message"}]}``."""
    data = json.loads(out)
    assert set(data) == {"errors"} and data["errors"]
    for e in data["errors"]:
        assert set(e) == {"node", "field", "message"}
        assert e["node"] is None or isinstance(e["node"], str)
        assert e["field"] is None or isinstance(e["field"], str)
        assert isinstance(e["message"], str) and e["message"] and "\n" not in e["message"]
    errors: list[dict[str, Any]] = data["errors"]
    return errors


@pytest.mark.parametrize(("case", "write", "node", "field", "words"), LOAD_FAILURES, ids=[c[0] for c in LOAD_FAILURES])
def test_summary_json_reports_load_failures_as_json(
        case: str, write: Callable[[Path], str], node: str | None, field: str | None, words: str,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path)
    assert main(["summary", path, "--json"]) == 1
    out, err = capsys.readouterr()
    assert err == ""
    [error] = _errors_json(out)
    assert (error["node"], error["field"]) == (node, field)
    assert words in error["message"] and error["message"].startswith(path), case


@pytest.mark.parametrize(("case", "write", "node", "words"), GRAPH_FAILURES, ids=[c[0] for c in GRAPH_FAILURES])
def test_summary_json_reports_graph_errors_as_json(
        case: str, write: Callable[[Path], str], node: str | None, words: str,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", write(tmp_path), "--json"]) == 1
    out, err = capsys.readouterr()
    assert err == ""
    errors = _errors_json(out)
    assert errors[0]["node"] == node and words in errors[0]["message"], case


def test_summary_json_reports_an_unreadable_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.json"
    path.write_text(LENET_PATH.read_text())
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: make the read fail as it would for a user
        def refuse(self: Path) -> bytes:
            raise PermissionError(13, "Permission denied", str(self))
        monkeypatch.setattr(Path, "read_bytes", refuse)
    assert main(["summary", str(path), "--json"]) == 1
    out, err = capsys.readouterr()
    assert err == ""
    [error] = _errors_json(out)
    assert error["message"] == f"{path}: cannot read (Permission denied)"


def test_summary_without_json_reports_load_failures_as_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", str(tmp_path / "nope.json")]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == f"netbuilder: error: {tmp_path / 'nope.json'}: no such file\n"


# ---------------------------------------------------------------- the multiply-add convention

def test_the_convention_is_stated_in_the_table_and_the_json() -> None:
    graph = load_preset("lenet5-mnist").graph
    assert summary_data(graph)["macs_convention"] == MACS_CONVENTION
    footer = " ".join(line.strip() for line in summary_table(graph).splitlines())
    assert f"Mult-adds count {MACS_CONVENTION}." in footer
    assert "weights only" in MACS_CONVENTION and "bias and normalisation not counted" in MACS_CONVENTION


COUNTED = (nn.Conv1d, nn.Conv2d, nn.Linear)
UNCOUNTED_WITH_WEIGHTS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d)


def hand_count(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of one sample by the stated convention, from the modules torch really runs:
    a convolution's output elements × in_channels/groups × kernel size, a linear layer's in × out
    (per output row: a sequence counts each step)."""
    total = 0

    def hook(m: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Linear):
            total += out.numel() // out.shape[-1] * m.in_features * m.out_features
        else:
            assert isinstance(m, (nn.Conv1d, nn.Conv2d))
            total += out.numel() * m.in_channels // m.groups * int(torch.tensor(m.kernel_size).prod())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, COUNTED)]
    with torch.no_grad():
        model.eval()(x)
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("preset", ["lenet5-mnist", "resnet-tiny"])
def test_the_summary_counts_what_torch_runs(preset: str) -> None:
    graph = load_preset(preset).graph
    result = infer(graph)
    model, _ = build_model(graph, result)
    shape = result.nodes[result.input_id or ""].output_shape or ()
    assert result.total_macs == hand_count(model, torch.randn(1, *shape)) > 0


def _lone_layer(type_name: str) -> Graph | None:
    """Input → one layer of ``type_name`` with its defaults, on the first input shape it accepts."""
    spec, first = REGISTRY[type_name], input_spec()
    for shape in ([4, 8, 8], [4, 8], [16]):
        g = Graph("Net")
        g.add_node(first.type_name, "input", {first.params[0].name: shape})
        try:
            g.add_node(type_name, "layer", spec.defaults())
            for port in range(max(spec.min_inputs, 1)):
                g.connect("input", "layer", port)
        except (GraphError, ParamError):
            continue
        if infer(g).ok:
            return g
    return None


@pytest.mark.parametrize("type_name", sorted(t for t, s in REGISTRY.items() if not s.is_input))
def test_every_layer_type_follows_the_convention(type_name: str) -> None:
    """A type built only of counted modules, normalisation and weight-free modules counts exactly
    the convention's multiply-adds (weight-free layers count none); a type with other weights (a
    recurrent cell, attention) states its own count and is left out."""
    graph = _lone_layer(type_name)
    if graph is None:
        pytest.skip(f"{type_name} accepts none of the plain float inputs tried")
    result = infer(graph)
    if result.total_params == 0:
        assert result.total_macs == 0, f"{type_name} has no weights but counts multiply-adds"
        return
    model, _ = build_model(graph, result)
    others = [m for m in model.modules() if m is not model and not isinstance(m, COUNTED + UNCOUNTED_WITH_WEIGHTS)
              and any(True for _ in m.parameters(recurse=False))]
    if others or any(True for _ in model.parameters(recurse=False)):
        pytest.skip(f"{type_name} has weights outside the convolution/linear convention")
    shape = result.nodes["input"].output_shape or ()
    assert result.total_macs == hand_count(model, torch.randn(1, *shape)), type_name


@pytest.mark.parametrize("preset", ["lenet5-mnist", "resnet-tiny"])
def test_the_summary_equals_fvcore_on_conv_and_linear_layers(preset: str) -> None:
    fvcore_nn = pytest.importorskip("fvcore.nn")
    graph = load_preset(preset).graph
    result = infer(graph)
    model, _ = build_model(graph, result)
    shape = result.nodes[result.input_id or ""].output_shape or ()
    by_op = fvcore_nn.FlopCountAnalysis(model.eval(), torch.randn(1, *shape)).by_operator()
    assert result.total_macs == sum(n for op, n in by_op.items() if op in ("conv", "linear", "addmm"))


# ---------------------------------------------------------------- hostile files

HOSTILE: list[Any] = [
    pytest.param(_edited('"out_channels": 6', '"out_channels": ' + "9" * 5000), id="a 5,000-digit integer parameter"),
    pytest.param(_edited('"out_channels": 6', '"out_channels": ' + "9" * 4000), id="a 4,000-digit integer parameter"),
    pytest.param(_variant(_node(1, position=[int("9" * 400), 0])), id="a 400-digit position"),
    pytest.param(_edited('"position": [230.0, 0.0]', '"position": [NaN, Infinity]'), id="NaN and Infinity positions"),
    pytest.param(_edited('"padding": 2', '"padding": NaN'), id="a NaN parameter"),
    pytest.param(_edited('"kernel_size": 5, "padding"', '"kernel_size": 1e400, "padding"'), id="an infinite parameter"),
    pytest.param(_variant(_node(0, params={"shape": [1, 10**12, 28]})), id="an absurd input shape"),
    pytest.param(_oversized, id="a file over 64 MB"),
]
COMMANDS = {
    "summary": lambda path, tmp: ["summary", path],
    "export": lambda path, tmp: ["export", path, "-o", str(tmp / "net.py")],
    "autograd": lambda path, tmp: ["autograd", path, "-o", str(tmp / "graph.json")],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("write", HOSTILE)
def test_hostile_files_give_one_line(
        write: Callable[[Path], str], command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path)
    assert main(COMMANDS[command](path, tmp_path)) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"netbuilder: error: {path}: ") and err.count("\n") == 1
    assert main(["summary", path, "--json"]) == 1
    _errors_json(capsys.readouterr().out)


def _run_cli(args: list[str], memory: int | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process, its address space capped at ``memory`` bytes when given."""
    def cap() -> None:
        if memory is not None:
            import resource  # POSIX only, as are the tests that cap memory

            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return subprocess.run([sys.executable, "-m", "netbuilder.core.cli", *args], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=cap)


POSIX = pytest.mark.skipif(os.name != "posix", reason="FIFOs, /dev/zero and memory caps are POSIX")


@POSIX
def test_a_fifo_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p.json")
    out = _run_cli(["summary", str(tmp_path / "p.json"), "--json"], timeout=10)  # summary starts in a second
    assert out.returncode == 1 and "Traceback" not in out.stderr
    _errors_json(out.stdout)


@POSIX
def test_a_device_is_refused() -> None:
    # summary imports no torch, so 1 GB of address space is ample for it and stops the endless read early
    out = _run_cli(["summary", "/dev/zero", "--json"], memory=1 << 30)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    _errors_json(out.stdout)


@POSIX
def test_export_refuses_to_replace_a_fifo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "net.py"
    os.mkfifo(target)
    code = main(["export", str(LENET_PATH), "-o", str(target)])
    assert target.is_fifo(), "the FIFO was replaced by a regular file"
    assert code == 1 and capsys.readouterr().err.startswith("netbuilder: error:")
