"""Import an existing PyTorch ``nn.Module`` as a project, by tracing it with ``torch.fx``.

**The file is executed** (like ``python model.py`` would run its top level) to get the class: open
only files you trust. The class is instantiated without arguments, traced symbolically, run once
on zeros of the input shape to learn every tensor's shape, and each traced operation is mapped to
a project node: modules become nodes named after their attribute (``features.0`` → ``features_0``)
and functional calls (``F.relu``, ``x.view(x.size(0), -1)``, ``a + b``, ``torch.cat``) become
nodes with numbered ids. Anything else is reported with its source line, all at once.

The imported weights come along (:attr:`ImportedModel.state_dict`), and the rebuilt model is
checked to compute the same outputs as the original.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import itertools
import math
import operator
import os
import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F
from netbuilder.core.errors import UserError
from netbuilder.core.model.codegen import legal_name
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.layers import ParamError, get_spec

_TORCH_DIR = str(Path(torch.__file__).resolve().parent)
_counter = itertools.count(1)


class ModelImportError(UserError):
    """The file could not be imported as a project; the message says what and where."""


@dataclass
class ImportedModel:
    """The result of an import: the project graph, the original weights renamed to the project's
    attribute names (they load into ``core.compiler.build_model(graph)``), and the check."""

    graph: Graph
    state_dict: dict[str, torch.Tensor]
    class_name: str
    source: str
    input_shape: tuple[int, ...]
    max_abs_diff: float | None = None
    notes: list[str] = field(default_factory=list)


# --- loading the user's code -----------------------------------------------------------------------

def load_source(path: str | os.PathLike[str]) -> ModuleType:
    """Execute a Python file (or import a dotted module name) and return the module.

    Every failure is a :class:`ModelImportError` naming the file and line."""
    text = str(path)
    p = Path(text)
    looks_like_file = text.endswith(".py") or os.sep in text or "/" in text or p.exists()
    if not looks_like_file:
        try:
            return importlib.import_module(text)
        except ModuleNotFoundError as e:
            if e.name and text.startswith(e.name):
                raise ModelImportError(f"{text}: no such file or importable module") from None
            raise ModelImportError(f"importing {text} failed: {e}") from None
        except Exception as e:
            raise ModelImportError(f"importing {text} failed: {type(e).__name__}: {e}") from None
    if not p.exists():
        raise ModelImportError(f"{p}: no such file")
    if p.is_dir():
        raise ModelImportError(f"{p}: is a folder; give the .py file that defines the model")
    try:
        source = p.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ModelImportError(f"{p}: cannot read it as UTF-8 Python source ({e})") from None
    try:
        code = compile(source, str(p), "exec")
    except SyntaxError as e:
        raise ModelImportError(f"{p}, line {e.lineno}: syntax error: {e.msg}") from None
    name = f"netbuilder_import_{next(_counter)}"
    module = ModuleType(name)
    module.__file__ = str(p.resolve())
    sys.modules[name] = module  # dataclasses and typing look the module up while it runs
    folder = str(p.resolve().parent)
    sys.path.insert(0, folder)  # so the file's own sibling imports work
    try:
        exec(code, module.__dict__)
    except SystemExit:
        raise ModelImportError(f"{p}: the file called sys.exit() while being loaded; move its script part "
                               "under if __name__ == \"__main__\":") from None
    except Exception as e:
        where = _user_frame(e.__traceback__, str(p.resolve()))
        raise ModelImportError(f"{p}: running the file failed{where}: {type(e).__name__}: {e}") from None
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
        sys.modules.pop(name, None)
    return module


def _user_frame(tb: Any, filename: str | None) -> str:
    """`` at FILE, line N: CODE`` for the innermost frame of the user's file (else outside torch)."""
    frames = traceback.extract_tb(tb) if tb is not None else []
    mine = [f for f in frames if filename and os.path.abspath(f.filename) == filename]
    if not mine:
        mine = [f for f in frames if not os.path.abspath(f.filename).startswith(_TORCH_DIR)
                and "core" + os.sep + "importer.py" not in f.filename]
    if not mine:
        return ""
    f = mine[-1]
    code = f" `{f.line.strip()}`" if f.line else ""
    return f" at {Path(f.filename).name}, line {f.lineno}{code}"


