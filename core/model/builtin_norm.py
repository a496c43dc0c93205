"""Built-in normalisation and regularisation types beyond BatchNorm and Dropout: the LayerNorm of
transformers and ConvNeXt, GroupNorm, InstanceNorm2d and channel dropout.

Registered when :mod:`netbuilder.core.model.builtin_layers` is imported (it imports this module at
its end). Each ``register(...)`` is the whole definition of a type (docs/adding-a-layer.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from netbuilder.core.model import shapes, shapes_norm
from netbuilder.core.model.builtin_layers import _bn_check, _dropout_check, _num
from netbuilder.core.model.layers import (
    AUTO,
    CHANNELS,
    Counter,
    ImportAlias,
    ImportCall,
    Inferred,
    LayerSpec,
    ParamError,
    ParamSpec,
    register,
)
from netbuilder.core.model.shapes import Shape, dims

_NR = "Normalization/Regularization"

# LayerNorm's auto normalised shape: the last dimension (features of a sequence, channels-last maps).
# Inferred.compute is declared to return an int; a shape is what this parameter holds.
LAST_DIM = Inferred("the last dimension", lambda x: (x[-1],))  # type: ignore[arg-type,return-value]


class TrailingDims(ParamSpec):
    """Kind ``ints``: the last dimensions of the input, 1 to 3 positive sizes, or ``auto``; one number
    means one dimension (``nn.LayerNorm(16)``). Validated values are a tuple."""

    def validate(self, value: Any) -> Any:
        """``auto`` (or None) stays ``auto``; a number or a list of sizes becomes a tuple; else ParamError."""
        if value is None or value == AUTO:
            return AUTO
        sizes = [value] if isinstance(value, int) else value
        if (not isinstance(sizes, (list, tuple)) or not 1 <= len(sizes) <= 3
                or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 1_000_000 for v in sizes)):
            raise ParamError(f"{self.name} must be 1 to 3 positive sizes (the input's last dimensions) or "
                             f"'{AUTO}', not {value!r}")
        return tuple(int(v) for v in sizes)


def _ln_params(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    n = math.prod(p["normalized_shape"])
    return n * (2 if p["bias"] else 1) if p["elementwise_affine"] else 0


def _affine_params(name: str) -> Counter:
    """Scale and shift per channel (``name`` holds the count) when ``affine``."""
    def count(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
        return 2 * int(p[name]) if p["affine"] else 0
    return count


def _ln_module_check(call: ImportCall) -> str | None:
    if not call.args.get("elementwise_affine", True):
        call.args["bias"] = True  # without the affine step torch ignores bias; keep the default
    return None


def _functional_norm_check(call: ImportCall) -> str | None:
    """``F.layer_norm`` / ``F.group_norm`` without weight and bias are the layer without its affine
    step; with them they use tensors held elsewhere, which only the module form can own."""
    if call.args.get("weight") is not None or call.args.get("bias") is not None:
        return "with weight or bias tensors (use the nn module, which owns them)"
    call.args.pop("weight", None)
    call.args.pop("bias", None)
    call.args["elementwise_affine" if "normalized_shape" in call.args else "affine"] = False
    return _ln_module_check(call)


_EPS = ParamSpec("eps", "float", 1e-5, "Added to the variance for stability.", minimum=0.0, maximum=1.0)

register(LayerSpec(
    "LayerNorm", _NR,
    "Normalises each sample over its last dimensions (normalized_shape; auto: the last one) to zero "
    "mean and unit variance, then applies a learned scale and shift per element, independently of the "
    "batch. The normalisation of transformers and ConvNeXt.",
    (
        TrailingDims("normalized_shape", "ints", AUTO, "The last dimensions to normalise over; auto: the last one.",
                     inferred=LAST_DIM),
        _EPS,
        ParamSpec("elementwise_affine", "bool", True, "Learn a scale (and shift) per element."),
        ParamSpec("bias", "bool", True, "Learn the shift too (with elementwise_affine)."),
    ),
    shapes_norm.layer_norm,
    lambda p: "last dim" if p["normalized_shape"] == AUTO else dims(p["normalized_shape"]),
    module="LayerNorm", positional=("normalized_shape",), has_parameters=True, param_count=_ln_params,
    import_check=_ln_module_check, explain_as="norm",
    aliases=(ImportAlias(("F.layer_norm",), ("input", "normalized_shape", "weight", "bias", "eps"),
                         check=_functional_norm_check),),
))
register(LayerSpec(
    "GroupNorm", _NR,
    "Splits the channels into num_groups groups and normalises each group of each sample over its "
    "channels and positions, then applies a learned scale and shift per channel. Works with any "
    "batch size (num_groups 1 normalises all channels together).",
    (
        ParamSpec("num_groups", "int", 2, "Groups of channels (must divide num_channels).", required=True,
                  minimum=1, maximum=4096),
        ParamSpec("num_channels", "int", AUTO, "Channels; auto takes them from the input.", inferred=CHANNELS,
                  minimum=1, maximum=1_000_000),
        _EPS,
        ParamSpec("affine", "bool", True, "Learn a scale and shift per channel."),
    ),
    shapes_norm.group_norm, lambda p: f"{p['num_groups']} groups of {_num(p['num_channels'])}", module="GroupNorm",
    positional=("num_groups", "num_channels"), has_parameters=True, param_count=_affine_params("num_channels"),
    explain_as="norm",
    aliases=(ImportAlias(("F.group_norm",), ("input", "num_groups", "weight", "bias", "eps"),
                         check=_functional_norm_check),),
))
register(LayerSpec(
    "InstanceNorm2d", _NR,
    "Normalises each channel of each sample on its own over its height and width (no batch "
    "statistics), as in style transfer; affine adds a learned scale and shift per channel.",
    (
        ParamSpec("num_features", "int", AUTO, "Channels; auto takes them from the input.", inferred=CHANNELS,
                  minimum=1, maximum=1_000_000),
        _EPS,
        ParamSpec("momentum", "float", 0.1, "Weight of the newest batch in the running statistics.",
                  minimum=0.0, maximum=1.0),
        ParamSpec("affine", "bool", False, "Learn a scale and shift per channel."),
        ParamSpec("track_running_stats", "bool", False, "Keep running mean/variance for evaluation."),
    ),
    shapes_norm.instance_norm2d, lambda p: _num(p["num_features"]), module="InstanceNorm2d",
    positional=("num_features",), has_parameters=True, param_count=_affine_params("num_features"),
    import_check=_bn_check, explain_as="norm",
))
register(LayerSpec(
    "Dropout2d", _NR,
    "During training, zeroes whole channels of each sample with probability p and scales the rest by "
    "1/(1−p) (neighbouring pixels are correlated, so single-value dropout would barely regularise "
    "feature maps); does nothing in evaluation. No parameters.",
    (ParamSpec("p", "float", 0.5, "Probability of zeroing a channel.", minimum=0.0, maximum=1.0, always_emit=True),),
    shapes_norm.dropout2d, lambda p: f"p={p['p']:g}", module="Dropout2d", import_check=_dropout_check,
    explain_as="dropout",
    aliases=(ImportAlias(("F.dropout2d",), ("input", "p", "training", "inplace")),),
))
register(LayerSpec(
    "StochasticDepth", _NR,
    "Stochastic depth (drop path, torchvision.ops.StochasticDepth): while training, drops a residual "
    "branch's output for a whole sample (mode 'row') or for the whole batch ('batch') with probability p "
    "and scales what is kept by 1/(1−p), so the block is then only its shortcut; identity in evaluation. "
    "Put it at the end of a residual branch, before the Add. No parameters.",
    (
        ParamSpec("p", "float", 0.1, "Probability of dropping the branch.", minimum=0.0, maximum=1.0, required=True),
        ParamSpec("mode", "choice", "row", "'row': per sample; 'batch': the whole batch at once.",
                  choices=("batch", "row"), required=True),
    ),
    shapes.same, lambda p: f"p={p['p']:g}, {p['mode']}", module="torchvision.ops.StochasticDepth",
    positional=("p", "mode"), base_id="drop_path", explain_as="dropout",
    aliases=(ImportAlias(("torchvision.ops.stochastic_depth",), ("input", "p", "mode", "training")),),
))
