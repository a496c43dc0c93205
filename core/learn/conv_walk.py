"""A convolution computed one output cell at a time, for the teaching view.

:class:`ConvWalk` holds an input C×H×W, M filters of C slices (kh×kw each), a bias per filter,
stride, padding (exposed as the padded input plus a mask of the border, so a view can draw it) and
dilation. :meth:`ConvWalk.step_at` gives, for output cell (m, i, j): the window's rows and columns
in the padded input, the patch under it, the element-wise products of every slice with its
channel, each slice's sum, their total, the bias and the value written at (m, i, j). Walking every
position (filter by filter, row by row) gives exactly ``torch.nn.functional.conv2d``.

Values are float64 so that small integers stay exact and a learner can check every sum by hand.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from netbuilder.core.errors import UserError
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.shapes import pair
from torch import nn


class ConvWalkError(UserError, ValueError):
    """Sizes that do not make a convolution (kernel larger than the padded input, ...)."""


@dataclass
class ConvStep:
    """Everything that happens at one window position. Tensors are C×kh×kw unless noted; for grouped
    convolutions C is the number of channels in the filter's group (listed in ``channels``)."""

    index: int
    m: int  # filter = output channel
    i: int  # output row
    j: int  # output column
    rows: list[int]  # rows of the padded input under the window (dilation skips rows)
    cols: list[int]
    channels: list[int]  # input channels this filter sees
    patch: torch.Tensor
    weights: torch.Tensor
    products: torch.Tensor
    slice_sums: torch.Tensor  # C: one sum per slice
    total: float  # sum of the slice sums
    bias: float
    value: float  # total + bias, written at output[m, i, j]

    def formula(self, digits: int = 4) -> str:
        """The arithmetic as text: one line per slice, then the total plus bias."""
        def f(v: float) -> str:
            return f"{v:.{digits}g}" if v >= 0 else f"({v:.{digits}g})"
        lines = []
        for c, ch in enumerate(self.channels):
            terms = " + ".join(f"{f(float(a))}·{f(float(b))}" for a, b in
                               zip(self.patch[c].flatten().tolist(), self.weights[c].flatten().tolist(), strict=True))
            lines.append(f"channel {ch}: {terms} = {float(self.slice_sums[c]):.{digits}g}")
        sums = " + ".join(f(float(s)) for s in self.slice_sums.tolist())
        lines.append(f"{sums} + bias {f(self.bias)} = {self.value:.{digits}g} → output[{self.m}, {self.i}, {self.j}]")
        return "\n".join(lines)


def _padding(padding: Any, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) for an int, a pair, a 4-tuple, 'valid' or 'same' (as torch pads it)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        th, tw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    if isinstance(padding, Sequence) and not isinstance(padding, str) and len(padding) == 4:
        t, b, l_, r = (int(v) for v in padding)
        return (t, b, l_, r)
    ph, pw = pair(padding)
    return (ph, ph, pw, pw)


