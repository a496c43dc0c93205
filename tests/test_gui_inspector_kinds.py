"""The inspector has an editor for every parameter of every registered layer type, and a value typed
into each editor reaches the node (a new parameter kind without an editor would raise on selection)."""

from __future__ import annotations

import pytest
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.layers import REGISTRY, input_spec
from netbuilder.gui.editor.document import Document
from netbuilder.gui.editor.inspector import Inspector
from netbuilder.gui.editor.param_editors import EDITORS


@pytest.mark.parametrize("type_name", sorted(REGISTRY))
def test_every_parameter_of_every_type_has_an_editor(qtbot, type_name: str) -> None:
    spec = REGISTRY[type_name]
    assert all(p.kind in EDITORS for p in spec.params), [p.kind for p in spec.params if p.kind not in EDITORS]
    g = Graph("Net")
    g.add_node(input_spec().type_name, "input", {"shape": [4, 8, 8]})
    nid = "input" if spec.is_input else "n"
    if not spec.is_input:
        g.add_node(type_name, nid, spec.defaults())
    doc = Document(g)
    inspector = Inspector(doc)
    qtbot.addWidget(inspector)
    doc.select_nodes([nid])
    assert set(inspector.editors) >= {p.name for p in spec.params}


def test_a_list_of_dims_typed_into_the_inspector_reaches_the_node(qtbot) -> None:
    spec = next((s for s in REGISTRY.values() if any(p.kind == "ints" for p in s.params)), None)
    if spec is None:
        pytest.skip("no layer type with a list-of-ints parameter is registered")
    param = next(p for p in spec.params if p.kind == "ints")
    g = Graph("Net")
    g.add_node(input_spec().type_name, "input", {"shape": [4, 8, 8]})
    g.add_node(spec.type_name, "n", spec.defaults())
    doc = Document(g)
    inspector = Inspector(doc)
    qtbot.addWidget(inspector)
    doc.select_nodes(["n"])
    editor = inspector.editors[param.name]
    value = param.validate(param.default)
    text = ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)
    editor.edit.setText(text)
    assert param.validate(editor.value()) == value


def test_an_optional_number_left_empty_shows_and_stays_empty(qtbot) -> None:
    g = Graph("Net")
    g.add_node(input_spec().type_name, "input", {"shape": [4, 8, 8]})
    g.add_node("Upsample", "up", {"size": [16, 16], "scale_factor": None})
    doc = Document(g)
    inspector = Inspector(doc)
    qtbot.addWidget(inspector)
    doc.select_nodes(["up"])
    editor = inspector.editors["scale_factor"]
    assert editor.edit.text() == "" and editor.value() is None
