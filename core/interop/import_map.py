"""Importing, step 2: map each traced fx node to a project operation, from the layer registry.

The tables are derived from :data:`~netbuilder.core.model.layers.REGISTRY` on every import: an
``nn`` module maps through its spec's ``nn_class`` (the module's attributes named like the spec's
parameters are read), a functional call or tensor method through the spec's
:class:`~netbuilder.core.model.layers.ImportAlias` entries; the spec's checks refine or refuse
what was read. So a newly registered layer type imports back with no change here. Anything
unsupported is collected with its module path and source line and reported all at once.

A little over 500 lines: the mapping loop and the readings it dispatches to (modules, calls,
tuple results, tensors used directly) share the registry tables and are kept together.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn
from netbuilder.core.interop.import_trace import location, module_path, target_name
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
    tensor: torch.Tensor | None = None  # a Parameter node's value (an fx get_attr), carried as its weight
    src_ports: list[int] = field(default_factory=list)  # the output port of each input (0 if absent)


class Unsupported(Exception):
    """An fx node that cannot become a layer; ``what`` says which call and why."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@dataclass
class Tables:
    """The registry seen from the importer: ``nn`` classes and functional targets (callables, or
    method names as strings) to the specs and aliases they stand for. A target may stand for
    several (``x.view`` is a Flatten or a Reshape): they are tried in registry order, and the
    first whose checks accept the call wins."""

    modules: dict[type[nn.Module], LayerSpec] = field(default_factory=dict)
    functions: dict[Any, list[tuple[LayerSpec, ImportAlias]]] = field(default_factory=dict)

    @classmethod
    def from_registry(cls) -> Tables:
        """Tables of every registered layer type (ValueError for a spec naming a missing torch name)."""
        t = cls()
        for spec in REGISTRY.values():
            if spec.nn_class and (not spec.nn_class.startswith("torchvision.") or "torchvision" in sys.modules):
                t.modules[nn_class(spec.nn_class)] = spec  # torchvision's classes only once a file loaded it
            for alias in spec.aliases:
                for target in alias.targets:
                    # torchvision's functions by name: importing torchvision costs seconds, and a
                    # file that calls them has loaded it (see _key)
                    key = target[1:] if target.startswith(".") else target if target.startswith("torchvision.") \
                        else torch_function(target)
                    t.functions.setdefault(key, []).append((spec, alias))
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


def tensor_meta(node: object) -> tuple[int, ...] | None:
    """The traced batched shape of ``node``'s value, None for a non-tensor or a non-node."""
    if not isinstance(node, fx.Node):
        return None
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    return tuple(int(v) for v in shape) if shape is not None else None


def tuple_shapes(node: object) -> list[tuple[int, ...]] | None:
    """The traced shapes of a call whose value is a (possibly nested) tuple of tensors, flattened in
    order; None when the value is not such a tuple. A piece that is None (attention called with
    ``need_weights=False``) is left out."""
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    if not isinstance(meta, (tuple, list)) or hasattr(meta, "shape"):  # TensorMetadata is a tuple too
        return None
    out: list[tuple[int, ...]] = []

    def walk(m: object) -> bool:
        shape = getattr(m, "shape", None)
        if shape is not None:
            out.append(tuple(int(v) for v in shape))
            return True
        return m is None or (isinstance(m, (tuple, list)) and all(walk(v) for v in m))
    return out if walk(meta) and out else None


def _arity(node: fx.Node) -> int:
    """How many values the traced tuple result of ``node`` holds at its top level."""
    meta = node.meta.get("tensor_meta")
    return len(meta) if isinstance(meta, (tuple, list)) else 0


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


def _module_spec(module: nn.Module, tables: Tables) -> LayerSpec | None:
    """The spec of ``module``'s class or of the nearest ``nn`` class it derives from (torchvision's
    ``LayerNorm2d`` is an ``nn.LayerNorm``)."""
    for cls in type(module).__mro__:
        spec = tables.modules.get(cls)
        if spec is not None:
            return spec
    return None


