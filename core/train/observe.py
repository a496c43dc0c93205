"""What a run reports about itself besides the loss: gradient and weight statistics, a gradient histogram,
and, when a step goes non-finite, which layer did it first.

These are the cheap-observation parts of the trainer (see :mod:`netbuilder.core.train.trainer`): one fused
``torch._foreach_norm`` per step whose result stays on the device, read back together with the loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
from netbuilder.core.train.events import FailedEvent, GradStatsEvent, HistogramEvent

HISTOGRAM_BINS = 30


def readback(loss: torch.Tensor, params: Sequence[torch.Tensor],
             with_norms: bool) -> tuple[list[float], torch.Tensor | None]:
    """The per-step sync: the loss and (with_norms) the sum of all gradient norms, read back in one
    ``tolist()``; the per-tensor norms (one fused ``_foreach_norm``) stay on the device."""
    if not with_norms:
        return loss.detach().float().reshape(1).tolist(), None
    grads = [p.grad for p in params]
    if any(g is None for g in grads):  # a parameter the loss does not reach
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    gnorms = torch.stack(torch._foreach_norm(grads))  # type: ignore[arg-type]
    check = torch.stack([loss.detach().float(), gnorms.sum().float()])
    return check.tolist(), gnorms


def grad_stats(gstep: int, names: list[str], layers: list[str], params: Sequence[torch.Tensor],
               gnorms: torch.Tensor, before: list[torch.Tensor]) -> GradStatsEvent:
    """Gradient norm, weight norm and update/weight ratio of every parameter tensor after a step
    (``before`` holds the weights before it)."""
    with torch.no_grad():
        deltas = torch._foreach_sub([p.detach() for p in params], before)
        dn = torch.stack(torch._foreach_norm(deltas))
        wn = torch.stack(torch._foreach_norm([p.detach() for p in params]))
        ratio = dn / wn.clamp_min(1e-12)
        rows = torch.stack([gnorms.float(), wn.float(), ratio.float()]).tolist()
    return GradStatsEvent(gstep, list(names), list(layers), rows[0], rows[1], rows[2])


def histogram(gstep: int, name: str, grad: torch.Tensor) -> HistogramEvent:
    """A :data:`HISTOGRAM_BINS`-bin histogram of one gradient tensor."""
    with torch.no_grad():
        g = grad.detach().float().reshape(-1)
        lo, hi = (float(v) for v in torch.stack([g.min(), g.max()]).tolist())
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        counts = torch.histc(g, bins=HISTOGRAM_BINS, min=lo, max=hi).to(torch.int64).tolist()
    step = (hi - lo) / HISTOGRAM_BINS
    return HistogramEvent(gstep, name, counts, [lo + i * step for i in range(HISTOGRAM_BINS + 1)])


@dataclass
class RunView:
    """What :func:`diagnose_non_finite` needs to know of the run: the model and its trainable parameters,
    how parameter names and module attributes map to canvas nodes, and how to name a node."""

    model: nn.Module
    params: list[tuple[str, nn.Parameter]]
    node_of: Callable[[str], str]
    node_of_attr: dict[str, str]
    label: Callable[[str], str]
    input_id: str
    output_id: str
    loss: str


def diagnose_non_finite(run: RunView, xb: torch.Tensor, values: list[float], epoch: int, step: int,
                        lr: float) -> FailedEvent:
    """Find the first layer that became non-finite and say so (the weights are left as they were)."""
    where = f"epoch {epoch}, step {step}"
    advice = f"lower the learning rate (now {lr:g}), add normalisation, or check the data"
    details: dict[str, object] = {"epoch": epoch, "step": step, "loss": values[0]}
    for name, p in run.params:
        if not bool(torch.isfinite(p.detach()).all()):
            node = run.node_of(name)
            return FailedEvent(f"training stopped at {where}: the weights {name} of layer {run.label(node)} "
                               f"are no longer finite numbers (NaN or infinity); {advice}", node, details)
    if not bool(torch.isfinite(xb).all()):
        return FailedEvent(f"training stopped at {where}: the input batch holds NaN or infinite values; "
                           f"check the data", run.input_id, details)
    first: list[str] = []
    hooks = []

    def hook(name: str) -> Callable[[nn.Module, object, object], None]:
        def fn(_m: nn.Module, _i: object, out: object) -> None:
            if not first and isinstance(out, torch.Tensor) and not bool(torch.isfinite(out).all()):
                first.append(name)
        return fn

    for name, mod in run.model.named_modules():
        if name and "." not in name:
            hooks.append(mod.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            out = run.model(xb)
    finally:
        for h in hooks:
            h.remove()
    if first:
        node = run.node_of_attr.get(first[0], first[0])
        return FailedEvent(f"training stopped at {where}: the output of layer {run.label(node)} became "
                           f"non-finite (NaN or infinity) — the first layer to do so; {advice}", node, details)
    if not math.isfinite(values[0]):
        if not bool(torch.isfinite(out).all()):
            node = run.output_id
            return FailedEvent(f"training stopped at {where}: the network's output {run.label(node)} became "
                               f"non-finite; {advice}", node, details)
        peak = float(out.detach().abs().max())
        return FailedEvent(f"training stopped at {where}: the {run.loss} loss became non-finite "
                           f"({values[0]}) although the output of layer {run.label(run.output_id)} is "
                           f"finite (values up to {peak:.3g}); "
                           + ("the NLL loss needs log-probabilities (end with LogSoftmax); "
                              if run.loss == "nll" else "") + advice, run.output_id, details)
    for name, p in run.params:
        if p.grad is None:
            continue
        node = run.node_of(name)
        if not bool(torch.isfinite(p.grad).all()):
            return FailedEvent(f"training stopped at {where}: the gradient of {name} in layer {run.label(node)} "
                               f"became non-finite — the first such layer; {advice}", node, details)
        if not math.isfinite(float(p.grad.norm())):
            return FailedEvent(f"training stopped at {where}: the gradient of {name} in layer {run.label(node)} "
                               f"exploded (its norm overflows) — the first such layer; {advice}", node, details)
    return FailedEvent(f"training stopped at {where}: a gradient became non-finite; {advice}", None, details)
