"""Data files that ship with NetBuilder: preset projects and the bundled MNIST sample."""

from __future__ import annotations

from pathlib import Path


def resources_dir() -> Path:
    """The installed folder of this package (the same in editable and wheel installs)."""
    return Path(__file__).resolve().parent
