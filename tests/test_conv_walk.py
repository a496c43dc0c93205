"""The convolution walk-through equals torch.nn.functional.conv2d."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from netbuilder.core.learn.conv_walk import ConvWalk, ConvWalkError
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.project import load_preset
from netbuilder.core.train.data import load_dataset, prepare_images
from torch import nn

torch.set_num_threads(1)


def torch_out(w: ConvWalk) -> torch.Tensor:
    t, b, l_, r = w.pad
    x = F.pad(w.input[None], (l_, r, t, b), mode="constant" if w.padding_mode == "zeros" else w.padding_mode)
    return F.conv2d(x, w.weight, w.bias if w.has_bias else None, w.stride, 0, w.dilation, w.groups)[0]


def test_classic_example() -> None:
    w = ConvWalk.classic()
    assert tuple(w.input.shape) == (3, 5, 5) and tuple(w.weight.shape) == (4, 3, 3, 3)
    assert w.out_shape == (4, 3, 3) and len(w) == 36
    assert w.describe() == "input 3×5×5, 4 filters of 3×3×3, stride 1, no padding → output 4×3×3"
    # Small integers: the walk is exact.
    expected = F.conv2d(w.input[None], w.weight, w.bias)[0]
    assert torch.equal(w.output(), expected)
    assert set(w.input.unique().tolist()) <= {0.0, 1.0, 2.0}
    assert set(w.weight.unique().tolist()) <= {-1.0, 0.0, 1.0}


def test_one_step_shows_products_sums_and_the_output_cell() -> None:
    w = ConvWalk.classic()
    s = w.step_at(4)  # filter 0, row 1, column 1
    assert (s.m, s.i, s.j) == (0, 1, 1)
    assert s.rows == [1, 2, 3] and s.cols == [1, 2, 3] and s.channels == [0, 1, 2]
    assert torch.equal(s.patch, w.input[:, 1:4, 1:4])
    assert torch.equal(s.products, w.input[:, 1:4, 1:4] * w.weight[0])
    assert s.slice_sums.tolist() == [float((w.input[c, 1:4, 1:4] * w.weight[0, c]).sum()) for c in range(3)]
    assert s.total == sum(s.slice_sums.tolist())
    assert s.value == s.total + float(w.bias[0])
    text = s.formula()
    assert text.count("\n") == 3 and "→ output[0, 1, 1]" in text and "bias" in text
    s2 = w.step_at(9)  # first cell of the second filter
    assert (s2.m, s2.i, s2.j) == (1, 0, 0)


@pytest.mark.parametrize(
    ("c", "h", "wd", "m", "k", "stride", "pad", "dil"),
    [
        (1, 7, 7, 2, 3, 1, 0, 1),
        (3, 8, 6, 4, 3, 2, 1, 1),
        (2, 9, 9, 3, (3, 2), (2, 1), (1, 2), 1),
        (4, 10, 11, 2, 3, 3, 2, 2),
        (1, 5, 5, 1, 5, 1, 2, 1),
        (3, 6, 6, 2, 1, 2, 0, 1),
    ],
)
@pytest.mark.parametrize("values", ["integers", "random"])
def test_output_equals_torch(c: int, h: int, wd: int, m: int, k: object, stride: object, pad: object, dil: int,
                             values: str) -> None:
    w = ConvWalk.random(c, h, wd, m, k, stride, pad, dil, values=values, seed=3)
    expected = F.conv2d(w.input[None], w.weight, w.bias, stride, pad, dil)[0]
    assert w.out_shape == tuple(expected.shape)
    if values == "integers":
        assert torch.equal(w.output(), expected)
    else:
        torch.testing.assert_close(w.output(), expected, rtol=1e-12, atol=1e-12)


def test_padding_is_exposed_as_a_border() -> None:
    w = ConvWalk.random(2, 4, 5, 1, 3, padding=1)
    assert tuple(w.padded.shape) == (2, 6, 7)
    assert w.border[0].all() and w.border[:, 0].all() and not w.border[1:5, 1:6].any()
    assert torch.equal(w.padded[:, 1:5, 1:6], w.input)
    assert (w.padded[:, w.border] == 0).all()
    s = w.step_at(0)
    assert s.rows == [0, 1, 2] and s.patch[:, 0].eq(0).all()  # the first window covers the zero border


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_same_padding_modes_and_groups_from_a_real_layer() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 7, 6)
    for conv in (
        nn.Conv2d(4, 6, 4, padding="same"),  # even kernel: torch pads more at the bottom/right
        nn.Conv2d(4, 6, 3, stride=2, padding=1, padding_mode="reflect"),
        nn.Conv2d(4, 6, 3, padding=2, padding_mode="circular", dilation=2),
        nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=False),
    ):
        w = ConvWalk.from_conv(conv, x)
        with torch.no_grad():
            expected = conv(x[None])[0].double()
        torch.testing.assert_close(w.output(), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(w.output(), torch_out(w), rtol=1e-12, atol=1e-12)


def test_real_weights_on_a_real_image() -> None:
    graph = load_preset("lenet5-mnist").graph
    torch.manual_seed(0)
    model, _ = build_model(graph)
    ds = load_dataset("sample")
    image = prepare_images(ds.test_x[:1], ds, (1, 28, 28), "none")
    w1 = ConvWalk.from_layer(graph, model, "conv1", image[0])
    assert w1.out_shape == (6, 28, 28) and w1.pad == (2, 2, 2, 2)
    with torch.no_grad():
        torch.testing.assert_close(w1.output().float(), model.conv1(image)[0], rtol=1e-5, atol=1e-5)
    # conv2 walks what reaches it: conv1 → relu → pool of the same image.
    w2 = ConvWalk.from_layer(graph, model, "conv2", image)
    assert w2.out_shape == (16, 10, 10) and tuple(w2.input.shape) == (6, 14, 14)
    with torch.no_grad():
        ref = model.conv2(F.max_pool2d(F.relu(model.conv1(image)), 2))[0]
    torch.testing.assert_close(w2.output().float(), ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ConvWalkError, match="not a convolution"):
        ConvWalk.from_layer(graph, model, "pool1", image)


def test_cursor_and_partial_output() -> None:
    w = ConvWalk.classic()
    assert w.partial_output().isnan().all()
    first = w.advance()
    assert first is not None and first.index == 0
    part = w.partial_output()
    assert part[0, 0, 0] == first.value and part.isnan().sum() == 35
    while w.advance() is not None:
        pass
    assert w.cursor == 35 and torch.equal(w.partial_output(), w.output())
    w.rewind()
    assert w.cursor == -1


def test_bad_sizes_are_user_errors() -> None:
    with pytest.raises(ConvWalkError, match="does not fit"):
        ConvWalk.random(1, 3, 3, 1, 5)
    with pytest.raises(ConvWalkError, match="one slice per input channel"):
        ConvWalk(torch.zeros(3, 5, 5), torch.zeros(2, 2, 3, 3))
    with pytest.raises(ConvWalkError, match="at least 1"):
        ConvWalk.random(0, 5, 5, 1, 3)
    with pytest.raises(IndexError):
        ConvWalk.classic().step_at(36)
