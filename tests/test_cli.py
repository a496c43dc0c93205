"""The headless CLI: summary (table and JSON), export, clean errors with exit code 1."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from netbuilder.core.cli import memory
from netbuilder.core.cli.main import main
from netbuilder.core.model.project import presets_dir

LENET = str(presets_dir() / "lenet5-mnist.json")


def test_summary_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", LENET]) == 0
    out = capsys.readouterr().out
    assert "conv1       Conv2d     N×6×28×28        156  117,600" in out
    assert "Total params: 61,706" in out


def test_summary_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", LENET, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_params"] == 61_706
    assert data["nodes"][1] == {"id": "conv1", "type": "Conv2d", "output_shape": ["N", 6, 28, 28], "params": 156,
                                "macs": 117_600}


def test_summary_json_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = json.loads(Path(LENET).read_text())
    bad["nodes"][8]["params"]["in_features"] = 256
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert main(["summary", str(tmp_path / "bad.json"), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data == {"errors": [{"node": "fc1", "field": None,
                                "message": "Linear 'fc1' expects 256 input features but receives "
                                "400 = 16×5×5; set in_features to 400 or to auto"}]}


def test_export_writes_runnable_file(tmp_path: Path) -> None:
    out = tmp_path / "net.py"
    assert main(["export", LENET, "-o", str(out), "--class-name", "LeNet5"]) == 0
    assert "class LeNet5(nn.Module):" in out.read_text()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["summary", "nope.json"], "nope.json: no such file"),
        (["export", LENET, "-o", "x.py", "--class-name", "1bad"], "class name '1bad' is not a legal"),
    ],
)
def test_user_errors_are_one_clean_line(args: list[str], words: str, tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "netbuilder.core.cli", *args], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("netbuilder: error:") and words in out.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["export", LENET, "-o", "/nonexistent-dir/x.py"], "/nonexistent-dir: no such folder to write into"),
        (["export", LENET, "-o", "."], ".: is a folder, not a file"),
        (["autograd", LENET, "-o", "/nonexistent-dir/a.json"], "/nonexistent-dir"),
        (["export", LENET, "--with-training", "--class-name", "train", "-o", "s.py"],
         "class name 'train' is already used by the training script"),
    ],
)
def test_unwritable_outputs_and_clashing_names_are_clean_errors(
        args: list[str], words: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("netbuilder: error:") and words in err
    assert not (tmp_path / "s.py").exists()


def test_summary_runs_without_torch() -> None:
    """``summary`` imports only the project and inference modules: it starts fast, and a hostile file
    can be tested under a small memory cap (tests/test_summary_contract.py)."""
    code = ("import sys; from netbuilder.core.cli.main import main; "
            f"assert main(['summary', {LENET!r}, '--json']) == 0; assert 'torch' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(c in out for c in ("summary", "export", "train", "autograd", "import"))


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--batch-size", "1000000000"], "--batch-size must be between 1 and 4096, not 1000000000"),
        (["--batch-size", "0"], "--batch-size must be between 1 and 4096, not 0"),
        (["--seed", "99999999999999999999999"], "--seed must be between 0 and 9223372036854775807"),
        (["--seed", "-5"], "--seed must be between 0 and"),
    ],
)
def test_autograd_refuses_out_of_range_options(
        extra: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["autograd", LENET, "-o", str(tmp_path / "a.json"), *extra]) == 1
    err = capsys.readouterr().err
    assert err.startswith("netbuilder: error:") and words in err and err.count("\n") == 1
    assert not (tmp_path / "a.json").exists()


@pytest.mark.skipif(os.name != "posix", reason="FIFOs are POSIX")
def test_autograd_refuses_to_write_into_a_pipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a.json"
    os.mkfifo(target)  # writing would block until something reads it
    assert main(["autograd", LENET, "-o", str(target)]) == 1
    assert "is not a regular file" in capsys.readouterr().err
    assert target.is_fifo()


@pytest.mark.parametrize(
    ("args", "doing"),
    [
        (["autograd", LENET, "-o", "a.json"], "the autograd graph needs about"),
        (["export", LENET, "--onnx", "m.onnx"], "exporting the model needs about"),
    ],
)
def test_a_network_too_large_for_memory_is_refused_before_allocating(
        args: list[str], doing: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(memory, "physical_memory", lambda: 100_000)  # LeNet-5 needs about 0.7 MB
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"netbuilder: error: {doing}") and "this machine has 0.0 GB" in err
    assert not list(tmp_path.iterdir())


def test_memory_estimate_counts_weights_gradients_and_activations() -> None:
    from netbuilder.core.model.inference import infer
    from netbuilder.core.model.project import load_preset

    result = infer(load_preset("lenet5-mnist").graph)
    activations = sum(math.prod(i.output_shape or ()) for i in result.nodes.values())
    assert memory.estimated_bytes(result, 10) == 4 * (2 * 61_706 + 3 * 10 * activations)