def _map_module(node: fx.Node, module: nn.Module, target: str, tables: Tables) -> Op | None:
    """The op for a call_module node (or a functional call on a module's own weights,
    ``F.layer_norm(x, ..., self.weight, self.bias)``), None when the module does nothing here,
    Unsupported otherwise."""
    spec = _module_spec(module, tables)
    # nested modules are named by their path in front of the message (see module_path)
    what = f"nn.{type(module).__name__}" + ("" if "." in target else f" (self.{target})")
    if spec is None:
        returns = " returns a tuple and" if tuple_shapes(node) is not None else ""
        raise Unsupported(f"{what}{returns} is not a NetBuilder layer")
    args = {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"}
    for p in spec.params:
        if hasattr(module, p.name):
            value = getattr(module, p.name)
            # a flag stored as an optional tensor (bias) means "present"
            args[p.name] = value is not None if p.kind == "bool" and not isinstance(value, bool) else value
    # the module's own weights (get_attr: F.layer_norm(x, ..., self.weight, self.bias)) are not inputs
    extra = [k for k, v in node.kwargs.items() if isinstance(v, fx.Node) and v.op != "get_attr"]
    if spec.max_inputs == 1 and any(isinstance(a, fx.Node) and a.op != "get_attr"
                                    for a in _flat_args(node)[1:len(node.args)]):
        extra.append("after its input")
    if extra:  # attention's attn_mask, an LSTM's initial state (h0, c0): not a layer input here
        raise Unsupported(f"{what} called with a tensor argument ({', '.join(extra)})")
    x = node.args[0] if node.args else None
    inputs = [x] if isinstance(x, fx.Node) else []
    if spec.max_inputs is None or spec.max_inputs > 1:  # attention(q, k, v): one input when all are the same
        given = [a for a in node.args if isinstance(a, fx.Node)]
        inputs = given if len(set(given)) > 1 else inputs
    call = ImportCall(args, [tensor_meta(i) for i in inputs] or [None], tensor_meta(node), from_module=True,
                      output_shapes=tuple_shapes(node), module=module)
    reason = spec.import_check(call) if spec.import_check else None
    if reason:
        raise Unsupported(f"{what} {reason}")
    if call.passthrough:
        return None
    return Op(node, spec.type_name, target, _params_for(spec, call.args, what), inputs, module, target)


def _map_function(node: fx.Node, tables: Tables, batched: Mapping[fx.Node, tuple[int, ...]]) -> Op | None:
    """The op for a call_function / call_method node, None for a no-op, Unsupported otherwise."""
    target: Any = node.target
    if node.op == "call_method" and target in _NOOP_METHODS:
        return None
    entries = tables.functions.get(_key(target))
    if not entries:
        raise Unsupported(f"{target_name(node)} is not supported")
    refused: Unsupported | None = None
    for spec, alias in entries:
        try:
            return _map_call(node, spec, alias, batched)
        except Unsupported as e:  # the next reading may fit; the last reason is reported
            refused = e
    assert refused is not None
    raise refused


def _key(target: Any) -> Any:
    """How :class:`Tables` keys a traced call's target: torchvision.ops functions by their dotted
    name (``"torchvision.ops.stochastic_depth"``), everything else as itself."""
    module = getattr(target, "__module__", None) or ""
    if module.startswith("torchvision.ops") and callable(target):
        return f"torchvision.ops.{getattr(target, '__name__', '')}"
    return target


def _map_call(node: fx.Node, spec: LayerSpec, alias: ImportAlias,
              batched: Mapping[fx.Node, tuple[int, ...]]) -> Op | None:
    """``node`` read as ``spec`` through ``alias``: the op, None for a no-op, Unsupported otherwise.
    ``batched`` holds the shapes of Parameter nodes as the layer gives them (repeated over the batch)."""
    name = target_name(node)

    def meta(t: object) -> tuple[int, ...] | None:
        return batched.get(t) if isinstance(t, fx.Node) and t in batched else tensor_meta(t)
    args = {**alias.defaults, **_bind(node, alias.signature)}
    tensors: list[Any] = []
    shapes: list[tuple[int, ...] | None] = []  # what the checks see: a whole tuple is its pieces
    for key in alias.tensors:
        if key in args:
            value = args[key]
            pieces = tuple_shapes(value) if spec.min_inputs >= 2 else None
            if pieces is not None:  # torch.cat(x.chunk(2), 1): the merge takes every piece
                args[key] = [value] * len(pieces)
                tensors.append(value)
                shapes.extend(pieces)
                continue
            values = value if isinstance(value, (list, tuple)) else [value]
            tensors.extend(values)
            shapes.extend(meta(t) for t in values)
    if spec.min_inputs >= 2 and len(shapes) == 1:
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


def map_nodes(gm: fx.GraphModule, fx_graph: fx.Graph, user_file: str | None, root: nn.Module | None = None
              ) -> tuple[list[Op], list[str]]:
    """Turn fx nodes into ops; the second item lists the problems, each with its source line.
    ``root`` is the traced model (``gm`` holds only the modules its nodes name, not their parents)."""
    model: nn.Module = gm if root is None else root
    tables = Tables.from_registry()
    first = input_spec()
    ops: list[Op] = []
    by_node: dict[fx.Node, Op] = {}
    broken: set[fx.Node] = set()  # failed nodes: what they feed is not reported again
    alias: dict[fx.Node, fx.Node] = {}  # a no-op node → the node whose value it passes on
    problems: list[str] = []
    module_calls: dict[str, int] = {}
    placeholders = 0
    inputs: list[fx.Node] = []  # the network's input (a Parameter node takes its batch size from it)

    def real(n: Any) -> Any:
        while isinstance(n, fx.Node) and n in alias:
            n = alias[n]
        return n

    # A call returning a tuple (Chunk, LSTM...): its fx node → how the tuple holds the ports. An
    # operator.getitem on it picks a sub-tuple (another entry here) or a port (port_of).
    tuples: dict[fx.Node, tuple[fx.Node, Nesting]] = {}
    port_of: dict[fx.Node, tuple[fx.Node, int]] = {}
    batched: dict[fx.Node, tuple[int, ...]] = {}  # a Parameter's get_attr → its shape as the layer gives it

    for node in fx_graph.nodes:
        try:
            if node.op == "placeholder":
                placeholders += 1
                if placeholders > 1:
                    raise Unsupported(f"forward takes a second input {node.name!r}; only one input is supported")
                op = Op(node, first.type_name, first.node_base_id, {}, [])
                inputs.append(node)
            elif node.op == "output":
                out = node.args[0]
                if not isinstance(out, fx.Node) or tensor_meta(out) is None:
                    raise Unsupported("forward must return one tensor (not a tuple, list or dict)")
                continue
            elif node.op == "get_attr":
                if node.users and all(_owner(u, model, tables) is not None for u in node.users):
                    continue  # a module's own weight given to a functional call: that call is the layer
                if any(u.op in ("call_function", "call_method") and _key(u.target) not in tables.functions
                       and u.target not in _NOOP_METHODS for u in node.users):
                    broken.add(node)  # given to a call that is reported by name (Swin's attention)
                    continue
                op = _map_parameter(node, gm, inputs)
                batch = tensor_meta(op.inputs[0])
                shape = tuple(op.params["shape"])
                if batch:
                    batched[node] = (batch[0], *(shape[1:] if op.params.get("batch_dim", True) else shape))
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
                mapped = _map_module(node, module, target, tables)
                if mapped is None:
                    alias[node] = real(node.args[0])
                    continue
                op = mapped
                count = module_calls[target] = module_calls.get(target, 0) + 1
                if count > 1 and any(True for _ in module.parameters()):
                    raise Unsupported(f"self.{target} is called {count} times (shared weights); each node has its "
                                      "own weights — give each call its own layer")
            elif (owned := _owner(node, model, tables)) is not None:
                target, module = owned
                mapped = _map_module(node, module, target, tables)
                if mapped is None:
                    alias[node] = real(node.args[0])
                    continue
                op = mapped
            else:
                mapped = _map_function(node, tables, batched)
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
                nesting = spec.nesting or tuple(range(_arity(node)))
                tuples[node] = (node, nesting)
            elif tuple_shapes(node) is not None:
                raise Unsupported(f"{target_name(node)} returns a tuple, which {op.type} does not")
            if _fold(op, by_node) or _expanded_parameter(op, by_node):
                alias[node] = op.inputs[0]
                continue
            ops.append(op)
            by_node[node] = op
        except Unsupported as e:
            loc = location(node, user_file)
            path = module_path(node)
            what = f"{path}: {e.what}" if path else e.what
            problems.append(f"{loc} — {what}" if loc else what)
            broken.add(node)
    return ops, problems


def _map_parameter(node: fx.Node, gm: fx.GraphModule, inputs: list[fx.Node]) -> Op:
    """An fx ``get_attr`` (a tensor used directly: a class token, a layer scale) as a Parameter
    node; the network's input gives it the batch size. ``batch_dim`` is set when the tensor has
    the rank of what it is used with and a leading 1 (a ViT's ``(1, 1, D)`` token); a tensor one
    dim short (ConvNeXt's ``(C, 1, 1)`` scale of N×C×H×W) gets the batch added in front."""
    target = str(node.target)
    value = _attr(gm, target)
    what = f"the tensor self.{target}"
    if not isinstance(value, torch.Tensor) or not inputs:
        raise Unsupported(f"uses {what} directly; only tensors and whole layers are supported")
    shape = tuple(int(v) for v in value.shape)
    ranks = {len(m) for u in node.users for a in _flat_args(u) if a is not node
             for m in [tensor_meta(a)] if m is not None}
    for u in node.users:  # t.expand(n, -1, -1): the result has the batch (and the rank) of what it meets
        if u.op == "call_method" and u.target == "expand" and (out := tensor_meta(u)) is not None:
            ranks.add(len(out))
    if not shape or len(ranks) != 1:
        raise Unsupported(f"uses {what} (shape {shape}) with tensors of ranks {sorted(ranks)}; a learned "
                          "tensor is supported where it meets tensors of one rank")
    rank = ranks.pop()
    if rank == len(shape) and shape[0] == 1:
        batch_dim = True
    elif rank == len(shape) + 1:
        batch_dim = False
    else:
        raise Unsupported(f"uses {what} of shape {shape} with a {rank}-dim tensor; a learned tensor needs a "
                          "leading 1 for the batch or one dim less than what it meets")
    params = _params_for(REGISTRY["Parameter"], {"shape": shape, "batch_dim": batch_dim, **_init_of(value)}, what)
    return Op(node, "Parameter", target, params, [inputs[0]], attr_path=target, tensor=value.detach())


def _owner(node: fx.Node, root: nn.Module, tables: Tables) -> tuple[str, nn.Module] | None:
    """``F.layer_norm(x, shape, self.weight, self.bias)`` inside a module that is an ``nn`` layer
    (torchvision's ``LayerNorm2d``): the module's path and the module, whose weights these are;
    None for any other call."""
    if node.op != "call_function":
        return None
    attrs = [a for a in _flat_args(node)[1:] if isinstance(a, fx.Node) and a.op == "get_attr"]
    owners = {str(a.target).rpartition(".")[0] for a in attrs}
    if not attrs or len(owners) != 1 or "" in owners:
        return None
    path = owners.pop()
    module = _attr(root, path)
    if not isinstance(module, nn.Module) or _module_spec(module, tables) is None:
        return None
    own = dict(module.named_parameters(recurse=False)) | dict(module.named_buffers(recurse=False))
    return (path, module) if all(str(a.target).rpartition(".")[2] in own for a in attrs) else None


def _init_of(value: torch.Tensor) -> dict[str, Any]:
    """A Parameter's starting values as read from the tensor: a constant (ConvNeXt's layer scale,
    1e-6 everywhere) is ``ones`` times it; anything else ``normal`` with its spread (to one digit)."""
    v = value.detach().float()
    first = float(v.flatten()[0])
    if bool((v == first).all()):
        return {"init": "zeros"} if first == 0 else {"init": "ones", "scale": first} if first > 0 else {}
    std = float(v.std()) if v.numel() > 1 else abs(first)
    return {"init": "normal", "scale": float(f"{std:.0e}")}


def _attr(root: nn.Module, target: str) -> Any:
    obj: Any = root
    for part in target.split("."):
        obj = getattr(obj, part, None)
    return obj


def _flat_args(node: fx.Node) -> list[Any]:
    out: list[Any] = []
    for a in [*node.args, *node.kwargs.values()]:
        out.extend(a if isinstance(a, (list, tuple)) else [a])
    return out


def _expanded_parameter(op: Op, by_node: Mapping[fx.Node, Op]) -> bool:
    """``self.class_token.expand(n, -1, -1)``: a Parameter node is already repeated over the
    batch, so an Expand that keeps its other dims folds into it."""
    if op.type != "Expand" or not op.inputs or op.inputs[0] not in by_node:
        return False
    source = by_node[op.inputs[0]]
    return source.type == "Parameter" and all(s == -1 for s in op.params.get("sizes", ()))


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

