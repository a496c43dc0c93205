"""The torchinfo-like summary table, as text or as plain data.

Multiply-adds follow one convention, :data:`MACS_CONVENTION`, stated in the table's footer and in
the data, so that the numbers can be compared with other tools'.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

from netbuilder.core.errors import UserError
from netbuilder.core.model.graph import Graph, paused_gc
from netbuilder.core.model.inference import InferenceResult, describe, infer

# What a layer's "macs" counts; each LayerSpec.macs counter must follow it (weight-free layers count
# none). tests/test_summary_contract.py checks it against a count taken from the torch modules.
MACS_CONVENTION = (
    "weights only (convolution: output elements × in_channels/groups × kernel size; linear: in_features × "
    "out_features); bias and normalisation not counted; equal to fvcore on conv and linear layers"
)


def error_data(error: UserError) -> dict[str, Any]:
    """``{"errors": [{node, field, message}]}`` for an error raised before inference (a file that
    cannot be read or is not a valid project), the form :func:`summary_data` uses for invalid graphs."""
    return {"errors": [{"node": error.node, "field": error.field, "message": str(error)}]}


def summary_data(graph: Graph, result: InferenceResult | None = None) -> dict[str, Any]:
    """``{"nodes": [{id, type, output_shape, params, macs}], "total_params", "total_macs",
    "macs_convention"}`` or ``{"errors": [{node, field, message}]}`` when the graph is invalid
    (inference errors name no field: ``field`` is None)."""
    result = result or infer(graph)
    if not result.ok:
        errors = result.errors or []
        if not errors:
            errors_out = [{"node": None, "field": None, "message": "the network has no output"}]
        else:
            errors_out = [{"node": e.node, "field": None, "message": e.message} for e in errors]
        return {"errors": errors_out}
    return {
        "nodes": [
            {
                "id": nid,
                "type": result.nodes[nid].type,
                "output_shape": ["N", *(result.nodes[nid].output_shape or ())],
                "params": result.nodes[nid].params,
                "macs": result.nodes[nid].macs,
            }
            for nid in result.order
        ],
        "total_params": result.total_params,
        "total_macs": result.total_macs,
        "macs_convention": MACS_CONVENTION,
    }


def human(n: float) -> str:
    """61706 → ``61.71 K``; 416520 → ``416.52 K``."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f} {unit}"
    return str(int(n))


def fmt_duration(seconds: float, unknown: str = "–") -> str:
    """75 → ``1:15``; 3725 → ``1:02:05``; ``unknown`` for a negative or non-finite time (no ETA yet)."""
    if not math.isfinite(seconds) or seconds < 0:
        return unknown
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def summary_table(graph: Graph, result: InferenceResult | None = None) -> str:
    """A fixed-width table of every node, with totals (the graph must be valid)."""
    with paused_gc():
        return _table(result or infer(graph))


def _table(result: InferenceResult) -> str:
    rows = [("Layer (id)", "Type", "Output shape", "Params", "MACs")]
    for nid in result.order:
        info = result.nodes[nid]
        rows.append((nid, info.type, describe(info), f"{info.params:,}", f"{info.macs:,}"))
    widths = [max(map(len, col)) for col in zip(*rows, strict=True)]
    a, b, c, d, e = widths

    def fmt(r: tuple[str, ...]) -> str:
        return f"{r[0]:<{a}}  {r[1]:<{b}}  {r[2]:<{c}}  {r[3]:>{d}}  {r[4]:>{e}}".rstrip()

    rule = "=" * len(fmt(rows[0]))
    lines = [rule, fmt(rows[0]), "-" * len(rule), *(fmt(r) for r in rows[1:]), rule]
    trainable = result.total_params
    lines += [
        f"Total params: {result.total_params:,}",
        f"Trainable params: {trainable:,}",
        f"Total mult-adds: {human(result.total_macs)} per sample",
        *textwrap.wrap(f"Mult-adds count {MACS_CONVENTION}.", max(len(rule), 60), subsequent_indent="  ",
                       break_on_hyphens=False),
        f"Parameter memory: {result.total_params * 4 / 1e6:.2f} MB (float32)",
        rule,
    ]
    return "\n".join(lines)
