"""The tutorial's training step, replayed one cell at a time on the current network.

The PyTorch "Neural Networks" tutorial trains with five lines::

    net.zero_grad()
    output = net(input)
    loss = criterion(output, target)
    loss.backward()
    for f in net.parameters(): f.data.sub_(f.grad.data * learning_rate)

:class:`TrainingStep` runs exactly these, one per :meth:`TrainingStep.step` call, on the model built
from the canvas. Each call returns a :class:`StepInfo`: a title, a sentence for learners with the
real numbers, the code line, the canvas nodes and autograd nodes involved, and the before/after
values of a watched parameter and its gradient (default: the first layer's bias, as in the
tutorial's ``conv1.bias.grad``). After step 5 the next call starts a new iteration at step 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from netbuilder.core.errors import UserError
from netbuilder.core.inspect.autograd import AutogradGraph, graph_from_loss, random_input, record_outputs
from netbuilder.core.model.codegen import generate
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import InferenceResult, infer
from netbuilder.core.model.shapes import fmt_shape
from torch import nn

STATES = ("zero_grad", "forward", "loss", "backward", "update")
TITLES = {
    "zero_grad": "1. Clear the gradients",
    "forward": "2. Forward pass",
    "loss": "3. Compute the loss",
    "backward": "4. Backward pass",
    "update": "5. Update the weights",
}
CODE = {
    "zero_grad": "net.zero_grad()",
    "forward": "output = net(input)",
    "loss": "loss = criterion(output, target)",
    "backward": "loss.backward()",
    "update": "for f in net.parameters(): f.data.sub_(f.grad.data * learning_rate)",
}
CRITERIA = {"mse": "nn.MSELoss()", "cross-entropy": "nn.CrossEntropyLoss()"}


class StepThroughError(UserError):
    """The step-through cannot run on this network or with these settings."""


@dataclass
class StepInfo:
    """What one step did. ``watch`` says which pair changed here: ``"grad"`` (``grad_before`` →
    ``grad_after``) or ``"value"`` (``value_before`` → ``value_after``) or ``""``."""

    number: int  # 1..5
    state: str
    title: str
    narrative: str
    code: str
    canvas_nodes: list[str]
    autograd_nodes: list[int]
    param: str
    value_before: torch.Tensor
    value_after: torch.Tensor
    grad_before: torch.Tensor | None
    grad_after: torch.Tensor | None
    watch: str = ""
    loss: float | None = None
    iteration: int = 1


def format_values(t: torch.Tensor | None, limit: int = 6, digits: int = 4) -> str:
    """``None`` or ``tensor([0.1234, -0.0567, …])`` with at most ``limit`` values and the count."""
    if t is None:
        return "None"
    flat = t.detach().flatten().tolist()
    shown = ", ".join(f"{v:.{digits}f}" for v in flat[:limit])
    more = f", … ({len(flat)} values)" if len(flat) > limit else ""
    return f"tensor([{shown}{more}])"


class TrainingStep:
    """One training step of ``graph``'s model, five cells, one per :meth:`step` (see module docs).

    ``input`` defaults to a random tensor of the Input's shape (batch 1) and ``target`` to a random
    tensor of the output's shape for ``loss="mse"`` (the tutorial), or random class indices for
    ``"cross-entropy"``. ``param`` names the parameter to watch (default: the first layer's bias, or
    its weight when it has no bias). ``model`` may be a model compiled from ``graph`` (e.g. trained)."""

    def __init__(
        self, graph: Graph, model: nn.Module | None = None, input: torch.Tensor | None = None,
        target: torch.Tensor | None = None, *, loss: str = "mse", lr: float = 0.01, param: str | None = None,
        seed: int | None = 0, result: InferenceResult | None = None,
    ) -> None:
        self.graph = graph
        self.result = result or infer(graph)
        if not self.result.ok:
            first = self.result.errors[0].message if self.result.errors else "the graph has no output"
            raise StepThroughError(f"the network is not valid yet: {first}")
        if loss not in CRITERIA:
            raise StepThroughError(f"unknown loss {loss!r}; choose one of {', '.join(CRITERIA)}")
        if not lr > 0:
            raise StepThroughError(f"the learning rate must be positive, not {lr}")
        self.code = generate(graph, self.result)
        if model is None:
            with torch.random.fork_rng(devices=[]):  # seeded weights without disturbing the caller's RNG
                if seed is not None:
                    torch.manual_seed(seed)
                model, self.code = build_model(graph, self.result)
        self.net = model
        self.net.train()
        self.loss_name = loss
        self.lr = float(lr)
        assert self.result.input_id is not None and self.result.output_id is not None
        in_shape = self.result.nodes[self.result.input_id].output_shape
        out_shape = self.result.nodes[self.result.output_id].output_shape
        assert in_shape is not None and out_shape is not None
        first_param = next(self.net.parameters(), None)
        device = first_param.device if first_param is not None else torch.device("cpu")
        self.input = (input if input is not None else random_input(in_shape, 1, seed, device)).to(device)
        n = self.input.shape[0]
        if target is None:
            gen = torch.Generator().manual_seed(seed + 1) if seed is not None else None
            if loss == "mse":
                target = torch.randn(n, *out_shape, generator=gen)
            else:
                if len(out_shape) != 1:
                    raise StepThroughError(f"cross-entropy needs an output N×classes, not {fmt_shape(out_shape)}")
                target = torch.randint(0, out_shape[0], (n,), generator=gen)
        self.target = target.to(device)
        names = [k for k, _ in self.net.named_parameters()]
        if not names:
            raise StepThroughError("the network has no parameters, so a training step changes nothing; add a "
                                   "Conv2d or Linear layer")
        self.param = param or self._default_param(names)
        if self.param not in names:
            raise StepThroughError(f"there is no parameter {self.param!r}; choose one of {', '.join(names)}")
        self._p = dict(self.net.named_parameters())[self.param]
        self.number = 0  # 0 before the first step, then 1..5
        self.iteration = 0
        self.output: torch.Tensor | None = None
        self.loss: torch.Tensor | None = None
        self.autograd: AutogradGraph | None = None
        self.history: list[StepInfo] = []
        self._outputs: dict[str, torch.Tensor] = {}
        self._attr_to_node = {a: nid for nid, a in self.code.attr_names.items()}

    def _default_param(self, names: Sequence[str]) -> str:
        for nid in self.result.order:
            attr = self.code.attr_names.get(nid)
            if attr is None:
                continue
            mine = [n for n in names if n.rsplit(".", 1)[0] == attr]
            if mine:
                return next((n for n in mine if n.endswith(".bias")), mine[0])
        return names[0]

    @property
    def state(self) -> str:
        """``"ready"`` before the first step, else the name of the last step done."""
        return "ready" if self.number == 0 else STATES[self.number - 1]

    @property
    def next_state(self) -> str:
        """The step :meth:`step` will do next."""
        return STATES[self.number % len(STATES)]

    def _param_nodes(self) -> list[str]:
        owners = {self._attr_to_node.get(n.rsplit(".", 1)[0]) for n, _ in self.net.named_parameters()}
        return [nid for nid in self.result.order if nid in owners]

    def _ag_ids(self, pred: str) -> list[int]:
        g = self.autograd
        if g is None:
            return []
        if pred == "params":
            return [n.id for n in g.nodes if n.param is not None]
        if pred == "layers":
            return [n.id for n in g.nodes if n.layer is not None]
        if pred == "loss":
            return g.nodes_of_layer(None)
        return [n.id for n in g.nodes]

    def _criterion(self, output: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "mse":
            return F.mse_loss(output, self.target.view_as(output).to(output.dtype))
        return F.cross_entropy(output, self.target.long())

    def step(self) -> StepInfo:
        """Do the next of the five steps and describe it."""
        state = self.next_state
        if state == "zero_grad":
            self.iteration += 1
        p = self._p
        value_before = p.detach().clone()
        grad_before = None if p.grad is None else p.grad.detach().clone()
        name = self.param
        loss_value: float | None = None
        watch = ""
        if state == "zero_grad":
            self.net.zero_grad()
            self.output = self.loss = None
            canvas = self._param_nodes()
            ids = self._ag_ids("params")
            was = "None" if grad_before is None else format_values(grad_before)
            narrative = (
                f"Gradients add up in each parameter's .grad, so every step starts by clearing them. "
                f"{name}.grad was {was} and is now None"
                + (" (nothing has been computed yet)." if grad_before is None else ".")
            )
            watch = "grad"
        elif state == "forward":
            self._outputs = record_outputs(self.graph, self.net, self.input, self.result, self.code)
            assert self.result.output_id is not None
            self.output = self._outputs[self.result.output_id]
            canvas = list(self.result.order)
            # The loss is computed now but shown at step 3: the autograd graph then has one numbering
            # from the forward step on, so the nodes highlighted here are the ones shown later.
            self.loss = self._criterion(self.output)
            self.autograd = graph_from_loss(self.graph, self.result, self.code, self.net, self._outputs,
                                            self.loss, self.loss_name)
            ids = self._ag_ids("layers")
            narrative = (
                f"The input {fmt_shape(tuple(self.input.shape[1:]))} (batch of {self.input.shape[0]}) flows through "
                f"{len(canvas) - 1} layers to an output of shape {tuple(self.output.shape)}. While it computes, "
                f"autograd records every operation ({len(ids)} backward nodes so far), building the graph that the "
                "backward pass will walk."
            )
        elif state == "loss":
            assert self.output is not None and self.loss is not None and self.autograd is not None
            if self.loss_name == "mse":
                how = (f"the mean of the squared differences between the {self.output.numel()} outputs and the "
                       "target")
            else:
                how = "minus the log of the probability given to the right class, averaged over the batch"
            loss_value = float(self.loss.detach())
            assert self.result.output_id is not None
            canvas = [self.result.output_id]
            ids = self._ag_ids("loss")
            narrative = (f"criterion = {CRITERIA[self.loss_name]} measures how far the output is from the target: "
                         f"{how}. loss = {loss_value:.4f}. loss.grad_fn is {self.autograd.nodes[0].name}, the top of "
                         f"the autograd graph ({len(self.autograd.nodes)} backward nodes).")
        elif state == "backward":
            assert self.loss is not None
            self.loss.backward()  # type: ignore[no-untyped-call]
            loss_value = float(self.loss.detach())
            canvas = [n for n in reversed(self.result.order) if n != self.result.input_id]
            ids = self._ag_ids("all")
            grad_after = p.grad
            narrative = (
                f"loss.backward() walks the autograd graph from the loss back to every parameter and stores "
                f"d(loss)/d(parameter) in its .grad. {name}.grad was "
                f"{'None' if grad_before is None else format_values(grad_before)}; now it is "
                f"{format_values(grad_after)}."
            )
            watch = "grad"
        else:  # update
            learning_rate = self.lr
            with torch.no_grad():
                for f in self.net.parameters():
                    if f.grad is not None:
                        f.data.sub_(f.grad.data * learning_rate)
            canvas = self._param_nodes()
            ids = self._ag_ids("params")
            narrative = (
                f"Each weight takes a small step against its gradient: weight = weight − learning_rate × gradient "
                f"with learning_rate = {learning_rate:g}. {name} was {format_values(value_before)} and is now "
                f"{format_values(p.detach())}. Repeating these five steps over many batches is training."
            )
            watch = "value"
        self.number = self.number % len(STATES) + 1
        info = StepInfo(
            self.number, state, TITLES[state], narrative, CODE[state], canvas, ids, name, value_before,
            p.detach().clone(), grad_before, None if p.grad is None else p.grad.detach().clone(), watch,
            loss_value, self.iteration,
        )
        self.history.append(info)
        return info

    def run_all(self) -> list[StepInfo]:
        """Do the remaining steps of this iteration (all five from the start)."""
        out = [self.step()]
        while self.number != len(STATES):
            out.append(self.step())
        return out

    @staticmethod
    def code_listing(lr: float = 0.01, loss: str = "mse") -> list[str]:
        """The whole tutorial cell, for a view that highlights the current line."""
        return [
            f"criterion = {CRITERIA.get(loss, 'nn.MSELoss()')}",
            f"learning_rate = {lr:g}",
            *(CODE[s] for s in STATES),
        ]


__all__ = ["CODE", "STATES", "TITLES", "StepInfo", "StepThroughError", "TrainingStep", "format_values"]
