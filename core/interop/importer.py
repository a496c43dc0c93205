"""Import an existing PyTorch ``nn.Module`` as a project, by tracing it with ``torch.fx``.

**The file is executed** (like ``python model.py`` would run its top level) to get the class: open
only files you trust. Three steps, one module each: the class is instantiated without arguments,
traced symbolically and run once on a random input to learn every tensor's shape
(:mod:`~netbuilder.core.interop.import_trace`); each traced operation is mapped to a project node
from the layer registry (:mod:`~netbuilder.core.interop.import_map`): modules become nodes named
after their attribute (``features.0`` → ``features_0``) and functional calls (``F.relu``,
``x.view(x.size(0), -1)``, ``a + b``, ``torch.cat``) nodes with numbered ids, and anything else is
reported with its source line, all at once; the graph is then built and checked
(:mod:`~netbuilder.core.interop.import_build`).

The imported weights come along (:attr:`ImportedModel.state_dict`), and the rebuilt model is
checked to compute the same outputs as the original.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from netbuilder.core.interop.import_build import ImportedModel, build_graph, finish
from netbuilder.core.interop.import_map import map_nodes, supported_operations
from netbuilder.core.interop.import_trace import (
    ModelImportError,
    load_source,
    module_classes,
    parse_shape,
    trace_model,
)
from netbuilder.core.model.graph import Graph

__all__ = [
    "ImportedModel",
    "ModelImportError",
    "import_model",
    "import_module_file",
    "load_source",
    "module_classes",
    "parse_shape",
    "supported_operations",
]


def import_model(path: str | os.PathLike[str], class_name: str | None = None,
                 input_shape: Sequence[int] | str | None = None, check: bool = True,
                 input_dtype: str | None = None) -> ImportedModel:
    """Load ``path`` (**executing it**), trace its ``nn.Module`` and build the project graph.

    ``class_name`` chooses the class when the file defines several. ``input_shape`` (batch
    excluded, e.g. ``(1, 28, 28)`` or ``"1,28,28"``) defaults to the class's ``input_shape``
    attribute. ``input_dtype`` ``"long"`` feeds integer token ids (a model that starts with an
    Embedding; default the class's ``input_dtype`` attribute, else ``"float"``). Raises
    :class:`ModelImportError` for a missing file, a syntax error, no or several
    module classes, code that fails to trace, and unsupported operations (each with its line)."""
    source = str(path)
    traced = trace_model(path, class_name, input_shape, input_dtype)
    name = traced.cls.__name__
    ops, problems = map_nodes(traced.gm, traced.fx_graph, traced.user_file, traced.model)
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise ModelImportError(
            f"cannot import {name} from {source}: {len(problems)} unsupported operation"
            f"{'s' if len(problems) > 1 else ''}:\n{listed}\nSupported: {supported_operations()}")
    graph, node_of = build_graph(ops, traced.shape, name, traced.dtype, traced.vocab_size)
    # The traced graph baked `self.training` in at trace time (a drop-path's training=True), so its
    # output is not the eval-mode reference: the check runs the original model itself.
    return finish(graph, ops, node_of, traced.model, traced.example, name, source, traced.shape, check)


def import_module_file(path: str | os.PathLike[str], class_name: str | None = None,
                       input_shape: Sequence[int] | str | None = None) -> Graph:
    """The project graph of the ``nn.Module`` in ``path`` (**the file is executed**).

    See :func:`import_model` for the details and the errors."""
    return import_model(path, class_name, input_shape).graph