def module_classes(module: ModuleType) -> list[type[nn.Module]]:
    """The ``nn.Module`` subclasses defined in ``module`` (not imported into it), in file order."""
    out = [obj for obj in vars(module).values()
           if isinstance(obj, type) and issubclass(obj, nn.Module) and obj.__module__ == module.__name__]
    return out


def _pick_class(module: ModuleType, source: str, class_name: str | None) -> type[nn.Module]:
    classes = module_classes(module)
    names = ", ".join(c.__name__ for c in classes) or "none"
    if class_name:
        cls = getattr(module, class_name, None)
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise ModelImportError(f"{source} has no nn.Module class {class_name!r} (classes found: {names})")
        return cls
    if not classes:
        raise ModelImportError(f"{source} defines no nn.Module class; it needs a class Net(nn.Module) with a "
                               "forward method")
    if len(classes) > 1:
        # Classes used as parts of another (a Block inside a Net) are not candidates.
        parts = {c for c in classes for other in classes if other is not c and _mentions(other, c)}
        top = [c for c in classes if c not in parts]
        if len(top) == 1:
            return top[0]
        raise ModelImportError(f"{source} defines several nn.Module classes ({names}); choose one with "
                               "--class NAME")
    return classes[0]


def _mentions(outer: type, inner: type) -> bool:
    """True when ``outer``'s own methods name ``inner`` (so ``inner`` is a building block)."""
    for fn in vars(outer).values():
        code = getattr(fn, "__code__", None)
        if code is not None and inner.__name__ in code.co_names:
            return True
    return False


def _instantiate(cls: type[nn.Module]) -> nn.Module:
    try:
        return cls()
    except TypeError as e:
        raise ModelImportError(f"{cls.__name__}() cannot be created without arguments ({e}); give its "
                               "constructor arguments default values, or write a small subclass that does") \
            from None
    except Exception as e:
        where = _user_frame(e.__traceback__, None)
        raise ModelImportError(f"creating {cls.__name__}() failed{where}: {type(e).__name__}: {e}") from None


def parse_shape(text: str) -> tuple[int, ...]:
    """``"1,28,28"`` (or ``1x28x28``) → ``(1, 28, 28)``; a UserError for anything else."""
    parts = [s for s in re.split(r"[,x×\s]+", text.strip()) if s]
    try:
        values = tuple(int(s) for s in parts)
    except ValueError:
        raise ModelImportError(f"input shape {text!r} must be numbers separated by commas, e.g. 1,28,28") \
            from None
    return _check_shape(values, f"input shape {text!r}")


def _check_shape(value: Any, what: str) -> tuple[int, ...]:
    try:
        shape: tuple[int, ...] = get_spec("Input").param("shape").validate(
            list(value) if isinstance(value, (tuple, list, torch.Size)) else value)
    except ParamError as e:
        raise ModelImportError(f"{what}: {e}") from None
    return shape


# --- mapping traced operations to layer types ----------------------------------------------------

@dataclass
class _Op:
    """One project node to create: its type, base id, parameters and input fx nodes."""

    fx_node: fx.Node
    type: str
    id: str | None
    params: dict[str, Any]
    inputs: list[fx.Node]
    module: nn.Module | None = None
    attr_path: str | None = None


