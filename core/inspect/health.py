"""Gradient health: warnings that name the layer.

- *vanishing*: a layer's gradient norm stays below ``1e-7`` for ``K`` consecutive observations;
- *exploding*: a gradient norm above ``1e3``, or not finite (inf/NaN);
- *dead ReLU*: over 90% of the outputs of a ReLU (any layer whose spec has ``zeroes_negatives``)
  are exactly zero on a batch.

:class:`HealthMonitor` consumes the trainer's :class:`netbuilder.core.train.events.GradStatsEvent`
objects (sampled every ``stats_every`` steps, so K counts those observations) and returns new
warnings only when a condition starts, not on every event. :func:`dead_relu_report` runs one batch
and measures each activation's zeros. :func:`grad_norms` gives per-parameter norms equal to
``p.grad.norm()``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from netbuilder.core.model.graph import Graph
from netbuilder.core.train.events import GradStatsEvent, WarningEvent
from torch import nn

VANISHING = 1e-7
EXPLODING = 1e3
DEAD_FRACTION = 0.9
K_STEPS = 3


@dataclass
class HealthWarning:
    """One problem. ``kind`` is ``"vanishing"``, ``"exploding"`` or ``"dead_relu"``; ``layer`` the canvas
    node; ``params`` the tensors concerned; ``value`` the norm or zero fraction that triggered it."""

    kind: str
    layer: str | None
    message: str
    value: float
    params: list[str] = field(default_factory=list)
    step: int | None = None

    def to_event(self) -> WarningEvent:
        """The trainer's event form (for a log or the status bar)."""
        return WarningEvent(self.message, self.layer)


# --- pure functions ---------------------------------------------------------------------------

def grad_norms(model: nn.Module) -> dict[str, float]:
    """``{name: p.grad.norm()}`` for every parameter that has a gradient (L2 norm, as a float)."""
    return {n: float(p.grad.detach().norm()) for n, p in model.named_parameters() if p.grad is not None}


def layer_norms(names: Sequence[str], layers: Sequence[str], norms: Sequence[float]) -> dict[str, float]:
    """Combine per-tensor norms into one per layer: sqrt(Σ norm²) (the norm of all its gradients)."""
    total: dict[str, float] = {}
    for layer, v in zip(layers, norms, strict=True):
        total[layer] = total.get(layer, 0.0) + v * v if math.isfinite(v) else math.inf
    return {k: math.sqrt(v) for k, v in total.items()}


def is_vanishing(history: Sequence[float], k: int = K_STEPS, threshold: float = VANISHING) -> bool:
    """True when the last ``k`` norms of ``history`` are all finite and below ``threshold``."""
    return len(history) >= k and all(math.isfinite(v) and v < threshold for v in history[-k:])


def is_exploding(norm: float, threshold: float = EXPLODING) -> bool:
    """True when ``norm`` is above ``threshold`` or not finite."""
    return not math.isfinite(norm) or norm > threshold


def _fmt(v: float) -> str:
    return f"{v:.2g}" if math.isfinite(v) else str(v)


class HealthMonitor:
    """Stateful vanishing/exploding detection over a training run.

    ``update(event)`` returns the warnings that *start* at this event: a layer that keeps vanishing
    is reported once, and again only after it recovered and vanished anew. ``active`` holds the
    current problems per layer (for tinting the canvas)."""

    def __init__(self, k: int = K_STEPS, vanishing: float = VANISHING, exploding: float = EXPLODING) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self.k = k
        self.vanishing = vanishing
        self.exploding = exploding
        self.history: dict[str, list[float]] = {}
        self.active: dict[str, set[str]] = {}  # layer → {"vanishing", "exploding"}

    def reset(self) -> None:
        """Forget everything (a new run)."""
        self.history.clear()
        self.active.clear()

    def update(self, event: GradStatsEvent) -> list[HealthWarning]:
        """Consume one statistics event; return the warnings that begin now."""
        out: list[HealthWarning] = []
        by_layer: dict[str, list[tuple[str, float]]] = {}
        for name, layer, norm in zip(event.names, event.layers, event.grad_norms, strict=True):
            by_layer.setdefault(layer or name.rsplit(".", 1)[0], []).append((name, float(norm)))
        for layer, tensors in by_layer.items():
            norm = math.sqrt(sum(v * v for _, v in tensors)) if all(math.isfinite(v) for _, v in tensors) else math.inf
            hist = self.history.setdefault(layer, [])
            hist.append(norm)
            del hist[: -self.k]  # keep only what the test needs
            now = self.active.setdefault(layer, set())
            bad = [(n, v) for n, v in tensors if is_exploding(v, self.exploding)]
            if bad:
                if "exploding" not in now:
                    worst = next(((n, v) for n, v in bad if not math.isfinite(v)), max(bad, key=lambda t: t[1]))
                    what = "is not finite" if not math.isfinite(worst[1]) else f"is {_fmt(worst[1])}"
                    out.append(HealthWarning(
                        "exploding", layer,
                        f"exploding gradients in '{layer}': the gradient norm of {worst[0]} {what} at step "
                        f"{event.global_step} (limit {self.exploding:g}); lower the learning rate, add "
                        "normalisation (BatchNorm) or clip gradients",
                        worst[1], [n for n, _ in bad], event.global_step))
                    now.add("exploding")
            else:
                now.discard("exploding")
            if is_vanishing(hist, self.k, self.vanishing):
                if "vanishing" not in now:
                    out.append(HealthWarning(
                        "vanishing", layer,
                        f"vanishing gradients in '{layer}': its gradient norm has stayed below "
                        f"{self.vanishing:g} for {self.k} checks (now {_fmt(norm)} at step {event.global_step}), "
                        "so it barely learns; use ReLU instead of sigmoid/tanh, fewer layers, BatchNorm or "
                        "residual connections",
                        norm, [n for n, _ in tensors], event.global_step))
                    now.add("vanishing")
            else:
                now.discard("vanishing")
        return out


