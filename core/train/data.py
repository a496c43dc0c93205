"""Datasets as in-memory uint8 tensors: MNIST, Fashion-MNIST, CIFAR-10 and the bundled MNIST sample.

Every dataset is decoded once into ``uint8`` tensors (N×C×H×W) and int64 labels and kept in memory;
batches are taken by indexing (see :mod:`core.trainer`), with no PIL, no per-sample transforms and no
DataLoader workers. The decoded form is cached as a ``.pt`` file of plain tensors under the user cache
folder (``$NETBUILDER_CACHE`` or ``~/.cache/netbuilder/decoded``), keyed by the source files' names,
sizes and modification times, and loaded with ``torch.load(weights_only=True)``; data folders are never
written to except by an explicit download.

Where the files are looked for (first match wins):

* ``data_dir`` if given, else ``$NETBUILDER_DATA``, then ``~/.cache/netbuilder/<name>``;
* inside each: torchvision's layout (``MNIST/raw``, ``FashionMNIST/raw``, ``cifar-10-batches-py``),
  a ``<name>`` sub-folder, or the folder itself.

MNIST and Fashion-MNIST use the same file names, so a folder is accepted for one of them only if its
training labels have that dataset's class counts (Fashion-MNIST has exactly 6,000 of each class).

CIFAR-10's "python version" batches are Python pickles. Unpickling untrusted data can run code, so they
are read with :class:`CifarUnpickler`, which resolves only the few globals a NumPy array needs
(``numpy.ndarray``, ``numpy.dtype``, ``numpy.core.multiarray._reconstruct`` and a latin-1-only
``_codecs.encode``) and refuses everything else; the result must then be a dict holding a uint8 array
and a list of ints.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import pickle
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from netbuilder.core.errors import UserError
from netbuilder.resources import resources_dir

DATASETS: tuple[str, ...] = ("sample", "mnist", "fashion-mnist", "cifar10")
FIT_INPUTS: tuple[str, ...] = ("none", "pad", "resize")

Progress = Callable[[int, int, str], None]
"""``progress(done_bytes, total_bytes, filename)``; ``total_bytes`` is 0 when the server does not say."""

DIGITS = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_TAR = "cifar-10-python.tar.gz"

_TV_FOLDER = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_PRETTY = {"sample": "the MNIST sample", "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
_CACHE_VERSION = 1


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


# ---------------------------------------------------------------- locations


def _user_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "netbuilder"


def default_data_dir(name: str) -> Path:
    """Where downloads go when no folder is given: ``~/.cache/netbuilder/<name>``."""
    return _user_cache_root() / name


def sample_dir() -> Path:
    """The bundled MNIST sample (IDX .gz files)."""
    return resources_dir() / "data" / "mnist-sample"


def _roots(name: str, data_dir: str | os.PathLike[str] | None) -> list[Path]:
    roots: list[Path] = []
    if data_dir is not None:
        roots.append(Path(data_dir).expanduser())
    elif os.environ.get("NETBUILDER_DATA"):
        roots.append(Path(os.environ["NETBUILDER_DATA"]).expanduser())
    roots.append(default_data_dir(name))
    out: list[Path] = []
    for r in roots:
        if r not in out:
            out.append(r)
    return out


def _candidates(name: str, root: Path) -> list[Path]:
    if name == "cifar10":
        return [root / CIFAR_DIR, root / name / CIFAR_DIR, root / name, root]
    tv = _TV_FOLDER[name]
    return [root / tv / "raw", root / name / tv / "raw", root / name, root]


def _how_to_get(name: str) -> str:
    return (f"get {_PRETTY[name]} with the Download button or `netbuilder train ... --download` (needs internet), "
            f"or copy its original files into a folder and pass it with --data-dir or the NETBUILDER_DATA "
            f"environment variable")


# ---------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)


def _idx_path(folder: Path, stem: str) -> Path | None:
    for p in (folder / f"{stem}.gz", folder / stem):
        if p.is_file():
            return p
    return None


def _read_bytes(path: Path, name: str) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path} ({e.strerror})") from None
    if path.suffix == ".gz":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path} is corrupt (not a complete gzip file: {e}); delete it and "
                            f"{_how_to_get(name)}") from None
    return raw


def read_idx(path: Path, name: str = "mnist") -> np.ndarray:
    """Decode one IDX file (``.gz`` or unpacked) of unsigned bytes into an array; DataError if corrupt."""
    data = _read_bytes(path, name)
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or not 1 <= data[3] <= 4:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (bad header); delete it and {_how_to_get(name)}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated (header cut short); delete it and {_how_to_get(name)}")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    count = int(np.prod(dims))
    if len(data) != header + count:
        raise DataError(f"{path} is corrupt: its header promises {'×'.join(map(str, dims))} = {count:,} bytes of "
                        f"data but it holds {len(data) - header:,}; delete it and {_how_to_get(name)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _label_identity(labels: np.ndarray) -> str:
    """Which of the two full training sets these labels are: Fashion-MNIST has exactly 6,000 of each
    class, MNIST does not (5,923 zeros, 6,742 ones, ...). Subsets are not judged."""
    counts = np.bincount(labels, minlength=10)
    if len(labels) != 60000:
        return "unknown"
    return "fashion-mnist" if counts.tolist() == [6000] * 10 else "mnist"


def _load_idx_folder(name: str, folder: Path, paths: dict[str, Path]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x = read_idx(paths[f"{prefix}-images-idx3-ubyte"], name)
        y = read_idx(paths[f"{prefix}-labels-idx1-ubyte"], name)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"{folder}: {prefix}-images holds {len(x):,} images of shape {x.shape[1:]} but "
                            f"{prefix}-labels holds {len(y):,} labels; the files do not belong together. "
                            f"{_how_to_get(name)}")
        if len(y) and int(y.max()) > 9:
            raise DataError(f"{paths[f'{prefix}-labels-idx1-ubyte']}: label {int(y.max())} is out of range 0–9")
        out[f"{split}_x"] = torch.from_numpy(x.copy()).unsqueeze(1)
        out[f"{split}_y"] = torch.from_numpy(y.astype(np.int64))
    return out


# ---------------------------------------------------------------- CIFAR-10 (restricted unpickling)


def _latin1_encode(obj: str, encoding: str = "utf-8") -> bytes:
    # pickle protocol 2 stores bytes as _codecs.encode(text, "latin1"); allow only that.
    if not isinstance(obj, str) or encoding.replace("-", "").lower() != "latin1":
        raise pickle.UnpicklingError("refused: _codecs.encode with an unexpected encoding")
    return obj.encode("latin-1")


def _np_reconstruct() -> Callable[..., Any]:
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef,unused-ignore]
    fn: Callable[..., Any] = _reconstruct
    return fn


class CifarUnpickler(pickle.Unpickler):
    """A pickle reader for CIFAR-10's python batches that resolves only what a NumPy array needs
    (``numpy.ndarray``, ``numpy.dtype``, ``_reconstruct``, latin-1 ``_codecs.encode``). Any other
    global — ``os.system``, ``builtins.eval``, … — raises :class:`pickle.UnpicklingError`."""

    def find_class(self, module: str, name: str) -> Any:
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return _np_reconstruct()
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return np.dtype
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: a CIFAR-10 batch holds only arrays")


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch safely: (images N×3×32×32 uint8, labels int64)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path} ({e.strerror})") from None
    try:
        obj = CifarUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as e:  # any malformed or hostile pickle
        raise DataError(f"{path} is not a valid CIFAR-10 python batch ({e}); delete it and "
                        f"{_how_to_get('cifar10')}") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path} is not a CIFAR-10 batch (expected a dict with 'data' and 'labels')")
    data = obj.get("data", obj.get(b"data"))
    labels = obj.get("labels", obj.get(b"labels"))
    if (not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072
            or not isinstance(labels, list) or len(labels) != len(data)
            or not all(isinstance(v, int) and 0 <= v < 10 for v in labels)):
        raise DataError(f"{path} is not a CIFAR-10 batch: expected 'data' uint8 N×3072 and N 'labels' 0–9")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def _extract_cifar_tar(tar_path: Path, dest: Path) -> None:
    try:
        with tarfile.open(tar_path, "r:gz") as tf:
            members = [m for m in tf.getmembers() if m.name.startswith(CIFAR_DIR + "/") and m.isfile()]
            if not members:
                raise DataError(f"{tar_path} holds no {CIFAR_DIR}/ folder; {_how_to_get('cifar10')}")
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover - Python < 3.10.12
                tf.extractall(dest, members=members)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DataError(f"{tar_path} is corrupt ({e}); delete it and {_how_to_get('cifar10')}") from None


def _load_cifar_folder(folder: Path) -> dict[str, torch.Tensor]:
    xs, ys = [], []
    for b in CIFAR_TRAIN:
        x, y = read_cifar_batch(folder / b)
        xs.append(x)
        ys.append(y)
    tx, ty = read_cifar_batch(folder / CIFAR_TEST)
    return {"train_x": torch.from_numpy(np.concatenate(xs)), "train_y": torch.from_numpy(np.concatenate(ys)),
            "test_x": torch.from_numpy(tx.copy()), "test_y": torch.from_numpy(ty)}


# ---------------------------------------------------------------- finding, caching, loading


def _find(name: str, roots: list[Path]) -> tuple[Path, dict[str, Path]]:
    """The folder holding ``name``'s files and each file's path, or DataError saying where we looked."""
    looked: list[str] = []
    notes: list[str] = []
    for root in roots:
        folders = _candidates(name, root)
        if name == "cifar10" and not (root / CIFAR_DIR).is_dir() and (root / CIFAR_TAR).is_file():
            dest = _writable_or_cache(root, name)
            if not (dest / CIFAR_DIR).is_dir():
                _extract_cifar_tar(root / CIFAR_TAR, dest)
            folders.insert(0, dest / CIFAR_DIR)
        for folder in folders:
            if not folder.is_dir():
                looked.append(str(folder))
                continue
            looked.append(str(folder))
            if name == "cifar10":
                files = {b: folder / b for b in (*CIFAR_TRAIN, CIFAR_TEST)}
                present = {k: p for k, p in files.items() if p.is_file()}
                if len(present) == len(files):
                    return folder, files
                if present:
                    missing = sorted(set(files) - set(present))
                    raise DataError(f"CIFAR-10 in {folder} is incomplete: missing {', '.join(missing)}. "
                                    f"{_how_to_get(name)}")
                continue
            found = {stem: _idx_path(folder, stem) for stem in IDX_FILES}
            present_idx = {k: p for k, p in found.items() if p is not None}
            if not present_idx:
                continue
            if len(present_idx) < len(IDX_FILES):
                missing = [f"{s}.gz" for s in IDX_FILES if found[s] is None]
                raise DataError(f"{_PRETTY[name]} in {folder} is incomplete: missing {', '.join(missing)} "
                                f"(the .gz or the unpacked file). {_how_to_get(name)}")
            labels = read_idx(present_idx["train-labels-idx1-ubyte"], name)
            identity = _label_identity(labels)
            if identity not in ("unknown", name):
                notes.append(f"{folder} holds {_PRETTY[identity]}, not {_PRETTY[name]}")
                continue
            return folder, present_idx
    where = "\n  ".join(dict.fromkeys(looked))
    wanted = (f"{CIFAR_DIR}/ ({', '.join(CIFAR_TRAIN)}, {CIFAR_TEST}) or {CIFAR_TAR}" if name == "cifar10"
              else ", ".join(f"{s}.gz" for s in IDX_FILES))
    extra = ("\n" + "\n".join(notes)) if notes else ""
    raise DataError(f"{_PRETTY[name]} not found: looked for {wanted} in\n  {where}{extra}\n{_how_to_get(name)}.")


def _writable_or_cache(root: Path, name: str) -> Path:
    """``root`` if we may write there, else the per-user folder for ``name``."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        if os.access(root, os.W_OK):
            return root
    except OSError:
        pass
    fallback = default_data_dir(name)
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def cache_dir() -> Path:
    """Where decoded datasets are cached: ``$NETBUILDER_CACHE`` or ``~/.cache/netbuilder/decoded``."""
    env = os.environ.get("NETBUILDER_CACHE")
    return Path(env).expanduser() if env else _user_cache_root() / "decoded"


