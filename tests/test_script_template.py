"""The training-script template is a real module: it runs on its own, and the exported script is that
module filled in, with the engine's readers, input fit and statistics in it."""

from __future__ import annotations

import ast
import os
import pickle
from pathlib import Path

import pytest
import torch
from netbuilder.core.interop.script_export import dataset_stats, template_path, training_script
from netbuilder.core.model.project import load_preset
from netbuilder.core.train import formats
from netbuilder.core.train.config import TrainConfig
from netbuilder.core.train.data import load_dataset
from netbuilder.core.train.dataset import PUBLISHED_STATS
from netbuilder.core.train.optim import lr_at

from tests._helpers_export import fake_mnist, load_script


def test_the_template_trains_its_stand_in_model_on_its_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = fake_mnist(tmp_path / "data", n_train=64, n_test=32)
    mod = load_script(template_path())
    assert mod.prepare is formats.prepare  # the template imports what the export inlines
    accuracy = mod.main(["--epochs", "1", "--data-dir", str(data), "--no-download", "--device", "cpu",
                         "--batch-size", "16"])
    out = capsys.readouterr().out
    assert "Net: 7,850 parameters" in out and out.count("Test set: Average loss") == 1
    assert 0.0 <= accuracy <= 1.0


@pytest.mark.parametrize("schedule", ["none", "step", "cosine"])
def test_the_script_schedules_the_learning_rate_as_the_engine(schedule: str) -> None:
    mod = load_script(template_path())
    args = mod.parse_args(["--epochs", "7", "--lr", "0.2", "--schedule", schedule, "--gamma", "0.5"])
    cfg = TrainConfig(epochs=7, lr=0.2, schedule=schedule, gamma=0.5)
    for step in (0, 1, 9, 10, 33, 69, 70, 100):
        assert mod.lr_at(args, step, 10) == pytest.approx(lr_at(cfg, step, 10), rel=1e-12)


def test_the_export_inlines_the_engine_readers_and_needs_no_netbuilder(tmp_path: Path) -> None:
    path = tmp_path / "net.py"
    path.write_text(training_script(load_preset("lenet5-mnist").graph, {}))
    source = path.read_text()
    tree = ast.parse(source)
    imported = {a.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in tree.body if isinstance(n, ast.ImportFrom)}
    assert "netbuilder" not in imported and "netbuilder" not in source.split('"""', 2)[2].split("# ---")[0]
    assert imported <= {"__future__", "argparse", "collections", "gzip", "io", "math", "os", "pickle", "sys",
                        "time", "typing", "zlib", "torch"}
    for name in ("read_idx", "read_cifar_batch", "CifarUnpickler", "prepare", "FormatError"):
        assert f"\ndef {name}(" in source or f"\nclass {name}(" in source
    assert "@settings" not in source and "@model" not in source and "class Net(nn.Module):" in source
    mod = load_script(path)
    x = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    for shape, fit in (((1, 32, 32), "auto"), ((1, 20, 20), "pad"), ((3, 14, 14), "resize"), ((784,), "auto")):
        assert torch.equal(mod.prepare(x, shape, (0.2,), (0.3,), fit), formats.prepare(x, shape, (0.2,), (0.3,), fit))


def test_the_script_refuses_a_hostile_cifar_pickle(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, ("echo hacked",))

    bad = tmp_path / "data_batch_1"
    bad.write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    (tmp_path / "net.py").write_text(training_script(load_preset("lenet5-mnist").graph, {}))
    mod = load_script(tmp_path / "net.py")
    with pytest.raises(mod.FormatError, match=r"refused to load (posix|os)\.system"):
        mod.read_cifar_batch(str(bad))


def test_the_script_normalises_with_the_statistics_the_app_computed(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETBUILDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    data = fake_mnist(tmp_path / "data", n_train=40, n_test=10)
    training = {"dataset": "mnist", "data_dir": str(data)}
    stats = dataset_stats(training)
    ds = load_dataset("mnist", data)
    assert stats == {"mnist": (ds.mean, ds.std)} and ds.mean != PUBLISHED_STATS["mnist"][0]
    (tmp_path / "net.py").write_text(training_script(load_preset("mlp-mnist").graph, training, stats=stats))
    mod = load_script(tmp_path / "net.py")
    assert mod.STATS["mnist"] == (ds.mean, ds.std)
    assert mod.STATS["cifar10"] == PUBLISHED_STATS["cifar10"]  # not at hand: the published ones
    # not on this machine, or the bundled sample (whose statistics are not MNIST's): nothing to pass
    assert dataset_stats({"dataset": "mnist", "data_dir": str(tmp_path / "nowhere")}) == {}
    assert dataset_stats({"dataset": "sample"}) == {}


def test_the_shared_formats_module_is_self_contained() -> None:
    """The exporter copies formats.py into scripts that have only torch: it must import nothing else
    (NumPy only inside the CIFAR-10 reader, whose pickles hold NumPy arrays)."""
    tree = ast.parse(Path(formats.__file__).read_text())
    top = {a.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    top |= {(n.module or "").split(".")[0] for n in tree.body if isinstance(n, ast.ImportFrom)}
    assert top <= {"__future__", "collections", "gzip", "io", "os", "pickle", "typing", "zlib", "torch"}