class _Unsupported(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


# Torch call signatures (positional order) of the functional forms we map.
_SIG: dict[str, tuple[str, ...]] = {
    "max_pool2d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "avg_pool2d": ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                   "divisor_override"),
    "adaptive_avg_pool2d": ("input", "output_size"),
    "leaky_relu": ("input", "negative_slope", "inplace"),
    "gelu": ("input", "approximate"),
    "softmax": ("input", "dim", "_stacklevel", "dtype"),
    "dropout": ("input", "p", "training", "inplace"),
    "flatten": ("input", "start_dim", "end_dim"),
    "cat": ("tensors", "dim"),
    "add": ("input", "other"),
    "unary": ("input", "inplace"),
}

# function or method name → (layer type, signature key, {torch argument: project parameter}, defaults)
_FUNCS: dict[Any, tuple[str, str, dict[str, str], dict[str, Any]]] = {}


def _register(targets: Sequence[Any], type_name: str, sig: str, mapping: dict[str, str],
              defaults: dict[str, Any] | None = None) -> None:
    for t in targets:
        _FUNCS[t] = (type_name, sig, mapping, defaults or {})


_register([F.relu, torch.relu, F.relu_, torch.relu_, "relu", "relu_"], "ReLU", "unary", {})
_register([F.leaky_relu, F.leaky_relu_], "LeakyReLU", "leaky_relu", {"negative_slope": "negative_slope"},
          {"negative_slope": 0.01})
_register([torch.sigmoid, F.sigmoid, "sigmoid", "sigmoid_"], "Sigmoid", "unary", {})
_register([torch.tanh, F.tanh, "tanh", "tanh_"], "Tanh", "unary", {})
_register([F.gelu], "GELU", "gelu", {"approximate": "approximate"}, {"approximate": "none"})
_register([F.softmax, torch.softmax, "softmax"], "Softmax", "softmax", {"dim": "dim"}, {"dim": None})
_register([F.log_softmax, torch.log_softmax, "log_softmax"], "LogSoftmax", "softmax", {"dim": "dim"},
          {"dim": None})
_register([F.max_pool2d], "MaxPool2d", "max_pool2d",
          {"kernel_size": "kernel_size", "stride": "stride", "padding": "padding", "dilation": "dilation",
           "ceil_mode": "ceil_mode"}, {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False,
                                       "return_indices": False})
_register([F.avg_pool2d], "AvgPool2d", "avg_pool2d",
          {"kernel_size": "kernel_size", "stride": "stride", "padding": "padding", "ceil_mode": "ceil_mode",
           "count_include_pad": "count_include_pad", "divisor_override": "divisor_override"},
          {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True, "divisor_override": None})
_register([F.adaptive_avg_pool2d], "AdaptiveAvgPool2d", "adaptive_avg_pool2d", {"output_size": "output_size"})
_register([F.dropout], "Dropout", "dropout", {"p": "p"}, {"p": 0.5, "training": True})
_register([torch.flatten, "flatten"], "Flatten", "flatten", {"start_dim": "start_dim", "end_dim": "end_dim"},
          {"start_dim": 0, "end_dim": -1})
_register([torch.cat, torch.concat, torch.concatenate], "Concat", "cat", {"dim": "dim"}, {"dim": 0})
_register([operator.add, operator.iadd, torch.add, "add"], "Add", "add", {})

_NOOP_METHODS = {"contiguous", "clone", "detach"}

# nn module class → (layer type, attributes to read as parameters)
_MODULES: dict[type[nn.Module], tuple[str, tuple[str, ...]]] = {
    nn.Conv2d: ("Conv2d", ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                           "groups", "bias", "padding_mode")),
    nn.MaxPool2d: ("MaxPool2d", ("kernel_size", "stride", "padding", "dilation", "ceil_mode")),
    nn.AvgPool2d: ("AvgPool2d", ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                                 "divisor_override")),
    nn.AdaptiveAvgPool2d: ("AdaptiveAvgPool2d", ("output_size",)),
    nn.Linear: ("Linear", ("in_features", "out_features", "bias")),
    nn.Flatten: ("Flatten", ("start_dim", "end_dim")),
    nn.Dropout: ("Dropout", ("p",)),
    nn.BatchNorm1d: ("BatchNorm1d", ("num_features", "eps", "momentum", "affine", "track_running_stats")),
    nn.BatchNorm2d: ("BatchNorm2d", ("num_features", "eps", "momentum", "affine", "track_running_stats")),
    nn.ReLU: ("ReLU", ()),
    nn.LeakyReLU: ("LeakyReLU", ("negative_slope",)),
    nn.Sigmoid: ("Sigmoid", ()),
    nn.Tanh: ("Tanh", ()),
    nn.GELU: ("GELU", ("approximate",)),
    nn.Softmax: ("Softmax", ("dim",)),
    nn.LogSoftmax: ("LogSoftmax", ("dim",)),
}