def _cache_key(name: str, files: dict[str, Path]) -> str:
    parts = [f"v{_CACHE_VERSION}", name]
    for k in sorted(files):
        st = files[k].stat()
        parts.append(f"{files[k].resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def _cache_file(name: str, folder: Path) -> Path:
    digest = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:12]
    return cache_dir() / f"{name}-{digest}.pt"


def _load_cache(path: Path, key: str) -> dict[str, Any] | None:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # missing, truncated or foreign: decode again
        return None
    if not isinstance(obj, dict) or obj.get("key") != key:
        return None
    if not all(isinstance(obj.get(k), torch.Tensor) for k in ("train_x", "train_y", "test_x", "test_y")):
        return None
    return obj


def _save_cache(path: Path, payload: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError:
        return  # a read-only cache is not an error: we decode again next time
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)
    except OSError:
        pass  # a full or read-only cache is not an error either
    finally:
        # whatever went wrong (disk full, or torch.save failing on something else), leave no temp file
        with contextlib.suppress(OSError):
            Path(tmp).unlink(missing_ok=True)


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


def _classes(name: str) -> list[str]:
    return {"cifar10": CIFAR_CLASSES, "fashion-mnist": FASHION_CLASSES}.get(name, DIGITS)


def load_dataset(name: str, data_dir: str | os.PathLike[str] | None = None, download: bool = False,
                 progress: Progress | None = None) -> Dataset:
    """Load a dataset into memory (decoding once, then from the cache).

    ``name`` is one of :data:`DATASETS`; ``"sample"`` is the bundled MNIST subset and ignores
    ``data_dir``. Missing files are downloaded first when ``download`` is true; otherwise a
    :class:`DataError` says which files, where they were looked for and how to get them."""
    name = normalise_name(name)
    if name == "sample":
        folder = sample_dir()
        files = {s: p for s in IDX_FILES if (p := _idx_path(folder, s)) is not None}
        if len(files) < len(IDX_FILES):
            raise DataError(f"the bundled MNIST sample is missing from {folder}; reinstall NetBuilder")
        tensors = _load_idx_folder(name, folder, files)
        mean, std = mean_std(tensors["train_x"])
        return Dataset(name, tensors["train_x"], tensors["train_y"], tensors["test_x"], tensors["test_y"],
                       DIGITS, mean, std, str(folder))
    roots = _roots(name, data_dir)
    try:
        folder, files = _find(name, roots)
    except DataError:
        if not download:
            raise
        target = download_dataset(name, str(roots[0]), progress)
        folder, files = _find(name, [target, *roots])
    key = _cache_key(name, files)
    cpath = _cache_file(name, folder)
    cached = _load_cache(cpath, key)
    if cached is not None:
        return Dataset(name, cached["train_x"], cached["train_y"], cached["test_x"], cached["test_y"],
                       _classes(name), tuple(cached["mean"].tolist()), tuple(cached["std"].tolist()), str(folder),
                       from_cache=True)
    tensors = _load_cifar_folder(folder) if name == "cifar10" else _load_idx_folder(name, folder, files)
    mean, std = mean_std(tensors["train_x"])
    _save_cache(cpath, {**tensors, "key": key, "mean": torch.tensor(mean, dtype=torch.float64),
                       "std": torch.tensor(std, dtype=torch.float64)})
    return Dataset(name, tensors["train_x"], tensors["train_y"], tensors["test_x"], tensors["test_y"],
                   _classes(name), mean, std, str(folder))


