"""The tensor operations as layer types: Mul, Sub, Mean, Permute, Transpose, Reshape, Squeeze,
Unsqueeze, Select, Expand and the learned Parameter node.

Imported (and so registered) by :mod:`netbuilder.core.model.layers`, after the built-in layers.
Shape rules are in :mod:`netbuilder.core.model.shapes_tensor`. Dims are torch's, over the batched
tensor; none of these operations may touch the batch (dim 0). Operations torch writes as tensor
methods or syntax (``x.reshape(x.size(0), ...)``, ``x.expand(-1, ...)``) are written by a
single-input :class:`Combine`, the others as functional calls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from netbuilder.core.model import shapes_tensor as st
from netbuilder.core.model.layers import (
    Combine,
    ImportAlias,
    ImportCall,
    ImportCheck,
    LayerSpec,
    ParamError,
    ParamSpec,
    register,
)
from netbuilder.core.model.shapes import Shape

if TYPE_CHECKING:
    import torch

TENSOR = "Tensor operations"


@dataclass(frozen=True)
class IntsParam(ParamSpec):
    """Kind ``ints``: a list of ints (dims or sizes), each within ``minimum``..``maximum`` and not in
    ``excluded``, ``min_len`` to ``max_len`` long; with ``single`` one int is accepted as itself
    (``dim=1`` as well as ``dim=(2, 3)``). Validated values are an int or a tuple."""

    min_len: int = 1
    max_len: int = 5
    single: bool = False
    excluded: tuple[int, ...] = ()

    def validate(self, value: Any) -> Any:
        """Return ``value`` as an int (``single`` only) or a tuple of ints, or raise ParamError."""
        if self.single and isinstance(value, int) and not isinstance(value, bool):
            self._check(value)
            return int(value)
        if (not isinstance(value, (list, tuple)) or not self.min_len <= len(value) <= self.max_len
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            one = "one whole number or " if self.single else ""
            raise ParamError(f"{self.name} must be {one}a list of {self.min_len} to {self.max_len} whole numbers, "
                             f"not {value!r}")
        for v in value:
            self._check(v)
        return tuple(int(v) for v in value)

    def _check(self, v: int) -> None:
        if v in self.excluded:
            raise ParamError(f"{self.name} cannot contain {v}")
        self._range(v)


def _dims_text(v: Any) -> str:
    return str(v) if isinstance(v, int) else ", ".join(map(str, v))


def _dims_literal(v: Any) -> str:
    return ", ".join(map(str, v))


# --- import checks -----------------------------------------------------------------------------

def _tensor_pair_check(call: ImportCall) -> str | None:
    if "alpha" in call.args:
        return "with alpha"
    if len(call.input_shapes) != 2 or None in call.input_shapes:
        return "with a constant (only tensor with tensor is a layer)"
    return None


def _mean_check(call: ImportCall) -> str | None:
    if call.args.get("dtype") is not None:
        return "with dtype"
    if call.args.get("dim") in (None, [], ()):
        return "over every dim, the batch too (give dim, e.g. x.mean((2, 3)))"
    return None


def _unpack(name: str) -> ImportCheck:
    """A check that unwraps ``x.permute((0, 2, 1))`` into the varargs form ``x.permute(0, 2, 1)``."""
    def check(call: ImportCall) -> str | None:
        value = call.args.get(name)
        if isinstance(value, (tuple, list)) and len(value) == 1 and isinstance(value[0], (tuple, list)):
            call.args[name] = tuple(value[0])
        return None
    return check


def _squeeze_check(call: ImportCall) -> str | None:
    return "without dim, which would squeeze a batch of 1 too (give dim)" if call.args.get("dim") is None else None


def _expand_check(call: ImportCall) -> str | None:
    """``x.expand(-1, 3, -1)`` or ``x.expand(x.size(0), 3, -1)``: the first size is the batch's."""
    _unpack("sizes")(call)
    sizes: Sequence[Any] = call.args.get("sizes") or ()
    ins = call.input_shapes[0] if call.input_shapes else None
    if ins is None or len(sizes) != len(ins):
        return "that adds dims (give one size per dim of the input)"
    first = sizes[0]
    if isinstance(first, int) and first not in (-1, ins[0]):
        return f"of the batch to {first}"
    call.args["sizes"] = tuple(sizes[1:])
    return None


