"""Built-in convolution and resampling types beyond Conv2d and the 2-d pools: the 1-d convolution and
pools of signal and text models, the transposed convolution and upsampling of decoders (UNet), and
adaptive max pooling.

Registered when :mod:`netbuilder.core.model.builtin_layers` is imported (it imports this module at
its end). Each ``register(...)`` is the whole definition of a type (docs/adding-a-layer.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from netbuilder.core.model import shapes, shapes_conv
from netbuilder.core.model.builtin_layers import (
    BIAS,
    CEIL,
    DILATION,
    KERNEL,
    STRIDE1,
    _adaptive_check,
    _conv_summary,
    _k,
    _num,
    _pool_check,
    _pool_summary,
)
from netbuilder.core.model.layers import AUTO, CHANNELS, ImportAlias, ImportCall, LayerSpec, ParamSpec, register
from netbuilder.core.model.shapes import Shape, pair


class OptionalFloat(ParamSpec):
    """A ``float`` parameter that may be empty (``None``), as torch's ``scale_factor`` may be."""

    def validate(self, value: Any) -> Any:
        """``None`` stays ``None``; anything else is checked as a ``float``."""
        return None if value is None else super().validate(value)


# --- counts -----------------------------------------------------------------------------------

def _conv1d_params(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    cin, cout, g = int(p["in_channels"]), int(p["out_channels"]), int(p["groups"])
    return cout * (cin // g) * int(p["kernel_size"]) + (cout if p["bias"] else 0)


def _conv1d_macs(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    return math.prod(out) * (int(p["in_channels"]) // int(p["groups"])) * int(p["kernel_size"])


def _transpose_params(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    kh, kw = pair(p["kernel_size"])
    cin, cout, g = int(p["in_channels"]), int(p["out_channels"]), int(p["groups"])
    return cin * (cout // g) * kh * kw + (cout if p["bias"] else 0)


def _transpose_macs(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    # every input pixel is multiplied by its (out/groups)·kh·kw weights: fvcore's count for transposed conv
    kh, kw = pair(p["kernel_size"])
    return math.prod(ins[0]) * (int(p["out_channels"]) // int(p["groups"])) * kh * kw


# --- summaries and import checks --------------------------------------------------------------

def _conv1d_summary(p: Mapping[str, Any]) -> str:
    text = f"{_num(p['out_channels'])} @ {p['kernel_size']}"
    pad = p.get("padding", 0)
    for value, label, plain in ((p.get("stride", 1), "stride", 1), (pad, "pad", 0), (p.get("dilation", 1), "dil", 1),
                                (p.get("groups", 1), "groups", 1)):
        if isinstance(value, str):
            text += f", {value}" if value != "valid" else ""
        elif value != plain:
            text += f", {label} {value}"
    return text


def _pool1d_summary(p: Mapping[str, Any]) -> str:
    return _pool_summary(p).replace(_k(p["kernel_size"]), str(p["kernel_size"]), 1)


def _unwrap_1d(call: ImportCall) -> str | None:
    """A 1-d module stores its sizes as 1-tuples (``kernel_size=(3,)``): read them as numbers."""
    for name, value in call.args.items():
        if isinstance(value, (tuple, list)) and len(value) == 1:
            call.args[name] = value[0]
    return None


def _pool1d_check(call: ImportCall) -> str | None:
    _unwrap_1d(call)
    return _pool_check(call)


def _adaptive_pool_check(call: ImportCall) -> str | None:
    _unwrap_1d(call)
    if call.args.get("return_indices"):
        return "with return_indices=True"
    return _adaptive_check(call)


def _upsample_check(call: ImportCall) -> str | None:
    if call.args.get("recompute_scale_factor") or call.args.get("antialias"):
        return "with recompute_scale_factor or antialias"
    scale = call.args.get("scale_factor")
    if isinstance(scale, (tuple, list)):
        if len(set(scale)) != 1:
            return f"with a different scale_factor per side {tuple(scale)}; give one number"
        call.args["scale_factor"] = scale[0]
    if call.args.get("size") is not None:
        call.args.setdefault("scale_factor", None)  # left out of a call: the spec would fill in 2.0
    if call.args.get("align_corners") is None:
        call.args["align_corners"] = False  # torch's None means False for bilinear and is required for nearest
    return None


# --- declarations -----------------------------------------------------------------------------

_CONV = "Convolution"
_POOL = "Pooling"
_K1 = ParamSpec("kernel_size", "int", 3, "Length of the sliding window.", minimum=1, maximum=64, required=True)
_S1 = ParamSpec("stride", "int", 1, "Step of the window.", minimum=1, maximum=64)
_D1 = ParamSpec("dilation", "int", 1, "Spacing between kernel elements (1 = dense).", minimum=1, maximum=32)
_IN_CHANNELS = ParamSpec("in_channels", "int", AUTO, "Input channels; auto takes them from the input.",
                         inferred=CHANNELS, minimum=1, maximum=4096)
_OUT_CHANNELS = ParamSpec("out_channels", "int", 16, "Number of filters = output channels.", required=True,
                          minimum=1, maximum=4096)
_GROUPS = ParamSpec("groups", "int", 1, "Split channels into groups (in and out must divide).", minimum=1,
                    maximum=4096)

register(LayerSpec(
    "Conv1d", _CONV,
    "A 1-d convolution over a signal or sequence [C, L]: out_channels filters, each with one "
    "kernel_size-long slice per input channel, slide along L (text CNNs slide over word embeddings). "
    "Output length: (L + 2·padding − dilation·(kernel_size − 1) − 1) / stride + 1, rounded down.",
    (
        _IN_CHANNELS, _OUT_CHANNELS, _K1, _S1,
        ParamSpec("padding", "padding", 0, "Zeros added on each side, or 'same' / 'valid'.", minimum=0,
                  maximum=32, choices=("same", "valid")),
        _D1, _GROUPS, BIAS,
        ParamSpec("padding_mode", "choice", "zeros", "How the border is filled.",
                  choices=("zeros", "reflect", "replicate", "circular")),
    ),
    shapes_conv.conv1d, _conv1d_summary, module="Conv1d", positional=("in_channels", "out_channels", "kernel_size"),
    has_parameters=True, param_count=_conv1d_params, macs=_conv1d_macs, import_check=_unwrap_1d, explain_as="conv",
))
register(LayerSpec(
    "ConvTranspose2d", _CONV,
    "A transposed convolution (sometimes called deconvolution): each input pixel stamps a kernel_size "
    "filter into the output, spaced stride apart, so the map grows (stride 2 doubles it, as in a UNet "
    "decoder). Output size per side: (H − 1)·stride − 2·padding + dilation·(kernel_size − 1) + "
    "output_padding + 1.",
    (
        _IN_CHANNELS, _OUT_CHANNELS, KERNEL, STRIDE1,
        ParamSpec("padding", "pair", 0, "Rows and columns removed from each border of the output.",
                  minimum=0, maximum=32),
        ParamSpec("output_padding", "pair", 0, "Extra rows/columns added on one side (below stride or dilation).",
                  minimum=0, maximum=32),
        _GROUPS, BIAS, DILATION,
    ),
    shapes_conv.conv_transpose2d, lambda p: "↑ " + _conv_summary(p), module="ConvTranspose2d",
    positional=("in_channels", "out_channels", "kernel_size"), has_parameters=True, param_count=_transpose_params,
    macs=_transpose_macs, base_id="upconv", explain_as="conv_transpose",
))
register(LayerSpec(
    "Upsample", _CONV,
    "Enlarges each channel's map to size, or by scale_factor per side (rounded down), with no "
    "parameters: 'nearest' repeats pixels, 'bilinear' interpolates (images only; align_corners keeps "
    "the corner pixels fixed). Give exactly one of size and scale_factor.",
    (
        ParamSpec("size", "optional_pair", None, "Output height and width (empty: use scale_factor).",
                  minimum=1, maximum=4096),
        OptionalFloat("scale_factor", "float", 2.0, "Factor per side (empty when size is given).",
                      minimum=0.01, maximum=64.0, required=True),
        ParamSpec("mode", "choice", "nearest", "How new pixels are computed.", choices=("nearest", "bilinear")),
        ParamSpec("align_corners", "bool", False, "Bilinear only: align the corner pixels of input and output."),
    ),
    shapes_conv.upsample,
    lambda p: (f"→ {_k(p['size'])}" if p["size"] is not None else f"×{float(p['scale_factor']):g}")
    + ("" if p["mode"] == "nearest" else f", {p['mode']}"),
    module="Upsample", import_check=_upsample_check, base_id="up", explain_as="upsample",
    aliases=(ImportAlias(("F.interpolate", "F.upsample"), ("input", "size", "scale_factor", "mode", "align_corners",
                                                          "recompute_scale_factor", "antialias"),
                         help="F.interpolate / F.upsample (nearest, bilinear)"),),
))
register(LayerSpec(
    "MaxPool1d", _POOL,
    "Max pooling along a signal or sequence: keeps the largest value in each kernel_size window "
    "(stride defaults to the kernel). No parameters.",
    (replace(_K1, default=2), ParamSpec("stride", "optional_int", None, "Step of the window; empty means "
                                        "kernel_size.", minimum=1, maximum=64),
     ParamSpec("padding", "int", 0, "Padding on each side (at most half the kernel).", minimum=0, maximum=32),
     _D1, CEIL),
    shapes_conv.max_pool1d, _pool1d_summary, functional="F.max_pool1d",
    functional_args=("kernel_size", "stride", "padding", "dilation", "ceil_mode"), positional=("kernel_size",),
    torch_class="MaxPool1d", base_id="pool", import_check=_pool1d_check, explain_as="pool_max",
    aliases=(ImportAlias(("F.max_pool1d",), ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                                             "return_indices")),),
))
register(LayerSpec(
    "AvgPool1d", _POOL,
    "Average pooling along a signal or sequence: replaces each kernel_size window by its mean. No parameters.",
    (replace(_K1, default=2), ParamSpec("stride", "optional_int", None, "Step of the window; empty means "
                                        "kernel_size.", minimum=1, maximum=64),
     ParamSpec("padding", "int", 0, "Padding on each side (at most half the kernel).", minimum=0, maximum=32),
     CEIL, ParamSpec("count_include_pad", "bool", True, "Count padding zeros in the average.")),
    shapes_conv.avg_pool1d, _pool1d_summary, functional="F.avg_pool1d",
    functional_args=("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
    positional=("kernel_size",), torch_class="AvgPool1d", base_id="avgpool", import_check=_pool1d_check,
    explain_as="pool_avg",
    aliases=(ImportAlias(("F.avg_pool1d",), ("input", "kernel_size", "stride", "padding", "ceil_mode",
                                             "count_include_pad")),),
))
_OUT_1D = ParamSpec("output_size", "int", 1, "Target length.", minimum=1, maximum=4096, required=True)
register(LayerSpec(
    "AdaptiveAvgPool1d", _POOL,
    "Averages each channel of a signal or sequence down to output_size values whatever its length "
    "(output_size 1 is global average pooling over time).",
    (_OUT_1D,), shapes_conv.adaptive_pool1d, lambda p: f"→ {p['output_size']}", functional="F.adaptive_avg_pool1d",
    functional_args=("output_size",), positional=("output_size",), torch_class="AdaptiveAvgPool1d", base_id="gap",
    import_check=_adaptive_pool_check, explain_as="adaptive_pool",
    aliases=(ImportAlias(("F.adaptive_avg_pool1d",), ("input", "output_size")),),
))
register(LayerSpec(
    "AdaptiveMaxPool1d", _POOL,
    "Keeps the largest values of each channel of a signal or sequence in output_size windows whatever its "
    "length (output_size 1 is max-over-time pooling, as in text CNNs).",
    (_OUT_1D,), shapes_conv.adaptive_pool1d, lambda p: f"→ {p['output_size']}", functional="F.adaptive_max_pool1d",
    functional_args=("output_size",), positional=("output_size",), torch_class="AdaptiveMaxPool1d",
    base_id="gmp", import_check=_adaptive_pool_check, explain_as="adaptive_pool",
    aliases=(ImportAlias(("F.adaptive_max_pool1d",), ("input", "output_size", "return_indices")),),
))
register(LayerSpec(
    "AdaptiveMaxPool2d", _POOL,
    "Keeps the largest value of each channel in output_size windows whatever the input's height and "
    "width (output_size 1 is global max pooling).",
    (ParamSpec("output_size", "pair", 1, "Target height and width.", minimum=1, maximum=1024, required=True),),
    shapes.adaptive_avg_pool2d, lambda p: f"→ {_k(p['output_size'])}",
    functional="F.adaptive_max_pool2d", functional_args=("output_size",), positional=("output_size",),
    torch_class="AdaptiveMaxPool2d", base_id="gmp", import_check=_adaptive_pool_check, explain_as="adaptive_pool",
    aliases=(ImportAlias(("F.adaptive_max_pool2d",), ("input", "output_size", "return_indices")),),
))
