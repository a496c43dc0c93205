"""Shape rules of the normalisation layers (LayerNorm, GroupNorm, InstanceNorm2d), channel dropout
and PReLU: the shape passes through unchanged once the sizes they hold fit the input.

Conventions as in :mod:`netbuilder.core.model.shapes` (batch excluded, :class:`ShapeError` with the fix).
"""

from __future__ import annotations

from collections.abc import Sequence

from netbuilder.core.model.shapes import Params, Shape, ShapeError, _expect_rank, dims, fmt_shape


def layer_norm(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """LayerNorm: ``normalized_shape`` must be the input's last dimensions (auto: the last one)."""
    x = ins[0]
    ns = tuple(params["normalized_shape"])
    if len(ns) > len(x) or tuple(x[len(x) - len(ns):]) != ns:
        last = dims(x[-len(ns):]) if len(ns) <= len(x) else dims(x)
        raise ShapeError(
            f"normalises over {dims(ns)}, but the last dimensions of {fmt_shape(x)} are {last}; set "
            f"normalized_shape to [{x[-1]}] (or auto) for the last dimension, or to trailing dims of {dims(x)}"
        )
    return tuple(x)


def group_norm(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """GroupNorm: ``num_channels`` = C (dim 1), divisible by ``num_groups``."""
    x = ins[0]
    groups, channels = int(params["num_groups"]), int(params["num_channels"])
    if channels != x[0]:
        raise ShapeError(
            f"expects num_channels={channels} but receives {x[0]} channels ({fmt_shape(x)}); "
            f"set num_channels to {x[0]} or to auto"
        )
    if channels % groups:
        fits = [g for g in range(1, channels + 1) if channels % g == 0]
        raise ShapeError(
            f"has num_groups={groups}, which does not divide its {channels} channels; use one of "
            f"{', '.join(map(str, fits[-6:]))}"
        )
    return tuple(x)


def instance_norm2d(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """InstanceNorm2d: N×C×H×W with num_features = C; each sample's channel is normalised alone, so
    it needs more than one value per channel (torch refuses 1×1 maps in training)."""
    x = _expect_rank(ins, 3, "C×H×W", "use LayerNorm or BatchNorm1d for flat features")
    nf = int(params["num_features"])
    if nf != x[0]:
        raise ShapeError(
            f"expects num_features={nf} but receives {x[0]} channels ({fmt_shape(x)}); "
            f"set num_features to {x[0]} or to auto"
        )
    if x[1] * x[2] == 1:
        raise ShapeError(
            f"receives 1×1 maps ({fmt_shape(x)}), one value per channel, which cannot be normalised "
            "(torch refuses it in training); put it before the pooling that shrinks the map, or use BatchNorm2d"
        )
    return tuple(x)


def dropout2d(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Dropout2d: drops whole channels of N×C×H×W feature maps."""
    return tuple(_expect_rank(ins, 3, "C×H×W", "use Dropout for flat features or sequences"))


def prelu(params: Params, ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """PReLU: one slope shared (num_parameters 1) or one per channel (dim 1 of the batch)."""
    x = ins[0]
    n = int(params["num_parameters"])
    if n not in (1, x[0]):
        raise ShapeError(
            f"has num_parameters={n}, but its input {fmt_shape(x)} has {x[0]} channels; "
            f"set num_parameters to 1 (one shared slope) or {x[0]} (one per channel)"
        )
    return tuple(x)
