"""Shared helpers for the export/import tests: small IDX datasets and running generated scripts."""

from __future__ import annotations

import gzip
import importlib.util
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import torch

ROOT = Path(__file__).resolve().parent.parent
PRESETS = sorted(p.stem for p in (ROOT / "resources" / "presets").glob("*.json"))
MNIST = ROOT.parent / "shared" / "datasets" / "mnist"


def real_mnist() -> Path | None:
    """The shared real MNIST folder when it holds the four IDX files."""
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")
    return MNIST if all((MNIST / n).is_file() for n in names) else None


def write_idx(path: Path, tensor: torch.Tensor, compress: bool) -> None:
    """Write a uint8 tensor as an IDX file (the MNIST format)."""
    header = struct.pack(">HBB", 0, 0x08, tensor.dim()) + struct.pack(f">{tensor.dim()}I", *tensor.shape)
    data = header + tensor.contiguous().numpy().tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def fake_mnist(root: Path, n_train: int = 256, n_test: int = 64, layout: str = "flat", compress: bool = True,
               seed: int = 0) -> Path:
    """A tiny learnable MNIST look-alike: the label is encoded as a bright square's position.

    ``layout`` "flat" puts the files directly in ``root``; "torchvision" in ``root/MNIST/raw``."""
    gen = torch.Generator().manual_seed(seed)
    folder = root if layout == "flat" else root / "MNIST" / "raw"

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 10, (n,), generator=gen, dtype=torch.uint8)
        x = torch.randint(0, 40, (n, 28, 28), generator=gen, dtype=torch.uint8)
        for i in range(n):
            r, c = divmod(int(y[i]), 5)
            x[i, 4 + 10 * r:10 + 10 * r, 2 + 5 * c:6 + 5 * c] = 255
        return x, y

    tx, ty = make(n_train)
    vx, vy = make(n_test)
    write_idx(folder / "train-images-idx3-ubyte", tx, compress)
    write_idx(folder / "train-labels-idx1-ubyte", ty, compress)
    write_idx(folder / "t10k-images-idx3-ubyte", vx, compress)
    write_idx(folder / "t10k-labels-idx1-ubyte", vy, compress)
    return root


def load_script(path: Path) -> ModuleType:
    """Import a generated script as a module (its ``main()`` does not run)."""
    spec = importlib.util.spec_from_file_location(f"script_{abs(hash(str(path)))}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def script_env() -> dict[str, str]:
    """Environment for a script subprocess: one thread, no GPU, loopback only."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", MASTER_ADDR="127.0.0.1",
               GLOO_SOCKET_IFNAME="lo", PYTHONWARNINGS="ignore")
    return env


def run_python(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` and return the finished process (output captured as text)."""
    return subprocess.run([sys.executable, *args], cwd=cwd, env=script_env(), capture_output=True, text=True,
                          timeout=timeout)


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
