"""The layer registry: the one place that defines each layer type.

A :class:`LayerSpec` holds a layer's parameters (named exactly like the torch keyword arguments,
with defaults, ranges and choices), its shape rule (:mod:`core.shapes`), how it becomes code (an
``nn`` module built in ``__init__`` or a functional call in ``forward``), its parameter and
multiply-add counts, and a paragraph for users. Palette, inspector, inference, code generation and
export all read this registry; adding a layer type means adding one spec here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from netbuilder.core.errors import UserError
from netbuilder.core.model import shapes
from netbuilder.core.model.shapes import Shape, pair

AUTO = "auto"

CATEGORIES = (
    "Input",
    "Convolution",
    "Pooling",
    "Linear",
    "Activation",
    "Normalization/Regularization",
    "Merge",
)


class ParamError(UserError, ValueError):
    """A parameter value is invalid. ``str(err)`` says why and what is allowed."""


@dataclass(frozen=True)
class ParamSpec:
    """One constructor argument.

    ``kind`` is one of ``int``, ``float``, ``bool``, ``choice``, ``pair`` (an int or two ints),
    ``padding`` (a pair or one of ``choices``), ``optional_pair``, ``optional_int`` and ``shape``
    (a list of positive ints). ``default`` is torch's default, used when a file leaves the
    argument out; ``required`` arguments have no torch default and must be given (``default`` is
    then the value a new node starts with). ``inferred`` arguments may be ``"auto"``: inference
    takes them from the input's channels (``"channels"``) or features (``"features"``).
    """

    name: str
    kind: str
    default: Any
    doc: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    inferred: str | None = None
    always_emit: bool = False

    def validate(self, value: Any) -> Any:
        """Return ``value`` normalised (pairs as int or tuple), or raise :class:`ParamError`."""
        if self.inferred and (value is None or value == AUTO):
            return AUTO
        kind = self.kind
        if kind == "bool":
            if not isinstance(value, bool):
                raise ParamError(f"{self.name} must be true or false, not {value!r}")
            return value
        if kind == "int":
            return self._int(value)
        if kind == "optional_int":
            return None if value is None else self._int(value)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParamError(f"{self.name} must be a number, not {value!r}")
            v = float(value)
            if not math.isfinite(v):
                raise ParamError(f"{self.name} must be finite, not {value!r}")
            self._range(v)
            return v
        if kind == "choice":
            if value not in self.choices:
                raise ParamError(f"{self.name} must be one of {', '.join(map(repr, self.choices))}, not {value!r}")
            return value
        if kind == "pair":
            return self._pair(value)
        if kind == "optional_pair":
            return None if value is None else self._pair(value)
        if kind == "padding":
            if isinstance(value, str):
                if value not in self.choices:
                    raise ParamError(f"{self.name} must be a number, a pair or one of {self.choices}, not {value!r}")
                return value
            return self._pair(value)
        if kind == "shape":
            if (
                not isinstance(value, (list, tuple))
                or len(value) not in (1, 3)
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
            ):
                raise ParamError(
                    f"{self.name} must be [C, H, W] or [features] with positive integers (batch excluded), "
                    f"not {value!r}"
                )
            if any(v > 1_000_000 for v in value):
                raise ParamError(f"{self.name} has a dimension over 1,000,000: {value!r}")
            return tuple(value)
        raise AssertionError(f"unknown parameter kind {kind}")

    def _int(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                allowed = " or 'auto'" if self.inferred else ""
                raise ParamError(f"{self.name} must be a whole number{allowed}, not {value!r}")
        self._range(value)
        return int(value)

    def _pair(self, value: Any) -> int | tuple[int, int]:
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ParamError(f"{self.name} must be one number or two (height, width), not {value!r}")
            a, b = self._int(value[0]), self._int(value[1])
            return a if a == b else (a, b)
        return self._int(value)

    def _range(self, v: float) -> None:
        lo, hi = self.minimum, self.maximum
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            if lo is not None and hi is not None:
                rng = f"between {lo:g} and {hi:g}"
            elif lo is not None:
                rng = f"at least {lo:g}"
            else:
                rng = f"at most {hi:g}"
            raise ParamError(f"{self.name} must be {rng}, not {v:g}")


Counter = Callable[[Mapping[str, Any], Sequence[Shape], Shape], int]
ShapeFn = Callable[[Mapping[str, Any], Sequence[Shape], Sequence[str | None]], Shape]


def _zero(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    return 0


@dataclass(frozen=True)
class LayerSpec:
    """Everything NetBuilder knows about one layer type.

    Code generation: a layer with ``module`` set (an ``nn`` class name) becomes an attribute built in
    ``__init__``; ``positional`` names the arguments written positionally. Otherwise ``functional``
    names the function called in ``forward`` (``F.relu``, ``torch.flatten``); ``functional_args``
    lists the parameters passed to it. ``combine`` joins several input variables (``+``, ``cat``).

    ``output`` says what the layer's values mean when it ends a network: ``"probabilities"``
    (softmax) or ``"log_probabilities"`` (log-softmax); the trainer checks the loss against it.
    """

    type_name: str
    category: str
    explanation: str
    params: tuple[ParamSpec, ...]
    shape_fn: ShapeFn
    summary: Callable[[Mapping[str, Any]], str]
    module: str | None = None
    functional: str | None = None
    functional_args: tuple[str, ...] = ()
    positional: tuple[str, ...] = ()
    combine: str | None = None
    min_inputs: int = 1
    max_inputs: int | None = 1
    has_parameters: bool = False
    param_count: Counter = _zero
    macs: Counter = _zero
    extra: Mapping[str, Any] = field(default_factory=dict)
    output: str | None = None

    def param(self, name: str) -> ParamSpec:
        """The spec of parameter ``name``; KeyError if unknown."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        """Parameters for a new node: required ones at their starting value, inferred ones auto."""
        return {p.name: (AUTO if p.inferred else p.default) for p in self.params if p.required or p.inferred}

    def full_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """``given`` completed with torch's defaults for every parameter left out."""
        out = {p.name: (AUTO if p.inferred else p.default) for p in self.params}
        out.update(given)
        return out

    @property
    def is_input(self) -> bool:
        return self.min_inputs == 0