_BASE_IDS = {"ReLU": "relu", "LeakyReLU": "lrelu", "Sigmoid": "sigmoid", "Tanh": "tanh", "GELU": "gelu",
             "Softmax": "softmax", "LogSoftmax": "log_softmax", "MaxPool2d": "pool", "AvgPool2d": "avgpool",
             "AdaptiveAvgPool2d": "gap", "Dropout": "dropout", "Flatten": "flatten", "Concat": "cat", "Add": "add"}


def supported_operations() -> str:
    """A one-line list of what the importer understands (for error messages and help)."""
    mods = ", ".join(f"nn.{c.__name__}" for c in _MODULES)
    return (f"{mods}; F./torch./tensor-method forms of relu, leaky_relu, sigmoid, tanh, gelu, softmax, "
            "log_softmax, max_pool2d, avg_pool2d, adaptive_avg_pool2d, dropout, flatten; "
            "x.view(x.size(0), -1) / reshape to N×features; + / torch.add; torch.cat")


def _bind(node: fx.Node, sig: tuple[str, ...], is_method: bool) -> dict[str, Any]:
    names = sig
    args = list(node.args)
    if is_method and sig[0] != "input":
        names = ("input", *sig[1:])
    bound: dict[str, Any] = {}
    for name, value in zip(names, args, strict=False):
        bound[name] = value
    if len(args) > len(names):
        raise _Unsupported(f"{_target_name(node)} with {len(args)} positional arguments")
    bound.update(node.kwargs)
    return bound


def _target_name(node: fx.Node) -> str:
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


def _tensor_meta(node: Any) -> tuple[int, ...] | None:
    if not isinstance(node, fx.Node):
        return None
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    return tuple(int(v) for v in shape) if shape is not None else None


# --- the import --------------------------------------------------------------------------------------

def import_model(path: str | os.PathLike[str], class_name: str | None = None,
                 input_shape: Sequence[int] | str | None = None, check: bool = True) -> ImportedModel:
    """Load ``path`` (**executing it**), trace its ``nn.Module`` and build the project graph.

    ``class_name`` chooses the class when the file defines several. ``input_shape`` (batch
    excluded, e.g. ``(1, 28, 28)`` or ``"1,28,28"``) defaults to the class's ``input_shape``
    attribute. Raises :class:`ModelImportError` for a missing file, a syntax error, no or several
    module classes, code that fails to trace, and unsupported operations (each with its line)."""
    source = str(path)
    module = load_source(path)
    cls = _pick_class(module, source, class_name)
    model = _instantiate(cls)
    shape = _resolve_shape(cls, model, input_shape)
    user_file = getattr(module, "__file__", None)
    user_file = os.path.abspath(user_file) if user_file else None

    tracer = fx.Tracer()
    tracer.record_stack_traces = True
    try:
        fx_graph = tracer.trace(model)
    except Exception as e:
        where = _user_frame(e.__traceback__, user_file)
        hint = ""
        if "control flow" in str(e) or "iterate" in str(e) or "len(" in str(e):
            hint = (" — torch.fx cannot follow Python control flow (if/for/while, len) that depends on tensor "
                    "values; rewrite that part without branching on the data (torch.where, fixed loop counts)")
        raise ModelImportError(f"cannot trace {cls.__name__}.forward with torch.fx{where}: "
                               f"{type(e).__name__}: {e}{hint}") from None
    gm = fx.GraphModule(model, fx_graph)
    model.eval()
    gm.eval()
    example = torch.randn(3, *shape, generator=torch.Generator().manual_seed(0))
    from torch.fx.passes.shape_prop import ShapeProp

    class _Prop(ShapeProp):  # remembers the node being run, to point at its line on failure
        current: fx.Node | None = None

        def run_node(self, n: fx.Node) -> Any:
            self.current = n
            return super().run_node(n)

    prop = _Prop(gm)
    try:
        # ShapeProp prints the traceback itself; the error below says it in one line
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            prop.propagate(example)
    except Exception as e:
        loc = _location(prop.current, user_file) if prop.current is not None else ""
        where = f" at {loc}" if loc else ""
        cause = e.__cause__ or e
        raise ModelImportError(
            f"running {cls.__name__} on an input of shape {_fmt(shape)} failed{where}: {type(cause).__name__}: "
            f"{str(cause).splitlines()[0] if str(cause) else ''} — check the input shape (--input-shape C,H,W)"
        ) from None

    ops, alias, problems = _map_nodes(gm, fx_graph, user_file)
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise ModelImportError(
            f"cannot import {cls.__name__} from {source}: {len(problems)} unsupported operation"
            f"{'s' if len(problems) > 1 else ''}:\n{listed}\nSupported: {supported_operations()}")
    graph, node_of = _build_graph(ops, alias, fx_graph, shape, cls.__name__)
    result = _finish(graph, ops, node_of, model, example, cls.__name__, source, shape, check)
    return result