class ConvWalk:
    """A step-by-step 2-D convolution of one image (see the module docstring)."""

    def __init__(
        self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: Any = 1,
        padding: Any = 0, dilation: Any = 1, groups: int = 1, padding_mode: str = "zeros",
    ) -> None:
        # Teaching sizes are tiny: always work on the CPU in float64, whatever device the model is on.
        x = input.detach().cpu().to(torch.float64)
        if x.dim() == 4 and x.shape[0] == 1:
            x = x[0]
        w = weight.detach().cpu().to(torch.float64)
        if x.dim() != 3 or w.dim() != 4:
            raise ConvWalkError(f"need an input C×H×W and weights M×C×kh×kw, not {tuple(x.shape)} and "
                                f"{tuple(w.shape)}")
        if groups < 1 or x.shape[0] % groups or w.shape[0] % groups or w.shape[1] * groups != x.shape[0]:
            raise ConvWalkError(f"the filters have {w.shape[1]} slices but the input has {x.shape[0]} channels"
                                + (f" in {groups} groups" if groups > 1 else "")
                                + "; each filter needs one slice per input channel")
        self.input = x
        self.weight = w
        self.bias = (bias.detach().cpu().to(torch.float64) if bias is not None
                     else torch.zeros(w.shape[0], dtype=torch.float64))
        self.has_bias = bias is not None
        self.stride = pair(stride)
        self.dilation = pair(dilation)
        self.groups = groups
        self.kernel = (int(w.shape[2]), int(w.shape[3]))
        self.pad = _padding(padding, self.kernel, self.dilation)
        self.padding_mode = padding_mode
        t, b, l_, r = self.pad
        mode = "constant" if padding_mode == "zeros" else padding_mode
        if any(self.pad):
            try:
                self.padded = F.pad(x[None], (l_, r, t, b), mode=mode)[0]
            except (RuntimeError, NotImplementedError, ValueError) as e:
                raise ConvWalkError(f"cannot pad {tuple(x.shape)} by {self.pad} in mode {padding_mode}: {e}") from e
        else:
            self.padded = x.clone()
        hp, wp = self.padded.shape[1:]
        self.border = torch.ones(hp, wp, dtype=torch.bool)  # True where the value comes from padding
        self.border[t:t + x.shape[1], l_:l_ + x.shape[2]] = False
        eff = ((self.kernel[0] - 1) * self.dilation[0] + 1, (self.kernel[1] - 1) * self.dilation[1] + 1)
        if eff[0] > hp or eff[1] > wp:
            raise ConvWalkError(f"the {eff[0]}×{eff[1]} window does not fit in the {hp}×{wp} padded input; use a "
                                "smaller kernel or more padding")
        self.out_shape = (int(w.shape[0]), (hp - eff[0]) // self.stride[0] + 1, (wp - eff[1]) // self.stride[1] + 1)
        self.cursor = -1

    # --- constructors -------------------------------------------------------------------------
    @classmethod
    def random(
        cls, channels: int = 3, height: int = 5, width: int = 5, filters: int = 4, kernel: Any = 3,
        stride: Any = 1, padding: Any = 0, dilation: Any = 1, bias: bool = True, values: str = "integers",
        seed: int | None = 0,
    ) -> ConvWalk:
        """Random values (``values="random"``: normal) or small integers (input 0..2, weights −1..1,
        bias 0..1, so sums can be checked by hand)."""
        for name, v in (("channels", channels), ("height", height), ("width", width), ("filters", filters)):
            if v < 1:
                raise ConvWalkError(f"{name} must be at least 1, not {v}")
        kh, kw = pair(kernel)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        if values == "integers":
            x = torch.randint(0, 3, (channels, height, width), generator=gen).double()
            w = torch.randint(-1, 2, (filters, channels, kh, kw), generator=gen).double()
            b = torch.randint(0, 2, (filters,), generator=gen).double()
        elif values == "random":
            x = torch.randn(channels, height, width, generator=gen, dtype=torch.float64)
            w = torch.randn(filters, channels, kh, kw, generator=gen, dtype=torch.float64)
            b = torch.randn(filters, generator=gen, dtype=torch.float64)
        else:
            raise ConvWalkError(f"values must be 'integers' or 'random', not {values!r}")
        return cls(x, w, b if bias else None, stride, padding, dilation)

    @classmethod
    def classic(cls, values: str = "integers", seed: int | None = 0) -> ConvWalk:
        """The classic example: input 3×5×5, four 3×3×3 filters, no padding, stride 1 → output 4×3×3."""
        return cls.random(3, 5, 5, 4, 3, 1, 0, values=values, seed=seed)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, input: torch.Tensor) -> ConvWalk:
        """The real layer ``conv`` (its weights, bias, stride, padding, dilation, groups, padding mode)
        applied to ``input`` (C×H×W or 1×C×H×W: a test image for a first layer, or the feature map
        that reaches the layer)."""
        return cls(input, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups,
                   conv.padding_mode)

    @classmethod
    def from_layer(cls, graph: Graph, model: nn.Module, node_id: str, image: torch.Tensor) -> ConvWalk:
        """The convolution node ``node_id`` of a model compiled from ``graph``, on what reaches it when
        ``image`` (C×H×W or 1×C×H×W, prepared as for training) goes through the network."""
        from netbuilder.core.inspect.autograd import record_outputs
        from netbuilder.core.model.codegen import generate
        from netbuilder.core.model.inference import infer

        result = infer(graph)
        code = generate(graph, result)
        conv = getattr(model, code.attr_names.get(node_id, ""), None)
        if not isinstance(conv, nn.Conv2d):
            raise ConvWalkError(f"'{node_id}' is not a convolution layer")
        x = image if image.dim() == 4 else image[None]
        param = next(model.parameters(), None)
        x = x.float().to(param.device if param is not None else "cpu")
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                outs = record_outputs(graph, model, x, result, code)
        finally:
            model.train(was)
        src = graph.in_edges(node_id)[0].src
        return cls.from_conv(conv, outs[src][0])

    # --- walking ------------------------------------------------------------------------------
    def __len__(self) -> int:
        m, oh, ow = self.out_shape
        return m * oh * ow

    def position(self, index: int) -> tuple[int, int, int]:
        """(m, i, j) of step ``index``: filter by filter, then row by row."""
        _, oh, ow = self.out_shape
        if not 0 <= index < len(self):
            raise IndexError(f"step {index} is outside 0..{len(self) - 1}")
        return index // (oh * ow), (index // ow) % oh, index % ow

    def step_at(self, index: int) -> ConvStep:
        """The computation of output cell number ``index``."""
        m, i, j = self.position(index)
        (sh, sw), (dh, dw), (kh, kw) = self.stride, self.dilation, self.kernel
        rows = [i * sh + a * dh for a in range(kh)]
        cols = [j * sw + b * dw for b in range(kw)]
        per = self.weight.shape[1]
        g = m // (self.out_shape[0] // self.groups)
        channels = list(range(g * per, (g + 1) * per))
        patch = self.padded[channels][:, rows][:, :, cols]
        weights = self.weight[m]
        products = patch * weights
        slice_sums = products.sum(dim=(1, 2))
        total = float(slice_sums.sum())
        bias = float(self.bias[m])
        return ConvStep(index, m, i, j, rows, cols, channels, patch, weights, products, slice_sums, total, bias,
                        total + bias)

    def __iter__(self) -> Iterator[ConvStep]:
        for k in range(len(self)):
            yield self.step_at(k)

    def advance(self) -> ConvStep | None:
        """Move the cursor one step on; None (and the cursor stays at the end) when done."""
        if self.cursor + 1 >= len(self):
            return None
        self.cursor += 1
        return self.step_at(self.cursor)

    def rewind(self) -> None:
        """Back to before the first step."""
        self.cursor = -1

    def partial_output(self, upto: int | None = None) -> torch.Tensor:
        """The output after steps 0..``upto`` (default: the cursor); cells not reached yet are NaN."""
        upto = self.cursor if upto is None else upto
        out = torch.full(self.out_shape, float("nan"), dtype=torch.float64)
        for k in range(upto + 1):
            s = self.step_at(k)
            out[s.m, s.i, s.j] = s.value
        return out

    def output(self) -> torch.Tensor:
        """The whole output M×OH×OW, computed by walking every position."""
        return self.partial_output(len(self) - 1)

    def describe(self) -> str:
        """One line for the view's header."""
        c, h, w = self.input.shape
        m, oh, ow = self.out_shape
        t, b, l_, r = self.pad
        pad = "no padding" if not any(self.pad) else (
            f"padding {t}" if len({t, b, l_, r}) == 1 else f"padding top {t}, bottom {b}, left {l_}, right {r}")
        return (f"input {c}×{h}×{w}, {m} filters of {self.weight.shape[1]}×{self.kernel[0]}×{self.kernel[1]}, "
                f"stride {self.stride[0] if self.stride[0] == self.stride[1] else self.stride}, {pad} → output "
                f"{m}×{oh}×{ow}")
