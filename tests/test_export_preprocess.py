"""The exported net.py says how to feed the model: INPUT_SHAPE, INPUT_DTYPE, MEAN and STD as constants and
in the docstring, and a ``preprocess(images)`` that gives exactly the input training used."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from netbuilder.core.cli import export as export_cli
from netbuilder.core.interop.exporter import export_python, feed_from_training
from netbuilder.core.model.codegen import generate
from netbuilder.core.model.project import Project, load_preset
from netbuilder.core.train.data import load_dataset
from netbuilder.core.train.fit import prepare_images


def _exec(path: Path) -> dict:
    ns: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    return ns


@pytest.mark.parametrize("fit", ["none", "resize"])
def test_preprocess_equals_the_apps_prepare_images(tmp_path: Path, fit: str) -> None:
    ds = load_dataset("sample")
    graph = load_preset("lenet5-mnist").graph
    path = tmp_path / "net.py"
    code = export_python(graph, path, feed=feed_from_training({"dataset": "sample", "fit_input": fit}))
    text = path.read_text()
    class_text = code.source[code.source.index("class Net"):code.source.index('if __name__ == "__main__":')]
    assert class_text in text  # the class is the very text the app compiles
    ns = _exec(path)
    assert ns["INPUT_SHAPE"] == (1, 28, 28) and ns["INPUT_DTYPE"] is torch.float32
    assert ns["MEAN"] == ds.mean and ns["STD"] == ds.std and ns["DATASET"] == "sample"
    doc = " ".join(ns["__doc__"].split())
    assert f"MEAN = ({ds.mean[0]:.4f},)" in doc and "model(preprocess(images))" in doc
    assert max(len(line) for line in text.splitlines()) <= 120  # as ruff wants it
    images = ds.test_x[:64]
    assert images.dtype == torch.uint8
    want = prepare_images(images, ds, (1, 28, 28), fit)
    assert torch.equal(ns["preprocess"](images), want)
    assert torch.equal(ns["preprocess"](images[:, 0]), want)  # N×H×W grey
    assert torch.allclose(ns["preprocess"](images.float() / 255), want)
    model = ns["Net"]()
    assert model(ns["preprocess"](images)).shape == (64, 10)


def test_exact_statistics_passed_in_are_written_in_full(tmp_path: Path) -> None:
    stats = {"mnist": ((0.13066047627384287,), (0.30810780385646264,))}
    path = tmp_path / "net.py"
    export_python(load_preset("lenet5-mnist").graph, path, feed=feed_from_training({"dataset": "mnist"}, stats))
    ns = _exec(path)
    assert ns["MEAN"] == stats["mnist"][0] and ns["STD"] == stats["mnist"][1]
    assert "exact statistics of the mnist training images" in " ".join(ns["__doc__"].split())


def test_without_training_settings_no_normalisation_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "net.py"
    export_python(load_preset("lenet5-mnist").graph, path, feed=feed_from_training(None))
    ns = _exec(path)
    assert ns["MEAN"] is None and ns["STD"] is None
    assert "no normalisation was recorded" in " ".join(ns["__doc__"].split())
    x = torch.full((2, 1, 28, 28), 255, dtype=torch.uint8)
    assert torch.equal(ns["preprocess"](x), torch.ones(2, 1, 28, 28))  # scaled to 0..1 only


def test_cli_export_python_writes_the_feed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preset = load_preset("lenet5-mnist")
    project = Project(preset.graph, {"dataset": "sample"})
    out = tmp_path / "net.py"
    assert export_cli.run(argparse.Namespace(output=str(out), class_name=None), project) == 0
    ns = _exec(out)
    ds = load_dataset("sample")
    assert ns["MEAN"] == ds.mean and ns["INPUT_SHAPE"] == (1, 28, 28)
    assert "preprocess" in capsys.readouterr().err
    assert generate(preset.graph).source.split("class Net")[1].split("if __name__")[0] in out.read_text()


def test_the_export_command_writes_how_to_feed_the_model(tmp_path) -> None:
    import subprocess
    import sys

    from netbuilder.core.model.project import presets_dir

    out = tmp_path / "net.py"
    r = subprocess.run([sys.executable, "-m", "netbuilder.core.cli", "export", str(presets_dir() / "lenet5-mnist.json"),
                        "-o", str(out)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "INPUT_SHAPE" in text and "MEAN" in text and "def preprocess(" in text