def import_module_file(path: str | os.PathLike[str], class_name: str | None = None,
                       input_shape: Sequence[int] | str | None = None) -> Graph:
    """The project graph of the ``nn.Module`` in ``path`` (**the file is executed**).

    See :func:`import_model` for the details and the errors."""
    return import_model(path, class_name, input_shape).graph


def _fmt(shape: Sequence[int]) -> str:
    return "N×" + "×".join(str(v) for v in shape)


def _resolve_shape(cls: type[nn.Module], model: nn.Module, given: Sequence[int] | str | None) -> tuple[int, ...]:
    if isinstance(given, str):
        return parse_shape(given)
    if given is not None:
        return _check_shape(tuple(given), "input shape")
    attr = getattr(model, "input_shape", None)
    if attr is None:
        raise ModelImportError(f"{cls.__name__} has no input_shape attribute; give the input shape without the "
                               "batch, e.g. --input-shape 1,28,28")
    return _check_shape(attr, f"{cls.__name__}.input_shape")


def _location(node: fx.Node, user_file: str | None) -> str:
    trace = node.stack_trace or ""
    frames = re.findall(r'File "([^"]+)", line (\d+), in [^\n]*\n(?:    ([^\n]*))?', trace)
    mine = [f for f in frames if user_file and os.path.abspath(f[0]) == user_file]
    if not mine:
        mine = [f for f in frames if not os.path.abspath(f[0]).startswith(_TORCH_DIR)]
    if not mine:
        return ""
    file, line, code = mine[-1]
    code_text = f" `{code.strip()}`" if code and code.strip() else ""
    return f"{Path(file).name}, line {line}{code_text}"


