"""Project files: versioned JSON, validated on load, migrated step by step, saved atomically.

Loading never executes anything from the file: it is parsed as JSON and every field is checked
against the layer registry. See ``docs/file-format.md`` for the contract.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netbuilder.core.errors import UserError
from netbuilder.core.model.graph import Graph, GraphError, check_id, paused_gc
from netbuilder.core.model.layers import REGISTRY
from netbuilder.resources import resources_dir

FORMAT = "netbuilder-project"
VERSION = 2
MAX_BYTES = 20_000_000
MAX_COORD = 1e9  # canvas positions: far beyond any layout, and finite


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 adds ``src_port`` to edges (layers with several outputs); in version 1 every layer
    had one output, so every edge leaves port 0. Malformed edges are left for validation to report."""
    edges = data.get("edges")
    if isinstance(edges, list):
        data["edges"] = [{**e, "src_port": 0} if isinstance(e, dict) else e for e in edges]
    return data


# MIGRATIONS[v] turns a version-v dict into a version-(v+1) dict. Loading applies them in order.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


class ProjectError(UserError, ValueError):
    """A project file is unreadable or invalid. ``node`` and ``field`` point at the culprit."""


@dataclass
class Project:
    """A graph plus the training settings stored beside it."""

    graph: Graph
    training: dict[str, Any] = field(default_factory=dict)


def to_dict(graph: Graph, training: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON-ready form of a project."""
    out: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "name": graph.name,
        "nodes": [
            {
                "id": n.id,
                "type": n.type,
                "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in n.params.items()},
                "position": [round(n.position[0], 1), round(n.position[1], 1)],
            }
            for n in graph.nodes
        ],
        "edges": [
            {"src": e.src, **({"src_port": e.src_port} if e.src_port else {}), "dst": e.dst,
             **({"port": e.port} if e.port else {})}
            for e in graph.edges
        ],
    }
    if training:
        out["training"] = training
    return out


def dumps(graph: Graph, training: dict[str, Any] | None = None) -> str:
    """Serialise a project to JSON text: one line per node and per edge, for readable diffs."""
    d = to_dict(graph, training)
    parts = []
    for key, value in d.items():
        if key in ("nodes", "edges"):
            items = ",\n".join("    " + json.dumps(v, ensure_ascii=False) for v in value)
            parts.append(f'  "{key}": [\n{items}\n  ]' if value else f'  "{key}": []')
        else:
            parts.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a parsed project dict up to :data:`VERSION`, one step at a time."""
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ProjectError(f"the file's 'version' must be an integer, not {version!r}", field="version")
    if version > VERSION:
        raise ProjectError(
            f"this project was written by a newer NetBuilder (format version {version}); this version reads "
            f"up to {VERSION} — update NetBuilder to open it", field="version",
        )
    while version < VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise ProjectError(f"format version {version} is not supported (no migration to {version + 1})",
                               field="version")
        data = step(dict(data))
        version += 1
        data["version"] = version
    return data


def from_dict(data: Any) -> Project:
    """Validate a parsed project and build it. Raises :class:`ProjectError` naming node and field."""
    with paused_gc():
        return _build(data)


def _build(data: Any) -> Project:
    if not isinstance(data, dict):
        raise ProjectError("not a NetBuilder project: the top level must be a JSON object")
    if data.get("format") != FORMAT:
        raise ProjectError(
            f"not a NetBuilder project: 'format' is {data.get('format')!r}, expected {FORMAT!r}", field="format"
        )
    data = migrate(data)
    name = data.get("name", "untitled")
    if not isinstance(name, str):
        raise ProjectError("'name' must be a string", field="name")
    nodes = data.get("nodes")
    edges = data.get("edges", [])
    if not isinstance(nodes, list):
        raise ProjectError("'nodes' must be a list", field="nodes")
    if not isinstance(edges, list):
        raise ProjectError("'edges' must be a list", field="edges")
    graph = Graph(name[:200])
    for i, raw in enumerate(nodes):
        if not isinstance(raw, dict):
            raise ProjectError(f"node {i} must be an object", field=f"nodes[{i}]")
        nid = raw.get("id")
        try:
            check_id(nid)
            assert isinstance(nid, str)
        except GraphError as e:
            raise ProjectError(f"node {i}: {e}", node=nid if isinstance(nid, str) else None, field="id") from None
        if nid in graph:
            raise ProjectError(f"duplicate node id {nid!r}; every id must be unique", node=nid, field="id")
        typ = raw.get("type")
        if typ not in REGISTRY:
            raise ProjectError(
                f"node {nid!r} has unknown type {typ!r}; known types: {', '.join(sorted(REGISTRY))}",
                node=nid, field="type",
            )
        params = raw.get("params", {})
        if not isinstance(params, dict):
            raise ProjectError(f"node {nid!r}: 'params' must be an object", node=nid, field="params")
        pos = raw.get("position", [0, 0])
        if (not isinstance(pos, list) or len(pos) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pos)
                or not all(abs(v) <= MAX_COORD for v in pos)):  # also NaN: no comparison holds for it
            raise ProjectError(f"node {nid!r}: 'position' must be [x, y], numbers within ±{MAX_COORD:,}",
                               node=nid, field="position")
        try:
            graph.add_node(typ, nid, params, (float(pos[0]), float(pos[1])))  # validates the params
        except GraphError as e:
            raise ProjectError(str(e), node=e.node or nid, field=e.field) from None
    for i, raw in enumerate(edges):
        if not isinstance(raw, dict):
            raise ProjectError(f"edge {i} must be an object with 'src' and 'dst'", field=f"edges[{i}]")
        src, dst, port, src_port = raw.get("src"), raw.get("dst"), raw.get("port", 0), raw.get("src_port", 0)
        for end, value in (("src", src), ("dst", dst)):
            if not isinstance(value, str) or value not in graph:
                raise ProjectError(
                    f"edge {i} ({src!r} → {dst!r}): its {end} {value!r} is not a node in this file",
                    node=value if isinstance(value, str) else None, field=f"edges[{i}].{end}",
                )
        assert isinstance(src, str) and isinstance(dst, str)
        if not isinstance(port, int) or isinstance(port, bool) or port < 0:
            raise ProjectError(f"edge {i}: 'port' must be a non-negative integer", node=dst, field=f"edges[{i}].port")
        if not isinstance(src_port, int) or isinstance(src_port, bool) or src_port < 0:
            raise ProjectError(f"edge {i}: 'src_port' must be a non-negative integer", node=src,
                               field=f"edges[{i}].src_port")
        try:
            graph.connect(src, dst, port, check_cycle=False, src_port=src_port)  # cycles: inference reports them
        except GraphError as e:
            raise ProjectError(f"edge {i}: {e}", node=dst, field=f"edges[{i}]") from None
    training = data.get("training", {})
    if not isinstance(training, dict):
        raise ProjectError("'training' must be an object", field="training")
    return Project(graph, training)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a project file may hold (positions and parameters are finite)")