REGISTRY: dict[str, LayerSpec] = {}


def register(spec: LayerSpec) -> LayerSpec:
    """Add ``spec`` to the registry (its type name must be new)."""
    if spec.type_name in REGISTRY:
        raise ValueError(f"layer type {spec.type_name} is already registered")
    if spec.category not in CATEGORIES:
        raise ValueError(f"unknown category {spec.category}")
    REGISTRY[spec.type_name] = spec
    return spec


def get_spec(type_name: str) -> LayerSpec:
    """The spec for ``type_name``; KeyError listing the known types otherwise."""
    try:
        return REGISTRY[type_name]
    except KeyError:
        raise KeyError(f"unknown layer type {type_name!r}; known types: {', '.join(sorted(REGISTRY))}") from None


def by_category() -> dict[str, list[LayerSpec]]:
    """Specs grouped by category in palette order."""
    groups: dict[str, list[LayerSpec]] = {c: [] for c in CATEGORIES}
    for spec in REGISTRY.values():
        groups[spec.category].append(spec)
    return groups


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


def _linear_macs(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    return int(p["in_features"]) * int(p["out_features"])


def _bn_params(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    return 2 * int(p["num_features"]) if p["affine"] else 0


def _input_shape(p: Mapping[str, Any], ins: Sequence[Shape], notes: Sequence[str | None]) -> Shape:
    return tuple(p["shape"])


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
SOFTMAX_DIM = ParamSpec("dim", "int", 1, "Dimension to normalise over (1 = classes).", minimum=-4, maximum=4,
                        always_emit=True)

register(LayerSpec(
    "Input", "Input",
    "The network's input: one sample's shape without the batch, [C, H, W] for images (MNIST is "
    "1×28×28, CIFAR-10 3×32×32) or [features] for flat vectors. Every network has exactly one.",
    (ParamSpec("shape", "shape", [1, 28, 28], "[C, H, W] or [features], batch excluded.", required=True),),
    _input_shape, lambda p: "×".join(map(str, p["shape"])), min_inputs=0, max_inputs=0,
))

register(LayerSpec(
    "Conv2d", "Convolution",
    "A 2-D convolution: out_channels filters, each with one kernel_size slice per input channel, "
    "slide over the image; at each position the products of a filter with the pixels under it are "
    "summed and the bias added. Learns local patterns such as edges and strokes. Output size per "
    "side: (H + 2·padding − dilation·(kernel_size − 1) − 1) / stride + 1, rounded down.",
    (
        ParamSpec("in_channels", "int", AUTO, "Input channels; auto takes them from the input.", inferred="channels",
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
    param_count=_conv_params, macs=_conv_macs, extra={"conv_walk": True},
))

register(LayerSpec(
    "MaxPool2d", "Pooling",
    "Max pooling keeps the largest value in each kernel_size window, shrinking the feature map "
    "(2×2 with stride 2 halves height and width) while keeping the strongest responses. No parameters.",
    (replace(KERNEL, default=2), POOL_STRIDE, POOL_PAD, DILATION, CEIL),
    shapes.max_pool2d, _pool_summary, functional="F.max_pool2d",
    functional_args=("kernel_size", "stride", "padding", "dilation", "ceil_mode"), positional=("kernel_size",),
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
    positional=("kernel_size",),
))

register(LayerSpec(
    "AdaptiveAvgPool2d", "Pooling",
    "Averages each channel down to a fixed output_size whatever the input's height and width, so "
    "the layers after it see a known size (output_size 1 is global average pooling).",
    (ParamSpec("output_size", "pair", 1, "Target height and width.", minimum=1, maximum=1024, required=True),),
    shapes.adaptive_avg_pool2d, lambda p: f"→ {_k(p['output_size'])}", functional="F.adaptive_avg_pool2d",
    functional_args=("output_size",), positional=("output_size",),
))

register(LayerSpec(
    "Linear", "Linear",
    "A fully connected layer: every output is a weighted sum of all in_features inputs plus a bias "
    "(y = x·Wᵀ + b). It needs flat input, so put a Flatten after the last convolution or pooling.",
    (
        ParamSpec("in_features", "int", AUTO, "Input features; auto takes them from the input.",
                  inferred="features", minimum=1, maximum=10_000_000),
        ParamSpec("out_features", "int", 10, "Number of outputs.", required=True, minimum=1, maximum=1_000_000),
        BIAS,
    ),
    shapes.linear, lambda p: f"{_num(p['in_features'])} → {_num(p['out_features'])}", module="Linear",
    positional=("in_features", "out_features"), has_parameters=True, param_count=_linear_params,
    macs=_linear_macs,
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
    extra={"emit_positional_defaults": True},
))

_ACT = "Activation"
register(LayerSpec(
    "ReLU", _ACT,
    "ReLU(x) = max(0, x): passes positive values and zeroes negative ones. The default non-linearity "
    "between layers; without one, stacked layers collapse into a single linear map.",
    (), shapes.same, lambda p: "", functional="F.relu",
))
register(LayerSpec(
    "LeakyReLU", _ACT,
    "Like ReLU, but negative inputs are multiplied by a small negative_slope instead of zeroed, so "
    "units never stop passing gradient ('dead ReLUs').",
    (ParamSpec("negative_slope", "float", 0.01, "Slope for x < 0.", minimum=0.0, maximum=1.0),),
    shapes.same, lambda p: f"slope {p['negative_slope']:g}", functional="F.leaky_relu",
    functional_args=("negative_slope",),
))
register(LayerSpec(
    "Sigmoid", _ACT,
    "σ(x) = 1 / (1 + e^(−x)) squashes values into (0, 1). Used for probabilities of independent yes/no "
    "outputs; deep stacks of it make gradients vanish.",
    (), shapes.same, lambda p: "", functional="torch.sigmoid",
))
register(LayerSpec(
    "Tanh", _ACT,
    "tanh(x) squashes values into (−1, 1), centred on zero. Classic in early networks such as LeNet.",
    (), shapes.same, lambda p: "", functional="torch.tanh",
))
register(LayerSpec(
    "GELU", _ACT,
    "GELU(x) = x·Φ(x): a smooth ReLU used in transformers. approximate='tanh' uses a faster formula.",
    (ParamSpec("approximate", "choice", "none", "Exact ('none') or tanh approximation.", choices=("none", "tanh")),),
    shapes.same, lambda p: "" if p["approximate"] == "none" else "tanh", functional="F.gelu",
    functional_args=("approximate",),
))
register(LayerSpec(
    "Softmax", _ACT,
    "Turns scores into probabilities that sum to 1 along dim. Do not put it before CrossEntropy loss, "
    "which applies log-softmax itself.",
    (SOFTMAX_DIM,), shapes.softmax, lambda p: f"dim {p['dim']}", functional="F.softmax", functional_args=("dim",),
    output="probabilities",
))
register(LayerSpec(
    "LogSoftmax", _ACT,
    "The logarithm of softmax, computed stably. Pair it with the NLL loss (as pytorch/examples mnist does).",
    (SOFTMAX_DIM,), shapes.softmax, lambda p: f"dim {p['dim']}", functional="F.log_softmax",
    functional_args=("dim",), output="log_probabilities",
))

_NR = "Normalization/Regularization"
register(LayerSpec(
    "Dropout", _NR,
    "During training, zeroes each value with probability p and scales the rest by 1/(1−p), so the "
    "network cannot rely on any single unit; does nothing in evaluation. No parameters.",
    (ParamSpec("p", "float", 0.5, "Probability of zeroing a value.", minimum=0.0, maximum=1.0, always_emit=True),),
    shapes.same, lambda p: f"p={p['p']:g}", module="Dropout",
))
_BN_PARAMS = (
    ParamSpec("num_features", "int", AUTO, "Channels; auto takes them from the input.", inferred="channels",
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
    positional=("num_features",), has_parameters=True, param_count=_bn_params,
))
register(LayerSpec(
    "BatchNorm2d", _NR,
    "Normalises each channel over the batch and all pixels, then applies a learned scale and shift. "
    "Usually placed between a convolution and its activation.",
    _BN_PARAMS, shapes.batch_norm2d, lambda p: _num(p["num_features"]), module="BatchNorm2d",
    positional=("num_features",), has_parameters=True, param_count=_bn_params,
))

register(LayerSpec(
    "Add", "Merge",
    "Adds two or more tensors of the same shape element by element: the join of a residual (skip) "
    "connection, out = F(x) + x.",
    (), shapes.add, lambda p: "+", combine="add", min_inputs=2, max_inputs=None,
))
register(LayerSpec(
    "Concat", "Merge",
    "Joins two or more tensors along dim (1 = channels, as in Inception and DenseNet); the other "
    "dimensions must match.",
    (ParamSpec("dim", "int", 1, "Dimension to join along (1 = channels).", minimum=-4, maximum=4,
               always_emit=True),),
    shapes.concat, lambda p: f"dim {p['dim']}", combine="cat", min_inputs=2, max_inputs=None,
))
