"""Project file version 2: edges name their source port; version 1 files migrate (every edge from
port 0), checked on every preset written as version 1; loading stays strict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from netbuilder.core.model import project as proj
from netbuilder.core.model.codegen import generate
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import infer
from netbuilder.core.model.project import ProjectError, load_project, loads, presets_dir, save_project

PRESETS = sorted(presets_dir().glob("*.json"))


def as_version_1(data: dict[str, Any]) -> dict[str, Any]:
    """The file as NetBuilder 1 wrote it: version 1, edges without ``src_port``."""
    edges = [{k: v for k, v in e.items() if k != "src_port"} for e in data["edges"]]
    return {**data, "version": 1, "edges": edges}


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_every_preset_saved_as_version_1_loads_to_the_same_graph_and_code(path: Path, tmp_path: Path) -> None:
    current = json.loads(path.read_text())
    assert current["version"] == proj.VERSION == 2
    old = tmp_path / "v1.json"
    old.write_text(json.dumps(as_version_1(current), indent=2))
    migrated, today = load_project(old), load_project(path)
    assert proj.to_dict(migrated.graph) == proj.to_dict(today.graph)
    assert migrated.training == today.training
    assert all(e.src_port == 0 for e in migrated.graph.edges)
    assert generate(migrated.graph).source == generate(today.graph).source
    save_project(tmp_path / "again.json", migrated.graph, migrated.training)  # saving writes version 2
    assert json.loads((tmp_path / "again.json").read_text())["version"] == 2


def test_version_1_edges_leave_port_0_even_if_they_say_otherwise() -> None:
    data = as_version_1(json.loads(PRESETS[0].read_text()))
    data["edges"][0]["src_port"] = 3  # version 1 had no such key: it meant nothing then
    assert loads(json.dumps(data)).graph.edges[0].src_port == 0


def chunked() -> Graph:
    g = Graph("chunked")
    g.add_node("Input", "input", {"shape": [4, 6]})
    g.add_node("Chunk", "halves", {"chunks": 2})
    g.add_node("Add", "sum")
    g.connect("input", "halves")
    g.connect("halves", "sum", src_port=1)
    g.connect("halves", "sum", src_port=0)
    return g


def test_version_2_writes_the_source_port_and_reads_it_back(tmp_path: Path) -> None:
    g = chunked()
    text = proj.dumps(g)
    assert '{"src": "halves", "src_port": 1, "dst": "sum"}' in text
    assert '{"src": "halves", "dst": "sum", "port": 1}' in text  # port 0 is left out, as for inputs
    save_project(tmp_path / "c.json", g)
    back = load_project(tmp_path / "c.json").graph
    assert back.edges == g.edges
    assert generate(back).source == generate(g).source


def doc(edges: list[dict[str, Any]]) -> str:
    nodes = [{"id": "input", "type": "Input", "params": {"shape": [4, 6]}},
             {"id": "halves", "type": "Chunk", "params": {"chunks": 2}},
             {"id": "rows", "type": "Split", "params": {"split_size_or_sections": 2}},
             {"id": "sum", "type": "Add"}]
    return json.dumps({"format": "netbuilder-project", "version": 2, "nodes": nodes, "edges": edges})


@pytest.mark.parametrize(("src_port", "words"), [
    (-1, "'src_port' must be a non-negative integer"),
    ("1", "'src_port' must be a non-negative integer"),
    (True, "'src_port' must be a non-negative integer"),
    (2, "Chunk 'halves' has no output port 2"),
])
def test_a_bad_source_port_is_a_typed_error(src_port: object, words: str) -> None:
    with pytest.raises(ProjectError, match=words) as err:
        loads(doc([{"src": "input", "dst": "halves"}, {"src": "halves", "src_port": src_port, "dst": "sum"}]))
    assert err.value.field is not None and err.value.field.startswith("edges[1]")


def test_a_port_known_only_after_inference_is_reported_by_inference() -> None:
    # a Split's pieces depend on its input: the file opens and the editor shows the problem
    g = loads(doc([{"src": "input", "dst": "rows"}, {"src": "rows", "src_port": 0, "dst": "sum"},
                   {"src": "rows", "src_port": 5, "dst": "sum", "port": 1},
                   {"src": "input", "dst": "halves"}])).graph
    assert "connected to output 5 of Split 'rows', which has 2 output(s)" in infer(g).error_text()


@pytest.mark.parametrize(("text", "words"), [
    ('{"format": "netbuilder-project", "version": 3, "nodes": []}',
     r"newer NetBuilder \(format version 3\); this version reads up to 2"),
    ('{"format": "keras", "version": 2}', "not a NetBuilder project"),
    ('{"format": "netbuilder-project", "version": 2, "nodes": [], "edges": [7]}', "edge 0 must be an object"),
    ('{"format": "netbuilder-project", "version": 1, "nodes": [], "edges": {}}', "'edges' must be a list"),
    ('{"format": "netbuilder-project", "version": 0, "nodes": []}', "format version 0 is not supported"),
    ("[1, 2", "invalid JSON"),
])
def test_corrupt_and_foreign_files_keep_their_typed_errors(text: str, words: str) -> None:
    with pytest.raises(ProjectError, match=words):
        loads(text)
