"""Graph → readable Python source (the only way a model is built; see :mod:`netbuilder.core.model.compiler`).

Layers with parameters or state become attributes built in ``__init__``; parameter-free operations
are functional calls in ``forward``. Names come from node ids, made legal and unique (as torch.fx
does). Every value written into the source is a validated int, float, bool, ``None``, tuple of ints
or one of a parameter's declared choices, and every name is sanitised, so no file can inject code.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn
from netbuilder.core import __version__
from netbuilder.core.errors import UserError
from netbuilder.core.model.graph import Edge, Graph, paused_gc
from netbuilder.core.model.inference import InferenceResult, infer
from netbuilder.core.model.layers import LayerSpec, get_spec
from netbuilder.core.model.shapes import fmt_shape

# Names the generated module itself uses: ``input_shape`` (``input_dtype``, ``vocab_size``) are class attributes,
# so a layer named like them would be shadowed (``self.input_shape(x)`` would call the tuple).
RESERVED = {"self", "x", "F", "nn", "torch", "super", "main", "Net", "input_shape", "input_dtype",
            "vocab_size"}
_MODULE_NAMES = set(dir(nn.Module())) | set(dir(nn.Module))  # attributes a layer name must not shadow
CLASS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class CodegenError(UserError, ValueError):
    """The graph cannot be turned into code; ``errors`` lists the inference errors."""

    def __init__(self, message: str, errors: list[Any] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


@dataclass
class GeneratedCode:
    """The source plus where each node landed in it (1-based line numbers). ``var_names`` is each
    node's variable in ``forward`` (port 0's for a layer with several outputs); ``port_vars`` lists
    every port's."""

    source: str
    class_name: str
    node_lines: dict[str, list[int]] = field(default_factory=dict)
    attr_names: dict[str, str] = field(default_factory=dict)
    var_names: dict[str, str] = field(default_factory=dict)
    port_vars: dict[str, list[str]] = field(default_factory=dict)

    def lines_of(self, node_id: str) -> list[int]:
        """Line numbers that belong to ``node_id``."""
        return self.node_lines.get(node_id, [])

    def node_at_line(self, line: int) -> str | None:
        """The node a line belongs to, if any."""
        for nid, lines in self.node_lines.items():
            if line in lines:
                return nid
        return None


def legal_name(raw: str, taken: set[str]) -> str:
    """A Python identifier derived from ``raw``, not a keyword, not a reserved or nn.Module name,
    and not in ``taken`` (which is updated)."""
    name = re.sub(r"\W", "_", raw, flags=re.ASCII) or "node"
    if name[0].isdigit():
        name = "n_" + name
    if keyword.iskeyword(name) or name in RESERVED or name in _MODULE_NAMES or name.startswith("__"):
        name = name.strip("_") + "_"
        if name[0].isdigit() or name == "_":
            name = "n" + name
    base, i = name, 1
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