def _reshape_check(call: ImportCall) -> str | None:
    """``x.view(x.size(0), 4, -1)``, ``x.reshape(b, g, c // g, h, w)``: the first size is the batch's;
    a computed size (an fx node) takes its traced value."""
    _unpack("shape")(call)
    shape: Sequence[Any] = call.args.get("shape") or ()
    ins = call.input_shapes[0] if call.input_shapes else None
    out = call.output_shape
    if ins is None or out is None or not shape or len(shape) != len(out) or out[0] != ins[0]:
        return "that moves the batch (give x.size(0) as the first size)"
    sizes = [s if isinstance(s, int) else out[i] for i, s in enumerate(shape)]
    if sizes[0] not in (-1, ins[0]):
        return f"that changes the batch to {sizes[0]}"
    call.args["shape"] = tuple(sizes[1:])
    return None


def _getitem_check(call: ImportCall) -> str | None:
    """``x[:, 0]``, ``x[:, :, -1]``, ``x[..., 2]``: one integer index after full slices is a Select."""
    ins = call.input_shapes[0] if call.input_shapes else None
    idx = call.args.get("idx")
    if ins is None:
        return "of a value that is not a tensor from the network"
    items = idx if isinstance(idx, tuple) else (idx,)
    full = slice(None, None, None)
    if items and items[0] is Ellipsis and len(items) == 2 and isinstance(items[1], int):
        dim = len(ins) - 1
    elif items and isinstance(items[-1], int) and all(i == full for i in items[:-1]):
        dim = len(items) - 1
    else:
        return f"with index {idx!r} (only x[:, i] and x[..., i], one integer after full slices, is a layer)"
    if isinstance(items[-1], bool):
        return f"with index {idx!r}"
    call.args = {"input": call.args["input"], "dim": dim, "index": items[-1]}
    return None


# --- tensor helpers for Combine.apply ----------------------------------------------------------

def _mul(xs: Sequence[torch.Tensor], p: Mapping[str, Any]) -> torch.Tensor:
    y = xs[0]
    for x in xs[1:]:
        y = y * x
    return y


def _reshape(xs: Sequence[torch.Tensor], p: Mapping[str, Any]) -> torch.Tensor:
    x = xs[0]
    return x.reshape(x.size(0), *p["shape"])


def _expand(xs: Sequence[torch.Tensor], p: Mapping[str, Any]) -> torch.Tensor:
    return xs[0].expand(-1, *p["sizes"])


