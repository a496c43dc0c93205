"""Importing, step 1: load the user's file, pick its ``nn.Module`` class, instantiate and trace it.

**The file is executed** (like ``python model.py`` would run its top level). :func:`trace_model`
returns the fx graph with every tensor's shape recorded (``tensor_meta``), ready for
:mod:`netbuilder.core.interop.import_map`. Every failure is a :class:`ModelImportError` that names
the file and line.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import itertools
import operator
import os
import re
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FunctionType, ModuleType, TracebackType
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn
from netbuilder.core.errors import UserError
from netbuilder.core.model.layers import ParamError, input_spec

_TORCH_DIR = str(Path(torch.__file__).resolve().parent)
_OWN_DIR = str(Path(__file__).resolve().parent)  # frames of the importer itself are never the user's
_counter = itertools.count(1)


class ModelImportError(UserError):
    """The file could not be imported as a project; the message says what and where."""


@dataclass
class Traced:
    """A traced model: the instance, its fx graph (shapes propagated on ``example``), the input shape
    without the batch and the user's file for pointing at lines."""

    cls: type[nn.Module]
    model: nn.Module
    gm: fx.GraphModule
    fx_graph: fx.Graph
    example: torch.Tensor
    shape: tuple[int, ...]
    user_file: str | None
    dtype: str = "float"
    vocab_size: int | None = None


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
        where = user_frame(e.__traceback__, str(p.resolve()))
        raise ModelImportError(f"{p}: running the file failed{where}: {type(e).__name__}: {e}") from None
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
        sys.modules.pop(name, None)
    return module


def user_frame(tb: TracebackType | None, filename: str | None) -> str:
    """`` at FILE, line N: CODE`` for the innermost frame of the user's file (else outside torch)."""
    frames = traceback.extract_tb(tb) if tb is not None else []
    mine = [f for f in frames if filename and os.path.abspath(f.filename) == filename]
    if not mine:
        mine = [f for f in frames if not os.path.abspath(f.filename).startswith((_TORCH_DIR, _OWN_DIR))]
    if not mine:
        return ""
    f = mine[-1]
    code = f" `{f.line.strip()}`" if f.line else ""
    return f" at {Path(f.filename).name}, line {f.lineno}{code}"


def location(node: fx.Node, user_file: str | None) -> str:
    """``FILE, line N `CODE``` of the user's line that made ``node`` (from its recorded stack), or ""."""
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
        if mod.startswith("torchvision"):  # torchvision.ops.stochastic_depth, not torch.stochastic_depth
            return f"torchvision.ops.{name}()" if mod.startswith("torchvision.ops") else f"{mod}.{name}()"
        prefix = {"torch.nn.functional": "F.", "torch._C._nn": "F.", "_operator": "operator.",
                  "torch": "torch."}.get(mod, "torch." if mod.startswith("torch.") else "")
        return f"{prefix}{name}()"
    return str(t)


def module_path(node: fx.Node) -> str:
    """Where in the model a node inside a submodule comes from: ``m.features.3.conv.1`` for a
    nested module, ``m.features.1 (SwinTransformerBlock)`` for a call made in that module's
    forward; "" for the root's own forward and its direct attributes (the line says enough)."""
    if node.op == "call_module":
        target = str(node.target)
        return target if "." in target else ""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path, cls = list(stack.values())[-1]
    name = getattr(cls, "__name__", "")
    return f"{path} ({name})" if name else str(path)


def module_classes(module: ModuleType) -> list[type[nn.Module]]:
    """The ``nn.Module`` subclasses defined in ``module`` (not imported into it), in file order."""
    return [obj for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, nn.Module) and obj.__module__ == module.__name__]


def pick_class(module: ModuleType, source: str, class_name: str | None) -> type[nn.Module]:
    """The class to import: ``class_name``, else the only (top-level) ``nn.Module`` class of ``module``."""
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
        where = user_frame(e.__traceback__, None)
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
    """``value`` validated as the input layer's shape parameter (its only one)."""
    try:
        shape: tuple[int, ...] = input_spec().params[0].validate(
            list(value) if isinstance(value, (tuple, list, torch.Size)) else value)
    except ParamError as e:
        raise ModelImportError(f"{what}: {e}") from None
    return shape


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


def fmt_batched(shape: Sequence[int]) -> str:
    """``(1, 28, 28)`` → ``N×1×28×28``."""
    return "N×" + "×".join(str(v) for v in shape)


