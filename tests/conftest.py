"""Test configuration: Qt runs offscreen, torch uses the CPU threads it is given, nothing downloads."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NETBUILDER_NO_DOWNLOAD", "1")

ROOT = Path(__file__).resolve().parent.parent

# Decoded-dataset caches and app settings go to a per-run temporary folder, never the user's home.
_TMP = Path(tempfile.mkdtemp(prefix="netbuilder-tests-"))
os.environ.setdefault("NETBUILDER_CACHE", str(_TMP / "cache"))
os.environ.setdefault("NETBUILDER_CONFIG_DIR", str(_TMP / "config"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The real MNIST (IDX .gz files) lies beside the checkout on the development and CI machines.
SHARED_MNIST = ROOT.parent / "shared" / "datasets" / "mnist"
if "NETBUILDER_DATA" not in os.environ and SHARED_MNIST.is_dir():
    os.environ["NETBUILDER_DATA"] = str(SHARED_MNIST)