def _map_nodes(gm: fx.GraphModule, fx_graph: fx.Graph, user_file: str | None
               ) -> tuple[list[_Op], dict[fx.Node, fx.Node], list[str]]:
    """Turn fx nodes into ops. ``alias`` maps a no-op node to the node whose value it passes on."""
    ops: list[_Op] = []
    by_node: dict[fx.Node, _Op] = {}
    broken: set[fx.Node] = set()  # failed nodes: what they feed is not reported again
    alias: dict[fx.Node, fx.Node] = {}
    problems: list[str] = []
    module_calls: dict[str, int] = {}
    placeholders = 0

    def real(n: Any) -> Any:
        while isinstance(n, fx.Node) and n in alias:
            n = alias[n]
        return n

    def fail(node: fx.Node, what: str) -> None:
        loc = _location(node, user_file)
        problems.append(f"{loc} — {what}" if loc else what)

    for node in fx_graph.nodes:
        try:
            if node.op == "placeholder":
                placeholders += 1
                if placeholders > 1:
                    raise _Unsupported(f"forward takes a second input {node.name!r}; only one input is supported")
                op = _Op(node, "Input", "input", {}, [])
            elif node.op == "output":
                out = node.args[0]
                if not isinstance(out, fx.Node) or _tensor_meta(out) is None:
                    raise _Unsupported("forward must return one tensor (not a tuple, list or dict)")
                continue
            elif node.op == "get_attr":
                raise _Unsupported(f"uses the tensor self.{node.target} directly; only whole layers are supported")
            elif _tensor_meta(node) is None:
                continue  # sizes and other plain values feeding view/reshape
            elif node.op == "call_module":
                target = str(node.target)
                module = gm.get_submodule(target)
                if type(module) is nn.Identity:
                    alias[node] = real(node.args[0])
                    continue
                op = _map_module(node, module, target)
                count = module_calls[target] = module_calls.get(target, 0) + 1
                if count > 1 and any(True for _ in module.parameters()):
                    raise _Unsupported(f"self.{target} is called {count} times (shared weights); each node has its "
                                       "own weights — give each call its own layer")
            else:
                mapped = _map_function(node, real)
                if mapped is None:  # a no-op: the value passes through
                    alias[node] = real(node.args[0])
                    continue
                op = mapped
            # every tensor input must come from a mapped node
            op.inputs = [real(i) for i in op.inputs]
            if any(i in broken for i in op.inputs):
                broken.add(node)
                continue
            for i in op.inputs:
                if i not in by_node:
                    raise _Unsupported(f"{_target_name(node)} takes an input that is not a traced layer output")
            # a + b + c: extend the first Add instead of chaining two
            if op.type == "Add" and op.inputs and op.inputs[0] in by_node:
                first = by_node[op.inputs[0]]
                if first.type == "Add" and len(op.inputs[0].users) == 1:
                    first.inputs.extend(op.inputs[1:])
                    alias[node] = op.inputs[0]
                    continue
            ops.append(op)
            by_node[node] = op
        except _Unsupported as e:
            fail(node, e.what)
            broken.add(node)
    return ops, alias, problems


def _tensor_inputs(values: Sequence[Any]) -> list[fx.Node]:
    return [v for v in values if isinstance(v, fx.Node)]


def _params_for(type_name: str, raw: Mapping[str, Any], what: str) -> dict[str, Any]:
    """Validated project parameters: only those not at torch's default (required ones always)."""
    spec = get_spec(type_name)
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
            raise _Unsupported(f"{what}: {e}") from None
        if p.required or p.inferred:
            out[p.name] = norm
            continue
        default = p.validate(p.default) if p.default is not None else None
        if norm != default:
            out[p.name] = norm
    return out


def _map_module(node: fx.Node, module: nn.Module, target: str) -> _Op:
    entry = _MODULES.get(type(module))
    what = f"nn.{type(module).__name__} (self.{target})"
    if entry is None:
        raise _Unsupported(f"{what} is not a NetBuilder layer")
    type_name, attrs = entry
    raw: dict[str, Any] = {a: getattr(module, a) for a in attrs}
    if isinstance(module, nn.Conv2d | nn.Linear):
        raw["bias"] = module.bias is not None
    elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d) and raw["stride"] == raw["kernel_size"]:
        raw["stride"] = None  # torch stores stride=kernel_size when it was left out
    elif isinstance(module, nn.MaxPool2d) and module.return_indices:
        raise _Unsupported(f"{what} with return_indices=True")
    elif isinstance(module, nn.Softmax | nn.LogSoftmax) and module.dim is None:
        raise _Unsupported(f"{what} without dim (give dim=1)")
    elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d) and module.momentum is None:
        raise _Unsupported(f"{what} with momentum=None (cumulative average)")
    elif isinstance(module, nn.AdaptiveAvgPool2d) and _has_none(module.output_size):
        raise _Unsupported(f"{what} with a None output size")
    return _Op(node, type_name, target, _params_for(type_name, raw, what), _tensor_inputs(node.args[:1]),
               module, target)