def _tracer() -> fx.Tracer:
    """An fx tracer that keeps torchvision.ops functions (``stochastic_depth``) as single calls
    however the file reaches them (``torchvision.ops.stochastic_depth(...)`` too), so that a spec's
    alias maps them and errors name them, instead of tracing into their random-number internals.
    Only when the file has loaded torchvision (otherwise it cannot call them)."""
    tv_ops = sys.modules.get("torchvision.ops")
    functions = tuple(v for k, v in vars(tv_ops).items() if isinstance(v, FunctionType) and not k.startswith("_")) \
        if tv_ops is not None else ()
    tracer = fx.Tracer(autowrap_functions=functions)
    if tv_ops is not None:  # the tracer patches them where it searches: the code's globals and these modules
        tracer._autowrap_search.append(tv_ops)
    tracer.record_stack_traces = True
    return tracer


DTYPES = ("float", "long")


def _resolve_dtype(cls: type[nn.Module], model: nn.Module, given: str | None) -> tuple[str, int | None]:
    """The input's dtype (given, else the class's ``input_dtype``, else float) and, for integer token
    ids, the vocabulary size: the class's ``vocab_size``, else the smallest Embedding's rows (so that
    every id is valid for all)."""
    dtype = given or getattr(model, "input_dtype", None) or "float"
    if dtype not in DTYPES:
        raise ModelImportError(f"input dtype {dtype!r} must be one of {', '.join(DTYPES)}")
    if dtype == "float":
        return dtype, None
    rows = [m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)]
    vocab = getattr(model, "vocab_size", None)
    if isinstance(vocab, int) and not isinstance(vocab, bool) and vocab >= 2:
        return dtype, min([vocab, *rows])
    return dtype, min(rows) if rows else None


def _example(shape: tuple[int, ...], dtype: str, vocab_size: int | None) -> torch.Tensor:
    """The traced input: a batch of 3 (not 1, so the batch dim is told from the others)."""
    gen = torch.Generator().manual_seed(0)
    if dtype == "long":
        return torch.randint(0, vocab_size or 2, (3, *shape), generator=gen)
    return torch.randn(3, *shape, generator=gen)


def _run_failure(cls: type[nn.Module], shape: tuple[int, ...], dtype: str, where: str, e: BaseException) -> str:
    """Why running the model on the example failed, with what to change."""
    cause = e.__cause__ or e
    text = str(cause).splitlines()[0] if str(cause) else ""
    fix = "check the input shape (--input-shape C,H,W)"
    if dtype == "float" and re.search(r"indices|Long|Int\b|scalar type", text):
        fix = ("the model takes integer token ids (an Embedding): declare integer input with --input-dtype long "
               "(or input_dtype = \"long\" on the class; the Input's dtype long)")
    kind = "an input" if dtype == "float" else "an integer input"
    return f"running {cls.__name__} on {kind} of shape {fmt_batched(shape)} failed{where}: " \
           f"{type(cause).__name__}: {text} — {fix}"


def trace_model(path: str | os.PathLike[str], class_name: str | None,
                input_shape: Sequence[int] | str | None, input_dtype: str | None = None) -> Traced:
    """Load ``path`` (**executing it**), instantiate its class, fx-trace it and record every shape.
    ``input_dtype`` is ``"float"`` or ``"long"`` (integer token ids); default the class's
    ``input_dtype`` attribute, else float."""
    source = str(path)
    module = load_source(path)
    cls = pick_class(module, source, class_name)
    model = _instantiate(cls)
    shape = _resolve_shape(cls, model, input_shape)
    dtype, vocab_size = _resolve_dtype(cls, model, input_dtype)
    user_file = getattr(module, "__file__", None)
    user_file = os.path.abspath(user_file) if user_file else None

    tracer = _tracer()
    try:
        fx_graph = tracer.trace(model)
    except Exception as e:
        where = user_frame(e.__traceback__, user_file)
        hint = ""
        if "control flow" in str(e) or "iterate" in str(e) or "len(" in str(e):
            hint = (" — torch.fx cannot follow Python control flow (if/for/while, len) that depends on tensor "
                    "values; rewrite that part without branching on the data (torch.where, fixed loop counts)")
        raise ModelImportError(f"cannot trace {cls.__name__}.forward with torch.fx{where}: "
                               f"{type(e).__name__}: {e}{hint}") from None
    gm = fx.GraphModule(model, fx_graph)
    model.eval()
    gm.eval()
    example = _example(shape, dtype, vocab_size)
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
        current = prop.current
        loc = location(current, user_file) if current is not None else ""
        path = module_path(current) if current is not None else ""
        op = (f"nn.{type(gm.get_submodule(str(current.target))).__name__}" if current.op == "call_module"
              else target_name(current)) if current is not None else ""
        where = (f" in {path}: {op}" if path else "") + (f" at {loc}" if loc else "")
        raise ModelImportError(_run_failure(cls, shape, dtype, where, e)) from None
    return Traced(cls, model, gm, fx_graph, example, shape, user_file, dtype, vocab_size)
