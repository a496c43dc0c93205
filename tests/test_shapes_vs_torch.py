"""Every layer's shape rule against real torch (meta tensors), over many parameter combinations.

Adding a layer type = one spec (core/model/builtin_layers.py) + one row in ROWS below; see
docs/adding-a-layer.md.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netbuilder.core.model.layers import AUTO, REGISTRY, LayerSpec, get_spec
from netbuilder.core.model.shapes import ShapeError
from netbuilder.core.model.torch_names import nn_class, torch_function

small = st.integers(1, 6)
pair_st = st.one_of(st.integers(1, 5), st.tuples(st.integers(1, 5), st.integers(1, 5)))
image = st.tuples(st.integers(1, 6), st.integers(1, 20), st.integers(1, 20))
flat = st.tuples(st.integers(1, 64))
any_shape = st.one_of(image, flat, st.tuples(st.integers(1, 6), st.integers(1, 12)))


@st.composite
def conv_case(draw: Any) -> tuple[dict[str, Any], list[tuple[int, ...]]]:
    x = draw(st.one_of(image, image, flat))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    p = {
        "in_channels": draw(st.one_of(st.just(AUTO), st.integers(1, 6))),
        "out_channels": draw(small) * groups,
        "kernel_size": draw(pair_st),
        "stride": draw(st.one_of(st.just(1), pair_st)),
        "padding": draw(st.one_of(st.just(0), st.integers(0, 3), st.sampled_from(["same", "valid"]),
                                  st.tuples(st.integers(0, 2), st.integers(0, 2)))),
        "dilation": draw(st.one_of(st.just(1), st.integers(1, 3))),
        "groups": groups,
        "bias": draw(st.booleans()),
        "padding_mode": draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"])),
    }
    return p, [x]


@st.composite
def pool_case(draw: Any, avg: bool = False) -> tuple[dict[str, Any], list[tuple[int, ...]]]:
    p: dict[str, Any] = {
        "kernel_size": draw(pair_st),
        "stride": draw(st.one_of(st.none(), pair_st)),
        "padding": draw(st.one_of(st.just(0), st.integers(0, 3))),
        "ceil_mode": draw(st.booleans()),
    }
    if avg:
        p["count_include_pad"] = draw(st.booleans())
        p["divisor_override"] = draw(st.one_of(st.none(), st.integers(1, 5)))
    else:
        p["dilation"] = draw(st.one_of(st.just(1), st.integers(1, 3)))
    return p, [draw(st.one_of(image, image, flat))]


signal = st.tuples(st.integers(1, 6), st.integers(1, 20))


@st.composite
def conv1d_case(draw: Any) -> tuple[dict[str, Any], list[tuple[int, ...]]]:
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    p = {
        "in_channels": draw(st.one_of(st.just(AUTO), st.integers(1, 6))),
        "out_channels": draw(small) * groups,
        "kernel_size": draw(st.integers(1, 5)),
        "stride": draw(st.one_of(st.just(1), st.integers(1, 3))),
        "padding": draw(st.one_of(st.just(0), st.integers(0, 3), st.sampled_from(["same", "valid"]),
                                  st.tuples(st.integers(0, 2), st.integers(0, 2)))),
        "dilation": draw(st.one_of(st.just(1), st.integers(1, 3))),
        "groups": groups,
        "bias": draw(st.booleans()),
        "padding_mode": draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"])),
    }
    kind = draw(st.sampled_from(["signal"] * 6 + ["image", "flat"]))
    x = draw(signal if kind == "signal" else image if kind == "image" else flat)
    if draw(st.booleans()):
        p["in_channels"] = AUTO  # mostly valid channel counts, so that many cases run in torch
        p["groups"] = draw(st.sampled_from([g for g in (1, 2, 3) if x[0] % g == 0]))
        p["out_channels"] = draw(small) * p["groups"]
    return p, [x]


@st.composite
def conv_transpose_case(draw: Any) -> tuple[dict[str, Any], list[tuple[int, ...]]]:
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    p = {
        "in_channels": draw(st.one_of(st.just(AUTO), st.integers(1, 6))),
        "out_channels": draw(small) * groups,
        "kernel_size": draw(pair_st),
        "stride": draw(st.one_of(st.just(1), pair_st)),
        "padding": draw(st.one_of(st.just(0), st.integers(0, 3), st.tuples(st.integers(0, 2), st.integers(0, 2)))),
        "output_padding": draw(st.one_of(st.just(0), st.integers(0, 2))),
        "groups": groups,
        "bias": draw(st.booleans()),
        "dilation": draw(st.one_of(st.just(1), st.integers(1, 3))),
    }
    return p, [draw(st.one_of(image, image, image, signal, flat))]


@st.composite
def upsample_case(draw: Any) -> tuple[dict[str, Any], list[tuple[int, ...]]]:
    x = draw(st.one_of(image, image, signal, flat))
    by_size = draw(st.booleans())
    p = {
        "size": draw(st.one_of(pair_st, st.integers(1, 30))) if by_size else None,
        "scale_factor": None if by_size else draw(st.one_of(st.sampled_from([2.0, 0.5, 3.0]), st.floats(0.05, 4))),
        "mode": draw(st.sampled_from(["nearest", "bilinear"])),
        "align_corners": draw(st.booleans()),
    }
    if draw(st.integers(0, 9)) == 0:  # sometimes both or neither: refused
        p["scale_factor"] = 2.0 if by_size else None
    return p, [x]


@st.composite
def pool1d_case(draw: Any, avg: bool = False) -> tuple[dict[str, Any], list[tuple[int, ...]]]:
    p: dict[str, Any] = {
        "kernel_size": draw(st.integers(1, 5)),
        "stride": draw(st.one_of(st.none(), st.integers(1, 4))),
        "padding": draw(st.one_of(st.just(0), st.integers(0, 3))),
        "ceil_mode": draw(st.booleans()),
    }
    if avg:
        p["count_include_pad"] = draw(st.booleans())
    else:
        p["dilation"] = draw(st.one_of(st.just(1), st.integers(1, 3)))
    return p, [draw(st.one_of(signal, signal, image, flat))]


@st.composite
def layer_norm_case(draw: Any) -> tuple[dict[str, Any], list[tuple[int, ...]]]:
    x = draw(any_shape)
    tail = list(x[-draw(st.integers(1, len(x))):])
    shape = draw(st.one_of(st.just(AUTO), st.just(tail), st.just(tail),
                           st.lists(st.integers(1, 6), min_size=1, max_size=3)))
    p = {"normalized_shape": shape, "eps": draw(st.floats(0, 0.1)), "elementwise_affine": draw(st.booleans()),
         "bias": draw(st.booleans())}
    return p, [x]


def one_input(params: st.SearchStrategy[dict[str, Any]], shape: st.SearchStrategy[Any] = any_shape) -> Any:
    return st.tuples(params, st.lists(shape, min_size=1, max_size=1))


@st.composite
def merge_case(draw: Any, cat: bool) -> tuple[dict[str, Any], list[tuple[int, ...]]]:
    base = draw(st.one_of(image, flat))
    n = draw(st.integers(2, 3))
    shapes = []
    for _ in range(n):
        s = list(base)
        if cat and draw(st.booleans()):
            s[0] = draw(st.integers(1, 6))
        if draw(st.integers(0, 9)) == 0:  # sometimes a mismatch that must be refused
            s[-1] += 1
        shapes.append(tuple(s))
    return ({"dim": draw(st.sampled_from([1, 1, -1]))} if cat else {}), shapes


bn = st.fixed_dictionaries({"num_features": st.one_of(st.just(AUTO), st.integers(1, 6)),
                            "affine": st.booleans(), "track_running_stats": st.booleans()})

ROWS: dict[str, Any] = {
    "Conv2d": conv_case(),
    "MaxPool2d": pool_case(),
    "AvgPool2d": pool_case(avg=True),
    "AdaptiveAvgPool2d": one_input(st.fixed_dictionaries({"output_size": pair_st}),
                                   st.one_of(image, flat)),
    "Linear": one_input(st.fixed_dictionaries({"in_features": st.one_of(st.just(AUTO), st.integers(1, 64)),
                                               "out_features": st.integers(1, 20), "bias": st.booleans()}),
                         st.one_of(flat, flat, flat, image)),
    "Flatten": one_input(st.fixed_dictionaries({"start_dim": st.integers(-3, 3), "end_dim": st.integers(-3, 3)})),
    "ReLU": one_input(st.just({})),
    "LeakyReLU": one_input(st.fixed_dictionaries({"negative_slope": st.floats(0, 1)})),
    "Sigmoid": one_input(st.just({})),
    "Tanh": one_input(st.just({})),
    "GELU": one_input(st.fixed_dictionaries({"approximate": st.sampled_from(["none", "tanh"])})),
    "Softmax": one_input(st.fixed_dictionaries({"dim": st.integers(-4, 4)})),
    "LogSoftmax": one_input(st.fixed_dictionaries({"dim": st.integers(-4, 4)})),
    "Dropout": one_input(st.fixed_dictionaries({"p": st.floats(0, 1)})),
    "BatchNorm1d": one_input(bn),
    "BatchNorm2d": one_input(bn),
    "Add": merge_case(cat=False),
    "Concat": merge_case(cat=True),
    **{name: one_input(st.just({})) for name in ("ReLU6", "SiLU", "Hardswish", "Hardsigmoid", "Mish", "Identity")},
    "ELU": one_input(st.fixed_dictionaries({"alpha": st.floats(0, 10)})),
    "PReLU": one_input(st.fixed_dictionaries({"num_parameters": st.sampled_from([1, 1, 2, 3, 4, 6]),
                                              "init": st.floats(-10, 10)})),
    "Softplus": one_input(st.fixed_dictionaries({"beta": st.floats(0.01, 100), "threshold": st.floats(0, 100)})),
    "Conv1d": conv1d_case(),
    "ConvTranspose2d": conv_transpose_case(),
    "Upsample": upsample_case(),
    "MaxPool1d": pool1d_case(),
    "AvgPool1d": pool1d_case(avg=True),
    "AdaptiveAvgPool1d": one_input(st.fixed_dictionaries({"output_size": st.integers(1, 8)}),
                                   st.one_of(signal, signal, image, flat)),
    "AdaptiveMaxPool1d": one_input(st.fixed_dictionaries({"output_size": st.integers(1, 8)}),
                                   st.one_of(signal, signal, image, flat)),
    "AdaptiveMaxPool2d": one_input(st.fixed_dictionaries({"output_size": pair_st}), st.one_of(image, flat)),
    "LayerNorm": layer_norm_case(),
    "GroupNorm": one_input(st.fixed_dictionaries({
        "num_groups": st.integers(1, 6), "num_channels": st.one_of(st.just(AUTO), st.integers(1, 6)),
        "affine": st.booleans()})),
    "InstanceNorm2d": one_input(st.fixed_dictionaries({
        "num_features": st.one_of(st.just(AUTO), st.integers(1, 6)), "affine": st.booleans(),
        "track_running_stats": st.booleans()}), st.one_of(image, image, signal, flat)),
    "Dropout2d": one_input(st.fixed_dictionaries({"p": st.floats(0, 1)})),
    "StochasticDepth": one_input(st.fixed_dictionaries({"p": st.floats(0, 1),
                                                        "mode": st.sampled_from(["row", "batch"])})),
}


# Deliberately stricter than torch: (type, words in our message) → why.
STRICTER = {
    ("Add", "same shape"): "no silent broadcasting: a residual join needs equal shapes",
    ("BatchNorm1d", "num_features"): "torch skips the check without affine/running stats; we keep it",
    ("BatchNorm2d", "num_features"): "same",
    ("Flatten", "start_dim 0"): "merging the batch breaks every later layer",
    ("Concat", "dim 0"): "joining along the batch is not a layer",
    ("Conv1d", "takes one number"): "a pair of paddings means nothing along one dimension",
    ("GroupNorm", "num_channels"): "torch checks it only with affine; the groups would not fit",
    ("InstanceNorm2d", "num_features"): "torch only warns without affine; the statistics would not fit",
}


def resolve(spec: LayerSpec, given_params: dict[str, Any], ins: list[tuple[int, ...]]) -> dict[str, Any]:
    """Validate like the graph does and fill 'auto' from the input, as inference does."""
    params = {k: spec.param(k).validate(v) for k, v in given_params.items()}
    return spec.resolve_inferred(spec.full_params(params), ins[0])


# Run on real (small) tensors: torch's meta kernels skip these layers' channel and padding checks.
ON_CPU = {"ConvTranspose2d"}


def device(spec: LayerSpec) -> str:
    return "cpu" if spec.type_name in ON_CPU else "meta"


def build_module(spec: LayerSpec, p: dict[str, Any]) -> nn.Module:
    """The spec's ``nn`` module on the meta device, given what generated code writes: parameters left
    at torch's default are left out (``Upsample``'s ``align_corners`` is then torch's None)."""
    assert spec.module
    given = {q.name: p[q.name] for q in spec.params if q.required or q.inferred or p[q.name] != q.default}
    with torch.device(device(spec)):
        return nn_class(spec.module)(**given)


