"""Import speed of large torchvision models: ResNet-50 (~180 nodes) and DenseNet-121 (~430 nodes).

Two numbers per model, in interleaved runs (cold, warm, cold, warm... for each model in turn, so
that a busy machine slows both alike), medians printed:

- **cold**: ``python -c "import_model(...)"`` in a fresh process, so Python, torch and torchvision
  start-up are included — what ``netbuilder import`` costs from the shell;
- **start-up**: the same process loading the importer, torch and torchvision only;
- **warm**: ``import_model`` in this process once everything is loaded — the importer itself
  (trace, shape propagation, mapping, building, the output check).

The warm time is also split into its steps (trace with shape propagation, mapping, graph and
check) from one extra run. Run: ``python bench/import_speed.py [--runs 3] [--size 64]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODELS = {"ResNet-50": "resnet50", "DenseNet-121": "densenet121"}


def write_wrapper(folder: Path, fn: str, size: int) -> Path:
    """A file with a class wrapping ``torchvision.models.<fn>(weights=None)`` (nothing downloaded)."""
    path = folder / f"{fn}.py"
    path.write_text(textwrap.dedent(f"""
        import torch.nn as nn
        import torchvision


        class Wrap(nn.Module):
            input_shape = (3, {size}, {size})

            def __init__(self):
                super().__init__()
                self.m = torchvision.models.{fn}(weights=None)

            def forward(self, x):
                return self.m(x)
    """))
    return path


def cold(path: Path) -> float:
    """Seconds for a fresh interpreter to import ``path`` (start-up included)."""
    code = f"from netbuilder.core.interop.importer import import_model; import_model({str(path)!r})"
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t


def startup() -> float:
    """Seconds for a fresh interpreter to load the importer, torch and torchvision, and do nothing."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import netbuilder.core.interop.importer, torchvision"], check=True)
    return time.perf_counter() - t


def warm(path: Path) -> tuple[float, int]:
    """Seconds for ``import_model`` in this (warmed-up) process, and the number of nodes."""
    from netbuilder.core.interop.importer import import_model

    t = time.perf_counter()
    imported = import_model(path)
    return time.perf_counter() - t, len(imported.graph.nodes)


def steps(path: Path) -> dict[str, float]:
    """The warm import split into its steps, in seconds."""
    from netbuilder.core.interop.import_build import build_graph, finish
    from netbuilder.core.interop.import_map import map_nodes
    from netbuilder.core.interop.import_trace import trace_model

    out: dict[str, float] = {}
    t = time.perf_counter()
    tr = trace_model(path, None, None)
    out["trace + shapes"] = time.perf_counter() - t
    t = time.perf_counter()
    ops, problems = map_nodes(tr.gm, tr.fx_graph, tr.user_file, tr.model)
    assert not problems, problems
    out["map"] = time.perf_counter() - t
    t = time.perf_counter()
    graph, node_of = build_graph(ops, tr.shape, tr.cls.__name__)
    out["graph + layout"] = time.perf_counter() - t
    t = time.perf_counter()
    finish(graph, ops, node_of, tr.model, tr.example, tr.cls.__name__, str(path), tr.shape, True, tr.output)
    out["check"] = time.perf_counter() - t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", type=int, default=64, help="input height and width")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = {name: write_wrapper(Path(tmp), fn, args.size) for name, fn in MODELS.items()}
        for path in paths.values():
            warm(path)  # loads torch and torchvision here; the first import of each is not counted
        colds: dict[str, list[float]] = {n: [] for n in paths}
        warms: dict[str, list[float]] = {n: [] for n in paths}
        nodes: dict[str, int] = {}
        starts: list[float] = []
        for _ in range(args.runs):
            starts.append(startup())
            for name, path in paths.items():
                colds[name].append(cold(path))
                seconds, nodes[name] = warm(path)
                warms[name].append(seconds)
        print(f"input 3×{args.size}×{args.size}, {args.runs} interleaved runs, medians; start-up alone "
              f"{statistics.median(starts):.2f} s")
        for name, path in paths.items():
            parts = ", ".join(f"{k} {v:.2f} s" for k, v in steps(path).items())
            print(f"{name:13s} {nodes[name]:4d} nodes: cold {statistics.median(colds[name]):6.2f} s, "
                  f"warm {statistics.median(warms[name]):6.2f} s ({parts})")


if __name__ == "__main__":
    main()
