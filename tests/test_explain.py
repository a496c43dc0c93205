"""The explain panel's text: sizes, arithmetic and parameter counts for every layer, and the notes."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from netbuilder.core.learn.explain import explain, window_arithmetic
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import infer
from netbuilder.core.model.layers import REGISTRY, LayerSpec, registered
from netbuilder.core.model.project import load_preset
from netbuilder.core.model.shapes import conv_out, same


def test_lenet_tutorial_text_matches_the_issue() -> None:
    ex = explain(load_preset("lenet-tutorial").graph)
    assert ex.entry("conv1").text == (
        "conv1 — Conv2d: 1 input channel → 6 output channels, 5×5 kernel, stride 1, no padding. Each of the 6 "
        "filters has 1 slice (one per input channel) of 5×5 weights plus a bias: 156 parameters. Output "
        "N×6×28×28: (32 − 5)/1 + 1 = 28."
    )
    assert ex.entry("pool1").text.startswith(
        "pool1 — MaxPool2d 2×2: keeps the largest of each 2×2 block; N×6×28×28 → N×6×14×14; no parameters.")
    assert ex.pipeline_text() == ("input → conv2d → relu → maxpool2d → conv2d → relu → maxpool2d → flatten → "
                                  "linear → relu → linear → relu → linear → loss")
    assert ex.pipeline_text(7) == "input → conv2d → relu → … → relu → linear → loss"
    assert ex.pipeline[0] == ("input", "input") and ex.pipeline[-1] == (None, "loss")


# (node, output shape text, arithmetic, parameter count text) for both LeNet-5 presets.
EXPECTED = {
    "lenet-tutorial": {
        "input": ("N×1×32×32", "", None),
        "conv1": ("N×6×28×28", "(32 − 5)/1 + 1 = 28", "156"),
        "relu1": ("N×6×28×28", "", None),
        "pool1": ("N×6×14×14", "(28 − 2)/2 + 1 = 14", None),
        "conv2": ("N×16×10×10", "(14 − 5)/1 + 1 = 10", "2,416"),
        "relu2": ("N×16×10×10", "", None),
        "pool2": ("N×16×5×5", "(10 − 2)/2 + 1 = 5", None),
        "flatten": ("N×400", "16 × 5 × 5 = 400", None),
        "fc1": ("N×120", "in_features 400 = 16×5×5 from 'flatten'", "48,120"),
        "relu3": ("N×120", "", None),
        "fc2": ("N×84", "", "10,164"),
        "relu4": ("N×84", "", None),
        "fc3": ("N×10", "", "850"),
    },
    "lenet5-mnist": {
        "input": ("N×1×28×28", "", None),
        "conv1": ("N×6×28×28", "(28 + 2·2 − 5)/1 + 1 = 28", "156"),
        "pool1": ("N×6×14×14", "(28 − 2)/2 + 1 = 14", None),
        "conv2": ("N×16×10×10", "(14 − 5)/1 + 1 = 10", "2,416"),
        "pool2": ("N×16×5×5", "(10 − 2)/2 + 1 = 5", None),
        "flatten": ("N×400", "16 × 5 × 5 = 400", None),
        "fc1": ("N×120", "in_features 400 = 16×5×5 from 'flatten'", "48,120"),
        "fc2": ("N×84", "", "10,164"),
        "fc3": ("N×10", "", "850"),
    },
}


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_lenet5_sizes_and_parameter_counts_for_every_layer(preset: str) -> None:
    graph = load_preset(preset).graph
    ex = explain(graph)
    assert [e.node for e in ex.entries] == [n.id for n in graph.nodes]
    model, code = build_model(graph)
    per_node = {nid: sum(p.numel() for p in getattr(model, attr).parameters())
                for nid, attr in code.attr_names.items()}
    for e in ex.entries:
        assert e.output_shape is not None and e.error is None and e.notes == []
        assert e.params == per_node.get(e.node, 0)  # what torch allocates
        if e.params:
            assert f"{e.params:,} parameters" in e.text
            assert e.param_arithmetic.endswith(f"= {e.params:,}")
        elif e.type != "Input":
            assert "no parameters" in e.text
    for nid, (shape, arith, params) in EXPECTED[preset].items():
        e = ex.entry(nid)
        assert shape in e.text, (nid, e.text)
        assert e.arithmetic == arith
        if arith:
            assert arith in e.text
        if params:
            assert f"{params} parameters" in e.text
    assert ex.summary.endswith("61,706 parameters to learn.")
    assert "fc1 — Linear: 400 inputs → 120 outputs" in ex.entry("fc1").text
    assert "400 × 120 weights + 120 biases = 48,120 parameters" in ex.entry("fc1").text
    assert "6 input channels → 16 output channels" in ex.entry("conv2").text
    assert "16 filters has 6 slices" in ex.entry("conv2").text


def test_resnet_entries() -> None:
    ex = explain(load_preset("resnet-tiny").graph)
    assert ex.entry("bn0").title == "bn0 — BatchNorm2d over 16 channels"
    assert "2 × 16 = 32 parameters" in ex.entry("bn0").text
    assert "adds its 2 inputs (bn2 + relu0)" in ex.entry("add1").text
    assert "(no bias): 2,304 parameters" in ex.entry("conv1").text
    assert ex.entry("conv1").param_arithmetic == "16 × (16 × 3 × 3) = 2,304"
    assert "global average pooling" in ex.entry("gap").text
    assert "→ add → relu →" in ex.pipeline_text()


def test_window_arithmetic_rounding_and_ceil() -> None:
    assert window_arithmetic(28, 3, 2, 0) == "⌊(28 − 3)/2⌋ + 1 = ⌊12.5⌋ + 1 = 13"
    assert window_arithmetic(28, 3, 2, 0, ceil_mode=True) == "⌈(28 − 3)/2⌉ + 1 = ⌈12.5⌉ + 1 = 14"
    assert window_arithmetic(10, 3, 1, 1, 2) == "(10 + 2·1 − 2·(3 − 1) − 1)/1 + 1 = 8"
    # torch drops a last window starting in the right padding (ceil mode)
    assert conv_out(5, 2, 2, 1, 1, True) == 3
    assert window_arithmetic(5, 2, 2, 1, 1, True).endswith("= 3")


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 64), k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 3),
       d=st.integers(1, 3), ceil=st.booleans())
def test_window_arithmetic_ends_with_the_shape_rule(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> None:
    if size + 2 * p < d * (k - 1) + 1:
        return
    text = window_arithmetic(size, k, s, p, d, ceil)
    assert int(text.rsplit("= ", 1)[1]) == conv_out(size, k, s, p, d, ceil)
    nums = [int(v) for v in re.findall(r"\d+", text.split("/")[0])]
    assert nums[0] == size


def test_non_square_stride_and_concat() -> None:
    g = Graph("ns")
    g.add_node("Input", "input", {"shape": [3, 30, 20]})
    g.add_node("Conv2d", "c", {"out_channels": 4, "kernel_size": [3, 5], "stride": 2, "padding": [1, 0]})
    g.add_node("Conv2d", "d", {"out_channels": 2, "kernel_size": [3, 5], "stride": 2, "padding": [1, 0]})
    g.add_node("Concat", "cat")
    g.add_node("MaxPool2d", "mp", {"kernel_size": 3, "stride": 1})
    for s, d in [("input", "c"), ("input", "d"), ("c", "cat"), ("d", "cat"), ("cat", "mp")]:
        g.connect(s, d)
    ex = explain(g)
    c = ex.entry("c")
    assert c.arithmetic == "height ⌊(30 + 2·1 − 3)/2⌋ + 1 = ⌊14.5⌋ + 1 = 15, width ⌊(20 − 5)/2⌋ + 1 = ⌊7.5⌋ + 1 = 8"
    assert "3×5 kernel, stride 2, padding 1×0" in c.text and "N×4×15×8" in c.text
    assert ex.entry("cat").arithmetic == "4 + 2 = 6 channels"
    assert "moving 1 pixel at a time (the windows overlap)" in ex.entry("mp").text
    model, _ = build_model(g)
    assert tuple(model(torch.zeros(1, 3, 30, 20)).shape) == (1, 6, 13, 6)
    assert "N×6×13×6" in ex.entry("mp").text


def test_hand_set_inferable_value_and_linear_that_no_longer_fits() -> None:
    graph = load_preset("lenet-tutorial").graph
    graph.set_params("conv1", {"in_channels": 1})
    graph.set_params("fc1", {"in_features": 400})
    ex = explain(graph)
    assert ex.entry("conv1").notes and "in_channels = 1 was set by hand" in ex.entry("conv1").notes[0]
    assert "'auto'" in ex.entry("conv1").notes[0]
    # Now the input grows: conv2 changes the features reaching fc1.
    graph.set_params("conv2", {"out_channels": 8})
    ex = explain(graph)
    fc1 = ex.entry("fc1")
    assert fc1.error is not None and "in_features" in fc1.error
    assert any("in_features = 400 was set by hand but the input now gives 200 features" in n for n in fc1.notes)
    assert "this layer has a problem" in fc1.text
    assert "sizes are unknown" in ex.entry("fc2").text
    assert ex.errors and "problem" in ex.summary
    assert "Note: in_features = 400" in ex.text()


def test_new_layer_types_get_a_generic_entry() -> None:
    spec = LayerSpec("Mystery", "Activation", "Mystery(x) does something new. More words here.", (), same,
                     lambda p: "", functional="torch.sigmoid")
    with registered(spec):
        g = Graph()
        g.add_node("Input", "input", {"shape": [5]})
        g.add_node("Mystery", "m")
        g.connect("input", "m")
        e = explain(g).entry("m")
        assert e.text.startswith("m — Mystery: Mystery(x) does something new.")
        assert "N×5" in e.text and "More words" not in e.text
    assert "Mystery" not in REGISTRY


def test_every_registered_type_is_explained() -> None:
    """One node of each type after a suitable input: no entry falls back because of a wording bug."""
    for name, spec in REGISTRY.items():
        if spec.is_input:
            continue
        for shape in ([4, 8, 8], [16], [2, 16]):  # an image, else flat features (Linear), else a signal (Conv1d)
            g = Graph()
            tokens = {"dtype": "long", "vocab_size": 10} if spec.input_dtype == "long" else {}
            g.add_node("Input", "input", {"shape": shape, **tokens})
            g.add_node(name, "n", {**spec.defaults(), "num_embeddings": 10} if tokens else None)
            for port in range(max(spec.min_inputs, 1)):
                g.connect("input", "n", port)
            ports = len(spec.output_names(spec.full_params({})))
            if ports > 1:  # a network ends in one tensor: join a multi-output layer's pieces
                g.add_node("Add", "join")
                for src_port in range(ports):
                    g.connect("n", "join", src_port=src_port)
            if infer(g).ok:
                break
        e = explain(g).entry("n")
        assert e.error is None, (name, e.error)
        assert e.text.startswith(f"n — {name}") and "detailed description failed" not in " ".join(e.notes), name


def _chain(shape: list[int], *layers: tuple[str, str, dict[str, object]]) -> Graph:
    g = Graph()
    g.add_node("Input", "input", {"shape": shape})
    prev = "input"
    for t, nid, params in layers:
        g.add_node(t, nid, params)
        g.connect(prev, nid)
        prev = nid
    return g


def test_signal_layers_read_as_lengths() -> None:
    ex = explain(_chain([4, 16], ("Conv1d", "c1", {"out_channels": 8, "kernel_size": 3, "padding": 1}),
                        ("MaxPool1d", "p1", {"kernel_size": 2}), ("AdaptiveMaxPool1d", "gmp", {"output_size": 1})))
    c1 = ex.entry("c1")
    assert "3-long kernel" in c1.text and c1.arithmetic == "(16 + 2·1 − 3)/1 + 1 = 16"
    assert c1.param_arithmetic == "8 × (4 × 3) + 8 = 104"
    assert ex.entry("p1").text.startswith("p1 — MaxPool1d 2: keeps the largest of each 2-long block; N×8×16 → N×8×8")
    assert "global max pooling" in ex.entry("gmp").text
    assert "sequence of 4 steps × 16 features" in ex.entry("input").text


def test_decoder_and_norm_layers_show_their_arithmetic() -> None:
    ex = explain(_chain([4, 8, 8], ("Conv2d", "dw", {"out_channels": 4, "kernel_size": 3, "padding": 1, "groups": 4}),
                        ("ConvTranspose2d", "up", {"out_channels": 6, "kernel_size": 2, "stride": 2}),
                        ("Upsample", "us", {"scale_factor": 1.5, "mode": "bilinear"}),
                        ("GroupNorm", "gn", {"num_groups": 3}), ("InstanceNorm2d", "inn", {"affine": True}),
                        ("LayerNorm", "ln", {"normalized_shape": [24, 24], "bias": False}),
                        ("Dropout2d", "d2", {"p": 0.2})))
    assert "depthwise convolution" in ex.entry("dw").text
    up = ex.entry("up")
    assert up.arithmetic == "(8 − 1)·2 + (2 − 1) + 1 = 16" and up.param_arithmetic == "4 × (6 × 2 × 2) + 6 = 102"
    assert ex.entry("us").arithmetic == "⌊16 × 1.5⌋ = 24"
    assert ex.entry("gn").param_arithmetic == "2 × 6 = 12" and "3 groups of 2 channels" in ex.entry("gn").text
    assert "each channel's 24×24 positions" in ex.entry("inn").text
    assert ex.entry("ln").param_arithmetic == "1 × 576 = 576" and "learned scale per element" in ex.entry("ln").text
    assert "zeroes each channel (a whole feature map)" in ex.entry("d2").text
    assert not any("detailed description failed" in n for e in ex.entries for n in e.notes)


def test_a_token_input_is_explained_as_token_ids() -> None:
    g = Graph()
    g.add_node("Input", "input", {"shape": [12], "dtype": "long", "vocab_size": 100})
    g.add_node("Embedding", "emb", {"num_embeddings": 100, "embedding_dim": 8})
    g.connect("input", "emb")
    assert "12 token ids from 0 to 99" in explain(g).entry("input").text
