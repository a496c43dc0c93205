"""The Dataset type: a whole dataset in memory, its class names, its statistics, and the error for data
that is missing or broken.

Every dataset is decoded once into ``uint8`` tensors (N×C×H×W) and int64 labels and kept in memory;
batches are taken by indexing (see :mod:`netbuilder.core.train.trainer`), with no PIL, no per-sample
transforms and no DataLoader workers. :func:`netbuilder.core.train.data.load_dataset` builds one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from netbuilder.core.errors import UserError
from netbuilder.core.train.config import DATASETS, dataset_key

DIGITS = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

PRETTY = {"sample": "the MNIST sample", "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
"""Each dataset's name as messages write it."""


class DataError(UserError):
    """A dataset is missing, incomplete or corrupt. The message says which file, where the engine looked
    and how to get it."""


@dataclass
class Dataset:
    """A whole dataset in memory: uint8 images N×C×H×W and int64 labels, plus per-channel mean/std."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str
    from_cache: bool = False

    @property
    def shape(self) -> tuple[int, int, int]:
        """One image's shape (C, H, W)."""
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        """How many classes the labels range over."""
        return len(self.classes)

    def subset(self, train: int | None = None, test: int | None = None) -> Dataset:
        """The first ``train`` training and ``test`` test samples (views, no copy); mean/std are kept."""
        return Dataset(self.name, self.train_x[:train], self.train_y[:train], self.test_x[:test],
                       self.test_y[:test], self.classes, self.mean, self.std, self.source, self.from_cache)


def normalise_name(name: str) -> str:
    """Accept common spellings (``FashionMNIST``, ``cifar-10``); DataError listing the choices otherwise."""
    key = dataset_key(name)
    if key is None:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return key


def how_to_get(name: str) -> str:
    """The end of a message about missing or broken files: the ways to get dataset ``name``."""
    return (f"get {PRETTY[name]} with the Download button or `netbuilder train ... --download` (needs internet), "
            f"or copy its original files into a folder and pass it with --data-dir or the NETBUILDER_DATA "
            f"environment variable")


def classes_of(name: str) -> list[str]:
    """The class names of dataset ``name``, in label order."""
    return {"cifar10": CIFAR_CLASSES, "fashion-mnist": FASHION_CLASSES}.get(name, DIGITS)


def mean_std(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images on the 0..1 scale, exact, from byte histograms."""
    means, stds = [], []
    values = torch.arange(256, dtype=torch.float64) / 255.0
    for c in range(x.shape[1]):
        counts = torch.bincount(x[:, c].reshape(-1), minlength=256).to(torch.float64)
        n = counts.sum()
        m = (counts * values).sum() / n
        v = (counts * (values - m) ** 2).sum() / n
        means.append(round(float(m), 6))
        stds.append(round(max(float(v.sqrt()), 1e-6), 6))
    return tuple(means), tuple(stds)


Stats = tuple[tuple[float, ...], tuple[float, ...]]
"""Per-channel (mean, std) of a dataset's training images on the 0..1 scale."""

PUBLISHED_STATS: dict[str, Stats] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}
"""The usual published statistics of the full training sets (four digits). The engine always computes the
exact ones (:func:`mean_std`); these stand in only where a dataset's files are not at hand, such as for
the datasets of an exported training script other than the project's own."""
