"""Reading the datasets' original files and fitting images to a model's input, shared by the engine and the
exported training script.

MNIST and Fashion-MNIST come as IDX files (``.gz`` or unpacked), CIFAR-10 as "python version" batches,
which are pickles. Unpickling untrusted data can run code, so a batch is read with
:class:`CifarUnpickler`, which resolves only the few globals a NumPy array needs (``numpy.ndarray``,
``numpy.dtype``, ``numpy.core.multiarray._reconstruct`` and a latin-1-only ``_codecs.encode``) and refuses
everything else; the result must then be a dict holding a uint8 array and a list of ints.

This module is self-contained on purpose: it imports only the standard library and torch (NumPy only
to read CIFAR-10, whose pickles hold NumPy arrays), because the exporter copies its source into the
standalone training script (see ``resources/templates/train_script.py``). :mod:`netbuilder.core.train.data`
wraps its :class:`FormatError` into a ``DataError`` that also says how to get the files again.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
FITS = ("none", "auto", "pad", "resize", "rows")
"""How :func:`prepare` fits images to another input size: not at all, padding a smaller image and
resizing a larger one, always padding (which crops a larger one), or always resizing."""


class FormatError(ValueError):
    """A file is not in its dataset's format, or images cannot be fitted to the model. ``damaged`` is true
    when the file itself is broken (it should be deleted and fetched again)."""

    def __init__(self, message: str, damaged: bool = False) -> None:
        super().__init__(message)
        self.damaged = damaged


def _read(path: str | os.PathLike[str]) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise FormatError(f"cannot read {path} ({e.strerror})") from None


def read_idx(path: str | os.PathLike[str]) -> torch.Tensor:
    """Decode one IDX file of unsigned bytes (gzipped when its name ends in ``.gz``) into a uint8 tensor."""
    data = _read(path)
    if os.fspath(path).endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise FormatError(f"{path} is corrupt (not a complete gzip file: {e})", damaged=True) from None
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or not 1 <= data[3] <= 4:
        raise FormatError(f"{path} is not an IDX file of unsigned bytes (bad header)", damaged=True)
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise FormatError(f"{path} is truncated (header cut short)", damaged=True)
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    count = 1
    for d in dims:
        count *= d
    if len(data) != header + count:
        raise FormatError(f"{path} is corrupt: its header promises {'×'.join(map(str, dims))} = {count:,} bytes "
                          f"of data but it holds {len(data) - header:,}", damaged=True)
    if count == 0:
        return torch.zeros(dims, dtype=torch.uint8)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8, offset=header).reshape(dims)


def _latin1_encode(obj: str, encoding: str = "utf-8") -> bytes:
    # pickle protocol 2 stores bytes as _codecs.encode(text, "latin1"); allow only that.
    if not isinstance(obj, str) or encoding.replace("-", "").lower() != "latin1":
        raise pickle.UnpicklingError("refused: _codecs.encode with an unexpected encoding")
    return obj.encode("latin-1")


def _np_reconstruct() -> Callable[..., Any]:
    import numpy

    # numpy 2 moved the private module; version 1 only has the old name
    core = getattr(numpy, "_core", None) or numpy.core
    fn: Callable[..., Any] = core.multiarray._reconstruct
    return fn


class CifarUnpickler(pickle.Unpickler):
    """A pickle reader for CIFAR-10's python batches that resolves only what a NumPy array needs
    (``numpy.ndarray``, ``numpy.dtype``, ``_reconstruct``, latin-1 ``_codecs.encode``). Any other
    global — ``os.system``, ``builtins.eval``, … — raises :class:`pickle.UnpicklingError`."""

    def find_class(self, module: str, name: str) -> Any:
        """The allowed global ``module.name``; :class:`pickle.UnpicklingError` for any other."""
        import numpy

        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return _np_reconstruct()
        if module == "numpy" and name == "ndarray":
            return numpy.ndarray
        if module == "numpy" and name == "dtype":
            return numpy.dtype
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: a CIFAR-10 batch holds only arrays")


def read_cifar_batch(path: str | os.PathLike[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one CIFAR-10 python batch safely: (images N×3×32×32 uint8, labels int64)."""
    import numpy

    raw = _read(path)
    try:
        obj = CifarUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as e:  # any malformed or hostile pickle
        raise FormatError(f"{path} is not a valid CIFAR-10 python batch ({e})", damaged=True) from None
    if not isinstance(obj, dict):
        raise FormatError(f"{path} is not a CIFAR-10 batch (expected a dict with 'data' and 'labels')")
    data = obj.get("data", obj.get(b"data"))
    labels = obj.get("labels", obj.get(b"labels"))
    if (not isinstance(data, numpy.ndarray) or data.dtype != numpy.uint8 or data.ndim != 2 or data.shape[1] != 3072
            or not isinstance(labels, list) or len(labels) != len(data)
            or not all(isinstance(v, int) and 0 <= v < 10 for v in labels)):
        raise FormatError(f"{path} is not a CIFAR-10 batch: expected 'data' uint8 N×3072 and N 'labels' 0–9")
    images = torch.from_numpy(numpy.ascontiguousarray(data).reshape(-1, 3, 32, 32).copy())
    return images, torch.tensor(labels, dtype=torch.int64)


def prepare(x: torch.Tensor, input_shape: Sequence[int], mean: Sequence[float], std: Sequence[float],
            fit: str = "auto") -> torch.Tensor:
    """Images (uint8 0..255 or float 0..1, N×C×H×W) → float32 model input, normalised per channel with
    ``mean`` and ``std`` (0..1 scale).

    ``fit`` is one of :data:`FITS`: padding is zero (black) and centred, negative padding crops, resizing
    is bilinear (antialiased when shrinking), ``rows`` reads each image as a sequence of its rows. Grey
    images are repeated for a colour input and colour ones
    averaged for a grey input (with the statistics to match); a flat ``[features]`` input gets the
    flattened image. :class:`FormatError` when the images cannot fit."""
    x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    c, h, w = (int(v) for v in x.shape[1:])
    want = tuple(int(v) for v in input_shape)
    if fit == "rows":  # a sequence of the image's rows: H steps of C·W features (channels side by side)
        if want != (h, c * w):
            raise FormatError(f"reading {c}×{h}×{w} images row by row gives {h} steps of {c * w} features, "
                              f"but the model takes {'×'.join(map(str, want))}")
        m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
        s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
        return ((x - m) / s).permute(0, 2, 1, 3).reshape(x.shape[0], h, c * w)
    if len(want) == 1:
        if c * h * w != want[0]:
            raise FormatError(f"the model takes {want[0]} features but the images have {c}×{h}×{w} = {c * h * w}")
    elif len(want) == 3:
        wc, wh, ww = want
        if (wh, ww) != (h, w) and fit != "none":
            if fit == "pad" or (fit == "auto" and wh >= h and ww >= w):
                top, left = (wh - h) // 2, (ww - w) // 2
                x = F.pad(x, (left, ww - w - left, top, wh - h - top))
            else:
                x = F.interpolate(x, size=(wh, ww), mode="bilinear", align_corners=False,
                                  antialias=wh < h or ww < w)
        if wc != c:
            if c == 1:
                x = x.expand(-1, wc, -1, -1)
                mean, std = tuple(mean) * wc, tuple(std) * wc
            elif wc == 1:
                x = x.mean(dim=1, keepdim=True)
                mean, std = (sum(mean) / len(mean),), (sum(std) / len(std),)
            else:
                raise FormatError(f"the model takes {wc} channels but the images have {c}")
    m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    x = (x - m) / s
    return x.reshape(x.shape[0], *want) if len(want) == 1 else x
