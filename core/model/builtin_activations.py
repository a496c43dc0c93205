"""Built-in activation types beyond the classic ones: those of MobileNet, EfficientNet and friends.

Registered when :mod:`netbuilder.core.model.builtin_layers` is imported (it imports this module at
its end, so they follow ReLU … LogSoftmax in the palette). Each ``register(...)`` is the whole
definition of a type, as described in docs/adding-a-layer.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from netbuilder.core.model import shapes, shapes_norm
from netbuilder.core.model.layers import ImportAlias, LayerSpec, ParamSpec, register
from netbuilder.core.model.shapes import Shape

_ACT = "Activation"


def _prelu_params(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    return int(p["num_parameters"])


register(LayerSpec(
    "ReLU6", _ACT,
    "ReLU6(x) = min(max(0, x), 6): a ReLU capped at 6, as in MobileNet. No parameters.",
    (), shapes.same, lambda p: "", functional="F.relu6", torch_class="ReLU6", zeroes_negatives=True,
    aliases=(ImportAlias(("F.relu6",)),),
))
register(LayerSpec(
    "SiLU", _ACT,
    "SiLU(x) = x·σ(x) (also called Swish): a smooth ReLU that lets small negative values through, "
    "used by EfficientNet. No parameters.",
    (), shapes.same, lambda p: "", functional="F.silu", torch_class="SiLU",
    aliases=(ImportAlias(("F.silu",)),),
))
register(LayerSpec(
    "Hardswish", _ACT,
    "Hardswish(x) = x·ReLU6(x + 3)/6: a cheap piecewise approximation of SiLU, as in MobileNet v3. "
    "No parameters.",
    (), shapes.same, lambda p: "", functional="F.hardswish", torch_class="Hardswish",
    aliases=(ImportAlias(("F.hardswish",)),),
))
register(LayerSpec(
    "Hardsigmoid", _ACT,
    "Hardsigmoid(x) = ReLU6(x + 3)/6: a piecewise linear sigmoid in [0, 1], the gate of MobileNet v3's "
    "squeeze-excitation blocks. No parameters.",
    (), shapes.same, lambda p: "", functional="F.hardsigmoid", torch_class="Hardsigmoid",
    aliases=(ImportAlias(("F.hardsigmoid",)),),
))
register(LayerSpec(
    "ELU", _ACT,
    "ELU(x) = x for x > 0, alpha·(eˣ − 1) otherwise: like ReLU, but negative inputs saturate smoothly "
    "at −alpha, keeping mean activations near zero. No parameters.",
    (ParamSpec("alpha", "float", 1.0, "Value the output approaches for very negative inputs (as −alpha).",
               minimum=0.0, maximum=10.0),),
    shapes.same, lambda p: "" if p["alpha"] == 1.0 else f"α={p['alpha']:g}", functional="F.elu",
    functional_args=("alpha",), torch_class="ELU",
    aliases=(ImportAlias(("F.elu",), ("input", "alpha", "inplace")),),
))
register(LayerSpec(
    "PReLU", _ACT,
    "PReLU(x) = x for x ≥ 0, a·x otherwise, with the slope a learned: one slope shared by all "
    "channels (num_parameters 1) or one per channel. Its slopes are parameters, initialised to init.",
    (
        ParamSpec("num_parameters", "int", 1, "Learned slopes: 1 (shared) or the number of channels.",
                  minimum=1, maximum=100_000),
        ParamSpec("init", "float", 0.25, "Starting value of the slopes.", minimum=-10.0, maximum=10.0),
    ),
    shapes_norm.prelu, lambda p: "" if p["num_parameters"] == 1 else f"{p['num_parameters']} slopes",
    module="PReLU", has_parameters=True, param_count=_prelu_params,
))
register(LayerSpec(
    "Softplus", _ACT,
    "Softplus(x) = log(1 + e^(beta·x))/beta: a smooth ReLU that is always positive; above threshold "
    "(of beta·x) it is taken as x itself. No parameters.",
    (
        ParamSpec("beta", "float", 1.0, "Sharpness: larger is closer to ReLU.", minimum=0.01, maximum=100.0),
        ParamSpec("threshold", "float", 20.0, "Above beta·x = threshold the output is x.", minimum=0.0,
                  maximum=100.0),
    ),
    shapes.same, lambda p: "" if p["beta"] == 1.0 else f"β={p['beta']:g}", functional="F.softplus",
    functional_args=("beta", "threshold"), torch_class="Softplus",
    aliases=(ImportAlias(("F.softplus",), ("input", "beta", "threshold")),),
))
register(LayerSpec(
    "Mish", _ACT,
    "Mish(x) = x·tanh(softplus(x)): a smooth, non-monotonic ReLU used in YOLOv4. No parameters.",
    (), shapes.same, lambda p: "", functional="F.mish", torch_class="Mish",
    aliases=(ImportAlias(("F.mish",)),),
))
register(LayerSpec(
    "Identity", _ACT,
    "Identity(x) = x: passes its input through unchanged, a placeholder where a model may put a layer "
    "(a removed classifier head, an optional norm). No parameters.",
    (), shapes.same, lambda p: "", module="Identity",
))
