"""Importing, step 2: map each traced fx node to a project operation, from the layer registry.

The tables are derived from :data:`~netbuilder.core.model.layers.REGISTRY` on every import: an
``nn`` module maps through its spec's ``nn_class`` (the module's attributes named like the spec's
parameters are read), a functional call or tensor method through the spec's
:class:`~netbuilder.core.model.layers.ImportAlias` entries; the spec's checks refine or refuse
what was read. So a newly registered layer type imports back with no change here. Anything
unsupported is collected with its source line and reported all at once.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn
from netbuilder.core.interop.import_trace import location
from netbuilder.core.model.layers import (
    REGISTRY,
    ImportAlias,
    ImportCall,
    LayerSpec,
    Nesting,
    ParamError,
    input_spec,
)
from netbuilder.core.model.torch_names import nn_class, torch_function

# Tensor methods that return their input's value unchanged.
_NOOP_METHODS = {"contiguous", "clone", "detach"}


@dataclass
class Op:
    """One project node to create: its type, base id, parameters and input fx nodes."""

    fx_node: fx.Node
    type: str
    id: str | None
    params: dict[str, Any]
    inputs: list[fx.Node]
    module: nn.Module | None = None
    attr_path: str | None = None
    src_ports: list[int] = field(default_factory=list)  # the output port of each input (0 if absent)


class Unsupported(Exception):
    """An fx node that cannot become a layer; ``what`` says which call and why."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@dataclass
class Tables:
    """The registry seen from the importer: ``nn`` classes and functional targets (callables, or
    method names as strings) to the specs and aliases they stand for."""

    modules: dict[type[nn.Module], LayerSpec] = field(default_factory=dict)
    functions: dict[Any, tuple[LayerSpec, ImportAlias]] = field(default_factory=dict)

    @classmethod
    def from_registry(cls) -> Tables:
        """Tables of every registered layer type (ValueError for a spec naming a missing torch name)."""
        t = cls()
        for spec in REGISTRY.values():
            if spec.nn_class:
                t.modules[nn_class(spec.nn_class)] = spec
            for alias in spec.aliases:
                for target in alias.targets:
                    key = target[1:] if target.startswith(".") else torch_function(target)
                    t.functions[key] = (spec, alias)
        return t


def supported_operations() -> str:
    """A one-line list of what the importer understands (for error messages and help)."""
    mods = ", ".join(f"nn.{s.nn_class}" for s in REGISTRY.values() if s.nn_class)
    forms: list[str] = []
    helps: list[str] = []
    for spec in REGISTRY.values():
        for alias in spec.aliases:
            if alias.help:
                helps.append(alias.help)
            else:
                forms.append(alias.targets[0].rpartition(".")[2])
    return f"{mods}; F./torch./tensor-method forms of {', '.join(forms)}; {'; '.join(helps)}"


def target_name(node: fx.Node) -> str:
    """How the user wrote the call: ``F.relu()``, ``tensor.view()``, ``+``."""
    t = node.target
    if node.op == "call_method":
        return f"tensor.{t}()"
    if node.op == "call_function":
        mod = getattr(t, "__module__", None) or ""
        name = getattr(t, "__name__", str(t))
        if t in (operator.add, operator.iadd):
            return "+"
        prefix = {"torch.nn.functional": "F.", "torch._C._nn": "F.", "_operator": "operator.",
                  "torch": "torch."}.get(mod, "torch." if mod.startswith("torch") else "")
        return f"{prefix}{name}()"
    return str(t)


def tensor_meta(node: object) -> tuple[int, ...] | None:
    """The traced batched shape of ``node``'s value, None for a non-tensor or a non-node."""
    if not isinstance(node, fx.Node):
        return None
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    return tuple(int(v) for v in shape) if shape is not None else None


