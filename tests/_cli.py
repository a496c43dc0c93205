"""What the headless training tests share: the preset they train, the fast settings, and a fixture
that gives each test its own dataset cache and puts torch's thread count back afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from netbuilder.core.model.project import presets_dir

ROOT = Path(__file__).resolve().parent.parent
LENET5 = str(presets_dir() / "lenet5-mnist.json")
FAST = ["--dataset", "sample", "--threads", "1", "--device", "cpu"]


@pytest.fixture
def isolated_training(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A per-test cache folder (``NETBUILDER_CACHE``) and torch's thread count restored (``--threads``
    sets it for the whole process)."""
    monkeypatch.setenv("NETBUILDER_CACHE", str(tmp_path / "cache"))
    old = torch.get_num_threads()
    yield
    torch.set_num_threads(old)
