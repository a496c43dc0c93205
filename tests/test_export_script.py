"""The standalone training script: same model source as the app, settings from the project, data
handling, and a real (short) run on MNIST."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from netbuilder.core.cli.main import main as cli_main
from netbuilder.core.interop.script_export import model_source, training_script, training_script_full
from netbuilder.core.model.codegen import generate
from netbuilder.core.model.project import load_preset, presets_dir, save_project
from netbuilder.core.train.config import TrainConfig, TrainError

from tests._helpers_export import PRESETS, fake_mnist, load_script, real_mnist, run_python


def _class_block(source: str, class_name: str = "Net") -> str:
    start = source.index(f"class {class_name}(nn.Module):")
    end = source.index("        return ", start)
    return source[start:source.index("\n", end)]


@pytest.mark.parametrize("preset", PRESETS)
def test_model_class_is_the_generated_source_verbatim(preset: str) -> None:
    graph = load_preset(preset).graph
    script = training_script(graph, {}, class_name="LeNet")
    code = generate(graph, class_name="LeNet")
    assert _class_block(script, "LeNet") == _class_block(code.source, "LeNet")
    assert model_source(code).count('if __name__ == "__main__":') == 0
    assert script.count('if __name__ == "__main__":') == 1  # the script's own entry point only
    compile(script, "net.py", "exec")


def test_defaults_come_from_the_project_training_settings(tmp_path: Path) -> None:
    training = {"dataset": "fashion-mnist", "epochs": 3, "batch_size": 32, "lr": 0.001, "momentum": 0.5,
                "optimizer": "adam", "loss": "nll", "seed": 7, "schedule": "step", "gamma": 0.5, "step_size": 2,
                "nesterov": True, "fit_input": "resize"}
    path = tmp_path / "net.py"
    path.write_text(training_script(load_preset("lenet5-mnist").graph, training))
    args = load_script(path).parse_args([])
    assert (args.dataset, args.epochs, args.batch_size, args.lr, args.momentum, args.optimizer, args.loss,
            args.seed, args.schedule, args.gamma, args.step_size, args.nesterov, args.fit_input) == (
        "fashion-mnist", 3, 32, 0.001, 0.5, "adam", "nll", 7, "step", 0.5, 2, True, "resize")
    # no training settings: MNIST defaults
    path.write_text(training_script(load_preset("lenet5-mnist").graph, None))
    args = load_script(path).parse_args(["--epochs", "2"])
    assert (args.dataset, args.epochs, args.batch_size, args.optimizer, args.loss, args.schedule, args.fit_input) == (
        "mnist", 2, 64, "sgd", "cross-entropy", "cosine", "auto")
    # the schedules follow the app's per-step formulas
    mod = load_script(path)
    args = mod.parse_args(["--epochs", "3", "--lr", "0.1", "--schedule", "cosine"])
    assert mod.lr_at(args, 0, 10) == 0.1 and abs(mod.lr_at(args, 15, 10) - 0.05) < 1e-12
    args = mod.parse_args(["--epochs", "6", "--lr", "0.1", "--schedule", "step"])
    assert mod.lr_at(args, 19, 10) == 0.1 and abs(mod.lr_at(args, 20, 10) - 0.01) < 1e-12


def test_bad_training_values_are_refused_and_never_written_as_code() -> None:
    graph = load_preset("mlp-mnist").graph
    for key, value in (("lr", "__import__('os').system('echo hacked')"), ("optimizer", "lbfgs"), ("epochs", -1),
                       ("batch_size", True)):
        with pytest.raises(TrainError, match=f"training setting '{key}'"):
            training_script_full(graph, {key: value})
    # left-out settings follow the app's defaults; the bundled sample becomes MNIST, with a note
    out = training_script_full(graph, {"dataset": "sample"})
    app = TrainConfig()
    assert out.settings["lr"] == app.lr and out.settings["optimizer"] == "sgd" and out.settings["epochs"] == app.epochs
    assert out.settings["dataset"] == "mnist" and out.settings["batch_size"] == 64
    assert "sample" in " | ".join(out.notes)
    assert "__import__" not in out.source


def test_reads_idx_files_in_both_layouts_and_fits_the_input(tmp_path: Path) -> None:
    path = tmp_path / "net.py"
    path.write_text(training_script(load_preset("lenet-tutorial").graph, {}))
    mod = load_script(path)
    flat = fake_mnist(tmp_path / "flat", n_train=20, n_test=10, layout="flat", compress=True)
    tv = fake_mnist(tmp_path / "tv", n_train=20, n_test=10, layout="torchvision", compress=False)
    a = mod.load_data("mnist", str(flat), download=False)
    b = mod.load_data("mnist", str(tv), download=False)
    for got in (a, b):
        assert got[0].shape == (20, 1, 28, 28) and got[0].dtype == torch.uint8
        assert got[1].shape == (20,) and got[1].dtype == torch.int64
        assert got[2].shape == (10, 1, 28, 28)
    assert torch.equal(a[0], b[0]) and torch.equal(a[3], b[3])  # same seed → same data
    mean, std = mod.STATS["mnist"]
    x = mod.prepare(a[0][:4], (1, 32, 32), mean, std)
    assert x.shape == (4, 1, 32, 32)
    black = (0.0 - mean[0]) / std[0]
    assert torch.allclose(x[:, :, :2, :], torch.full_like(x[:, :, :2, :], black))  # 2-pixel black border
    inner = (a[0][:4].float() / 255 - mean[0]) / std[0]
    assert torch.allclose(x[:, :, 2:30, 2:30], inner)
    assert mod.prepare(a[0][:4], (784,), mean, std).shape == (4, 784)
    assert mod.prepare(a[0][:4], (3, 28, 28), mean, std).shape == (4, 3, 28, 28)
    assert mod.prepare(a[0][:4], (1, 14, 14), mean, std).shape == (4, 1, 14, 14)
    with pytest.raises(SystemExit, match="not found"):
        mod.load_data("mnist", str(tmp_path / "empty"), download=False)


@pytest.mark.slow
def test_script_runs_with_padding_for_a_32x32_net(tmp_path: Path) -> None:
    data = fake_mnist(tmp_path / "data", n_train=128, n_test=32, layout="torchvision")
    (tmp_path / "net.py").write_text(training_script(load_preset("lenet-tutorial").graph, {"batch_size": 32}))
    proc = run_python(["net.py", "--epochs", "2", "--data-dir", str(data), "--no-download", "--dry-run",
                       "--save-model"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Test set: Average loss") == 2
    assert "1 process" in proc.stdout and "device cpu" in proc.stdout
    assert (tmp_path / "net.pt").is_file()


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(training_script(load_preset("mlp-mnist").graph, {}))
    proc = run_python(["net.py", "--data-dir", str(tmp_path / "nowhere"), "--no-download"], cwd=tmp_path)
    assert proc.returncode != 0
    assert "mnist not found" in proc.stderr and "--data-dir" in proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(real_mnist() is None, reason="the real MNIST files are not in shared/datasets/mnist")
def test_script_learns_on_real_mnist(tmp_path: Path) -> None:
    """150 SGD steps of LeNet-5 on the real MNIST must beat chance by far on the full test set."""
    out = tmp_path / "net.py"
    rc = cli_main(["export", str(presets_dir() / "lenet5-mnist.json"), "--with-training", "-o", str(out)])
    assert rc == 0
    proc = run_python(["net.py", "--epochs", "1", "--data-dir", str(real_mnist()), "--no-download",
                       "--max-steps", "150", "--log-interval", "50", "--save-model", "w.pt"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "60000 training, 10000 test images" in proc.stdout
    m = re.search(r"Accuracy: (\d+)/10000", proc.stdout)
    assert m, proc.stdout
    assert int(m.group(1)) > 8000  # chance is 1000
    losses = [float(v) for v in re.findall(r"Loss: ([0-9.]+)", proc.stdout)]
    assert losses[-1] < losses[0] / 2
    model = load_script(out).Net()
    model.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))


def test_cli_with_training_uses_the_project_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = load_preset("mlp-mnist")
    src = tmp_path / "p.json"
    save_project(src, project.graph, {"epochs": 2, "optimizer": "rmsprop", "lr": 0.002})
    out = tmp_path / "train_mlp.py"
    assert cli_main(["export", str(src), "--with-training", "-o", str(out), "--class-name", "MLP"]) == 0
    assert "torchrun --nproc_per_node=N" in capsys.readouterr().err
    args = load_script(out).parse_args([])
    assert (args.epochs, args.optimizer, args.lr) == (2, "rmsprop", 0.002)
    assert "class MLP(nn.Module):" in out.read_text()
    assert cli_main(["export", str(src), "--with-training"]) == 1
    assert "-o OUT.py" in capsys.readouterr().err


def test_reads_cifar10_in_torchvision_layout(tmp_path: Path) -> None:
    import pickle

    import numpy as np

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                         b"labels": [int(v) for v in rng.integers(0, 10, 4)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batches[name], f)
    (tmp_path / "net.py").write_text(training_script(load_preset("lenet5-mnist").graph, {"dataset": "cifar10"}))
    mod = load_script(tmp_path / "net.py")
    train_x, train_y, test_x, test_y = mod.load_data("cifar10", str(tmp_path), download=False)
    assert train_x.shape == (20, 3, 32, 32) and test_x.shape == (4, 3, 32, 32)
    first = torch.from_numpy(batches["data_batch_1"][b"data"][0].reshape(3, 32, 32))
    assert torch.equal(train_x[0], first)
    assert train_y.tolist()[:4] == batches["data_batch_1"][b"labels"]
    assert test_y.tolist() == batches["test_batch"][b"labels"]
    # a grey 28×28 net on colour 32×32 images: averaged to one channel, resized down
    mean, std = mod.STATS["cifar10"]
    assert mod.prepare(train_x[:2], (1, 28, 28), mean, std).shape == (2, 1, 28, 28)
