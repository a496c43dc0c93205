"""Compile = execute the generated source. The model that trains is built from exactly the text
that :mod:`netbuilder.core.interop.exporter` writes, so the two cannot drift."""

from __future__ import annotations

import linecache
from typing import Any

import torch.nn as nn
from netbuilder.core.model.codegen import GeneratedCode, generate
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import InferenceResult

_counter = 0


def compile_source(code: GeneratedCode) -> type[nn.Module]:
    """Execute ``code.source`` in a fresh namespace and return its model class.

    The source is registered with :mod:`linecache` so tracebacks and ``inspect`` show its lines."""
    global _counter
    _counter += 1
    filename = f"<netbuilder-{_counter}:{code.class_name}>"
    lines = code.source.splitlines(keepends=True)
    linecache.cache[filename] = (len(code.source), None, lines, filename)
    namespace: dict[str, Any] = {"__name__": "netbuilder_generated", "__file__": filename}
    exec(compile(code.source, filename, "exec"), namespace)
    cls = namespace[code.class_name]
    assert isinstance(cls, type) and issubclass(cls, nn.Module)
    return cls


def build_model(
    graph: Graph, result: InferenceResult | None = None, class_name: str = "Net"
) -> tuple[nn.Module, GeneratedCode]:
    """Generate, compile and instantiate the model for ``graph``."""
    code = generate(graph, result, class_name)
    return compile_source(code)(), code
