"""Make the bundled MNIST sample (resources/data/mnist-sample) from the original MNIST files.

Not needed at runtime. Takes a stratified random subset — 600 training and 100 test images per digit
(seed 0) — and writes it in MNIST's own IDX .gz format with torchvision's file names, so the sample
loads through exactly the same code path as the real dataset.

    python bench/make_mnist_sample.py [--src ../shared/datasets/mnist] [--out resources/data/mnist-sample]
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from netbuilder.core.train.data import read_idx  # noqa: E402


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write uint8 ``array`` as an IDX file, gzipped with mtime 0 so reruns give identical bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def stratified(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """``per_class`` random indices of each class, in ascending order (keeps the original order)."""
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)]
    return np.sort(np.concatenate(picks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=str(ROOT.parent / "shared" / "datasets" / "mnist"))
    parser.add_argument("--out", default=str(ROOT / "resources" / "data" / "mnist-sample"))
    parser.add_argument("--train-per-class", type=int, default=600)
    parser.add_argument("--test-per-class", type=int, default=100)
    args = parser.parse_args()
    src, out = Path(args.src), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, per_class in (("train", args.train_per_class), ("t10k", args.test_per_class)):
        x = read_idx(src / f"{prefix}-images-idx3-ubyte.gz")
        y = read_idx(src / f"{prefix}-labels-idx1-ubyte.gz")
        idx = stratified(y, per_class, rng)
        write_idx(out / f"{prefix}-images-idx3-ubyte.gz", x[idx])
        write_idx(out / f"{prefix}-labels-idx1-ubyte.gz", y[idx])
        print(f"{prefix}: {len(idx)} images (indices {idx[:5].tolist()}...)")


if __name__ == "__main__":
    main()
