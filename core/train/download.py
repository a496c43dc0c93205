"""Downloading a dataset's original files from torchvision's mirrors, each checked against its md5.

Only an explicit download writes into a data folder. ``$NETBUILDER_NO_DOWNLOAD`` refuses every download
that is not from a ``file:`` URL (tests and machines without internet).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from netbuilder.core.train.dataset import PRETTY, DataError, normalise_name
from netbuilder.core.train.decode import CIFAR_TAR, extract_cifar_tar
from netbuilder.core.train.locate import TV_FOLDER, sample_dir, writable_or_cache

Progress = Callable[[int, int, str], None]
"""``progress(done_bytes, total_bytes, filename)``; ``total_bytes`` is 0 when the server does not say."""


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
    base = writable_or_cache(Path(root).expanduser(), name)
    mirrors, resources = _resources(name)
    target = base if name == "cifar10" else base / TV_FOLDER[name] / "raw"
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
            raise DataError(f"could not download {filename} for {PRETTY[name]}:\n  " + "\n  ".join(errors)
                            + f"\nWithout internet, copy the original files into a folder and pass it with "
                              f"--data-dir or NETBUILDER_DATA (tried to save into {target}).")
    if name == "cifar10":
        extract_cifar_tar(target / CIFAR_TAR, target)
    return base


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
