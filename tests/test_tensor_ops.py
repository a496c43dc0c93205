"""The tensor operations (core/model/builtin_tensor_ops.py) against real torch.

Each shape rule is compared with torch itself on random tensors over many parameter combinations
(hypothesis), at two batch sizes: where we accept, torch gives the same shape; where we refuse,
torch refuses too, unless the refusal is one of ours on purpose (``STRICTER``). Each type's generated
code is run against the torch call it stands for, and its import aliases are read back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netbuilder.core.interop.importer import import_model
from netbuilder.core.model.codegen import generate
from netbuilder.core.model.compiler import compile_source
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import infer
from netbuilder.core.model.layers import REGISTRY, ParamError, get_spec
from netbuilder.core.model.shapes import ShapeError
from netbuilder.core.model.torch_names import torch_function

Shape = tuple[int, ...]
TYPES = ("Mul", "Sub", "Mean", "Permute", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Select", "Expand",
         "Parameter")

dim_size = st.integers(1, 4)
per_sample = st.lists(dim_size, min_size=1, max_size=3).map(tuple)


def _maybe_one(draw: Any, shape: Shape) -> Shape:
    """``shape`` with some dims set to 1 and, rarely, one changed: broadcasting cases and failures."""
    out = [1 if draw(st.integers(0, 2)) == 0 else s for s in shape]
    if draw(st.integers(0, 5)) == 0:
        out[draw(st.integers(0, len(out) - 1))] += 1
    return tuple(out)


@st.composite
def broadcast_case(draw: Any, n: int | None) -> tuple[dict[str, Any], list[Shape]]:
    base = draw(per_sample)
    count = n or draw(st.integers(2, 3))
    shapes = [_maybe_one(draw, base) for _ in range(count)]
    if draw(st.integers(0, 6)) == 0:  # a different rank: the batch would not line up
        shapes[-1] = shapes[-1][1:] or (1, 1)
    return {}, shapes


def _dim(draw: Any, rank: int, extra: int = 0) -> int:
    """A dim of a batched tensor of ``rank`` dims (sometimes the batch or out of range)."""
    return int(draw(st.integers(-(rank + extra) - 1, rank + extra)))


@st.composite
def mean_case(draw: Any) -> tuple[dict[str, Any], list[Shape]]:
    x = draw(per_sample)
    nd = len(x) + 1
    dim = draw(st.one_of(st.integers(-nd, nd - 1), st.lists(st.integers(-nd, nd - 1), min_size=1, max_size=3)))
    return {"dim": dim, "keepdim": draw(st.booleans())}, [x]


@st.composite
def permute_case(draw: Any) -> tuple[dict[str, Any], list[Shape]]:
    x = draw(per_sample)
    nd = len(x) + 1
    rest = draw(st.permutations(list(range(1, nd))))
    dims = [0, *rest] if draw(st.integers(0, 5)) else draw(st.permutations(list(range(nd))))
    dims = [d - nd if draw(st.booleans()) else d for d in dims]
    if draw(st.integers(0, 8)) == 0:
        dims = dims[:-1] or [0, 0]
    return {"dims": dims}, [x]


@st.composite
def two_dims_case(draw: Any) -> tuple[dict[str, Any], list[Shape]]:
    x = draw(per_sample)
    nd = len(x) + 1
    return {"dim0": _dim(draw, nd), "dim1": _dim(draw, nd)}, [x]


@st.composite
def reshape_case(draw: Any) -> tuple[dict[str, Any], list[Shape]]:
    x = draw(per_sample)
    total = 1
    for s in x:
        total *= s
    sizes = draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))
    if draw(st.booleans()):  # a shape that fits, one size given as -1
        rest = 1
        for s in sizes[:-1]:
            rest *= s
        sizes = [*sizes[:-1], total // rest] if total % rest == 0 else sizes
        sizes[draw(st.integers(0, len(sizes) - 1))] = -1
    if draw(st.integers(0, 9)) == 0:
        sizes = [-1, -1]
    return {"shape": sizes}, [x]


@st.composite
def one_dim_case(draw: Any, extra: int = 0) -> tuple[dict[str, Any], list[Shape]]:
    x = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    return {"dim": _dim(draw, len(x) + 1, extra)}, [x]


@st.composite
def select_case(draw: Any) -> tuple[dict[str, Any], list[Shape]]:
    x = draw(per_sample)
    return {"dim": _dim(draw, len(x) + 1), "index": draw(st.integers(-5, 5))}, [x]


@st.composite
def expand_case(draw: Any) -> tuple[dict[str, Any], list[Shape]]:
    x = _maybe_one(draw, draw(per_sample))
    sizes = [draw(st.sampled_from([-1, s, 3])) for s in x]
    if draw(st.integers(0, 8)) == 0:
        sizes = [*sizes, 2]
    return {"sizes": sizes}, [x]


@st.composite
def parameter_case(draw: Any) -> tuple[dict[str, Any], list[Shape]]:
    batch_dim = draw(st.booleans())
    shape = draw(st.lists(dim_size, min_size=1, max_size=3))
    if batch_dim and draw(st.integers(0, 5)):
        shape = [1, *shape]
    return {"shape": shape, "batch_dim": batch_dim}, [draw(per_sample)]


CASES: dict[str, Any] = {
    "Mul": broadcast_case(None),
    "Sub": broadcast_case(2),
    "Mean": mean_case(),
    "Permute": permute_case(),
    "Transpose": two_dims_case(),
    "Reshape": reshape_case(),
    "Squeeze": one_dim_case(),
    "Unsqueeze": one_dim_case(extra=1),
    "Select": select_case(),
    "Expand": expand_case(),
    "Parameter": parameter_case(),
}

# Deliberately stricter than torch: (type, words in our message).
STRICTER = {
    ("Mul", "different numbers of dims"): "torch aligns from the right: the batch would meet a feature dim",
    ("Sub", "different numbers of dims"): "same",
    ("Mean", "the batch"): "an operation never mixes samples",
    ("Permute", "moves the batch"): "same",
    ("Transpose", "the batch"): "same",
    ("Squeeze", "the batch"): "same",
    ("Unsqueeze", "the batch"): "same",
    ("Select", "the batch"): "same",
    ("Expand", "one size per dim"): "new dims would go in front of the batch",
    ("Parameter", "batch's 1"): "torch has no batch_dim; the flag's promise is checked",
}


def reference(type_name: str, p: dict[str, Any], xs: list[torch.Tensor]) -> torch.Tensor:
    """The torch operation each type stands for, written as people write it (not read from the spec)."""
    x = xs[0]
    if type_name == "Mul":
        y = x
        for other in xs[1:]:
            y = y * other
        return y
    if type_name == "Sub":
        return x - xs[1]
    if type_name == "Mean":
        return x.mean(p["dim"], keepdim=p["keepdim"])
    if type_name == "Permute":
        return x.permute(*p["dims"])
    if type_name == "Transpose":
        return x.transpose(p["dim0"], p["dim1"])
    if type_name == "Reshape":
        return x.view(x.size(0), *p["shape"])
    if type_name == "Squeeze":
        return x.squeeze(p["dim"])
    if type_name == "Unsqueeze":
        return x.unsqueeze(p["dim"])
    if type_name == "Select":
        if not -x.dim() <= p["dim"] < x.dim():
            raise IndexError(p["dim"])
        return x[(slice(None),) * (p["dim"] % x.dim()) + (p["index"],)]
    if type_name == "Expand":
        return x.expand(x.size(0), *p["sizes"])
    assert type_name == "Parameter"
    t = torch.zeros(*p["shape"])
    return (t if p["batch_dim"] else t.unsqueeze(0)).expand(x.size(0), *p["shape"][1 if p["batch_dim"] else 0:])


def spec_apply(type_name: str, p: dict[str, Any], xs: list[torch.Tensor]) -> torch.Tensor:
    """The spec's own way of running the operation (autograd's node-by-node run)."""
    spec = get_spec(type_name)
    if type_name == "Parameter":
        assert spec.combine is not None
        return spec.combine.apply([torch.zeros(*p["shape"]), xs[0]], p)
    if spec.combine is not None:
        return spec.combine.apply(xs, p)
    assert spec.functional
    return torch_function(spec.functional)(xs[0], **{k: p[k] for k in spec.functional_args})  # type: ignore


def test_cases_cover_every_tensor_operation() -> None:
    assert set(CASES) == set(TYPES)
    assert {t for t in TYPES if get_spec(t).category == "Tensor operations"} == set(TYPES)


@pytest.mark.parametrize("type_name", TYPES)
def test_shape_rule_matches_torch(type_name: str) -> None:
    spec = get_spec(type_name)
    seen = {"ok": 0, "refused": 0}

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(CASES[type_name])
    def check(case: tuple[dict[str, Any], list[Shape]]) -> None:
        given_params, ins = case
        try:
            p = spec.full_params({k: spec.param(k).validate(v) for k, v in given_params.items()})
        except ParamError:
            return
        try:
            ours: Shape | None = tuple(spec.shape_fn(p, ins, []))  # type: ignore[arg-type]
            why = ""
        except ShapeError as e:
            ours, why = None, str(e)
        for batch in (2, 3):
            xs = [torch.randn(batch, *s) for s in ins]
            try:
                want = reference(type_name, p, xs)
                theirs: Shape | None = tuple(want.shape)
            except (RuntimeError, IndexError, ValueError, TypeError):
                theirs = None
            if ours is None:
                stricter = any(t == type_name and words in why for t, words in STRICTER)
                assert stricter or theirs is None, f"{type_name} {p} {ins}: we refused ({why}), torch gives {theirs}"
                assert ";" in why, f"the message should say how to fix it: {why}"
            else:
                assert theirs == (batch, *ours), f"{type_name} {p} {ins}: we say {ours}, torch {theirs}"
                got = spec_apply(type_name, p, xs)
                assert torch.equal(got, want), f"{type_name} {p} {ins}: the spec computes something else"
        seen["ok" if ours is not None else "refused"] += 1

    check()
    assert seen["ok"] > 20 and seen["refused"] > 3, seen


@pytest.mark.parametrize(("a", "b"), [((4, 3), (4, 2)), ((2, 1, 5), (3, 1, 4)), ((4, 8), (8,))])
def test_broadcast_refusal_names_both_shapes(a: Shape, b: Shape) -> None:
    with pytest.raises(RuntimeError):
        torch.randn(2, *a) * torch.randn(2, *b)
    for type_name in ("Mul", "Sub"):
        with pytest.raises(ShapeError) as err:
            get_spec(type_name).shape_fn({}, [a, b], [])
        text = str(err.value)
        assert "N×" + "×".join(map(str, a)) in text and "N×" + "×".join(map(str, b)) in text


def test_squeeze_excitation_gate_broadcasts() -> None:
    assert get_spec("Mul").shape_fn({}, [(8, 5, 5), (8, 1, 1)], []) == (8, 5, 5)
    assert get_spec("Mul").shape_fn({}, [(8, 1, 1), (8, 5, 5), (1, 5, 1)], []) == (8, 5, 5)


def test_parameter_counts_its_tensor() -> None:
    spec = get_spec("Parameter")
    p = spec.full_params({"shape": (1, 5, 16)})
    assert spec.param_count(p, [(4, 8, 8)], (5, 16)) == 80
    assert spec.has_parameters


def test_dims_and_sizes_are_validated() -> None:
    with pytest.raises(ParamError, match="whole numbers"):
        get_spec("Permute").param("dims").validate([0, "a"])
    with pytest.raises(ParamError, match="cannot contain 0"):
        get_spec("Reshape").param("shape").validate([4, 0])
    assert get_spec("Mean").param("dim").validate([2, 3]) == (2, 3)
    assert get_spec("Mean").param("dim").validate(-1) == -1


# --- generated code and import -------------------------------------------------------------------

NETS: dict[str, tuple[Shape, dict[str, Any], str]] = {
    # type: (input shape, params, the line the generated forward must contain)
    "Mean": ((4, 6, 6), {"dim": (2, 3)}, "x = torch.mean(x, (2, 3))  # N×4"),
    "Permute": ((4, 6, 5), {"dims": (0, 2, 3, 1)}, "x = torch.permute(x, (0, 2, 3, 1))  # N×6×5×4"),
    "Transpose": ((4, 6), {"dim0": 1, "dim1": 2}, "x = torch.transpose(x, 1, 2)  # N×6×4"),
    "Reshape": ((4, 6, 6), {"shape": (4, -1)}, "x = x.reshape(x.size(0), 4, -1)  # N×4×36"),
    "Squeeze": ((4, 1), {"dim": 2}, "x = torch.squeeze(x, 2)  # N×4"),
    "Unsqueeze": ((4,), {"dim": -1}, "x = torch.unsqueeze(x, -1)  # N×4×1"),
    "Select": ((5, 8), {"dim": 1, "index": -1}, "x = torch.select(x, 1, -1)  # N×8"),
    "Expand": ((1, 8), {"sizes": (5, -1)}, "x = x.expand(-1, 5, -1)  # N×5×8"),
}


def _net(type_name: str, shape: Shape, params: dict[str, Any], inputs: int = 1) -> Graph:
    g = Graph("Net")
    g.add_node("Input", "input", {"shape": list(shape)})
    g.add_node(type_name, "op", params)
    for port in range(inputs):
        g.connect("input", "op", port)
    return g


@pytest.mark.parametrize("type_name", sorted(NETS))
def test_generated_code_is_the_torch_call(type_name: str) -> None:
    shape, params, line = NETS[type_name]
    g = _net(type_name, shape, params)
    code = generate(g)
    assert line in code.source
    x = torch.randn(3, *shape)
    p = infer(g).nodes["op"].resolved
    assert torch.equal(compile_source(code)()(x), reference(type_name, p, [x]))


def test_mul_and_sub_code() -> None:
    mul = generate(_net("Mul", (4, 3), {}, inputs=3)).source
    assert "op = x * x * x  # N×4×3" in mul
    assert "op = x - x  # N×4×3" in generate(_net("Sub", (4, 3), {}, inputs=2)).source


def test_parameter_generates_an_attribute_and_expands_it() -> None:
    g = _net("Parameter", (4, 8), {"shape": (1, 1, 8), "init": "normal", "scale": 0.02})
    code = generate(g).source
    assert "self.op = nn.Parameter(torch.randn(1, 1, 8) * 0.02)" in code
    assert "x = self.op.expand(x.size(0), -1, -1)  # N×1×8" in code  # one consumer: the variable is reused


FILE = '''
import torch
import torch.nn as nn


class Ops(nn.Module):
    input_shape = (4, 6, 6)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        g = x.mean((2, 3), keepdim=True)
        x = self.conv(x) * torch.sigmoid(g)
        x = x - x.mean(1, keepdim=True)
        x = x.permute(0, 2, 3, 1).transpose(1, 2)
        x = torch.unsqueeze(x, 1).squeeze(1)
        return x[:, 0]
'''


def test_torch_forms_import_as_tensor_operations(tmp_path: Path) -> None:
    path = tmp_path / "ops.py"
    path.write_text(FILE)
    imported = import_model(path)
    types = [n.type for n in imported.graph.nodes]
    for t in ("Mean", "Mul", "Sub", "Permute", "Transpose", "Unsqueeze", "Squeeze", "Select"):
        assert t in types, (t, types)
    assert imported.max_abs_diff is not None and imported.max_abs_diff < 1e-5
    assert all(REGISTRY[t] for t in types)


EXPAND = '''
import torch.nn as nn


class Tokens(nn.Module):
    input_shape = (1, 8)

    def forward(self, x):
        return x.expand(x.size(0), 5, -1) + x.expand(-1, 5, 8)
'''


def test_expand_imports(tmp_path: Path) -> None:
    path = tmp_path / "tokens.py"
    path.write_text(EXPAND)
    imported = import_model(path)
    assert [n.type for n in imported.graph.nodes].count("Expand") == 2
    assert imported.max_abs_diff == 0.0


@st.composite
def concat_case(draw: Any) -> tuple[dict[str, Any], list[Shape]]:
    base = list(draw(st.lists(dim_size, min_size=1, max_size=4)))
    nd = len(base) + 1
    dim = draw(st.integers(-nd, nd - 1))
    shapes = []
    for _ in range(draw(st.integers(2, 3))):
        s = list(base)
        if -nd < dim < nd and dim % nd:
            s[dim % nd - 1] = draw(dim_size)  # the joined dim may differ
        if draw(st.integers(0, 7)) == 0:
            s = s[1:] or [2, 2] if draw(st.booleans()) else [*s[:-1], s[-1] + 1]
        shapes.append(tuple(s))
    return {"dim": dim}, shapes


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(concat_case())
def test_concat_along_any_dim_matches_torch(case: tuple[dict[str, Any], list[Shape]]) -> None:
    params, ins = case
    spec = get_spec("Concat")
    try:
        ours: Shape | None = tuple(spec.shape_fn(params, ins, []))  # type: ignore[arg-type]
    except ShapeError as e:
        ours, why = None, str(e)
    try:
        theirs: Shape | None = tuple(torch.cat([torch.randn(2, *s) for s in ins], dim=params["dim"]).shape)
    except (RuntimeError, IndexError):
        theirs = None
    if ours is None:
        assert theirs is None or "dim 0, the batch" in why, (params, ins, why)
        assert ";" in why, why
    else:
        assert theirs == (2, *ours), (params, ins)


def test_dims_survive_a_project_file() -> None:
    from netbuilder.core.model.project import dumps, loads

    g = _net("Permute", (4, 6, 6), {"dims": [0, 2, 3, 1]})
    g.add_node("Mean", "m", {"dim": [1, 2], "keepdim": True})
    g.connect("op", "m")
    back = loads(dumps(g)).graph
    assert back.node("op").params == {"dims": (0, 2, 3, 1)} and back.node("m").params["dim"] == (1, 2)
    assert generate(back).source == generate(g).source