def _has_none(size: Any) -> bool:
    return size is None or (isinstance(size, (tuple, list)) and None in size)


def _map_function(node: fx.Node, real: Callable[[Any], Any]) -> _Op | None:
    """The op for a call_function / call_method node, None for a no-op, _Unsupported otherwise."""
    is_method = node.op == "call_method"
    target: Any = node.target
    name = _target_name(node)
    if is_method and target in _NOOP_METHODS:
        return None
    if target in ("view", "reshape") or target is torch.reshape:
        return _map_reshape(node, name, real)
    entry = _FUNCS.get(target)
    if entry is None:
        raise _Unsupported(f"{name} is not supported")
    type_name, sig_key, mapping, defaults = entry
    bound = _bind(node, _SIG[sig_key], is_method)
    if type_name == "Add":
        if "alpha" in bound:
            raise _Unsupported(f"{name} with alpha")
        a, b = bound.get("input"), bound.get("other")
        if not isinstance(a, fx.Node) or not isinstance(b, fx.Node):
            raise _Unsupported(f"{name} with a constant (only tensor + tensor is a layer)")
        if _tensor_meta(real(a)) != _tensor_meta(real(b)):
            raise _Unsupported(f"{name} of shapes {_tensor_meta(a)} and {_tensor_meta(b)} (broadcasting); Add "
                               "needs equal shapes")
        return _Op(node, "Add", None, {}, [a, b])
    if type_name == "Concat":
        tensors = bound.get("tensors")
        if not isinstance(tensors, (list, tuple)) or not all(isinstance(t, fx.Node) for t in tensors):
            raise _Unsupported(f"{name} of something other than a list of tensors")
        dim = bound.get("dim", defaults["dim"])
        ndim = len(_tensor_meta(node) or ())
        if not isinstance(dim, int) or dim % max(ndim, 1) == 0:
            raise _Unsupported(f"{name} along dim {dim} (the batch); give dim=1")
        return _Op(node, "Concat", None, {"dim": dim}, list(tensors))
    if type_name == "Dropout" and bound.get("training", True) is False:
        return None  # dropout switched off: a no-op
    if type_name in ("Softmax", "LogSoftmax") and bound.get("dim") is None:
        raise _Unsupported(f"{name} without dim (give dim=1)")
    if type_name in ("Softmax", "LogSoftmax") and bound.get("dtype") is not None:
        raise _Unsupported(f"{name} with dtype")
    if type_name == "MaxPool2d" and bound.get("return_indices"):
        raise _Unsupported(f"{name} with return_indices=True")
    raw = {mapping[k]: v for k, v in bound.items() if k in mapping}
    for k, v in raw.items():
        if isinstance(v, fx.Node):
            raise _Unsupported(f"{name} with a computed {k}")
    if type_name == "Flatten":
        start = raw.get("start_dim", defaults["start_dim"])
        ndim = len(_tensor_meta(bound.get("input")) or ())
        if isinstance(start, int) and ndim and start % ndim == 0:
            raise _Unsupported(f"{name} from dim 0 flattens the batch too; use torch.flatten(x, 1)")
        raw["start_dim"] = start
        raw.setdefault("end_dim", -1)
    if type_name == "MaxPool2d" or type_name == "AvgPool2d":
        stride = raw.get("stride")
        if stride is not None and (stride == raw.get("kernel_size") or stride == []):
            raw["stride"] = None
    x = bound.get("input")
    if not isinstance(x, fx.Node):
        raise _Unsupported(f"{name} on a value that is not a tensor from the network")
    return _Op(node, type_name, None, _params_for(type_name, raw, name), [x])


def _map_reshape(node: fx.Node, name: str, real: Callable[[Any], Any]) -> _Op | None:
    x = node.args[0]
    ins, out = _tensor_meta(x), _tensor_meta(node)
    if not isinstance(x, fx.Node) or ins is None or out is None:
        raise _Unsupported(f"{name} of a value that is not a tensor from the network")
    if ins == out:
        return None
    if len(ins) >= 2 and len(out) == 2 and out[0] == ins[0] and out[1] == math.prod(ins[1:]):
        return _Op(node, "Flatten", None, {}, [x])
    raise _Unsupported(f"{name} from {ins[1:]} to {out[1:]} (per sample); only flattening to N×features "
                       "(x.view(x.size(0), -1)) is supported")


