"""Shape rules of the tensor operations (Mul, Sub, Mean, Permute, Transpose, Reshape, Squeeze,
Unsqueeze, Select, Expand, Parameter), as :mod:`netbuilder.core.model.shapes` does for layers.

Shapes exclude the batch; dims in parameters are torch's, over the batched tensor (dim 0 is the
batch, which every operation here must keep first). Each rule raises :class:`ShapeError` with what
was received and how to fix it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from netbuilder.core.model.shapes import Params, Shape, ShapeError, _dim, fmt_shape


def _not_batch(dim: int, ndim: int, name: str, what: str) -> int:
    """``dim`` normalised over a batched tensor of rank ``ndim``; dim 0 (the batch) is refused."""
    d = _dim(dim, ndim, name)
    if d == 0:
        raise ShapeError(f"has {name}={dim}, the batch; {what} only the dims after it ({name} 1 to {ndim - 1})")
    return d


def broadcast(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Mul / Sub: torch's broadcasting over inputs of the same rank (sizes equal or 1 per dim).

    Inputs of different ranks are refused: torch aligns them from the right, so the batch of the
    shorter one would meet a feature dim of the other and the result would depend on the batch size."""
    first = tuple(ins[0])
    out = list(first)
    for i, s in enumerate(ins[1:], start=1):
        if len(s) != len(first):
            raise ShapeError(
                f"cannot broadcast input 0 ({fmt_shape(first)}) with input {i} ({fmt_shape(s)}): they have "
                "different numbers of dims, so the batch would not line up; add size-1 dims "
                "(Unsqueeze or Reshape) to the shorter one"
            )
        for j, (a, b) in enumerate(zip(out, s, strict=True)):
            if a != b and 1 not in (a, b):
                raise ShapeError(
                    f"cannot broadcast input 0 ({fmt_shape(first)}) with input {i} ({fmt_shape(s)}): dim {j + 1} "
                    f"is {a} against {b}; each dim must be equal or 1 in one of them"
                )
            out[j] = max(a, b) if 1 in (a, b) else a
    return tuple(out)


def _dims(value: int | Sequence[int]) -> list[int]:
    return [value] if isinstance(value, int) else [int(v) for v in value]


def mean(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Mean over ``dim`` (one dim or several, never the batch); ``keepdim`` leaves them as size 1."""
    x = tuple(ins[0])
    nd = len(x) + 1
    dims = [_not_batch(d, nd, "dim", "average over") for d in _dims(params["dim"])]
    if len(set(dims)) != len(dims):
        raise ShapeError(f"has dim {params['dim']}, which names a dim twice; list each dim once")
    if params["keepdim"]:
        return tuple(1 if i + 1 in dims else s for i, s in enumerate(x))
    return tuple(s for i, s in enumerate(x) if i + 1 not in dims)


def permute(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Permute: ``dims`` orders every dim of the batched tensor (``(0, 2, 3, 1)``: N×C×H×W → N×H×W×C);
    the batch must stay first."""
    x = (0, *ins[0])
    nd = len(x)
    dims = _dims(params["dims"])
    if len(dims) != nd:
        raise ShapeError(
            f"has dims {tuple(dims)} for a {nd}-D input {fmt_shape(ins[0])}; give all {nd} dims, "
            f"e.g. {tuple(range(nd))} reordered"
        )
    norm = [_dim(d, nd, "dims") for d in dims]
    if sorted(norm) != list(range(nd)):
        raise ShapeError(f"has dims {tuple(dims)}, which is not an order of the dims 0 to {nd - 1}; name each once")
    if norm[0] != 0:
        raise ShapeError(f"has dims {tuple(dims)}, which moves the batch; start dims with 0")
    return tuple(x[d] for d in norm[1:])


def transpose(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Transpose: swaps ``dim0`` and ``dim1`` (neither the batch)."""
    x = list(ins[0])
    nd = len(x) + 1
    a = _not_batch(int(params["dim0"]), nd, "dim0", "swap")
    b = _not_batch(int(params["dim1"]), nd, "dim1", "swap")
    x[a - 1], x[b - 1] = x[b - 1], x[a - 1]
    return tuple(x)


def reshape(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Reshape: each sample to ``shape`` (batch kept); one entry may be −1, computed from the rest."""
    x = tuple(ins[0])
    total = math.prod(x)
    shape = _dims(params["shape"])
    if shape.count(-1) > 1:
        raise ShapeError(f"has shape {tuple(shape)} with more than one -1; only one size can be computed")
    known = math.prod(s for s in shape if s != -1)
    if -1 in shape:
        if known == 0 or total % known:
            raise ShapeError(
                f"cannot reshape {fmt_shape(x)} ({total} values) to {fmt_shape(shape)}: {total} is not a multiple "
                f"of {known}; choose sizes whose product divides {total}"
            )
        return tuple(total // known if s == -1 else s for s in shape)
    if known != total:
        raise ShapeError(
            f"cannot reshape {fmt_shape(x)} ({total} values) to {fmt_shape(shape)} ({known} values); the sizes "
            f"must multiply to {total}, or use -1 for one of them"
        )
    return tuple(shape)


def squeeze(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Squeeze: removes ``dim`` if its size is 1 (as torch, a dim of another size is left as it is)."""
    x = list(ins[0])
    d = _not_batch(int(params["dim"]), len(x) + 1, "dim", "squeeze")
    return tuple(s for i, s in enumerate(x) if not (i == d - 1 and s == 1))


def unsqueeze(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Unsqueeze: inserts a size-1 dim at ``dim`` of the result (after the batch)."""
    x = list(ins[0])
    d = _not_batch(int(params["dim"]), len(x) + 2, "dim", "insert at")
    x.insert(d - 1, 1)
    return tuple(x)


def select(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Select: element ``index`` along ``dim`` (``x[:, 0]`` is dim 1, index 0); that dim disappears."""
    x = list(ins[0])
    d = _not_batch(int(params["dim"]), len(x) + 1, "dim", "select along")
    size, i = x[d - 1], int(params["index"])
    if not -size <= i < size:
        raise ShapeError(
            f"has index {i}, but dim {d} of {fmt_shape(ins[0])} has size {size}; use an index in [{-size}, {size - 1}]"
        )
    del x[d - 1]
    return tuple(x)


def expand(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Expand: repeats size-1 dims to ``sizes`` without copying (−1 keeps a dim); batch kept."""
    x = tuple(ins[0])
    sizes = _dims(params["sizes"])
    if len(sizes) != len(x):
        raise ShapeError(
            f"has sizes {tuple(sizes)} for {fmt_shape(x)}; give one size per dim after the batch ({len(x)}), "
            "-1 to keep one"
        )
    out = []
    for j, (have, want) in enumerate(zip(x, sizes, strict=True)):
        if want != -1 and have not in (1, want):
            raise ShapeError(
                f"cannot expand dim {j + 1} of {fmt_shape(x)} from {have} to {want}; only size-1 dims expand "
                "(use -1 to keep it)"
            )
        out.append(have if want == -1 else want)
    return tuple(out)


def parameter(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Parameter: its learned tensor per sample, ``shape`` (the input gives only the batch size)."""
    shape = _dims(params["shape"])
    if not params["batch_dim"]:
        return tuple(shape)
    if len(shape) < 2 or shape[0] != 1:
        raise ShapeError(
            f"has shape {tuple(shape)} with batch_dim, so its first size must be the batch's 1 and another must "
            f"follow; use shape (1, {', '.join(map(str, shape))}) or switch batch_dim off"
        )
    return tuple(shape[1:])
