"""Large graphs in linear time (issue 14, point 6).

Prints build, load (from JSON), inference, codegen and summary times for 100 / 1,000 / 10,000 /
50,000-node chains and residual-block graphs, with the growth factor per 10× more nodes (about 10
means linear, about 100 quadratic), then times ``netbuilder summary`` of a 50,000-node file end to
end in a subprocess (target: under 2 s).

    python bench/graph_scale.py [--sizes 100,1000,10000,50000]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from netbuilder.core.model.codegen import generate
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import infer
from netbuilder.core.model.project import dumps, loads
from netbuilder.core.model.summary import summary_table


def chain(n: int) -> Graph:
    """Input, then Linear and ReLU alternating: ``n`` nodes in all."""
    g = Graph("chain")
    g.add_node("Input", "input", {"shape": [8]})
    prev = "input"
    for i in range(1, n):
        nid = f"fc{i}" if i % 2 else f"relu{i}"
        g.add_node("Linear" if i % 2 else "ReLU", nid, {"out_features": 8} if i % 2 else None)
        g.connect(prev, nid)
        prev = nid
    return g


def residual(n: int) -> Graph:
    """Input, then blocks of Linear → ReLU → Add (with the block's input as skip): about ``n`` nodes."""
    g = Graph("residual")
    g.add_node("Input", "input", {"shape": [8]})
    prev = "input"
    for b in range(max(1, (n - 1) // 3)):
        g.add_node("Linear", f"fc{b}", {"out_features": 8})
        g.add_node("ReLU", f"relu{b}")
        g.add_node("Add", f"add{b}")
        g.connect(prev, f"fc{b}")
        g.connect(f"fc{b}", f"relu{b}")
        g.connect(f"relu{b}", f"add{b}")
        g.connect(prev, f"add{b}")
        prev = f"add{b}"
    return g


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def measure(make: Callable[[int], Graph], n: int) -> dict[str, float]:
    build, g = timed(lambda: make(n))
    assert isinstance(g, Graph)
    text = dumps(g)
    load, _ = timed(lambda: loads(text))
    inference, r = timed(lambda: infer(g))
    codegen, _ = timed(lambda: generate(g, r))  # type: ignore[arg-type]
    summary, _ = timed(lambda: summary_table(g))
    return {"build": build, "load": load, "inference": inference, "codegen": codegen, "summary": summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="100,1000,10000,50000")
    sizes = [int(s) for s in ap.parse_args().sizes.split(",")]
    stages = ("build", "load", "inference", "codegen", "summary")
    for name, make in (("chain", chain), ("residual", residual)):
        print(f"\n{name}: seconds (growth factor against the size before, per 10× nodes)")
        print(f"{'nodes':>8} " + " ".join(f"{s:>18}" for s in stages))
        prev: tuple[int, dict[str, float]] | None = None
        for n in sizes:
            t = measure(make, n)
            cells = []
            for s in stages:
                growth = ""
                if prev is not None and prev[1][s] > 0:
                    # normalised to a 10× step, so that 10,000 → 50,000 reads like the others
                    growth = f"(×{(t[s] / prev[1][s]) ** (1 / math.log10(n / prev[0])):.1f})"
                cells.append(f"{t[s]:9.4f} {growth:>8}")
            print(f"{n:>8} " + " ".join(f"{c:>18}" for c in cells))
            prev = (n, t)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chain50k.json"
        path.write_text(dumps(chain(50_000)))
        cmd = [str(Path(sys.executable).with_name("netbuilder")), "summary", str(path)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        print(f"\n`netbuilder summary` of a 50,000-node file, end to end: {wall:.2f} s (exit {proc.returncode})")
        if proc.returncode != 0:
            print(proc.stderr[-2000:])


if __name__ == "__main__":
    main()