def _legal_id(raw: str, taken: set[str]) -> str:
    """A node id from a module path (``features.0`` → ``features_0``), named as codegen would."""
    return legal_name(raw[:56], taken)


def _build_graph(ops: list[_Op], alias: dict[fx.Node, fx.Node], fx_graph: fx.Graph, shape: tuple[int, ...],
                 name: str) -> tuple[Graph, dict[fx.Node, str]]:
    graph = Graph(name)
    taken: set[str] = {"input"}
    # ids of module nodes first, so numbered functional ids never take a module's name
    ids: dict[int, str] = {}
    for k, op in enumerate(ops):
        if op.type != "Input" and op.attr_path is not None:
            ids[k] = _legal_id(op.attr_path, taken)
    node_of: dict[fx.Node, str] = {}
    counts: dict[str, int] = {}
    for op in ops:
        counts[op.type] = counts.get(op.type, 0) + 1
    for k, op in enumerate(ops):
        if op.type == "Input":
            nid = "input"
            params: dict[str, Any] = {"shape": list(shape)}
        else:
            base = _BASE_IDS.get(op.type, op.type.lower())
            if k in ids:
                nid = ids[k]
            elif counts[op.type] == 1 and base not in taken:  # the only one: no number needed
                nid = base
                taken.add(nid)
            else:
                nid = _fresh(graph, taken, base)
            params = op.params
        graph.add_node(op.type, nid, params)
        node_of[op.fx_node] = nid
    for op in ops:
        for port, src in enumerate(op.inputs):
            graph.connect(node_of[src], node_of[op.fx_node], port)
    from netbuilder.core.model.layout import apply_layout

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


def _finish(graph: Graph, ops: list[_Op], node_of: dict[fx.Node, str], model: nn.Module, example: torch.Tensor,
            class_name: str, source: str, shape: tuple[int, ...], check: bool) -> ImportedModel:
    from netbuilder.core.model.codegen import generate
    from netbuilder.core.model.compiler import compile_source
    from netbuilder.core.model.inference import infer

    result = infer(graph)
    if not result.ok:
        listed = "; ".join(e.message for e in result.errors) or "the network has no output"
        raise ModelImportError(f"the imported network of {class_name} is not valid: {listed}")
    code = generate(graph, result)
    state: dict[str, torch.Tensor] = {}
    for op in ops:
        if op.module is None:
            continue
        attr = code.attr_names.get(node_of[op.fx_node])
        if attr is None:
            continue
        for key, value in op.module.state_dict().items():
            state[f"{attr}.{key}"] = value.detach().clone()
    imported = ImportedModel(graph, state, class_name, source, shape)
    if check:
        rebuilt = compile_source(code)()
        missing = rebuilt.load_state_dict(state, strict=False)
        if missing.missing_keys or missing.unexpected_keys:
            imported.notes.append(f"weights not carried over: {', '.join(missing.missing_keys)}")
        rebuilt.eval()
        model.eval()
        with torch.no_grad():
            want = model(example)
            got = rebuilt(example)
        if tuple(want.shape) != tuple(got.shape):
            raise ModelImportError(f"the imported network gives {tuple(got.shape)} but {class_name} gives "
                                   f"{tuple(want.shape)}; please report this file")
        imported.max_abs_diff = float((want - got).abs().max()) if want.numel() else 0.0
        scale = float(want.abs().max()) if want.numel() else 0.0
        if imported.max_abs_diff > 1e-4 * max(1.0, scale):
            imported.notes.append(f"warning: the imported network's outputs differ from {class_name}'s by up to "
                                  f"{imported.max_abs_diff:.3g}; check the layers before training")
    return imported
