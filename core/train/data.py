"""Datasets as in-memory uint8 tensors: MNIST, Fashion-MNIST, CIFAR-10 and the bundled MNIST sample.

:func:`load_dataset` finds a dataset's original files (downloading them on request), decodes them once into
uint8 tensors and int64 labels, computes the exact per-channel statistics, and keeps the decoded form in a
cache; data folders are never written to except by an explicit download. The parts live in their own
modules, and their public names are re-exported here:

* :mod:`~netbuilder.core.train.dataset` — the :class:`Dataset` type, :class:`DataError`, class names,
  statistics (:func:`mean_std`);
* :mod:`~netbuilder.core.train.formats` — the IDX and CIFAR-10 readers (CIFAR-10's pickles through a
  restricted unpickler) and the input fit, shared with the exported training script;
* :mod:`~netbuilder.core.train.decode` — folders of those files → tensors, with errors that say how to
  get the files again;
* :mod:`~netbuilder.core.train.locate` — where files are looked for; :mod:`~netbuilder.core.train.download`
  — fetching them; :mod:`~netbuilder.core.train.cache` — the decoded cache;
* :mod:`~netbuilder.core.train.fit` — whether a model accepts the images, and turning a batch into input.
"""

from __future__ import annotations

import os

import torch
from netbuilder.core.train.cache import cache_dir, cache_file, cache_key, load_cache, save_cache
from netbuilder.core.train.config import DATASETS, FIT_INPUTS
from netbuilder.core.train.dataset import (
    CIFAR_CLASSES,
    DIGITS,
    FASHION_CLASSES,
    DataError,
    Dataset,
    classes_of,
    mean_std,
    normalise_name,
)
from netbuilder.core.train.decode import CIFAR_TAR, load_cifar_folder, load_idx_folder, read_cifar_batch, read_idx
from netbuilder.core.train.download import Progress, download_dataset
from netbuilder.core.train.fit import check_compat, prepare_images
from netbuilder.core.train.formats import CIFAR_DIR, CIFAR_TEST, CIFAR_TRAIN, IDX_FILES, CifarUnpickler
from netbuilder.core.train.locate import default_data_dir, find_files, idx_path, sample_dir, search_roots


def load_dataset(name: str, data_dir: str | os.PathLike[str] | None = None, download: bool = False,
                 progress: Progress | None = None) -> Dataset:
    """Load a dataset into memory (decoding once, then from the cache).

    ``name`` is one of :data:`DATASETS`; ``"sample"`` is the bundled MNIST subset and ignores
    ``data_dir``. Missing files are downloaded first when ``download`` is true; otherwise a
    :class:`DataError` says which files, where they were looked for and how to get them."""
    name = normalise_name(name)
    if name == "sample":
        folder = sample_dir()
        files = {s: p for s in IDX_FILES if (p := idx_path(folder, s)) is not None}
        if len(files) < len(IDX_FILES):
            raise DataError(f"the bundled MNIST sample is missing from {folder}; reinstall NetBuilder")
        tensors = load_idx_folder(name, folder, files)
        mean, std = mean_std(tensors["train_x"])
        return Dataset(name, tensors["train_x"], tensors["train_y"], tensors["test_x"], tensors["test_y"],
                       DIGITS, mean, std, str(folder))
    roots = search_roots(name, data_dir)
    try:
        folder, files = find_files(name, roots)
    except DataError:
        if not download:
            raise
        target = download_dataset(name, str(roots[0]), progress)
        folder, files = find_files(name, [target, *roots])
    key = cache_key(name, files)
    cpath = cache_file(name, folder)
    cached = load_cache(cpath, key)
    if cached is not None:
        return Dataset(name, cached["train_x"], cached["train_y"], cached["test_x"], cached["test_y"],
                       classes_of(name), tuple(cached["mean"].tolist()), tuple(cached["std"].tolist()), str(folder),
                       from_cache=True)
    tensors = load_cifar_folder(folder) if name == "cifar10" else load_idx_folder(name, folder, files)
    mean, std = mean_std(tensors["train_x"])
    save_cache(cpath, {**tensors, "key": key, "mean": torch.tensor(mean, dtype=torch.float64),
                       "std": torch.tensor(std, dtype=torch.float64)})
    return Dataset(name, tensors["train_x"], tensors["train_y"], tensors["test_x"], tensors["test_y"],
                   classes_of(name), mean, std, str(folder))


__all__ = [
    "CIFAR_CLASSES", "CIFAR_DIR", "CIFAR_TAR", "CIFAR_TEST", "CIFAR_TRAIN", "DATASETS", "DIGITS", "FASHION_CLASSES",
    "FIT_INPUTS", "IDX_FILES", "CifarUnpickler", "DataError", "Dataset", "Progress", "cache_dir", "check_compat",
    "default_data_dir", "download_dataset", "load_dataset", "mean_std", "normalise_name", "prepare_images",
    "read_cifar_batch", "read_idx", "sample_dir",
]
