"""Pure shape functions, one per layer family.

A shape excludes the batch dimension: ``(C, H, W)`` for images, ``(F,)`` for features. Every
function takes the layer's *resolved* parameters and the input shapes and returns the output
shape, or raises :class:`ShapeError` with a message meant for the user: it says what was received,
what was expected and how to fix it. The caller prefixes the node's type and id.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from netbuilder.core.errors import UserError

Shape = tuple[int, ...]
Params = Mapping[str, Any]


class ShapeError(UserError, ValueError):
    """A layer cannot accept its input. ``str(err)`` is a user-facing sentence with the fix."""


def fmt_shape(shape: Sequence[int], batch: bool = True) -> str:
    """``(6, 28, 28)`` → ``"N×6×28×28"`` (or ``"6×28×28"`` without the batch)."""
    dims = [str(d) for d in shape]
    return "×".join((["N"] if batch else []) + dims) if dims or batch else "scalar"


def dims(shape: Sequence[int]) -> str:
    """``(5, 7)`` → ``"5×7"``."""
    return "×".join(map(str, shape))


def pair(v: Any) -> tuple[int, int]:
    """An int or a 2-sequence as a pair of ints."""
    if isinstance(v, (list, tuple)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _expect_rank(ins: Sequence[Shape], rank: int, what: str, fix: str) -> Shape:
    x = ins[0]
    if len(x) != rank:
        raise ShapeError(
            f"expects a {rank + 1}-D input (N×{what}) but receives {len(x) + 1}-D {fmt_shape(x)}; {fix}"
        )
    return x


def conv_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool = False) -> int:
    """Output length of a convolution/pooling window: floor((L + 2p − d(k−1) − 1)/s + 1).

    With ``ceil_mode`` the division rounds up, but the last window must start inside the input
    or the left padding (torch's rule)."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _window(
    params: Params, x: Shape, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
    dil: tuple[int, int], ceil_mode: bool, noun: str,
) -> tuple[int, int]:
    h, w = x[1], x[2]
    eff = ((kernel[0] - 1) * dil[0] + 1, (kernel[1] - 1) * dil[1] + 1)
    oh = conv_out(h, kernel[0], stride[0], pad[0], dil[0], ceil_mode)
    ow = conv_out(w, kernel[1], stride[1], pad[1], dil[1], ceil_mode)
    if oh <= 0 or ow <= 0:
        if eff[0] > h + 2 * pad[0] or eff[1] > w + 2 * pad[1]:
            raise ShapeError(
                f"has a {eff[0]}×{eff[1]} {noun} window but receives only {h}×{w}"
                + (f" (+{pad[0]}/{pad[1]} padding)" if any(pad) else "")
                + "; use a smaller kernel_size, add padding, or remove a pooling layer before it"
            )
        raise ShapeError(f"would produce an empty {oh}×{ow} output from {h}×{w}; reduce kernel_size or stride")
    return oh, ow


