"""The original files of a dataset → tensors, with errors that say how to get the files again.

The readers themselves are in :mod:`netbuilder.core.train.formats` (shared with the exported training
script); this module checks that the files of a folder belong together and turns every
:class:`~netbuilder.core.train.formats.FormatError` into a :class:`~netbuilder.core.train.dataset.DataError`.
"""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path

import numpy as np
import torch
from netbuilder.core.train import formats
from netbuilder.core.train.dataset import DataError, how_to_get
from netbuilder.core.train.formats import CIFAR_DIR, CIFAR_TEST, CIFAR_TRAIN, FormatError

CIFAR_TAR = "cifar-10-python.tar.gz"


def _data_error(e: FormatError, name: str) -> DataError:
    return DataError(f"{e}; delete it and {how_to_get(name)}" if e.damaged else str(e))


def read_idx(path: Path, name: str = "mnist") -> np.ndarray:
    """Decode one IDX file (``.gz`` or unpacked) of unsigned bytes into an array; DataError if corrupt."""
    try:
        return formats.read_idx(path).numpy()
    except FormatError as e:
        raise _data_error(e, name) from None


def read_cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one CIFAR-10 python batch safely: (images N×3×32×32 uint8, labels int64); DataError if it is
    not one (or tries to load anything but arrays)."""
    try:
        return formats.read_cifar_batch(path)
    except FormatError as e:
        raise _data_error(e, "cifar10") from None


def label_identity(labels: np.ndarray) -> str:
    """Which of the two full training sets these labels are: Fashion-MNIST has exactly 6,000 of each
    class, MNIST does not (5,923 zeros, 6,742 ones, ...). Subsets are not judged."""
    counts = np.bincount(labels, minlength=10)
    if len(labels) != 60000:
        return "unknown"
    return "fashion-mnist" if counts.tolist() == [6000] * 10 else "mnist"


def load_idx_folder(name: str, folder: Path, paths: dict[str, Path]) -> dict[str, torch.Tensor]:
    """The four IDX files of ``paths`` (by stem) as ``train_x``, ``train_y``, ``test_x``, ``test_y``."""
    out: dict[str, torch.Tensor] = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x = read_idx(paths[f"{prefix}-images-idx3-ubyte"], name)
        y = read_idx(paths[f"{prefix}-labels-idx1-ubyte"], name)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"{folder}: {prefix}-images holds {len(x):,} images of shape {x.shape[1:]} but "
                            f"{prefix}-labels holds {len(y):,} labels; the files do not belong together. "
                            f"{how_to_get(name)}")
        if len(y) and int(y.max()) > 9:
            raise DataError(f"{paths[f'{prefix}-labels-idx1-ubyte']}: label {int(y.max())} is out of range 0–9")
        out[f"{split}_x"] = torch.from_numpy(x.copy()).unsqueeze(1)
        out[f"{split}_y"] = torch.from_numpy(y.astype(np.int64))
    return out


def extract_cifar_tar(tar_path: Path, dest: Path) -> None:
    """Unpack the CIFAR-10 tarball's batch folder (and nothing else) into ``dest``."""
    try:
        with tarfile.open(tar_path, "r:gz") as tf:
            members = [m for m in tf.getmembers() if m.name.startswith(CIFAR_DIR + "/") and m.isfile()]
            if not members:
                raise DataError(f"{tar_path} holds no {CIFAR_DIR}/ folder; {how_to_get('cifar10')}")
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover - Python < 3.10.12
                tf.extractall(dest, members=members)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DataError(f"{tar_path} is corrupt ({e}); delete it and {how_to_get('cifar10')}") from None


def load_cifar_folder(folder: Path) -> dict[str, torch.Tensor]:
    """The six CIFAR-10 batches of ``folder`` as ``train_x``, ``train_y``, ``test_x``, ``test_y``."""
    xs, ys = [], []
    for b in CIFAR_TRAIN:
        x, y = read_cifar_batch(folder / b)
        xs.append(x)
        ys.append(y)
    tx, ty = read_cifar_batch(folder / CIFAR_TEST)
    return {"train_x": torch.cat(xs), "train_y": torch.cat(ys), "test_x": tx, "test_y": ty}