def normalise_name(name: str) -> str:
    """Accept common spellings (``FashionMNIST``, ``cifar-10``); DataError listing the choices otherwise."""
    key = name.strip().lower().replace("_", "-")
    key = {"fashionmnist": "fashion-mnist", "fashion": "fashion-mnist", "cifar-10": "cifar10",
           "mnist-sample": "sample"}.get(key, key)
    if key not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return key


# ---------------------------------------------------------------- download


def _resources(name: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(mirrors, [(file, md5)]) from torchvision, read at call time so tests can point them elsewhere."""
    import torchvision.datasets as tvd

    if name == "mnist":
        return list(tvd.MNIST.mirrors), [(str(f), str(m)) for f, m in tvd.MNIST.resources]
    if name == "fashion-mnist":
        return list(tvd.FashionMNIST.mirrors), [(str(f), str(m)) for f, m in tvd.FashionMNIST.resources]
    url = str(tvd.CIFAR10.url)
    return [url.rsplit("/", 1)[0] + "/"], [(str(tvd.CIFAR10.filename), str(tvd.CIFAR10.tgz_md5))]


def _fetch(url: str, dest: Path, md5: str, progress: Progress | None) -> None:
    if os.environ.get("NETBUILDER_NO_DOWNLOAD") and not url.startswith("file:"):
        raise OSError("downloads are disabled here (NETBUILDER_NO_DOWNLOAD is set)")
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        # the file object first: it owns (and closes) the descriptor even when urlopen fails
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as resp:
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            if progress:
                progress(0, total, dest.name)
            while chunk := resp.read(1 << 16):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total, dest.name)
        if digest.hexdigest() != md5:
            raise OSError(f"checksum mismatch (md5 {digest.hexdigest()}, expected {md5})")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def download_dataset(name: str, root: str, progress: Progress | None = None) -> Path:
    """Download ``name``'s original files from torchvision's mirrors, checking each file's md5.

    Files go into torchvision's layout under ``root`` (``MNIST/raw``, ``FashionMNIST/raw``,
    ``cifar-10-batches-py``), or under ``~/.cache/netbuilder/<name>`` when ``root`` is not writable.
    Returns the folder to search. Raises :class:`DataError` when every mirror fails."""
    name = normalise_name(name)
    if name == "sample":
        return sample_dir()
    base = _writable_or_cache(Path(root).expanduser(), name)
    mirrors, resources = _resources(name)
    target = base if name == "cifar10" else base / _TV_FOLDER[name] / "raw"
    target.mkdir(parents=True, exist_ok=True)
    for filename, md5 in resources:
        dest = target / filename
        if dest.is_file() and _md5(dest) == md5:
            continue
        errors = []
        for mirror in mirrors:
            url = mirror + filename
            try:
                _fetch(url, dest, md5, progress)
                break
            except (OSError, urllib.error.URLError, ValueError) as e:
                errors.append(f"{url}: {getattr(e, 'reason', None) or e}")
        else:
            raise DataError(f"could not download {filename} for {_PRETTY[name]}:\n  " + "\n  ".join(errors)
                            + f"\nWithout internet, copy the original files into a folder and pass it with "
                              f"--data-dir or NETBUILDER_DATA (tried to save into {target}).")
    if name == "cifar10":
        _extract_cifar_tar(target / CIFAR_TAR, target)
    return base


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------- fitting data to the model


def _fmt(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


def check_compat(input_shape: tuple[int, ...], dataset: Dataset, fit_input: str = "none") -> str | None:
    """None if the model's Input (batch excluded) accepts the data after ``fit_input``; otherwise a
    message naming both shapes and the fixes."""
    data = dataset.shape
    model = tuple(int(v) for v in input_shape)
    label = _PRETTY.get(dataset.name, dataset.name)
    if fit_input not in FIT_INPUTS:
        return f"fit_input must be one of {', '.join(FIT_INPUTS)}, not {fit_input!r}"
    if model == data:
        return None
    if len(model) == 1:
        if model[0] == data[0] * data[1] * data[2] and fit_input == "none":
            return None  # a flat [features] Input takes the flattened image
        return (f"the model's Input expects {_fmt(model)} (flat features) but {label} images are {_fmt(data)} "
                f"= {data[0] * data[1] * data[2]} values; set the Input shape to [{_fmt(data).replace('×', ', ')}]"
                f" and add a Flatten layer, or set it to [{data[0] * data[1] * data[2]}]")
    if len(model) != 3:
        return f"the model's Input expects {_fmt(model)} but {label} images are {_fmt(data)} (C×H×W)"
    if model[0] != data[0]:
        return (f"the model's Input expects {model[0]} channel(s) ({_fmt(model)}) but {label} images have "
                f"{data[0]} ({_fmt(data)}); set the Input shape to [{data[0]}, {model[1]}, {model[2]}]")
    if fit_input == "resize":
        return None
    if fit_input == "pad":
        if model[1] >= data[1] and model[2] >= data[2]:
            return None
        return (f"the model's Input expects {_fmt(model)}, smaller than {label}'s {_fmt(data)}: padding cannot "
                f"shrink images; use fit_input 'resize' or set the Input shape to {_fmt(data)}")
    fix = "pad" if model[1] >= data[1] and model[2] >= data[2] else "resize"
    return (f"the model's Input expects {_fmt(model)} but {label} images are {_fmt(data)}; set the Input shape "
            f"to [{', '.join(map(str, data))}], or let the trainer fit the images to the model "
            f"(fit_input '{fix}', --fit-input {fix})")


def prepare_images(x_uint8: torch.Tensor, dataset: Dataset, input_shape: tuple[int, ...], fit_input: str,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 N×C×H×W (or float on 0..1) → float32 on ``device``, fitted to ``input_shape`` (zero padding
    centred, or bilinear resize) and normalised with the dataset's mean and std."""
    x = x_uint8.to(device) if device is not None else x_uint8
    x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    shape = tuple(int(v) for v in input_shape)
    if len(shape) == 3 and tuple(x.shape[1:]) != shape:
        h, w = shape[1], shape[2]
        if fit_input == "pad":
            dh, dw = h - x.shape[2], w - x.shape[3]
            x = F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))
        elif fit_input == "resize":
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False,
                              antialias=h < x.shape[2] or w < x.shape[3])
    mean = torch.tensor(dataset.mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(dataset.std, device=x.device).view(1, -1, 1, 1)
    x = (x - mean) / std
    if len(shape) == 1:
        x = x.reshape(x.shape[0], -1)
    return x


__all__ = [
    "DATASETS", "FIT_INPUTS", "CifarUnpickler", "DataError", "Dataset", "cache_dir", "check_compat",
    "default_data_dir", "download_dataset", "load_dataset", "mean_std", "normalise_name", "prepare_images",
    "read_cifar_batch", "read_idx", "sample_dir",
]

