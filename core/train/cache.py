"""The cache of decoded datasets: plain tensors in a ``.pt`` file per data folder.

The cache lives under ``$NETBUILDER_CACHE`` or ``~/.cache/netbuilder/decoded``, one file per dataset and
folder, keyed by the source files' names, sizes and modification times, and is read with
``torch.load(weights_only=True)``. A cache that cannot be read or written is never an error: the files
are decoded again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from netbuilder.core.train.locate import user_cache_root

CACHE_VERSION = 1


def cache_dir() -> Path:
    """Where decoded datasets are cached: ``$NETBUILDER_CACHE`` or ``~/.cache/netbuilder/decoded``."""
    env = os.environ.get("NETBUILDER_CACHE")
    return Path(env).expanduser() if env else user_cache_root() / "decoded"


def cache_key(name: str, files: dict[str, Path]) -> str:
    """What the cached tensors were decoded from: the files' paths, sizes and modification times."""
    parts = [f"v{CACHE_VERSION}", name]
    for k in sorted(files):
        st = files[k].stat()
        parts.append(f"{files[k].resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def cache_file(name: str, folder: Path) -> Path:
    """The cache file of ``name`` read from ``folder``."""
    digest = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:12]
    return cache_dir() / f"{name}-{digest}.pt"


def load_cache(path: Path, key: str) -> dict[str, Any] | None:
    """The cached tensors (and statistics) if ``path`` holds them for ``key``, else None."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # missing, truncated or foreign: decode again
        return None
    if not isinstance(obj, dict) or obj.get("key") != key:
        return None
    if not all(isinstance(obj.get(k), torch.Tensor) for k in ("train_x", "train_y", "test_x", "test_y")):
        return None
    return obj


def save_cache(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` atomically; a cache that cannot be written is skipped silently."""
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
