"""Edits that remove and restore edges keep the output port each edge leaves from (a Chunk's second
piece must not come back wired to its first)."""

from __future__ import annotations

from netbuilder.core.model.graph import Graph
from netbuilder.gui.editor import commands
from netbuilder.gui.editor.document import Document


def chunked() -> Document:
    g = Graph("Net")
    g.add_node("Input", "input", {"shape": [4, 8, 8]})
    g.add_node("Chunk", "halves", {"chunks": 2, "dim": 1})
    g.add_node("Add", "join")
    g.connect("input", "halves")
    g.connect("halves", "join", 0, src_port=0)
    g.connect("halves", "join", 1, src_port=1)
    return Document(g)


def ports(doc: Document) -> set[tuple[str, int, str, int]]:
    return {(e.src, e.src_port, e.dst, e.port) for e in doc.graph.edges}


def test_undoing_a_delete_or_a_disconnect_restores_the_source_ports(qtbot) -> None:
    doc = chunked()
    before = ports(doc)
    commands.execute(doc, commands.RemoveNodes(doc, ["join"]))
    assert not any(e.dst == "join" for e in doc.graph.edges)
    doc.undo_stack.undo()
    assert ports(doc) == before
    commands.execute(doc, commands.Disconnect(doc, [e for e in doc.graph.edges if e.dst == "join"]))
    doc.undo_stack.undo()
    assert ports(doc) == before


def test_connect_from_a_chosen_output_port_is_one_undo_step(qtbot) -> None:
    doc = chunked()
    commands.execute(doc, commands.Disconnect(doc, [e for e in doc.graph.edges if e.src_port == 1]))
    commands.execute(doc, commands.Connect(doc, "halves", "join", 1, src_port=1))
    assert ("halves", 1, "join", 1) in ports(doc)
    doc.undo_stack.undo()
    assert ("halves", 1, "join", 1) not in ports(doc)