def conv2d(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Conv2d: ``H_out = floor((H + 2·padding − dilation·(kernel_size − 1) − 1) / stride + 1)``.

    ``padding="same"`` keeps H×W (stride must be 1); ``"valid"`` means 0. ``in_channels`` must
    equal C and both channel counts must be divisible by ``groups``."""
    x = _expect_rank(ins, 3, "C×H×W", "put it after an image Input, or use Linear for flat features")
    c = x[0]
    cin, cout, groups = int(params["in_channels"]), int(params["out_channels"]), int(params["groups"])
    if cin != c:
        raise ShapeError(
            f"expects {cin} input channels but receives {c} ({fmt_shape(x)}); "
            f"set in_channels to {c} or to auto"
        )
    if cin % groups or cout % groups:
        raise ShapeError(
            f"has groups={groups}, which must divide in_channels={cin} and out_channels={cout}; "
            "choose groups that divides both"
        )
    k, s, d = pair(params["kernel_size"]), pair(params["stride"]), pair(params["dilation"])
    padding = params["padding"]
    mode = params.get("padding_mode", "zeros")
    if padding == "same":
        if s != (1, 1):
            raise ShapeError("uses padding='same', which needs stride 1; set stride to 1 or give padding as a number")
        # torch pads d·(k − 1) in all, the larger half after: that side must fit the border mode
        widest = tuple(t - t // 2 for t in (d[0] * (k[0] - 1), d[1] * (k[1] - 1)))
        check_border_padding(mode, (widest[0], widest[1]), (x[1], x[2]), "padding='same' pads up to")
        return (cout, x[1], x[2])
    p = (0, 0) if padding == "valid" else pair(padding)
    check_border_padding(mode, p, (x[1], x[2]), "padding")
    oh, ow = _window(params, x, k, s, p, d, False, "kernel")
    return (cout, oh, ow)


def check_border_padding(mode: str, pad: Sequence[int], size: Sequence[int], what: str) -> None:
    """``padding_mode`` reflect allows less padding than the input's size per side, circular at
    most the size (torch refuses more when the layer runs); raise :class:`ShapeError` otherwise."""
    if mode not in ("reflect", "circular") or not any(pad):
        return
    limit = [n - 1 if mode == "reflect" else n for n in size]
    if any(p > lim for p, lim in zip(pad, limit, strict=True)):
        raise ShapeError(
            f"uses padding_mode='{mode}' with {what} {dims(pad)}, but a {dims(size)} input allows at most "
            f"{dims(limit)}; use padding_mode='zeros', less padding or a larger input"
        )


def _pool_common(params: Params, ins: Sequence[Shape], dilation: bool) -> tuple[Shape, tuple[int, int]]:
    x = _expect_rank(ins, 3, "C×H×W", "pool image feature maps, before Flatten")
    k = pair(params["kernel_size"])
    s = pair(params["stride"]) if params.get("stride") is not None else k
    p = pair(params["padding"])
    d = pair(params["dilation"]) if dilation else (1, 1)
    limit = k  # torch checks padding against the plain kernel, even when dilated
    if p[0] > limit[0] // 2 or p[1] > limit[1] // 2:
        raise ShapeError(
            f"has padding {p[0]}×{p[1]}, more than half of its {limit[0]}×{limit[1]} window; "
            f"use padding at most {limit[0] // 2}"
        )
    oh, ow = _window(params, x, k, s, p, d, bool(params["ceil_mode"]), "pooling")
    return x, (oh, ow)


def max_pool2d(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """MaxPool2d: like a convolution window, stride defaulting to kernel_size; padding ≤ half the
    kernel; ``ceil_mode`` rounds up."""
    x, (oh, ow) = _pool_common(params, ins, dilation=True)
    return (x[0], oh, ow)


def avg_pool2d(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """AvgPool2d: like MaxPool2d without dilation."""
    x, (oh, ow) = _pool_common(params, ins, dilation=False)
    return (x[0], oh, ow)


def adaptive_avg_pool2d(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """AdaptiveAvgPool2d: C×H×W → C×output_size, whatever H×W is."""
    x = _expect_rank(ins, 3, "C×H×W", "pool image feature maps, before Flatten")
    oh, ow = pair(params["output_size"])
    return (x[0], oh, ow)


def linear(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Linear on the last dim, as torch: N×…×in_features → N×…×out_features. A vector or a sequence
    ([T, F]) takes it directly; an image map only when in_features is set to its last dim (ConvNeXt's
    channels-last MLP) — else it needs a Flatten first, which is what a conv net almost always means."""
    x = ins[0]
    fin = int(params["in_features"])
    flat = math.prod(x)
    if len(x) >= 3 and fin != x[-1]:
        raise ShapeError(
            f"receives a {len(x) + 1}-D tensor {fmt_shape(x)} but needs N×features; "
            f"add a Flatten before it (it would receive {flat} = {'×'.join(map(str, x))} features), "
            f"or set in_features to {x[-1]} to apply it to the last dim"
        )
    if fin != x[-1]:
        got = notes[0] if notes and notes[0] and len(x) == 1 else str(x[-1])
        last = "" if len(x) == 1 else f" (the last dim of {fmt_shape(x)})"
        raise ShapeError(
            f"expects {fin} input features but receives {got}{last}; set in_features to {x[-1]} or to auto"
        )
    return (*x[:-1], int(params["out_features"]))


def _dim(dim: int, ndim: int, name: str) -> int:
    """Normalise a dim of the full (batched) tensor of rank ``ndim``."""
    if not -ndim <= dim < ndim:
        raise ShapeError(f"has {name}={dim}, out of range for a {ndim}-D tensor; use a value in [{-ndim}, {ndim - 1}]")
    return dim + ndim if dim < 0 else dim


def flatten(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Flatten: merges dims start_dim..end_dim of the batched tensor (default 1..−1 → N×(C·H·W))."""
    x = ins[0]
    full = (0, *x)
    start = _dim(int(params["start_dim"]), len(full), "start_dim")
    end = _dim(int(params["end_dim"]), len(full), "end_dim")
    if start == 0:
        raise ShapeError("has start_dim 0, which would merge the batch into the features; use start_dim=1")
    if start > end:
        raise ShapeError(f"has start_dim={start} after end_dim={end}; start_dim must come first")
    merged = math.prod(full[start : end + 1])
    return (*tuple(full[1:start]), merged, *tuple(full[end + 1:]))


def same(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Element-wise layers (activations, dropout): output shape = input shape."""
    return tuple(ins[0])


def softmax(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Softmax/LogSoftmax: same shape; ``dim`` must exist (dim 1 is the class dimension)."""
    _dim(int(params["dim"]), len(ins[0]) + 1, "dim")
    return tuple(ins[0])


def batch_norm1d(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """BatchNorm1d: N×C or N×C×L, with num_features = C."""
    x = ins[0]
    if len(x) not in (1, 2):
        raise ShapeError(
            f"expects N×C or N×C×L but receives {fmt_shape(x)}; use BatchNorm2d for images"
        )
    return _bn_channels(params, x)


def batch_norm2d(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """BatchNorm2d: N×C×H×W, with num_features = C."""
    x = ins[0]
    if len(x) != 3:
        raise ShapeError(f"expects N×C×H×W but receives {fmt_shape(x)}; use BatchNorm1d for flat features")
    return _bn_channels(params, x)


def _bn_channels(params: Params, x: Shape) -> Shape:
    nf = int(params["num_features"])
    if nf != x[0]:
        raise ShapeError(
            f"expects num_features={nf} but receives {x[0]} channels ({fmt_shape(x)}); "
            f"set num_features to {x[0]} or to auto"
        )
    return tuple(x)


def add(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Add: element-wise sum of 2 or more inputs of exactly the same shape."""
    first = ins[0]
    for i, s in enumerate(ins[1:], start=1):
        if tuple(s) != tuple(first):
            raise ShapeError(
                f"needs inputs of the same shape but input 0 is {fmt_shape(first)} and input {i} is "
                f"{fmt_shape(s)}; make both branches produce the same shape (e.g. a 1×1 Conv2d on the shortcut)"
            )
    return tuple(first)


def concat(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Concat: joins 2 or more inputs along ``dim``, any dim but the batch (1 = channels); the
    inputs must have the same number of dims and match in every other one."""
    first = ins[0]
    nd = len(first) + 1
    d = _dim(int(params["dim"]), nd, "dim")
    if d == 0:
        raise ShapeError(f"has dim 0, the batch; join along a dim after it (1 to {nd - 1}; 1 = channels)")
    total = 0
    for i, s in enumerate(ins):
        if len(s) != len(first):
            raise ShapeError(
                f"needs inputs with the same number of dims, but input 0 is {fmt_shape(first)} and input {i} is "
                f"{fmt_shape(s)}; reshape one branch (Flatten, Reshape or Unsqueeze) to match"
            )
        if any(a != b for j, (a, b) in enumerate(zip(s, first, strict=True)) if j != d - 1):
            raise ShapeError(
                f"needs inputs that match except along dim {d}, but input 0 is {fmt_shape(first)} and "
                f"input {i} is {fmt_shape(s)}; resize one branch (pooling or padding) to match"
            )
        total += s[d - 1]
    out = list(first)
    out[d - 1] = total
    return tuple(out)
