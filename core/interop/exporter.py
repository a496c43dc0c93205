"""Export the model as a Python file: the very source that :mod:`netbuilder.core.model.compiler` executes."""

from __future__ import annotations

import os

from netbuilder.core.model.codegen import GeneratedCode, generate
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.project import atomic_write


def export_python(graph: Graph, path: str | os.PathLike[str], class_name: str = "Net") -> GeneratedCode:
    """Write the generated module for ``graph`` to ``path`` (atomically) and return it."""
    code = generate(graph, class_name=class_name)
    atomic_write(path, code.source.encode("utf-8"))
    return code