def literal(value: Any) -> str:
    """Python source for a validated parameter value; refuses anything else."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CodegenError(f"cannot write non-finite number {value!r}")
        return repr(float(value))
    if isinstance(value, (tuple, list)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return repr(tuple(int(v) for v in value))
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z_]{1,20}", value):
        return repr(value)
    raise CodegenError(f"cannot write value {value!r} into code")


def _is_default(spec: LayerSpec, name: str, value: Any) -> bool:
    p = spec.param(name)
    if p.required or p.inferred or p.always_emit:
        return False
    d = p.default
    norm = p.validate(d) if d is not None else None
    return bool(value in (norm, d))


def _call(fn: str, args: list[str], spec: LayerSpec, params: Mapping[str, Any], names: tuple[str, ...]) -> str:
    parts = list(args)
    always_pos = bool(spec.extra.get("emit_positional_defaults"))
    skipping = False
    for name in names:
        value = params[name]
        if name in spec.positional and not skipping:
            if always_pos or not _is_default(spec, name, value):
                parts.append(literal(value))
                continue
            skipping = True  # once a positional argument is skipped the rest must be keywords
            continue
        if not _is_default(spec, name, value):
            parts.append(f"{name}={literal(value)}")
    return f"{fn}({', '.join(parts)})"


def _safe_text(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9 _.,()+\-]", "_", text)[:80]


def generate(graph: Graph, result: InferenceResult | None = None, class_name: str = "Net") -> GeneratedCode:
    """Generate the module source for ``graph``. Raises :class:`CodegenError` if the graph has errors."""
    with paused_gc():
        return _generate(graph, result, class_name)


def _generate(graph: Graph, result: InferenceResult | None, class_name: str) -> GeneratedCode:
    if not CLASS_RE.match(class_name) or keyword.iskeyword(class_name) or class_name in RESERVED - {"Net"}:
        raise CodegenError(f"class name {class_name!r} is not a legal Python identifier")
    result = result or infer(graph)
    if not result.ok:
        first = result.errors[0].message if result.errors else "the graph has no output"
        raise CodegenError(f"cannot generate code: {first}", list(result.errors))
    assert result.input_id is not None and result.output_id is not None

    attr_taken: set[str] = set()
    var_taken: set[str] = {"x"}
    attrs: dict[str, str] = {}
    vars_: dict[str, str] = {result.input_id: "x"}
    port_vars: dict[str, list[str]] = {result.input_id: ["x"]}
    # One pass over the edges (per-node graph queries would scan them all for every node).
    out_degree = {n.id: 0 for n in graph.nodes}
    in_edges: dict[str, list[Edge]] = {n.id: [] for n in graph.nodes}
    for e in graph.edges:
        out_degree[e.src] += 1
        in_edges[e.dst].append(e)
    for lst in in_edges.values():
        lst.sort(key=lambda e: e.port)

    init_lines: list[tuple[str | None, str]] = []
    fwd_lines: list[tuple[str | None, str]] = []
    for nid in result.order:
        node = graph.node(nid)
        spec = get_spec(node.type)
        info = result.nodes[nid]
        if spec.is_input:
            continue
        p = info.resolved
        srcs = [port_vars[e.src][e.src_port] for e in in_edges[nid]]
        many = spec.returns_tuple
        if many:
            port_vars[nid] = [legal_name(f"{nid}_{name}", var_taken) for name in info.output_names]
        elif len(srcs) == 1 and out_degree[in_edges[nid][0].src] == 1 and len(port_vars[in_edges[nid][0].src]) == 1:
            port_vars[nid] = [srcs[0]]  # the only consumer of a single output reuses its variable
        else:
            port_vars[nid] = [legal_name(nid, var_taken)]
        vars_[nid] = port_vars[nid][0]
        attribute = spec.extra.get("attribute")  # a layer that holds a tensor itself (Parameter)
        if attribute is not None:
            assert spec.combine is not None
            attr = legal_name(nid, attr_taken)
            attrs[nid] = attr
            init_lines.append((nid, f"self.{attr} = {attribute(p)}"))
            expr = spec.combine.code([f"self.{attr}", *srcs], p)
        elif spec.module:
            attr = legal_name(nid, attr_taken)
            attrs[nid] = attr
            names = tuple(q.name for q in spec.params)
            cls = spec.module if "." in spec.module else f"nn.{spec.module}"  # torchvision.ops.X as written
            init_lines.append((nid, f"self.{attr} = " + _call(cls, [], spec, p, names)))
            expr = f"self.{attr}({srcs[0]})"
        elif spec.combine is not None:
            expr = spec.combine.code(srcs, p)
        else:
            assert spec.functional is not None
            expr = _call(spec.functional, [srcs[0]], spec, p, spec.functional_args)
        target = spec.unpack_target(port_vars[nid]) if many else vars_[nid]
        shape = ", ".join(fmt_shape(o) for o in info.output_shapes)
        fwd_lines.append((nid, f"{target} = {expr}  # {shape}"))

    in_info = result.nodes[result.input_id]
    out_info = result.nodes[result.output_id]
    assert in_info.output_shape is not None and out_info.output_shape is not None
    header = [
        f'"""{_safe_text(graph.name)}: generated by NetBuilder {__version__}.',
        "",
        f"Input {fmt_shape(in_info.output_shape)}, output {fmt_shape(out_info.output_shape)}, "
        f"{result.total_params:,} parameters.",
        '"""',
        "",
        "import torch",
        "import torch.nn as nn",
        "import torch.nn.functional as F",
        *(["import torchvision"] if any((get_spec(n.type).module or "").startswith("torchvision.")
                                        for n in graph.nodes) else []),
        "",
        "",
        f"class {class_name}(nn.Module):",
        f"    input_shape = {literal(in_info.output_shape)}",
        # integer token ids: the importer (and the example below) feed such input to the class
        *([f"    input_dtype = {literal(in_info.dtype)}"] if in_info.dtype != "float" else []),
        *([f"    vocab_size = {literal(in_info.vocab_size)}"] if in_info.vocab_size is not None else []),
        "",
        "    def __init__(self):",
        "        super().__init__()",
    ]
    lines: list[str] = list(header)
    node_lines: dict[str, list[int]] = {}

    def put(owner: str | None, text: str) -> None:
        lines.append(text)
        if owner is not None:
            node_lines.setdefault(owner, []).append(len(lines))

    node_lines[result.input_id] = [header.index(f"    input_shape = {literal(in_info.output_shape)}") + 1]
    for owner, text in init_lines:
        put(owner, "        " + text)
    if not init_lines:
        put(None, "        pass")
    put(None, "")
    put(result.input_id, "    def forward(self, x):")
    for owner, text in fwd_lines:
        put(owner, "        " + text)
    put(None, f"        return {vars_[result.output_id]}")
    put(None, "")
    put(None, "")
    put(None, 'if __name__ == "__main__":')
    put(None, f"    model = {class_name}()")
    put(None, "    print(model)")
    dtype = ", dtype=torch.long" if in_info.dtype == "long" else ""
    put(None, f"    out = model(torch.zeros(1, *{class_name}.input_shape{dtype}))")
    put(None, '    print("output shape:", tuple(out.shape))')
    return GeneratedCode("\n".join(lines) + "\n", class_name, node_lines, attrs, vars_, port_vars)
