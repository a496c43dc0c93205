"""Importing, step 3: build the project graph from the mapped operations and check it.

Module nodes are named after their attribute (``features.0`` → ``features_0``), the others after
their spec's ``node_base_id`` (numbered when there are several). The weights are carried over
under the generated code's attribute names, and the rebuilt model is run on the traced example to
check that it computes what the original does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn
from netbuilder.core.interop.import_map import Op
from netbuilder.core.interop.import_trace import ModelImportError
from netbuilder.core.model.codegen import generate, legal_name
from netbuilder.core.model.compiler import compile_source
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import infer
from netbuilder.core.model.layers import get_spec
from netbuilder.core.model.layout import apply_layout


@dataclass
class ImportedModel:
    """The result of an import: the project graph, the original weights renamed to the project's
    attribute names (they load into ``netbuilder.core.model.compiler.build_model(graph)``), and the
    check."""

    graph: Graph
    state_dict: dict[str, torch.Tensor]
    class_name: str
    source: str
    input_shape: tuple[int, ...]
    max_abs_diff: float | None = None
    notes: list[str] = field(default_factory=list)


def _legal_id(raw: str, taken: set[str]) -> str:
    """A node id from a module path (``features.0`` → ``features_0``), named as codegen would."""
    return legal_name(raw[:56], taken)


def build_graph(ops: list[Op], shape: tuple[int, ...], name: str, dtype: str = "float",
                vocab_size: int | None = None) -> tuple[Graph, dict[fx.Node, str]]:
    """The laid-out project graph of ``ops`` (the input gets ``shape``, and ``dtype`` ``"long"`` with
    ``vocab_size`` for integer token ids) and each op's node id."""
    graph = Graph(name)
    taken: set[str] = {get_spec(op.type).node_base_id for op in ops if get_spec(op.type).is_input}
    # ids of module nodes first, so numbered functional ids never take a module's name
    ids: dict[int, str] = {}
    for k, op in enumerate(ops):
        if not get_spec(op.type).is_input and op.attr_path is not None:
            ids[k] = _legal_id(op.attr_path, taken)
    node_of: dict[fx.Node, str] = {}
    counts: dict[str, int] = {}
    for op in ops:
        counts[op.type] = counts.get(op.type, 0) + 1
    for k, op in enumerate(ops):
        spec = get_spec(op.type)
        base = spec.node_base_id
        params: dict[str, Any] = op.params
        if spec.is_input:
            nid = base
            params = {spec.params[0].name: list(shape)}
            if dtype != "float":
                params |= {"dtype": dtype, "vocab_size": vocab_size}
        elif k in ids:
            nid = ids[k]
        elif counts[op.type] == 1 and base not in taken:  # the only one: no number needed
            nid = base
            taken.add(nid)
        else:
            nid = _fresh(graph, taken, base)
        graph.add_node(op.type, nid, params)
        node_of[op.fx_node] = nid
    for op in ops:
        src_ports = op.src_ports or [0] * len(op.inputs)
        for port, (src, src_port) in enumerate(zip(op.inputs, src_ports, strict=True)):
            graph.connect(node_of[src], node_of[op.fx_node], port, src_port=src_port)
    apply_layout(graph)
    return graph, node_of


def _fresh(graph: Graph, taken: set[str], base: str) -> str:
    nid = graph.unique_id(base)
    i = 1
    while nid in taken:
        i += 1
        nid = graph.unique_id(f"{base}{i}") if i < 1000 else f"{base}_{len(taken)}"
    taken.add(nid)
    return nid


def finish(graph: Graph, ops: list[Op], node_of: dict[fx.Node, str], model: nn.Module, example: torch.Tensor,
           class_name: str, source: str, shape: tuple[int, ...], check: bool,
           want: torch.Tensor | None = None) -> ImportedModel:
    """Validate ``graph``, carry the weights over and (with ``check``) compare outputs on ``example``
    with ``want``, the original's output on it (computed here when not given)."""
    result = infer(graph)
    if not result.ok:
        listed = "; ".join(e.message for e in result.errors) or "the network has no output"
        raise ModelImportError(f"the imported network of {class_name} is not valid: {listed}")
    code = generate(graph, result)
    state: dict[str, torch.Tensor] = {}
    for op in ops:
        attr = code.attr_names.get(node_of[op.fx_node])
        if attr is None:
            continue
        # The tensors are shared, not copied: the original model is not used after the import.
        if op.tensor is not None:  # a Parameter node: the attribute is the tensor itself
            state[attr] = op.tensor
        if op.module is None:
            continue
        for key, value in op.module.state_dict().items():
            state[f"{attr}.{key}"] = value.detach()
    imported = ImportedModel(graph, state, class_name, source, shape)
    if check:
        cls = compile_source(code)
        with torch.device("meta"):  # no random initialisation of weights that are replaced at once
            rebuilt = cls()
        missing = rebuilt.load_state_dict(state, strict=False, assign=True)
        if missing.missing_keys or missing.unexpected_keys:
            imported.notes.append(f"weights not carried over: {', '.join(missing.missing_keys)}")
            rebuilt = cls()
            rebuilt.load_state_dict(state, strict=False)
        rebuilt.eval()
        model.eval()
        with torch.no_grad():
            if want is None:
                want = model(example)
            got = rebuilt(example)
        want, got = want.detach(), got.detach()  # a Parameter ending the network still requires grad
        if tuple(want.shape) != tuple(got.shape):
            raise ModelImportError(f"the imported network gives {tuple(got.shape)} but {class_name} gives "
                                   f"{tuple(want.shape)}; please report this file")
        imported.max_abs_diff = float((want - got).abs().max()) if want.numel() else 0.0
        scale = float(want.abs().max()) if want.numel() else 0.0
        if imported.max_abs_diff > 1e-4 * max(1.0, scale):
            imported.notes.append(f"warning: the imported network's outputs differ from {class_name}'s by up to "
                                  f"{imported.max_abs_diff:.3g}; check the layers before training")
    return imported
