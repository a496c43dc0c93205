"""The distribution installs one top-level import package, ``netbuilder``, with its data files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_pyproject_lists_every_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = sorted("netbuilder." + ".".join(p.parent.relative_to(ROOT).parts)
                   for top in ("core", "gui", "resources") for p in (ROOT / top).rglob("__init__.py"))
    assert sorted(config["packages"]) == found


def test_no_top_level_core_gui_or_resources(tmp_path: Path) -> None:
    # Outside the checkout, only `netbuilder` is importable; the old names are gone.
    code = ("import importlib.util as u, netbuilder.core.model.project as p;"
            "print([n for n in ('core', 'gui', 'resources') if u.find_spec(n)]);"
            "print(len(list(p.presets_dir().glob('*.json'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    missing, presets = out.stdout.split("\n")[:2]
    assert missing == "[]"
    assert int(presets) >= 4


@pytest.mark.slow
def test_wheel_holds_only_netbuilder(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.fail(r.stderr)
    wheel = next(tmp_path.glob("netbuilder-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        top = z.read(next(n for n in names if n.endswith("top_level.txt"))).decode().split()
    assert top == ["netbuilder"]
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"netbuilder"}
    assert "netbuilder/resources/presets/lenet5-mnist.json" in names
    assert any(n.startswith("netbuilder/resources/data/mnist-sample/") for n in names)
    assert "netbuilder/core/model/graph.py" in names and "netbuilder/gui/editor/main_window.py" in names
    # installed into a throwaway folder, the package runs without the checkout
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, timeout=300)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import netbuilder.core.model.project as p;"
            "import netbuilder.core.train.data as d; print(p.__file__); print(d.sample_dir().is_dir())")
    out = subprocess.run([sys.executable, "-c", code, str(target)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    file, sample = out.stdout.split("\n")[:2]
    assert file.startswith(str(target)) and sample == "True"