def _param_count(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    return math.prod(p["shape"])


def _param_init(p: Mapping[str, Any]) -> str:
    """The ``__init__`` value of a Parameter node's attribute (``nn.Parameter(torch.zeros(1, 1, 8))``)."""
    fn = {"zeros": "torch.zeros", "ones": "torch.ones", "normal": "torch.randn"}[p["init"]]
    scale = "" if p["init"] == "zeros" or float(p["scale"]) == 1.0 else f" * {float(p['scale'])!r}"
    return f"nn.Parameter({fn}({_dims_literal(p['shape'])}){scale})"


def _param_expand(p: Mapping[str, Any]) -> list[int]:
    """Sizes after the batch's in the forward ``expand``: -1 for each dim the tensor keeps."""
    return [-1] * (len(p["shape"]) - (1 if p["batch_dim"] else 0))


def _param_code(xs: Sequence[str], p: Mapping[str, Any]) -> str:
    tensor, x = xs
    return f"{tensor}.expand({x}.size(0), {_dims_literal(_param_expand(p))})"


def _param_apply(xs: Sequence[torch.Tensor], p: Mapping[str, Any]) -> torch.Tensor:
    tensor, x = xs
    return tensor.expand(x.size(0), *_param_expand(p))


BATCH_DIM = ParamSpec("dim", "int", 1, "Dimension of the batched tensor (1 = the first after the batch).",
                      minimum=-5, maximum=5, required=True)

register(LayerSpec(
    "Mul", TENSOR,
    "Multiplies two or more tensors element by element, broadcasting as torch does: each dim must be "
    "equal or 1 in one of them. Gates such as squeeze-and-excitation scale N×C×H×W by N×C×1×1. "
    "No parameters.",
    (), st.broadcast, lambda p: "×", min_inputs=2, max_inputs=None,
    combine=Combine(lambda xs, p: " * ".join(xs), _mul, associative=True),
    aliases=(ImportAlias(("operator.mul", "operator.imul", "torch.mul", ".mul"), ("input", "other"),
                         tensors=("input", "other"), check=_tensor_pair_check, help="* / torch.mul"),),
))
register(LayerSpec(
    "Sub", TENSOR,
    "Subtracts input 1 from input 0 element by element, broadcasting as torch does (each dim equal or "
    "1 in one of them). No parameters.",
    (), st.broadcast, lambda p: "−", min_inputs=2, max_inputs=2,
    combine=Combine(lambda xs, p: f"{xs[0]} - {xs[1]}", lambda xs, p: xs[0] - xs[1]),
    aliases=(ImportAlias(("operator.sub", "operator.isub", "torch.sub", ".sub"), ("input", "other"),
                         tensors=("input", "other"), check=_tensor_pair_check, help="- / torch.sub"),),
))
register(LayerSpec(
    "Mean", TENSOR,
    "Averages over dim (one dim or several, never the batch): x.mean((2, 3)) is global average pooling "
    "of N×C×H×W. With keepdim the averaged dims stay, as size 1. No parameters.",
    (
        IntsParam("dim", "ints", -1, "Dim or dims to average over (batched tensor: 1 = the first after the batch).",
                  minimum=-5, maximum=5, max_len=4, single=True, required=True),
        ParamSpec("keepdim", "bool", False, "Keep the averaged dims as size 1."),
    ),
    st.mean, lambda p: f"dim {_dims_text(p['dim'])}" + (", keep" if p["keepdim"] else ""),
    functional="torch.mean", functional_args=("dim", "keepdim"), positional=("dim",),
    import_check=_mean_check,
    aliases=(ImportAlias(("torch.mean", ".mean"), ("input", "dim", "keepdim", "dtype")),),
))
register(LayerSpec(
    "Permute", TENSOR,
    "Reorders the dims: dims lists every dim of the batched tensor in its new order, the batch (0) "
    "first; (0, 2, 3, 1) turns N×C×H×W into N×H×W×C (channels last, as in ConvNeXt). No parameters.",
    (IntsParam("dims", "ints", (0, 2, 3, 1), "The new order of all dims, starting with 0 (the batch).",
               minimum=-5, maximum=5, min_len=2, max_len=5, required=True),),
    st.permute, lambda p: _dims_text(p["dims"]), functional="torch.permute", functional_args=("dims",),
    positional=("dims",),
    aliases=(ImportAlias(("torch.permute",), ("input", "dims")),
             ImportAlias((".permute",), ("input", "*dims"), check=_unpack("dims"), help="x.permute(0, 2, 3, 1)")),
))
register(LayerSpec(
    "Transpose", TENSOR,
    "Swaps two dims, dim0 and dim1 (neither the batch): N×C×T → N×T×C with dims 1 and 2. No parameters.",
    (ParamSpec("dim0", "int", 1, "First dim to swap (1 = the first after the batch).",
               minimum=-5, maximum=5, required=True),
     ParamSpec("dim1", "int", 2, "Second dim to swap.", minimum=-5, maximum=5, required=True)),
    st.transpose, lambda p: f"{p['dim0']} ↔ {p['dim1']}", functional="torch.transpose",
    functional_args=("dim0", "dim1"), positional=("dim0", "dim1"),
    aliases=(ImportAlias(("torch.transpose", ".transpose"), ("input", "dim0", "dim1")),),
))
register(LayerSpec(
    "Reshape", TENSOR,
    "Gives each sample a new shape with the same number of values (the batch is kept): shape "
    "excludes the batch and one size may be -1, computed from the others. N×64 → N×4×16 with "
    "shape (4, -1). No parameters.",
    (IntsParam("shape", "ints", (4, -1), "New shape of a sample, batch excluded; one size may be -1.",
               minimum=-1, maximum=10_000_000, max_len=4, excluded=(0,), required=True),),
    st.reshape, lambda p: "×".join(map(str, p["shape"])),
    combine=Combine(lambda xs, p: f"{xs[0]}.reshape({xs[0]}.size(0), {_dims_literal(p['shape'])})", _reshape),
    # after Flatten's reading of the same calls (registry order): x.view(x.size(0), -1) stays a Flatten
    aliases=(ImportAlias((".view", ".reshape", "torch.reshape"), ("input", "*shape"), check=_reshape_check),),
))
register(LayerSpec(
    "Squeeze", TENSOR,
    "Removes dim if its size is 1 (N×C×1 → N×C); a dim of another size is left as it is, as in torch. "
    "No parameters.",
    (replace(BATCH_DIM, doc="Dim to remove if its size is 1 (1 = the first after the batch)."),),
    st.squeeze, lambda p: f"dim {p['dim']}", functional="torch.squeeze", functional_args=("dim",),
    positional=("dim",), import_check=_squeeze_check,
    aliases=(ImportAlias(("torch.squeeze", ".squeeze"), ("input", "dim")),),
))
register(LayerSpec(
    "Unsqueeze", TENSOR,
    "Inserts a dim of size 1 at dim of the result (N×C → N×C×1 with dim 2). No parameters.",
    (replace(BATCH_DIM, doc="Position of the new dim in the result (1 = right after the batch)."),),
    st.unsqueeze, lambda p: f"dim {p['dim']}", functional="torch.unsqueeze", functional_args=("dim",),
    positional=("dim",),
    aliases=(ImportAlias(("torch.unsqueeze", ".unsqueeze"), ("input", "dim")),),
))
register(LayerSpec(
    "Select", TENSOR,
    "Takes element index along dim, dropping that dim: x[:, 0] (dim 1, index 0) is a Vision "
    "Transformer's class token, x[:, -1] a sequence's last step. Negative indices count from the end. "
    "No parameters.",
    (replace(BATCH_DIM, doc="Dim to index (1 = the first after the batch)."),
     ParamSpec("index", "int", 0, "Position along dim (-1 = the last).", minimum=-1_000_000, maximum=1_000_000,
               required=True)),
    st.select, lambda p: f"dim {p['dim']} [{p['index']}]", functional="torch.select",
    functional_args=("dim", "index"), positional=("dim", "index"),
    aliases=(ImportAlias(("torch.select", ".select"), ("input", "dim", "index")),
             ImportAlias(("operator.getitem",), ("input", "idx"), check=_getitem_check, help="x[:, i]")),
))
register(LayerSpec(
    "Expand", TENSOR,
    "Repeats size-1 dims to sizes without copying memory (the batch is kept): sizes excludes the batch "
    "and -1 keeps a dim; N×1×8 → N×5×8 with sizes (5, -1). No parameters.",
    (IntsParam("sizes", "ints", (-1,), "Size of each dim after the batch; -1 keeps it.",
               minimum=-1, maximum=10_000_000, max_len=4, excluded=(0,), required=True),),
    st.expand, lambda p: "×".join(map(str, p["sizes"])),
    combine=Combine(lambda xs, p: f"{xs[0]}.expand(-1, {_dims_literal(p['sizes'])})", _expand),
    aliases=(ImportAlias((".expand",), ("input", "*sizes"), check=_expand_check),),
))
register(LayerSpec(
    "Parameter", TENSOR,
    "A learned tensor of the given shape, trained with the rest of the network: a Vision Transformer's "
    "class token (1, 1, D) and position embedding (1, T, D), ConvNeXt's layer scale (C, 1, 1). Its "
    "output is that tensor repeated over the batch (expand, no copy); the input only gives the batch "
    "size. Join it with Concat (class token), Add (position embedding) or Mul (layer scale). batch_dim "
    "says that the first size of shape is the batch's 1, as in the Vision Transformer.",
    (
        IntsParam("shape", "ints", (1, 1, 8), "Shape of the stored tensor, as torch.zeros takes it.",
                  minimum=1, maximum=1_000_000, max_len=5, required=True),
        ParamSpec("batch_dim", "bool", True, "The first size of shape is the batch's (1); otherwise a batch dim "
                  "is added in front."),
        ParamSpec("init", "choice", "zeros", "Starting values: zeros, ones or normal (standard normal).",
                  choices=("zeros", "ones", "normal")),
        ParamSpec("scale", "float", 1.0, "Multiplies the starting values (0.02 for a position embedding, 1e-6 "
                  "for a layer scale).", minimum=0.0, maximum=1000.0),
    ),
    st.parameter, lambda p: "×".join(map(str, p["shape"])), has_parameters=True, param_count=_param_count,
    base_id="param",
    combine=Combine(_param_code, _param_apply),
    # The node holds its tensor itself: code generation is to write ``self.<id> = attribute(params)``
    # in ``__init__`` and give combine.code/apply ``self.<id>`` ahead of the input.
    extra={"attribute": _param_init},
))