def torch_apply(spec: LayerSpec, p: dict[str, Any], xs: list[torch.Tensor]) -> torch.Tensor:
    """Run the real torch operation the spec stands for (module, functional or combine)."""
    if spec.module:
        return build_module(spec, p)(xs[0])  # type: ignore[no-any-return]
    if spec.combine is not None:
        return spec.combine.apply(xs, p)
    assert spec.functional
    fn = torch_function(spec.functional)
    return fn(xs[0], **{k: p[k] for k in spec.functional_args})  # type: ignore[no-any-return]


# Checked against torch in their own files: tests/test_tensor_ops.py, tests/test_multi_output.py (Chunk, Split).
ELSEWHERE = ("Tensor operations", "Sequence")  # checked in test_tensor_ops.py, test_sequence.py


def test_every_layer_has_a_row() -> None:
    missing = {t for t, spec in REGISTRY.items() if spec.category not in ELSEWHERE} - set(ROWS) - {"Input"}
    assert not missing, f"add a row to ROWS for {missing}"


@pytest.mark.parametrize("type_name", sorted(ROWS))
def test_shape_rule_matches_torch(type_name: str) -> None:
    spec = get_spec(type_name)
    seen = {"ok": 0, "refused": 0}

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(ROWS[type_name])
    def check(case: tuple[dict[str, Any], list[tuple[int, ...]]]) -> None:
        given_params, ins = case
        ins = [tuple(s) for s in ins]
        p = resolve(spec, given_params, ins)
        try:
            ours: tuple[int, ...] | None = spec.shape_fn(p, ins, [])
            why = ""
        except ShapeError as e:
            ours, why = None, str(e)
        xs = [torch.zeros(2, *s, device=device(spec)) for s in ins]
        try:
            theirs: tuple[int, ...] | None = tuple(torch_apply(spec, p, xs).shape[1:])
        except Exception as e:  # torch refuses: so must we
            theirs, terr = None, e
        if ours is None:
            seen["refused"] += 1
            # torch also accepts some wrongly-ranked tensors as "unbatched" inputs, with another meaning;
            # we refuse them on purpose (the batch is always dim 0), with a message saying so.
            wrong_rank = "-D input" in why or "-D tensor" in why or "expects N×" in why
            stricter = any(t == type_name and words in why for t, words in STRICTER)
            assert wrong_rank or stricter or theirs is None, (
                f"{type_name} {p} {ins}: we refused ({why}) but torch gives {theirs}"
            )
            assert why and ";" in why, f"error message should say how to fix it: {why}"
        else:
            seen["ok"] += 1
            assert theirs is not None, f"{type_name} {p} {ins}: we say {ours}, torch raises {terr!r}"
            assert ours == theirs, f"{type_name} {p} {ins}: we say {ours}, torch says {theirs}"
            count = spec.param_count(p, ins, ours)
            if spec.module:
                assert count == sum(t.numel() for t in build_module(spec, p).parameters())
            else:
                assert count == 0

    check()
    assert seen["ok"] > 10, f"too few valid cases exercised for {type_name}: {seen}"


