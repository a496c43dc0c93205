"""Where a dataset's files are looked for, and where downloads and unpacked files go.

First match wins:

* ``data_dir`` if given, else ``$NETBUILDER_DATA``, then ``~/.cache/netbuilder/<name>``;
* inside each: torchvision's layout (``MNIST/raw``, ``FashionMNIST/raw``, ``cifar-10-batches-py``),
  a ``<name>`` sub-folder, or the folder itself.

MNIST and Fashion-MNIST use the same file names, so a folder is accepted for one of them only if its
training labels have that dataset's class counts (Fashion-MNIST has exactly 6,000 of each class).
Data folders are never written to except by an explicit download or to unpack a CIFAR-10 tarball (into
the per-user folder when the data folder is read-only).
"""

from __future__ import annotations

import os
from pathlib import Path

from netbuilder.core.train.dataset import PRETTY, DataError, how_to_get
from netbuilder.core.train.decode import CIFAR_TAR, extract_cifar_tar, label_identity, read_idx
from netbuilder.core.train.formats import CIFAR_DIR, CIFAR_TEST, CIFAR_TRAIN, IDX_FILES
from netbuilder.resources import resources_dir

TV_FOLDER = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
"""torchvision's folder for each IDX dataset (its files are in ``<folder>/raw``)."""


def user_cache_root() -> Path:
    """``$XDG_CACHE_HOME/netbuilder``, by default ``~/.cache/netbuilder``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "netbuilder"


def default_data_dir(name: str) -> Path:
    """Where downloads go when no folder is given: ``~/.cache/netbuilder/<name>``."""
    return user_cache_root() / name


def sample_dir() -> Path:
    """The bundled MNIST sample (IDX .gz files)."""
    return resources_dir() / "data" / "mnist-sample"


def search_roots(name: str, data_dir: str | os.PathLike[str] | None) -> list[Path]:
    """The folders searched for ``name``, in order."""
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


def candidates(name: str, root: Path) -> list[Path]:
    """The folders under ``root`` that may hold ``name``'s files, in order."""
    if name == "cifar10":
        return [root / CIFAR_DIR, root / name / CIFAR_DIR, root / name, root]
    tv = TV_FOLDER[name]
    return [root / tv / "raw", root / name / tv / "raw", root / name, root]


def idx_path(folder: Path, stem: str) -> Path | None:
    """``<stem>.gz`` or ``<stem>`` in ``folder``, whichever is there first."""
    for p in (folder / f"{stem}.gz", folder / stem):
        if p.is_file():
            return p
    return None


def find_files(name: str, roots: list[Path]) -> tuple[Path, dict[str, Path]]:
    """The folder holding ``name``'s files and each file's path, or DataError saying where we looked."""
    looked: list[str] = []
    notes: list[str] = []
    for root in roots:
        folders = candidates(name, root)
        if name == "cifar10" and not (root / CIFAR_DIR).is_dir() and (root / CIFAR_TAR).is_file():
            dest = writable_or_cache(root, name)
            if not (dest / CIFAR_DIR).is_dir():
                extract_cifar_tar(root / CIFAR_TAR, dest)
            folders.insert(0, dest / CIFAR_DIR)
        for folder in folders:
            looked.append(str(folder))
            if not folder.is_dir():
                continue
            if name == "cifar10":
                files = {b: folder / b for b in (*CIFAR_TRAIN, CIFAR_TEST)}
                present = {k: p for k, p in files.items() if p.is_file()}
                if len(present) == len(files):
                    return folder, files
                if present:
                    missing = sorted(set(files) - set(present))
                    raise DataError(f"CIFAR-10 in {folder} is incomplete: missing {', '.join(missing)}. "
                                    f"{how_to_get(name)}")
                continue
            found = {stem: idx_path(folder, stem) for stem in IDX_FILES}
            present_idx = {k: p for k, p in found.items() if p is not None}
            if not present_idx:
                continue
            if len(present_idx) < len(IDX_FILES):
                missing = [f"{s}.gz" for s in IDX_FILES if found[s] is None]
                raise DataError(f"{PRETTY[name]} in {folder} is incomplete: missing {', '.join(missing)} "
                                f"(the .gz or the unpacked file). {how_to_get(name)}")
            labels = read_idx(present_idx["train-labels-idx1-ubyte"], name)
            identity = label_identity(labels)
            if identity not in ("unknown", name):
                notes.append(f"{folder} holds {PRETTY[identity]}, not {PRETTY[name]}")
                continue
            return folder, present_idx
    where = "\n  ".join(dict.fromkeys(looked))
    wanted = (f"{CIFAR_DIR}/ ({', '.join(CIFAR_TRAIN)}, {CIFAR_TEST}) or {CIFAR_TAR}" if name == "cifar10"
              else ", ".join(f"{s}.gz" for s in IDX_FILES))
    extra = ("\n" + "\n".join(notes)) if notes else ""
    raise DataError(f"{PRETTY[name]} not found: looked for {wanted} in\n  {where}{extra}\n{how_to_get(name)}.")


def writable_or_cache(root: Path, name: str) -> Path:
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