def check_model(model: nn.Module, layers: Mapping[str, str] | None = None,
                vanishing: float = VANISHING, exploding: float = EXPLODING) -> list[HealthWarning]:
    """One-shot check of the gradients now in ``model`` (after ``loss.backward()``), K = 1.

    ``layers`` maps parameter names to canvas nodes (default: the attribute before the last dot)."""
    norms = grad_norms(model)
    names = list(norms)
    lays = [(layers or {}).get(n, n.rsplit(".", 1)[0]) for n in names]
    mon = HealthMonitor(1, vanishing, exploding)
    return mon.update(GradStatsEvent(0, names, lays, [norms[n] for n in names], [], []))


# --- dead ReLUs -------------------------------------------------------------------------------

@dataclass
class ActivationStats:
    """Zeros in one activation's output on a batch. ``dead_units`` counts units (a channel of a
    feature map, or a feature) that are zero for every sample and position."""

    node: str
    type: str
    shape: tuple[int, ...]
    zero_fraction: float
    dead_units: int
    units: int

    @property
    def dead(self) -> bool:
        return self.zero_fraction > DEAD_FRACTION


@dataclass
class DeadReluReport:
    """Per-activation statistics and the warnings for those over the threshold."""

    stats: list[ActivationStats]
    warnings: list[HealthWarning]


def _stats(node: str, type_name: str, y: torch.Tensor) -> ActivationStats:
    zeros = y == 0
    frac = float(zeros.float().mean()) if y.numel() else 0.0
    units_view = zeros.transpose(0, 1).reshape(y.shape[1], -1) if y.dim() > 1 else zeros.reshape(1, -1)
    dead = int(units_view.all(dim=1).sum())
    return ActivationStats(node, type_name, tuple(y.shape[1:]), frac, dead, int(units_view.shape[0]))


def dead_relu_report(source: Graph | nn.Module, batch: torch.Tensor, *, graph: Graph | None = None,
                     threshold: float = DEAD_FRACTION) -> DeadReluReport:
    """Run ``batch`` through the network (eval mode, no gradient) and measure each ReLU's zeros.

    ``source`` is a :class:`Graph` (a model is built from it) or a model. A model compiled from a graph
    should come with ``graph=`` so functional ReLUs are found node by node; a model without a graph
    is measured through forward hooks on its ``nn.ReLU`` modules. A warning names each ReLU with
    more than ``threshold`` zeros."""
    from netbuilder.core.inspect.autograd import record_outputs
    from netbuilder.core.model.compiler import build_model
    from netbuilder.core.model.inference import infer
    from netbuilder.core.model.layers import REGISTRY, get_spec

    stats: list[ActivationStats] = []
    if isinstance(source, Graph):
        graph = source
        model: nn.Module = build_model(graph)[0]
    else:
        model = source
    param = next(model.parameters(), None)
    batch = batch.to(param.device if param is not None else "cpu")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if graph is not None:
                result = infer(graph)
                outs = record_outputs(graph, model, batch, result)
                for nid in result.order:
                    spec = get_spec(graph.node(nid).type)
                    if spec.zeroes_negatives:
                        stats.append(_stats(nid, spec.type_name, outs[nid]))
            else:
                zeroing = {s.nn_class for s in REGISTRY.values() if s.zeroes_negatives and s.nn_class}
                hooks = []
                for name, mod in model.named_modules():
                    if type(mod).__name__ in zeroing:
                        def hook(m: nn.Module, i: object, o: torch.Tensor, name: str = name) -> None:
                            stats.append(_stats(name, type(m).__name__, o))
                        hooks.append(mod.register_forward_hook(hook))
                try:
                    model(batch)
                finally:
                    for h in hooks:
                        h.remove()
    finally:
        model.train(was_training)
    warnings = [
        HealthWarning(
            "dead_relu", s.node,
            f"dead ReLU '{s.node}': {s.zero_fraction:.0%} of its outputs are zero on this batch "
            f"({s.dead_units} of {s.units} units never fire), so no gradient flows through them; lower the "
            "learning rate, check the biases and initialisation, or use LeakyReLU",
            s.zero_fraction, step=None)
        for s in stats if s.zero_fraction > threshold
    ]
    return DeadReluReport(stats, warnings)
