"""Every registered layer type survives export → import → export with equal code and summaries.

Parametrised over the registry, so a new type is covered without touching this file. Each type is
built palette-free: Input → the layer (or, for a merge, the Input fed into each of its
``min_inputs`` ports), once with default parameters and once per parameter set to a non-default
value that the layer accepts on that input.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from netbuilder.core.interop.import_map import Tables
from netbuilder.core.interop.importer import import_model
from netbuilder.core.model.codegen import generate
from netbuilder.core.model.graph import Graph, GraphError
from netbuilder.core.model.inference import infer
from netbuilder.core.model.layers import REGISTRY, LayerSpec, ParamError, ParamSpec, input_spec
from netbuilder.core.model.summary import summary_data, summary_table
from netbuilder.core.model.torch_names import torch_function

# An image, a flat vector and a signal [C, L]: the defaults use the first the layer accepts; a changed
# parameter the layer refuses there is tried on the others (PReLU's 2 slopes need 2 channels).
INPUT_SHAPES = ([4, 8, 8], [16], [2, 16])


def build(spec: LayerSpec, shape: list[int], params: dict[str, Any]) -> Graph:
    """``Input(shape)`` → one node of ``spec`` (an Input alone when ``spec`` is the input layer)."""
    first = input_spec()
    g = Graph("Net")  # the class name: an imported graph is named after its class
    node_params = {**spec.defaults(), **params}
    inp: dict[str, Any] = {first.params[0].name: shape}
    if spec.input_dtype == "long":  # token ids: the importer takes the vocabulary from the Embedding
        inp.update(dtype="long", vocab_size=node_params.get("num_embeddings", 10))
    g.add_node(first.type_name, first.node_base_id, inp)
    if spec.is_input:
        return g
    nid = spec.node_base_id  # the id an import gives a lone layer of this type
    g.add_node(spec.type_name, nid, node_params)
    for port in range(max(spec.min_inputs, 1)):
        g.connect(first.node_base_id, nid, port)
    info = infer(g).nodes[nid]
    ports = [k for k, port in enumerate(info.output_names) if port not in spec.batch_second]
    if len(info.output_names) > 1:  # a network ends in one tensor: join the pieces that concatenate
        shapes = {tuple(info.output_shapes[k][1:]) for k in ports} if info.output_shapes else set()
        if len(ports) > 1 and len(shapes) == 1:
            g.add_node("Concat", "cat", {"dim": 1})
            for k in ports:
                g.connect(nid, "cat", src_port=k)
        else:
            g.add_node("Flatten", "flatten")
            g.connect(nid, "flatten", src_port=0)
    return g


def alternatives(p: ParamSpec) -> list[Any]:
    """Values other than torch's default for ``p``, most ordinary first."""
    d = p.default
    if p.kind == "bool":
        return [not d]
    if p.kind == "choice":
        return [c for c in p.choices if c != d]
    if p.kind == "float":
        mid = (p.minimum + p.maximum) / 2 if p.minimum is not None and p.maximum is not None else d + 1
        return [mid, d * 2, d / 2]
    if p.kind in ("int", "pair", "padding", "optional_int", "optional_pair"):
        base = 1 if d is None or isinstance(d, str) else int(d)
        return [base + 1, base - 1, base * 2, (base + 1, base + 2), *p.choices]
    if p.kind == "ints":  # dims or sizes: reorder them, or sizes and dims the test inputs have
        d = p.default if isinstance(p.default, tuple) else (p.default,)
        tries = [tuple(reversed(d)), (d[0], *reversed(d[1:])), (1,), (2, -1), (16,), (1, 8, 1)]
        return [v for v in tries if v != d]
    return []  # shape: the Input's shape is the test's to choose


# Parameters that only take effect together with another: (type, parameter) → the others' values.
COMPANIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("ConvTranspose2d", "output_padding"): {"stride": 2},  # must stay below the stride
    ("Upsample", "size"): {"scale_factor": None},  # exactly one of the two
    ("Upsample", "align_corners"): {"mode": "bilinear"},  # nearest has no corners to align
}