def loads(text: str) -> Project:
    """Parse and validate project JSON text."""
    try:
        with paused_gc():
            data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise ProjectError(f"not a NetBuilder project: invalid JSON at line {e.lineno}, column {e.colno}") from None
    except RecursionError:
        raise ProjectError("not a NetBuilder project: JSON nested too deeply") from None
    except ValueError as e:  # an integer of more digits than Python converts (a hostile file)
        raise ProjectError(f"not a NetBuilder project: {e}") from None
    return from_dict(data)


def load_project(path: str | os.PathLike[str]) -> Project:
    """Read a project file. Every problem is a :class:`ProjectError` mentioning the path."""
    p = Path(path)
    try:
        st = p.stat()
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(p))
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block for ever, /dev/zero fill the memory
            raise ProjectError(f"{p}: not a regular file (a pipe or a device); save the project to a file first")
        if st.st_size > MAX_BYTES:
            raise ProjectError(f"{p}: too large for a project file ({st.st_size:,} bytes; at most {MAX_BYTES:,})")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ProjectError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ProjectError(f"{p}: is a folder, not a project file") from None
    except OSError as e:
        raise ProjectError(f"{p}: cannot read ({e.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProjectError(f"{p}: not a NetBuilder project (not UTF-8 text)") from None
    try:
        return loads(text)
    except ProjectError as e:
        raise ProjectError(f"{p}: {e}", e.node, e.field) from None


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it over
    ``path``: a crash leaves either the old file or the new one, never half of one."""
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(p))
    if p.exists() and not p.is_file():  # renaming over a FIFO or a device would replace it
        raise OSError(errno.EINVAL, "not a regular file (a pipe or a device): choose a file to write", str(p))
    if not p.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such folder to write into", str(p.parent))
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent or ".")
    try:
        # mkstemp creates 0600: keep the replaced file's mode, or give a new one the usual umask mode
        try:
            mode = stat.S_IMODE(p.stat().st_mode)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_project(path: str | os.PathLike[str], graph: Graph, training: dict[str, Any] | None = None) -> None:
    """Save a project atomically."""
    atomic_write(path, dumps(graph, training).encode("utf-8"))


def presets_dir() -> Path:
    """The folder of bundled preset projects."""
    return resources_dir() / "presets"


def load_preset(name: str) -> Project:
    """Load a bundled preset by file stem, e.g. ``lenet5-mnist``."""
    path = presets_dir() / f"{name}.json"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in presets_dir().glob("*.json")))
        raise ProjectError(f"no preset called {name!r}; presets: {known}")
    return load_project(path)
