"""Weights out of the app: state_dict .pt / safetensors into the exported class, weight transfer
across edits, checkpoints, and ONNX checked with onnxruntime."""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

import pytest
import torch
from netbuilder.core.cli.main import main as cli_main
from netbuilder.core.errors import UserError
from netbuilder.core.interop.exporter import export_python
from netbuilder.core.interop.weights import (
    WeightsError,
    export_onnx,
    export_state_dict,
    load_state_dict_file,
    model_with_weights,
    transfer_weights,
)
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.project import load_preset, presets_dir, save_project

from tests._helpers_export import load_script


def _trained_like(graph: Graph, seed: int = 0) -> torch.nn.Module:
    """The graph's model with every parameter and buffer randomised (as if trained)."""
    model, _ = build_model(graph)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                values = torch.rand(t.shape, generator=gen) + 0.5 if "running_var" in name else \
                    torch.randn(t.shape, generator=gen) * 0.3
                t.copy_(values)
    return model.eval()


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
@pytest.mark.parametrize("preset", ["resnet-tiny", "lenet5-mnist"])
def test_state_dict_loads_into_the_exported_class(tmp_path: Path, preset: str, suffix: str) -> None:
    if suffix == ".safetensors" and importlib.util.find_spec("safetensors") is None:
        pytest.skip("safetensors is not installed")
    graph = load_preset(preset).graph
    model = _trained_like(graph)
    weights = tmp_path / f"w{suffix}"
    export_state_dict(model, weights)
    export_python(graph, tmp_path / "net.py", "Net")
    exported = load_script(tmp_path / "net.py").Net()
    if suffix == ".pt":
        exported.load_state_dict(torch.load(weights, weights_only=True))  # what a user would type
    else:
        from safetensors.torch import load_file

        exported.load_state_dict(load_file(str(weights)))
    exported.eval()
    x = torch.randn(3, *exported.input_shape)
    with torch.no_grad():
        assert torch.equal(exported(x), model(x))
    assert load_state_dict_file(weights).keys() == model.state_dict().keys()


def test_unreadable_weight_files_are_clean_errors(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="no such file"):
        load_state_dict_file(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="not a readable weights file"):
        load_state_dict_file(junk)

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    evil = tmp_path / "evil.pt"
    torch.save({"w": Evil()}, evil)
    with pytest.raises(WeightsError):
        load_state_dict_file(evil)
    assert not (tmp_path / "pwned").exists()
    plain = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], plain)
    with pytest.raises(WeightsError, match="does not hold a state_dict"):
        load_state_dict_file(plain)


def test_transfer_keeps_unchanged_layers_after_an_edit() -> None:
    graph = load_preset("lenet5-mnist").graph
    old = _trained_like(graph)
    edited = graph.copy()
    edited.set_params("fc1", {"out_features": 100})  # fc1 and fc2 change shape; the rest do not
    edited.rename_node("conv2", "features2")
    new_model, _ = build_model(edited)
    fresh_fc2 = new_model.fc2.weight.detach().clone()
    report = transfer_weights(old.state_dict(), new_model, renames={"conv2": "features2"})
    assert torch.equal(new_model.conv1.weight, old.conv1.weight)
    assert torch.equal(new_model.features2.weight, old.conv2.weight)  # followed the rename
    assert torch.equal(new_model.fc3.bias, old.fc3.bias)
    assert torch.equal(new_model.fc2.weight, fresh_fc2)  # 84×120 → 84×100: left fresh
    assert ("fc1.weight", (120, 400), (100, 400)) in report.reshaped
    assert report.nodes_reset() == ["fc1", "fc2"]
    assert not report.complete and not report.new and not report.dropped
    assert "fc1.weight (120, 400)→(100, 400)" in report.describe()
    # without the rename the old conv2 is dropped and features2 is new
    report2 = transfer_weights(old.state_dict(), build_model(edited)[0])
    assert "conv2.weight" in report2.dropped and "features2.weight" in report2.new


def test_model_with_weights_refuses_weights_of_another_network() -> None:
    sd = _trained_like(load_preset("lenet5-mnist").graph).state_dict()
    with pytest.raises(WeightsError, match="do not fit this network"):
        model_with_weights(load_preset("mlp-mnist").graph, sd)


def test_onnx_missing_extra_names_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    with pytest.raises(WeightsError, match=r"needs the package onnx: pip install onnx"):
        export_onnx(load_preset("mlp-mnist").graph, "unused.onnx")


def _need_onnx() -> None:
    for mod in ("onnx", "onnxscript", "onnxruntime"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"the onnx extra is not installed ({mod} missing)")


