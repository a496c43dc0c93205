"""Shape rules of the 1-d convolution and pooling layers, the transposed convolution and resampling.

Like :mod:`netbuilder.core.model.shapes` (whose conventions and :class:`ShapeError` they share): a
shape excludes the batch, ``(C, L)`` for signals and sequences, ``(C, H, W)`` for images; each rule
takes the resolved parameters and returns the output shape or raises with a sentence that says what
was received and how to fix it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from netbuilder.core.model.shapes import (
    Params,
    Shape,
    ShapeError,
    _expect_rank,
    check_border_padding,
    conv_out,
    dims,
    fmt_shape,
    pair,
)

_SIGNAL_FIX = "put it after a [C, L] Input or a 1-d layer; use the 2d layer for images"


def _channels(params: Params, x: Shape, name: str, out_name: str) -> tuple[int, int, int]:
    """(in, out, groups) after checking in = C and that groups divides both."""
    cin, cout, groups = int(params[name]), int(params[out_name]), int(params["groups"])
    if cin != x[0]:
        raise ShapeError(
            f"expects {cin} input channels but receives {x[0]} ({fmt_shape(x)}); set {name} to {x[0]} or to auto"
        )
    if cin % groups or cout % groups:
        raise ShapeError(
            f"has groups={groups}, which must divide {name}={cin} and {out_name}={cout}; "
            "choose groups that divides both (groups = in_channels = out_channels is a depthwise convolution)"
        )
    return cin, cout, groups


def _one(params: Params, name: str) -> int:
    value = params[name]
    if isinstance(value, (tuple, list)):
        raise ShapeError(f"has {name} {dims(value)}, but a 1-d layer takes one number; give {name} as one number")
    return int(value)


def _window1(length: int, k: int, s: int, p: int, d: int, ceil_mode: bool, noun: str) -> int:
    out = conv_out(length, k, s, p, d, ceil_mode)
    if out <= 0:
        span = d * (k - 1) + 1
        raise ShapeError(
            f"has a {span}-long {noun} window but receives only length {length}"
            + (f" (+{p} padding on each side)" if p else "")
            + "; use a smaller kernel_size, add padding, or remove a pooling layer before it"
        )
    return out


def conv1d(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Conv1d: ``L_out = floor((L + 2·padding − dilation·(kernel_size − 1) − 1) / stride + 1)``.

    ``padding="same"`` keeps L (stride 1 only); ``in_channels`` must equal C; groups divide both."""
    x = _expect_rank(ins, 2, "C×L", _SIGNAL_FIX)
    _, cout, _ = _channels(params, x, "in_channels", "out_channels")
    k, s, d = _one(params, "kernel_size"), _one(params, "stride"), _one(params, "dilation")
    padding, mode = params["padding"], params.get("padding_mode", "zeros")
    if padding == "same":
        if s != 1:
            raise ShapeError("uses padding='same', which needs stride 1; set stride to 1 or give padding as a number")
        total = d * (k - 1)
        check_border_padding(mode, (total - total // 2,), (x[1],), "padding='same' pads up to")
        return (cout, x[1])
    p = 0 if padding == "valid" else _one(params, "padding")
    check_border_padding(mode, (p,), (x[1],), "padding")
    return (cout, _window1(x[1], k, s, p, d, False, "kernel"))


def conv_transpose2d(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """ConvTranspose2d: ``H_out = (H − 1)·stride − 2·padding + dilation·(kernel_size − 1) +
    output_padding + 1``; output_padding must be smaller than the stride or the dilation."""
    x = _expect_rank(ins, 3, "C×H×W", "put it after an image Input or a 2-d layer")
    _, cout, _ = _channels(params, x, "in_channels", "out_channels")
    k, s, p = pair(params["kernel_size"]), pair(params["stride"]), pair(params["padding"])
    op, d = pair(params["output_padding"]), pair(params["dilation"])
    for i in (0, 1):
        if op[i] >= s[i] and op[i] >= d[i]:
            raise ShapeError(
                f"has output_padding {dims(op)}, which must be smaller than the stride ({dims(s)}) or the "
                f"dilation ({dims(d)}); use output_padding at most {max(s[i], d[i]) - 1}"
            )
    out = tuple((n - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1 for i, n in enumerate(x[1:]))
    if min(out) <= 0:
        raise ShapeError(
            f"would produce an empty {dims(out)} output from {dims(x[1:])}: padding {dims(p)} removes more "
            "than the layer adds; reduce padding or increase kernel_size or stride"
        )
    return (cout, *out)


def upsample(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Upsample: C×H×W (or C×L, nearest only) → the given ``size``, or each side × ``scale_factor``
    rounded down; exactly one of the two is set. ``align_corners`` only with bilinear."""
    x = ins[0]
    mode = params["mode"]
    if len(x) not in (2, 3):
        raise ShapeError(f"expects N×C×H×W or N×C×L but receives {fmt_shape(x)}; put it before Flatten")
    if mode == "bilinear" and len(x) != 3:
        raise ShapeError(f"uses mode='bilinear', which needs N×C×H×W, but receives {fmt_shape(x)}; use mode='nearest'")
    if params["align_corners"] and mode == "nearest":
        raise ShapeError("sets align_corners with mode='nearest'; set align_corners to false or use mode='bilinear'")
    size, scale = params["size"], params["scale_factor"]
    if (size is None) == (scale is None):
        raise ShapeError(
            "needs exactly one of size and scale_factor; "
            + ("give one of them" if size is None else "leave scale_factor empty to use size")
        )
    spatial = x[1:]
    if size is not None:
        if len(spatial) == 1:
            return (x[0], _one(params, "size"))
        return (x[0], *pair(size))
    out = tuple(math.floor(float(n) * float(scale)) for n in spatial)
    if min(out) <= 0:
        raise ShapeError(
            f"would shrink {dims(spatial)} to {dims(out)} with scale_factor {float(scale):g}; use a larger scale_factor"
        )
    return (x[0], *out)


def _pool1d_common(params: Params, ins: Sequence[Shape], dilation: bool) -> Shape:
    x = _expect_rank(ins, 2, "C×L", _SIGNAL_FIX)
    k = _one(params, "kernel_size")
    s = k if params.get("stride") is None else _one(params, "stride")
    p = _one(params, "padding")
    d = _one(params, "dilation") if dilation else 1
    if p > k // 2:
        raise ShapeError(f"has padding {p}, more than half of its {k}-long window; use padding at most {k // 2}")
    return (x[0], _window1(x[1], k, s, p, d, bool(params["ceil_mode"]), "pooling"))


def max_pool1d(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """MaxPool1d: a 1-d window (stride defaults to kernel_size); padding ≤ half the kernel."""
    return _pool1d_common(params, ins, dilation=True)


def avg_pool1d(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """AvgPool1d: like MaxPool1d without dilation."""
    return _pool1d_common(params, ins, dilation=False)


def adaptive_pool1d(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """AdaptiveAvgPool1d / AdaptiveMaxPool1d: C×L → C×output_size, whatever L is."""
    x = _expect_rank(ins, 2, "C×L", _SIGNAL_FIX)
    return (x[0], _one(params, "output_size"))