def tuple_shapes(node: object) -> list[tuple[int, ...]] | None:
    """The traced shapes of a call whose value is a (possibly nested) tuple of tensors, flattened in
    order; None when the value is not such a tuple."""
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    if not isinstance(meta, (tuple, list)) or hasattr(meta, "shape"):  # TensorMetadata is a tuple too
        return None
    out: list[tuple[int, ...]] = []

    def walk(m: object) -> bool:
        shape = getattr(m, "shape", None)
        if shape is not None:
            out.append(tuple(int(v) for v in shape))
            return True
        return isinstance(m, (tuple, list)) and all(walk(v) for v in m)
    return out if walk(meta) and out else None


def _passed_on(node: fx.Node) -> Any:
    """The value a no-op call passes on: its first tensor argument (``torch.cat([x])`` gives x)."""
    first = node.args[0] if node.args else None
    return first[0] if isinstance(first, (list, tuple)) and first else first


def _bind(node: fx.Node, sig: tuple[str, ...]) -> dict[str, Any]:
    """The call's arguments by torch name (a method's tensor is the first, ``input``)."""
    args = list(node.args)
    names = list(sig)
    bound: dict[str, Any] = {}
    if names and names[-1].startswith("*"):
        rest = names.pop()[1:]
        bound[rest] = tuple(args[len(names):])
        args = args[:len(names)]
    if len(args) > len(names):
        raise Unsupported(f"{target_name(node)} with {len(args)} positional arguments")
    bound.update(zip(names, args, strict=False))
    bound.update(node.kwargs)
    return bound


def _params_for(spec: LayerSpec, raw: Mapping[str, Any], what: str) -> dict[str, Any]:
    """Validated project parameters: only those not at torch's default (required ones always)."""
    out: dict[str, Any] = {}
    for p in spec.params:
        if p.name not in raw:
            continue
        value = raw[p.name]
        if isinstance(value, torch.Size):
            value = tuple(value)
        try:
            norm = p.validate(list(value) if isinstance(value, tuple) else value)
        except ParamError as e:
            raise Unsupported(f"{what}: {e}") from None
        if p.required or p.inferred:
            out[p.name] = norm
            continue
        default = p.validate(p.default) if p.default is not None else None
        if norm != default:
            out[p.name] = norm
    return out