def valid(g: Graph | None) -> bool:
    return g is not None and infer(g).ok


def try_build(spec: LayerSpec, shape: list[int], params: dict[str, Any]) -> Graph | None:
    try:
        return build(spec, shape, params)
    except (GraphError, ParamError):
        return None


def variants(spec: LayerSpec) -> list[tuple[str, Graph]]:
    """(label, graph) for the defaults and for each parameter changed alone (when accepted)."""
    shape = next((s for s in INPUT_SHAPES if valid(try_build(spec, s, {}))), None)
    assert shape is not None, f"{spec.type_name} accepts none of the input shapes {INPUT_SHAPES}"
    out = [("defaults", build(spec, shape, {}))]
    if spec.is_input:
        return out
    for p in spec.params:
        if p.inferred:
            continue  # "auto" is the default; a hand-set value is what every export writes anyway
        found = None
        for value in alternatives(p):
            if isinstance(value, float) and not math.isfinite(value):
                continue
            for s in (shape, *(s for s in INPUT_SHAPES if s != shape)):
                g = try_build(spec, s, {**COMPANIONS.get((spec.type_name, p.name), {}), p.name: value})
                if valid(g) and g is not None:
                    found = (f"{p.name}={value!r}", g)
                    break
            if found:
                out.append(found)
                break
    return out


@pytest.mark.parametrize("type_name", sorted(REGISTRY))
def test_export_import_export_is_stable(type_name: str, tmp_path: Path) -> None:
    spec = REGISTRY[type_name]
    for label, graph in variants(spec):
        code = generate(graph)
        path = tmp_path / f"{type_name}_{len(list(tmp_path.iterdir()))}.py"
        path.write_text(code.source)
        imported = import_model(path)
        again = generate(imported.graph)
        assert again.source == code.source, f"{type_name} ({label}) changed on the way back"
        assert summary_data(imported.graph) == summary_data(graph), label
        assert summary_table(imported.graph) == summary_table(graph), label
        assert imported.max_abs_diff is not None and imported.max_abs_diff < 1e-5, label
        assert not imported.notes, (label, imported.notes)


def test_non_default_parameters_are_covered() -> None:
    """Every parameter of every type (but inferred ones and the Input's shape) gets a non-default run."""
    missing = []
    for spec in REGISTRY.values():
        labels = {label.split("=")[0] for label, _ in variants(spec)}
        missing += [f"{spec.type_name}.{p.name}" for p in spec.params  # the Input's: test_sequence.py
                    if not p.inferred and p.kind != "shape" and p.name not in labels and not spec.is_input]
    assert not missing, f"no accepted non-default value found for {missing}; extend alternatives()"


def test_every_import_alias_resolves_to_its_spec() -> None:
    """Every ``nn`` class and functional spelling a spec declares exists in torch (or torchvision) and
    maps back to it; one spelling has one reading, except those tried in registry order on purpose."""
    import torchvision.ops  # noqa: F401  (its classes join the tables once a file has loaded it)

    tables = Tables.from_registry()
    assert {s.type_name for s in tables.modules.values()} == {s.type_name for s in REGISTRY.values() if s.nn_class}
    claims: dict[object, list[str]] = {}
    for spec in REGISTRY.values():
        for alias in spec.aliases:
            for target in alias.targets:  # two spellings may be one torch object (torch.concat is torch.cat)
                obj = torch_function(target) if not target.startswith(".") else None  # a misspelling fails here
                key = target[1:] if target.startswith(".") else target if target.startswith("torchvision.") else obj
                if spec.type_name not in claims.setdefault(key, []):
                    claims[key].append(spec.type_name)
    assert claims == {k: list(dict.fromkeys(s.type_name for s, _ in v)) for k, v in tables.functions.items()}
    shared = {str(k): v for k, v in claims.items() if len(v) > 1}
    assert all(v == ["Flatten", "Reshape"] for v in shared.values()), shared  # view/reshape: flat first
    assert set(shared) <= {"view", "reshape", str(torch_function("torch.reshape"))}, shared


