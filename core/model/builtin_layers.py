"""The built-in layer types, declared as :class:`~netbuilder.core.model.layers.LayerSpec` entries.

Imported (and so registered) by :mod:`netbuilder.core.model.layers`; nothing else imports this
module. Each ``register(...)`` call is the whole definition of a type: parameters, shape rule,
code, summary text, counts, how imported files spell it and what it means to the rest of core.
The other built-in families (``builtin_activations``, ``builtin_conv``, ``builtin_norm``) are
imported at the end and share this module's parameter declarations, summaries and import checks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from netbuilder.core.model import shapes
from netbuilder.core.model.layers import (
    AUTO,
    CHANNELS,
    Combine,
    ImportAlias,
    ImportCall,
    Inferred,
    LayerSpec,
    ParamSpec,
    register,
)
from netbuilder.core.model.shapes import Shape, pair

if TYPE_CHECKING:
    import torch


# --- helpers for the declarations below -------------------------------------------------------

def _k(v: Any) -> str:
    a, b = pair(v)
    return f"{a}×{b}"


def _num(v: Any) -> str:
    return "?" if v == AUTO else str(v)


def _conv_summary(p: Mapping[str, Any]) -> str:
    text = f"{_num(p['out_channels'])} @ {_k(p['kernel_size'])}"
    if pair(p.get("stride", 1)) != (1, 1):
        text += f", stride {_pk(p['stride'])}"
    pad = p.get("padding", 0)
    if pad in ("same", "valid"):
        text += f", {pad}"
    elif pair(pad) != (0, 0):
        text += f", pad {_pk(pad)}"
    if pair(p.get("dilation", 1)) != (1, 1):
        text += f", dil {_pk(p['dilation'])}"
    if p.get("groups", 1) != 1:
        text += f", groups {p['groups']}"
    return text


def _pk(v: Any) -> str:
    a, b = pair(v)
    return str(a) if a == b else f"{a}×{b}"


def _pool_summary(p: Mapping[str, Any]) -> str:
    text = _k(p["kernel_size"])
    if p.get("stride") is not None and pair(p["stride"]) != pair(p["kernel_size"]):
        text += f", stride {_pk(p['stride'])}"
    if pair(p.get("padding", 0)) != (0, 0):
        text += f", pad {_pk(p['padding'])}"
    if p.get("ceil_mode"):
        text += ", ceil"
    return text


def _conv_params(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    kh, kw = pair(p["kernel_size"])
    cin, cout, g = int(p["in_channels"]), int(p["out_channels"]), int(p["groups"])
    return cout * (cin // g) * kh * kw + (cout if p["bias"] else 0)


def _conv_macs(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    kh, kw = pair(p["kernel_size"])
    return math.prod(out) * (int(p["in_channels"]) // int(p["groups"])) * kh * kw


def _linear_params(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    return int(p["in_features"]) * int(p["out_features"]) + (int(p["out_features"]) if p["bias"] else 0)


# auto in_features: a vector's or a sequence's last dim; an image map's flattened size, so that the
# shape rule asks for the Flatten a conv net needs rather than applying the layer along its rows
LINEAR_IN = Inferred("features", lambda x: x[-1] if len(x) <= 2 else math.prod(x))


def _linear_macs(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    # once per position of the leading dims (a sequence's steps, a channels-last map's pixels)
    return math.prod(out[:-1]) * int(p["in_features"]) * int(p["out_features"])


def _bn_params(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    return 2 * int(p["num_features"]) if p["affine"] else 0


def _input_shape(p: Mapping[str, Any], ins: Sequence[Shape], notes: Sequence[str | None]) -> Shape:
    return tuple(p["shape"])


# --- import checks: what torch allows that these layers do not, and torch's own conventions -----

def _pool_check(call: ImportCall) -> str | None:
    stride = call.args.get("stride")
    if stride == [] or (call.from_module and stride == call.args.get("kernel_size")):
        call.args["stride"] = None  # torch's "left out": [] in a call, the kernel size in a module
    if call.args.get("return_indices"):
        return "with return_indices=True"
    return None


def _softmax_check(call: ImportCall) -> str | None:
    if call.args.get("dim") is None:
        return "without dim (give dim=1)"
    if call.args.get("dtype") is not None:
        return "with dtype"
    return None


def _dropout_check(call: ImportCall) -> str | None:
    call.passthrough = call.args.get("training", True) is False  # dropout switched off is a no-op
    return None


def _bn_check(call: ImportCall) -> str | None:
    return "with momentum=None (cumulative average)" if "momentum" in call.args and call.args["momentum"] is None \
        else None


def _adaptive_check(call: ImportCall) -> str | None:
    size = call.args.get("output_size")
    if size is None or (isinstance(size, (tuple, list)) and None in size):
        return "with a None output size"
    return None


def _batched_rank(call: ImportCall) -> int:
    x = call.input_shapes[0] if call.input_shapes else None
    return len(x) if x else 0


def _flatten_check(call: ImportCall) -> str | None:
    start, rank = call.args.get("start_dim", 1), _batched_rank(call)
    if isinstance(start, int) and rank and start % rank == 0:
        return "from dim 0 flattens the batch too; use torch.flatten(x, 1)"
    return None


def _flatten_reshape(call: ImportCall) -> str | None:
    """``x.view(x.size(0), -1)`` and reshapes like it are a Flatten; a reshape that keeps the shape
    does nothing."""
    ins = call.input_shapes[0] if call.input_shapes else None
    out = call.output_shape
    if ins is None or out is None:
        return "of a value that is not a tensor from the network"
    if ins == out:
        call.passthrough = True
    elif not (len(ins) >= 2 and len(out) == 2 and out[0] == ins[0] and out[1] == math.prod(ins[1:])):
        return (f"from {ins[1:]} to {out[1:]} (per sample); only flattening to N×features "
                "(x.view(x.size(0), -1)) is supported")
    call.args = {"input": call.args.get("input")}  # start_dim 1, end_dim -1: the spec's defaults
    return None


def _add_check(call: ImportCall) -> str | None:
    if "alpha" in call.args:
        return "with alpha"
    if len(call.input_shapes) != 2 or None in call.input_shapes:
        return "with a constant (only tensor + tensor is a layer)"
    a, b = call.input_shapes
    if a != b:
        return f"of shapes {a} and {b} (broadcasting); Add needs equal shapes"
    return None


def _concat_check(call: ImportCall) -> str | None:
    tensors = call.args.get("tensors")
    if not isinstance(tensors, (list, tuple)) or None in call.input_shapes:
        return "of something other than a list of tensors"
    dim, rank = call.args.get("dim"), len(call.output_shape or ())
    if not isinstance(dim, int) or dim % max(rank, 1) == 0:
        return f"along dim {dim} (the batch); join along a dim after it (dim=1 for channels)"
    return None


def _add_tensors(xs: Sequence[torch.Tensor], p: Mapping[str, Any]) -> torch.Tensor:
    y = xs[0]
    for x in xs[1:]:
        y = y + x
    return y


def _cat_tensors(xs: Sequence[torch.Tensor], p: Mapping[str, Any]) -> torch.Tensor:
    import torch

    return torch.cat(list(xs), dim=int(p["dim"]))


KERNEL = ParamSpec("kernel_size", "pair", 3, "Height and width of the sliding window.", minimum=1, maximum=64,
                   required=True)
STRIDE1 = ParamSpec("stride", "pair", 1, "Step of the window in pixels.", minimum=1, maximum=64)
DILATION = ParamSpec("dilation", "pair", 1, "Spacing between kernel elements (1 = dense).", minimum=1, maximum=32)
POOL_STRIDE = ParamSpec("stride", "optional_pair", None, "Step of the window; empty means kernel_size.",
                        minimum=1, maximum=64)
POOL_PAD = ParamSpec("padding", "pair", 0, "Implicit padding on each side (at most half the kernel).",
                     minimum=0, maximum=32)
CEIL = ParamSpec("ceil_mode", "bool", False, "Round the output size up instead of down.")
BIAS = ParamSpec("bias", "bool", True, "Learn an additive bias per output.")
_SOFTMAX_SIG = ("input", "dim", "_stacklevel", "dtype")
SOFTMAX_DIM = ParamSpec("dim", "int", 1, "Dimension to normalise over (1 = classes).", minimum=-4, maximum=4,
                        always_emit=True)

register(LayerSpec(
    "Input", "Input",
    "The network's input: one sample's shape without the batch, [C, H, W] for images (MNIST is "
    "1×28×28, CIFAR-10 3×32×32), [C, L] for signals, [T, F] for sequences or [features] for flat "
    "vectors. Every network has exactly one.",
    (ParamSpec("shape", "shape", [1, 28, 28], "[C, H, W], [C, L] / [T, F] or [features], batch excluded.",
               required=True),),
    _input_shape, lambda p: "×".join(map(str, p["shape"])), min_inputs=0, max_inputs=0, base_id="input",
    explain_as="input",
))

register(LayerSpec(
    "Conv2d", "Convolution",
    "A 2-D convolution: out_channels filters, each with one kernel_size slice per input channel, "
    "slide over the image; at each position the products of a filter with the pixels under it are "
    "summed and the bias added. Learns local patterns such as edges and strokes. Output size per "
    "side: (H + 2·padding − dilation·(kernel_size − 1) − 1) / stride + 1, rounded down.",
    (
        ParamSpec("in_channels", "int", AUTO, "Input channels; auto takes them from the input.", inferred=CHANNELS,
                  minimum=1, maximum=4096),
        ParamSpec("out_channels", "int", 16, "Number of filters = output channels.", required=True, minimum=1,
                  maximum=4096),
        KERNEL, STRIDE1,
        ParamSpec("padding", "padding", 0, "Zeros added on each side, or 'same' / 'valid'.", minimum=0,
                  maximum=32, choices=("same", "valid")),
        DILATION,
        ParamSpec("groups", "int", 1, "Split channels into groups (in and out must divide).", minimum=1,
                  maximum=4096),
        BIAS,
        ParamSpec("padding_mode", "choice", "zeros", "How the border is filled.",
                  choices=("zeros", "reflect", "replicate", "circular")),
    ),
    shapes.conv2d, _conv_summary, module="Conv2d",
    positional=("in_channels", "out_channels", "kernel_size"), has_parameters=True,
    param_count=_conv_params, macs=_conv_macs, extra={"conv_walk": True}, explain_as="conv",
))

register(LayerSpec(
    "MaxPool2d", "Pooling",
    "Max pooling keeps the largest value in each kernel_size window, shrinking the feature map "
    "(2×2 with stride 2 halves height and width) while keeping the strongest responses. No parameters.",
    (replace(KERNEL, default=2), POOL_STRIDE, POOL_PAD, DILATION, CEIL),
    shapes.max_pool2d, _pool_summary, functional="F.max_pool2d",
    functional_args=("kernel_size", "stride", "padding", "dilation", "ceil_mode"), positional=("kernel_size",),
    torch_class="MaxPool2d", base_id="pool", import_check=_pool_check, explain_as="pool_max",
    aliases=(ImportAlias(("F.max_pool2d",), ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                                             "return_indices")),),
))

register(LayerSpec(
    "AvgPool2d", "Pooling",
    "Average pooling replaces each kernel_size window by its mean, shrinking the feature map "
    "smoothly. LeNet-5's original subsampling layers were averages. No parameters.",
    (
        replace(KERNEL, default=2), POOL_STRIDE, POOL_PAD, CEIL,
        ParamSpec("count_include_pad", "bool", True, "Count padding zeros in the average."),
        ParamSpec("divisor_override", "optional_int", None, "Divide by this instead of the window size.",
                  minimum=1, maximum=4096),
    ),
    shapes.avg_pool2d, _pool_summary, functional="F.avg_pool2d",
    functional_args=("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    positional=("kernel_size",), torch_class="AvgPool2d", base_id="avgpool", import_check=_pool_check,
    explain_as="pool_avg",
    aliases=(ImportAlias(("F.avg_pool2d",), ("input", "kernel_size", "stride", "padding", "ceil_mode",
                                             "count_include_pad", "divisor_override")),),
))

register(LayerSpec(
    "AdaptiveAvgPool2d", "Pooling",
    "Averages each channel down to a fixed output_size whatever the input's height and width, so "
    "the layers after it see a known size (output_size 1 is global average pooling).",
    (ParamSpec("output_size", "pair", 1, "Target height and width.", minimum=1, maximum=1024, required=True),),
    shapes.adaptive_avg_pool2d, lambda p: f"→ {_k(p['output_size'])}", functional="F.adaptive_avg_pool2d",
    functional_args=("output_size",), positional=("output_size",), torch_class="AdaptiveAvgPool2d", base_id="gap",
    import_check=_adaptive_check, explain_as="adaptive_pool",
    aliases=(ImportAlias(("F.adaptive_avg_pool2d",), ("input", "output_size")),),
))

register(LayerSpec(
    "Linear", "Linear",
    "A fully connected layer: every output is a weighted sum of all in_features inputs plus a bias "
    "(y = x·Wᵀ + b). It needs flat input, so put a Flatten after the last convolution or pooling.",
    (
        ParamSpec("in_features", "int", AUTO, "Input features; auto takes them from the input.",
                  inferred=LINEAR_IN, minimum=1, maximum=10_000_000),
        ParamSpec("out_features", "int", 10, "Number of outputs.", required=True, minimum=1, maximum=1_000_000),
        BIAS,
    ),
    shapes.linear, lambda p: f"{_num(p['in_features'])} → {_num(p['out_features'])}", module="Linear",
    positional=("in_features", "out_features"), has_parameters=True, param_count=_linear_params,
    macs=_linear_macs, explain_as="linear",
))

register(LayerSpec(
    "Flatten", "Linear",
    "Flattens each sample into one vector (N×C×H×W → N×(C·H·W)) so Linear layers can follow "
    "convolutions. No parameters; nothing is learned.",
    (
        ParamSpec("start_dim", "int", 1, "First dimension to merge (1 = after the batch).", minimum=-4, maximum=4),
        ParamSpec("end_dim", "int", -1, "Last dimension to merge (−1 = the last).", minimum=-4, maximum=4),
    ),
    shapes.flatten, lambda p: "" if (p["start_dim"], p["end_dim"]) == (1, -1) else f"{p['start_dim']}..{p['end_dim']}",
    functional="torch.flatten", functional_args=("start_dim", "end_dim"), positional=("start_dim",),
    extra={"emit_positional_defaults": True}, torch_class="Flatten", flattens=True, import_check=_flatten_check,
    explain_as="flatten",
    aliases=(
        ImportAlias(("torch.flatten", ".flatten"), ("input", "start_dim", "end_dim"),
                    defaults={"start_dim": 0, "end_dim": -1}),
        ImportAlias((".view", ".reshape", "torch.reshape"), ("input", "*shape"), check=_flatten_reshape,
                    help="x.view(x.size(0), -1) / reshape to N×features"),
    ),
))

_ACT = "Activation"
register(LayerSpec(
    "ReLU", _ACT,
    "ReLU(x) = max(0, x): passes positive values and zeroes negative ones. The default non-linearity "
    "between layers; without one, stacked layers collapse into a single linear map.",
    (), shapes.same, lambda p: "", functional="F.relu", torch_class="ReLU", zeroes_negatives=True,
    aliases=(ImportAlias(("F.relu", "torch.relu", "F.relu_", "torch.relu_", ".relu", ".relu_")),),
))
register(LayerSpec(
    "LeakyReLU", _ACT,
    "Like ReLU, but negative inputs are multiplied by a small negative_slope instead of zeroed, so "
    "units never stop passing gradient ('dead ReLUs').",
    (ParamSpec("negative_slope", "float", 0.01, "Slope for x < 0.", minimum=0.0, maximum=1.0),),
    shapes.same, lambda p: f"slope {p['negative_slope']:g}", functional="F.leaky_relu",
    functional_args=("negative_slope",), torch_class="LeakyReLU", base_id="lrelu",
    aliases=(ImportAlias(("F.leaky_relu", "F.leaky_relu_"), ("input", "negative_slope", "inplace")),),
))
register(LayerSpec(
    "Sigmoid", _ACT,
    "σ(x) = 1 / (1 + e^(−x)) squashes values into (0, 1). Used for probabilities of independent yes/no "
    "outputs; deep stacks of it make gradients vanish.",
    (), shapes.same, lambda p: "", functional="torch.sigmoid", torch_class="Sigmoid",
    aliases=(ImportAlias(("torch.sigmoid", "F.sigmoid", ".sigmoid", ".sigmoid_")),),
))
register(LayerSpec(
    "Tanh", _ACT,
    "tanh(x) squashes values into (−1, 1), centred on zero. Classic in early networks such as LeNet.",
    (), shapes.same, lambda p: "", functional="torch.tanh", torch_class="Tanh",
    aliases=(ImportAlias(("torch.tanh", "F.tanh", ".tanh", ".tanh_")),),
))
register(LayerSpec(
    "GELU", _ACT,
    "GELU(x) = x·Φ(x): a smooth ReLU used in transformers. approximate='tanh' uses a faster formula.",
    (ParamSpec("approximate", "choice", "none", "Exact ('none') or tanh approximation.", choices=("none", "tanh")),),
    shapes.same, lambda p: "" if p["approximate"] == "none" else "tanh", functional="F.gelu",
    functional_args=("approximate",), torch_class="GELU",
    aliases=(ImportAlias(("F.gelu",), ("input", "approximate")),),
))
register(LayerSpec(
    "Softmax", _ACT,
    "Turns scores into probabilities that sum to 1 along dim. Do not put it before CrossEntropy loss, "
    "which applies log-softmax itself.",
    (SOFTMAX_DIM,), shapes.softmax, lambda p: f"dim {p['dim']}", functional="F.softmax", functional_args=("dim",),
    output="probabilities", torch_class="Softmax", import_check=_softmax_check,
    aliases=(ImportAlias(("F.softmax", "torch.softmax", ".softmax"), _SOFTMAX_SIG),),
))
register(LayerSpec(
    "LogSoftmax", _ACT,
    "The logarithm of softmax, computed stably. Pair it with the NLL loss (as pytorch/examples mnist does).",
    (SOFTMAX_DIM,), shapes.softmax, lambda p: f"dim {p['dim']}", functional="F.log_softmax",
    functional_args=("dim",), output="log_probabilities", torch_class="LogSoftmax", base_id="log_softmax",
    import_check=_softmax_check,
    aliases=(ImportAlias(("F.log_softmax", "torch.log_softmax", ".log_softmax"), _SOFTMAX_SIG),),
))

_NR = "Normalization/Regularization"
register(LayerSpec(
    "Dropout", _NR,
    "During training, zeroes each value with probability p and scales the rest by 1/(1−p), so the "
    "network cannot rely on any single unit; does nothing in evaluation. No parameters.",
    (ParamSpec("p", "float", 0.5, "Probability of zeroing a value.", minimum=0.0, maximum=1.0, always_emit=True),),
    shapes.same, lambda p: f"p={p['p']:g}", module="Dropout", import_check=_dropout_check, explain_as="dropout",
    aliases=(ImportAlias(("F.dropout",), ("input", "p", "training", "inplace")),),
))
_BN_PARAMS = (
    ParamSpec("num_features", "int", AUTO, "Channels; auto takes them from the input.", inferred=CHANNELS,
              minimum=1, maximum=1_000_000),
    ParamSpec("eps", "float", 1e-5, "Added to the variance for stability.", minimum=0.0, maximum=1.0),
    ParamSpec("momentum", "float", 0.1, "Weight of the newest batch in the running statistics.",
              minimum=0.0, maximum=1.0),
    ParamSpec("affine", "bool", True, "Learn a scale and shift per channel."),
    ParamSpec("track_running_stats", "bool", True, "Keep running mean/variance for evaluation."),
)
register(LayerSpec(
    "BatchNorm1d", _NR,
    "Normalises each feature over the batch to zero mean and unit variance, then applies a learned "
    "scale and shift. Speeds up and stabilises training of fully connected layers.",
    _BN_PARAMS, shapes.batch_norm1d, lambda p: _num(p["num_features"]), module="BatchNorm1d",
    positional=("num_features",), has_parameters=True, param_count=_bn_params, import_check=_bn_check,
    explain_as="batchnorm",
))
register(LayerSpec(
    "BatchNorm2d", _NR,
    "Normalises each channel over the batch and all pixels, then applies a learned scale and shift. "
    "Usually placed between a convolution and its activation.",
    _BN_PARAMS, shapes.batch_norm2d, lambda p: _num(p["num_features"]), module="BatchNorm2d",
    positional=("num_features",), has_parameters=True, param_count=_bn_params, import_check=_bn_check,
    explain_as="batchnorm",
))

register(LayerSpec(
    "Add", "Merge",
    "Adds two or more tensors of the same shape element by element: the join of a residual (skip) "
    "connection, out = F(x) + x.",
    (), shapes.add, lambda p: "+", min_inputs=2, max_inputs=None, explain_as="add",
    combine=Combine(lambda xs, p: " + ".join(xs), _add_tensors, associative=True),
    aliases=(ImportAlias(("operator.add", "operator.iadd", "torch.add", ".add"), ("input", "other"),
                         tensors=("input", "other"), check=_add_check, help="+ / torch.add"),),
))
register(LayerSpec(
    "Concat", "Merge",
    "Joins two or more tensors along dim, any dim but the batch: 1 = channels (Inception, DenseNet), "
    "2 = height, or 1 = the tokens of N×T×F sequences (a Vision Transformer's class token); the other "
    "dimensions must match.",
    (ParamSpec("dim", "int", 1, "Dimension to join along, after the batch (1 = channels).", minimum=-5, maximum=5,
               always_emit=True),),
    shapes.concat, lambda p: f"dim {p['dim']}", min_inputs=2, max_inputs=None, base_id="cat", explain_as="concat",
    combine=Combine(lambda xs, p: f"torch.cat([{', '.join(xs)}], dim={int(p['dim'])})", _cat_tensors),
    aliases=(ImportAlias(("torch.cat", "torch.concat", "torch.concatenate"), ("tensors", "dim"),
                         tensors=("tensors",), defaults={"dim": 0}, check=_concat_check, help="torch.cat"),),
))


# The other built-in families; each registers itself on import, after the types above (palette order).
from netbuilder.core.model import builtin_activations as _builtin_activations  # noqa: E402,F401
from netbuilder.core.model import builtin_conv as _builtin_conv  # noqa: E402,F401
from netbuilder.core.model import builtin_norm as _builtin_norm  # noqa: E402,F401