def _map_module(node: fx.Node, module: nn.Module, target: str, tables: Tables) -> Op | None:
    """The op for a call_module node, None when the module does nothing here, Unsupported otherwise."""
    spec = tables.modules.get(type(module))
    what = f"nn.{type(module).__name__} (self.{target})"
    if spec is None:
        returns = " returns a tuple and" if tuple_shapes(node) is not None else ""
        raise Unsupported(f"{what}{returns} is not a NetBuilder layer")
    args = {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"}
    for p in spec.params:
        if hasattr(module, p.name):
            value = getattr(module, p.name)
            # a flag stored as an optional tensor (bias) means "present"
            args[p.name] = value is not None if p.kind == "bool" and not isinstance(value, bool) else value
    x = node.args[0] if node.args else None
    call = ImportCall(args, [tensor_meta(x)], tensor_meta(node), from_module=True, output_shapes=tuple_shapes(node))
    reason = spec.import_check(call) if spec.import_check else None
    if reason:
        raise Unsupported(f"{what} {reason}")
    if call.passthrough:
        return None
    inputs = [x] if isinstance(x, fx.Node) else []
    return Op(node, spec.type_name, target, _params_for(spec, call.args, what), inputs, module, target)


def _map_function(node: fx.Node, tables: Tables) -> Op | None:
    """The op for a call_function / call_method node, None for a no-op, Unsupported otherwise."""
    target: Any = node.target
    name = target_name(node)
    if node.op == "call_method" and target in _NOOP_METHODS:
        return None
    entry = tables.functions.get(target)
    if entry is None:
        raise Unsupported(f"{name} is not supported")
    spec, alias = entry
    args = {**alias.defaults, **_bind(node, alias.signature)}
    tensors: list[Any] = []
    shapes: list[tuple[int, ...] | None] = []  # what the checks see: a whole tuple is its pieces
    for key in alias.tensors:
        if key in args:
            value = args[key]
            pieces = tuple_shapes(value) if spec.combine is not None else None
            if pieces is not None:  # torch.cat(x.chunk(2), 1): the merge takes every piece
                args[key] = [value] * len(pieces)
                tensors.append(value)
                shapes.extend(pieces)
                continue
            values = value if isinstance(value, (list, tuple)) else [value]
            tensors.extend(values)
            shapes.extend(tensor_meta(t) for t in values)
    if spec.combine is not None and len(shapes) == 1:
        return None  # a merge of one tensor is that tensor (DenseNet's torch.cat([x], 1))
    call = ImportCall(args, shapes, tensor_meta(node), output_shapes=tuple_shapes(node))
    for check in (alias.check, spec.import_check):
        reason = check(call) if check else None
        if reason:
            raise Unsupported(f"{name} {reason}")
        if call.passthrough:
            return None
    for p in spec.params:
        if isinstance(call.args.get(p.name), fx.Node):
            raise Unsupported(f"{name} with a computed {p.name}")
    if not tensors or not all(isinstance(t, fx.Node) for t in tensors):
        raise Unsupported(f"{name} on a value that is not a tensor from the network")
    return Op(node, spec.type_name, None, _params_for(spec, call.args, name), list(tensors))


def map_nodes(gm: fx.GraphModule, fx_graph: fx.Graph, user_file: str | None
              ) -> tuple[list[Op], list[str]]:
    """Turn fx nodes into ops; the second item lists the problems, each with its source line."""
    tables = Tables.from_registry()
    first = input_spec()
    ops: list[Op] = []
    by_node: dict[fx.Node, Op] = {}
    broken: set[fx.Node] = set()  # failed nodes: what they feed is not reported again
    alias: dict[fx.Node, fx.Node] = {}  # a no-op node → the node whose value it passes on
    problems: list[str] = []
    module_calls: dict[str, int] = {}
    placeholders = 0

    def real(n: Any) -> Any:
        while isinstance(n, fx.Node) and n in alias:
            n = alias[n]
        return n

    # A call returning a tuple (Chunk, LSTM...): its fx node → how the tuple holds the ports. An
    # operator.getitem on it picks a sub-tuple (another entry here) or a port (port_of).
    tuples: dict[fx.Node, tuple[fx.Node, Nesting]] = {}
    port_of: dict[fx.Node, tuple[fx.Node, int]] = {}

    for node in fx_graph.nodes:
        try:
            if node.op == "placeholder":
                placeholders += 1
                if placeholders > 1:
                    raise Unsupported(f"forward takes a second input {node.name!r}; only one input is supported")
                op = Op(node, first.type_name, first.node_base_id, {}, [])
            elif node.op == "output":
                out = node.args[0]
                if not isinstance(out, fx.Node) or tensor_meta(out) is None:
                    raise Unsupported("forward must return one tensor (not a tuple, list or dict)")
                continue
            elif node.op == "get_attr":
                raise Unsupported(f"uses the tensor self.{node.target} directly; only whole layers are supported")
            elif node.op == "call_function" and node.target is operator.getitem and isinstance(node.args[0], fx.Node) \
                    and (node.args[0] in tuples or node.args[0] in broken):
                if node.args[0] in broken:
                    broken.add(node)  # the tuple's own call is reported
                    continue
                src, nesting = tuples[node.args[0]]
                index = node.args[1]
                if not isinstance(index, int) or not -len(nesting) <= index < len(nesting):
                    raise Unsupported(f"{target_name(src)}[{index!r}]: only a constant index into its result")
                picked = nesting[index]
                if isinstance(picked, int):
                    port_of[node] = (src, picked)
                else:
                    tuples[node] = (src, picked)
                continue
            elif tensor_meta(node) is None and tuple_shapes(node) is None:
                continue  # sizes and other plain values feeding view/reshape
            elif node.op == "call_module":
                target = str(node.target)
                module = gm.get_submodule(target)
                if type(module) is nn.Identity:
                    alias[node] = real(node.args[0])
                    continue
                mapped = _map_module(node, module, target, tables)
                if mapped is None:
                    alias[node] = real(node.args[0])
                    continue
                op = mapped
                count = module_calls[target] = module_calls.get(target, 0) + 1
                if count > 1 and any(True for _ in module.parameters()):
                    raise Unsupported(f"self.{target} is called {count} times (shared weights); each node has its "
                                      "own weights — give each call its own layer")
            else:
                mapped = _map_function(node, tables)
                if mapped is None:  # a no-op: the value passes through
                    alias[node] = real(_passed_on(node))
                    continue
                op = mapped
            # every tensor input must come from a mapped node (or one of its output ports)
            if any(real(i) in broken for i in op.inputs):
                broken.add(node)
                continue
            op.inputs, op.src_ports = _ports(op, [real(i) for i in op.inputs], tuples, port_of)
            for i in op.inputs:
                if i not in by_node:
                    raise Unsupported(f"{target_name(node)} takes an input that is not a traced layer output")
            spec = REGISTRY[op.type]
            if spec.returns_tuple:
                shapes = tuple_shapes(node)
                nesting = spec.nesting or tuple(range(len(shapes or ())))
                tuples[node] = (node, nesting)
            elif tuple_shapes(node) is not None:
                raise Unsupported(f"{target_name(node)} returns a tuple, which {op.type} does not")
            if _fold(op, by_node):
                alias[node] = op.inputs[0]
                continue
            ops.append(op)
            by_node[node] = op
        except Unsupported as e:
            loc = location(node, user_file)
            problems.append(f"{loc} — {e.what}" if loc else e.what)
            broken.add(node)
    return ops, problems


def _ports(op: Op, inputs: list[fx.Node], tuples: Mapping[fx.Node, tuple[fx.Node, Nesting]],
           port_of: Mapping[fx.Node, tuple[fx.Node, int]]) -> tuple[list[fx.Node], list[int]]:
    """``op``'s inputs as (producing node, output port) lists: a piece picked from a tuple result
    is that call's port; a whole tuple given to a merge (``torch.cat(x.chunk(2), 1)``) is all of
    its ports in order."""
    nodes: list[fx.Node] = []
    ports: list[int] = []
    for i in inputs:
        if i in port_of:
            src, port = port_of[i]
            nodes.append(src)
            ports.append(port)
        elif i in tuples:
            if REGISTRY[op.type].combine is None:
                raise Unsupported(f"{target_name(op.fx_node)} of the whole result of {target_name(tuples[i][0])}; "
                                  "pick one piece of it ([0], [1]...)")
            src, nesting = tuples[i]
            for port in _flat(nesting):
                nodes.append(src)
                ports.append(port)
        else:
            nodes.append(i)
            ports.append(0)
    return nodes, ports


def _flat(nesting: Nesting) -> list[int]:
    return [p for n in nesting for p in ([n] if isinstance(n, int) else _flat(n))]


def _fold(op: Op, by_node: Mapping[fx.Node, Op]) -> bool:
    """``a + b + c``: an associative merge whose first input is the same merge, used only here,
    extends that one instead of chaining two. True when ``op`` was folded away."""
    combine = REGISTRY[op.type].combine
    if combine is None or not combine.associative or not op.inputs or op.inputs[0] not in by_node:
        return False
    first = by_node[op.inputs[0]]
    if first.type != op.type or len(op.inputs[0].users) != 1 or op.src_ports[0] != 0:
        return False
    first.inputs.extend(op.inputs[1:])
    first.src_ports.extend(op.src_ports[1:])
    return True