@pytest.mark.slow
def test_onnx_export_matches_torch(tmp_path: Path) -> None:
    _need_onnx()
    import onnx

    graph = load_preset("resnet-tiny").graph  # conv, BatchNorm, residual add, pooling, linear
    model = _trained_like(graph, seed=3)
    out = tmp_path / "model.onnx"
    report = export_onnx(graph, out, model.state_dict())
    assert report.checked and report.max_abs_diff is not None and report.max_abs_diff < 1e-4
    onnx.checker.check_model(str(out))
    m = onnx.load(str(out))
    assert [i.name for i in m.graph.input] == ["input"]
    dims = m.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 28, 28]  # dynamic batch
    # the weights really are the given ones: onnxruntime on our own input equals the trained model
    import onnxruntime as ort

    x = torch.randn(4, 1, 28, 28)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(got), model(x), atol=1e-4)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.mark.slow
def test_cli_exports_a_checkpoint_as_onnx_script_and_weights(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = pytest.importorskip("netbuilder.core.train.checkpoint")
    project = load_preset("mlp-mnist")
    model = _trained_like(project.graph, seed=5)
    ckpt = tmp_path / "run.ckpt"
    checkpoint.save_checkpoint(ckpt, graph=project.graph, state_dict=model.state_dict(), optimizer_state={},
                               rng={}, epoch=1, global_step=10, history={}, config={})
    src = tmp_path / "mlp.json"
    save_project(src, project.graph)
    # training script plus the checkpoint's weights beside it
    script = tmp_path / "train.py"
    assert cli_main(["export", str(src), "--with-training", "-o", str(script), "--checkpoint", str(ckpt)]) == 0
    net = load_script(script).Net().eval()
    net.load_state_dict(torch.load(tmp_path / "train.pt", weights_only=True))
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(net(x), model(x))
    # weights alone (export_cli.run directly: the plain export command hands -o *.pt to it)
    from netbuilder.core.cli import export as export_cli

    args = argparse.Namespace(output=str(tmp_path / "w.pt"), onnx=None, checkpoint=str(ckpt), with_training=False,
                              class_name="Net")
    assert export_cli.run(args, project) == 0
    assert torch.equal(torch.load(tmp_path / "w.pt", weights_only=True)["fc1.weight"], model.fc1.weight)
    # a checkpoint of another network is refused with the reason
    other = tmp_path / "other.ckpt"
    lenet = load_preset("lenet5-mnist").graph
    checkpoint.save_checkpoint(other, graph=lenet, state_dict=build_model(lenet)[0].state_dict(),
                               optimizer_state={}, rng={}, epoch=1, global_step=1, history={}, config={})
    capsys.readouterr()
    assert cli_main(["export", str(src), "--with-training", "-o", str(script), "--checkpoint", str(other)]) == 1
    assert "do not fit this network" in capsys.readouterr().err
    _need_onnx()
    onnx_out = tmp_path / "mlp.onnx"
    assert cli_main(["export", str(presets_dir() / "mlp-mnist.json"), "--onnx", str(onnx_out),
                     "--checkpoint", str(ckpt)]) == 0
    err = capsys.readouterr().err
    assert "with the checkpoint's weights" in err and "checked with onnxruntime" in err
    assert onnx_out.stat().st_size > 4 * sum(p.numel() for p in model.parameters())


def test_open_a_checkpoint_edit_and_keep_the_weights(tmp_path: Path) -> None:
    checkpoint = pytest.importorskip("netbuilder.core.train.checkpoint")
    from netbuilder.core.interop.weights import weights_from_checkpoint

    project = load_preset("resnet-tiny")
    trained = _trained_like(project.graph, seed=9)
    ckpt = tmp_path / "r.ckpt"
    checkpoint.save_checkpoint(ckpt, graph=project.graph, state_dict=trained.state_dict(), optimizer_state={},
                               rng={}, epoch=2, global_step=20, history={}, config={})
    graph, state = weights_from_checkpoint(ckpt)
    graph.set_params("fc", {"out_features": 5})  # a new head; the convolutions and BatchNorms stay
    model, _ = build_model(graph)
    report = transfer_weights(state, model)
    assert report.nodes_reset() == ["fc"]
    assert torch.equal(model.bn1.running_var, trained.bn1.running_var)  # buffers come along too
    assert torch.equal(model.stem.weight, trained.stem.weight)
    with pytest.raises(UserError, match="no such checkpoint"):
        weights_from_checkpoint(tmp_path / "missing.ckpt")
