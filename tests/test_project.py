"""Project files: round trip, typed errors naming node and field, migrations, atomic saves."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from netbuilder.core.model import project as proj
from netbuilder.core.model.project import ProjectError, load_preset, load_project, loads, presets_dir, save_project


def doc(nodes: list[dict[str, Any]], edges: list[dict[str, Any]] | None = None, **extra: Any) -> str:
    return json.dumps({"format": "netbuilder-project", "version": 1, "name": "t", "nodes": nodes,
                       "edges": edges or [], **extra})


INPUT = {"id": "input", "type": "Input", "params": {"shape": [1, 28, 28]}}


@pytest.mark.parametrize("preset", sorted(p.stem for p in presets_dir().glob("*.json")))
def test_presets_round_trip(preset: str, tmp_path: Path) -> None:
    p = load_preset(preset)
    save_project(tmp_path / "x.json", p.graph, {"epochs": 3})
    q = load_project(tmp_path / "x.json")
    assert proj.to_dict(q.graph) == proj.to_dict(p.graph)
    assert q.training == {"epochs": 3}


def test_auto_and_omitted_params() -> None:
    p = loads(doc([INPUT, {"id": "fc", "type": "Linear", "params": {"in_features": "auto", "out_features": 3}}],
                  [{"src": "input", "dst": "fc"}]))
    assert p.graph.node("fc").params == {"in_features": "auto", "out_features": 3}


@pytest.mark.parametrize(
    ("text", "node", "field", "words"),
    [
        ("{not json", None, None, "invalid JSON at line 1"),
        ('{"format": "other"}', None, "format", "not a NetBuilder project"),
        ('[1, 2]', None, None, "top level must be a JSON object"),
        (doc([INPUT]).replace('"version": 1', '"version": 99'), None, "version",
         "newer NetBuilder (format version 99)"),
        (doc([INPUT, {"id": "x", "type": "Conv3d"}]), "x", "type", "unknown type 'Conv3d'"),
        (doc([INPUT, {"id": "c", "type": "Conv2d", "params": {"out_channels": -1, "kernel_size": 3}}]), "c",
         "out_channels", "out_channels must be between 1 and 4096"),
        (doc([INPUT, {"id": "c", "type": "Conv2d", "params": {"kernel_size": 3}}]), "c", "out_channels",
         "missing required parameter 'out_channels'"),
        (doc([INPUT, {"id": "c", "type": "ReLU", "params": {"inplace": True}}]), "c", "inplace",
         "unknown parameter 'inplace'"),
        (doc([INPUT, {"id": "input", "type": "ReLU"}]), "input", "id", "duplicate node id 'input'"),
        (doc([INPUT], [{"src": "input", "dst": "ghost"}]), "ghost", "edges[0].dst", "'ghost' is not a node"),
        (doc([INPUT, {"id": "r", "type": "ReLU"}], [{"src": "input", "dst": "r", "port": 3}]), "r", "edges[0]",
         "has no input port 3"),
        (doc([INPUT, {"id": "r", "type": "ReLU", "position": "here"}]), "r", "position", "'position' must be"),
        (doc([{"id": "input", "type": "Input", "params": {"shape": [0, 28]}}]), "input", "shape",
         "shape must be [C, H, W] (images), [C, L] or [T, F]"),
    ],
)
def test_typed_errors_name_node_and_field(text: str, node: str | None, field: str | None, words: str) -> None:
    with pytest.raises(ProjectError) as info:
        loads(text)
    assert words in str(info.value)
    assert info.value.node == node
    assert info.value.field == field


def test_cycles_load_and_are_reported_by_inference() -> None:
    from netbuilder.core.model.inference import infer

    text = doc([INPUT, {"id": "a", "type": "Add"}, {"id": "r", "type": "ReLU"}],
               [{"src": "input", "dst": "a"}, {"src": "r", "dst": "a", "port": 1}, {"src": "a", "dst": "r"}])
    r = infer(loads(text).graph)
    assert {e.node for e in r.errors} == {"a", "r"}


def test_migrations_run_step_by_step(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def v1_to_v2(d: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        d["nodes"] = [{**n, "params": n.get("args", {})} for n in d["nodes"]]
        return d

    def v2_to_v3(d: dict[str, Any]) -> dict[str, Any]:
        calls.append(2)
        d["edges"] = [{"src": a, "dst": b} for a, b in d.pop("links")]
        return d

    monkeypatch.setattr(proj, "VERSION", 3)
    monkeypatch.setattr(proj, "MIGRATIONS", {1: v1_to_v2, 2: v2_to_v3})
    old = {"format": "netbuilder-project", "version": 1,
           "nodes": [{"id": "input", "type": "Input", "args": {"shape": [4]}}, {"id": "r", "type": "ReLU"}],
           "links": [["input", "r"]]}
    p = proj.from_dict(old)
    assert calls == [1, 2]
    assert [(e.src, e.dst) for e in p.graph.edges] == [("input", "r")]


def test_file_errors_mention_the_path(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="no such file"):
        load_project(tmp_path / "missing.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ProjectError, match=r"bin\.json: not a NetBuilder project"):
        load_project(tmp_path / "bin.json")
    with pytest.raises(ProjectError, match="is a folder"):
        load_project(tmp_path)


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "net.json"
    g = load_preset("lenet5-mnist").graph
    save_project(target, g)
    before = target.read_text()

    def boom(*a: Any, **k: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    g.rename_node("fc3", "classifier")
    with pytest.raises(OSError):
        save_project(target, g)
    assert target.read_text() == before  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["net.json"]  # no temp file left behind


def test_saved_text_is_diff_friendly(tmp_path: Path) -> None:
    save_project(tmp_path / "n.json", load_preset("lenet5-mnist").graph)
    lines = (tmp_path / "n.json").read_text().splitlines()
    assert sum(1 for line in lines if line.strip().startswith('{"id"')) == 13


def test_atomic_write_keeps_the_files_permissions(tmp_path: Path) -> None:
    from netbuilder.core.model.project import atomic_write

    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "new.txt", b"x")
        assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
        (tmp_path / "shared.txt").write_text("y")
        os.chmod(tmp_path / "shared.txt", 0o664)
        atomic_write(tmp_path / "shared.txt", b"z")
        assert (tmp_path / "shared.txt").stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(old)
