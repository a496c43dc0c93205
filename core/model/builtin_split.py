"""Layer types with several outputs that cut a tensor into pieces: Chunk (``torch.chunk``) and
Split (``torch.split``). Each piece is one output port; the importer maps the ``operator.getitem``
that picks a piece to that port."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from netbuilder.core.model.layers import ImportAlias, ImportCall, LayerSpec, ParamSpec, register
from netbuilder.core.model.shapes import Shape, ShapeError, fmt_shape

MAX_PIECES = 64  # output ports a node may have (each is drawn on the canvas)


def _axis(params: Mapping[str, Any], x: Shape) -> int:
    """The index in ``x`` (batch excluded) of the batched ``dim``; refuses the batch itself."""
    nd = len(x) + 1
    dim = int(params["dim"])
    if not -nd <= dim < nd:
        raise ShapeError(f"has dim={dim}, out of range for a {nd}-D tensor; use a value in [1, {nd - 1}]")
    dim = dim + nd if dim < 0 else dim
    if dim == 0:
        raise ShapeError("has dim 0, the batch; use dim=1 to cut the channels")
    return dim - 1


def _pieces(x: Shape, axis: int, sizes: list[int]) -> list[Shape]:
    return [tuple(s if i != axis else n for i, s in enumerate(x)) for n in sizes]


def chunk_shapes(params: Mapping[str, Any], ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> list[Shape]:
    """Chunk: ``chunks`` pieces of ``ceil(L / chunks)`` along ``dim``, the last one smaller. torch
    gives fewer pieces when ``L`` is not large enough; that is refused (every port must exist)."""
    x = ins[0]
    axis = _axis(params, x)
    length, chunks = x[axis], int(params["chunks"])
    size = -(-length // chunks)
    count = -(-length // size)
    if count != chunks:
        raise ShapeError(
            f"cuts {length} along dim {params['dim']} of {fmt_shape(x)} into {chunks} chunks, but torch.chunk "
            f"gives only {count} pieces of {size}; use chunks={count}, or a size that {chunks} divides"
        )
    return _pieces(x, axis, [size] * (count - 1) + [length - size * (count - 1)])


def split_shapes(params: Mapping[str, Any], ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> list[Shape]:
    """Split: pieces of ``split_size_or_sections`` (one size) along ``dim``, the last one smaller:
    ``ceil(L / size)`` of them, one output port each."""
    x = ins[0]
    axis = _axis(params, x)
    length, size = x[axis], int(params["split_size_or_sections"])
    count = -(-length // size)
    if count > MAX_PIECES:
        raise ShapeError(f"cuts {length} into pieces of {size}: {count} pieces, more than {MAX_PIECES}; "
                         "use a larger split_size_or_sections")
    return _pieces(x, axis, [size] * (count - 1) + [length - size * (count - 1)])


def _numbered(count: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(count))


def _chunk_check(call: ImportCall) -> str | None:
    if call.output_shapes is None:
        return "whose result is not a tuple of tensors"
    if not isinstance(call.args.get("chunks"), int):
        return "with chunks that is not a number"
    return None


def _split_check(call: ImportCall) -> str | None:
    if "split_size" in call.args:  # the tensor method's keyword: x.split(split_size=2)
        call.args["split_size_or_sections"] = call.args.pop("split_size")
    if call.output_shapes is None:
        return "whose result is not a tuple of tensors"
    if not isinstance(call.args.get("split_size_or_sections"), int):
        return "with a list of sizes (only one size is supported: pieces of equal size)"
    return None


register(LayerSpec(
    "Chunk", "Tensor operations",
    "Cuts a tensor into equal pieces (chunks of them) along dim (the last one smaller when the size does not "
    "divide), each piece an output: torch.chunk, as in ShuffleNet's channel split.",
    (ParamSpec("chunks", "int", 2, "Number of pieces (outputs).", minimum=1, maximum=MAX_PIECES, required=True),
     ParamSpec("dim", "int", 1, "Dimension to cut (1 = channels).", minimum=-4, maximum=4, always_emit=True)),
    chunk_shapes, lambda p: f"{p['chunks']} × dim {p['dim']}", functional="torch.chunk",
    functional_args=("chunks", "dim"), positional=("chunks",),
    outputs=lambda p: _numbered(int(p["chunks"])),
    aliases=(ImportAlias(("torch.chunk", ".chunk"), ("input", "chunks", "dim"), defaults={"dim": 0},
                         check=_chunk_check),),
))
register(LayerSpec(
    "Split", "Tensor operations",
    "Cuts a tensor into pieces of split_size_or_sections along dim (the last one smaller), each piece "
    "an output: torch.split. How many pieces, so outputs, depends on the input's size.",
    (ParamSpec("split_size_or_sections", "int", 2, "Size of each piece along dim.", minimum=1, required=True),
     ParamSpec("dim", "int", 1, "Dimension to cut (1 = channels).", minimum=-4, maximum=4, always_emit=True)),
    split_shapes, lambda p: f"pieces of {p['split_size_or_sections']}, dim {p['dim']}",
    functional="torch.split",
    functional_args=("split_size_or_sections", "dim"), positional=("split_size_or_sections",),
    outputs=None,
    aliases=(ImportAlias(("torch.split", ".split"), ("input", "split_size_or_sections", "dim"),
                         defaults={"dim": 0}, check=_split_check),),
))