def test_linear_mismatch_message_names_the_fix() -> None:
    from netbuilder.core.model.graph import Graph
    from netbuilder.core.model.inference import infer

    g = Graph()
    g.add_node("Input", "input", {"shape": [16, 4, 4]})
    g.add_node("Flatten", "flatten", {})
    g.add_node("Linear", "fc1", {"in_features": 400, "out_features": 120})
    g.connect("input", "flatten")
    g.connect("flatten", "fc1")
    r = infer(g)
    assert r.errors_for("fc1") == [
        "Linear 'fc1' expects 400 input features but receives 256 = 16×4×4; set in_features to 256 or to auto"
    ]


def test_kernel_larger_than_input_says_so() -> None:
    spec = get_spec("Conv2d")
    p = resolve(spec, {"out_channels": 4, "kernel_size": 7}, [(1, 5, 5)])
    with pytest.raises(ShapeError, match=r"7×7 kernel window but receives only 5×5"):
        spec.shape_fn(p, [(1, 5, 5)], [])


def test_macs_of_conv_and_linear() -> None:
    conv = get_spec("Conv2d")
    p = resolve(conv, {"out_channels": 6, "kernel_size": 5}, [(1, 32, 32)])
    out = conv.shape_fn(p, [(1, 32, 32)], [])
    assert conv.macs(p, [(1, 32, 32)], out) == 6 * 28 * 28 * 25
    lin = get_spec("Linear")
    p = resolve(lin, {"out_features": 120}, [(400,)])
    assert lin.macs(p, [(400,)], (120,)) == 400 * 120 == math.prod((400, 120))
